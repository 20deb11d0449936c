"""Where each label is seen: per timestep, a coarse map over the frame of how well each place matches each label.

A *locator* gives, beside each frame's own feature, the features of K places of the frame
(``Places`` says where they are, in sensor pixels). Two locators, chosen per model
(``choose_method``; the README says what was measured):

- ``dense``: MaskCLIP's dense features (``model.dense_towers``), one forward pass for the frame
  and its places: the patch grid of a ViT, the last stage's grid of a ResNet;
- ``crops``: square crops over the frame at a few sizes, encoded as one batch with the frame.

The places' features of the last T timesteps are combined as the scores are (``StreamingClassifier``
runs ``window_logits`` on them with the same alpha), and each place gets the probability of each
label, ``softmax`` over the labels at that place: where a label wins over the others, not where
everything looks alike. That is weighted by the place's events over the window, relative to the
busiest place (``activity_weight``): an event camera sees nothing where nothing happened, and crops
of empty background were the commonest wrong peak. A label's peak is its best place's centre.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from neuroclip_live.model.clip_model import ClipBackbone
from neuroclip_live.model.places import CropLayout, Places, grid_places

# Models whose dense features were measured not to localise (README "Where"): they use crops.
CROPS_MODELS = frozenset({"tiny-digits"})
METHODS = ("dense", "crops")


def choose_method(backbone: ClipBackbone) -> str:
    """'crops' for the models measured to need them, else 'dense'."""
    return "crops" if backbone.name in CROPS_MODELS else "dense"


def where_unavailable(backbone: ClipBackbone, method: str | None = None) -> str:
    """Why this model (and its backend) cannot give maps ('' when it can)."""
    method = method or choose_method(backbone)
    if method not in METHODS:
        return f"unknown map method {method!r}: use one of {', '.join(METHODS)}"
    if method == "crops":
        return ""  # crops are frames like any other: every encoder takes them
    return backbone.dense_unavailable()


# --------------------------------------------------------------------------- locators


class Locator(Protocol):
    """Frames -> their own features (B, C) and the places' features (M, K, C) of the newest M, normalised."""

    method: str

    def places(self, width: int, height: int) -> Places: ...
    def encode(self, frames: np.ndarray, mapped: int) -> tuple[torch.Tensor, torch.Tensor]: ...


class DenseLocator:
    """The backbone's dense features (``ClipBackbone.encode_frames_dense``): one pass for both."""

    method = "dense"

    def __init__(self, backbone: ClipBackbone) -> None:
        backbone.prepare_dense()  # fails here, not in a step, when the backend cannot give dense features
        self.backbone = backbone
        self._places: dict[tuple[int, int], Places] = {}

    def places(self, width: int, height: int) -> Places:
        key = (width, height)
        if key not in self._places:
            self._places[key] = grid_places(width, height, self.backbone.image_size, self.backbone.dense_grid)
        return self._places[key]

    def encode(self, frames: np.ndarray, mapped: int) -> tuple[torch.Tensor, torch.Tensor]:
        own, dense = self.backbone.encode_frames_dense(frames)  # every frame's places come with the one pass
        return own, dense[frames.shape[0] - mapped :]


class CropLocator:
    """The frames and their crops, preprocessed as the frames are, encoded in one batch."""

    method = "crops"

    def __init__(self, backbone: ClipBackbone, layout: CropLayout | None = None) -> None:
        self.backbone = backbone
        self.layout = layout or CropLayout()
        self._places: dict[tuple[int, int], Places] = {}

    def places(self, width: int, height: int) -> Places:
        key = (width, height)
        if key not in self._places:
            self._places[key] = self.layout.places(width, height)
        return self._places[key]

    def encode(self, frames: np.ndarray, mapped: int) -> tuple[torch.Tensor, torch.Tensor]:
        own = frames.shape[0]
        frames_in, frames = frames, frames[own - mapped :]  # only the newest ``mapped`` frames are cropped
        batch, height, width = frames.shape
        places = self.places(width, height)
        parts = [self.backbone.preprocess(frames_in)]
        by_size: dict[int, list[int]] = {}
        for k, (x0, _, x1, _) in enumerate(places.boxes):
            by_size.setdefault(int(x1 - x0), []).append(k)
        order = []
        for c, ks in by_size.items():
            crops = np.stack(
                [frames[:, int(places.boxes[k, 1]) :, int(places.boxes[k, 0]) :][:, :c, :c] for k in ks], 1
            )
            parts.append(self.backbone.preprocess(crops.reshape(-1, c, c)))
            order += ks
        feats = self.backbone.encode_preprocessed(torch.cat(parts))
        located, start = [], own
        for ks in by_size.values():  # each size's crops were stacked frame by frame: (B, K_size)
            located.append(feats[start : start + batch * len(ks)].reshape(batch, len(ks), -1))
            start += batch * len(ks)
        inverse = torch.as_tensor(np.argsort(order))  # back to the places' order
        return feats[:own], torch.cat(located, dim=1)[:, inverse]


def make_locator(backbone: ClipBackbone, method: str | None = None) -> Locator:
    """The locator for ``method`` (checked by ``where_unavailable``), or the model's own."""
    method = method or choose_method(backbone)
    return CropLocator(backbone) if method == "crops" else DenseLocator(backbone)


# --------------------------------------------------------------------------- maps


@dataclass(frozen=True)
class WhereMaps:
    """One timestep's maps: each place's probability of each label, and each label's peak in sensor pixels."""

    labels: list[str]
    values: np.ndarray  # (N, K) float32; a place's values sum to 1 over the labels
    places: Places
    peaks: np.ndarray  # (N, 2) float32: (x, y) of each label's best place
    method: str  # "dense" or "crops"

    def index(self, label: str) -> int:
        return self.labels.index(label)

    def peak(self, label: str) -> tuple[int, int]:
        """The label's peak, in whole sensor pixels."""
        x, y = self.peaks[self.index(label)]
        return round(float(x)), round(float(y))

    def peak_table(self) -> dict[str, list[int]]:
        """label -> [x, y] for every label (the ``where`` of ``--json``)."""
        return {label: list(self.peak(label)) for label in self.labels}

    def image(self, label: str, cell: float | None = None) -> np.ndarray:
        """The label's map over the sensor (float32 in [0, 1], about ``cell`` sensor pixels a pixel)."""
        return self.places.raster(self.values[self.index(label)], cell)


def build_maps(
    labels: list[str], logits: torch.Tensor, places: Places, method: str, weight: np.ndarray | None = None
) -> WhereMaps:
    """(K, N) window logits of the places -> the maps: softmax over the labels at each place, times the place's
    ``weight`` (K,) (``activity_weight``); each label's peak is its best valid place."""
    values = torch.softmax(logits, dim=-1).T.contiguous().cpu().numpy().astype(np.float32)
    if weight is not None:
        values *= weight[None, :]
    masked = np.where(places.valid[None, :], values, -1.0)
    best = masked.argmax(axis=1)
    return WhereMaps(list(labels), values, places, places.centres[best].copy(), method)


def activity_weight(activity: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(T', K) places' activity over a window -> (K,) weights: its alpha-weighted mean over the busiest place's.

    ``alpha`` (T,) is aligned to the newest timestep, as for the scores. No event anywhere: all 1.
    """
    a = np.abs(alpha[-activity.shape[0] :])
    mean = (a[:, None] * activity).sum(axis=0) / max(float(a.sum()), 1e-12)
    top = float(mean.max()) if mean.size else 0.0
    return (mean / top).astype(np.float32) if top > 0 else np.ones_like(mean, dtype=np.float32)


class PlacesWindow:
    """The last T timesteps' place features (K, C) and activity (K,) of one frame size, and their locator.

    Used by one thread (the classifier's): not thread-safe.
    """

    def __init__(self, locator: Locator, T: int) -> None:
        self.locator = locator
        self._ring: deque[tuple[torch.Tensor, np.ndarray]] = deque(maxlen=T)
        self._size: tuple[int, int] | None = None

    @property
    def method(self) -> str:
        return self.locator.method

    def reset(self) -> None:
        self._ring.clear()

    def push(self, located: torch.Tensor, frame: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """Add one timestep: its (K, C) places' features and its (H, W) frame.

        Returns the window's features (K, T', C) and activity (T', K), oldest first.
        """
        height, width = frame.shape
        if self._size != (width, height):  # another sensor size: other places
            self._ring.clear()
            self._size = (width, height)
        self._ring.append((located, self.places().activity(frame)))
        feats = torch.stack([f for f, _ in self._ring], dim=1)
        return feats, np.stack([a for _, a in self._ring])

    def places(self) -> Places:
        assert self._size is not None, "push a timestep first"
        return self.locator.places(*self._size)
