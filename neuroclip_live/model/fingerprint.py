"""What identifies a model's weights: the hash of its state, computed once per loaded module.

A feature cache (``offline.feature_cache``, ``offline.kept_features``) keys its rows by it (with
the image encoder's backend and precision), and a prediction log (``runtime.prediction_log``)
names it in its header, so that features or predictions made by other weights are never taken
for these. Hashing a large model's weights costs about a second (RN50: 100 M parameters
serialised), so the hash of a loaded module is computed once and remembered while it lives.
"""

from __future__ import annotations

import hashlib
import weakref

import torch
from safetensors.torch import save

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
