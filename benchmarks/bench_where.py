"""Relevance maps (issue 24): where tiny-digits' labels peak on two-object scenes, and what a map adds to a step.

    python benchmarks/bench_where.py accuracy --set validation      # the scenes the settings were chosen on
    python benchmarks/bench_where.py accuracy --set report          # held apart: run once the settings were fixed
    python benchmarks/bench_where.py accuracy --set validation --method dense
    python benchmarks/bench_where.py cost [--models tiny-digits RN50 ViT-B-32] [--backends torch openvino]

Accuracy: random two-object scenes (``tinyclip.scenes.random_scene``: 64-400 x 48-300 sensors, two of
the 16 classes, either digit style, anywhere in their half, swapped half way), 30 ms timesteps, T = 10,
the 16 default labels with the default templates; a hit is a label's peak inside its object's box
with an 8-pixel margin. Cost: a step of one 346 x 260 frame with the maps off and on, alternated so
that other load hits both alike; random weights for RN50 and ViT-B-32 (speed does not depend on them).
Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neuroclip_live.model.classifier import StreamingClassifier
from neuroclip_live.model.clip_model import create_clip, load_clip
from neuroclip_live.model.label_presets import default_labels

SETS = {"validation": 31337, "report": 424242}  # seeds of the scene sets; settings were chosen on validation only
MODELS = ("tiny-digits", "RN50", "ViT-B-32")
MARGIN_PX = 8.0


def accuracy(seed: int, scenes: int, method: str | None = None, verbose: bool = True) -> dict[str, float]:
    """The share of (object, timestep) pairs whose label peaked in the object's box, over ``scenes`` scenes."""
    from neuroclip_live.tinyclip.scenes import random_scene, score_scene

    clf = StreamingClassifier(load_clip("tiny-digits"), default_labels("tiny-digits"))
    clf.set_where(True, method)
    rng = np.random.default_rng(seed)
    hits = total = 0
    rates = []
    for i in range(scenes):
        score = score_scene(clf, random_scene(rng), MARGIN_PX)
        hits += sum(score.hits.values())
        total += len(score.hits) * score.timesteps
        rates.append(score.rate)
        if verbose:
            s = score.scene
            per = "  ".join(f"{n} {h / score.timesteps:.0%}" for n, h in score.hits.items())
            print(f"  scene {i:2d} {s.size.width}x{s.size.height} h={s.height:.0f} {'/'.join(s.styles):13s} {per}")
    return {
        "where_hit_rate": hits / total,
        "where_scenes_at_least_80": sum(r >= 0.8 for r in rates) / len(rates),
        "where_worst_scene": min(rates),
    }


def _frames(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.choice(np.array([0, 127, 255], dtype=np.uint8), size=(n, 260, 346), p=[0.025, 0.95, 0.025])


def _backbone(name: str, backend: str):
    if name == "tiny-digits":
        return load_clip(name, backend=backend)
    return create_clip(name, backend=backend)


def cost(name: str, backend: str, repeats: int = 20) -> dict[str, float]:
    """Median ms of a step with the maps off and on, alternated, after a warm-up of each."""
    clf = StreamingClassifier(_backbone(name, backend), ["cat", "dog", "car", "person", "cup", "tree", "hand"])
    frames = _frames(repeats + 10)
    times: dict[bool, list[float]] = {False: [], True: []}
    for on in (False, True):  # warm-up: the first step of each kind pays one-off costs
        clf.set_where(on)
        clf.step(frames[:10])
    for i in range(repeats):
        for on in (False, True):
            clf.set_where(on)
            t0 = time.perf_counter()
            clf.step(frames[10 + i][None])
            times[on].append((time.perf_counter() - t0) * 1e3)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    tag = f"{name.lower().replace('-', '')}_{backend}"
    return {f"where_{tag}_off_ms": off, f"where_{tag}_on_ms": on, f"where_{tag}_added_pct": (on / off - 1) * 100}


def collect(quick: bool = False) -> dict[str, float]:
    """For ``benchmarks/run.py``: the cost on torch for each model (quick: tiny-digits only)."""
    out: dict[str, float] = {}
    for name in ("tiny-digits",) if quick else MODELS:
        out.update(cost(name, "torch", repeats=8 if quick else 20))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("--set", choices=SETS, default="validation")
    a.add_argument("--scenes", type=int, default=24)
    a.add_argument("--method", choices=("dense", "crops"), help="default: the model's own (crops for tiny-digits)")
    c = sub.add_parser("cost")
    c.add_argument("--models", nargs="+", default=list(MODELS))
    c.add_argument("--backends", nargs="+", default=["torch", "openvino"])
    c.add_argument("--repeats", type=int, default=20)
    args = p.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.1f}")
    if args.what == "accuracy":
        figures = accuracy(SETS[args.set], args.scenes, args.method)
    else:
        figures = {}
        for name in args.models:
            for backend in args.backends:
                figures.update(cost(name, backend, args.repeats))
    for key, value in figures.items():
        print(f"  {key:<44} {value:10.3f}")
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
