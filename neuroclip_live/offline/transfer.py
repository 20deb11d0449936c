"""RGB-to-event transfer (R2ETL, Zhan et al., IEEE TIP 2024) for the few-shot adapter.

Labelled images are plentiful where labelled events are few. Each training
batch pairs every event sample with an image of the same class (encoded as
events by ``image_encoding``), runs both through the one adapter together
(shared BatchNorm statistics) and minimises

    CE(events) + w · (CE(images) + λf · feature + λt · TCKA)

- CE: NeuroCLIP's label-smoothed cross-entropy of the window score, per branch;
- feature alignment: per timestep, class prototypes (mean normalised adapted
  feature of each class in the batch) of the event branch against those of
  the image branch, ``1 − cosine`` averaged over classes and timesteps. A
  prototype rather than a per-pair loss because an image and an event sample
  of the same class are not the same object: only the classes should meet;
- TCKA: ``1 − linear CKA`` between the two branches' LIF membranes
  (T × batch × hidden), per timestep, averaged (``offline.tcka``);
- w, the weight of everything the images bring, is chosen for each run on the
  validation samples of the training split from ``IMAGE_WEIGHTS`` (0, the
  adapter alone, included; ties go to the smaller weight): rendered images
  helped N-MNIST at 1-2 shots a class and cost 1-6 points from 4 on with w = 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neuroclip_live.model.adapter import InterTimestepAdapter
from neuroclip_live.model.classifier import window_logits
from neuroclip_live.offline.evaluation import FeatureSet, choose_alpha, predict
from neuroclip_live.offline.tcka import tcka_loss
from neuroclip_live.offline.training import (
    FitProgress,
    TrainConfig,
    WindowCrossEntropy,
    fit_adapter,
    train_adapter,
)
from neuroclip_live.offline.transfer_defaults import (
    DEFAULT_LAMBDA_FEATURE,
    DEFAULT_LAMBDA_TCKA,
    IMAGE_MARGIN,
    IMAGE_WEIGHTS,
)

LOSS_TERMS = ("ce_events", "ce_images", "feature", "tcka")


@dataclass
class TransferConfig:
    """The R2ETL weights: λf (feature alignment), λt (TCKA), and ``image_weight`` (w) on the whole image part."""

    lambda_feature: float = DEFAULT_LAMBDA_FEATURE
    lambda_tcka: float = DEFAULT_LAMBDA_TCKA
    image_weight: float = 1.0
    encoding: str = "saccade"

    def __post_init__(self) -> None:
        for name in ("lambda_feature", "lambda_tcka", "image_weight"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0 or value > 100:
                raise ValueError(f"{name} must be between 0 and 100, got {value}")

    def metadata(self, n_images: int) -> dict:
        """What an adapter file records of the transfer (``AdapterInfo.transfer``)."""
        return {"mode": "images", "images": int(n_images), **asdict(self)}


def prototype_loss(event_out: torch.Tensor, image_out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``1 − cos`` between per-class mean features of two (T, B, C) branches whose rows share ``labels``."""
    present = labels.unique()
    onehot = (labels[:, None] == present[None, :]).to(event_out.dtype)  # (B, K')
    onehot = onehot / onehot.sum(0, keepdim=True)
    proto_e = torch.einsum("tbc,bk->tkc", F.normalize(event_out, dim=-1), onehot)
    proto_i = torch.einsum("tbc,bk->tkc", F.normalize(image_out, dim=-1), onehot)
    return (1.0 - F.cosine_similarity(proto_e, proto_i, dim=-1)).mean()


def _image_partners(labels: np.ndarray, image_labels: np.ndarray, gen: torch.Generator) -> torch.Tensor:
    """For each event label, a random image index of the same class."""
    picks = np.empty(labels.shape[0], dtype=np.int64)
    for c in np.unique(labels):
        pool = np.flatnonzero(image_labels == c)
        if pool.size == 0:
            raise ValueError(f"no image of class {c}")
        rows = np.flatnonzero(labels == c)
        picks[rows] = pool[torch.randint(pool.size, (rows.size,), generator=gen).numpy()]
    return torch.as_tensor(picks)


def transfer_losses(
    adapter: InterTimestepAdapter,
    events: torch.Tensor,
    images: torch.Tensor,
    labels: torch.Tensor,
    text: torch.Tensor,
    alpha: torch.Tensor,
    logit_scale: float,
    ce: nn.Module,
) -> dict[str, torch.Tensor]:
    """The four loss terms for paired (B, T, C) event and image features of the same ``labels``."""
    b = events.shape[0]
    out, mem = adapter.sequence_with_states(torch.cat([events, images]).transpose(0, 1))
    out_e, out_i = out[:, :b], out[:, b:]
    return {
        "ce_events": ce(window_logits(out_e.transpose(0, 1), text, alpha, logit_scale), labels),
        "ce_images": ce(window_logits(out_i.transpose(0, 1), text, alpha, logit_scale), labels),
        "feature": prototype_loss(out_e, out_i, labels),
        "tcka": tcka_loss(mem[:, :b], mem[:, b:]),
    }


class TransferLoss(WindowCrossEntropy):
    """``CE(events) + w · (CE(images) + λf · feature + λt · TCKA)``, each shot of a batch with an image partner."""

    def __init__(
        self,
        train: FeatureSet,
        images: FeatureSet,
        text: torch.Tensor,
        logit_scale: float,
        alpha: np.ndarray,
        smoothing: float,
        transfer: TransferConfig,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(train, text, logit_scale, alpha, smoothing, device)
        self.np_labels = np.asarray(train.labels)
        self.image_feats, self.image_labels = images.feats.to(device), np.asarray(images.labels)
        t = transfer
        self.weights = {
            "ce_events": 1.0,
            "ce_images": t.image_weight,
            "feature": t.image_weight * t.lambda_feature,
            "tcka": t.image_weight * t.lambda_tcka,
        }

    def __call__(
        self, adapter: InterTimestepAdapter, idx: torch.Tensor, gen: torch.Generator
    ) -> dict[str, torch.Tensor]:
        partners = _image_partners(self.np_labels[idx.numpy()], self.image_labels, gen).to(self.feats.device)
        idx = idx.to(self.feats.device)
        terms = transfer_losses(
            adapter,
            self.feats[idx],
            self.image_feats[partners],
            self.labels[idx],
            self.text,
            self.alpha,
            self.logit_scale,
            self.ce,
        )
        terms["total"] = sum(self.weights[k] * v for k, v in terms.items())  # type: ignore[assignment]
        return terms


def train_with_images(
    train: FeatureSet,
    images: FeatureSet,
    text: torch.Tensor,
    logit_scale: float,
    alpha: np.ndarray,
    config: TrainConfig | None = None,
    transfer: TransferConfig | None = None,
    device: str | torch.device = "cpu",
    progress: bool | FitProgress = True,
) -> tuple[InterTimestepAdapter, dict[str, list[float]]]:
    """Train a fresh adapter on event shots with paired images; returns it (eval mode) and each term per epoch."""
    cfg, tcfg = config or TrainConfig(), transfer or TransferConfig()
    if len(train) == 0 or len(images) == 0:
        raise ValueError("transfer needs event and image features")
    if isinstance(progress, FitProgress):
        prog = progress
    else:
        prog = FitProgress(bool(progress), "training adapter with images")
    loss = TransferLoss(train, images, text, logit_scale, alpha, cfg.label_smoothing, tcfg, device)
    return fit_adapter(train.feats.shape[-1], len(train), loss, cfg, device, prog)


@dataclass(frozen=True)
class ValidationFigures:
    """How one candidate adapter does on the validation samples: top-1 (with its best alpha) and cross-entropy."""

    top1: float
    nll: float  # mean −log p(true class), with the same alpha
    n: int  # validation samples

    @property
    def correct(self) -> int:
        return round(self.top1 * self.n)


def pick_image_weight(figures: dict[float, ValidationFigures], margin: int = IMAGE_MARGIN) -> float:
    """The image weight to keep: 0 (no images) unless a weight gets ``margin`` more validation samples right than
    0 and has the lower cross-entropy; among those, the best top-1, then the lower cross-entropy.

    The margin, because 50 validation samples are few: on N-MNIST, keeping the best top-1 (ties to 0)
    let in images that cost 4 points on average at 16 shots a class on the selection pool kept apart
    from every test; of four rules compared there this one alone never cost (benchmarks/r2etl_sweep.py,
    README).
    """
    base = figures.get(0.0)
    if base is None:
        return min(figures)  # one weight given (--image-weight): nothing to choose
    better = [w for w, f in figures.items() if w > 0 and f.correct >= base.correct + margin and f.nll < base.nll]
    if not better:
        return 0.0
    return min(better, key=lambda w: (-figures[w].top1, figures[w].nll, w))


@dataclass
class ImageWeightChoice:
    """The adapter of the image weight kept (``pick_image_weight``), and how every weight did on validation."""

    weight: float
    adapter: InterTimestepAdapter
    history: list[float]  # total loss per epoch of the chosen run
    alpha_name: str
    alpha: np.ndarray
    val_scores: dict[str, float]  # the chosen run's validation top-1 per alpha
    figures: dict[float, ValidationFigures]  # every weight's validation top-1 and cross-entropy
    candidates: dict[float, tuple[InterTimestepAdapter, np.ndarray]]  # every weight's adapter and alpha


def validation_figures(
    val: FeatureSet, text: torch.Tensor, logit_scale: float, alpha: np.ndarray, adapter: InterTimestepAdapter
) -> ValidationFigures:
    probs = predict(val, text, logit_scale, alpha, adapter)
    true = probs[np.arange(len(val)), val.labels]
    nll = float(-np.log(np.clip(true, 1e-12, None)).mean())
    return ValidationFigures(float((probs.argmax(1) == val.labels).mean()), nll, len(val))


def choose_image_weight(
    train: FeatureSet,
    images: FeatureSet,
    val: FeatureSet,
    text: torch.Tensor,
    logit_scale: float,
    config: TrainConfig,
    transfer: TransferConfig,
    weights: tuple[float, ...] = IMAGE_WEIGHTS,
    device: str | torch.device = "cpu",
    progress: FitProgress | None = None,
) -> ImageWeightChoice:
    """Train one adapter per image weight (0: no images), alpha chosen on ``val`` for each; keep one by
    ``pick_image_weight`` on ``val``."""
    if len(val) == 0:
        raise ValueError("choosing the image weight needs validation samples")
    prog = progress or FitProgress()
    T = train.feats.shape[1]
    uniform = np.full(T, 1.0 / T)
    runs = {}
    for i, w in enumerate(sorted(weights)):
        step = _candidate_progress(prog, i, len(weights), w)
        if w == 0:
            adapter, history = train_adapter(train, text, logit_scale, uniform, config, device, step)
        else:
            tcfg = TransferConfig(transfer.lambda_feature, transfer.lambda_tcka, w, transfer.encoding)
            adapter, terms = train_with_images(train, images, text, logit_scale, uniform, config, tcfg, device, step)
            history = terms["total"]
        name, alpha, val_scores = choose_alpha(val, text, logit_scale, T, adapter)
        runs[w] = (
            adapter,
            history,
            name,
            alpha,
            val_scores,
            validation_figures(val, text, logit_scale, alpha, adapter),
        )
    figures = {w: run[5] for w, run in runs.items()}
    best = pick_image_weight(figures)
    adapter, history, name, alpha, val_scores, _ = runs[best]
    candidates = {w: (run[0], run[3]) for w, run in runs.items()}
    return ImageWeightChoice(best, adapter, history, name, alpha, val_scores, figures, candidates)


def _candidate_progress(prog: FitProgress, i: int, n: int, weight: float) -> FitProgress:
    """The fit of candidate ``i`` of ``n`` reported as part of the whole choice (one bar, one callback)."""
    on_epoch = prog.on_epoch

    def report(done: int, epochs: int, loss: float) -> None:
        if on_epoch is not None:
            on_epoch(i * epochs + done, n * epochs, loss)

    desc = f"{prog.desc} (image weight {weight:g}, {i + 1}/{n})"
    return FitProgress(prog.bar, desc, report, prog.cancel)
