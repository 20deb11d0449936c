"""Events to NeuroCLIP frames: timesteps cut by time or by count, rendered 127/255/0.

Background is 127, an ON event paints 255, an OFF event paints 0, and a later
event at the same pixel wins (events arrive in time order). The framer keeps a
rolling window of the last T frames. Pure numpy + numba; knows nothing of CLIP
or Qt.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np

from neuroclip_live import defaults
from neuroclip_live.events import (
    BACKGROUND,
    EVENT_DTYPE,
    OFF_VALUE,
    ON_VALUE,
    SensorSize,
)
from neuroclip_live.stream.frame_buffers import NOT_TRACKED, FrameBuffer, FramePool

# Why a numba kernel rather than numpy or dv-processing: numpy's fancy
# assignment on the structured array's strided x/y/p fields runs at about
# 170 Mev/s (1M events at 346x260), and dv-processing's EventVisualizer
# (about 400 Mev/s) needs a dv.EventStore, which has no fast constructor from
# numpy (1.2 Mev/s). This loop reads the packed records in place, cuts at a
# timestep's end while it paints (no separate searchsorted over the strided
# ``t`` field), releases the GIL (the reader renders while the worker runs),
# and skips events outside the sensor instead of writing out of bounds.
# Compiled at import with an explicit signature rather than lazily at the first call: a lazy
# compile or cache load stalled the reader thread for about 0.4 s on its first packet, and a
# paced replay dropped its first timesteps. The signature is for contiguous (C-order) input:
# the same loop compiled for any layout ran at 199 against 697 Mev/s.
_EVENT_RECORD = numba.from_dtype(EVENT_DTYPE)
_NO_END = np.iinfo(np.int64).max
_NO_LOW = np.iinfo(np.int64).min


@numba.njit(inline="always")
def _stopped(events: np.ndarray, start: int, i: int, outside: int, n_dirty: int) -> tuple[int, int, int, int, int]:
    last_t = events[i - 1].t if i > start else _NO_LOW
    next_t = events[i].t if i < events.shape[0] else _NO_END
    return i, outside, n_dirty, last_t, next_t


@numba.njit(
    numba.types.UniTuple(numba.int64, 5)(
        numba.uint8[:, ::1],
        _EVENT_RECORD[::1],
        numba.int64,
        numba.int64,
        numba.int64,
        numba.int64,
        numba.int32[::1],
        numba.int64,
    ),
    cache=True,
    nogil=True,
)
def _paint_until(
    frame: np.ndarray,
    events: np.ndarray,
    start: int,
    stop: int,
    t_low: int,
    t_end: int,
    dirty: np.ndarray,
    n_dirty: int,
) -> tuple[int, int, int, int, int]:
    """Paint ``events[start:stop]`` up to the first event at or after ``t_end`` or before ``t_low``.

    Appends the flat index of each painted pixel to ``dirty`` from ``n_dirty`` on, while it fits
    (``n_dirty`` -1: not tracked, or overflowed). Returns (the index it stopped at, events outside
    the sensor, the new ``n_dirty``, the last painted event's time, the time of the event at the
    stop index). The times come back from here because reading one field of a record array from
    Python costs about 1.5 us, four times a timestep.
    """
    height, width = frame.shape
    capacity = dirty.shape[0]
    outside = 0
    i = start
    # Two copies of the loop, so that a dense timestep, once its list is full, runs the plain one:
    # a tracking test on every event cost 18% of the paint rate.
    while i < stop and n_dirty >= 0:
        e = events[i]
        if e.t >= t_end or e.t < t_low:
            return _stopped(events, start, i, outside, n_dirty)
        if e.x >= width or e.y >= height:
            outside += 1
        else:
            frame[e.y, e.x] = ON_VALUE if e.p else OFF_VALUE
            if n_dirty < capacity:
                dirty[n_dirty] = np.int64(e.y) * width + e.x
                n_dirty += 1
            else:
                n_dirty = NOT_TRACKED
        i += 1
    while i < stop:
        e = events[i]
        if e.t >= t_end or e.t < t_low:
            break
        if e.x >= width or e.y >= height:
            outside += 1
        else:
            frame[e.y, e.x] = ON_VALUE if e.p else OFF_VALUE
        i += 1
    return _stopped(events, start, i, outside, n_dirty)


_UNTRACKED = np.empty(0, dtype=np.int32)  # ``dirty`` for painting outside the pool


def blank_frame(size: SensorSize) -> np.ndarray:
    """An H x W uint8 frame of background."""
    return np.full((size.height, size.width), BACKGROUND, dtype=np.uint8)


def paint_events(frame: np.ndarray, events: np.ndarray) -> int:
    """Paint events onto ``frame`` in place (last event wins); returns how many fell outside it."""
    if events.shape[0] == 0:
        return 0
    events = np.ascontiguousarray(events)  # the kernel takes C-order only; slices already are
    if frame.flags.c_contiguous:
        return _paint_until(frame, events, 0, events.shape[0], _NO_LOW, _NO_END, _UNTRACKED, NOT_TRACKED)[1]
    canvas = np.ascontiguousarray(frame)
    outside = _paint_until(canvas, events, 0, events.shape[0], _NO_LOW, _NO_END, _UNTRACKED, NOT_TRACKED)[1]
    frame[...] = canvas
    return outside


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
            count = round(value * (1000 if unit == "kev" else 1))
            return cls("count", count)
        scale = {"us": 1, "µs": 1, "ms": 1_000, "s": 1_000_000}[unit]
        return cls("time", round(value * scale))

    @classmethod
    def default(cls) -> TimestepRule:
        """The rule a run uses unless told otherwise (``defaults.TIMESTEP``)."""
        return cls.parse(defaults.TIMESTEP)

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
    after_jump: bool = False  # first timestep after a time jump reset the window (consumers reset too)


class EventFramer:
    """Cuts a stream of event packets into timesteps and keeps the last ``T`` frames.

    ``push`` returns the frames completed by a packet (``frames`` yields them one by one, so a
    consumer with a bounded queue holds only a few at a time). With the time rule a timestep
    completes when an event at or past its end arrives. A gap shorter than ``T`` timesteps gives
    its empty frames; a longer one (a pause of the scene, or garbage time words in a damaged file
    jumping 7e13 us ahead), or time running back past the window, is a time jump: the window resets
    once, as after a seek, the next timestep starts at the next event and its frame says ``after_jump``.

    Frame buffers come from a ``FramePool``: a frame's image is never repainted while anything
    still holds it.
    """

    def __init__(self, size: SensorSize, rule: TimestepRule, T: int = defaults.T) -> None:
        if T < 1:
            raise ValueError("T must be at least 1")
        self.size = size
        self.rule = rule
        self.T = T
        self.window: deque[Frame] = deque(maxlen=T)
        # Frames in flight: the window (T), the reader's hand-off and the worker queue (up to 20 in
        # a lossless run), the results kept with their image (16), a consumer's batch of them (16)
        # and the GUI's copies (T). Buffers are made as needed up to this; beyond it a frame is a
        # fresh allocation, which cost 116 us a frame at 346x260 when the pool was 2T + 16.
        self._pool = FramePool(size, 2 * T + 56)
        self.outside_events = 0  # events whose x/y lay outside the sensor (skipped)
        self.skipped_steps = 0  # empty timesteps not emitted (inside time jumps)
        self.jumps = 0  # time jumps that reset the window
        self.reset()

    @property
    def buffers_allocated(self) -> int:
        """Frame buffers made so far: it stops growing once frames are recycled."""
        return self._pool.allocated

    def reset(self) -> None:
        """Forget the current timestep and the window (after a seek, loop or source change)."""
        self.window.clear()
        self._index = 0
        self._frame: np.ndarray | None = None
        self._buffer: FrameBuffer | None = None  # the open timestep's pooled buffer (holds ``_frame``)
        self._start: int | None = None  # start of the current timestep (time rule: boundary)
        self._count = 0
        self._last_t = 0
        self._jumped = False

    def _open(self, t_start: int) -> None:
        self._buffer = self._pool.take()
        self._frame = self._buffer.image  # held here too: the pool sees it in use
        self._start = t_start
        self._count = 0

    def _close(self, t_end: int) -> Frame:
        assert self._frame is not None and self._start is not None
        frame = Frame(self._index, self._start, t_end, self._count, self._frame, self._jumped)
        self._jumped = False
        self._index += 1
        self.window.append(frame)
        self._frame = self._buffer = None
        return frame

    def _paint(self, events: np.ndarray, start: int, stop: int, t_end: int, t_low: int = _NO_LOW) -> tuple[int, int]:
        """Paint ``events[start:stop]`` in [t_low, t_end) into the open timestep.

        Returns the index it stopped at and that event's time (``_NO_END`` past the packet's end).
        """
        buf = self._buffer
        assert buf is not None and self._frame is not None
        cut, outside, buf.n_dirty, last_t, next_t = _paint_until(
            self._frame, events, start, stop, t_low, t_end, buf.dirty, buf.n_dirty
        )
        if cut > start:
            self.outside_events += outside
            self._count += cut - start
            self._last_t = last_t
        return cut, next_t

    def push(self, events: np.ndarray) -> list[Frame]:
        """Add a packet (time-ordered); return the frames it completed, oldest first."""
        return list(self.frames(events))

    def frames(self, events: np.ndarray) -> Iterator[Frame]:
        """Add a packet (time-ordered); yield the frames it completes, oldest first, as they complete."""
        if events.shape[0] == 0:
            return iter(())
        events = np.ascontiguousarray(events)  # the kernel takes C-order; packets already are
        if self.rule.mode == "count":
            return self._push_count(events)
        return self._push_time(events)

    def _push_count(self, events: np.ndarray) -> Iterator[Frame]:
        n = self.rule.size
        i, total = 0, events.shape[0]
        t_next = int(events["t"][0])
        while i < total:
            if self._frame is None:
                self._open(t_next)
            i, t_next = self._paint(events, i, min(total, i + n - self._count), _NO_END)
            if self._count == n:
                yield self._close(self._last_t)

    def _push_time(self, events: np.ndarray) -> Iterator[Frame]:
        dt = self.rule.size
        i, total = 0, events.shape[0]
        t_next = int(events["t"][0])  # the time of events[i], from the kernel after each paint
        if self._frame is None:
            self._open(t_next)
        while True:
            assert self._start is not None
            if t_next < self._start - self.T * dt:
                # Time ran back past the whole window (after a wild time word): a jump too.
                if self._count:
                    yield self._close(self._start + dt)
                self._jump(t_next)
            end = self._start + dt
            i, t_next = self._paint(events, i, total, end, self._start - self.T * dt)
            if i == total:
                return
            if t_next < end:
                continue  # time ran back past the window: the check above makes it a jump
            yield self._close(end)
            gap = (t_next - end) // dt  # empty timesteps between this one and the next event
            if gap >= self.T:
                # A time jump: every frame of the window would be empty; start again instead.
                self.skipped_steps += gap
                self._jump(t_next)
                continue
            for k in range(gap):
                self._open(end + k * dt)
                yield self._close(end + (k + 1) * dt)
            self._open(end + gap * dt)

    def _jump(self, t_us: int) -> None:
        """Reset the window, as after a seek, and open the next timestep at ``t_us``."""
        self.jumps += 1
        self.window.clear()
        self._index = 0
        self._jumped = True
        self._open(t_us)

    def flush(self) -> Frame | None:
        """Close the current partial timestep (end of a file); None when it holds no events."""
        if self._frame is None or self._count == 0:
            self._frame = self._buffer = None
            return None
        assert self._start is not None
        end = self._start + self.rule.size if self.rule.mode == "time" else self._last_t
        return self._close(end)

    def window_array(self) -> np.ndarray:
        """The last T frames as a (T', H, W) uint8 array, oldest first (T' <= T)."""
        if not self.window:
            return np.empty((0, self.size.height, self.size.width), dtype=np.uint8)
        return np.stack([f.image for f in self.window])


def sample_frames(events: np.ndarray, size: SensorSize, T: int, mode: Literal["count", "time"] = "count") -> np.ndarray:
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
