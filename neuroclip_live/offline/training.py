"""The adapter's one fit loop, and few-shot training of the adapter on cached CLIP features.

``fit_adapter`` is the loop every trainer uses (``train``, the transfer with
images, ``align``, and teaching in the window): seed, a fresh adapter,
NeuroCLIP's optimiser and cosine schedule, shuffled batches, progress, a
cancel check between batches and the state reset at the end. What is learnt
is the loss passed in (as open_clip's ``train_one_epoch`` takes the loss made
apart by ``create_loss``).

The few-shot recipe follows NeuroCLIP's code: label-smoothed cross-entropy
(0.2), SGD at lr 0.01 with a cosine schedule, batch 32, the text features
fixed. The augmentations are applied to the events before framing; ``views``
augmented copies of each shot are encoded once, so an epoch costs only the
adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from neuroclip_live.errors import NeuroclipError
from neuroclip_live.model.adapter import InterTimestepAdapter
from neuroclip_live.model.classifier import window_logits
from neuroclip_live.model.threads import ADAPTER_THREADS, torch_threads
from neuroclip_live.offline.evaluation import FeatureSet

# Called after each epoch with (epochs done, epochs in all, the epoch's mean total loss).
EpochCallback = Callable[[int, int, float], None]


class FitCancelled(NeuroclipError):
    """Training was cancelled (``cancel`` set): no adapter came out of it."""


class CancelFlag(Protocol):
    """What ``fit_adapter`` asks of a cancel signal (a ``threading.Event`` is one)."""

    def is_set(self) -> bool: ...


class FitLoss(Protocol):
    """The loss of one batch: ``idx`` picks the batch's items; returns named terms with the ``"total"`` to minimise.

    ``gen`` is the loop's seeded generator, for losses that draw (image partners, say).
    """

    def __call__(
        self, adapter: InterTimestepAdapter, idx: torch.Tensor, gen: torch.Generator
    ) -> dict[str, torch.Tensor]: ...


@dataclass
class TrainConfig:
    epochs: int = 40
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 32
    label_smoothing: float = 0.2
    seed: int = 0
    threads: int = ADAPTER_THREADS  # torch threads on the CPU: the adapter's ops are too small to split


@dataclass
class FitProgress:
    """How a fit reports: a tqdm bar on the terminal, a callback per epoch (a window's progress bar), a cancel flag."""

    bar: bool = False
    desc: str = "training adapter"
    on_epoch: EpochCallback | None = None
    cancel: CancelFlag | None = None


def optimiser_for(
    adapter: InterTimestepAdapter, cfg: TrainConfig, n_train: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """NeuroCLIP's SGD with momentum and a cosine schedule over all ``cfg.epochs`` of ``n_train`` samples."""
    opt = torch.optim.SGD(adapter.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, -(-n_train // cfg.batch_size))
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)


def fit_adapter(
    dim: int,
    n_items: int,
    loss: FitLoss,
    config: TrainConfig | None = None,
    device: str | torch.device = "cpu",
    progress: FitProgress | None = None,
) -> tuple[InterTimestepAdapter, dict[str, list[float]]]:
    """Train a fresh ``dim`` adapter on ``n_items`` items with ``loss``; returns it (eval mode) and each term per epoch.

    Raises ``FitCancelled`` when ``progress.cancel`` is set (checked between batches). Safe to call
    from a background thread; the torch thread count is set for the call and restored.
    """
    cfg, prog = config or TrainConfig(), progress or FitProgress()
    if n_items < 2:
        raise ValueError(f"need at least 2 training items, got {n_items}")  # BatchNorm in training mode
    with torch_threads(cfg.threads):
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        adapter = InterTimestepAdapter(dim).to(device)
        opt, sched = optimiser_for(adapter, cfg, n_items)
        history: dict[str, list[float]] = {}
        bar = tqdm(range(cfg.epochs), desc=prog.desc, unit="epoch", disable=not prog.bar, leave=False)
        for epoch in bar:
            adapter.train()
            sums = _fit_epoch(adapter, n_items, loss, cfg, opt, sched, gen, prog.cancel)
            for k, v in sums.items():
                history.setdefault(k, []).append(v / n_items)
            bar.set_postfix(loss=f"{history['total'][-1]:.3f}")
            if prog.on_epoch is not None:
                prog.on_epoch(epoch + 1, cfg.epochs, history["total"][-1])
        adapter.eval()
        adapter.reset_state()
    return adapter, history


def _fit_epoch(
    adapter: InterTimestepAdapter,
    n_items: int,
    loss: FitLoss,
    cfg: TrainConfig,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    gen: torch.Generator,
    cancel: CancelFlag | None,
) -> dict[str, float]:
    order = torch.randperm(n_items, generator=gen)
    sums: dict[str, float] = {"total": 0.0}
    for i in range(0, n_items, cfg.batch_size):
        if cancel is not None and cancel.is_set():
            raise FitCancelled("training cancelled")
        idx = order[i : i + cfg.batch_size]
        if idx.numel() < 2:
            continue  # BatchNorm needs two samples in training mode
        terms = loss(adapter, idx, gen)
        opt.zero_grad(set_to_none=True)
        terms["total"].backward()
        opt.step()
        sched.step()
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach()) * idx.numel()
    return sums


class WindowCrossEntropy:
    """NeuroCLIP's few-shot loss: label-smoothed cross-entropy of the window score of (N, T, C) features."""

    def __init__(
        self,
        train: FeatureSet,
        text: torch.Tensor,
        logit_scale: float,
        alpha: np.ndarray,
        smoothing: float,
        device: str | torch.device = "cpu",
    ) -> None:
        self.feats = train.feats.to(device)
        self.labels = torch.as_tensor(train.labels, device=device)
        self.text = text.to(device).float()
        self.alpha = torch.as_tensor(alpha, dtype=torch.float32, device=device)
        self.logit_scale = logit_scale
        self.ce = nn.CrossEntropyLoss(label_smoothing=smoothing)

    def logits(self, adapter: InterTimestepAdapter, feats: torch.Tensor) -> torch.Tensor:
        adapted = adapter.forward_sequence(feats.transpose(0, 1)).transpose(0, 1)
        return window_logits(adapted, self.text, self.alpha, self.logit_scale)

    def __call__(
        self, adapter: InterTimestepAdapter, idx: torch.Tensor, gen: torch.Generator
    ) -> dict[str, torch.Tensor]:
        idx = idx.to(self.feats.device)
        return {"total": self.ce(self.logits(adapter, self.feats[idx]), self.labels[idx])}


def train_adapter(
    train: FeatureSet,
    text: torch.Tensor,
    logit_scale: float,
    alpha: np.ndarray,
    config: TrainConfig | None = None,
    device: str | torch.device = "cpu",
    progress: bool | FitProgress = True,
) -> tuple[InterTimestepAdapter, list[float]]:
    """Train a fresh adapter on (N, T, C) features; returns it in eval mode and the loss per epoch."""
    cfg = config or TrainConfig()
    if len(train) == 0:
        raise ValueError("no training features")
    prog = progress if isinstance(progress, FitProgress) else FitProgress(bar=bool(progress))
    loss = WindowCrossEntropy(train, text, logit_scale, alpha, cfg.label_smoothing, device)
    adapter, history = fit_adapter(train.feats.shape[-1], len(train), loss, cfg, device, prog)
    return adapter, history["total"]
