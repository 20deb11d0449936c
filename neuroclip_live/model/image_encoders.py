"""Where the image encoder runs: torch (CPU or CUDA) or OpenVINO (CPU), behind one ``ImageEncoder``.

Everything that encodes frames (the live worker, ``train``/``evaluate`` extraction and its cache, the
Ray actors, ``align``) calls ``ClipBackbone.encode_frames``, which preprocesses in torch and hands the
batch to the backbone's image encoder. The text encoder and the adapter stay on torch.

``auto`` picks torch on a CUDA GPU (fp16, channels-last), OpenVINO on a CPU where it is installed, and
torch otherwise; a model OpenVINO cannot convert falls back to torch with a note. ``--precision fp32``
runs full precision everywhere.
"""

from __future__ import annotations

import os
from typing import Protocol

import torch

from neuroclip_live.errors import ModelError
from neuroclip_live.model.openvino_encoder import (
    ConversionFailed,
    EncoderSpec,
    OpenVinoUnavailable,
    import_openvino,
    load_openvino_encoder,
)
from neuroclip_live.model.settings import BACKENDS, PRECISION_CHOICES
from neuroclip_live.model.weights import cache_root

BACKEND_NAMES = {"torch": "torch", "openvino": "OpenVINO"}
DTYPE_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


class ImageEncoder(Protocol):
    """Preprocessed (B, 3, S, S) batches -> (B, C) L2-normalised float32 features on the model's device."""

    backend: str  # "torch" or "openvino"
    precision: str  # what it computes in: "fp32", "fp16", "bf16"
    device_name: str  # "CPU", "CUDA"

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


class TorchImageEncoder:
    """open_clip's own ``encode_image``."""

    backend = "torch"

    def __init__(self, model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> None:
        self.model = model
        self.precision = DTYPE_NAMES.get(dtype, str(dtype))
        self.device_name = "CUDA" if device.type == "cuda" else device.type.upper()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(x, normalize=True).float()


def describe_encoder(encoder: ImageEncoder) -> str:
    """'OpenVINO bf16 · CPU', 'torch fp16 · CUDA'."""
    return f"{BACKEND_NAMES.get(encoder.backend, encoder.backend)} {encoder.precision} · {encoder.device_name}"


def check_choices(backend: str, precision: str | None) -> None:
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if precision is not None and precision not in (*PRECISION_CHOICES, "fp16", "bf16"):
        raise ModelError(f"unknown precision {precision!r}: use one of {', '.join(PRECISION_CHOICES)}")


def resolve_backend(backend: str, device: torch.device) -> str:
    """'torch' or 'openvino' for ``backend`` on ``device``; ``ModelError`` when OpenVINO is asked for and cannot run."""
    if backend == "torch" or (backend == "auto" and device.type != "cpu"):  # a GPU keeps torch
        return "torch"
    if device.type != "cpu":
        raise ModelError(f"--backend openvino runs on the CPU, not on {device}: use --device cpu or --backend torch")
    try:
        import_openvino()
    except OpenVinoUnavailable:
        if backend == "openvino":
            raise
        return "torch"
    return "openvino"


def open_image_encoder(
    model: torch.nn.Module,
    spec: EncoderSpec,
    device: torch.device,
    dtype: torch.dtype,
    backend: str,
    precision: str | None,
    threads: int,
    cache_dir: str | os.PathLike | None,
) -> tuple[ImageEncoder, str]:
    """The image encoder for ``backend`` ('auto', 'torch', 'openvino') and a note ('' or why auto fell back).

    ``precision`` None or 'auto': the device's choice; 'fp32': full precision. ``cache_dir`` holds the
    converted models (default: the user's cache folder, see ``model.weights.cache_root``).
    """
    check_choices(backend, precision)
    chosen = resolve_backend(backend, device)
    torch_encoder = TorchImageEncoder(model, device, dtype)
    if chosen == "torch":
        return torch_encoder, ""
    root = cache_root(cache_dir) / "openvino"
    try:
        return load_openvino_encoder(model.visual, spec, precision or "auto", threads, root), ""
    except ConversionFailed as err:
        if backend == "openvino":
            raise
        return torch_encoder, f"{err}; running it on torch"
