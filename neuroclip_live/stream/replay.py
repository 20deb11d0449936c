"""Replay of a recording at its own pace (or a multiple of it), with pause, seek and loop.

``Replay.packets()`` runs on the reader thread; ``pause``, ``resume``,
``seek``, ``set_speed``, ``set_loop`` and ``stop`` come from any other thread
(the GUI) and take effect within one short wait. The libraries read as fast
as they can, so pacing by timestamps is done here: a packet is handed out
when the replay clock reaches its last event, and packets are cut to at most
``slice_us`` of stream time so that pacing stays smooth.

The clock is injectable (``now()`` and ``sleep()`` in seconds) so tests can
check pacing without waiting; the default one is monotonic real time whose
sleeps end early when a control call wakes the replay.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from neuroclip_live import defaults
from neuroclip_live.errors import SourceError
from neuroclip_live.events import empty_events
from neuroclip_live.states import PlaybackState
from neuroclip_live.stream.sources.base import Discontinuity, FileSource, PacketOrJump

# Longest single wait: control calls and the reader's stop flag are never
# more than this late, and an empty packet comes out at least this often.
MAX_WAIT_S = 0.1
# Stream time in one paced packet.
SLICE_US = 5_000


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""

    def sleep(self, seconds: float) -> None:
        """Wait about ``seconds`` (may return early)."""


class MonotonicClock:
    """Real time; ``sleep`` ends early when ``wake`` is set."""

    def __init__(self, wake: threading.Event | None = None) -> None:
        self._wake = wake

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if self._wake is None:
            time.sleep(seconds)
        else:
            self._wake.wait(seconds)


def split_by_time(events: np.ndarray, slice_us: int) -> Iterator[np.ndarray]:
    """Consecutive pieces of a time-ordered packet, each spanning less than ``slice_us``."""
    t = events["t"]
    if t.shape[0] == 0:
        return
    if int(t[-1]) - int(t[0]) < slice_us:
        yield events
        return
    cuts = np.searchsorted(t, np.arange(int(t[0]) + slice_us, int(t[-1]) + 1, slice_us), side="left")
    start = 0
    for cut in cuts:
        if cut > start:
            yield events[start:cut]
            start = int(cut)
    if start < t.shape[0]:
        yield events[start:]


def _check_speed(speed: float) -> float:
    speed = float(speed)
    if not speed >= 0:  # also refuses NaN
        raise SourceError(f"replay speed must be 0 (as fast as possible) or positive, not {speed:g}")
    return speed


class Replay:
    """Paces a ``FileSource`` by its timestamps at ``speed`` (0: as fast as possible)."""

    def __init__(
        self,
        source: FileSource,
        speed: float = defaults.SPEED,
        loop: bool = False,
        clock: Clock | None = None,
        slice_us: int = SLICE_US,
    ) -> None:
        self._source = source
        # The speed and loop it paces by: a pipeline sets them from its ``Controls`` (their one owner).
        self._speed = _check_speed(speed)
        self._loop = bool(loop)
        self._slice_us = int(slice_us)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._clock: Clock = clock if clock is not None else MonotonicClock(self._wake)
        self._state = PlaybackState.PLAYING
        self._seek_to: int | None = None
        self._position = self.time_range[0]
        self._paused_at = self._position  # stream time where a pause froze the replay clock
        self._stream_anchor = self._position  # the replay clock read this stream time ...
        self._wall_anchor = 0.0  # ... at this clock time

    # -- what the GUI reads ----------------------------------------------------------------------

    @property
    def state(self) -> PlaybackState:
        with self._lock:
            return self._state

    @property
    def position_us(self) -> int:
        """Stream time of the last event handed out (or where a seek went)."""
        with self._lock:
            return self._position

    @property
    def time_range(self) -> tuple[int, int]:
        """The source's, read each time: a big file's end may still be being found."""
        return self._source.time_range

    @property
    def time_range_complete(self) -> bool:
        return self._source.time_range_complete

    # -- controls (any thread) -------------------------------------------------------------------

    def pause(self) -> None:
        with self._lock:
            if self._state == PlaybackState.PLAYING:
                self._paused_at = self._stream_now()
                self._state = PlaybackState.PAUSED
            self._wake.set()

    def resume(self) -> None:
        with self._lock:
            if self._state == PlaybackState.PAUSED:
                self._state = PlaybackState.PLAYING
                self._anchor(self._paused_at)
            self._wake.set()

    def seek(self, t_us: int) -> None:
        """Continue from ``t_us`` (clamped to the time range); paused stays paused.

        While a big file's end is still being found, a seek past what is known so far is kept.
        """
        first, last = self.time_range
        t = max(int(t_us), first)
        if self.time_range_complete:
            t = min(t, last)
        with self._lock:
            self._seek_to = t
            self._position = t
            self._paused_at = t
            self._wake.set()

    def set_speed(self, speed: float) -> None:
        speed = _check_speed(speed)
        with self._lock:
            now = self._stream_now()
            self._speed = speed
            self._anchor(now)
            self._wake.set()

    def set_loop(self, loop: bool) -> None:
        with self._lock:
            self._loop = bool(loop)

    def stop(self) -> None:
        """End ``packets()`` promptly; the replay cannot be restarted."""
        with self._lock:
            self._state = PlaybackState.STOPPED
            self._wake.set()

    # -- pacing (callers hold the lock) ------------------------------------------------------------

    def _anchor(self, stream_t: int) -> None:
        self._stream_anchor = stream_t
        self._wall_anchor = self._clock.now()

    def _stream_now(self) -> int:
        """Where the replay clock is in stream time (never behind what was handed out)."""
        if self._state != PlaybackState.PLAYING or self._speed == 0:
            return self._paused_at if self._state == PlaybackState.PAUSED else self._position
        elapsed = (self._clock.now() - self._wall_anchor) * self._speed * 1e6
        return max(self._position, int(self._stream_anchor + elapsed))

    def _due(self, stream_t: int) -> float:
        return self._wall_anchor + (stream_t - self._stream_anchor) / (self._speed * 1e6)

    # -- the reader thread -------------------------------------------------------------------------

    def _pieces(self, start_us: int | None) -> Iterator[np.ndarray]:
        for packet in self._source.packets_from(start_us):
            if packet.shape[0] == 0:
                continue
            if self._speed > 0:
                yield from split_by_time(packet, self._slice_us)
            else:
                yield packet

    def _begin(self) -> tuple[int, Discontinuity | None]:
        """Where a packets() call starts: a pending seek, the start, or the start again after an end."""
        with self._lock:
            if self._seek_to is not None:
                start, self._seek_to = self._seek_to, None
                jump = Discontinuity("seek", start)
            else:
                start = self.time_range[0]
                jump = Discontinuity("seek", start) if self._state == PlaybackState.ENDED else None
            if self._state != PlaybackState.PAUSED:
                self._state = PlaybackState.PLAYING
            self._position = start
            self._paused_at = start
            self._anchor(start)
            return start, jump

    def packets(self) -> Iterator[PacketOrJump]:
        """Paced packets and ``Discontinuity`` markers until the end (no loop) or ``stop()``.

        An empty packet comes out after each ``MAX_WAIT_S`` without one (paused,
        or a gap in the recording), as from live sources, so the reader thread
        can check its own stop flag. Calling it again after the end replays
        from the start, or from where ``seek()`` was asked since.
        """
        if self.state == PlaybackState.STOPPED:
            return
        start, jump = self._begin()
        pieces = self._pieces(start)
        pending: np.ndarray | None = None
        last_out = self._clock.now()
        if jump is not None:
            yield jump
        try:
            while True:
                state, speed, seek_to = self._take_controls()
                if state == PlaybackState.STOPPED:
                    return
                if seek_to is not None:
                    pieces.close()
                    pieces, pending = self._pieces(seek_to), None
                    yield Discontinuity("seek", seek_to)
                    last_out = self._clock.now()
                    continue
                if state == PlaybackState.PLAYING and pending is None:
                    pending = next(pieces, None)
                    if pending is None:
                        at_end = self._at_end()
                        if at_end == "end":
                            return
                        if at_end == "loop":
                            pieces.close()
                            pieces = self._pieces(None)
                            yield Discontinuity("loop", self.time_range[0])
                            last_out = self._clock.now()
                        continue
                wait = self._wait_s(state, speed, pending)
                if wait > 0:
                    # Wait in steps that end by the next empty-packet deadline.
                    deadline = last_out + MAX_WAIT_S
                    self._clock.sleep(max(min(wait, deadline - self._clock.now()), 0.0))
                    if self._clock.now() >= deadline - 1e-6:  # 1 us of float slack
                        yield empty_events()
                        last_out = self._clock.now()
                    continue
                if not self._hand_out(pending):
                    continue  # a control call came in meanwhile: deal with it first
                out, pending = pending, None
                yield out
                last_out = self._clock.now()
        finally:
            pieces.close()

    def _take_controls(self) -> tuple[PlaybackState, float, int | None]:
        """State, speed and a pending seek (taken, and the clock re-anchored there), in one step."""
        with self._lock:
            if self._wake.is_set():  # clear() takes the event's own lock: not once a packet for nothing
                self._wake.clear()
            seek_to, self._seek_to = self._seek_to, None
            if seek_to is not None:
                self._anchor(seek_to)
            return self._state, self._speed, seek_to

    def _wait_s(self, state: PlaybackState, speed: float, pending: np.ndarray | None) -> float:
        """Seconds until ``pending`` is due (paced play), 0 to hand it out now, or a full wait when paused."""
        if state == PlaybackState.PLAYING and speed > 0 and pending is not None:
            with self._lock:
                due = self._due(int(pending["t"][-1])) if self._speed > 0 else 0.0
            return due - self._clock.now()
        return 0.0 if state == PlaybackState.PLAYING else MAX_WAIT_S

    def _hand_out(self, packet: np.ndarray) -> bool:
        """Move the position to ``packet``'s end unless a control call came in since it was due."""
        with self._lock:
            if self._state != PlaybackState.PLAYING or self._seek_to is not None:
                return False
            self._position = int(packet["t"][-1])
            return True

    def _at_end(self) -> str:
        """The source is exhausted: "loop" (go round again), "end", or "retry" (a control call came in)."""
        with self._lock:
            if self._seek_to is not None or self._state == PlaybackState.PAUSED:
                return "retry"
            if self._state == PlaybackState.STOPPED:
                return "end"
            if not self._loop:
                self._state = PlaybackState.ENDED
                return "end"
            first = self.time_range[0]
            self._position = first
            self._anchor(first)
            return "loop"
