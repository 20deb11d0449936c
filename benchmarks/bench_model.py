"""Model cost per timestep: the streaming classifier next to a bare ``encode_image``, and text re-encoding.

Random weights (speed does not depend on them), 346 x 260 frames (DAVIS346),
10 labels, T = 10, with a random inter-timestep adapter. The classifier's
figure covers everything ``step`` does: preprocessing, encoding, the adapter
step and the window's scores; ``encode_image`` gets a tensor preprocessed
beforehand. Bare and classifier runs alternate so that other load on the
machine hits both alike.
"""

from __future__ import annotations

import resource
import time

import numpy as np
import torch

from neuroclip_live.model.adapter import InterTimestepAdapter
from neuroclip_live.model.classifier import StreamingClassifier
from neuroclip_live.model.clip_model import create_clip
from neuroclip_live.model.prompts import resolve_templates, text_features

MODELS = ("RN50", "ViT-B-32")
LABELS = ["cat", "dog", "car", "person", "bicycle", "airplane", "tree", "chair", "cup", "hand"]
OTHER_LABELS = ["bird", "truck", "boat", "horse", "ship", "frog", "deer", "phone", "book", "door"]
T = 10


def _frames(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([0, 127, 255], dtype=np.uint8), size=(n, 260, 346), p=[0.025, 0.95, 0.025])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _model_figures(name: str, batches: tuple[int, ...], repeats: dict[int, int]) -> dict[str, float]:
    backbone = create_clip(name)
    clf = StreamingClassifier(backbone, LABELS, T=T, adapter=InterTimestepAdapter(backbone.embed_dim))
    frames = _frames(max(batches) + T)
    clf.step(frames[:T])  # a full window, and warm-up
    out: dict[str, float] = {}
    tag = name.lower().replace("-", "")
    for b in batches:
        x = backbone.preprocess(frames[:b])
        bare, step = [], []
        with torch.no_grad():
            backbone.model.encode_image(x)  # warm-up at this batch size
            for _ in range(repeats[b]):
                _sync(backbone.device)
                t0 = time.perf_counter()
                backbone.model.encode_image(x)
                _sync(backbone.device)
                bare.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                clf.step(frames[T : T + b])
                step.append(time.perf_counter() - t0)
        bare_ms = float(np.median(bare)) * 1e3 / b
        step_ms = float(np.median(step)) * 1e3 / b
        out[f"{tag}_b{b}_encode_image_ms"] = bare_ms
        out[f"{tag}_b{b}_step_ms"] = step_ms
        out[f"{tag}_b{b}_overhead_pct"] = (step_ms / bare_ms - 1) * 100
        out[f"{tag}_b{b}_timesteps_s"] = 1e3 / step_ms
    templates = resolve_templates(None)
    texts = (OTHER_LABELS, LABELS)  # alternate so that nothing could be cached
    for k, used in ((1, templates[:1]), (len(templates), templates)):
        runs = []
        for i in range(max(2, repeats[batches[0]] // 3)):
            t0 = time.perf_counter()
            text_features(backbone, texts[i % 2], used)
            runs.append(time.perf_counter() - t0)
        out[f"{tag}_text_10_labels_{k}_templates_ms"] = float(np.median(runs)) * 1e3
    return out


def collect(quick: bool = False) -> dict[str, float]:
    torch.manual_seed(0)
    batches = (1, 8)
    repeats = {1: 4, 8: 2} if quick else {1: 15, 8: 5}
    out: dict[str, float] = {}
    for name in MODELS:
        out.update(_model_figures(name, batches, repeats))
    out["torch_threads"] = float(torch.get_num_threads())
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


if __name__ == "__main__":
    for key, value in collect().items():
        print(f"{key:<40} {value:10.2f}")
