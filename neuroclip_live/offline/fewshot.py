"""The few-shot recipe shared by ``train`` and ``evaluate``: the text side, shots, the adapter, alpha.

The protocol is the honest one: shots and every tuning choice (alpha) come
from the training split, drawn by seeded per-class draws that do not depend on
how or where the features were computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuroclip_live import defaults
from neuroclip_live.errors import DataError
from neuroclip_live.model.settings import ModelSettings
from neuroclip_live.offline.datasets import MEMORY_ROOT, LabelledEvents, take_per_class
from neuroclip_live.wording import counted

if TYPE_CHECKING:
    from neuroclip_live.events import SensorSize
    from neuroclip_live.offline.extractors import FeatureSource
    from neuroclip_live.offline.training import FitProgress


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
    image_weight: float | None = None  # None: chosen on the validation samples (transfer.IMAGE_WEIGHTS)
    jitter: bool = False  # scale and place the shots' events at random too (augment.Augmentation)
    centre: bool = False  # frames cropped around their events (model.centring): the adapter then runs centred

    @property
    def framing(self) -> str:
        """How a sample becomes frames: the cut, "+centred" when centred (the extractors' and the adapter's)."""
        from neuroclip_live.model.centring import with_centring

        return with_centring(self.cut, self.centre)


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
    from neuroclip_live.model.clip_model import load_for
    from neuroclip_live.model.prompts import parse_labels_with_notes

    classes = default_classes
    if labels:
        classes = parse_labels_with_notes(labels).labels
        if len(classes) != len(folders):
            given, folder_count = counted(len(classes), "name"), counted(len(folders), "class folder")
            raise DataError(f"--labels gives {given} for {folder_count} ({', '.join(folders)})")
    return text_model(load_for(model), classes, model.templates, model.ensemble)


def text_model(backbone: Any, classes: list[str], templates: str | None, ensemble: bool = True) -> TextModel:
    """The class prompts' text features on a loaded backbone (``templates``: a set's name, a template, None)."""
    from neuroclip_live.model.prompts import resolve_templates, text_features

    resolved = resolve_templates(templates)
    return TextModel(backbone, classes, resolved, text_features(backbone, classes, resolved, ensemble=ensemble))


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


def _transfer_settings(s: FewShotSettings) -> Any:
    from neuroclip_live.offline.transfer import TransferConfig

    d = TransferConfig()
    return TransferConfig(
        d.lambda_feature if s.lambda_feature is None else s.lambda_feature,
        d.lambda_tcka if s.lambda_tcka is None else s.lambda_tcka,
    )


def _train_with_images(
    tm: TextModel,
    train_fs: Any,
    val_fs: Any,
    folders: list[str],
    size: SensorSize,
    s: FewShotSettings,
    cfg: Any,
    progress: Any,
) -> FewShotResult:
    """R2ETL: encode the labelled images at the shots' sensor size; train with the image weight chosen on ``val_fs``."""
    from dataclasses import replace

    from neuroclip_live.offline.image_encoding import encode_images, load_image_folder
    from neuroclip_live.offline.transfer import IMAGE_WEIGHTS, choose_image_weight

    tcfg = _transfer_settings(s)
    images = load_image_folder(s.images, folders, tm.classes)
    bb = tm.backbone
    image_fs = encode_images(
        bb, images, size, s.T, tcfg.encoding, views=2, seed=s.seed, batch_size=s.batch_size, centred=s.centre
    )
    if s.image_weight is None and len(val_fs) == 0:
        raise DataError(
            "--images chooses the image weight on validation samples: use --val-per-class 1 or more, "
            "or give --image-weight"
        )
    weights = IMAGE_WEIGHTS if s.image_weight is None else (s.image_weight,)
    choice = choose_image_weight(
        train_fs, image_fs, val_fs, tm.text, bb.logit_scale, cfg, tcfg, weights, bb.device, progress
    )
    transfer = replace(tcfg, image_weight=choice.weight).metadata(len(images))
    # What the weight was chosen from: validation top-1 with each weight (one entry when --image-weight fixed it).
    transfer["image_weight_validation"] = {
        f"{w:g}": {"top1": f.top1, "nll": round(f.nll, 4)} for w, f in choice.figures.items()
    }
    transfer["validation_samples"] = len(val_fs)
    return FewShotResult(
        choice.adapter, choice.history, choice.alpha_name, choice.alpha, choice.val_scores, transfer=transfer
    )


def train_fewshot(
    tm: TextModel,
    shots: list,
    val: list,
    s: FewShotSettings,
    features: FeatureSource | None = None,
    folders: list[str] | None = None,
    sensor: SensorSize | None = None,
    progress: FitProgress | None = None,
) -> FewShotResult:
    """Encode the shots (augmented views, once), train the adapter (with images when asked), choose alpha on ``val``.

    ``features`` computes the rows (default: this process; a cache or a Ray cluster give the same);
    ``folders``: the event class folders, which image folders are matched against (needed with images);
    ``sensor``: the shots' sensor size (default: read from the first shot's file); ``progress``: how the
    fit reports and whether it was cancelled (default: a bar when ``s.progress``).
    """
    from neuroclip_live.model.threads import ADAPTER_THREADS
    from neuroclip_live.offline.augment import Augmentation
    from neuroclip_live.offline.datasets import read_sample_events
    from neuroclip_live.offline.evaluation import choose_alpha
    from neuroclip_live.offline.extractors import LocalExtractor
    from neuroclip_live.offline.training import FitProgress, TrainConfig, train_adapter

    bb = tm.backbone
    features = features or LocalExtractor(bb, s.T, s.framing, s.batch_size, s.progress)
    progress = progress or FitProgress(bar=s.progress)
    augment = Augmentation(flip=s.flip, jitter=s.jitter)
    train_fs = features.extract(shots, views=s.views, augment=augment, seed=s.seed, desc="encoding shots")
    val_fs = features.extract(val, desc="encoding validation") if val else train_fs.empty()
    cfg = TrainConfig(epochs=s.epochs, seed=s.seed, threads=s.threads or ADAPTER_THREADS)
    if s.images:
        size = sensor or read_sample_events(shots[0].path)[1]
        result = _train_with_images(tm, train_fs, val_fs, folders or tm.classes, size, s, cfg, progress)
    else:
        uniform = np.full(s.T, 1.0 / s.T)
        adapter, history = train_adapter(train_fs, tm.text, bb.logit_scale, uniform, cfg, bb.device, progress)
        result = FewShotResult(adapter, history, "uniform", uniform)
        if len(val_fs):
            result.alpha_name, result.alpha, result.val_scores = choose_alpha(
                val_fs, tm.text, bb.logit_scale, s.T, adapter
            )
    result.unreadable = list(train_fs.unreadable) + list(val_fs.unreadable)
    return result


@dataclass
class TrainedAdapter:
    """An adapter trained by the recipe, what its file records (``AdapterInfo``), and the samples it used."""

    adapter: Any  # model.adapter.InterTimestepAdapter
    info: Any  # model.adapter.AdapterInfo
    fit: FewShotResult
    shots: list
    val: list
    notes: list[str] = field(default_factory=list)  # what the user should know (classes the model reads alike)


# Above this cosine two classes' text features are one direction for the adapter, whose window score is
# against the fixed text: tiny-digits reads "bravo" and "charlie" at 0.996 (words it never learnt).
ALIKE_COSINE = 0.99


def classes_read_alike(text: Any, classes: list[str], threshold: float = ALIKE_COSINE) -> list[str]:
    """One note for each pair of classes whose text features are nearly the same (the adapter cannot part them)."""
    sims = (text @ text.T).cpu().numpy()
    notes = []
    for i in range(len(classes)):
        for j in range(i + 1, len(classes)):
            if sims[i, j] >= threshold:
                notes.append(
                    f"classes '{classes[i]}' and '{classes[j]}' read alike to this model (text cosine "
                    f"{sims[i, j]:.3f}): the adapter cannot tell them apart; rename one"
                )
    return notes


def training_record(
    data: LabelledEvents, shots: list, val: list, seed: int, shots_per_class: int, val_per_class: int
) -> dict:
    """``AdapterInfo.data``: the split and every shot and validation sample (path in the split, size in bytes)."""
    import hashlib
    import json

    base = data.root / data.split
    samples = []
    for s in [*shots, *val]:
        path = Path(s.path)
        size = path.stat().st_size if path.is_file() else None  # None: an example held in memory
        samples.append([path.relative_to(base).as_posix(), size])
    digest = hashlib.sha1(json.dumps(samples).encode()).hexdigest()
    root = str(data.root) if data.root == MEMORY_ROOT else str(data.root.resolve())
    return {
        "root": root,
        "split": data.split,
        "seed": seed,
        "shots": shots_per_class,
        "val_per_class": val_per_class,
        "samples": samples,
        "sha1": digest,
    }


def train_on_split(
    data: LabelledEvents,
    tm: TextModel,
    s: FewShotSettings,
    shots_per_class: int,
    val_per_class: int,
    features: FeatureSource | None = None,
    sensor: SensorSize | None = None,
    progress: FitProgress | None = None,
) -> TrainedAdapter:
    """``train``'s recipe: K shots a class and validation samples drawn from ``data`` (seeded), the adapter, its info.

    ``data`` is a split read from disk or an ``ExampleSet.as_split()`` (with its ``read`` in ``features``);
    fewer than 2 classes, or a class without examples, is a DataError.
    """
    from neuroclip_live.model.adapter import AdapterInfo
    from neuroclip_live.offline.datasets import check_trainable, pick_shots

    check_trainable(data)
    shots, rest = pick_shots(data, shots_per_class, s.seed)
    val, _ = split_validation(rest, len(data.folders), val_per_class, s.seed)
    fit = train_fewshot(tm, shots, val, s, features, data.folders, sensor, progress)
    bb = tm.backbone
    info = AdapterInfo(
        backbone=bb.name,
        embed_dim=bb.embed_dim,
        classes=tm.classes,
        templates=list(tm.templates),
        T=s.T,
        timestep=f"sample:{s.framing}",
        alpha=[float(a) for a in fit.alpha],
        transfer=fit.transfer,
        data=training_record(data, shots, val, s.seed, shots_per_class, val_per_class),
    )
    return TrainedAdapter(fit.adapter, info, fit, shots, val, classes_read_alike(tm.text, tm.classes))
