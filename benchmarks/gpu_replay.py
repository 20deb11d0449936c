"""The GPU benchmark's end-to-end sections: the sample recording through the real ``Pipeline``, and one Ray actor.

Replays: ``recordings/sample.aedat4`` (128 x 128, 6 s, 30 ms timesteps: 200 of them, 33 a second) with
the RN50 role's model, zero-shot (no adapter, as the app runs without one), 10 labels, T = 10, the
pipeline's default tuning (up to 4 frames pending, batches of up to 8). At speed 0 the recording loops
and the reader waits for the model: timesteps/s is the model's throughput through both threads. At
speed 1 it plays at its own pace: latency from a timestep's last event to its scores.

Ray: one ``offline.cluster.ShardEncoder`` actor (what ``--ray`` runs, one GPU when there is one) fed
framed views of the sample recording, and the whole Ray Data extraction with that one actor.
"""

from __future__ import annotations

import os
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.gpu_model import LABELS, Bench, T, make_classifier
from benchmarks.gpu_report import Budget, SectionSkipped
from neuroclip_live.model.prompts import TextFeatureCache
from neuroclip_live.runtime.config import RunConfig
from neuroclip_live.runtime.pipeline import Pipeline
from neuroclip_live.states import StreamState
from neuroclip_live.stream.framing import TimestepRule
from neuroclip_live.stream.sources import open_source
from neuroclip_live.stream.sources.base import SourceSpec

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "recordings" / "sample.aedat4"
STEP_US = 30_000


def replay(bench: Bench, speed: float, budget: Budget) -> dict[str, Any]:
    """The sample through a real ``Pipeline``: rates and latencies.

    Speed 0 loops for 12 s, speed 1 plays the recording's 6 s once (1 s each with ``--quick``).
    """
    seconds = 1.0 if bench.quick else 12.0 if speed == 0 else 7.0
    if not SAMPLE.is_file():
        raise FileNotFoundError(f"the sample recording is missing: {SAMPLE}")
    cache = TextFeatureCache(bench.backbone("rn50"))
    config = RunConfig(rule=TimestepRule("time", STEP_US), speed=speed, loop=speed == 0, labels=tuple(LABELS))
    load = partial(make_classifier, bench, "rn50", adapter=False, text_cache=cache)  # on the worker thread
    pipeline = Pipeline(lambda: open_source(SourceSpec("file", str(SAMPLE))), config, load)
    results = pipeline.results(timeout=30)  # before the start: no frame is thinned out before the loop begins
    stamps, latencies, batches = [], [], []
    pipeline.start()
    try:
        if not pipeline.wait_model(timeout=max(5.0, budget.left())):
            raise RuntimeError(f"the model did not load: {pipeline.message}")
        end = time.perf_counter() + seconds
        for result in results:
            stamps.append(time.perf_counter())
            latencies.append(result.latency_ms)
            batches.append(result.scores.timings.batch)
            if stamps[-1] > end or not budget.allows():
                break
        snap = pipeline.snapshot()
    finally:
        pipeline.stop(timeout=30)
    if snap.state == StreamState.ERROR or len(stamps) < 2:
        raise RuntimeError(f"the replay gave {len(stamps)} timesteps: {snap.state.name} {snap.message}".strip())
    lat = np.asarray(latencies)
    return {
        "timesteps_s": (len(stamps) - 1) / (stamps[-1] - stamps[0]),
        "timesteps": len(stamps),
        "seconds": stamps[-1] - stamps[0],
        "latency_p50_ms": float(np.percentile(lat, 50)),
        "latency_p95_ms": float(np.percentile(lat, 95)),
        "latency_max_ms": float(lat.max()),
        "mean_batch": float(np.mean(batches)),
        "drops": int(snap.stats.drops),
        "scored_pct": 100 * len(stamps) / max(1, len(stamps) + snap.stats.drops),
    }


def _replay_header(bench: Bench) -> dict[str, Any]:
    bb = bench.backbone("rn50")
    return {"model": bb.name, "engine": bb.engine, "adapter": False, "timestep_ms": STEP_US / 1000, "T": T}


def replay_speed0_section(bench: Bench, figures: dict, budget: Budget) -> str:
    figures.update(_replay_header(bench))
    figures.update(replay(bench, 0, budget))
    return "speed 0, looping: the reader waits for the model (lossless), so timesteps/s is the throughput"


def replay_speed1_section(bench: Bench, figures: dict, budget: Budget) -> str:
    figures.update(_replay_header(bench))
    figures.update(replay(bench, 1, budget))
    return "speed 1: the recording's own pace (33 timesteps/s); latency from a timestep's last event to its scores"


# --------------------------------------------------------------------------- Ray


def _sample_views(views: int) -> dict[str, list]:
    """One shard of ``views`` framed views of the sample, in the row format ``frame_shard`` gives the actors."""
    import json

    from neuroclip_live.offline.extraction import ViewJob, frame_views

    frames, _, failed = frame_views([ViewJob(str(SAMPLE), 0, None, "sample")], T, "count")
    if failed:
        raise RuntimeError(f"cannot frame the sample: {failed}")
    one = frames[0]
    return {
        "shard": ["bench"],
        "frames": [one.tobytes() * views],
        "shapes": [json.dumps([list(one.shape)] * views)],
        "ids": [json.dumps([f"view-{i}" for i in range(views)])],
        "failed": ["{}"],
    }


def _actor_rate(ray: Any, actor: Any, views: int, budget: Budget, rounds: int) -> dict[str, float]:
    """Encodes/s of one actor over ``rounds`` calls after a warm-up call; calls queued so it never waits."""
    batch = ray.put(_sample_views(views))
    ray.get(actor.__call__.remote(batch))  # warm-up: CUDA context, cuDNN's kernels, the cache folder
    t0 = time.perf_counter()
    done = 0
    while done < rounds and (done == 0 or budget.allows((time.perf_counter() - t0) / done * 2)):
        ray.get([actor.__call__.remote(batch) for _ in range(2)])  # two in flight: no idle round trip
        done += 2
    seconds = time.perf_counter() - t0
    return {"encodes_s": done * views * T / seconds, "encodes": done * views * T, "seconds": seconds}


def ray_section(bench: Bench, figures: dict, budget: Budget) -> str:
    from neuroclip_live.errors import ClusterError
    from neuroclip_live.offline.cluster import import_ray

    try:
        ray = import_ray()
    except ClusterError as err:
        raise SectionSkipped(f"Ray is not installed ({err})") from None
    try:
        figures.update(_ray_figures(ray, bench, budget))
    finally:
        ray.shutdown()
    return (
        "actor: one offline.cluster.ShardEncoder actor (the --ray path), framed views of the sample in, cache shards "
        "out; pipeline: the whole Ray Data extraction (framing tasks and that one actor) over augmented views "
        "(not with --quick)"
    )


def _ray_figures(ray: Any, bench: Bench, budget: Budget) -> dict[str, Any]:
    import open_clip

    from neuroclip_live.offline.cluster import ShardEncoder, connect
    from neuroclip_live.offline.feature_cache import EncodingKey, serialized_weights

    bb = bench.backbone("rn50")
    # Ray's workers start from this environment: they import this checkout even where it is not installed.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    info = connect(num_cpus=os.cpu_count() or 1, object_store_mb=256 if bench.quick else 1024)
    gpus = 1 if bb.device.type == "cuda" and info.gpus >= 1 else 0
    weights = serialized_weights(bb)
    key = EncodingKey.of(bb, T, "count", weights)
    batch_size = 256 if gpus else 32
    out: dict[str, Any] = {
        "model": bb.name,
        "engine": bb.engine,
        "gpus": gpus,
        "cluster_cpus": info.cpus,
        "cluster_gpus": info.gpus,
        "batch_size": batch_size,
    }
    with tempfile.TemporaryDirectory() as cache_root:
        actor = ray.remote(num_gpus=gpus, num_cpus=1)(ShardEncoder).remote(
            key,
            cache_root,
            [ray.put(weights)],
            open_clip.get_model_config(bb.name),
            "cuda" if gpus else "cpu",
            max(1, bb.threads),
            batch_size,
        )
        # Views a call: a GPU's batch of 256 frames is 25 views; a CPU takes about 0.1-0.5 s a frame.
        views = (16 if bench.quick else 64) if gpus else (2 if bench.quick else 4)
        out["actor"] = _actor_rate(ray, actor, views, budget.part(2), 2 if bench.quick else 40)
        out["actor"]["views_per_call"] = views
        ray.kill(actor)
        # --quick leaves the Ray Data run out: its start costs half a minute on 2 cores (test_cluster runs that path).
        out["pipeline"] = None
        if not bench.quick and budget.allows(10):
            out["pipeline"] = _pipeline_rate(bb, weights, cache_root, (16, 32) if gpus else (2, 4))
    return out


def _pipeline_rate(bb: Any, weights: bytes, cache_root: str, size: tuple[int, int]) -> dict[str, Any]:
    """The whole extraction on Ray Data with one actor, start-up included: encodes/s over the wall time.

    A sample's views share a shard, so the sample is copied (one file a shard) to give several shards:
    ``size`` is (copies, views of each). Ray Data hands finished shards back in bursts, so no rate is
    taken between them: ``first_shard_s`` shows what the start-up (pool, model load) cost.
    """
    import shutil

    from neuroclip_live.offline.cluster import RayRunner
    from neuroclip_live.offline.datasets import Sample
    from neuroclip_live.offline.feature_cache import CachedExtractor

    copies, views = size
    folder = Path(cache_root, "samples")
    folder.mkdir()
    samples = [Sample(Path(shutil.copy(SAMPLE, folder / f"sample-{i}.aedat4")), 0) for i in range(copies)]
    runner = RayRunner(bb, workers=1, batch_size=256 if bb.device.type == "cuda" else 32, weights=weights)
    ex = CachedExtractor(
        bb, T, "count", Path(cache_root, "pipeline"), runner=runner, shard_size=views, progress=False, weights=weights
    )
    marks: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    ex.extract(samples, views=views, augment=True, on_shard=lambda r: marks.append((time.perf_counter(), r.rows)))
    wall = time.perf_counter() - t0
    rows = sum(n for _, n in marks)
    return {
        "wall_encodes_s": rows * T / wall,
        "encodes": rows * T,
        "seconds": wall,
        "first_shard_s": marks[0][0] - t0 if marks else None,
        "shards": len(marks),
        "views_per_shard": views,
    }
