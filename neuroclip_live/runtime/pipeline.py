"""Source → framer → worker → sinks, on two threads joined by a bounded queue.

The reader thread pulls packets (paced by ``Replay`` for files), cuts them
into frames and hands each frame to the worker through a ``DropOldestQueue``;
the worker runs the streaming classifier on whatever is pending as one batch.
Sinks either iterate ``results()`` (headless, tests, benchmarks) or poll
``snapshot()`` from a timer (the GUI). Every control (pause, seek, labels) is
safe to call from any thread at any moment.
"""

from __future__ import annotations

import bisect
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from neuroclip_live.errors import NeuroclipError, SourceDisconnected
from neuroclip_live.events import SensorSize
from neuroclip_live.stream.framing import EventFramer, Frame, TimestepRule
from neuroclip_live.stream.noise import BackgroundActivityFilter
from neuroclip_live.stream.queues import DropOldestQueue
from neuroclip_live.stream.sources.base import ApsFrame, Discontinuity, EventSource, FileSource

log = logging.getLogger(__name__)


class Classifier(Protocol):
    """What the worker needs of ``classifier.StreamingClassifier``."""

    def step(self, frames: np.ndarray) -> list[Any]: ...
    def reset(self) -> None: ...
    def set_labels(self, labels: list[str]) -> None: ...


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
    keep_results: int = 10_000  # results buffered for ``results()`` before the oldest go
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
    epoch: int  # increments at every seek, loop and reconnect


@dataclass
class PipelineStats:
    event_rate: float = 0.0  # events/s of stream time read in the last second of wall time
    steps_per_s: float = 0.0
    inference_ms: float = 0.0  # last batch's classifier time per frame
    latency_ms: float = 0.0
    drops: int = 0
    events_total: int = 0
    steps_total: int = 0


@dataclass
class Snapshot:
    """The latest state, for a GUI timer; every field is an immutable copy or a fresh object."""

    state: str  # "starting", "loading model", "playing", "paused", "live", "disconnected", "ended", "stopped", "error"
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
    model_state: str = "none"  # "none" (frames only), "loading", "ready", "failed"
    notice: str = ""  # the latest one-line remark on a user edit (labels merged, cut or refused)


_END = object()


@dataclass(frozen=True)
class _Reset:
    reason: str
    epoch: int


@dataclass(frozen=True)
class _Pending:
    frame: Frame
    ready: float  # perf_counter when the reader completed the frame
    epoch: int


def _is_frame(item: object) -> bool:
    return isinstance(item, _Pending)


class Pipeline:
    """Runs one source through the framer and an optional classifier.

    ``open_source`` is a callable giving a fresh ``EventSource``: the pipeline
    calls it again to reconnect a live source that went away. ``load_classifier``
    runs on the worker thread (models load off the GUI thread); None runs
    frames only.
    """

    def __init__(
        self,
        open_source: Callable[[], EventSource],
        config: PipelineConfig | None = None,
        load_classifier: Callable[[], Classifier] | None = None,
        clock: Any | None = None,
    ) -> None:
        self.config = config or PipelineConfig()
        self._open_source = open_source
        self._load_classifier = load_classifier
        self._clock = clock
        self._queue = DropOldestQueue(self.config.max_pending, _is_frame)
        self._results: queue.Queue[StepResult | object] = queue.Queue()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._state = "starting"
        self._message = ""
        self._source: EventSource | None = None
        self._replay: Any | None = None
        self._framer: EventFramer | None = None
        self._latest_frame: Frame | None = None
        self._window: list[Frame] = []
        self._latest_result: StepResult | None = None
        self._epoch = 0
        self._step = 0
        self._stats = PipelineStats()
        self._event_times: deque[tuple[float, int]] = deque()
        self._events_in_window = 0  # sum of the counts in _event_times, kept as they come and go
        self._step_times: deque[float] = deque()
        self._labels_request: list[str] | None = None
        self._classifier_calls: deque[Callable[[Classifier], None]] = deque()
        self._classifier: Classifier | None = None
        self._model_ready = threading.Event()
        self._model_state = "none" if load_classifier is None else "loading"
        self._notice = ""
        self._reader = threading.Thread(target=self._read_loop, name="neuroclip-reader", daemon=True)
        self._worker = threading.Thread(target=self._work_loop, name="neuroclip-worker", daemon=True)
        self._started = False
        self._listeners: list[Callable[[np.ndarray | Discontinuity], None]] = []
        self._noise: BackgroundActivityFilter | None = None
        self._noise_request: tuple[int | None] | None = (self.config.noise_filter_us,)

    # ----------------------------------------------------------------- control
    def start(self) -> Pipeline:
        if not self._started:
            self._started = True
            self._worker.start()
            self._reader.start()
        return self

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop both threads; True when they ended within ``timeout`` seconds."""
        self._stop.set()
        replay = self._replay
        if replay is not None:
            replay.stop()
        self._close_source()
        self._queue.close()
        ended = self.join(timeout)
        if self._state not in ("error", "ended"):
            self._set_state("stopped")
        return ended

    def join(self, timeout: float | None = None) -> bool:
        """Wait for both threads to end (after ``stop``); True when they did.

        Before the process exits: a worker still inside a model step when the
        interpreter shuts down can abort the process instead of exiting cleanly.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in (self._reader, self._worker):
            if t.is_alive():
                t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not (self._reader.is_alive() or self._worker.is_alive())

    def _close_source(self) -> None:
        src = self._source
        if src is not None:
            try:
                src.close()
            except Exception:  # closing a dead device must not mask a stop or a reconnect
                log.debug("closing the source failed", exc_info=True)

    def __enter__(self) -> Pipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _replay_or_defer(self, action: str, **start: Any) -> Any | None:
        """The replay; before the file is open, None after keeping ``start`` (config fields) for it.

        Controls never get lost between ``start()`` and the reader opening the file: the replay
        is created from the config. A live source has no replay and says so in the notice.
        """
        with self._lock:
            replay = self._replay
            if replay is None:
                for name, value in start.items():
                    setattr(self.config, name, value)
        if replay is None and self.is_live:
            self._set_notice(f"a live source cannot {action}")
        return replay

    def pause(self) -> bool:
        """Pause a file replay (before the file is open: start paused); False for a live source."""
        replay = self._replay_or_defer("pause", start_paused=True)
        if replay is None:
            return not self.is_live
        replay.pause()
        self._set_state("paused")
        return True

    def resume(self) -> bool:
        replay = self._replay_or_defer("pause or resume", start_paused=False)
        if replay is None:
            return not self.is_live
        replay.resume()
        self._set_state("playing")
        return True

    def seek(self, t_us: int) -> bool:
        replay = self._replay_or_defer("seek", start_us=int(t_us))
        if replay is None:
            return not self.is_live
        replay.seek(int(t_us))
        return True

    def set_speed(self, speed: float) -> bool:
        replay = self._replay_or_defer("change its speed", speed=speed)
        if replay is not None:
            self.config.speed = speed  # read by the reader's lossless rule
            replay.set_speed(speed)
        return not self.is_live

    def set_loop(self, loop: bool) -> bool:
        replay = self._replay_or_defer("loop", loop=loop)
        if replay is not None:
            self.config.loop = loop
            replay.set_loop(loop)
        return not self.is_live

    def set_labels(self, labels: list[str]) -> None:
        """New labels take effect on the worker's next timestep (only the text is re-encoded)."""
        with self._lock:
            self._labels_request = list(labels)

    def set_noise_filter(self, duration_us: int | None) -> None:
        """Turn the background-activity filter on (support window in microseconds) or off (None)."""
        with self._lock:
            self.config.noise_filter_us = duration_us
            self._noise_request = (duration_us,)

    def add_packet_listener(self, fn: Callable[[np.ndarray | Discontinuity], None]) -> None:
        """Call ``fn`` on the reader thread with every raw packet and jump (recording to disk).

        It sees events before the noise filter, so a recording keeps what the sensor sent, and
        every ``Discontinuity`` (seek, loop, reconnect). Listeners are compared by identity in
        ``remove_packet_listener``: keep the very object you added (a bound method is new each time).
        """
        with self._lock:
            self._listeners = [*self._listeners, fn]

    def remove_packet_listener(self, fn: Callable[[np.ndarray | Discontinuity], None]) -> None:
        with self._lock:
            self._listeners = [f for f in self._listeners if f is not fn]

    def call_classifier(self, fn: Callable[[Classifier], None]) -> None:
        """Run ``fn(classifier)`` on the worker thread before its next timestep (templates, alpha...)."""
        with self._lock:
            self._classifier_calls.append(fn)

    @property
    def is_live(self) -> bool:
        src = self._source
        return bool(src is not None and src.is_live)

    def wait_model(self, timeout: float | None = None) -> bool:
        """Wait until the classifier is loaded (or failed); True when it is ready."""
        self._model_ready.wait(timeout)
        return self._classifier is not None

    # ------------------------------------------------------------------ output
    def results(self, timeout: float | None = None) -> Iterator[StepResult]:
        """Every scored timestep in order until the stream ends or the pipeline stops."""
        while True:
            try:
                item = self._results.get(timeout=timeout)
            except queue.Empty:
                return
            if item is _END:
                return
            assert isinstance(item, StepResult)
            yield item

    def snapshot(self) -> Snapshot:
        with self._lock:
            replay = self._replay
            src = self._source
            aps = None
            if isinstance(src, FileSource) and self._latest_frame is not None:
                aps = _aps_at(src.aps_frames, self._latest_frame.t_end_us)
            return Snapshot(
                state=self._state,
                message=self._message,
                source_name=src.name if src is not None else "",
                size=src.size if src is not None else None,
                is_live=self.is_live,
                position_us=replay.position_us if replay is not None else None,
                time_range=replay.time_range if replay is not None else None,
                frame=self._latest_frame,
                window=list(self._window),
                aps=aps,
                result=self._latest_result,
                stats=replace(self._stats),
                model_state=self._model_state,
                notice=self._notice,
            )

    @property
    def state(self) -> str:
        return self._state

    @property
    def message(self) -> str:
        return self._message

    def _set_state(self, state: str, message: str = "") -> None:
        with self._lock:
            if self._state == "error":
                return  # the first error is what the user needs to read; later states would hide it
            self._state = state
            self._message = message

    # ------------------------------------------------------------------ reader
    def _read_loop(self) -> None:
        try:
            self._source = self._open_source()
            src = self._source
            if self._stop.is_set():
                return
            self._framer = EventFramer(src.size, self.config.rule, self.config.T)
            if isinstance(src, FileSource):
                from neuroclip_live.stream.replay import Replay  # replay pacing only matters for files

                with self._lock:  # controls called meanwhile went to the config (see _replay_or_defer)
                    cfg = self.config
                    replay = Replay(src, speed=cfg.speed, loop=cfg.loop, clock=self._clock)
                    if cfg.start_us is not None:
                        replay.seek(int(cfg.start_us))
                    if cfg.start_paused:
                        replay.pause()
                    self._replay = replay
                for note in src.notes:
                    log.warning(note)
                    self._set_state(self._state, note)
                # A recording waits for its model, so that its first timesteps are scored rather than
                # replayed (or dropped) while the weights load; a live view shows frames meanwhile.
                while self._load_classifier is not None and not self._model_ready.wait(0.05):
                    if self._stop.is_set():
                        return
                self._set_state("paused" if replay.state == "paused" else "playing", self._message)
                self._pump(replay.packets())
                if not self._stop.is_set():
                    self._finish_stream()
                    self._set_state("ended", self._message)
            else:
                if self._state != "loading model":
                    self._set_state("live")
                self._read_live()
        except NeuroclipError as err:
            self._set_state("error", str(err))
        except Exception as err:  # a bug: keep the app alive and say so
            log.exception("reader thread failed")
            self._set_state("error", f"reader failed: {err}")
        finally:
            self._queue.put(_END, block=False)

    def _read_live(self) -> None:
        while not self._stop.is_set():
            try:
                self._pump(self._source.packets())  # type: ignore[union-attr]
                return
            except SourceDisconnected as err:
                self._set_state("disconnected", str(err))
                self._close_source()  # release the dead device or socket now, not at garbage collection
            # The device went away: keep the app running and retry until it returns.
            while not self._stop.wait(self.config.reconnect_interval_s):
                try:
                    self._source = self._open_source()
                except NeuroclipError:
                    continue
                self._discontinuity(Discontinuity("reconnect"))
                if self._state != "loading model":
                    self._set_state("live")
                break

    def _pump(self, items: Iterator[Any]) -> None:
        framer = self._framer
        assert framer is not None
        for item in items:
            if self._stop.is_set():
                return
            if isinstance(item, Discontinuity):
                self._discontinuity(item)
                continue
            for listener in self._listeners:
                listener(item)
            if item.shape[0] == 0:
                continue
            now = time.perf_counter()
            self._count_events(now, item.shape[0])
            item = self._filter(item)
            for frame in framer.push(item):
                self._hand_over(frame, now)
            if self._replay is not None and self._state == "paused" and self._replay.state == "playing":
                self._set_state("playing")

    def _filter(self, events: np.ndarray) -> np.ndarray:
        with self._lock:
            request, self._noise_request = self._noise_request, None
        if request is not None:
            duration = request[0]
            size = self._source.size if self._source is not None else None
            self._noise = BackgroundActivityFilter(size, duration) if duration and size else None
        return self._noise(events) if self._noise is not None else events

    def _finish_stream(self) -> None:
        assert self._framer is not None
        frame = self._framer.flush()
        if frame is not None:
            self._hand_over(frame, time.perf_counter())

    def _discontinuity(self, jump: Discontinuity) -> None:
        assert self._framer is not None
        for listener in self._listeners:
            listener(jump)
        self._framer.reset()
        if self._noise is not None:
            self._noise.reset()
        with self._lock:
            self._epoch += 1
            self._window = []
            epoch = self._epoch
        self._queue.put(_Reset(jump.reason, epoch))

    def _hand_over(self, frame: Frame, ready: float) -> None:
        assert self._framer is not None
        with self._lock:
            self._latest_frame = frame
            self._window = list(self._framer.window)
            epoch = self._epoch
        # Replay "as fast as possible" has no clock to keep up with: the reader waits for the
        # worker instead of dropping. Paced replay and live sources drop the oldest frames.
        lossless = self.config.lossless or (self._replay is not None and self.config.speed == 0)
        self._queue.put(_Pending(frame, ready, epoch), block=lossless)

    def _count_events(self, now: float, n: int) -> None:
        with self._lock:
            self._stats.events_total += n
            self._event_times.append((now, n))
            self._events_in_window += n
            while now - self._event_times[0][0] > 1.0:
                self._events_in_window -= self._event_times.popleft()[1]
            span = max(now - self._event_times[0][0], 0.25)
            self._stats.event_rate = self._events_in_window / span

    # ------------------------------------------------------------------ worker
    def _work_loop(self) -> None:
        try:
            self._load_model()
            while not self._stop.is_set():
                batch = self._queue.get_batch(self.config.max_batch, timeout=0.1)
                if not batch:
                    continue
                pending = [b for b in batch if isinstance(b, _Pending)]
                if pending:
                    self._score(pending)
                tail = batch[-1]
                if isinstance(tail, _Reset) and self._classifier is not None:
                    self._classifier.reset()
                if tail is _END:
                    return
        except NeuroclipError as err:
            self._set_state("error", str(err))
        except Exception as err:
            log.exception("worker thread failed")
            self._set_state("error", f"worker failed: {err}")
        finally:
            self._results.put(_END)

    def _load_model(self) -> None:
        try:
            if self._load_classifier is not None:
                previous = self._state
                self._set_state("loading model")
                try:
                    self._classifier = self._load_classifier()
                    self._warm_up(self._classifier)
                except BaseException:
                    self._model_state = "failed"
                    raise
                self._model_state = "ready"
                with self._lock:
                    if self._state == "loading model":
                        # A live reader held back its "live" while the model loaded.
                        src = self._source
                        self._state = "live" if src is not None and src.is_live else previous
        finally:
            self._model_ready.set()

    def _warm_up(self, clf: Classifier) -> None:
        """One throwaway step on a blank frame of the sensor's size, then reset.

        The first frames of a new size pay one-off costs (resize kernels, buffers): measured at
        a few hundred ms for the tiny model, enough to drop the first frames of a paced replay.
        """
        deadline = time.monotonic() + 2.0
        while self._source is None and not self._stop.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)  # the reader opens the source in parallel
        src = self._source
        if src is None or self._stop.is_set():
            return
        clf.step(np.full((1, src.size.height, src.size.width), 127, dtype=np.uint8))
        clf.reset()

    def _apply_requests(self) -> None:
        with self._lock:
            labels, self._labels_request = self._labels_request, None
            calls = list(self._classifier_calls)
            self._classifier_calls.clear()
        clf = self._classifier
        if clf is None:
            return
        # A refused edit (no usable label, an unknown template) keeps the previous labels running.
        try:
            if labels is not None:
                result = clf.set_labels(labels)
                notes = getattr(result, "notes", None) or []
                self._set_notice("; ".join(notes))
            for fn in calls:
                fn(clf)
        except NeuroclipError as err:
            self._set_notice(str(err))

    def _set_notice(self, text: str) -> None:
        with self._lock:
            self._notice = text

    def _score(self, pending: list[_Pending]) -> None:
        self._apply_requests()
        t0 = time.perf_counter()
        if self._classifier is not None:
            scores = self._classifier.step(np.stack([p.frame.image for p in pending]))
        else:
            scores = [None] * len(pending)
        done = time.perf_counter()
        per_frame_ms = (done - t0) * 1e3 / len(pending)
        drops = self._queue.dropped
        for p, s in zip(pending, scores, strict=True):
            result = StepResult(self._step, p.frame, s, (done - p.ready) * 1e3, drops, p.epoch)
            self._step += 1
            self._publish(result, done, per_frame_ms)

    def _publish(self, result: StepResult, now: float, inference_ms: float) -> None:
        with self._lock:
            self._latest_result = result
            st = self._stats
            st.steps_total += 1
            st.drops = result.drops
            st.inference_ms = inference_ms
            st.latency_ms = result.latency_ms
            self._step_times.append(now)
            while self._step_times and now - self._step_times[0] > 1.0:
                self._step_times.popleft()
            span = max(now - self._step_times[0], 0.25)
            st.steps_per_s = len(self._step_times) / span
        self._results.put(result)
        # A GUI never drains results(): keep the buffer bounded.
        while self._results.qsize() > self.config.keep_results:
            try:
                self._results.get_nowait()
            except queue.Empty:
                break


def _aps_at(frames: list[ApsFrame], t_us: int) -> ApsFrame | None:
    """The newest APS frame at or before ``t_us`` (the first one before it); frames are in time order."""
    if not frames:
        return None
    i = bisect.bisect_right(frames, t_us, key=lambda f: f.t_us) - 1
    return frames[max(i, 0)]
