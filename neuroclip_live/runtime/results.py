"""Scored timesteps waiting for ``Pipeline.results()``, bounded in count and in frames.

The GUI never drains ``results()``, and a headless reader may fall behind: unbounded, the buffer
grew by a full frame per timestep (+883 MB at 346x260 in a GUI session, about 9 GB at 1280x720).
Here at most ``keep`` results wait, and only the newest ``keep_frames`` of them keep their frame's
image; an older one keeps its times, counts and scores, with an empty (0 x 0) image. A consumer
that keeps up never sees an empty image. Without a clock to keep up with (``lossless``), a consumer
that is iterating makes the worker wait instead, so a ``--dump`` of a replay at speed 0 keeps every
frame.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

import numpy as np

from neuroclip_live.runtime.status import StepResult

NO_IMAGE = np.empty((0, 0), dtype=np.uint8)
NO_IMAGE.flags.writeable = False


class ResultBuffer:
    """FIFO of results for one or more iterating consumers; bounded whether anyone iterates or not."""

    def __init__(self, keep: int, keep_frames: int) -> None:
        if keep < 1 or keep_frames < 1:
            raise ValueError("keep and keep_frames must be at least 1")
        self.keep = keep
        self.keep_frames = min(keep_frames, keep)
        self._items: deque[StepResult] = deque()
        self._cond = threading.Condition()
        self._consumers = 0
        self._ended = False
        self.discarded = 0  # results that left unread (nobody iterating, or a lossy run's slow reader)

    def put(self, result: StepResult, wait_for_consumer: bool = False, stopped: Callable[[], bool] = bool) -> None:
        """Add a result; with ``wait_for_consumer`` wait (while someone iterates) until frames need not go."""
        self.put_many((result,), wait_for_consumer, stopped)

    def put_many(
        self, results: Sequence[StepResult], wait_for_consumer: bool = False, stopped: Callable[[], bool] = bool
    ) -> None:
        """Add a batch under one lock and one wake-up (per-result hand-offs cost the worker a thread switch each).

        With ``wait_for_consumer`` it waits (while someone iterates) until the whole batch fits
        without thinning any frame.
        """
        with self._cond:
            # A batch larger than the frames kept goes in parts, each waiting for room.
            for first in range(0, len(results), self.keep_frames):
                part = results[first : first + self.keep_frames]
                room = self.keep_frames - len(part)
                while wait_for_consumer and self._consumers and len(self._items) > room and not stopped():
                    self._cond.wait(0.1)
                self._append(part)
                self._cond.notify_all()

    def _append(self, results: Sequence[StepResult]) -> None:
        items = self._items
        for result in results:
            items.append(result)
            if len(items) > self.keep_frames:
                older = items[-1 - self.keep_frames]
                if older.frame.image.size:
                    items[-1 - self.keep_frames] = replace(older, frame=replace(older.frame, image=NO_IMAGE))
        while len(items) > self.keep:
            items.popleft()
            self.discarded += 1

    def end(self) -> None:
        """No more results: iterators return once they have taken what is left."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def consumers(self) -> int:
        """Iterators taking results now: a lossless worker waits for them, and only for them."""
        with self._cond:
            return self._consumers

    def iterate(self, timeout: float | None = None) -> Iterator[StepResult]:
        """Results in order until the end (or ``timeout`` seconds without one).

        The consumer counts from this call on, not from its first ``next``: call it before the
        pipeline starts to be sure no frame is thinned out before the loop begins.
        """
        with self._cond:
            self._consumers += 1
        released = threading.Event()

        def release() -> None:  # once, whether the loop ends or its iterator is dropped unstarted
            if not released.is_set():
                released.set()
                with self._cond:
                    self._consumers -= 1
                    self._cond.notify_all()

        taking = self._take(timeout, release)
        weakref.finalize(taking, release)
        return taking

    def _take(self, timeout: float | None, release: Callable[[], None]) -> Iterator[StepResult]:
        try:
            while True:
                # Everything waiting at once: one lock and one wake-up of the worker per batch.
                with self._cond:
                    if not self._cond.wait_for(lambda: self._items or self._ended, timeout) or not self._items:
                        return
                    taken = list(self._items)
                    self._items.clear()
                    self._cond.notify_all()
                yield from taken
        finally:
            release()
