"""Source → framer → worker → sinks, on two threads joined by a bounded queue.

``Pipeline`` only wires the parts: a ``StreamReader`` (reader thread: source,
replay, noise filter, framer) hands frames to a ``ModelWorker`` (worker
thread: classifier) through a ``DropOldestQueue``. Sinks either iterate
``results()`` (headless, tests, benchmarks) or poll ``snapshot()`` from a
timer (the GUI). The user's controls (speed, loop, pause, noise filter, labels,
templates) are a ``ControlsModel`` that the pipeline listens to; a seek is a
command. Both are safe at any moment; what crosses threads follows ``status``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from neuroclip_live.runtime.config import RunConfig
from neuroclip_live.runtime.controls import ControlsChange, ControlsModel
from neuroclip_live.runtime.reader import StreamReader, aps_at, is_frame
from neuroclip_live.runtime.stats import PipelineStats
from neuroclip_live.runtime.status import PacketListener, ResultListener, RunStatus, Snapshot, StepResult
from neuroclip_live.runtime.worker import Classifier, ModelWorker
from neuroclip_live.states import ModelState, StreamState
from neuroclip_live.stream.queues import DropOldestQueue
from neuroclip_live.stream.replay import Replay
from neuroclip_live.stream.sources.base import EventSource, FileSource

__all__ = ["Classifier", "Pipeline", "PipelineStats", "Snapshot", "StepResult"]

# The controls a recording's replay follows, and what a live source says it cannot do instead.
_REPLAY_CONTROLS = {"loop": "loop", "paused": "pause or resume", "speed": "change its speed"}


class Pipeline:
    """Runs one source through the framer and an optional classifier.

    ``open_source`` is a callable giving a fresh ``EventSource``: the pipeline
    calls it again to reconnect a live source that went away. ``load_classifier``
    runs on the worker thread (models load off the GUI thread); None runs
    frames only; it must be made from ``controls``' labels and templates as they
    are now. ``controls`` outlives a pipeline (a session keeps it across rebuilds);
    without one the pipeline makes its own from ``config``.
    """

    def __init__(
        self,
        open_source: Callable[[], EventSource],
        config: RunConfig | None = None,
        load_classifier: Callable[[], Classifier] | None = None,
        clock: Any | None = None,
        controls: ControlsModel | None = None,
    ) -> None:
        self.config = config or RunConfig()
        self.controls = controls if controls is not None else ControlsModel(self.config.initial_controls())
        model_state = ModelState.NONE if load_classifier is None else ModelState.LOADING
        self._status = RunStatus(self.config, self.controls.value, model_state)
        self._unsubscribe = self.controls.subscribe(self._controls_changed)
        self._stop = threading.Event()
        queue = DropOldestQueue(self.config.tuning.max_pending, is_frame)
        self._queue = queue
        self._worker = ModelWorker(load_classifier, self._status, queue, self._stop)
        self._reader = StreamReader(
            open_source, self._status, queue, self._stop, self._worker.model_ready, load_classifier is not None, clock
        )
        self._threads = (
            threading.Thread(target=self._worker.run, name="neuroclip-worker", daemon=True),
            threading.Thread(target=self._reader.run, name="neuroclip-reader", daemon=True),
        )
        self._started = False

    # ----------------------------------------------------------------- control
    def start(self) -> Pipeline:
        if not self._started:
            self._started = True
            for t in self._threads:
                t.start()
        return self

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop both threads; True when they ended within ``timeout`` seconds."""
        self._unsubscribe()
        self._stop.set()
        replay = self._replay()
        if replay is not None:
            replay.stop()
        self._reader.close_source()
        self._queue.close()
        ended = self.join(timeout)
        if self.state not in (StreamState.ERROR, StreamState.ENDED):
            self._status.set_state(StreamState.STOPPED)
        return ended

    def join(self, timeout: float | None = None) -> bool:
        """Wait for both threads to end (after ``stop``); True when they did.

        Before the process exits: a worker still inside a model step when the
        interpreter shuts down can abort the process instead of exiting cleanly.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            if t.is_alive():
                t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def __enter__(self) -> Pipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _replay(self) -> Replay | None:
        with self._status.lock:
            return self._status.replay

    def _controls_changed(self, change: ControlsChange) -> None:
        """Hand the new controls to the threads; a recording's replay takes its part at once (it may be asleep)."""
        status, new = self._status, change.new
        with status.lock:
            status.controls = new  # the reader and the worker take it up on their next packet and batch
            replay = status.replay
        changed = change.changed & _REPLAY_CONTROLS.keys()
        if replay is None:  # before the file opens, the reader makes the replay from ``status.controls``
            if changed and self.is_live:
                status.set_notice("a live source cannot " + " or ".join(_REPLAY_CONTROLS[c] for c in sorted(changed)))
            return
        if "speed" in changed:
            replay.set_speed(new.speed)
        if "loop" in changed:
            replay.set_loop(new.loop)
        if "paused" in changed:
            if new.paused:
                replay.pause()
            else:
                replay.resume()
            status.set_state(StreamState.PAUSED if new.paused else StreamState.PLAYING, keep_message=True)

    def seek(self, t_us: int) -> bool:
        """Continue a recording from ``t_us`` (before the file opens: start there); False for a live source."""
        with self._status.lock:
            replay = self._status.replay
            if replay is None:
                self._status.seek_request = int(t_us)
        if replay is not None:
            replay.seek(int(t_us))
            return True
        if self.is_live:
            self._status.set_notice("a live source cannot seek")
            return False
        return True

    def add_packet_listener(self, fn: PacketListener) -> None:
        """Call ``fn`` on the reader thread with every raw packet and jump (recording to disk).

        It sees events before the noise filter, so a recording keeps what the sensor sent, and
        every ``Discontinuity`` (seek, loop, reconnect). Listeners are compared by identity in
        ``remove_packet_listener``: keep the very object you added (a bound method is new each time).
        """
        with self._status.lock:
            self._status.listeners = [*self._status.listeners, fn]

    def remove_packet_listener(self, fn: PacketListener) -> None:
        with self._status.lock:
            self._status.listeners = [f for f in self._status.listeners if f is not fn]

    def add_result_listener(self, fn: ResultListener) -> None:
        """Call ``fn(results, classifier)`` on the worker thread with every batch of scored timesteps.

        For what must see every timestep (a prediction log, a session's timeline), where polling
        ``snapshot`` sees only the newest. Removed by identity, as packet listeners are.
        """
        with self._status.lock:
            self._status.result_listeners = [*self._status.result_listeners, fn]

    def remove_result_listener(self, fn: ResultListener) -> None:
        with self._status.lock:
            self._status.result_listeners = [f for f in self._status.result_listeners if f is not fn]

    def call_classifier(self, fn: Callable[[Classifier], None]) -> None:
        """Run ``fn(classifier)`` on the worker thread before its next timestep (templates, alpha...)."""
        with self._status.lock:
            self._status.classifier_calls.append(fn)

    @property
    def is_live(self) -> bool:
        return self._status.is_live

    def wait_model(self, timeout: float | None = None) -> bool:
        """Wait until the classifier is loaded (or failed); True when it is ready."""
        self._worker.model_ready.wait(timeout)
        with self._status.lock:
            return self._status.model_state == ModelState.READY

    # ------------------------------------------------------------------ output
    def results(self, timeout: float | None = None) -> Iterator[StepResult]:
        """Every scored timestep in order until the stream ends or the pipeline stops."""
        return self._worker.results(timeout)

    def snapshot(self) -> Snapshot:
        status = self._status
        with status.lock:
            replay, src, frame = status.replay, status.source, status.latest_frame
            snap = Snapshot(
                state=status.state,
                message=status.message,
                source_name=src.name if src is not None else "",
                size=src.size if src is not None else None,
                is_live=bool(src is not None and src.is_live),
                position_us=replay.position_us if replay is not None else None,
                time_range=replay.time_range if replay is not None else None,
                time_range_final=replay is None or replay.time_range_complete,
                frame=frame,
                window=list(status.window),
                aps=None,
                result=status.latest_result,
                stats=replace(status.stats),
                model_state=status.model_state,
                notice=status.notice,
                model_engine=status.model_engine,
            )
        if isinstance(src, FileSource) and frame is not None:
            snap.aps = aps_at(src.aps_frames, frame.t_end_us)  # the file's frames never change: no lock
        return snap

    @property
    def state(self) -> StreamState:
        with self._status.lock:
            return self._status.state

    @property
    def message(self) -> str:
        with self._status.lock:
            return self._status.message

    def state_changes(self) -> list[tuple[StreamState, str]]:
        """The latest state changes (at most 64), oldest first, each with its message."""
        with self._status.lock:
            return list(self._status.transitions)

    def state_changes_after(self, seen: int) -> tuple[int, list[tuple[StreamState, str]]]:
        """The changes after the first ``seen`` ones (at most the last 64), and how many there were in all."""
        with self._status.lock:
            total = self._status.transitions_total
            new = min(total - seen, len(self._status.transitions))
            return total, list(self._status.transitions)[len(self._status.transitions) - new :] if new > 0 else []

    @property
    def dropped(self) -> int:
        """Frames dropped so far by the backpressure policy."""
        return self._queue.dropped
