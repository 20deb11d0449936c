"""Capturing examples from a running stream: the bounded ring of recent raw events and the window a snapshot shows."""

from __future__ import annotations

import numpy as np
import pytest

from neuroclip_live.errors import DataError
from neuroclip_live.events import SensorSize, make_events
from neuroclip_live.offline.teaching_job import teaching_split
from neuroclip_live.runtime.capture import RecentEvents, window_events
from neuroclip_live.runtime.stats import PipelineStats
from neuroclip_live.runtime.status import Snapshot
from neuroclip_live.states import StreamState
from neuroclip_live.stream.framing import EventFramer, TimestepRule
from neuroclip_live.stream.sources.base import Discontinuity

RULE = TimestepRule("time", 30_000)
SIZE = SensorSize(32, 24)


def packets(t0_us: int, t1_us: int, every_us: int = 5_000, per: int = 20) -> list[np.ndarray]:
    """Packets of ``per`` events every ``every_us`` from ``t0_us`` to ``t1_us``, evenly spaced in time."""
    out = []
    for start in range(t0_us, t1_us, every_us):
        t = np.linspace(start, start + every_us - 1, per).astype(np.int64)
        out.append(make_events(t, t % SIZE.width, t % SIZE.height, t % 2))
    return out


def test_the_ring_keeps_two_windows_of_stream_time_and_gives_a_window_exactly():
    ring = RecentEvents(RULE, T=10)
    for p in packets(0, 2_000_000):
        ring(p)
    assert len(ring) <= (600_000 + 5_000) // 5_000 * 20  # two windows of 300 ms and the packet that spans the edge
    events, whole = ring.between(1_500_000, 1_800_000)
    assert whole and events.shape[0] == 300_000 // 5_000 * 20
    assert events["t"].min() >= 1_500_000 and events["t"].max() < 1_800_000
    _, whole = ring.between(1_000_000, 1_300_000)  # before what is kept: it would be cut short
    assert not whole
    ring(Discontinuity("seek"))
    assert len(ring) == 0 and ring.between(1_500_000, 1_800_000)[0].shape[0] == 0


def test_the_ring_never_holds_more_than_its_bound_and_follows_the_count_rule():
    ring = RecentEvents(RULE, T=10, max_events=100)
    for p in packets(0, 200_000, every_us=50_000, per=70):  # 70-event packets against a bound of 100
        ring(p)
        assert len(ring) <= 100
    events, whole = ring.between(150_000, 200_000)
    assert whole and events.shape[0] == 70
    assert not ring.between(90_000, 200_000)[1]  # part of it went to the bound
    counted = RecentEvents(TimestepRule("count", 20), T=3)  # two windows: 120 events
    for p in packets(0, 100_000):
        counted(p)
    assert 120 <= len(counted) < 120 + 20
    counted.restart(RULE, 10)
    assert len(counted) == 0 and counted.keep_us == 600_000


def _snapshot(frames, state=StreamState.PLAYING) -> Snapshot:
    return Snapshot(
        state, "", "cam", SIZE, False, None, None, frames[-1] if frames else None, frames, None, None, PipelineStats()
    )


def test_the_window_on_screen_is_what_a_capture_takes():
    ring = RecentEvents(RULE, T=10)
    framer = EventFramer(SIZE, RULE, T=10)
    frames = []
    for p in packets(0, 400_000):
        ring(p)
        frames += framer.push(p)
    window = list(framer.window)
    events = window_events(_snapshot(window), ring, 10, RULE)
    assert events["t"].min() == window[0].t_start_us and events["t"].max() < window[-1].t_end_us
    assert events.shape[0] == sum(f.n_events for f in window)
    with pytest.raises(DataError, match="still filling"):
        window_events(_snapshot(window[-3:]), ring, 10, RULE)
    with pytest.raises(DataError, match="nothing to capture yet"):
        window_events(_snapshot([]), ring, 10, RULE)
    with pytest.raises(DataError, match="cam is disconnected"):
        window_events(_snapshot(window, StreamState.DISCONNECTED), ring, 10, RULE)
    ring(Discontinuity("reconnect"))
    with pytest.raises(DataError, match="no events in the window"):
        window_events(_snapshot(window), ring, 10, RULE)


@pytest.mark.parametrize(
    ("counts", "split"),
    [({"a": 7, "b": 9}, (4, 3)), ({"a": 1, "b": 5}, (1, 0)), ({"a": 2, "b": 2}, (1, 1)), ({"a": 40, "b": 50}, (16, 3))],
)
def test_the_examples_split_into_shots_and_validation_as_train_would_take_them(counts, split):
    assert teaching_split(counts) == split
