"""RGB-to-event transfer (R2ETL, Zhan et al., IEEE TIP 2024) for the few-shot adapter.

Labelled images are plentiful where labelled events are few. Each training
batch pairs every event sample with an image of the same class (encoded as
events by ``image_encoding``), runs both through the one adapter together
(shared BatchNorm statistics) and minimises

    CE(events) + CE(images) + λf · feature + λt · TCKA

- CE: NeuroCLIP's label-smoothed cross-entropy of the window score, per branch;
- feature alignment: per timestep, class prototypes (mean normalised adapted
  feature of each class in the batch) of the event branch against those of
  the image branch, ``1 − cosine`` averaged over classes and timesteps. A
  prototype rather than a per-pair loss because an image and an event sample
  of the same class are not the same object: only the classes should meet;
- TCKA: ``1 − linear CKA`` between the two branches' LIF membranes
  (T × batch × hidden), per timestep, averaged (``offline.tcka``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from neuroclip_live.model.adapter import InterTimestepAdapter
from neuroclip_live.model.classifier import window_logits
from neuroclip_live.model.threads import torch_threads
from neuroclip_live.offline.evaluation import FeatureSet
from neuroclip_live.offline.tcka import tcka_loss
from neuroclip_live.offline.training import TrainConfig, optimiser_for

# Chosen on a selection pool of N-MNIST's training split, set aside from every test set
# (benchmarks/r2etl_sweep.py --select-only; K = 4, grid {0, 1, 2}², top-1 %): (0, 1) 82.7 best,
# (0, 0) 80.7, (1, 1) 80.7, (2, 2) 78.0, (1, 0) 74.7. Feature alignment did not help there.
DEFAULT_LAMBDA_FEATURE = 0.0
DEFAULT_LAMBDA_TCKA = 1.0
LOSS_TERMS = ("ce_events", "ce_images", "feature", "tcka")


@dataclass
class TransferConfig:
    """The R2ETL weights: λf (feature alignment), λt (TCKA); the image CE has weight ``image_weight``."""

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


def train_with_images(
    train: FeatureSet,
    images: FeatureSet,
    text: torch.Tensor,
    logit_scale: float,
    alpha: np.ndarray,
    config: TrainConfig | None = None,
    transfer: TransferConfig | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[InterTimestepAdapter, dict[str, list[float]]]:
    """Train a fresh adapter on event shots with paired images; returns it (eval mode) and each term per epoch."""
    cfg, tcfg = config or TrainConfig(), transfer or TransferConfig()
    if len(train) == 0 or len(images) == 0:
        raise ValueError("transfer needs event and image features")
    with torch_threads(cfg.threads):  # small ops: one thread (model.threads)
        return _train(train, images, text, logit_scale, alpha, cfg, tcfg, device, progress)


def _train(
    train: FeatureSet,
    images: FeatureSet,
    text: torch.Tensor,
    logit_scale: float,
    alpha: np.ndarray,
    cfg: TrainConfig,
    tcfg: TransferConfig,
    device: str | torch.device,
    progress: bool,
) -> tuple[InterTimestepAdapter, dict[str, list[float]]]:
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    adapter = InterTimestepAdapter(train.feats.shape[-1]).to(device)
    feats, img_feats = train.feats.to(device), images.feats.to(device)
    labels = torch.as_tensor(train.labels, device=device)
    w = text.to(device).float()
    a = torch.as_tensor(alpha, dtype=torch.float32, device=device)
    opt, sched = optimiser_for(adapter, cfg, len(train))
    ce = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    weights = {"ce_events": 1.0, "ce_images": tcfg.image_weight, "feature": tcfg.lambda_feature,
               "tcka": tcfg.lambda_tcka}
    history: dict[str, list[float]] = {k: [] for k in (*LOSS_TERMS, "total")}
    bar = tqdm(range(cfg.epochs), desc="training adapter with images", unit="epoch", disable=not progress, leave=False)
    for _ in bar:
        adapter.train()
        order = torch.randperm(len(train), generator=gen)
        partners = _image_partners(train.labels[order.numpy()], images.labels, gen).to(device)
        sums = dict.fromkeys(history, 0.0)
        for i in range(0, len(train), cfg.batch_size):
            idx = order[i : i + cfg.batch_size].to(device)
            if idx.numel() < 2:
                continue  # BatchNorm needs two samples in training mode
            terms = transfer_losses(adapter, feats[idx], img_feats[partners[i : i + cfg.batch_size]], labels[idx],
                                    w, a, logit_scale, ce)
            loss = sum(weights[k] * v for k, v in terms.items())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            for k, v in (*terms.items(), ("total", loss)):
                sums[k] += float(v.detach()) * idx.numel()
        for k in history:
            history[k].append(sums[k] / len(train))
        bar.set_postfix(loss=f"{history['total'][-1]:.3f}")
    adapter.eval()
    adapter.reset_state()
    return adapter, history
