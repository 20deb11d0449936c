"""Model cost per timestep, by image backend: the streaming classifier's step on torch and on OpenVINO.

Random weights for RN50 and ViT-B-32 (speed does not depend on them), the bundled weights for
tiny-digits; 346 x 260 frames (DAVIS346), 10 labels, T = 10, a random inter-timestep adapter. A step
is everything ``StreamingClassifier.step`` does: preprocessing, the image encode, the adapter step and
the window's scores. The backends' steps alternate within one run so that other load on the machine
hits them alike; ``_openvino`` is OpenVINO at its own precision for this CPU (bf16 where the CPU has
AMX or AVX512-BF16), ``_openvino_fp32`` at full precision. Torch's bare ``encode_image`` (a tensor
preprocessed beforehand) is measured beside its step.

Also: what a label change costs (the text encoder, torch with either backend), and the start of an
RN50 with OpenVINO in a fresh process, with an empty model cache (conversion) and again (cached).
"""

from __future__ import annotations

import gc
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from neuroclip_live.model.adapter import InterTimestepAdapter
from neuroclip_live.model.classifier import StreamingClassifier
from neuroclip_live.model.clip_model import create_clip, load_clip
from neuroclip_live.model.prompts import resolve_templates, text_features
from neuroclip_live.model.settings import openvino_importable

ROOT = Path(__file__).resolve().parent.parent
MODELS = {"RN50": (1, 8), "ViT-B-32": (1,), "tiny-digits": (1,)}
LABELS = ["cat", "dog", "car", "person", "bicycle", "airplane", "tree", "chair", "cup", "hand"]
OTHER_LABELS = ["bird", "truck", "boat", "horse", "ship", "frog", "deer", "phone", "book", "door"]
T = 10
# backend tag -> (backend, precision) for load_clip / create_clip
BACKENDS = {"torch": ("torch", None), "openvino": ("openvino", "auto"), "openvino_fp32": ("openvino", "fp32")}


def _frames(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([0, 127, 255], dtype=np.uint8), size=(n, 260, 346), p=[0.025, 0.95, 0.025])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _classifier(name: str, backend: str, precision: str | None, cache_dir: str) -> StreamingClassifier:
    torch.manual_seed(0)  # the same random weights for every backend
    if name == "tiny-digits":
        backbone = load_clip(name, backend=backend, precision=precision, cache_dir=cache_dir)
    else:
        backbone = create_clip(name, precision=precision, backend=backend, cache_dir=cache_dir)
    adapter = InterTimestepAdapter(backbone.embed_dim)
    return StreamingClassifier(backbone, LABELS, T=T, adapter=adapter)


def _bare_ms(clf: StreamingClassifier, frames: np.ndarray) -> float:
    """Torch's ``encode_image`` alone, on a batch preprocessed beforehand."""
    bb = clf.backbone
    x = bb.preprocess(frames)
    with torch.no_grad():
        _sync(bb.device)
        t0 = time.perf_counter()
        bb.model.encode_image(x)
        _sync(bb.device)
    return time.perf_counter() - t0


def _step_figures(name: str, batches: tuple[int, ...], repeats: dict[int, int], cache_dir: str) -> dict[str, float]:
    tags = [t for t in BACKENDS if t == "torch" or openvino_importable()]
    clfs = {t: _classifier(name, *BACKENDS[t], cache_dir) for t in tags}
    frames = _frames(max(batches) + T)
    for clf in clfs.values():
        clf.step(frames[:T])  # a full window, and warm-up
    out: dict[str, float] = {}
    tag = name.lower().replace("-", "_") if name == "tiny-digits" else name.lower().replace("-", "")
    for b in batches:
        batch = frames[T : T + b]
        runs: dict[str, list[float]] = {t: [] for t in [*tags, "bare"]}
        for clf in clfs.values():
            clf.step(batch)  # warm-up at this batch size
        for _ in range(repeats[b]):
            runs["bare"].append(_bare_ms(clfs["torch"], batch))
            for t, clf in clfs.items():
                _sync(clf.backbone.device)
                t0 = time.perf_counter()
                clf.step(batch)
                runs[t].append(time.perf_counter() - t0)
        ms = {t: float(np.median(v)) * 1e3 / b for t, v in runs.items()}
        out[f"{tag}_b{b}_encode_image_ms_torch"] = ms.pop("bare")
        for t, value in ms.items():
            out[f"{tag}_b{b}_step_ms_{t}"] = value
        if "openvino" in ms:
            out[f"{tag}_b{b}_speedup_openvino"] = ms["torch"] / ms["openvino"]
            out[f"{tag}_b{b}_speedup_openvino_fp32"] = ms["torch"] / ms["openvino_fp32"]
    out.update(_text_figures(tag, clfs, max(2, repeats[batches[0]] // 3)))
    return out


def _text_figures(tag: str, clfs: dict[str, StreamingClassifier], repeats: int) -> dict[str, float]:
    """A label change: the text encoder (torch with either backend) over 10 new labels, 1 and all templates."""
    out: dict[str, float] = {}
    templates = resolve_templates(None)
    texts = (OTHER_LABELS, LABELS)  # alternate so that nothing could be cached
    for k, used in ((1, templates[:1]), (len(templates), templates)):
        runs: dict[str, list[float]] = {t: [] for t in clfs if t != "openvino_fp32"}
        for i in range(repeats):
            for t in runs:
                t0 = time.perf_counter()
                text_features(clfs[t].backbone, texts[i % 2], used)
                runs[t].append(time.perf_counter() - t0)
        for t, v in runs.items():
            out[f"{tag}_text_10_labels_{k}_templates_ms_{t}"] = float(np.median(v)) * 1e3
    return out


START = """
import sys, time
t0 = time.perf_counter()
import torch
from neuroclip_live.model.clip_model import create_clip
torch.manual_seed(0)
bb = create_clip("RN50", backend=sys.argv[1])
print(time.perf_counter() - t0, getattr(bb.image_encoder, "converted", None))
"""


def _start_s(backend: str, cache_home: str) -> float:
    """A fresh process: torch's import, RN50's creation and its image encoder on ``backend``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=cache_home)
    proc = subprocess.run([sys.executable, "-c", START, backend], env=env, check=True, capture_output=True, text=True)
    return float(proc.stdout.split()[0])


def _start_figures(quick: bool) -> dict[str, float]:
    out = {"rn50_torch_start_s": float(np.median([_start_s("torch", tempfile.gettempdir()) for _ in range(2)]))}
    if not openvino_importable():
        return out
    with tempfile.TemporaryDirectory() as home:
        out["rn50_first_start_s"] = _start_s("openvino", home)  # converts, writes the cache
        out["rn50_cached_start_s"] = float(np.median([_start_s("openvino", home) for _ in range(1 if quick else 3)]))
    return out


def collect(quick: bool = False) -> dict[str, float]:
    repeats = {1: 4, 8: 2} if quick else {1: 15, 8: 5}
    out: dict[str, float] = {"load_average_1min_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as cache_dir:
        for name, batches in MODELS.items():
            out.update(_step_figures(name, batches, repeats, cache_dir))
            gc.collect()
    out.update(_start_figures(quick))
    out["torch_threads"] = float(torch.get_num_threads())
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["load_average_1min_after"] = os.getloadavg()[0]
    return out


if __name__ == "__main__":
    for key, value in collect().items():
        print(f"{key:<44} {value:10.2f}")
