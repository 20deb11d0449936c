"""Replay pacing, pause, seek and loop, on recordings written to disk and a clock the test drives."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

from neuroclip_live.errors import SourceError
from neuroclip_live.events import SensorSize, concatenate
from neuroclip_live.states import PlaybackState
from neuroclip_live.stream.replay import Replay
from neuroclip_live.stream.sources import Discontinuity, open_file
from recording_writers import events_equal, random_events, write_with_faery

PLAYING, PAUSED, ENDED, STOPPED = (
    PlaybackState.PLAYING,
    PlaybackState.PAUSED,
    PlaybackState.ENDED,
    PlaybackState.STOPPED,
)

SIZE = SensorSize(128, 128)


class ScriptedClock:
    """Fake time: sleep() advances it at once; actions run when time passes their moment."""

    def __init__(self, actions: dict[float, callable] | None = None) -> None:
        self.t = 0.0
        self.slept = 0.0
        self.actions = sorted((actions or {}).items())

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.slept += seconds
        while self.actions and self.actions[0][0] <= self.t:
            self.actions.pop(0)[1]()


@pytest.fixture
def recording(tmp_path):
    """A real 1-second recording (faery .dat), 30,000 events."""
    events = random_events(30_000, SIZE, t0=2_000_000, duration_us=1_000_000)
    return open_file(str(write_with_faery(tmp_path / "rec.dat", events, SIZE))), events


def events_of(items) -> np.ndarray:
    return concatenate([i for i in items if isinstance(i, np.ndarray) and i.shape[0]])


def stream_seconds(events: np.ndarray, start: int | None = None) -> float:
    return (int(events["t"][-1]) - int(events["t"][0] if start is None else start)) / 1e6


@pytest.mark.parametrize("speed", [1.0, 2.0, 0.25])
def test_sleeps_add_up_to_stream_time_over_speed(recording, speed):
    source, events = recording
    clock = ScriptedClock()
    replay = Replay(source, speed=speed, clock=clock)
    out = []
    first = int(events["t"][0])
    for item in replay.packets():
        assert isinstance(item, np.ndarray)
        if item.shape[0]:
            due = (int(item["t"][-1]) - first) / 1e6 / speed
            assert clock.now() == pytest.approx(due, abs=1e-9)  # handed out when its last event is due
            assert int(item["t"][-1]) - int(item["t"][0]) < 5_000  # packets cut to < 5 ms of stream
        out.append(item)
    assert clock.slept == pytest.approx(stream_seconds(events) / speed, rel=1e-9)
    assert events_equal(events_of(out), events)
    assert replay.state == ENDED and replay.position_us == int(events["t"][-1])


def test_speed_zero_never_sleeps(recording):
    source, events = recording
    clock = ScriptedClock()
    items = list(Replay(source, speed=0, clock=clock).packets())
    assert clock.slept == 0
    assert events_equal(events_of(items), events)


def test_a_gap_in_the_recording_gives_empty_packets_at_least_every_100ms(tmp_path):
    events = np.concatenate(
        [random_events(100, SIZE, t0=0, duration_us=10_000), random_events(100, SIZE, t0=2_000_000, duration_us=10_000)]
    )
    source = open_file(str(write_with_faery(tmp_path / "gap.dat", events, SIZE)))
    clock = ScriptedClock()
    outputs = []
    for _ in Replay(source, clock=clock).packets():
        outputs.append(clock.now())
    assert max(np.diff(outputs)) <= 0.1 + 1e-9
    assert clock.slept == pytest.approx(stream_seconds(events))


def test_pause_holds_the_stream_and_resume_continues_where_it_stopped(recording):
    source, events = recording
    clock = ScriptedClock({0.3: lambda: replay.pause(), 0.8: lambda: replay.resume()})  # the replay made next
    replay = Replay(source, clock=clock)
    out, while_paused = [], []
    for item in replay.packets():
        if replay.state == PAUSED:
            while_paused.append(item)
        out.append(item)
    assert all(p.shape[0] == 0 for p in while_paused) and len(while_paused) >= 4
    assert events_equal(events_of(out), events)
    # Stream time plus the 0.5 s pause, give or take the 100 ms wait in which the pause landed.
    assert clock.slept == pytest.approx(stream_seconds(events) + 0.5, abs=0.1)


def test_pause_and_resume_from_another_thread(recording):
    source, events = recording
    replay = Replay(source, speed=1.0)
    received = []
    reader = threading.Thread(target=lambda: received.extend(replay.packets()))
    reader.start()
    time.sleep(0.2)
    replay.pause()
    assert replay.state == PAUSED
    position_at_pause = replay.position_us
    time.sleep(0.3)  # a packet handed over just before the pause lands meanwhile
    so_far = events_of(received)
    assert events_equal(so_far, events[: so_far.shape[0]])
    assert 0 < so_far.shape[0] < events.shape[0] and int(so_far["t"][-1]) == position_at_pause
    time.sleep(0.3)
    assert events_of(received).shape[0] == so_far.shape[0]  # nothing flows while paused
    assert replay.position_us == position_at_pause
    replay.resume()
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert events_equal(events_of(received), events)


def test_seek_gives_a_discontinuity_then_the_events_from_there(recording):
    source, events = recording
    clock = ScriptedClock()
    replay = Replay(source, speed=1.0, clock=clock)
    target = int(events["t"][20_000])
    items = []
    seek_clock = None
    for item in replay.packets():
        items.append(item)
        if seek_clock is None and len(events_of(items)) > 1_000:
            replay.seek(target)
            assert replay.position_us == target
            seek_clock = clock.now()
    jump_at = next(i for i, item in enumerate(items) if isinstance(item, Discontinuity))
    assert items[jump_at] == Discontinuity("seek", target)
    assert events_equal(events_of(items[jump_at:]), events[events["t"] >= target])
    assert clock.now() - seek_clock == pytest.approx(stream_seconds(events, target), rel=1e-6)


def test_seek_while_paused_jumps_but_stays_paused(recording):
    source, events = recording
    target = int(events["t"][25_000])
    actions = {0.1: lambda: replay.pause(), 0.2: lambda: replay.seek(target), 0.5: lambda: replay.resume()}
    clock = ScriptedClock(actions)  # the replay, made next, is what the actions act on
    replay = Replay(source, clock=clock)
    items = list(replay.packets())
    jumps = [i for i, item in enumerate(items) if isinstance(item, Discontinuity)]
    assert [items[i] for i in jumps] == [Discontinuity("seek", target)]
    jump_at = jumps[0]
    assert events_equal(events_of(items[jump_at:]), events[events["t"] >= target])
    # Between the seek and the resume (0.2 s to 0.5 s) only empty packets came out.
    first_event_after = next(
        i for i in range(jump_at, len(items)) if isinstance(items[i], np.ndarray) and items[i].shape[0]
    )
    assert first_event_after - jump_at >= 3


def test_loop_restarts_with_a_discontinuity(recording):
    source, events = recording
    clock = ScriptedClock()
    replay = Replay(source, speed=4.0, loop=True, clock=clock)
    rounds: list[list] = [[]]
    for item in replay.packets():
        if isinstance(item, Discontinuity):
            assert item == Discontinuity("loop", int(events["t"][0]))
            if len(rounds) == 2:
                replay.stop()
            rounds.append([])
        else:
            rounds[-1].append(item)
    assert len(rounds) == 3
    assert events_equal(events_of(rounds[0]), events) and events_equal(events_of(rounds[1]), events)
    assert events_of(rounds[2]).shape[0] == 0  # stop() ended it before any event of round 3
    assert replay.state == STOPPED


def test_set_loop_off_and_set_speed_mid_stream(recording):
    source, events = recording
    switched = []

    def faster_and_once():
        switched.append(clock.now())  # at or just after 0.5 s: inside a sleep step
        replay.set_speed(4.0)
        replay.set_loop(False)

    clock = ScriptedClock({0.5: faster_and_once})
    replay = Replay(source, speed=1.0, loop=True, clock=clock)
    items = list(replay.packets())
    assert not any(isinstance(i, Discontinuity) for i in items)
    assert events_equal(events_of(items), events)
    # 1x up to the switch, then the rest of the stream at 4x.
    switch_stream_t = int(events["t"][0]) + switched[0] * 1e6
    assert clock.slept == pytest.approx(switched[0] + stream_seconds(events, switch_stream_t) / 4, abs=1e-6)


def test_packets_again_after_the_end_replays_from_the_start(recording):
    source, events = recording
    replay = Replay(source, speed=0)
    list(replay.packets())
    assert replay.state == ENDED
    again = list(replay.packets())
    assert again[0] == Discontinuity("seek", int(events["t"][0]))
    assert events_equal(events_of(again), events)


def test_stop_wakes_a_long_wait_at_once(tmp_path):
    events = np.concatenate(
        [random_events(10, SIZE, t0=0, duration_us=100), random_events(10, SIZE, t0=60_000_000, duration_us=100)]
    )
    source = open_file(str(write_with_faery(tmp_path / "long_gap.dat", events, SIZE)))
    replay = Replay(source, speed=1.0)
    reader = threading.Thread(target=lambda: list(replay.packets()))
    reader.start()
    time.sleep(0.2)
    assert replay.state == PLAYING
    replay.stop()
    reader.join(timeout=5)  # a minute of recording left: only an interrupted wait ends this soon
    assert not reader.is_alive()
    assert replay.state == STOPPED and replay.time_range == source.time_range


@pytest.mark.parametrize("speed", [-1.0, math.nan])
def test_a_negative_speed_is_a_one_line_error(recording, speed):
    source, _ = recording
    with pytest.raises(SourceError, match="speed"):
        Replay(source, speed=speed)
    with pytest.raises(SourceError, match="speed"):
        Replay(source).set_speed(speed)


def test_index_at_agrees_with_searchsorted_on_the_strided_time_field():
    from neuroclip_live.events import index_at, make_events

    rng = np.random.default_rng(5)
    t = np.sort(rng.integers(0, 50, 300))  # many equal times: the first of them is the answer
    events = make_events(t, t % 7, t % 5, t % 2)
    for query in (-1, 0, 1, 17, 25, 49, 50, 1_000):
        assert index_at(events, query) == int(np.searchsorted(t, query, side="left"))
    assert index_at(events[:0], 3) == 0


def test_a_seek_past_the_known_end_of_a_file_still_being_ranged_is_kept():
    from neuroclip_live.events import make_events
    from neuroclip_live.stream.sources.files.memory import MemorySource

    class StillRanging(MemorySource):  # a big file whose end is still being found in the background
        @property
        def time_range(self) -> tuple[int, int]:
            return (0, 1_000)

        @property
        def time_range_complete(self) -> bool:
            return False

    t = np.arange(0, 10_000, 10)
    replay = Replay(StillRanging(make_events(t, t % 7, t % 5, t % 2), SensorSize(8, 8)), speed=0)
    replay.seek(5_000)
    packets = [p for p in replay.packets() if not isinstance(p, Discontinuity)]
    assert int(concatenate(packets)["t"][0]) == 5_000  # not clamped to the 1 ms known so far
