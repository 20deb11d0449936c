"""The GPU benchmark's model sections: bare image encoders, the classifier's step, the text re-encode.

Random weights (speed does not depend on them), 346 x 260 event frames (a DAVIS346), 10 labels,
T = 10. Every timed call is preceded by warm-up calls and bracketed by ``torch.cuda.synchronize``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from benchmarks.gpu_report import Budget, sync
from neuroclip_live.model.adapter import InterTimestepAdapter
from neuroclip_live.model.classifier import StreamingClassifier
from neuroclip_live.model.clip_model import ClipBackbone, create_clip
from neuroclip_live.model.prompts import (
    TextFeatureCache,
    resolve_templates,
    text_features,
)

# Figures are keyed by role, whatever model measured it (a quick CPU run puts a small stand-in in both).
ROLES = {"rn50": "RN50", "vit_b_32": "ViT-B-32"}
STAND_IN = "tiny-digits"
LABELS = ["cat", "dog", "car", "person", "bicycle", "airplane", "tree", "chair", "cup", "hand"]
OTHER_LABELS = ["bird", "truck", "boat", "horse", "ship", "frog", "deer", "phone", "book", "door"]
T = 10
STEP_BATCHES = (1, 8, 32)  # a timestep at a time, and the worker's batches when it fell behind
ENCODE_BATCHES = (1, 32, 256)  # 256: the throughput the published tables quote (large batch)
SENSOR = (260, 346)


@dataclass
class Bench:
    """What every section shares: the device, the options, and each role's model, created once."""

    device: torch.device
    models: dict[str, str]  # role -> open_clip (or bundled) model name
    backend: str
    precision: str | None
    quick: bool
    cache_dir: str
    backbones: dict[str, ClipBackbone] = field(default_factory=dict)  # by model name

    def backbone(self, role: str) -> ClipBackbone:
        """The role's model, created on first use (one per model name: a stand-in serves both roles)."""
        name = self.models[role]
        if name not in self.backbones:
            torch.manual_seed(0)
            self.backbones[name] = create_clip(
                name, str(self.device), self.precision, backend=self.backend, cache_dir=self.cache_dir
            )
        return self.backbones[name]

    def repeats(self, full: int) -> int:
        return max(1, full // 10) if self.quick else full

    @property
    def warmup(self) -> int:
        """Calls before timing: cuDNN picks its kernels and the caching allocator fills on the first ones."""
        return 3 if self.device.type == "cuda" else 1


def event_frames(n: int, seed: int = 0) -> np.ndarray:
    """(n, 260, 346) uint8 frames: 127 background, 5% ON (255) and OFF (0) pixels."""
    rng = np.random.default_rng(seed)
    values = np.array([0, 127, 255], dtype=np.uint8)
    return rng.choice(values, size=(n, *SENSOR), p=[0.025, 0.95, 0.025])


def alternate(runs: dict[str, Callable[[], Any]], repeats: int, budget: Budget, bench: Bench) -> dict[str, list[float]]:
    """Seconds of each run, the runs alternating (other load hits them alike), after warm-up calls.

    Stops after ``repeats`` rounds, or before a round the budget no longer holds (one round at least).
    """
    for fn in runs.values():
        for _ in range(bench.warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in runs}
    last = 0.0
    for i in range(repeats):
        if i and not budget.allows(last):
            break
        t_round = time.perf_counter()
        for key, fn in runs.items():
            sync(bench.device)
            t0 = time.perf_counter()
            fn()
            sync(bench.device)
            times[key].append(time.perf_counter() - t0)
        last = time.perf_counter() - t_round
    return times


def per_item(seconds: list[float], items: int, unit: str) -> dict[str, float]:
    """Median ms per item and items per second ('timesteps' or 'images')."""
    median = float(np.median(seconds))
    return {f"ms_per_{unit[:-1]}": median * 1e3 / items, f"{unit}_s": items / median, "repeats": len(seconds)}


def describe(bench: Bench, role: str) -> dict[str, Any]:
    bb = bench.backbone(role)
    return {"model": bb.name, "engine": bb.engine}


def make_classifier(bench: Bench, role: str, adapter: bool, text_cache: TextFeatureCache | None = None):
    bb = bench.backbone(role)
    torch.manual_seed(1)
    return StreamingClassifier(
        bb, LABELS, T=T, adapter=InterTimestepAdapter(bb.embed_dim) if adapter else None, text_cache=text_cache
    )


def sweep(batches: tuple[int, ...], measure: Callable, bench: Bench, budget: Budget) -> dict[str, Any]:
    """{'b<size>': ``measure(size, budget)``} for each batch size while the budget holds the next one.

    ``measure`` gives (figures, seconds per item). The first size always runs; a later one only when
    what is left holds its warm-up and one timed round at the last size's rate per item.
    """
    out: dict[str, Any] = {}
    per_item_s = 0.0
    for j, b in enumerate(batches):
        if j and not budget.allows(per_item_s * b * (bench.warmup + 1)):
            break
        out[f"b{b}"], per_item_s = measure(b, budget.part(len(batches) - j))
    return out


def encoders_section(bench: Bench, figures: dict, budget: Budget) -> str:
    """The bare image encoder on preprocessed batches: what the model alone costs, and its peak rate."""
    frames = event_frames(max(ENCODE_BATCHES))
    for i, role in enumerate(bench.models):
        bb = bench.backbone(role)  # created (and converted) before its share of the time is set

        def measure(b: int, part: Budget, bb: ClipBackbone = bb) -> tuple[dict, float]:
            encode = partial(bb.image_encoder, bb.preprocess(frames[:b]))
            with torch.no_grad():
                times = alternate({"encode": encode}, bench.repeats(30 if b < 256 else 8), part, bench)
            return per_item(times["encode"], b, "images"), float(np.median(times["encode"])) / b

        figures[role] = describe(bench, role) | sweep(
            ENCODE_BATCHES, measure, bench, budget.part(len(bench.models) - i)
        )
    return "preprocessed (B, 3, S, S) batches into the image encoder alone; no adapter, no window"


def step_figures(clf: StreamingClassifier, bench: Bench, budget: Budget) -> dict[str, Any]:
    """``StreamingClassifier.step`` at each batch size of ``STEP_BATCHES``, per timestep."""
    frames = event_frames(max(STEP_BATCHES) + T)
    clf.step(frames[:T])  # a full window: every step below scores T frames

    def measure(b: int, part: Budget) -> tuple[dict, float]:
        encode_ms: list[float] = []

        def step(batch: np.ndarray = frames[T : T + b]) -> None:
            encode_ms.append(clf.step(batch)[0].timings.encode_ms)  # the step's own split: preprocess and encode

        times = alternate({"step": step}, bench.repeats({1: 60, 8: 25, 32: 10}[b]), part, bench)
        fig = per_item(times["step"], b, "timesteps")
        fig["encode_ms_per_timestep"] = float(np.median(encode_ms[-len(times["step"]) :]))
        return fig, float(np.median(times["step"])) / b

    return sweep(STEP_BATCHES, measure, bench, budget)


def step_section(bench: Bench, figures: dict, budget: Budget) -> str:
    for i, role in enumerate(bench.models):
        clf = make_classifier(bench, role, adapter=True)
        figures[role] = describe(bench, role) | step_figures(clf, bench, budget.part(len(bench.models) - i))
    return (
        "StreamingClassifier.step per timestep: preprocess (uint8 frames to the device), encode, adapter step "
        "(random adapter) and the window's scores over T = 10; b8 and b32 are the worker's batches when behind"
    )


def text_section(bench: Bench, figures: dict, budget: Budget) -> str:
    """A label change: RN50's text encoder over 10 new labels, with 1 template and with the default set."""
    bb = bench.backbone("rn50")
    templates = resolve_templates(None)
    figures.update(describe(bench, "rn50"), labels=len(LABELS), templates_all=len(templates))
    calls = [0]

    def encode(used: tuple[str, ...]) -> Callable[[], Any]:
        def run() -> Any:
            calls[0] += 1  # alternating label sets, as a user's new labels would be (text_features caches nothing)
            return text_features(bb, (LABELS, OTHER_LABELS)[calls[0] % 2], used)

        return run

    times = alternate({"one": encode(templates[:1]), "all": encode(templates)}, bench.repeats(20), budget, bench)
    figures["templates_1_ms"] = float(np.median(times["one"])) * 1e3
    figures["templates_all_ms"] = float(np.median(times["all"])) * 1e3
    figures["repeats"] = len(times["one"])
    return "text_features for 10 labels: one template, and the default template set (CLIP's prompt ensemble)"
