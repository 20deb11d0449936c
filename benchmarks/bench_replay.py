"""End-to-end replay through the real pipeline threads: frames only, then with a model.

Frames only, at speed 0: events/s and timesteps/s from open to the last
timestep. With the bundled tiny-digits model: at speed 0 (the reader waits
for the model: throughput) and at speed 1 (paced like a camera: latency from
a timestep's last event to its scores, and how many frames the drop policy
shed). With a random-weight RN50 at speed 1, the paper's backbone on this CPU, on torch and on
OpenVINO (``--backend auto`` on a CPU): the share of the recording's timesteps it scores.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np

from neuroclip_live.runtime.config import RunConfig
from neuroclip_live.runtime.pipeline import Pipeline
from neuroclip_live.stream.framing import TimestepRule
from neuroclip_live.stream.sources import open_source
from neuroclip_live.stream.sources.base import SourceSpec

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = ROOT.parent / "shared" / "data" / "recordings"
SAMPLE = ROOT / "recordings" / "sample.aedat4"
DIGITS = [str(d) for d in range(10)] + ["circle", "square", "star", "triangle"]


def _run(path: Path, config: RunConfig, loader=None, max_seconds: float | None = None) -> dict[str, float]:
    spec = SourceSpec("file", str(path))
    pipeline = Pipeline(lambda: open_source(spec), config, loader)
    latencies: list[float] = []
    steps = 0
    pipeline.start()
    if loader is not None:
        pipeline.wait_model()
    t0 = time.perf_counter()
    for result in pipeline.results():
        steps += 1
        latencies.append(result.latency_ms)
        if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
            break
    seconds = time.perf_counter() - t0
    snap = pipeline.snapshot()
    pipeline.stop(timeout=60)  # let a slow CPU model finish its step before the process moves on
    lat = np.asarray(latencies) if latencies else np.zeros(1)
    return {
        "steps_s": steps / seconds,
        "mev_s": snap.stats.events_total / seconds / 1e6,
        "latency_p50_ms": float(np.percentile(lat, 50)),
        "latency_p95_ms": float(np.percentile(lat, 95)),
        "drops": float(snap.stats.drops),
        "steps": float(steps),
    }


def _tiny_loader():
    from neuroclip_live.model.setup import build_classifier

    return build_classifier(model="tiny-digits", labels=DIGITS, T=10)


def _rn50_loader(backend: str = "torch"):
    def load():
        from neuroclip_live.model.classifier import StreamingClassifier
        from neuroclip_live.model.clip_model import create_clip

        return StreamingClassifier(create_clip("RN50", backend=backend), DIGITS, T=10)

    return load


def _rn50_paced(quick: bool) -> dict[str, float]:
    """RN50 at speed 1 on each backend, one after the other: timesteps scored, of those the recording made."""
    from neuroclip_live.model.settings import openvino_importable

    out: dict[str, float] = {}
    for backend in ("torch", "openvino") if openvino_importable() else ("torch",):
        r = _run(
            SAMPLE,
            RunConfig(rule=TimestepRule("time", 30_000), speed=1),
            _rn50_loader(backend),
            max_seconds=2 if quick else 6,
        )
        suffix = "" if backend == "torch" else f"_{backend}"
        out[f"replay_rn50_speed1_steps_s{suffix}"] = r["steps_s"]
        out[f"replay_rn50_speed1_latency_p50_ms{suffix}"] = r["latency_p50_ms"]
        out[f"replay_rn50_speed1_latency_p95_ms{suffix}"] = r["latency_p95_ms"]
        out[f"replay_rn50_speed1_drops{suffix}"] = r["drops"]
        out[f"replay_rn50_speed1_scored_pct{suffix}"] = 100 * r["steps"] / max(r["steps"] + r["drops"], 1)
    return out


def collect(quick: bool = False) -> dict[str, float]:
    out: dict[str, float] = {}
    rule = TimestepRule("time", 30_000)
    files = [("sample", SAMPLE)] + [(p.suffix.lstrip("."), p) for p in sorted(RECORDINGS.glob("*")) if p.is_file()]
    for tag, path in files:
        if not path.is_file():
            continue
        r = _run(path, RunConfig(rule=rule, speed=0))
        out[f"replay_frames_{tag}_mev_s"] = r["mev_s"]
        out[f"replay_frames_{tag}_steps_s"] = r["steps_s"]
    if SAMPLE.is_file():
        r = _run(SAMPLE, RunConfig(rule=rule, speed=0), _tiny_loader)
        out["replay_tiny_speed0_steps_s"] = r["steps_s"]
        r = _run(SAMPLE, RunConfig(rule=rule, speed=1), _tiny_loader, max_seconds=2 if quick else 6)
        out["replay_tiny_speed1_latency_p50_ms"] = r["latency_p50_ms"]
        out["replay_tiny_speed1_latency_p95_ms"] = r["latency_p95_ms"]
        out["replay_tiny_speed1_drops"] = r["drops"]
        out["replay_tiny_speed1_steps"] = r["steps"]
        out.update(_rn50_paced(quick))
    out["replay_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out
