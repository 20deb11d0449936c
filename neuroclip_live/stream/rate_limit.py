"""An event-rate limit for cameras faster than the machine, as Metavision's event-rate controller does.

A reader that cannot keep up with its source falls behind without bound: the source buffers
what the reader has not taken, and every frame comes later than the one before. The limiter
keeps the rate the framer sees at or under a budget, given by the user (``--max-rate 50Mev/s``)
or found by steering the reader's busy share of wall time under ``HEADROOM`` (automatic: it
engages only when the reader falls behind, and lets go when it no longer limits anything).
Over the budget it keeps an evenly spaced subset of each packet (every k-th event in time
order, k fractional), so each timestep keeps the same share of its events everywhere in the
picture and the frame stays representative, and it counts what it dropped. It holds no events:
memory stays flat whatever the source does.

Budgets are in events per wall-clock second; a replay at ``speed`` s converts them to stream time.
"""

from __future__ import annotations

import re

import numpy as np

from neuroclip_live import defaults

# Tokens carried from one packet to the next, in stream time: enough to absorb packets cut at
# odd places, too little to let a burst through after a quiet spell.
CARRY_US = 2_000
# The automatic budget keeps the reader busy at most this share of the time: the rest is left for
# the source's own polling, the worker and the GUI.
HEADROOM = 0.8
# The automatic budget is adjusted once per this much wall time of stream (enough packets to
# average over timer resolution and thread switches).
ADJUST_EVERY_S = 0.02
# Steps of the automatic budget: down at once to what fits, up at most this much at a time.
MAX_RAISE = 1.25
MIN_AUTO_RATE = 1_000.0  # never below: a stalled machine still shows something

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmg]?)(?:ev)?(?:/s)?\s*$", re.IGNORECASE)
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}
MAX_RATE = 100e9  # beyond any sensor: a typo, not a budget


def parse_rate(text: str) -> float:
    """Events per second from '50Mev/s', '500kev/s', '2Gev/s', '1e6' (a ValueError otherwise)."""
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"cannot read the rate {text!r}: use events per second such as '50Mev/s' or '500kev/s'")
    rate = float(match[1]) * _SCALE[match[2].lower()]
    if not 0 < rate <= MAX_RATE:
        raise ValueError(f"the rate {text!r} must be above 0 and at most 100Gev/s")
    return rate


def format_rate(rate: float) -> str:
    """'50Mev/s', '1.5kev/s': a rate as the user would write it."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if rate >= scale:
            return f"{rate / scale:.3g}{unit}ev/s"
    return f"{rate:.3g}ev/s"


class EventRateLimiter:
    """Subsamples packets evenly down to a budget (fixed, learnt, or the lower of both), counting drops."""

    def __init__(self, max_rate: float | None = None, auto: bool = True, speed: float = defaults.SPEED) -> None:
        if max_rate is not None and not 0 < max_rate <= MAX_RATE:
            raise ValueError("max_rate must be above 0 and at most 100Gev/s")
        self.max_rate = max_rate
        self.auto = auto
        self.speed = speed
        self.dropped = 0  # events dropped since the limiter was made (never reset by a seek)
        self.kept = 0
        self._auto_rate: float | None = None  # the automatic budget, while it is engaged
        # Since the last adjustment: the reader's busy time, the stream time, events in and kept.
        self._busy_s, self._span_us, self._raw_events, self._kept_events = 0.0, 0, 0, 0
        self.reset()

    def reset(self) -> None:
        """Forget where stream time was (after a seek, loop or reconnect); the counts and the cost stay."""
        self._last_t: int | None = None
        self._tokens = float("inf")  # the first packet gets a full carry (capped below)

    @property
    def rate_limit(self) -> float | None:
        """The budget in force, events per wall-clock second; None when nothing limits."""
        if self._auto_rate is None or self.max_rate is None:
            return self.max_rate if self._auto_rate is None else self._auto_rate
        return min(self.max_rate, self._auto_rate)

    @property
    def _stream_per_wall(self) -> float:
        """A replay at speed s plays s stream seconds per wall second (speed 0, unpaced, counts as 1)."""
        return self.speed if self.speed > 0 else 1.0

    def observe(self, seconds: float) -> None:
        """The reader took ``seconds`` of wall time to frame and hand over the last packet ``limit`` gave.

        Automatic mode steers on the reader's busy share of the wall time the packets span: over
        ``HEADROOM`` it falls behind, so the budget goes down to what fits; well under it the budget
        goes back up, and lets go once it no longer limits anything.
        """
        if not self.auto:
            return
        self._busy_s += seconds
        wall_s = self._span_us / 1e6 / self._stream_per_wall
        if wall_s < ADJUST_EVERY_S:
            return
        busy_share = self._busy_s / wall_s
        incoming = self._raw_events / wall_s
        processed = self._kept_events / wall_s
        self._busy_s, self._span_us, self._raw_events, self._kept_events = 0.0, 0, 0, 0
        if busy_share > HEADROOM:
            self._auto_rate = max(processed * HEADROOM / busy_share, MIN_AUTO_RATE)
        elif self._auto_rate is not None:
            raised = self._auto_rate * min(HEADROOM / max(busy_share, 1e-9), MAX_RAISE)
            self._auto_rate = None if raised > 2 * incoming else raised

    def limit(self, events: np.ndarray) -> np.ndarray:
        """The packet itself when under the budget, else an evenly spaced subset of it (time order kept)."""
        n = events.shape[0]
        if n == 0:
            return events
        t_last = int(events["t"][-1])
        if self._last_t is None:
            self._last_t = int(events["t"][0])
        span_us = max(t_last - self._last_t, 0)
        self._last_t = t_last
        self._span_us += span_us
        self._raw_events += n
        rate = self.rate_limit
        if rate is None:
            self.kept += n
            self._kept_events += n
            return events
        per_us = rate / self._stream_per_wall / 1e6  # budget per microsecond of stream time
        self._tokens = min(self._tokens, per_us * CARRY_US) + per_us * span_us
        keep = n if n <= self._tokens else int(self._tokens)
        self._tokens -= keep
        self.kept += keep
        self._kept_events += keep
        if keep == n:
            return events
        self.dropped += n - keep
        return events[(np.arange(keep, dtype=np.int64) * n) // keep] if keep else events[:0]
