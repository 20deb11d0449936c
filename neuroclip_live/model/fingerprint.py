"""What identifies a model's numbers: the hash of its weights, where its image encoder runs, and in what precision.

A feature cache (``offline.feature_cache``, ``offline.kept_features``) keys its rows by these,
and a prediction log (``runtime.prediction_log``) names them in its header, so that features
or predictions made by other weights are never taken for these. Hashing a large model's
weights costs about a second (RN50: 100 M parameters serialised), so the hash of a loaded
module is computed once and remembered for as long as the module lives.
"""

from __future__ import annotations

import hashlib
import weakref
from typing import TYPE_CHECKING

import torch
from safetensors.torch import save

if TYPE_CHECKING:
    from neuroclip_live.model.clip_model import ClipBackbone

PRECISION_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}

_HASHES: weakref.WeakKeyDictionary[torch.nn.Module, str] = weakref.WeakKeyDictionary()


def state_bytes(module: torch.nn.Module) -> bytes:
    """A module's state as safetensors bytes: hashed for a key, shipped to Ray workers as is."""
    return save({k: v.detach().contiguous() for k, v in module.state_dict().items()})


def module_sha256(module: torch.nn.Module, data: bytes | None = None) -> str:
    """The SHA-256 of ``state_bytes(module)`` (given as ``data`` when already made), remembered per module.

    Weights are never changed in place after loading here (an adapter being trained is not hashed
    until it is saved and loaded), so the remembered hash stays true.
    """
    known = _HASHES.get(module)
    if known is None:
        known = hashlib.sha256(state_bytes(module) if data is None else data).hexdigest()
        _HASHES[module] = known
    return known


def encoder_backend(backbone: ClipBackbone) -> str:
    """Where the image encoder runs ("torch" until another backend is chosen)."""
    return "torch"


def encoder_precision(backbone: ClipBackbone) -> str:
    """The precision the image encoder computes in: fp32 rows are not fp16 or bf16 rows."""
    return PRECISION_NAMES.get(backbone.dtype, str(backbone.dtype))
