"""Recording the incoming event stream to ``.aedat4`` with dv-processing's writer.

``AedatRecorder`` is a pipeline packet listener (``Pipeline.add_packet_listener``):
it is called on the reader thread, so it only queues the packet; its own
thread converts packets to ``dv.EventStore`` (dv-processing has no fast
numpy constructor: a push_back per event, about 3 Mev/s) and writes them.

The file is complete only once the dv writer object is destroyed, so
``close()`` drains the queue, writes everything, then drops the last
reference to the writer; it runs on stop, on window close and after a write
error, so what was recorded up to then is never lost.

Timestamps in the file never go backwards (the writer refuses that): after a
seek back, a loop or a reconnect the stream is shifted to continue just after
the last written event, so a recording is the stream as the app saw it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from pathlib import Path

import dv_processing as dv
import numpy as np

from neuroclip_live.errors import NeuroclipError
from neuroclip_live.events import SensorSize
from neuroclip_live.stream.sources.base import Discontinuity

log = logging.getLogger(__name__)

# Events converted and written per dv.EventStore: large enough to amortise the
# writer's per-packet cost, small enough to keep close() prompt.
_WRITE_CHUNK = 100_000


class RecordingError(NeuroclipError):
    """A recording could not be created or written (bad path, disk full)."""


def to_event_store(t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> dv.EventStore:
    """Event columns as the ``dv.EventStore`` that dv-processing's writer takes."""
    store = dv.EventStore()
    # map() over C-level callables is about 40% faster than a Python for loop here.
    deque(map(store.push_back, t.tolist(), x.tolist(), y.tolist(), p.astype(bool).tolist()), maxlen=0)
    return store


class AedatRecorder:
    """Writes event packets to an ``.aedat4`` file on its own thread.

    Use it as a packet listener: ``recorder.write(packet_or_jump)``. The
    backlog is bounded (``max_backlog_events``): when the writer falls behind
    (``--speed 0`` replay), ``write`` waits rather than dropping events, which
    slows the reader down; a recording never has silent holes.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        size: SensorSize,
        camera_name: str = "neuroclip-live",
        max_backlog_events: int = 1_000_000,
    ) -> None:
        self.path = Path(path)
        self.size = size
        self.max_backlog_events = max_backlog_events
        if self.path.suffix.lower() != ".aedat4":
            raise RecordingError(f"{self.path.name}: recordings are written as .aedat4; choose a name ending .aedat4")
        if not self.path.parent.is_dir():
            raise RecordingError(f"{self.path}: the folder {self.path.parent} does not exist")
        try:
            config = dv.io.MonoCameraWriter.EventOnlyConfig(camera_name, (size.width, size.height))
            self._writer: dv.io.MonoCameraWriter | None = dv.io.MonoCameraWriter(str(self.path), config)
        except Exception as err:  # dv raises RuntimeError with a C++ stack trace: keep one line
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RecordingError(f"{self.path}: cannot create the recording ({first})") from None
        self._cond = threading.Condition()
        self._pending: deque[np.ndarray] = deque()
        self._backlog = 0  # events queued, not yet written
        self._closing = False
        self._written = 0
        self._error: str | None = None
        self._offset = 0  # added to timestamps so the file stays in time order across jumps
        self._last_t: int | None = None
        self._thread = threading.Thread(target=self._write_loop, name="neuroclip-recorder", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ reader side
    def write(self, item: np.ndarray | Discontinuity) -> None:
        """Queue a packet; waits while the backlog is full.

        Jump markers need no place in the file: any step back in time is closed up when writing.
        """
        if not isinstance(item, np.ndarray) or item.shape[0] == 0:
            return
        n = item.shape[0]
        with self._cond:
            while self._backlog > self.max_backlog_events and not self._closing and self._error is None:
                self._cond.wait(0.1)
            if self._closing or self._error is not None:
                return  # arrived after stop was asked, or the file is dead: not part of the recording
            self._pending.append(item)
            self._backlog += n
            self._cond.notify_all()

    __call__ = write

    def close(self, timeout: float | None = 10.0) -> bool:
        """Write everything queued so far, finish the file; True when it is complete.

        Safe to call twice and from any thread but the recorder's own.
        """
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive() and self._error is None

    def __enter__(self) -> AedatRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def events_written(self) -> int:
        with self._cond:  # the recorder thread counts them; the GUI reads them
            return self._written

    @property
    def backlog_events(self) -> int:
        with self._cond:
            return self._backlog

    @property
    def error(self) -> str | None:
        """One line when writing failed (the file holds what was written before), else None."""
        with self._cond:
            return self._error

    @property
    def is_open(self) -> bool:
        return self._thread.is_alive()

    # ----------------------------------------------------------- writer thread
    def _write_loop(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._pending and not self._closing:
                        self._cond.wait()
                    if not self._pending:  # closing and drained
                        return
                    batch = self._take_batch()
                written = self._write_batch(batch)
                with self._cond:
                    self._written += written
                    self._backlog -= sum(b.shape[0] for b in batch)
                    self._cond.notify_all()
        except Exception as err:
            log.exception("recording to %s failed", self.path)
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            with self._cond:
                self._error = f"recording to {self.path.name} stopped: {first}"
                self._pending.clear()
                self._backlog = 0
                self._cond.notify_all()
        finally:
            # Destroying the writer is what completes the file.
            self._writer = None

    def _take_batch(self) -> list[np.ndarray]:
        batch: list[np.ndarray] = []
        n = 0
        while self._pending and n < _WRITE_CHUNK:
            item = self._pending.popleft()
            batch.append(item)
            n += item.shape[0]
        return batch

    def _write_batch(self, batch: list[np.ndarray]) -> int:
        """Write the batch in time order; returns how many events went into the file."""
        chunks = [self._monotonic_times(item) for item in batch]
        events = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        assert self._writer is not None
        self._writer.writeEvents(to_event_store(events["t"], events["x"], events["y"], events["p"]))
        return events.shape[0]

    def _monotonic_times(self, packet: np.ndarray) -> np.ndarray:
        t = packet["t"] + self._offset
        if self._last_t is not None and t[0] < self._last_t:
            # A seek back, a loop or a reconnected camera whose clock restarted (the
            # pipeline does not pass reconnects to listeners): continue right after
            # what is already written.
            shift = self._last_t + 1 - int(t[0])
            self._offset += shift
            t += shift
        t = np.maximum.accumulate(t)  # a source's small disorder inside a packet
        self._last_t = int(t[-1])
        out = packet.copy()
        out["t"] = t
        return out
