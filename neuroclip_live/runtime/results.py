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
from collections.abc import Callable, Iterator
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
        with self._cond:
            while wait_for_consumer and self._consumers and len(self._items) >= self.keep_frames and not stopped():
                self._cond.wait(0.1)
            items = self._items
            items.append(result)
            if len(items) > self.keep_frames:
                older = items[-1 - self.keep_frames]
                if older.frame.image.size:
                    items[-1 - self.keep_frames] = replace(older, frame=replace(older.frame, image=NO_IMAGE))
            while len(items) > self.keep:
                items.popleft()
                self.discarded += 1
            self._cond.notify_all()

    def end(self) -> None:
        """No more results: iterators return once they have taken what is left."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

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
                with self._cond:
                    if not self._cond.wait_for(lambda: self._items or self._ended, timeout) or not self._items:
                        return
                    result = self._items.popleft()
                    self._cond.notify_all()
                yield result
        finally:
            release()
