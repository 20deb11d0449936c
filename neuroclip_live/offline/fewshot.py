"""The few-shot recipe shared by ``train`` and ``evaluate``: the text side, shots, the adapter, alpha.

The protocol is the honest one: shots and every tuning choice (alpha) come
from the training split, drawn by seeded per-class draws that do not depend on
how or where the features were computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from neuroclip_live import defaults
from neuroclip_live.errors import DataError
from neuroclip_live.model.settings import ModelSettings
from neuroclip_live.offline.datasets import take_per_class
from neuroclip_live.wording import counted

if TYPE_CHECKING:
    from neuroclip_live.offline.extractors import FeatureSource


@dataclass(frozen=True)
class FewShotSettings:
    """How samples become features and how the adapter is trained."""

    T: int = defaults.T
    cut: str = "count"  # "count": T equal event counts (the paper's N-MNIST setting); "time": T equal times
    seed: int = 0
    batch_size: int = 256
    epochs: int = 40
    views: int = 8  # augmented copies of each shot, encoded once
    flip: bool = True
    progress: bool = True
    threads: int | None = None  # torch threads for adapter training; None: 1 (model.threads)
    images: str | None = None  # IMG_ROOT of labelled images: RGB-to-event transfer (offline/transfer.py)
    lambda_feature: float | None = None  # None: the transfer module's defaults
    lambda_tcka: float | None = None


@dataclass
class TextModel:
    """A loaded CLIP with the text features of the class prompts."""

    backbone: Any  # model.clip_model.ClipBackbone
    classes: list[str]
    templates: tuple[str, ...]
    text: Any  # torch.Tensor, classes x embed


@dataclass
class FewShotResult:
    adapter: Any
    history: list[float]
    alpha_name: str
    alpha: np.ndarray
    val_scores: dict[str, float] = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # shots or validation samples left out
    transfer: dict | None = None  # AdapterInfo.transfer when images were used


def load_text_model(
    model: ModelSettings, folders: list[str], default_classes: list[str], labels: str | None
) -> TextModel:
    """The backbone and the class prompts' text features; ``labels`` renames the class folders in order."""
    from neuroclip_live.model.clip_model import load_clip
    from neuroclip_live.model.prompts import (
        parse_labels_with_notes,
        resolve_templates,
        text_features,
    )

    classes = default_classes
    if labels:
        classes = parse_labels_with_notes(labels).labels
        if len(classes) != len(folders):
            given, folder_count = counted(len(classes), "name"), counted(len(folders), "class folder")
            raise DataError(f"--labels gives {given} for {folder_count} ({', '.join(folders)})")
    backbone = load_clip(model.name, model.weights, model.device, threads=model.threads)
    templates = resolve_templates(model.templates)
    text = text_features(backbone, classes, templates, ensemble=model.ensemble)
    return TextModel(backbone, classes, templates, text)


def split_validation(rest: list, n_classes: int, per_class: int, seed: int) -> tuple[list, list]:
    """Take ``per_class`` validation samples a class from ``rest`` (seeded); returns (val, remaining)."""
    return take_per_class(rest, n_classes, per_class, np.random.default_rng(seed + 1))


def limit_per_class(samples: list, n_classes: int, per_class: int | None) -> list:
    """At most ``per_class`` samples of each class, in their order (quick looks)."""
    if per_class is None:
        return samples
    out = []
    for c in range(n_classes):
        out += [s for s in samples if s.label == c][:per_class]
    return out


def _train_with_images(tm: TextModel, train_fs: Any, shots: list, folders: list[str], s: FewShotSettings, cfg: Any):
    """R2ETL: read and encode the labelled images at the shots' sensor size, then train jointly."""
    from neuroclip_live.offline.datasets import read_sample_events
    from neuroclip_live.offline.image_encoding import encode_images, load_image_folder
    from neuroclip_live.offline.transfer import TransferConfig, train_with_images

    tcfg = TransferConfig()
    tcfg = TransferConfig(tcfg.lambda_feature if s.lambda_feature is None else s.lambda_feature,
                          tcfg.lambda_tcka if s.lambda_tcka is None else s.lambda_tcka)
    images = load_image_folder(s.images, folders, tm.classes)
    size = read_sample_events(shots[0].path)[1]
    image_fs = encode_images(tm.backbone, images, size, s.T, tcfg.encoding, views=2, seed=s.seed,
                             batch_size=s.batch_size)
    bb = tm.backbone
    uniform = np.full(s.T, 1.0 / s.T)
    adapter, terms = train_with_images(train_fs, image_fs, tm.text, bb.logit_scale, uniform, cfg, tcfg, bb.device,
                                       s.progress)
    return adapter, terms["total"], tcfg.metadata(len(images))


def train_fewshot(
    tm: TextModel,
    shots: list,
    val: list,
    s: FewShotSettings,
    features: FeatureSource | None = None,
    folders: list[str] | None = None,
) -> FewShotResult:
    """Encode the shots (augmented views, once), train the adapter (with images when asked), choose alpha on ``val``.

    ``features`` computes the rows (default: this process; a cache or a Ray cluster give the same);
    ``folders``: the event class folders, which image folders are matched against (needed with images).
    """
    from neuroclip_live.model.threads import ADAPTER_THREADS
    from neuroclip_live.offline.evaluation import choose_alpha
    from neuroclip_live.offline.extractors import LocalExtractor
    from neuroclip_live.offline.training import TrainConfig, train_adapter

    bb = tm.backbone
    features = features or LocalExtractor(bb, s.T, s.cut, s.batch_size, s.progress)
    train_fs = features.extract(shots, views=s.views, augment=True, flip=s.flip, seed=s.seed, desc="encoding shots")
    uniform = np.full(s.T, 1.0 / s.T)
    cfg = TrainConfig(epochs=s.epochs, seed=s.seed, threads=s.threads or ADAPTER_THREADS)
    transfer = None
    if s.images:
        adapter, history, transfer = _train_with_images(tm, train_fs, shots, folders or tm.classes, s, cfg)
    else:
        adapter, history = train_adapter(train_fs, tm.text, bb.logit_scale, uniform, cfg, bb.device, s.progress)
    result = FewShotResult(adapter, history, "uniform", uniform, unreadable=list(train_fs.unreadable),
                           transfer=transfer)
    if val:
        val_fs = features.extract(val, desc="encoding validation")
        result.unreadable += val_fs.unreadable
        result.alpha_name, result.alpha, result.val_scores = choose_alpha(
            val_fs, tm.text, bb.logit_scale, s.T, adapter
        )
    return result
