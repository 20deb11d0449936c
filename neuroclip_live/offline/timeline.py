"""The top label over time from kept features: the classifier's alpha window, re-run as matrix products.

For each kept timestep k the window's probabilities are
``softmax(logit_scale · Σ_i α_i · cos(f_{k-T+1+i}, W_t))``, as ``StreamingClassifier.step`` gives
them (``model.classifier.window_logits``: the newest weights scaled to the full total while a
window fills, a new window after every reset), but for every timestep at once and for any labels:
the cosine of each timestep with each label is one product, and the window a weighted sum of T
shifted copies of it. ``tests/test_search.py`` checks the two agree to 1e-5.

Ranges: the timesteps where a label is the window's top label with probability ≥ P, merged across
gaps of at most one timestep (never across a reset). A window's scores speak for the time its
weights centre on, not for its newest frame: with uniform alpha and T = 10 timesteps of 30 ms that
is 135 ms earlier. So a range runs from the centre of its first window to the centre of its last,
widened by half a timestep at each end; placed at the newest frames instead, every range would
start and end that much late.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuroclip_live.offline.kept_features import StepRows

# torch is imported where it is used: the window imports this module to draw its strip, and
# torch (about 10 s to import on a busy machine) loads on the model's thread, not the GUI's.

MAX_GAP_STEPS = 1  # runs of one label this many timesteps apart (or fewer) are one range


@dataclass(frozen=True)
class LabelSpace:
    """What a timeline scores against: labels, their normalised text features (L, C), alpha and the logit scale."""

    labels: tuple[str, ...]
    text: np.ndarray
    alpha: np.ndarray
    logit_scale: float

    @classmethod
    def of(cls, classifier: Any) -> LabelSpace:
        """The labels, text features, alpha and scale a ``StreamingClassifier`` uses now."""
        text = classifier.text_features.detach().float().cpu().numpy()
        return cls(
            tuple(classifier.labels),
            text,
            np.asarray(classifier.alpha, dtype=np.float64),
            float(classifier.logit_scale),
        )

    @property
    def T(self) -> int:
        return int(self.alpha.shape[0])


@dataclass(frozen=True)
class LabelRange:
    """A stretch of the recording where ``label`` was the window's top label; times on the recording's clock."""

    label: str
    t_start_us: int
    t_end_us: int
    peak: float  # the highest probability of the label over the range
    first_step: int  # index of its first and last timestep among those scored
    last_step: int

    @property
    def duration_us(self) -> int:
        return self.t_end_us - self.t_start_us

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "t_start_us": self.t_start_us,
            "t_end_us": self.t_end_us,
            "peak": round(self.peak, 6),
        }


def step_cosines(feats: np.ndarray, text: np.ndarray) -> np.ndarray:
    """(N, C) features and (L, C) normalised text features -> (N, L) cosines, as ``window_logits`` computes them."""
    import torch

    f = torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32))
    f = f / f.norm(dim=-1, keepdim=True)
    return (f @ torch.from_numpy(np.ascontiguousarray(text, dtype=np.float32)).T).numpy()


def _window_weights(segment: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per timestep k and lag j: the weight of timestep k-j in k's window (N, T), and each window's scale (N,)."""
    n, T = segment.shape[0], alpha.shape[0]
    idx = np.arange(n)
    changes = np.r_[True, segment[1:] != segment[:-1]] if n else np.zeros(0, dtype=bool)
    first = np.maximum.accumulate(np.where(changes, idx, 0)) if n else idx
    lags = np.arange(T)
    inside = (idx[:, None] - lags[None, :]) >= first[:, None]  # (N, T): lag j still in k's segment
    weights = alpha[::-1][None, :] * inside  # lag 0 is the newest frame, alpha's last weight
    part = weights.sum(axis=1)
    # As ``window_logits``: a window still filling scales its newest weights to the full total.
    scale = np.where(part > 0, alpha.sum() / np.where(part > 0, part, 1.0), 1.0)
    return weights, scale


def window_probs(rows: StepRows, space: LabelSpace, cosines: np.ndarray | None = None) -> np.ndarray:
    """(N, L) probabilities of every kept timestep's window (``cosines``: ``step_cosines`` when already made)."""
    if cosines is None:
        cosines = step_cosines(rows.feats, space.text)
    n = cosines.shape[0]
    if n == 0:
        return np.zeros((0, len(space.labels)), dtype=np.float32)
    import torch

    weights, scale = _window_weights(rows.segment, space.alpha)
    cos = torch.from_numpy(cosines)
    acc = torch.zeros_like(cos)
    for j in range(min(space.T, n)):
        w = torch.from_numpy((weights[j:, j] * scale[j:]).astype(np.float32))
        acc[j:] += w[:, None] * cos[: n - j]
    return torch.softmax(space.logit_scale * acc, dim=-1).numpy()


def window_centres(rows: StepRows, alpha: np.ndarray) -> np.ndarray:
    """(N,) the time each window's weights centre on (µs, float): where its scores are placed."""
    mid = (rows.t_start_us + rows.t_end_us) / 2.0
    n = mid.shape[0]
    if n == 0:
        return mid
    weights, _ = _window_weights(rows.segment, alpha)
    total = np.zeros(n)
    acc = np.zeros(n)
    for j in range(min(alpha.shape[0], n)):
        acc[j:] += weights[j:, j] * mid[: n - j]
        total[j:] += weights[j:, j]
    return np.where(total > 0, acc / np.where(total > 0, total, 1.0), mid)


def label_ranges(
    top: np.ndarray,
    peak: np.ndarray,
    labels: Sequence[str],
    rows: StepRows,
    centres: np.ndarray,
    max_gap: int = MAX_GAP_STEPS,
) -> list[LabelRange]:
    """Ranges from each timestep's top label index (-1: none) and its probability, in time order."""
    half = (rows.t_end_us - rows.t_start_us) / 2.0
    out: list[LabelRange] = []
    for li, label in enumerate(labels):
        steps = np.flatnonzero(top == li)
        if steps.size == 0:
            continue
        breaks = (np.diff(steps) > max_gap + 1) | (rows.segment[steps[1:]] != rows.segment[steps[:-1]])
        cuts = np.r_[0, np.flatnonzero(breaks) + 1, steps.size]
        for a, b in itertools.pairwise(cuts):
            first, last = int(steps[a]), int(steps[b - 1])
            start = round(float(centres[first] - half[first]))
            end = round(float(centres[last] + half[last]))
            out.append(LabelRange(label, start, end, float(peak[steps[a:b]].max()), first, last))
    out.sort(key=lambda r: (r.t_start_us, r.label))
    return out


def top_ranges(
    rows: StepRows, space: LabelSpace, min_confidence: float, probs: np.ndarray | None = None
) -> list[LabelRange]:
    """The ranges of each window's top label with probability ≥ ``min_confidence`` (see the module's notes)."""
    if probs is None:
        probs = window_probs(rows, space)
    if probs.shape[0] == 0:
        return []
    top = probs.argmax(axis=1)
    peak = probs.max(axis=1)
    top = np.where(peak >= min_confidence, top, -1)
    return label_ranges(top, peak, space.labels, rows, window_centres(rows, space.alpha))


def ranges_from_tops(
    labels: Sequence[str],
    tops: Sequence[int],
    peaks: Sequence[float],
    t_start_us: Sequence[int],
    t_end_us: Sequence[int],
    segment: Sequence[int],
    alpha: Sequence[float],
) -> list[LabelRange]:
    """Ranges from timesteps whose top label is already known (a prediction log), placed as by ``top_ranges``."""
    n = len(tops)
    rows = StepRows(
        np.asarray(t_start_us, dtype=np.int64),
        np.asarray(t_end_us, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        np.asarray(segment, dtype=np.int64),
        np.zeros((n, 0), dtype=np.float32),
    )
    centres = window_centres(rows, np.asarray(alpha, dtype=np.float64))
    return label_ranges(np.asarray(tops), np.asarray(peaks, dtype=np.float64), labels, rows, centres)
