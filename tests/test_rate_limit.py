"""The event-rate limit: parsing, even subsampling, and a synthetic camera at 10x the budget."""

from __future__ import annotations

import numpy as np
import pytest

from neuroclip_live.events import SensorSize, make_events
from neuroclip_live.stream.framing import EventFramer, TimestepRule
from neuroclip_live.stream.rate_limit import EventRateLimiter, format_rate, parse_rate


def test_parse_rate():
    assert parse_rate("50Mev/s") == 50e6
    assert parse_rate("500kev/s") == 500e3
    assert parse_rate(" 2.5 Mev/s ") == 2.5e6
    assert parse_rate("1Gev") == 1e9
    assert parse_rate("1e6") == 1e6
    for bad in ("", "fast", "-5Mev/s", "0", "50Mb/s", "1e30"):
        with pytest.raises(ValueError):
            parse_rate(bad)
    assert format_rate(50e6) == "50Mev/s" and format_rate(1500) == "1.5kev/s"


def stream(n: int, duration_us: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, duration_us, n))
    return make_events(t, rng.integers(0, 64, n), rng.integers(0, 48, n), rng.integers(0, 2, n))


def test_under_the_budget_the_packet_passes_untouched():
    limiter = EventRateLimiter(max_rate=1e6, auto=False)
    events = stream(900, 1_000_000)  # 0.9 Mev/s... of 1 s: 900 ev/s
    assert limiter.limit(events) is events
    assert (limiter.kept, limiter.dropped) == (900, 0)


def test_over_the_budget_keeps_an_even_share_of_every_timestep():
    limiter = EventRateLimiter(max_rate=100_000, auto=False)
    events = stream(1_000_000, 1_000_000)  # 1 Mev/s for 1 s: 10x the budget
    kept = limiter.limit(events)
    assert limiter.kept + limiter.dropped == 1_000_000
    assert 100_000 <= limiter.kept <= 100_000 + 100_000 * 2_000 // 1_000_000 + 1  # budget + carried tokens
    assert kept.shape[0] == limiter.kept
    assert np.all(np.diff(kept["t"]) >= 0)  # still time-ordered
    # The same share in every 30 ms timestep and in every part of the picture.
    framer_all = EventFramer(SensorSize(64, 48), TimestepRule("time", 30_000), T=40)
    steps_all = framer_all.push(events)
    steps_kept = EventFramer(SensorSize(64, 48), TimestepRule("time", 30_000), T=40).push(kept)
    shares = [k.n_events / a.n_events for k, a in zip(steps_kept, steps_all, strict=False)]
    assert len(shares) == len(steps_all) and min(shares) > 0.09 and max(shares) < 0.11
    left = (kept["x"] < 32).mean()
    assert 0.48 < left < 0.52


class SimulatedReader:
    """A camera producing ``rate`` events per second of a simulated clock in 1 ms packets, and a reader
    that costs ``cost_s`` per event it frames plus a fixed cost per poll. A poll takes every packet the
    camera completed since the previous one, as a driver's buffer hands them out, and waits for the
    next when there is none: a reader slower than the camera takes ever larger batches and falls ever
    further behind."""

    PACKET_S = 0.001

    def __init__(self, rate: float, cost_s: float, limiter: EventRateLimiter | None) -> None:
        self.rate, self.cost_s, self.limiter = rate, cost_s, limiter
        self.now_s = 0.0
        self.produced_until_s = 0.0
        self.packets_done = 0
        self.latencies_ms: list[float] = []
        self.packets: list[int] = []
        self.produced = 0
        self.rng = np.random.default_rng(3)

    def step(self) -> None:
        # Everything the camera completed by now, or the next packet when it has none ready.
        done = max(int(self.now_s / self.PACKET_S), self.packets_done + 1)
        until = done * self.PACKET_S
        self.packets_done = done
        self.now_s = max(self.now_s, until)
        n = round((until - self.produced_until_s) * self.rate)
        t = np.linspace(self.produced_until_s * 1e6, until * 1e6, n, endpoint=False).astype(np.int64)
        events = make_events(t, self.rng.integers(0, 64, n), self.rng.integers(0, 48, n), np.ones(n))
        self.produced_until_s = until
        self.packets.append(n)
        self.produced += n
        if self.limiter is not None:
            events = self.limiter.limit(events)
        busy = 100e-6 + 2e-9 * n + self.cost_s * events.shape[0]  # per poll, per raw event (subsampling), per kept
        if self.limiter is not None:
            self.limiter.observe(busy)
        self.now_s += busy
        self.latencies_ms.append((self.now_s - t[-1] / 1e6) * 1e3)  # newest event to its frame handed over


COST_S = 5e-6  # the reader sustains 200 kev/s
BUDGET = 100_000  # half of that
CAMERA = 10 * BUDGET


def test_without_a_limit_a_camera_at_10x_makes_latency_grow_without_bound():
    sim = SimulatedReader(CAMERA, COST_S, None)
    for _ in range(5):
        sim.step()
    assert sim.latencies_ms[-1] > 100 * sim.latencies_ms[0]  # x5 a packet: the reader only falls behind


@pytest.mark.parametrize(
    "limiter",
    [EventRateLimiter(max_rate=BUDGET, auto=False), EventRateLimiter(auto=True)],
    ids=["max-rate", "automatic"],
)
def test_camera_at_10x_the_budget_keeps_latency_and_packets_flat(limiter):
    sim = SimulatedReader(CAMERA, COST_S, limiter)
    while sim.now_s < 5.0:  # 5 s of camera time
        sim.step()
    first, last = sim.latencies_ms[: len(sim.latencies_ms) // 10], sim.latencies_ms[-len(sim.latencies_ms) // 10 :]
    assert max(last) <= 1.5 * max(first[len(first) // 2 :]) and max(last) < 5.0  # flat, and a few ms at most
    # What waits in the camera's buffer stays small once the budget holds: memory is flat.
    assert max(sim.packets[len(sim.packets) // 10 :]) <= 3 * CAMERA * sim.PACKET_S
    produced = sim.produced
    assert limiter.kept + limiter.dropped == produced
    # The reader is kept busy under its headroom, without starving either.
    busy_share = limiter.kept * COST_S / sim.now_s
    assert 0.3 < busy_share < 0.85
    if limiter.max_rate is not None:
        assert limiter.kept <= BUDGET * sim.produced_until_s * 1.01 + 1_000
    assert limiter.dropped > 0.5 * produced


def test_replay_speed_converts_the_budget_to_stream_time():
    limiter = EventRateLimiter(max_rate=100_000, auto=False, speed=2.0)  # 1 s of stream plays in 0.5 s
    limiter.limit(stream(1_000_000, 1_000_000))
    assert limiter.kept == pytest.approx(50_000, rel=0.01)
    limiter.reset()
    assert limiter.dropped > 0 and limiter.kept > 0  # counts survive a seek
