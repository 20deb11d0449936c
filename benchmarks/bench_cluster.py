"""Dataset-scale extraction: RN50 encodes per second on Ray with 1 and 2 local workers, and the cost of one encode.

Random RN50 weights (speed does not depend on them), real N-MNIST samples
(../shared/data/nmnist-small) framed T = 10 at 34 x 34 and resized to 224 px.
Each Ray run starts from an empty cache, so every view is framed and encoded;
the steady rate counts the shards finished after the first one (actor start-up
and model load excluded), the wall figure includes them. Workers hold one
torch thread each; the one-process figure (this process, both cores) is the
baseline. Scaling efficiency = rate(2 workers) / (2 x rate(1 worker)).

The per-encode figures (batch 16, one and two threads) and the FLOPs of one
RN50 image encode (torch's FLOP counter) feed the README's cost estimate.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from neuroclip_live.errors import ClusterError
from neuroclip_live.model.clip_model import create_clip
from neuroclip_live.offline.cluster import RayRunner, connect
from neuroclip_live.offline.datasets import load_split, take_per_class
from neuroclip_live.offline.feature_cache import CachedExtractor, serialized_weights

NMNIST = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "nmnist-small"
T = 10
MODEL = "RN50"


def _encode_ms(backbone, threads: int, batch: int = 16, repeats: int = 3) -> float:
    frames = np.random.default_rng(0).choice(
        np.array([0, 127, 255], np.uint8), size=(batch, 34, 34), p=[0.05, 0.9, 0.05]
    )
    torch.set_num_threads(threads)
    backbone.encode_frames(frames)  # warm-up
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        backbone.encode_frames(frames)
        runs.append(time.perf_counter() - t0)
    return float(np.median(runs)) * 1e3 / batch


def _gflops_per_encode(backbone) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x = backbone.preprocess(np.full((1, 34, 34), 127, np.uint8))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        backbone.model.encode_image(x)
    return counter.get_total_flops() / 1e9


def _run(extractor: CachedExtractor, samples: list) -> tuple[float, float]:
    """(steady encodes/s, wall encodes/s) of one extraction into an empty cache."""
    marks: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    extractor.extract(samples, on_shard=lambda r: marks.append((time.perf_counter(), r.rows)))
    wall = time.perf_counter() - t0
    views = sum(n for _, n in marks)
    steady = sum(n for _, n in marks[1:]) * T / max(1e-9, marks[-1][0] - marks[0][0]) if len(marks) > 1 else 0.0
    return steady, views * T / wall


def collect(quick: bool = False) -> dict[str, float]:
    if not NMNIST.is_dir():
        print(f"bench_cluster: N-MNIST samples not found at {NMNIST}", file=sys.stderr)
        return {}
    torch.manual_seed(0)
    backbone = create_clip(MODEL, "cpu")
    data = load_split(NMNIST, "Train")
    samples, _ = take_per_class(data.samples, len(data.folders), 1 if quick else 2, np.random.default_rng(0))
    out = {
        "rn50_gflops_per_encode": _gflops_per_encode(backbone),
        "rn50_b16_encode_ms_1_thread": _encode_ms(backbone, 1),
        "rn50_b16_encode_ms_2_threads": _encode_ms(backbone, 2),
    }
    weights = serialized_weights(backbone)
    with tempfile.TemporaryDirectory() as tmp:
        torch.set_num_threads(2)
        local = CachedExtractor(
            backbone, T, "count", Path(tmp, "one"), batch_size=20, shard_size=2, progress=False, weights=weights
        )
        out["one_process_2_threads_encodes_s"], _ = _run(local, samples)
        try:
            connect(num_cpus=2, object_store_mb=1024)  # RN50's 400 MB of weights go through the object store
        except ClusterError as err:
            print(f"bench_cluster: {err}", file=sys.stderr)
            return out
        for workers in (1, 2):
            runner = RayRunner(backbone, workers=workers, batch_size=20, weights=weights)
            ex = CachedExtractor(
                backbone,
                T,
                "count",
                Path(tmp, f"ray{workers}"),
                runner=runner,
                batch_size=20,
                shard_size=2,
                progress=False,
                weights=weights,
            )
            steady, wall = _run(ex, samples)
            out[f"ray_{workers}_workers_encodes_s"], out[f"ray_{workers}_workers_wall_encodes_s"] = steady, wall
    out["ray_scaling_efficiency_pct"] = 100 * out["ray_2_workers_encodes_s"] / (2 * out["ray_1_workers_encodes_s"])
    out["encodes_per_run"] = float(len(samples) * T)
    return out


if __name__ == "__main__":
    for key, value in collect(quick="--quick" in sys.argv).items():
        print(f"{key:<40} {value:10.2f}")
