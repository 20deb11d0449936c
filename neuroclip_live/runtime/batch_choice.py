"""How many waiting frames the worker scores at once when it drops frames anyway (a paced replay, a camera).

A batch pays where the encoder runs a batch faster per frame: a GPU, an AMX Xeon
(RN50 on OpenVINO bf16: 10.7 ms a frame at batch 8 against 15-20 ms at batch 1).
Elsewhere it costs latency for nothing: on a 2-core EPYC with AVX512-BF16 the
same encoder takes 41 ms a frame at batch 8 against 33 ms at batch 1, so a paced
RN50 replay that scored its backlog of 4 at once waited 301-342 ms at p50 for
its scores, and 151-183 ms one frame at a time (benchmarks/bench_replay.py).
No table of CPUs says which case a machine is, so the worker measures: it keeps
the cost per frame of single frames and of batches, and takes one frame at a
time unless batches are clearly cheaper per frame. While it has no figure for
one of the two it tries it, and it tries single frames again now and then
because the machine's load changes. A lossless run (speed 0, evaluation) always
takes the whole batch: there throughput is all that counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHEAPER = 0.8  # a batch must save a fifth of the time per frame to be worth its wait (a timer overshoots too)
SMOOTHING = 0.2  # weight of the newest measurement in the running cost (about the last 5 batches)
RETRY_EVERY = 32  # while batches win, every 32nd choice takes one frame to see whether they still do


@dataclass
class BatchChoice:
    """Cost per frame of single frames and of batches; ``size`` picks, ``record`` learns. One thread (the worker)."""

    max_batch: int
    single_ms: float | None = None
    batch_ms: float | None = None
    _since_single: int = field(default=0, repr=False)

    def size(self, waiting: int, lossless: bool) -> int:
        """Frames to take of the ``waiting`` ones (``lossless``: the reader waits for the worker)."""
        if lossless or waiting <= 1 or self.batch_ms is None:
            return self.max_batch  # nothing to choose, or first learn what a batch costs
        if not self.batches_pay:  # single frames cost as much a frame, or are not measured yet
            return 1
        self._since_single += 1
        if self._since_single >= RETRY_EVERY:
            self._since_single = 0
            return 1
        return self.max_batch

    def record(self, frames: int, ms_per_frame: float) -> None:
        """Learn from one scored batch of ``frames`` that took ``ms_per_frame`` a frame."""
        if frames <= 0 or ms_per_frame <= 0:
            return
        if frames == 1:
            self.single_ms = _smoothed(self.single_ms, ms_per_frame)
        else:
            self.batch_ms = _smoothed(self.batch_ms, ms_per_frame)

    @property
    def batches_pay(self) -> bool:
        """Whether batches are clearly cheaper per frame, as measured so far."""
        return self.single_ms is not None and self.batch_ms is not None and self.batch_ms < CHEAPER * self.single_ms


def _smoothed(old: float | None, new: float) -> float:
    return new if old is None else (1 - SMOOTHING) * old + SMOOTHING * new
