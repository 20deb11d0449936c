"""What the reader and the worker publish for the other threads, and the threading rule of a run.

The rule: a field that another thread reads lives in ``RunStatus`` and is written and read
under its ``lock``, nowhere else. A consumer that needs several fields at once takes
``Pipeline.snapshot()``, which copies them under the lock (frames, results and ``Controls``
are never changed after they are published, so the copy shares them). ``config`` is frozen
and read without it. Objects with a lock of their own (``Replay``, ``DropOldestQueue``,
``ResultBuffer``, ``AedatRecorder``, ``RecentEvents``, ``TeachingJob``'s progress, a live
source's poll lock) are safe from any thread.
State that one thread alone touches stays private to its object (``StreamReader``, ``ModelWorker``).

Every thread of a run:

thread                  owns (it alone writes)                reads of the others       through
----------------------  ------------------------------------  ------------------------  ------------------------------
caller: the GUI or      ``ControlsModel`` (the user's         the snapshot, results     status lock (``snapshot``);
  the headless main     controls), the session, the widgets                             ResultBuffer's condition
reader                  source, ``Replay.packets``, framer,   ``controls``, listeners,  status lock once a packet and
  (neuroclip-reader)    noise filter, rate limit; published:  a seek asked before the   once a hand-over of frames;
                        source, replay, frames, window,       file opened               Replay's lock; the queue's
                        epoch, event counts, stream state,                              condition
                        the end of a recording reached
worker                  the classifier (the labels in use,    ``controls`` (labels,     status lock once a batch and
  (neuroclip-worker)    its maps on or off, the taught        templates, where,         once a publication; queue and
                        classes when in use), step numbers;   minimum confidence,       ResultBuffer conditions;
                        published: latest result, model       taught), classifier       ``model_ready`` (an Event);
                        state, step counts, where_unavailable calls, frames, result     each listener's own lock
                        (why maps cannot be had); ENDED once  listeners, the end
                        the last frame is scored; calls the   reached
                        result listeners (a prediction log,
                        a session timeline)
recorder                the ``.aedat4`` writer                packets queued by the     AedatRecorder's condition
  (neuroclip-recorder)                                        reader's listener
time words              the pass over a big EVT 3.0 file;     nothing                   the range: one tuple replaced
  (evt3-time-words)     publishes the time range reached                                whole; the end: after ``done``
state lines             its stderr lines                      state changes             status lock
  (headless only)                                                                       (``state_changes_after``)
teaching                its copy of the examples, its model,  nothing of the run's      its progress: the job's lock;
  (neuroclip-teach)     the adapter it trains (handed over                              the cancel flag (an Event)
                        whole when it ends)
The reader also hands raw packets to ``RecentEvents`` (capture for teaching), read by the GUI under its own lock;
a taught adapter reaches the worker whole, in ``Controls.taught``, after its training thread ended.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from neuroclip_live.events import SensorSize
from neuroclip_live.runtime.controls import Controls
from neuroclip_live.runtime.stats import PipelineStats
from neuroclip_live.states import ModelState, StreamState
from neuroclip_live.stream.framing import Frame
from neuroclip_live.stream.sources.base import ApsFrame, Discontinuity, EventSource

if TYPE_CHECKING:
    from neuroclip_live.runtime.config import RunConfig
    from neuroclip_live.stream.replay import Replay

PacketListener = Callable[[np.ndarray | Discontinuity], None]
# Called on the worker thread with each batch of scored timesteps, oldest first, and the classifier that scored
# them (None without a model); it must be quick and must not raise (it keeps its own errors).
ResultListener = Callable[[list["StepResult"], Any], None]


@dataclass
class StepResult:
    """One timestep through the whole pipeline."""

    step: int  # timesteps emitted since the pipeline started (never reset)
    frame: Frame
    scores: Any | None  # classifier.Scores, or None when running without a model
    latency_ms: float  # from the frame's completion on the reader to its scores
    drops: int  # frames dropped so far by the backpressure policy
    epoch: int  # increments at every seek, loop, reconnect and time jump
    events_dropped: int = 0  # events dropped so far by the event-rate limit
    min_confidence: float = 0.0  # the controls' when it was scored: below it the window has no top label

    def confident_top(self, k: int = 3) -> list[tuple[str, float]]:
        """The k most probable labels, or none when the most probable is below ``min_confidence`` ("none of these")."""
        if self.scores is None:
            return []
        top = self.scores.top(k)
        return top if top and top[0][1] >= self.min_confidence else []


@dataclass
class Snapshot:
    """The latest state, for a GUI timer; every field is an immutable copy or a fresh object."""

    state: StreamState
    message: str
    source_name: str
    size: SensorSize | None
    is_live: bool
    position_us: int | None
    time_range: tuple[int, int] | None
    frame: Frame | None  # newest frame from the reader (shown even when the model lags)
    window: list[Frame]
    aps: ApsFrame | None
    result: StepResult | None  # newest scored timestep
    stats: PipelineStats
    model_state: ModelState = ModelState.NONE
    notice: str = ""  # the latest one-line remark on a user edit (labels merged, cut or refused)
    time_range_final: bool = True  # False while a big file's end is still being found (the range grows)
    where_unavailable: str = ""  # why the loaded model cannot give relevance maps ('' when it can, or before it loads)
    model_engine: str = ""  # where the loaded model encodes frames: 'OpenVINO bf16 · CPU' ('' before it loads)


class RunStatus:
    """Every field of a pipeline that crosses threads, behind one lock (see the module's rule)."""

    def __init__(self, config: RunConfig, controls: Controls, model_state: ModelState) -> None:
        self.lock = threading.Lock()
        self.config = config  # frozen: read without the lock
        self.controls = controls  # replaced (never changed) by the pipeline when the user's controls change
        self.seek_request: int | None = None  # a seek asked before the file opened: the replay starts there
        # The reader handed over a recording's last frame; the worker says ENDED once it has scored it, so that
        # "ended" means every result is in (a sink that stops at ENDED misses none).
        self.reached_end = False
        # The pipeline decides "loading model" (nobody else rewrites it): from the start when it has a model.
        self.state = StreamState.LOADING_MODEL if model_state == ModelState.LOADING else StreamState.STARTING
        self.message = ""
        # The latest state changes with their messages, oldest first: a sink that polls can still
        # report a brief "disconnected" that came and went between two polls. Bounded: no growth.
        self.transitions: deque[tuple[StreamState, str]] = deque(maxlen=64)
        self.transitions_total = 0  # every change counted, so a poller can ask for the new ones
        self.notice = ""
        self.model_state = model_state
        self.where_unavailable = ""  # the worker's, once the model loaded
        self.model_engine = ""
        self.source: EventSource | None = None
        self.replay: Replay | None = None
        self.latest_frame: Frame | None = None
        self.window: list[Frame] = []
        self.latest_result: StepResult | None = None
        self.epoch = 0
        self.stats = PipelineStats()
        self.listeners: list[PacketListener] = []  # replaced, never mutated: the reader iterates a copy
        self.result_listeners: list[ResultListener] = []  # replaced, never mutated: the worker iterates a copy
        self.classifier_calls: deque[Callable[[Any], None]] = deque()

    def set_state(self, state: StreamState, message: str = "", keep_message: bool = False) -> None:
        with self.lock:
            if self.state == StreamState.ERROR:
                return  # the first error is what the user needs to read; later states would hide it
            if state != self.state:
                self._record(state, message if not keep_message else self.message)
            self.state = state
            if not keep_message:
                self.message = message

    def change_state_from(self, expected: StreamState, state: StreamState) -> bool:
        """Set ``state`` only if the state is still ``expected`` (one atomic step); True when it was."""
        with self.lock:
            if self.state != expected:
                return False
            self._record(state, self.message)
            self.state = state
            return True

    def _record(self, state: StreamState, message: str) -> None:
        self.transitions.append((state, message))
        self.transitions_total += 1

    def set_message(self, message: str) -> None:
        with self.lock:
            if self.state != StreamState.ERROR:
                self.message = message

    def set_notice(self, text: str) -> None:
        with self.lock:
            self.notice = text

    @property
    def is_live(self) -> bool:
        with self.lock:
            src = self.source
        return bool(src is not None and src.is_live)

    @property
    def is_lossless(self) -> bool:
        """Whether nothing may be dropped: asked for, or a replay "as fast as possible" (no clock to keep up with)."""
        with self.lock:
            return lossless(self.config, self.controls, self.replay is not None)


def lossless(config: RunConfig, controls: Controls, replaying: bool) -> bool:
    """The reader waits for the worker: asked for (``--lossless``), or a replay at speed 0."""
    return config.lossless or (replaying and controls.speed == 0)
