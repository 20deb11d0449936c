"""What the reader and the worker publish for the other threads, and the one rule for reading it.

The threading rule of the runtime: a field that another thread reads lives in
``RunStatus`` and is written and read under its ``lock``, nowhere else. A
consumer that needs several fields at once takes ``Pipeline.snapshot()``,
which copies them under the lock (frames and results are never mutated after
they are published, so the copy shares them). State that only one thread
touches stays private to that thread's object (``StreamReader``, ``ModelWorker``).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from neuroclip_live.events import SensorSize
from neuroclip_live.runtime.stats import PipelineStats
from neuroclip_live.states import ModelState, StreamState
from neuroclip_live.stream.framing import Frame, TimestepRule
from neuroclip_live.stream.sources.base import ApsFrame, Discontinuity, EventSource

if TYPE_CHECKING:
    from neuroclip_live.stream.replay import Replay

PacketListener = Callable[[np.ndarray | Discontinuity], None]


@dataclass
class PipelineConfig:
    rule: TimestepRule = field(default_factory=lambda: TimestepRule("time", 30_000))
    T: int = 10
    speed: float = 1.0  # file replay speed factor, 0 = as fast as possible
    loop: bool = False
    max_pending: int = 4  # frames waiting for the worker before the oldest is dropped
    max_batch: int = 8  # frames the worker encodes at once when a backlog built up
    lossless: bool = False  # reader waits for the worker instead of dropping (also implied by file speed 0)
    reconnect_interval_s: float = 1.0
    keep_results: int = 1_000  # results buffered for ``results()`` before the oldest go (see runtime/results.py)
    keep_result_frames: int = 16  # of those, the newest that keep their frame's image
    max_rate: float | None = None  # events per second the framer may see (--max-rate); None = no fixed limit
    auto_rate_limit: bool = True  # live sources: subsample when the reader falls behind
    no_data_after_s: float = 3.0  # a live source with no events this long says "no data"
    noise_filter_us: int | None = None  # background-activity filter window; None = off
    start_us: int | None = None  # file replay starts here (a restarted pipeline resumes where the last one was)
    start_paused: bool = False  # file replay starts paused


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
    model_engine: str = ""  # where the loaded model encodes frames: 'OpenVINO bf16 · CPU' ('' before it loads)


class RunStatus:
    """Every field of a pipeline that crosses threads, behind one lock (see the module's rule)."""

    def __init__(self, config: PipelineConfig, model_state: ModelState) -> None:
        self.lock = threading.Lock()
        self.config = config  # its control fields (speed, loop, start_*, noise) change under the lock
        # The pipeline decides "loading model" (nobody else rewrites it): from the start when it has a model.
        self.state = StreamState.LOADING_MODEL if model_state == ModelState.LOADING else StreamState.STARTING
        self.message = ""
        # The latest state changes with their messages, oldest first: a sink that polls can still
        # report a brief "disconnected" that came and went between two polls. Bounded: no growth.
        self.transitions: deque[tuple[StreamState, str]] = deque(maxlen=64)
        self.transitions_total = 0  # every change counted, so a poller can ask for the new ones
        self.notice = ""
        self.model_state = model_state
        self.model_engine = ""
        self.source: EventSource | None = None
        self.replay: Replay | None = None
        self.latest_frame: Frame | None = None
        self.window: list[Frame] = []
        self.latest_result: StepResult | None = None
        self.epoch = 0
        self.stats = PipelineStats()
        self.listeners: list[PacketListener] = []  # replaced, never mutated: the reader iterates a copy
        self.labels_request: list[str] | None = None
        self.classifier_calls: deque[Callable[[Any], None]] = deque()
        self.noise_request: tuple[int | None] | None = (config.noise_filter_us,)  # (None,) means "turn off"

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
            return self.config.lossless or (self.replay is not None and self.config.speed == 0)
