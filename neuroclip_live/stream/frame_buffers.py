"""Frame buffers recycled once nothing holds them any more, so the framer does not allocate every timestep.

A fresh ``np.full`` frame costs 65-140 us at 1280x720 (the kernel hands out new pages that fault
on first touch), a refill of a warm buffer 25-30 us. A frame handed out travels on: the framer's
window, the worker queue, a result, a GUI snapshot, a view or a QImage wrapping its bytes. numpy
tracks no owners, but every one of those holds a reference, so a buffer whose reference count
says "only the pool" can be refilled without any old frame changing under its holder. (Buffers
are only ever read by others; views and exported buffers count as references too.)
"""

from __future__ import annotations

import sys
from collections import deque

import numpy as np

from neuroclip_live.events import BACKGROUND, SensorSize

# References to a pooled buffer that nobody else holds, as counted inside ``take``: the deque's
# slot, the local variable and ``sys.getrefcount``'s own argument.
_POOL_ONLY_REFS = 3


class FramePool:
    """Background-filled H x W uint8 buffers, reused when free, new ones when all are in use."""

    def __init__(self, size: SensorSize, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.shape = (size.height, size.width)
        self.capacity = capacity  # buffers kept for reuse; more in flight are plain allocations
        self._buffers: deque[np.ndarray] = deque()
        self.allocated = 0  # buffers created so far (for tests and figures)

    def take(self) -> np.ndarray:
        """A buffer of background that no frame in flight shares."""
        buffers = self._buffers
        for i in range(len(buffers)):
            buf = buffers[i]
            if sys.getrefcount(buf) == _POOL_ONLY_REFS:
                # The oldest buffers are the likeliest free: check them first next time too.
                del buffers[i]
                buffers.append(buf)
                buf.fill(BACKGROUND)
                return buf
        buf = np.full(self.shape, BACKGROUND, dtype=np.uint8)
        self.allocated += 1
        if len(buffers) < self.capacity:
            buffers.append(buf)
        return buf

    def clear(self) -> None:
        """Forget every pooled buffer (frames in flight stay valid: they are just not reused)."""
        self._buffers.clear()
