"""The raw events of the last few timesteps, kept for capturing examples from a running stream.

A ``RecentEvents`` is a packet listener (``Pipeline.add_packet_listener``): the
reader thread hands it every raw packet and every jump in time, and it keeps
the newest packets that cover two windows of stream time (``keep_us``, the
time rule) or of events (``keep_events``, the count rule), never more than ``max_events`` events
in all, so memory stays bounded whatever the camera sends. The GUI thread asks
for the events of a window (``between``) when the user captures. It has a lock
of its own (``runtime.status``: safe from any thread). A seek, loop or
reconnect empties it: events from before a jump are another stretch of time.
``window_events`` takes the events of the window a snapshot shows.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from neuroclip_live.errors import DataError
from neuroclip_live.events import concatenate, empty_events
from neuroclip_live.runtime.status import Snapshot
from neuroclip_live.states import StreamState
from neuroclip_live.stream.framing import TimestepRule
from neuroclip_live.stream.sources.base import Discontinuity

# At most this many events are kept (13 bytes each: 52 MB). A window of 10 timesteps of 30 ms holds
# about 3.6 M events of a DAVIS346 at its 12 Mev/s; faster cameras are thinned by the rate limit.
MAX_EVENTS = 4_000_000
# Windows kept: the GUI shows a window the reader finished a poll or two earlier (more on a busy machine),
# and a replay's packets can be long; a window drawn more than a window's time late is too late to capture.
KEEP_WINDOWS = 2


class RecentEvents:
    """The newest raw events of a stream; a packet listener on the reader thread, read from any other."""

    def __init__(self, rule: TimestepRule, T: int, max_events: int = MAX_EVENTS) -> None:
        self.max_events = max_events
        self.keep_us, self.keep_events = self._keep(rule, T)
        self._packets: deque[np.ndarray] = deque()
        self._count = 0
        self._gone_until: int | None = None  # the time of the newest event let go (None: none since the start)
        self._lock = threading.Lock()

    def _keep(self, rule: TimestepRule, T: int) -> tuple[int | None, int]:
        """(stream time, events) to keep for windows of ``T`` timesteps of ``rule``."""
        steps = KEEP_WINDOWS * T
        if rule.mode == "time":
            return steps * rule.size, self.max_events
        return None, min(steps * rule.size, self.max_events)

    def __call__(self, item: np.ndarray | Discontinuity) -> None:
        """The listener: keep a packet (bounded), or forget everything at a jump in time."""
        with self._lock:
            if isinstance(item, Discontinuity):
                self._packets.clear()
                self._count, self._gone_until = 0, None
                return
            if item.shape[0] == 0:
                return
            self._packets.append(item)
            self._count += item.shape[0]
            self._trim(int(item["t"][-1]))

    def _trim(self, newest_us: int) -> None:
        packets = self._packets
        while len(packets) > 1:
            first = packets[0]
            old = self.keep_us is not None and int(first["t"][-1]) < newest_us - self.keep_us
            if not (old or self._count - first.shape[0] >= self.keep_events):
                break
            packets.popleft()
            self._count -= first.shape[0]
            self._gone_until = int(first["t"][-1])
        if self._count > self.max_events:  # one packet larger than the bound: keep its newest events
            cut = self._count - self.max_events
            self._gone_until = int(packets[0]["t"][cut - 1])
            packets[0] = packets[0][cut:]
            self._count = self.max_events

    def __len__(self) -> int:
        with self._lock:
            return self._count

    def between(self, t_start_us: int, t_end_us: int, end_inclusive: bool = False) -> tuple[np.ndarray, bool]:
        """A copy of the kept events with ``t_start_us <= t < t_end_us`` (``<=`` when ``end_inclusive``).

        The second value is False when events of that range were let go already (the window
        reaches back further than what is kept): the example would be cut short.
        """
        with self._lock:
            # Only the packets that reach into the range: a copy of everything kept would cost up to 52 MB.
            packets = [p for p in self._packets if int(p["t"][-1]) >= t_start_us and int(p["t"][0]) <= t_end_us]
            gone_until = self._gone_until
        whole = gone_until is None or gone_until < t_start_us
        if not packets:
            return empty_events(), whole
        events = concatenate(packets)
        t = events["t"]
        lo = int(np.searchsorted(t, t_start_us, side="left"))
        hi = int(np.searchsorted(t, t_end_us, side="right" if end_inclusive else "left"))
        return events[lo:hi].copy(), whole

    def restart(self, rule: TimestepRule, T: int) -> None:
        """Forget what is kept and keep for this rule and window from now on (a new source or new settings)."""
        with self._lock:
            self.keep_us, self.keep_events = self._keep(rule, T)
            self._packets.clear()
            self._count, self._gone_until = 0, None


def window_events(snap: Snapshot, recent: RecentEvents, T: int, rule: TimestepRule) -> np.ndarray:
    """The raw events of the snapshot's window (its last ``T`` timesteps); a DataError (one line) when it has none."""
    if snap.state == StreamState.DISCONNECTED:
        raise DataError(f"{snap.source_name or 'the source'} is disconnected: nothing to capture until it is back")
    window = snap.window
    if not window:
        raise DataError("nothing to capture yet: open a recording or a camera and let it play")
    if len(window) < T:
        raise DataError(f"the window is still filling ({len(window)} of {T} timesteps): capture again in a moment")
    events, whole = recent.between(window[0].t_start_us, window[-1].t_end_us, end_inclusive=rule.mode == "count")
    if not whole:
        raise DataError("the window reaches back past the events kept: capture again")
    if events.shape[0] == 0:
        raise DataError("no events in the window: show the camera something that moves")
    return events
