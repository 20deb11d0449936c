"""Events to NeuroCLIP frames: timesteps cut by time or by count, rendered 127/255/0.

Background is 127, an ON event paints 255, an OFF event paints 0, and a later
event at the same pixel wins (events arrive in time order). The framer keeps a
rolling window of the last T frames. Pure numpy + numba; knows nothing of CLIP
or Qt.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np

from neuroclip_live.events import BACKGROUND, SensorSize


# Why a numba kernel rather than numpy or dv-processing: numpy's fancy
# assignment on the structured array's strided x/y/p fields runs at about
# 170 Mev/s (1M events at 346x260), and dv-processing's EventVisualizer
# (about 400 Mev/s) needs a dv.EventStore, which has no fast constructor from
# numpy (1.2 Mev/s). This loop runs at about 900 Mev/s on one core, releases
# the GIL (the reader thread renders while the worker runs), and skips events
# outside the sensor instead of writing out of bounds.
# Compiled at import with an explicit signature (any memory layout) rather than lazily at the
# first call: a lazy compile or cache load stalled the reader thread for about 0.4 s on its first
# packet, and a paced replay dropped its first timesteps.
@numba.njit(
    numba.int64(numba.uint8[:, :], numba.uint16[:], numba.uint16[:], numba.uint8[:]), cache=True, nogil=True
)
def _paint(frame: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> int:
    height, width = frame.shape
    outside = 0
    for i in range(x.shape[0]):
        xi = x[i]
        yi = y[i]
        if xi >= width or yi >= height:
            outside += 1
            continue
        frame[yi, xi] = 255 if p[i] else 0
    return outside


def blank_frame(size: SensorSize) -> np.ndarray:
    """An H x W uint8 frame of background."""
    return np.full((size.height, size.width), BACKGROUND, dtype=np.uint8)


def paint_events(frame: np.ndarray, events: np.ndarray) -> int:
    """Paint events onto ``frame`` in place (last event wins); returns how many fell outside it."""
    if events.shape[0] == 0:
        return 0
    return int(_paint(frame, events["x"], events["y"], events["p"]))


def render_frame(events: np.ndarray, size: SensorSize) -> np.ndarray:
    """One 127/255/0 frame of all ``events`` at sensor resolution."""
    frame = blank_frame(size)
    paint_events(frame, events)
    return frame


@dataclass(frozen=True)
class TimestepRule:
    """How the stream is cut into timesteps: every ``size`` microseconds or every ``size`` events."""

    mode: Literal["time", "count"]
    size: int

    _PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|ev|events?|k?ev)?\s*$", re.IGNORECASE)

    def __post_init__(self) -> None:
        if self.mode not in ("time", "count"):
            raise ValueError(f"timestep mode must be 'time' or 'count', not {self.mode!r}")
        if self.size <= 0:
            raise ValueError("timestep size must be positive")

    @classmethod
    def parse(cls, text: str) -> TimestepRule:
        """Parse '20ms', '500us', '0.1s' (time) or '2000ev', '5kev' (count)."""
        m = cls._PATTERN.match(text)
        if not m or m.group(2) is None:
            raise ValueError(
                f"cannot read timestep {text!r}: use a time such as '20ms', '500us', '0.1s' "
                "or an event count such as '2000ev'"
            )
        value = float(m.group(1))
        unit = m.group(2).lower()
        if unit in ("ev", "event", "events", "kev"):
            count = int(round(value * (1000 if unit == "kev" else 1)))
            return cls("count", count)
        scale = {"us": 1, "µs": 1, "ms": 1_000, "s": 1_000_000}[unit]
        return cls("time", int(round(value * scale)))

    def __str__(self) -> str:
        if self.mode == "count":
            return f"{self.size}ev"
        if self.size % 1_000 == 0:
            return f"{self.size // 1_000}ms"
        return f"{self.size}us"


@dataclass
class Frame:
    """One timestep rendered."""

    index: int  # timestep number since the last reset
    t_start_us: int
    t_end_us: int  # end of the interval (time rule) or the last event's time (count rule)
    n_events: int
    image: np.ndarray  # H x W uint8, values in {0, 127, 255}


class EventFramer:
    """Cuts a stream of event packets into timesteps and keeps the last ``T`` frames.

    ``push`` returns the frames completed by a packet. With the time rule a
    timestep completes when an event at or past its end arrives; a gap in the
    stream gives empty frames, at most ``T`` of them (an older empty frame
    would leave the window anyway), and the rest are skipped.
    """

    def __init__(self, size: SensorSize, rule: TimestepRule, T: int = 10) -> None:
        if T < 1:
            raise ValueError("T must be at least 1")
        self.size = size
        self.rule = rule
        self.T = T
        self.window: deque[Frame] = deque(maxlen=T)
        self.outside_events = 0  # events whose x/y lay outside the sensor (skipped)
        self.skipped_steps = 0  # empty timesteps not emitted after a long gap
        self.reset()

    def reset(self) -> None:
        """Forget the current timestep and the window (after a seek, loop or source change)."""
        self.window.clear()
        self._index = 0
        self._frame: np.ndarray | None = None
        self._start: int | None = None  # start of the current timestep (time rule: boundary)
        self._count = 0
        self._last_t = 0

    def _open(self, t_start: int) -> None:
        self._frame = blank_frame(self.size)
        self._start = t_start
        self._count = 0

    def _close(self, t_end: int) -> Frame:
        assert self._frame is not None and self._start is not None
        frame = Frame(self._index, self._start, t_end, self._count, self._frame)
        self._index += 1
        self.window.append(frame)
        self._frame = None
        return frame

    def _paint(self, events: np.ndarray) -> None:
        assert self._frame is not None
        self.outside_events += paint_events(self._frame, events)
        self._count += events.shape[0]
        self._last_t = int(events["t"][-1])

    def push(self, events: np.ndarray) -> list[Frame]:
        """Add a packet (time-ordered); return the frames it completed, oldest first."""
        if events.shape[0] == 0:
            return []
        if self.rule.mode == "count":
            return self._push_count(events)
        return self._push_time(events)

    def _push_count(self, events: np.ndarray) -> list[Frame]:
        done: list[Frame] = []
        n = self.rule.size
        while events.shape[0]:
            if self._frame is None:
                self._open(int(events["t"][0]))
            take = n - self._count
            self._paint(events[:take])
            events = events[take:]
            if self._count == n:
                done.append(self._close(self._last_t))
        return done

    def _push_time(self, events: np.ndarray) -> list[Frame]:
        done: list[Frame] = []
        dt = self.rule.size
        t = events["t"]
        if self._frame is None:
            self._open(int(t[0]))
        while events.shape[0]:
            assert self._start is not None
            end = self._start + dt
            cut = int(np.searchsorted(t, end, side="left"))
            if cut:
                self._paint(events[:cut])
            if cut == events.shape[0]:
                break
            done.append(self._close(end))
            events = events[cut:]
            t = t[cut:]
            # Empty timesteps between this one and the next event.
            gap = (int(t[0]) - end) // dt
            emitted = min(gap, self.T)
            for k in range(emitted):
                self._open(end + k * dt)
                done.append(self._close(end + (k + 1) * dt))
            self.skipped_steps += gap - emitted
            self._open(end + gap * dt)
        return done

    def flush(self) -> Frame | None:
        """Close the current partial timestep (end of a file); None when it holds no events."""
        if self._frame is None or self._count == 0:
            self._frame = None
            return None
        assert self._start is not None
        end = self._start + self.rule.size if self.rule.mode == "time" else self._last_t
        return self._close(end)

    def window_array(self) -> np.ndarray:
        """The last T frames as a (T', H, W) uint8 array, oldest first (T' <= T)."""
        if not self.window:
            return np.empty((0, self.size.height, self.size.width), dtype=np.uint8)
        return np.stack([f.image for f in self.window])


def sample_frames(
    events: np.ndarray, size: SensorSize, T: int, mode: Literal["count", "time"] = "count"
) -> np.ndarray:
    """Split one whole sample (an N-MNIST file, say) into exactly ``T`` frames, (T, H, W) uint8.

    ``count``: T chunks of (nearly) equal event count, as the paper does for
    N-MNIST; ``time``: T equal intervals of the sample's duration.
    """
    frames = np.full((T, size.height, size.width), BACKGROUND, dtype=np.uint8)
    n = events.shape[0]
    if n == 0:
        return frames
    if mode == "count":
        bounds = np.linspace(0, n, T + 1).round().astype(np.int64)
    elif mode == "time":
        t = events["t"]
        edges = np.linspace(int(t[0]), int(t[-1]) + 1, T + 1)
        bounds = np.searchsorted(t, edges, side="left")
    else:
        raise ValueError(f"mode must be 'count' or 'time', not {mode!r}")
    for i in range(T):
        paint_events(frames[i], events[bounds[i] : bounds[i + 1]])
    return frames
