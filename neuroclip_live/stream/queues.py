"""A bounded hand-off between the reader and the worker with an explicit drop policy.

A slow worker (CLIP on a CPU) must neither grow memory nor stall the reader,
so when the queue is full the oldest pending frame is dropped and counted.
Control markers (reset after a seek, end of stream) are never dropped: they
keep their place in the order so the worker resets at the right moment.
``queue.Queue`` cannot drop from its head, hence this small class.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any


class DropOldestQueue:
    """FIFO of items; ``is_droppable(item)`` items beyond ``max_droppable`` push out the oldest one."""

    def __init__(self, max_droppable: int, is_droppable: Callable[[Any], bool]) -> None:
        if max_droppable < 1:
            raise ValueError("max_droppable must be at least 1")
        self.max_droppable = max_droppable
        self._is_droppable = is_droppable
        self._items: deque[Any] = deque()
        self._droppable = 0
        self._cond = threading.Condition()
        self._dropped = 0
        self._closed = False

    def put(self, item: Any, block: bool = False, timeout: float | None = None) -> bool:
        """Add an item. With ``block`` wait for room instead of dropping (lossless offline runs).

        Returns False only when a blocking put timed out or the queue was closed.
        """
        return self.put_many((item,), block, timeout)

    def put_many(self, items: Sequence[Any], block: bool = False, timeout: float | None = None) -> bool:
        """Add items in order under one lock and one wake-up (all the frames one packet completed).

        One hand-off per packet rather than per frame: a reader that is ahead of the worker
        would otherwise wake it for every frame and wait on it as often (a ping-pong that cost
        the reader 42% of its time at 1 ms timesteps). Items of one call are never dropped by
        that call, so the queue may hold ``len(items)`` frames when that exceeds ``max_droppable``.
        With ``block`` wait until there is room for at least one frame, then drop nothing.
        """
        droppable = sum(1 for item in items if self._is_droppable(item))
        with self._cond:
            if self._closed:
                return False
            if block and droppable and self._droppable >= self.max_droppable:
                ok = self._cond.wait_for(lambda: self._droppable < self.max_droppable or self._closed, timeout)
                if not ok or self._closed:
                    return False
            self._items.extend(items)
            self._droppable += droppable
            # Only frames push frames out: a marker after a lossless overshoot must not drop any.
            while not block and droppable and self._droppable > max(self.max_droppable, droppable):
                self._drop_oldest()
            self._cond.notify_all()
            return True

    def _drop_oldest(self) -> None:
        for i, old in enumerate(self._items):
            if self._is_droppable(old):
                del self._items[i]
                self._droppable -= 1
                self._dropped += 1
                return

    def get_batch(self, max_items: int, timeout: float | None = None) -> list[Any]:
        """Wait for at least one item, then take up to ``max_items`` (stopping after a control marker)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                return []
            batch: list[Any] = []
            while self._items and len(batch) < max_items:
                item = self._items.popleft()
                batch.append(item)
                if self._is_droppable(item):
                    self._droppable -= 1
                else:
                    break  # a marker ends the batch: frames after it belong to a new epoch
            self._cond.notify_all()
            return batch

    @property
    def dropped(self) -> int:
        """Frames dropped so far (the reader drops them; the worker and the GUI read the count)."""
        with self._cond:
            return self._dropped

    def close(self) -> None:
        """Wake every waiter; later puts are refused."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
