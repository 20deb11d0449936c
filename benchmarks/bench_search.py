"""``search`` on the sample recording: the first search (every timestep framed and encoded) against a second
one with other labels (kept features: the text encoder and a matrix product, no image encoded).

The sample recording (6 s, 200 timesteps of 30 ms), T = 10, with tiny-digits (its bundled weights) and
RN50 (random weights: the speed does not depend on them). Each search is what ``search_recording``
does after the model is loaded: the labels' text, then the pass (or the kept features) and the ranges.
A round starts from an empty store; the figures are medians over rounds. ``--cli`` adds whole
``neuroclip-live search`` processes with tiny-digits (start-up and model load included).

    python -m benchmarks.bench_search [--quick] [--cli]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neuroclip_live.model.classifier import StreamingClassifier
from neuroclip_live.model.clip_model import create_clip
from neuroclip_live.model.setup import build_classifier
from neuroclip_live.offline.kept_features import KeptFeatureStore
from neuroclip_live.offline.search import search_recording
from neuroclip_live.stream.framing import TimestepRule

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "recordings" / "sample.aedat4"
FIRST = ["0", "7", "circle", "star", "3", "square", "triangle", "cross", "line"]
SECOND = ["a digit", "a ring", "a polygon", "a cat"]
RULE = TimestepRule.parse("30ms")
T = 10


def _counting(backbone) -> list[int]:
    """Frames sent through ``backbone``'s image encoder from now on."""
    frames: list[int] = []
    encode = backbone.encode_frames

    def counted(x):
        frames.append(len(x))
        return encode(x)

    backbone.encode_frames = counted
    return frames


def _round(clf, store: KeptFeatureStore, frames: list[int]) -> dict[str, float]:
    out: dict[str, float] = {}
    for tag, labels in (("first", FIRST), ("second", SECOND)):
        frames.clear()
        t0 = time.perf_counter()
        clf.set_labels(labels)
        report = search_recording(SAMPLE, clf, RULE, T, 0.5, store)
        out[f"{tag}_s"] = time.perf_counter() - t0
        out[f"{tag}_frames_encoded"] = float(sum(frames))
        out[f"{tag}_reused"] = float(report.outcome.reused)
    return out


def model_figures(name: str, rounds: int, backend: str = "auto") -> dict[str, float]:
    t0 = time.perf_counter()
    if name == "tiny-digits":
        clf = build_classifier(model=name, labels=FIRST, T=T, backend=backend)
    else:
        torch.manual_seed(0)  # the same random weights each time: OpenVINO converts them once (cached on disk)
        clf = StreamingClassifier(create_clip(name, backend=backend), FIRST, T=T)
    load_s = time.perf_counter() - t0
    print(f"  {name}: {clf.backbone.describe()}", flush=True)
    frames = _counting(clf.backbone)
    runs = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(_round(clf, KeptFeatureStore(tmp), frames))
    tag = f"{name.lower().replace('-', '_')}_{clf.backbone.image_encoder.backend}"
    out = {f"{tag}_{k}": float(np.median([r[k] for r in runs])) for k in runs[0]}
    out[f"{tag}_model_load_s"] = load_s
    out[f"{tag}_kept_mb"] = 200 * clf.backbone.embed_dim * 4 / 1e6
    return out


def cli_figures(rounds: int) -> dict[str, float]:
    """Whole processes: ``neuroclip-live search`` twice on an empty cache, medians over rounds."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    runs: dict[str, list[float]] = {"cli_first_s": [], "cli_second_s": []}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            for key, labels in (("cli_first_s", FIRST), ("cli_second_s", SECOND)):
                cmd = [
                    sys.executable,
                    "-m",
                    "ui.launch",
                    "search",
                    "--file",
                    str(SAMPLE),
                    "--model",
                    "tiny-digits",
                    "--labels",
                    ", ".join(labels),
                    "--cache",
                    tmp,
                ]
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=ROOT)
                runs[key].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in runs.items()}


def collect(quick: bool = False, cli: bool = False, backends: tuple[str, ...] = ("auto",)) -> dict[str, float]:
    out: dict[str, float] = {}
    for backend in backends:
        out.update(model_figures("tiny-digits", 2 if quick else 5, backend))
        out.update(model_figures("RN50", 1 if quick else 2, backend))
    if cli:
        out.update(cli_figures(1 if quick else 3))
    out["load_average_1min"] = os.getloadavg()[0]
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--cli", action="store_true", help="also time whole neuroclip-live search processes")
    p.add_argument("--backend", nargs="+", default=["auto"], help="image encoder backends to measure (auto, torch)")
    args = p.parse_args()
    print(f"load average before: {os.getloadavg()}")
    for key, value in collect(args.quick, args.cli, tuple(args.backend)).items():
        print(f"  {key:<40} {value:10.3f}")
