"""How many waiting frames a run that drops frames scores at once (runtime.batch_choice), and the worker using it."""

from __future__ import annotations

import time

from neuroclip_live.runtime.batch_choice import RETRY_EVERY, BatchChoice
from neuroclip_live.runtime.config import PipelineTuning, RunConfig
from neuroclip_live.runtime.pipeline import Pipeline
from neuroclip_live.stream.framing import TimestepRule
from test_pipeline import FakeClassifier, ScriptedLiveSource, packet, run_until


def test_a_lossless_run_or_a_single_waiting_frame_takes_the_whole_batch():
    choice = BatchChoice(max_batch=8)
    assert choice.size(waiting=5, lossless=True) == 8
    assert choice.size(waiting=1, lossless=False) == 8  # one frame waits: nothing to choose


def test_it_measures_both_then_batches_only_where_a_batch_is_cheaper_per_frame():
    choice = BatchChoice(max_batch=8)
    assert choice.size(4, lossless=False) == 8  # first, what a batch costs
    choice.record(4, 41.0)
    assert choice.size(4, lossless=False) == 1  # then a single frame
    choice.record(1, 33.0)
    assert not choice.batches_pay
    assert [choice.size(4, lossless=False) for _ in range(50)] == [1] * 50  # a CPU where batches do not pay
    gpu = BatchChoice(max_batch=8)
    gpu.record(8, 2.0)
    gpu.record(1, 9.0)
    assert gpu.batches_pay
    sizes = [gpu.size(8, lossless=False) for _ in range(2 * RETRY_EVERY)]
    assert sizes.count(1) == 2 and sizes.count(8) == 2 * RETRY_EVERY - 2  # a single frame now and then, to re-check


def test_the_cost_follows_the_machine():
    choice = BatchChoice(max_batch=8)
    choice.record(1, 30.0)
    choice.record(8, 20.0)
    assert choice.batches_pay
    for _ in range(20):  # the machine got busy: batches lost their edge
        choice.record(8, 35.0)
    assert not choice.batches_pay


class CostlyClassifier(FakeClassifier):
    """A step costs ``fixed_s`` plus ``per_frame_s`` a frame: an encoder that batches well or not at all."""

    def __init__(self, fixed_s: float, per_frame_s: float) -> None:
        super().__init__()
        self.fixed_s, self.per_frame_s = fixed_s, per_frame_s

    def step(self, frames):
        self.delay_s = self.fixed_s + self.per_frame_s * frames.shape[0]
        return super().step(frames)


def batch_sizes(clf: CostlyClassifier, n_packets: int = 100) -> list[int]:
    """The batches the worker took from a live source much faster than the model (it drops frames)."""
    src = ScriptedLiveSource([packet(i * 10) for i in range(n_packets)], delay_s=0.008)
    cfg = RunConfig(rule=TimestepRule("count", 10), T=4, tuning=PipelineTuning(max_pending=4, max_batch=4))
    with Pipeline(lambda: src, cfg, lambda: clf) as p:
        assert run_until(p, lambda: p.snapshot().stats.steps_total + p.dropped >= n_packets, timeout=20)
    return [rest[0] for kind, *rest in clf.calls if kind == "step"][1:]  # after the warm-up step


def test_a_dropping_run_scores_one_frame_at_a_time_where_batches_do_not_pay():
    sizes = batch_sizes(CostlyClassifier(fixed_s=0.0, per_frame_s=0.03))
    assert max(sizes) > 1  # it tried a batch
    assert sizes[-10:] == [1] * 10  # then kept to single frames: the same cost a frame, less waiting


def test_a_dropping_run_batches_where_batches_are_cheaper_per_frame():
    start = time.perf_counter()
    sizes = batch_sizes(CostlyClassifier(fixed_s=0.03, per_frame_s=0.001))
    assert sum(n > 1 for n in sizes[-10:]) >= 8, (sizes, time.perf_counter() - start)
