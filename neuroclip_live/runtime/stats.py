"""Rates and counters of a running pipeline: events/s, timesteps/s, latency, drops."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass
class PipelineStats:
    event_rate: float = 0.0  # events/s of stream time read in the last second of wall time
    steps_per_s: float = 0.0
    inference_ms: float = 0.0  # last batch's classifier time per frame
    latency_ms: float = 0.0
    drops: int = 0
    events_total: int = 0
    events_dropped: int = 0  # by the event-rate limit (--max-rate, or automatic for live sources)
    rate_limit: float | None = None  # events/s budget in force, None when nothing limits
    steps_total: int = 0


class RateWindow:
    """A count per second over the last ``span_s`` of wall time.

    Keeps a running sum as entries come and go, so that adding costs the same
    whatever the rate (it runs once per packet on the reader thread).
    """

    def __init__(self, span_s: float = 1.0, min_span_s: float = 0.25) -> None:
        self.span_s = span_s
        self.min_span_s = min_span_s  # a fresh window does not report a burst as a huge rate
        self._entries: deque[tuple[float, int]] = deque()
        self._sum = 0

    def add(self, now: float, n: int = 1) -> float:
        """Count ``n`` at time ``now`` (seconds, monotonic); returns the rate per second."""
        self._entries.append((now, n))
        self._sum += n
        while now - self._entries[0][0] > self.span_s:
            self._sum -= self._entries.popleft()[1]
        return self._sum / max(now - self._entries[0][0], self.min_span_s)
