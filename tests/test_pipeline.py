"""The threaded pipeline with a live source and fake classifiers: drops, resets, reconnects, labels."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest

from neuroclip_live.errors import SourceDisconnected, SourceError
from neuroclip_live.events import SensorSize, make_events
from neuroclip_live.runtime.config import PipelineTuning, RunConfig
from neuroclip_live.runtime.controls import Controls, ControlsModel
from neuroclip_live.runtime.pipeline import Pipeline
from neuroclip_live.states import StreamState
from neuroclip_live.stream.framing import TimestepRule
from neuroclip_live.stream.sources.base import Discontinuity, EventSource

SIZE = SensorSize(8, 6)


class ScriptedLiveSource(EventSource):
    """A live source that plays a list of packets / jumps / exceptions, then idles until closed."""

    is_live = True

    def __init__(self, items, delay_s=0.0):
        self.items = list(items)
        self.delay_s = delay_s
        self.closed = threading.Event()

    @property
    def name(self):
        return "scripted"

    @property
    def size(self):
        return SIZE

    def packets(self):
        for item in self.items:
            if isinstance(item, Exception):
                raise item
            if self.delay_s:
                time.sleep(self.delay_s)
            yield item
        while not self.closed.wait(0.02):
            yield make_events([], [], [], [])

    def close(self):
        self.closed.set()


def packet(t0, n=10, step=1):
    t = t0 + np.arange(n) * step
    return make_events(t, t % SIZE.width, (t // 3) % SIZE.height, t % 2)


@dataclass
class FakeScores:
    labels: list
    probs: np.ndarray

    def top(self, k):
        order = np.argsort(-self.probs)[:k]
        return [(self.labels[i], float(self.probs[i])) for i in order]


class FakeClassifier:
    """Records what the worker asks of it; optionally slow, to build a backlog."""

    def __init__(self, delay_s=0.0):
        self.delay_s = delay_s
        self.labels = ["a", "b"]
        self.calls = []  # ("step", n) / ("reset",) / ("labels", labels)

    def step(self, frames):
        self.calls.append(("step", frames.shape[0]))
        time.sleep(self.delay_s)
        p = np.full(len(self.labels), 1.0 / len(self.labels))
        return [FakeScores(list(self.labels), p) for _ in range(frames.shape[0])]

    def reset(self):
        self.calls.append(("reset",))

    def set_labels(self, labels):
        self.calls.append(("labels", labels))
        self.labels = list(labels)


def run_until(pipeline, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_slow_worker_drops_oldest_frames_and_never_stalls_the_reader():
    started = time.perf_counter()
    n_packets = 200
    items = [packet(i * 10) for i in range(n_packets)]  # 10 events a packet, one frame a packet
    src = ScriptedLiveSource(items)
    clf = FakeClassifier(delay_s=0.02)
    cfg = RunConfig(rule=TimestepRule("count", 10), T=4, tuning=PipelineTuning(max_pending=3, max_batch=2))
    with Pipeline(lambda: src, cfg, lambda: clf) as p:
        # The reader gets through every packet quickly although the model is slow.
        assert run_until(p, lambda: p.snapshot().stats.events_total == n_packets * 10, timeout=5)
        assert run_until(p, lambda: p.snapshot().stats.steps_total + p.dropped == n_packets)
        snap = p.snapshot()
    results = list(p.results(timeout=1))
    assert snap.stats.drops > 0
    assert len(results) + snap.stats.drops == n_packets
    assert max(n for kind, *rest in clf.calls if kind == "step" for n in rest) <= 2
    steps = [r.step for r in results]
    assert steps == list(range(len(results)))
    # Every frame waited at least for the 20 ms step that scored it, and no longer than the whole run.
    run_ms = (time.perf_counter() - started) * 1e3
    assert all(20 <= r.latency_ms <= run_ms for r in results), [r.latency_ms for r in results]
    assert results[-1].drops == snap.stats.drops


def test_lossless_mode_scores_every_frame():
    items = [packet(i * 10) for i in range(40)]
    src = ScriptedLiveSource(items)
    clf = FakeClassifier(delay_s=0.005)
    cfg = RunConfig(rule=TimestepRule("count", 10), T=4, lossless=True, tuning=PipelineTuning(max_pending=2))
    with Pipeline(lambda: src, cfg, lambda: clf) as p:
        assert run_until(p, lambda: p.snapshot().stats.steps_total == 40)
    assert p.snapshot().stats.drops == 0


def test_discontinuity_resets_classifier_between_the_right_frames():
    items = [packet(0), packet(10), Discontinuity("seek", 5000), packet(5000)]
    src = ScriptedLiveSource(items)
    clf = FakeClassifier()
    cfg = RunConfig(rule=TimestepRule("count", 10), T=4, lossless=True)
    with Pipeline(lambda: src, cfg, lambda: clf) as p:
        assert run_until(p, lambda: p.snapshot().stats.steps_total == 3)
    # The worker first warms the model up on one blank frame of the sensor's size, then resets.
    assert clf.calls[:2] == [("step", 1), ("reset",)]
    calls = clf.calls[2:]
    kinds = [c[0] for c in calls]
    # Exactly two frames were scored before the reset and one after.
    before = sum(c[1] for c in calls[: kinds.index("reset")] if c[0] == "step")
    assert before == 2
    results = list(p.results(timeout=1))
    assert [r.epoch for r in results] == [0, 0, 1]
    assert results[2].frame.index == 0  # the framer restarted its count after the jump


def test_labels_change_takes_effect_on_the_next_timestep():
    gate = threading.Event()
    items = [packet(0)]

    class GatedSource(ScriptedLiveSource):
        def packets(self):
            yield items[0]
            gate.wait(5)
            yield packet(10)
            yield from super().packets()

    src = GatedSource([])
    clf = FakeClassifier()
    cfg = RunConfig(rule=TimestepRule("count", 10), T=4)
    with Pipeline(lambda: src, cfg, lambda: clf) as p:
        assert run_until(p, lambda: p.snapshot().stats.steps_total == 1)
        assert p.snapshot().result.scores.labels == ["a", "b"]
        p.controls.update(labels=("cat", "dog", "car"))
        gate.set()
        assert run_until(p, lambda: p.snapshot().stats.steps_total == 2)
        assert p.snapshot().result.scores.labels == ["cat", "dog", "car"]


def test_disconnect_shows_state_and_reconnects():
    opened = []

    def open_source():
        opened.append(1)
        if len(opened) == 1:
            return ScriptedLiveSource([packet(0), SourceDisconnected("camera unplugged")])
        if len(opened) == 2:
            raise SourceError("no camera connected")
        return ScriptedLiveSource([packet(100), packet(110)])

    cfg = RunConfig(rule=TimestepRule("count", 10), T=4, tuning=PipelineTuning(reconnect_interval_s=0.05))
    with Pipeline(open_source, cfg, None) as p:
        assert run_until(p, lambda: p.state == StreamState.LIVE and len(opened) == 3, timeout=5)
        assert run_until(p, lambda: p.snapshot().stats.steps_total == 3, timeout=5)
        states = [state for state, _ in p.state_changes()]
    # Live, then unplugged (with the source's reason), then live again after the failed retry.
    assert states[-3:] == [StreamState.LIVE, StreamState.DISCONNECTED, StreamState.LIVE], states
    assert any("camera unplugged" in msg for state, msg in p.state_changes() if state == StreamState.DISCONNECTED)
    results = list(p.results(timeout=1))
    assert [r.epoch for r in results] == [0, 1, 1]
    assert all(r.scores is None for r in results)


def test_model_load_error_is_a_state_not_a_crash():
    from neuroclip_live.errors import ModelError

    def broken():
        raise ModelError("no weights for RN50: pass --weights PATH")

    src = ScriptedLiveSource([packet(0)])
    with Pipeline(lambda: src, RunConfig(rule=TimestepRule("count", 10)), broken) as p:
        assert run_until(p, lambda: p.state == "error")
        assert "no weights" in p.message


def test_stop_is_prompt_even_while_the_worker_is_busy():
    src = ScriptedLiveSource([packet(i * 10) for i in range(50)])
    clf = FakeClassifier(delay_s=0.2)
    p = Pipeline(lambda: src, RunConfig(rule=TimestepRule("count", 10)), lambda: clf).start()
    assert run_until(p, lambda: p.snapshot().stats.steps_total >= 1)
    t0 = time.monotonic()
    assert p.stop(timeout=2.0)
    assert time.monotonic() - t0 < 2.0
    assert p.state == "stopped"


@pytest.mark.parametrize("noise_us", [None, 1_000])
def test_packet_listeners_see_raw_packets_and_noise_filter_applies(noise_us):
    seen = []
    # Isolated events on a diagonal, far apart in time: the filter removes all of them.
    t = np.arange(20) * 10_000
    lonely = make_events(t, t // 10_000 % SIZE.width, (t // 10_000 * 2) % SIZE.height, 1)
    src = ScriptedLiveSource([lonely])
    cfg = RunConfig(rule=TimestepRule("count", 5))
    p = Pipeline(lambda: src, cfg, None, controls=ControlsModel(Controls(noise_filter_us=noise_us)))
    p.add_packet_listener(lambda item: seen.append(item))
    with p:
        assert run_until(p, lambda: p.snapshot().stats.events_total == 20)
        time.sleep(0.1)
        steps = p.snapshot().stats.steps_total
    assert sum(x.shape[0] for x in seen if hasattr(x, "shape")) == 20
    assert steps == (4 if noise_us is None else 0)


def test_refused_label_edit_keeps_the_old_labels_and_says_why():
    from neuroclip_live.model.prompts import LabelError

    class StrictClassifier(FakeClassifier):
        def set_labels(self, labels):
            if not any(label.strip(" ,.") for label in labels):
                raise LabelError("no labels given: type words separated by commas")
            return super().set_labels(labels)

    gate = threading.Event()

    class GatedSource(ScriptedLiveSource):
        def packets(self):
            yield packet(0)
            gate.wait(5)
            yield packet(10)
            yield from super().packets()

    clf = StrictClassifier()
    with Pipeline(lambda: GatedSource([]), RunConfig(rule=TimestepRule("count", 10)), lambda: clf) as p:
        assert run_until(p, lambda: p.snapshot().stats.steps_total == 1)
        p.controls.update(labels=(" , ",))
        gate.set()
        assert run_until(p, lambda: p.snapshot().stats.steps_total == 2)
        snap = p.snapshot()
        assert snap.result.scores.labels == ["a", "b"]
        assert "no labels given" in snap.notice
        assert snap.state == "live" and snap.model_state == "ready"


def test_live_state_waits_for_the_model_then_reads_live():
    release = threading.Event()

    def slow_model():
        release.wait(5)
        return FakeClassifier()

    src = ScriptedLiveSource([packet(0)])
    with Pipeline(lambda: src, RunConfig(rule=TimestepRule("count", 10)), slow_model) as p:
        assert run_until(p, lambda: p.snapshot().stats.events_total == 10)
        snap = p.snapshot()
        assert snap.state == "loading model" and snap.model_state == "loading"
        release.set()
        assert run_until(p, lambda: p.state == "live" and p.snapshot().model_state == "ready")


def test_listeners_get_reconnect_markers():
    seen = []
    opened = []

    def open_source():
        opened.append(1)
        if len(opened) == 1:
            return ScriptedLiveSource([packet(0), SourceDisconnected("gone")])
        return ScriptedLiveSource([packet(100)])

    cfg = RunConfig(rule=TimestepRule("count", 10), tuning=PipelineTuning(reconnect_interval_s=0.05))
    p = Pipeline(open_source, cfg, None)
    p.add_packet_listener(seen.append)
    with p:
        assert run_until(p, lambda: p.snapshot().stats.steps_total == 2, timeout=5)
    kinds = [
        "jump" if isinstance(x, Discontinuity) else "events"
        for x in seen
        if not (hasattr(x, "shape") and x.shape[0] == 0)
    ]
    assert kinds == ["events", "jump", "events"]


def test_file_replay_can_start_at_a_given_time(nmnist_root):
    from neuroclip_live.stream.sources.files.nmnist import NmnistFileSource

    path = sorted((nmnist_root / "Train" / "2").iterdir())[0]
    cfg = RunConfig(rule=TimestepRule("time", 10_000), speed=0)
    p = Pipeline(lambda: NmnistFileSource(path), cfg, None)
    assert p.seek(150_000)  # before the start: the replay starts there
    with p:
        results = list(p.results(timeout=10))
    assert results and results[0].frame.t_start_us >= 150_000
    events = NmnistFileSource(path).events
    assert sum(r.frame.n_events for r in results) == int((events["t"] >= 150_000).sum())


def test_live_sources_cannot_pause_or_seek_and_say_so():
    src = ScriptedLiveSource([packet(0)])
    with Pipeline(lambda: src, RunConfig(rule=TimestepRule("count", 10)), None) as p:
        assert run_until(p, lambda: p.state == "live")
        assert p.seek(0) is False
        assert "live source cannot seek" in p.snapshot().notice
        p.controls.update(paused=True, loop=True)
        assert p.snapshot().notice == "a live source cannot loop or pause or resume"
        assert p.state == "live"


def test_pause_and_seek_before_the_file_opens_are_kept(nmnist_root):
    from neuroclip_live.stream.sources.files.nmnist import NmnistFileSource

    path = sorted((nmnist_root / "Train" / "4").iterdir())[0]
    opened = threading.Event()

    def slow_open():
        opened.wait(5)  # the controls below arrive before the reader has a replay
        return NmnistFileSource(path)

    cfg = RunConfig(rule=TimestepRule("time", 10_000), speed=0)
    with Pipeline(slow_open, cfg, None) as p:
        assert p.seek(200_000)
        p.controls.update(paused=True)
        opened.set()
        assert run_until(p, lambda: p.state == "paused")
        time.sleep(0.1)
        assert p.snapshot().stats.steps_total == 0
        p.controls.update(paused=False)
        results = list(p.results(timeout=10))
    assert results and results[0].frame.t_start_us >= 200_000


def test_a_recording_ends_only_once_its_last_frame_is_scored():
    """A sink that stops at ENDED (the window's "ended", a poller) must not miss the last timesteps."""
    from neuroclip_live.stream.sources.files.memory import MemorySource

    size = SensorSize(64, 48)
    events = make_events(np.arange(0, 300_000, 100), np.zeros(3_000), np.zeros(3_000), np.ones(3_000))
    clf = FakeClassifier(delay_s=0.05)  # slower than the reader: frames wait in the queue at the end
    cfg = RunConfig(rule=TimestepRule("time", 30_000), speed=0, lossless=True)
    with Pipeline(lambda: MemorySource(events, size), cfg, lambda: clf) as p:
        assert run_until(p, lambda: p.state == StreamState.ENDED, timeout=30)
        scored = p.snapshot().stats.steps_total
    assert scored == 10  # 300 ms of events in 30 ms timesteps, every one scored before "ended"
