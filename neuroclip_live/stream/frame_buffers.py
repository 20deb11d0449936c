"""Frame buffers recycled once nothing holds them any more, so the framer does not allocate every timestep.

A fresh ``np.full`` frame costs 65-140 us at 1280x720 (the kernel hands out new pages that fault
on first touch), a refill of a recycled buffer about 100 us once it has gone cold in the pool (the
pipeline keeps some 40 frames in flight: the window, the queue, the results, the GUI). So a buffer
remembers which pixels its last timestep painted, while they are few, and going back to background
rewrites only those: about 15 us for 250 events at 1280x720. A dense timestep, whose list overflows,
is refilled whole.

A frame handed out travels on: the framer's window, the worker queue, a result, a GUI snapshot, a
view or a QImage wrapping its bytes. numpy tracks no owners, but every one of those holds a
reference, so a buffer whose reference count says "only the pool" can be reset without any old
frame changing under its holder. (Buffers are only ever read by others; views and exported buffers
count as references too.)
"""

from __future__ import annotations

import sys
from collections import deque

import numpy as np

from neuroclip_live.events import BACKGROUND, SensorSize

# References to a pooled image that nobody else holds, as counted inside ``take``: its
# ``FrameBuffer``'s attribute and ``sys.getrefcount``'s own argument.
_POOL_ONLY_REFS = 2
# Painted pixels a buffer remembers, as a share of its pixels. Rewriting scattered pixels of a cold
# buffer costs about 40-60 ns each at 1280x720 (cache and TLB misses), a whole refill about
# 0.11 ns a pixel: past about 1/400 of the pixels the refill is cheaper.
_DIRTY_SHARE = 512
NOT_TRACKED = -1  # ``FrameBuffer.n_dirty`` when the painted pixels did not fit: reset refills it whole


class FrameBuffer:
    """A pooled image and the flat indices of the pixels painted on it since its last reset."""

    __slots__ = ("dirty", "image", "n_dirty")

    def __init__(self, shape: tuple[int, int], capacity: int) -> None:
        self.image = np.full(shape, BACKGROUND, dtype=np.uint8)
        self.dirty = np.empty(capacity, dtype=np.int32)
        # How many of ``dirty`` hold; the paint kernel appends and sets NOT_TRACKED when full.
        self.n_dirty = 0 if capacity else NOT_TRACKED

    def reset(self) -> None:
        """Back to background: the painted pixels if known, else the whole image."""
        if self.n_dirty == NOT_TRACKED:
            self.image.fill(BACKGROUND)
        elif self.n_dirty:
            self.image.reshape(-1)[self.dirty[: self.n_dirty]] = BACKGROUND
        self.n_dirty = 0 if self.dirty.shape[0] else NOT_TRACKED


class FramePool:
    """Background-filled H x W uint8 buffers, reused when free, new ones when all are in use."""

    def __init__(self, size: SensorSize, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.shape = (size.height, size.width)
        self.capacity = capacity  # buffers kept for reuse; more in flight are plain allocations
        self._dirty_capacity = size.width * size.height // _DIRTY_SHARE
        self._buffers: deque[FrameBuffer] = deque()
        self.allocated = 0  # buffers created so far (for tests and figures)

    def take(self) -> FrameBuffer:
        """A buffer of background that no frame in flight shares."""
        buffers = self._buffers
        for i in range(len(buffers)):
            buf = buffers[i]
            if sys.getrefcount(buf.image) == _POOL_ONLY_REFS:
                # The oldest buffers are the likeliest free: check them first next time too.
                del buffers[i]
                buffers.append(buf)
                buf.reset()
                return buf
        self.allocated += 1
        if len(buffers) < self.capacity:
            buf = FrameBuffer(self.shape, self._dirty_capacity)
            buffers.append(buf)
            return buf
        return FrameBuffer(self.shape, 0)  # not pooled: nothing to remember for a reset

    def clear(self) -> None:
        """Forget every pooled buffer (frames in flight stay valid: they are just not reused)."""
        self._buffers.clear()
