"""Tiny random-weight open_clip models and synthetic event frames shared by the model tests.

The configs in ``tests/models/`` keep every forward to a few milliseconds on
2 CPU cores: a 1-layer ViT at 32 px and a 1-block-per-stage ResNet at 64 px,
both with a 16-token text context.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import open_clip
import torch

from neuroclip_live.model.adapter import InterTimestepAdapter
from neuroclip_live.model.clip_model import ClipBackbone, create_clip

CONFIG_DIR = Path(__file__).resolve().parent / "models"
TINY_VIT = "test-tiny-vit"
TINY_RN = "test-tiny-rn"


@functools.cache
def register_tiny_configs() -> None:
    open_clip.add_model_config(CONFIG_DIR)


def tiny_model(name: str = TINY_VIT, seed: int = 0, quick_gelu: bool = False) -> torch.nn.Module:
    """A fresh open_clip model with seeded random weights, in eval mode."""
    register_tiny_configs()
    torch.manual_seed(seed)
    return open_clip.create_model(name, force_quick_gelu=quick_gelu).eval()


@functools.cache
def tiny_backbone(name: str = TINY_VIT) -> ClipBackbone:
    """A shared random-weight backbone on the CPU; tests must not change it."""
    register_tiny_configs()
    torch.manual_seed(0)
    return create_clip(name, device="cpu")


def event_frames(n: int, height: int = 34, width: int = 40, seed: int = 0, density: float = 0.2) -> np.ndarray:
    """(n, H, W) uint8 frames of 127 background with ON (255) and OFF (0) pixels."""
    rng = np.random.default_rng(seed)
    values = np.array([0, 127, 255], dtype=np.uint8)
    return rng.choice(values, size=(n, height, width), p=[density / 2, 1 - density, density / 2])


def spiking_adapter(backbone, frames: np.ndarray) -> InterTimestepAdapter:
    """A random adapter whose BatchNorm statistics fit these frames' features, so that its LIF fires."""
    torch.manual_seed(1)
    adapter = InterTimestepAdapter(backbone.embed_dim)
    feats = backbone.encode_frames(frames)
    with torch.no_grad():
        adapter.bn_in.running_mean.copy_(feats.mean(0))
        adapter.bn_in.running_var.copy_(feats.var(0))
        hidden = adapter.down(adapter.bn_in.eval()(feats))
        adapter.bn_hidden.running_mean.copy_(hidden.mean(0))
        adapter.bn_hidden.running_var.copy_(hidden.var(0))
    return adapter.eval()
