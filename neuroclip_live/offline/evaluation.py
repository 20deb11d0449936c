"""Offline accuracy on a labelled event data set, with an honest protocol.

Every sample becomes T frames (the paper's cut: T equal event counts, or T
equal time spans), each frame is encoded once in batches, and the window
score ``softmax(scale · Σ α_i W_t f_i)`` is the same function the live
classifier uses. Shots and any tuning (alpha) come from the training split
only; the test samples are scored once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from neuroclip_live import defaults
from neuroclip_live.model.classifier import window_probs
from neuroclip_live.model.clip_model import ClipBackbone
from neuroclip_live.offline.augment import Augmentation
from neuroclip_live.offline.datasets import Sample
from neuroclip_live.offline.extraction import EventReader, encode_views, frame_views, plan_views, read_view_events

Cut = Literal["count", "time"]


@dataclass
class FeatureSet:
    """Per-frame CLIP features of labelled samples: (N, T, C), labels (N,), and the samples left out.

    ``unreadable`` lists (path, reason) for samples whose file failed to read twice: they
    are reported, not fatal, and hold no row.
    """

    feats: torch.Tensor
    labels: np.ndarray
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def empty(self) -> FeatureSet:
        """No rows, of the same shape otherwise (an empty validation set)."""
        return FeatureSet(self.feats[:0], self.labels[:0])


def extract_features(
    backbone: ClipBackbone,
    samples: Sequence[Sample],
    T: int = defaults.T,
    cut: Cut = "count",
    views: int = 1,
    augment: bool | Augmentation = False,
    flip: bool = True,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = True,
    desc: str = "encoding",
    read: EventReader | None = None,
) -> FeatureSet:
    """Encode ``views`` framings of each sample (augmented when asked) in batches of frames, in this process.

    The result holds a row per readable view, views of one sample next to each other.
    ``flip`` allows horizontal flips among the augmentations (not for digits or text: a
    mirrored 2 is no 2). ``feature_cache.CachedExtractor`` gives the same rows from a cache
    or a Ray cluster. ``read`` gives a sample's events (default: from its file).
    """
    jobs = plan_views(samples, views, augment, flip, seed)
    per_chunk = max(1, batch_size // T) * views  # whole samples a chunk
    feats: list[torch.Tensor] = []
    labels: list[int] = []
    unreadable: dict[str, str] = {}
    bar = tqdm(total=len(samples), desc=desc, unit="sample", disable=not progress, leave=False)
    for start in range(0, len(jobs), per_chunk):
        frames, done, failed = frame_views(jobs[start : start + per_chunk], T, cut, read or read_view_events)
        unreadable.update(failed)
        if frames:
            feats.append(encode_views(backbone, frames, T, batch_size))
            labels += [j.label for j in done]
        bar.update(len(jobs[start : start + per_chunk]) // views)
    bar.close()
    stacked = torch.cat(feats) if feats else torch.empty((0, T, backbone.embed_dim))
    return FeatureSet(stacked, np.asarray(labels, dtype=np.int64), sorted(unreadable.items()))


@dataclass
class Report:
    """Accuracy figures for one evaluation."""

    classes: list[str]
    n: int
    top1: float
    top5: float
    top1_ci95: tuple[float, float]
    per_class: list[float]
    confusion: list[list[int]]  # rows: true class, columns: predicted
    protocol: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "top1": self.top1,
            "top5": self.top5,
            "top1_ci95": list(self.top1_ci95),
            "n": self.n,
            "classes": self.classes,
            "per_class_top1": dict(zip(self.classes, self.per_class, strict=True)),
            "confusion": self.confusion,
            "protocol": self.protocol,
            **self.extra,
        }

    def table(self) -> str:
        k5 = min(5, len(self.classes))
        lines = [
            *(f"protocol: {p}" for p in self.protocol),
            f"samples: {self.n}",
            f"top-1: {self.top1 * 100:.2f}%  (95% CI {self.top1_ci95[0] * 100:.1f}-{self.top1_ci95[1] * 100:.1f}%)",
            f"top-{k5}: {self.top5 * 100:.2f}%",
            "",
            "per class top-1:",
        ]
        width = max(len(c) for c in self.classes)
        for c, acc in zip(self.classes, self.per_class, strict=True):
            lines.append(f"  {c:<{width}}  {acc * 100:6.1f}%")
        lines += ["", "confusion (rows: true, columns: predicted):"]
        short = [c[:6] for c in self.classes]
        lines.append(" " * (width + 2) + " ".join(f"{s:>6}" for s in short))
        for c, row in zip(self.classes, self.confusion, strict=True):
            lines.append(f"  {c:<{width}}" + " ".join(f"{v:6d}" for v in row))
        return "\n".join(lines)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (sound near 0 and 1, unlike the normal approximation)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def report_from_probs(probs: np.ndarray, labels: np.ndarray, classes: list[str], protocol: list[str]) -> Report:
    n, k = probs.shape
    order = np.argsort(-probs, axis=1, kind="stable")
    pred = order[:, 0]
    hit1 = pred == labels
    k5 = min(5, k)
    hit5 = (order[:, :k5] == labels[:, None]).any(axis=1)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, pred), 1)
    per_class = [float(hit1[labels == c].mean()) if (labels == c).any() else float("nan") for c in range(k)]
    return Report(
        classes=list(classes),
        n=int(n),
        top1=float(hit1.mean()) if n else 0.0,
        top5=float(hit5.mean()) if n else 0.0,
        top1_ci95=wilson_interval(int(hit1.sum()), int(n)),
        per_class=per_class,
        confusion=confusion.tolist(),
        protocol=protocol,
    )


@torch.no_grad()
def adapted_features(fs: FeatureSet, adapter=None, batch: int = 256) -> torch.Tensor:
    """(N, T, C) features, through the adapter (eval mode, a fresh membrane per sample) when given."""
    if adapter is None or len(fs) == 0:
        return fs.feats
    adapter.eval()
    device = next(adapter.parameters()).device
    chunks = []
    for i in range(0, len(fs), batch):
        seq = fs.feats[i : i + batch].transpose(0, 1).to(device)  # (T, B, C): the adapter runs in time
        chunks.append(adapter.forward_sequence(seq).transpose(0, 1).cpu())
    return torch.cat(chunks)


@torch.no_grad()
def predict(
    fs: FeatureSet, text: torch.Tensor, logit_scale: float, alpha: np.ndarray | None = None, adapter=None
) -> np.ndarray:
    """(N, K) window probabilities for cached features, optionally through an adapter."""
    return window_probs(adapted_features(fs, adapter), text.cpu(), alpha, logit_scale).numpy()


def alpha_candidates(T: int) -> dict[str, np.ndarray]:
    """A small, fixed family of per-timestep weightings to choose from on validation data."""
    i = np.arange(1, T + 1, dtype=np.float64)
    shapes = {
        "uniform": np.ones(T),
        "rising": i,
        "falling": i[::-1].copy(),
        "middle": np.minimum(i, i[::-1]),
        "recent-half": (i > T / 2).astype(np.float64),
        "early-half": (i <= (T + 1) / 2).astype(np.float64),
    }
    return {name: w / w.sum() for name, w in shapes.items()}


def choose_alpha(
    val: FeatureSet, text: torch.Tensor, logit_scale: float, T: int, adapter=None
) -> tuple[str, np.ndarray, dict[str, float]]:
    """The candidate with the best validation top-1 (ties go to uniform, listed first)."""
    feats = adapted_features(val, adapter)  # the adapter does not depend on alpha: run it once
    candidates = alpha_candidates(T)
    scores = {}
    for name, alpha in candidates.items():
        probs = window_probs(feats, text.cpu(), alpha, logit_scale).numpy()
        scores[name] = float((probs.argmax(1) == val.labels).mean()) if len(val) else 0.0
    best = max(scores, key=lambda k: scores[k])
    return best, candidates[best], scores
