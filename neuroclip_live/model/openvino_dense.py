"""The dense twin of an image encoder (``model.dense_towers``), on the same backend: torch or OpenVINO.

With the relevance maps on, a step encodes its frames once with ``DenseTower``, which gives the
frames' own features and their places' together. On OpenVINO the tower is converted as the image
encoder is (``openvino_encoder.compile_module``), once per weights, and kept in the same cache under
``<model>+dense``; it is compiled at the precision the image encoder runs at, so a map's step scores
as the plain step does. Made when the maps are first asked for, not at start-up: the conversion
costs what the image encoder's did, and most runs never ask.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from neuroclip_live.model.dense_towers import DenseTower
from neuroclip_live.model.openvino_encoder import ConversionFailed, EncoderSpec, compile_module

Dense = tuple[torch.Tensor, torch.Tensor]  # (B, C) features and (B, K, C) places' features, normalised


class TorchDenseEncoder:
    """``DenseTower`` on the model's own device and precision."""

    def __init__(self, visual: torch.nn.Module) -> None:
        self.tower = DenseTower(visual).eval()

    def __call__(self, x: torch.Tensor) -> Dense:
        pooled, dense = self.tower(x)
        return pooled.float(), dense.float()


class OpenVinoDenseEncoder:
    """The compiled ``DenseTower``: preprocessed (B, 3, S, S) float32 batches, any B."""

    def __init__(self, compiled: object) -> None:
        self.compiled = compiled

    def __call__(self, x: torch.Tensor) -> Dense:
        batch = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        out = self.compiled(batch)  # type: ignore[operator]
        pooled, dense = (torch.from_numpy(np.asarray(out[i], dtype=np.float32)) for i in range(2))
        return F.normalize(pooled, dim=-1), F.normalize(dense, dim=-1)


def load_openvino_dense(
    visual: torch.nn.Module, spec: EncoderSpec, precision: str, threads: int, cache_root: str | os.PathLike | None
) -> OpenVinoDenseEncoder:
    """``DenseTower(visual)`` converted (or read from the cache) and compiled; ``ConversionFailed`` if it cannot be."""
    _, compiled, _, _ = compile_module(DenseTower(visual).eval(), spec, precision, threads, cache_root, "dense")
    shapes = [compiled.output(i).get_partial_shape() for i in range(len(compiled.outputs))]
    if len(shapes) != 2 or shapes[0].rank.get_length() != 2 or shapes[1].rank.get_length() != 3:
        raise ConversionFailed(f"OpenVINO's {spec.name} dense image encoder gives {shapes}, not its two outputs")
    return OpenVinoDenseEncoder(compiled)
