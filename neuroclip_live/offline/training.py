"""Few-shot training of the inter-timestep adapter on cached CLIP features.

The recipe follows NeuroCLIP's code: label-smoothed cross-entropy (0.2), SGD
at lr 0.01 with a cosine schedule, batch 32, the text features fixed. The
augmentations (rotation, flip, shear) are applied to the events before
framing; ``views`` augmented copies of each shot are encoded once, so an
epoch costs only the adapter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from neuroclip_live.model.adapter import InterTimestepAdapter
from neuroclip_live.model.classifier import window_logits
from neuroclip_live.model.threads import ADAPTER_THREADS, torch_threads
from neuroclip_live.offline.evaluation import FeatureSet


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


def optimiser_for(
    adapter: InterTimestepAdapter, cfg: TrainConfig, n_train: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """NeuroCLIP's SGD with momentum and a cosine schedule over all ``cfg.epochs`` of ``n_train`` samples."""
    opt = torch.optim.SGD(adapter.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, -(-n_train // cfg.batch_size))
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)


def train_adapter(
    train: FeatureSet,
    text: torch.Tensor,
    logit_scale: float,
    alpha: np.ndarray,
    config: TrainConfig | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[InterTimestepAdapter, list[float]]:
    """Train a fresh adapter on (N, T, C) features; returns it in eval mode and the loss per epoch."""
    cfg = config or TrainConfig()
    if len(train) == 0:
        raise ValueError("no training features")
    with torch_threads(cfg.threads):
        return _train(train, text, logit_scale, alpha, cfg, device, progress)


def _train(
    train: FeatureSet,
    text: torch.Tensor,
    logit_scale: float,
    alpha: np.ndarray,
    cfg: TrainConfig,
    device: str | torch.device,
    progress: bool,
) -> tuple[InterTimestepAdapter, list[float]]:
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    dim = train.feats.shape[-1]
    adapter = InterTimestepAdapter(dim).to(device)
    feats = train.feats.to(device)
    labels = torch.as_tensor(train.labels, device=device)
    w = text.to(device).float()
    a = torch.as_tensor(alpha, dtype=torch.float32, device=device)
    opt, sched = optimiser_for(adapter, cfg, len(train))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    history: list[float] = []
    bar = tqdm(range(cfg.epochs), desc="training adapter", unit="epoch", disable=not progress, leave=False)
    for _ in bar:
        adapter.train()
        order = torch.randperm(len(train), generator=gen).to(device)
        total = 0.0
        for i in range(0, len(train), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            if idx.numel() < 2:
                continue  # BatchNorm needs two samples in training mode
            adapted = adapter.forward_sequence(feats[idx].transpose(0, 1)).transpose(0, 1)
            loss = loss_fn(window_logits(adapted, w, a, logit_scale), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * idx.numel()
        history.append(total / len(train))
        bar.set_postfix(loss=f"{history[-1]:.3f}")
    adapter.eval()
    adapter.reset_state()
    return adapter, history
