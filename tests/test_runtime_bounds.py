"""Bounds of a running pipeline: retained results, time jumps, the event-rate limit, silent live sources."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from conftest import PROJECT_ROOT
from neuroclip_live.cli.run import config_from_argv
from neuroclip_live.runtime.config import PipelineTuning, RunConfig
from neuroclip_live.runtime.headless import SourceStateLines, result_record
from neuroclip_live.runtime.pipeline import Pipeline
from neuroclip_live.states import StreamState
from neuroclip_live.stream.framing import TimestepRule
from neuroclip_live.stream.sources import open_source
from neuroclip_live.stream.sources.base import SourceSpec
from neuroclip_live.stream.sources.files.memory import MemorySource
from test_pipeline import FakeClassifier, ScriptedLiveSource, packet, run_until

SAMPLE = PROJECT_ROOT / "recordings" / "sample.aedat4"


def sample_events():
    src = open_source(SourceSpec("file", str(SAMPLE)))
    events = np.concatenate(list(src.packets_from(None)))
    return events, src.size


def test_nobody_draining_results_keeps_a_bounded_history_with_frames_only_for_the_newest():
    """The GUI never iterates results(): a whole replay at speed 0 must not pile up frames."""
    events, size = sample_events()
    tuning = PipelineTuning(keep_results=50, keep_result_frames=4)
    config = RunConfig(rule=TimestepRule("time", 1_000), speed=0, tuning=tuning)
    with Pipeline(lambda: MemorySource(events, size), config) as p:
        assert run_until(p, lambda: p.state == StreamState.ENDED, timeout=60)
        steps = p.snapshot().stats.steps_total
        kept = list(p.results(timeout=1))
    assert steps > 1_000  # 1 ms timesteps over the 6 s recording
    assert len(kept) == 50 and kept[-1].step == steps - 1  # the newest 50, in order
    with_images = [r.step for r in kept if r.frame.image.size]
    assert with_images == [steps - 4, steps - 3, steps - 2, steps - 1]
    # Each 1 ms timestep holds exactly the recording's events in [t_start, t_end).
    counts = [
        int(np.searchsorted(events["t"], r.frame.t_end_us) - np.searchsorted(events["t"], r.frame.t_start_us))
        for r in kept
    ]
    assert [r.frame.n_events for r in kept] == counts and sum(counts) > 0
    assert all(r.frame.t_end_us - r.frame.t_start_us == 1_000 for r in kept)


def test_a_consumer_of_a_lossless_run_gets_every_frame_even_when_slow():
    events, size = sample_events()
    tuning = PipelineTuning(keep_results=8, keep_result_frames=2)
    config = RunConfig(rule=TimestepRule("time", 30_000), speed=0, tuning=tuning)
    p = Pipeline(lambda: MemorySource(events, size), config)
    consumer = p.results(timeout=10)  # a consumer from before the start, as headless does
    with p:
        results = []
        for r in consumer:
            results.append(r)
            time.sleep(0.002)  # slower than the worker: it must wait rather than strip frames
    assert [r.step for r in results] == list(range(len(results))) and len(results) > 150
    assert all(r.frame.image.shape == (size.height, size.width) for r in results)


def test_a_time_jump_in_a_recording_resets_once_instead_of_rendering_the_gap():
    """Damaged time words: the second half of the real recording 7e13 us later."""
    events, size = sample_events()
    damaged = events.copy()
    half = damaged.shape[0] // 2
    damaged["t"][half:] += 70_000_000_000_000
    clf = FakeClassifier()
    config = RunConfig(rule=TimestepRule("time", 30_000), T=10, speed=0)
    with Pipeline(lambda: MemorySource(damaged, size), config, lambda: clf) as p:
        results = list(p.results(timeout=10))
    intact = int(np.ceil((events["t"][-1] - events["t"][0] + 1) / 30_000))
    assert len(results) <= intact + 2  # the gap gave no empty frames (it would be T of them, or 2.3e9)
    epochs = [r.epoch for r in results]
    assert epochs == sorted(epochs) and epochs[-1] - epochs[0] == 1  # one reset, as a seek
    first_after = next(r for r in results if r.epoch != epochs[0])
    assert first_after.frame.index == 0 and first_after.frame.t_start_us == int(damaged["t"][half])
    assert ("reset",) in clf.calls


def test_a_live_source_at_10x_the_max_rate_is_subsampled_and_counted():
    # 20 packets of 20,000 events over 2 ms of stream time each: 10 Mev/s against a 1 Mev/s budget.
    packets = [packet(t0, n=20_000, step=0) for t0 in range(0, 40_000, 2_000)]
    for i, pk in enumerate(packets):
        pk["t"] = i * 2_000 + np.arange(pk.shape[0]) // 10  # 2,000 us per packet
    source = ScriptedLiveSource(packets)
    config = RunConfig(rule=TimestepRule("time", 1_000), max_rate=1e6, tuning=PipelineTuning(auto_rate_limit=False))
    with Pipeline(lambda: source, config) as p:
        assert run_until(p, lambda: p.snapshot().stats.events_total == 400_000)
        assert run_until(p, lambda: p.snapshot().stats.steps_total + p.dropped >= 38)  # 1 ms timesteps
        snap = p.snapshot()
    # The budget is 1 event a microsecond of stream time, with up to 2 ms of it carried: the first
    # packet (1,999 us long) keeps 2,000 + 1,999 events, every later one (2,000 us) keeps 2,000.
    first, later = 20_000 - 3_999, 20_000 - 2_000
    assert snap.stats.events_dropped == first + 19 * later
    assert snap.stats.rate_limit == 1e6
    # A result carries the drops counted when it was scored: so many whole packets' worth, as recorded.
    at_result = snap.result.events_dropped
    assert at_result >= first and (at_result - first) % later == 0
    assert result_record(snap.result)["events_dropped"] == at_result
    assert all(f.n_events <= 1_100 for f in snap.window)  # each 1 ms timestep kept about 1,000 of 10,000


def test_max_rate_on_the_command_line():
    assert config_from_argv(["--max-rate", "50Mev/s"]).max_rate == 50e6
    assert config_from_argv([]).max_rate is None
    with pytest.raises(SystemExit):
        config_from_argv(["--max-rate", "fast"])


def test_a_live_source_sending_nothing_says_no_data_and_headless_prints_each_change():
    source = ScriptedLiveSource([packet(0)])  # one packet, then only empty ones
    err = io.StringIO()
    config = RunConfig(rule=TimestepRule("count", 5), tuning=PipelineTuning(no_data_after_s=0.3))
    p = Pipeline(lambda: source, config)
    lines = SourceStateLines(p, err, poll_s=0.05)
    with p:
        lines.start()
        assert run_until(p, lambda: p.state == StreamState.NO_DATA, timeout=5)
        assert "no events from scripted for" in p.message
        lines.stop()
    printed = err.getvalue().splitlines()
    assert printed and printed[0].startswith("neuroclip-live: no data: no events from scripted for")
    assert len(printed) == 1  # one line per change, not one per poll


def test_a_results_iterator_dropped_unstarted_stops_counting_as_a_consumer():
    from neuroclip_live.runtime.results import ResultBuffer

    buffer = ResultBuffer(keep=4, keep_frames=2)
    unused = buffer.iterate(timeout=0)
    assert buffer.consumers == 1
    del unused
    assert buffer.consumers == 0  # else a lossless worker would wait for a reader that never comes
    consumer = buffer.iterate(timeout=0)
    assert list(consumer) == [] and buffer.consumers == 0
