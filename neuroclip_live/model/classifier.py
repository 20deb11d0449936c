"""Zero/few-shot scores over a window of timesteps, incremental in time.

NeuroCLIP's score for a window of T frames is
``p = softmax(logit_scale · Σ_i α_i · W_t f_i)``, where ``f_i`` is frame i's
CLIP feature (adapted by the inter-timestep adapter in few-shot use) and
``W_t`` the text features. ``StreamingClassifier.step`` gets there one frame
at a time: each frame is encoded once, takes one adapter step, and joins a
ring of the last T features; ``batch_forward`` computes the same from a whole
window. Both go through ``window_logits``, so they agree.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neuroclip_live import defaults
from neuroclip_live.errors import ModelError
from neuroclip_live.model.adapter import InterTimestepAdapter
from neuroclip_live.model.centring import centred_if
from neuroclip_live.model.clip_model import ClipBackbone
from neuroclip_live.model.prompts import (
    LabelSet,
    TextFeatureCache,
    fit_labels,
    parse_labels_with_notes,
    resolve_templates,
)
from neuroclip_live.model.where import (
    PlacesWindow,
    WhereMaps,
    activity_weight,
    build_maps,
    make_locator,
    where_unavailable,
)
from neuroclip_live.wording import counted


def uniform_alpha(T: int) -> np.ndarray:
    """1/T each: the mean over the window, what NeuroCLIP's zero-shot code computes.

    (It concatenates T normalised features and normalises the concatenation,
    which divides each timestep's logit by T.)
    """
    return np.full(T, 1.0 / T)


def load_alpha(path: str | Path, T: int | None = None) -> np.ndarray:
    """Per-timestep weights from a JSON file: a list, or an object with an ``alpha`` list (oldest first)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as err:
        raise ModelError(f"cannot read alpha file {path}: {err.strerror or err}") from None
    except ValueError as err:
        raise ModelError(f"alpha file {path} is not JSON: {err}") from None
    values = data.get("alpha") if isinstance(data, dict) else data
    try:
        alpha = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        alpha = np.empty(0)
    if alpha.ndim != 1 or alpha.size == 0 or not np.all(np.isfinite(alpha)):
        raise ModelError(f'alpha file {path} must hold a list of numbers (or {{"alpha": [...]}})')
    if T is not None and alpha.size != T:
        raise ModelError(
            f"alpha file {path} has {counted(alpha.size, 'weight')} but the window has T={T}: use -T {alpha.size}"
        )
    return alpha


def window_logits(feats: torch.Tensor, text: torch.Tensor, alpha: torch.Tensor, logit_scale: float) -> torch.Tensor:
    """``logit_scale · Σ_i α_i · W_t f_i`` for (..., T', C) features of the last T' timesteps -> (..., N).

    Features are L2-normalised per timestep (the adapter's output is not).
    ``alpha`` (T,) is aligned to the newest frame; with fewer frames than T
    (a window still filling) the newest T' weights are scaled to the full
    window's total, so the scores' sharpness does not change as it fills.
    """
    n = feats.shape[-2]
    if n > alpha.shape[0]:
        raise ValueError(f"{n} timesteps but only {alpha.shape[0]} alpha weights")
    a = alpha[-n:]
    if n < alpha.shape[0]:
        part = a.sum()
        if part > 0:
            a = a * (alpha.sum() / part)
    f = feats / feats.norm(dim=-1, keepdim=True)
    logits = f @ text.T  # (..., T', N)
    return logit_scale * (a[:, None] * logits).sum(dim=-2)


@dataclass(frozen=True)
class Timings:
    """Per timestep: the batch's times divided by its size."""

    encode_ms: float
    total_ms: float
    batch: int  # frames encoded together


@dataclass
class Scores:
    """Label probabilities for one timestep's window."""

    labels: list[str]
    probs: np.ndarray  # (N,) float32, sums to 1
    timings: Timings
    frames: int  # frames in the window (< T while it fills)
    where: WhereMaps | None = None  # the labels' relevance maps, when asked for (``set_where``)
    # This timestep's image feature as the window uses it (after the adapter, not normalised), on the CPU:
    # kept, it scores other labels later without the encoder (``offline.timeline``).
    feature: np.ndarray | None = None

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        order = np.argsort(-self.probs, kind="stable")[:k]
        return [(self.labels[i], float(self.probs[i])) for i in order]


class StreamingClassifier:
    """Scores each new frame against the labels over the last T frames, on the backbone's device.

    Not thread-safe: call everything from one thread (the pipeline's worker).
    """

    def __init__(
        self,
        backbone: ClipBackbone,
        labels: str | Sequence[str],
        T: int = defaults.T,
        alpha: Sequence[float] | np.ndarray | str | Path | None = None,
        adapter: InterTimestepAdapter | None = None,
        templates: str | Sequence[str] | None = None,
        ensemble: bool = True,
        text_cache: TextFeatureCache | None = None,
    ) -> None:
        if T < 1:
            raise ValueError("T must be at least 1")
        self.backbone = backbone
        self.T = T
        self.templates = resolve_templates(templates)
        self.ensemble = ensemble
        self.text_cache = text_cache or TextFeatureCache(backbone)
        self.logit_scale = backbone.logit_scale
        self._ring: deque[torch.Tensor] = deque(maxlen=T)
        self._where: PlacesWindow | None = None  # the relevance maps' places over the window, when on
        self._last_maps: WhereMaps | None = None
        # Whether each frame of a batch gets a map of its own, or only the newest (a live run that fell
        # behind: the older frames carry the map made before them, and the maps cost a frame a batch).
        self.map_every_frame = True
        self.adapter: InterTimestepAdapter | None = None
        self.centred = False  # frames cropped around their events first (an adapter trained so: model.centring)
        self.set_adapter(adapter)
        self.set_alpha(alpha)
        self.labels: list[str] = []
        self.label_notes: list[str] = []
        self.setup_notes: list[str] = []  # how the model, adapter and user choices were combined (model.setup)
        self.set_labels(labels)

    @property
    def engine(self) -> str:
        """Where the frames are encoded: 'OpenVINO bf16 · CPU' (``ClipBackbone.engine``)."""
        return self.backbone.engine

    # ------------------------------------------------------------------ settings

    @property
    def text_features(self) -> torch.Tensor:
        """The labels' text features (N, C), normalised: what each frame's feature is compared with."""
        return self._text

    def set_labels(self, labels: str | Sequence[str]) -> LabelSet:
        """New labels (text or list); re-encodes only labels not seen before. Returns the labels and notes."""
        return self._prepare(labels, self.templates, self.ensemble)

    def set_templates(self, templates: str | Sequence[str] | None, ensemble: bool | None = None) -> LabelSet:
        """Another template set (by name or as templates); the text features are recomputed."""
        return self._prepare(self.labels, resolve_templates(templates), self.ensemble if ensemble is None else ensemble)

    def _prepare(self, labels: str | Sequence[str], templates: tuple[str, ...], ensemble: bool) -> LabelSet:
        # Everything that can fail comes before any change: a bad request leaves the classifier as it was.
        parsed = parse_labels_with_notes(labels)
        fitted = fit_labels(parsed.labels, self.backbone.tokenizer, templates, self.backbone.context_length)
        result = LabelSet(fitted.labels, parsed.notes + fitted.notes)
        self._text = self.text_cache.features(result.labels, templates, ensemble)
        self.labels, self.templates, self.ensemble = result.labels, templates, ensemble
        self.label_notes = result.notes
        return result

    def set_alpha(self, alpha: Sequence[float] | np.ndarray | str | Path | None) -> None:
        """Per-timestep weights, oldest first (T of them), a JSON file of them, or None for uniform."""
        if alpha is None:
            values = uniform_alpha(self.T)
        elif isinstance(alpha, (str, Path)):
            values = load_alpha(alpha, self.T)
        else:
            values = np.asarray(alpha, dtype=np.float64)
            if values.shape != (self.T,) or not np.all(np.isfinite(values)):
                raise ModelError(f"alpha must be {self.T} finite numbers (one per timestep), got {values.size}")
        self.alpha = values
        self._alpha = torch.as_tensor(values, dtype=torch.float32, device=self.backbone.device)

    def set_adapter(self, adapter: InterTimestepAdapter | None) -> None:
        """Use a (trained) adapter, or None for zero-shot; clears the window."""
        if adapter is not None:
            if adapter.dim != self.backbone.embed_dim:
                raise ModelError(f"adapter is for {adapter.dim}-d features, the model gives {self.backbone.embed_dim}")
            adapter = adapter.to(self.backbone.device).eval()
        self.adapter = adapter
        self.reset()

    def reset(self) -> None:
        """Forget the window and the adapter membrane (seek, loop, source change)."""
        self._ring.clear()
        self._last_maps = None
        if self._where is not None:
            self._where.reset()
        if self.adapter is not None:
            self.adapter.reset_state()

    # ------------------------------------------------------------------ relevance maps

    @property
    def where_method(self) -> str:
        """How the maps are made ('dense' or 'crops'), '' while they are off."""
        return self._where.method if self._where is not None else ""

    def where_unavailable(self) -> str:
        """Why this model cannot give relevance maps ('' when it can)."""
        return where_unavailable(self.backbone)

    def set_where(self, on: bool, method: str | None = None) -> None:
        """Give each timestep's relevance maps (``Scores.where``) from now on, or stop; ``ModelError`` if it cannot.

        Off, a step is what it was without them: the maps cost nothing unless asked for.
        ``method`` ('dense' or 'crops') overrides the model's own (``model.where.choose_method``).
        """
        if not on:
            self._where, self._last_maps = None, None
            return
        why = where_unavailable(self.backbone, method)
        if why:
            raise ModelError(why)
        if self._where is None or (method is not None and method != self._where.method):
            self._where = PlacesWindow(make_locator(self.backbone, method), self.T)

    # ------------------------------------------------------------------ inference

    def _probs(self, feats: torch.Tensor) -> torch.Tensor:
        return torch.softmax(window_logits(feats, self._text, self._alpha, self.logit_scale), dim=-1)

    @torch.no_grad()
    def step(self, frames: np.ndarray) -> list[Scores]:
        """Score B new frames (B, H, W) uint8, oldest first: one Scores per frame, each over its own window."""
        t0 = time.perf_counter()
        if frames.ndim == 2:
            frames = frames[None]
        batch = frames.shape[0]
        if batch == 0:
            return []
        where = self._where
        mapped = batch if self.map_every_frame else 1
        seen = centred_if(frames, self.centred)
        if where is None:
            feats, located = self.backbone.encode_frames(seen), None
        elif self.centred:  # the scores see the object centred; its map needs the sensor's own places
            feats, located = self.backbone.encode_frames(seen), where.locator.encode(frames, mapped)[1]
        else:
            feats, located = where.locator.encode(frames, mapped)
        if feats.device.type == "cuda":
            torch.cuda.synchronize(feats.device)  # so that encode_ms is the encoder's, not the queueing's
        t_enc = time.perf_counter()
        probs, counts, kept = [], [], []
        for f in feats:
            f = f[None]
            if self.adapter is not None:
                f = self.adapter.step(f)
            self._ring.append(f[0])
            kept.append(f[0])
            probs.append(self._probs(torch.stack(tuple(self._ring))))
            counts.append(len(self._ring))
        host = torch.stack(probs).cpu().numpy()
        features = torch.stack(kept).float().cpu().numpy()  # one copy off the device a batch
        maps = self._maps(located, frames[batch - mapped :], batch) if located is not None else [None] * batch
        t_end = time.perf_counter()
        timings = Timings((t_enc - t0) * 1e3 / batch, (t_end - t0) * 1e3 / batch, batch)
        return [
            Scores(list(self.labels), host[i], timings, counts[i], where=maps[i], feature=features[i])
            for i in range(batch)
        ]

    def _maps(self, located: torch.Tensor, frames: np.ndarray, batch: int) -> list[WhereMaps | None]:
        """The maps of a batch: the mapped (newest) frames' over their window, as their scores (the places'
        features are not adapted); the frames before them carry the map made before the batch."""
        where = self._where
        assert where is not None
        out: list[WhereMaps | None] = [self._last_maps] * (batch - len(frames))
        for places, frame in zip(located, frames, strict=True):
            window, activity = where.push(places, frame)
            logits = window_logits(window, self._text, self._alpha, self.logit_scale)
            weight = activity_weight(activity, self.alpha)
            out.append(build_maps(self.labels, logits, where.places(), where.method, weight))
        self._last_maps = out[-1]
        return out

    @torch.no_grad()
    def batch_forward(self, frames: np.ndarray) -> np.ndarray:
        """Probabilities for a whole window (T', H, W), from a fresh adapter membrane; leaves the stream untouched.

        Equals what ``step`` gives for the last frame after ``reset`` and
        feeding the same frames. With more than T frames, the adapter runs
        over all of them and the last T are scored.
        """
        if self.adapter is None:
            frames = frames[-self.T :]  # without membrane, older frames cannot matter
        feats = self.backbone.encode_frames(centred_if(frames, self.centred))
        if self.adapter is not None:
            saved = self.adapter.lif.mem.clone()
            feats = self.adapter.forward_sequence(feats[:, None])[:, 0]
            self.adapter.lif.mem = saved
        return self._probs(feats[-self.T :]).cpu().numpy()


def encode_frames_batched(backbone: ClipBackbone, frames: np.ndarray, batch_size: int = 64) -> torch.Tensor:
    """(N, H, W) frames -> (N, C) normalised features on the CPU, encoded ``batch_size`` at a time (offline eval)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    out = torch.empty((frames.shape[0], backbone.embed_dim), dtype=torch.float32)
    for i in range(0, frames.shape[0], batch_size):
        out[i : i + batch_size] = backbone.encode_frames(frames[i : i + batch_size]).cpu()
    return out


def window_probs(
    feats: torch.Tensor, text: torch.Tensor, alpha: Sequence[float] | np.ndarray | None, logit_scale: float
) -> torch.Tensor:
    """Batched scores for evaluation: (B, T, C) features (adapted or not) -> (B, N) probabilities."""
    T = feats.shape[-2]
    values = uniform_alpha(T) if alpha is None else np.asarray(alpha)
    a = torch.as_tensor(values, dtype=feats.dtype, device=feats.device)
    return torch.softmax(window_logits(feats, text.to(feats.device), a, logit_scale), dim=-1)
