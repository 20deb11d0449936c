"""The CLIP backbone: open_clip model, device and precision, frame/text encoders.

Weights (found by ``model.weights``) resolve in this order: an explicit path, ``NEUROCLIP_WEIGHTS``, the
weights bundled with a model under ``neuroclip_live/model/bundled/<name>/``, then
open_clip's cache and download (pretrained tag ``openai`` where the model has
it). A bundled model is only an open_clip config plus a default weights file:
it loads through the same path as ``RN50``.
"""

from __future__ import annotations

import difflib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch

from neuroclip_live.errors import ModelError
from neuroclip_live.model import dense_towers
from neuroclip_live.model.image_encoders import (
    ImageEncoder,
    TorchImageEncoder,
    check_choices,
    describe_encoder,
    open_dense_encoder,
    open_image_encoder,
    resolve_backend,
)
from neuroclip_live.model.openvino_dense import OpenVinoDenseEncoder, TorchDenseEncoder
from neuroclip_live.model.openvino_encoder import EncoderSpec
from neuroclip_live.model.preprocess import OPENAI_MEAN, OPENAI_STD, FramePreprocessor
from neuroclip_live.model.settings import BUNDLED_DIR, ModelSettings
from neuroclip_live.model.threads import threads_for_model
from neuroclip_live.model.weights import (
    KIND_NAMES,
    convert_torchscript,
    file_kind,
    first_line,
    resolve_weights,
)

log = logging.getLogger(__name__)
DenseEncoder = TorchDenseEncoder | OpenVinoDenseEncoder

# open_clip's "fp16"/"bf16" are its mixed modes (OpenAI's): weights in half, LayerNorm in float32.
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class ClipBackbone:
    """A loaded CLIP model in eval mode with what the classifier needs to use it."""

    model: torch.nn.Module
    tokenizer: Any
    name: str
    image_size: tuple[int, int]
    embed_dim: int
    device: torch.device
    dtype: torch.dtype
    context_length: int
    weights: str  # where the weights came from, for display ("random" when none)
    notes: list[str] = field(default_factory=list)  # one-line remarks for the user (full unpickle...)
    threads: int = 0  # torch threads on the CPU (0 on a GPU: not set)
    preprocess: FramePreprocessor = field(init=False)
    _dense: DenseEncoder | None = field(init=False, default=None, repr=False)  # made when maps are first asked for
    _cache_dir: str | os.PathLike | None = field(init=False, default=None, repr=False)  # where OpenVINO's models go
    image_encoder: ImageEncoder = field(init=False)  # where frames are encoded (torch until ``use_backend``)
    backend_note: str = field(init=False, default="")  # why ``auto`` fell back to torch, for one "note:" line

    def __post_init__(self) -> None:
        cfg = getattr(self.model.visual, "preprocess_cfg", {}) or {}
        self.preprocess = FramePreprocessor(
            self.image_size,
            mean=cfg.get("mean", OPENAI_MEAN),
            std=cfg.get("std", OPENAI_STD),
            device=self.device,
            dtype=self.dtype,
            channels_last=self.device.type == "cuda",
        )
        self.image_encoder = TorchImageEncoder(self.model, self.device, self.dtype)

    def use_backend(
        self, backend: str = "auto", precision: str | None = None, cache_dir: str | os.PathLike | None = None
    ) -> None:
        """Encode images with ``backend`` from now on (after the weights are loaded: OpenVINO converts them)."""
        self.image_encoder, self.backend_note = open_image_encoder(
            self.model, self._spec, self.device, self.dtype, backend, precision, self.threads, cache_dir
        )
        self._dense, self._cache_dir = None, cache_dir
        if self.backend_note:
            log.info(self.backend_note)  # the caller shows it once, as a "note:" line
            self.notes.append(self.backend_note)

    @property
    def _spec(self) -> EncoderSpec:
        return EncoderSpec(self.name, self.image_size, self.embed_dim)

    @property
    def engine(self) -> str:
        """Where images are encoded: 'OpenVINO bf16 · CPU', 'torch fp16 · CUDA'."""
        return describe_encoder(self.image_encoder)

    def describe(self) -> str:
        """'RN50 · OpenVINO bf16 · CPU'."""
        return f"{self.name} · {self.engine}"

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.detach().exp().item())

    # no_grad, not inference_mode: the features also feed adapter training, which must save them for backward.
    @torch.no_grad()
    def encode_frames(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(B, H, W) uint8 frames -> (B, C) L2-normalised float32 features on ``self.device``."""
        return self.image_encoder(self.preprocess(frames))

    @torch.no_grad()
    def encode_preprocessed(self, x: torch.Tensor) -> torch.Tensor:
        """A ``preprocess``ed (B, 3, S, S) batch -> (B, C) L2-normalised float32 features, on the backend."""
        return self.image_encoder(x)

    # ----------------------------------------------------------------- dense features (relevance maps)

    def dense_unavailable(self) -> str:
        """Why this model gives no dense features ('' when it does): see ``model.dense_towers``."""
        why = dense_towers.dense_unavailable(self.model.visual)
        return f"{self.name}: {why}" if why else ""

    @property
    def dense_grid(self) -> tuple[int, int]:
        """(rows, columns) of the dense features."""
        return dense_towers.grid_of(self.model.visual, self.image_size)

    @torch.no_grad()
    def encode_frames_dense(self, frames: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, H, W) frames -> their features (B, C), as ``encode_frames``, and their places' (B, K, C).

        One forward pass gives both (``model.dense_towers``), on the image encoder's backend (the first
        call converts it for OpenVINO); ``ModelError`` when the model has no dense path or OpenVINO cannot
        convert it.
        """
        return self.prepare_dense()(self.preprocess(frames))

    def prepare_dense(self) -> DenseEncoder:
        """The dense encoder, made now if it is not yet (OpenVINO converts it once); ``ModelError`` if it cannot be."""
        if self._dense is None:
            why = self.dense_unavailable()
            if why:
                raise ModelError(why)
            self._dense = open_dense_encoder(self.image_encoder, self.model, self._spec, self.threads, self._cache_dir)
        return self._dense

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Prompts -> (N, C) L2-normalised float32 features on ``self.device``."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        return self.model.encode_text(tokens, normalize=True).float()


# --------------------------------------------------------------------------- model names


def bundled_models() -> list[str]:
    """Models shipped in ``neuroclip_live/model/bundled/<name>/<name>.json``."""
    if not BUNDLED_DIR.is_dir():
        return []
    return sorted(d.name for d in BUNDLED_DIR.iterdir() if (d / f"{d.name}.json").is_file())


def _register_bundled(name: str) -> Path | None:
    """Register a bundled model's config with open_clip; its default weights file, if any."""
    config = BUNDLED_DIR / name / f"{name}.json"
    if not config.is_file():
        return None
    if name not in open_clip.list_models():
        open_clip.add_model_config(config)
    weights = config.with_suffix(".safetensors")
    return weights if weights.is_file() else None


def _check_name(name: str) -> None:
    known = open_clip.list_models()
    if name in known:
        return
    close = difflib.get_close_matches(name, known + bundled_models(), n=4, cutoff=0.5)
    examples = close or ["RN50", "RN101", "ViT-B-32", "ViT-B-16", *bundled_models()]
    raise ModelError(
        f"unknown model {name!r}: try {', '.join(examples)} ({len(known)} names in open_clip.list_models())"
    )


# --------------------------------------------------------------------------- loading


def _pick_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ModelError(f"unknown device {device!r}: use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for, but this torch sees no CUDA GPU: use --device cpu")
    return dev


def _pick_precision(precision: str | None, device: torch.device, backend: str) -> str:
    """The torch model's precision; OpenVINO converts from float32 and applies its own."""
    if backend == "openvino":
        return "fp32"
    if precision is None or precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    return precision  # checked by ``check_choices``


def _backbone(
    model: torch.nn.Module,
    name: str,
    device: torch.device,
    precision: str,
    weights: str,
    notes: list[str],
    threads: int | None,
) -> ClipBackbone:
    model.eval()
    n_threads = 0
    for p in model.parameters():
        p.requires_grad_(False)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)  # faster convolutions for RN50 under cuDNN
    else:
        # The image encoder is what runs every timestep: its size picks the thread count.
        n_threads = threads_for_model(sum(p.numel() for p in model.visual.parameters()), threads)
        if torch.get_num_threads() != n_threads:
            torch.set_num_threads(n_threads)
    size = model.visual.image_size
    image_size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    cfg = open_clip.get_model_config(name) or {}
    context_length = int(getattr(model, "context_length", 0) or cfg.get("text_cfg", {}).get("context_length", 77))
    embed_dim = int(cfg.get("embed_dim") or model.text_projection.shape[-1])
    dtype = _DTYPES[precision]
    tokenizer = open_clip.get_tokenizer(name)
    return ClipBackbone(
        model, tokenizer, name, image_size, embed_dim, device, dtype, context_length, weights, notes, n_threads
    )


def create_clip(
    name: str,
    device: str | None = None,
    precision: str | None = None,
    threads: int | None = None,
    *,
    backend: str = "torch",
    cache_dir: str | os.PathLike | None = None,
) -> ClipBackbone:
    """A model with random weights (tests, benchmarks): same structure and speed as the real one.

    ``backend`` as for ``load_clip``; torch unless asked, since tests compare against open_clip's own output.
    """
    if _register_bundled(name) is None:
        _check_name(name)
    dev = _pick_device(device)
    check_choices(backend, precision)
    prec = _pick_precision(precision, dev, resolve_backend(backend, dev))
    model = open_clip.create_model(name, device=dev, precision=prec)
    backbone = _backbone(model, name, dev, prec, "random", [], threads)
    if backend != "torch":
        backbone.use_backend(backend, precision, cache_dir)
    return backbone


def _create_with_weights(
    name: str, path: Path, source: Path, dev: str, prec: str, quick_gelu: bool, notes: list[str], kind: str
) -> torch.nn.Module:
    """open_clip's model with the weights at ``path``; every failure becomes one ``ModelError`` line."""

    def create(weights_only: bool) -> torch.nn.Module:
        return open_clip.create_model(
            name,
            pretrained=str(path),
            device=dev,
            precision=prec,
            force_quick_gelu=quick_gelu,
            weights_only=weights_only,
        )

    try:
        try:
            return create(weights_only=True)
        except Exception as err:  # open_clip and torch raise many types; each becomes one line
            # A checkpoint that pickles other objects (optimizer state, argparse args...) needs a full
            # unpickle; torch says "Unsupported global" for those, "invalid load key" for garbage.
            if "Unsupported global" not in str(err):
                raise
            msg = f"{source.name} is a full pickle: loading it runs code from the file, use it only if you trust it"
            log.warning(msg)
            notes.append(msg)
            return create(weights_only=False)
    except Exception as err:
        text = first_line(err)
        if any(s in text for s in ("Missing key", "Unexpected key", "size mismatch")):
            raise ModelError(f"weights {source} do not fit model {name}: {text}") from None
        raise ModelError(f"cannot read weights {source} (read as a {KIND_NAMES[kind]}): {text}") from None


def load_clip(
    name: str = "RN50",
    weights: str | os.PathLike | None = None,
    device: str | None = None,
    precision: str | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    threads: int | None = None,
    backend: str = "torch",
) -> ClipBackbone:
    """Load a CLIP model by open_clip name (or a bundled one) with its weights, ready for inference.

    Raises ``ModelError`` (one line) for an unknown name, a missing, damaged or
    mismatched weights file, or no weights reachable offline. ``cache_dir``
    holds converted TorchScript files and downloads (default: the usual caches);
    ``offline`` skips the download (default: ``NEUROCLIP_OFFLINE`` / ``HF_HUB_OFFLINE``);
    ``threads`` sets the torch threads on the CPU (default: by model size, see ``model.threads``).
    ``backend`` ('auto', 'torch', 'openvino': ``model.image_encoders``) runs the image encoder, at
    ``precision`` ('auto' or None: the device's choice, 'fp32': full); the app's settings default to
    'auto', this function to torch. OpenVINO's converted models are kept under ``cache_dir``.
    """
    bundled = _register_bundled(name)
    if bundled is None:
        _check_name(name)
    dev = _pick_device(device)
    check_choices(backend, precision)
    prec = _pick_precision(precision, dev, resolve_backend(backend, dev))
    notes: list[str] = []
    path, quick_gelu = resolve_weights(name, weights, bundled, cache_dir, offline, notes)
    source = path
    kind = file_kind(path)
    if kind == "torchscript":
        # OpenAI's own archives: their models use QuickGELU (what open_clip's -quickgelu configs set).
        quick_gelu = True
        path = convert_torchscript(path, cache_dir)
        notes.append(f"converted OpenAI TorchScript {source.name} to safetensors (QuickGELU)")
    model = _create_with_weights(name, path, source, dev, prec, quick_gelu, notes, kind)
    backbone = _backbone(model, name, dev, prec, str(source), notes, threads)
    if backend != "torch":
        backbone.use_backend(backend, precision, cache_dir)
    return backbone


def load_for(settings: ModelSettings) -> ClipBackbone:
    """``load_clip`` with the app's model settings: name, weights, device, threads, backend and precision."""
    return load_clip(
        settings.name,
        settings.weights,
        settings.device,
        settings.precision,
        threads=settings.threads,
        backend=settings.backend,
    )
