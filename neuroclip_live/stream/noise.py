"""Background-activity noise filter: keep an event only when a neighbour fired recently.

The same rule as dv-processing's ``BackgroundActivityNoiseFilter`` (an event
is supported when one of its 8 neighbours had an event within the last
``duration_us``), written as a numba loop over our own event arrays: using
dv-processing's filter would mean rebuilding a ``dv.EventStore`` event by
event (about 1.2 Mev/s, see LIBRARY-NOTES), far slower than the sensors.
"""

from __future__ import annotations

import numba
import numpy as np

from neuroclip_live.events import SensorSize


# Compiled at import (explicit signature), for the same reason as framing._paint.
@numba.njit(
    numba.boolean[:](numba.int64[:], numba.uint16[:], numba.uint16[:], numba.int64[:, :], numba.int64),
    cache=True,
    nogil=True,
)
def _support_mask(t, x, y, last, duration):
    height, width = last.shape
    keep = np.zeros(t.shape[0], dtype=np.bool_)
    for i in range(t.shape[0]):
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        if xi >= width or yi >= height:
            continue
        ti = t[i]
        for dy in range(-1, 2):
            yy = yi + dy
            if yy < 0 or yy >= height:
                continue
            for dx in range(-1, 2):
                xx = xi + dx
                if (dx == 0 and dy == 0) or xx < 0 or xx >= width:
                    continue
                if ti - last[yy, xx] <= duration:
                    keep[i] = True
        last[yi, xi] = ti
    return keep


class BackgroundActivityFilter:
    """Stateful across packets; ``reset()`` after a seek or loop."""

    def __init__(self, size: SensorSize, duration_us: int = 2_000) -> None:
        if duration_us <= 0:
            raise ValueError("duration_us must be positive")
        self.size = size
        self.duration_us = duration_us
        self._last = np.empty((size.height, size.width), dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        # Far enough in the past that nothing counts as recent support.
        self._last.fill(np.iinfo(np.int64).min // 2)

    def __call__(self, events: np.ndarray) -> np.ndarray:
        """The supported events of ``events`` (a new array; the input is untouched)."""
        if events.shape[0] == 0:
            return events
        keep = _support_mask(events["t"], events["x"], events["y"], self._last, self.duration_us)
        return events[keep]
