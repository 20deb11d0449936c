"""End-to-end, in process, no model: in-memory events through the pipeline's reader, framer and hand-off.

Two headline figures at 346x260, replayed at speed 0 (the reader waits for the worker, nothing is dropped):

- ``e2e_1ms_steps_s``: timesteps per second at 1 ms steps with a sparse stream (250 events a step),
  where the per-step overhead (buffers, cutting, thread hand-off, results) is what counts;
- ``e2e_30ms_mev_s``: events per second at 30 ms steps with a dense stream, where the per-event
  cost (cutting, painting) is what counts.

``e2e_1ms_1280x720_steps_s`` gives the per-step figure at 1280x720, where a frame is 10x the bytes.

Beside them the physical reference: a memcpy of the same bytes (``memcpy_e2e_*``), measured in the
same run since the machine is shared.
"""

from __future__ import annotations

import time

import numpy as np

from neuroclip_live.events import SensorSize, make_events
from neuroclip_live.runtime.config import RunConfig
from neuroclip_live.runtime.pipeline import Pipeline
from neuroclip_live.stream.framing import TimestepRule
from neuroclip_live.stream.sources.files.memory import MemorySource

SIZE = SensorSize(346, 260)


def synthetic_events(n: int, duration_us: int, size: SensorSize = SIZE, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, duration_us, n))
    return make_events(t, rng.integers(0, size.width, n), rng.integers(0, size.height, n), rng.integers(0, 2, n))


def run_pipeline(events: np.ndarray, step_us: int, size: SensorSize = SIZE) -> tuple[float, int]:
    """Seconds from start to the last result, and the number of results."""
    config = RunConfig(rule=TimestepRule("time", step_us), speed=0)
    pipeline = Pipeline(lambda: MemorySource(events, size), config)
    t0 = time.perf_counter()
    pipeline.start()
    steps = sum(1 for _ in pipeline.results())
    seconds = time.perf_counter() - t0
    pipeline.stop()
    return seconds, steps


def memcpy_s(events: np.ndarray, repeats: int = 5) -> float:
    # As bytes: numpy copies a structured array field by field, which is not what a memcpy costs.
    src = events.view(np.uint8)
    out = np.empty_like(src)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(out, src)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _best(events: np.ndarray, step_us: int, repeats: int, size: SensorSize = SIZE) -> tuple[float, int]:
    runs = [run_pipeline(events, step_us, size) for _ in range(repeats)]
    return min(runs)


def collect(quick: bool = False) -> dict[str, float]:
    repeats = 2 if quick else 3
    out: dict[str, float] = {}
    run_pipeline(synthetic_events(10_000, 100_000), 1_000)  # warm-up: imports, kernels, thread start
    sparse = synthetic_events(1_000_000 if quick else 2_500_000, 4_000_000 if quick else 10_000_000)
    seconds, steps = _best(sparse, 1_000, repeats)
    out["e2e_1ms_steps_s"] = steps / seconds
    out["e2e_1ms_mev_s"] = sparse.shape[0] / seconds / 1e6
    out["memcpy_e2e_1ms_mev_s"] = sparse.shape[0] / memcpy_s(sparse) / 1e6
    # The same per-step overhead on an HD sensor, where a frame is 10x the bytes.
    hd = SensorSize(1280, 720)
    seconds, steps = _best(synthetic_events(sparse.shape[0], int(sparse["t"][-1]) + 1, hd), 1_000, repeats, hd)
    out["e2e_1ms_1280x720_steps_s"] = steps / seconds
    dense = synthetic_events(4_000_000 if quick else 8_000_000, 1_000_000)
    seconds, steps = _best(dense, 30_000, repeats)
    out["e2e_30ms_mev_s"] = dense.shape[0] / seconds / 1e6
    out["e2e_30ms_steps_s"] = steps / seconds
    out["memcpy_e2e_30ms_mev_s"] = dense.shape[0] / memcpy_s(dense) / 1e6
    return out
