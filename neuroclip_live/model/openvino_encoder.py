"""The image encoder on OpenVINO's CPU plugin: converted from open_clip's torch module once, then compiled.

Measured here (LIBRARY-NOTES, README "Speed"): ``ov.convert_model(visual, example_input=x)`` converts
open_clip's image towers without an ONNX file; the CPU plugin runs bf16 by default on CPUs with AMX or
AVX512-BF16 (its ``INFERENCE_PRECISION_HINT``), f32 elsewhere. The model is converted with a dynamic
batch dimension: one compiled model serves every batch the worker takes from a backlog, with no
recompilation, and at batch 1 it was as fast as a static one (RN50: 33 against 39 ms).
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from neuroclip_live.errors import ModelError
from neuroclip_live.model.openvino_cache import EntryKey, IrCache, weights_digest
from neuroclip_live.model.settings import OPENVINO_MISSING
from neuroclip_live.model.weights import first_line

log = logging.getLogger(__name__)

# Our precision names -> OpenVINO's INFERENCE_PRECISION_HINT. "auto" sets none: the plugin picks for the CPU.
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}


class OpenVinoUnavailable(ModelError):
    """``import openvino`` fails here."""


class ConversionFailed(ModelError):
    """OpenVINO cannot convert or compile this model's image encoder."""


def import_openvino() -> Any:
    """The ``openvino`` module, or ``OpenVinoUnavailable`` saying how to install it."""
    try:
        import openvino as ov
    except ImportError:
        raise OpenVinoUnavailable(OPENVINO_MISSING) from None
    return ov


def precision_name(ov: Any, compiled: Any) -> str:
    kind = compiled.get_property("INFERENCE_PRECISION_HINT")
    names = {ov.Type.f32: "fp32", ov.Type.bf16: "bf16", ov.Type.f16: "fp16"}
    return names.get(kind, str(kind))


class OpenVinoImageEncoder:
    """Preprocessed (B, 3, S, S) float32 batches -> (B, C) L2-normalised float32 features, any B."""

    backend = "openvino"
    device_name = "CPU"

    def __init__(self, compiled: Any, precision: str, cache_entry: Path | None, converted: bool) -> None:
        self.compiled = compiled
        self.precision = precision  # what the plugin runs at (read back from it, not what was asked)
        self.cache_entry = cache_entry  # the folder holding the converted model (None: not cached)
        self.converted = converted  # True when this load converted the model; False: read from the cache

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        batch = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        out = self.compiled(batch)[0]
        return F.normalize(torch.from_numpy(np.asarray(out, dtype=np.float32)), dim=-1)


@dataclass(frozen=True)
class EncoderSpec:
    """What the conversion needs to know of the model besides its torch module."""

    name: str
    image_size: tuple[int, int]
    embed_dim: int


def _convert(ov: Any, module: torch.nn.Module, spec: EncoderSpec, what: str) -> Any:
    h, w = spec.image_size
    example = torch.zeros((1, 3, h, w), dtype=torch.float32)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # convert_model traces the module: torch's TorchScript deprecation and tracer warnings are not ours.
            warnings.simplefilter("ignore")
            return ov.convert_model(module, example_input=example, input=[ov.PartialShape([-1, 3, h, w])])
    except Exception as err:  # the frontends raise many types; each becomes one line
        raise ConversionFailed(f"OpenVINO cannot convert {spec.name}'s {what}: {first_line(err)}") from None


def _compile(ov: Any, model: Any, precision: str, threads: int, cache_dir: Path | None) -> Any:
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    if threads > 0:
        config["INFERENCE_NUM_THREADS"] = threads
    if precision in PRECISION_HINTS:
        config["INFERENCE_PRECISION_HINT"] = PRECISION_HINTS[precision]
    core = ov.Core()
    if cache_dir is not None:
        try:
            return core.compile_model(model, "CPU", {**config, "CACHE_DIR": str(cache_dir)})
        except RuntimeError as err:  # OpenVINO rebuilds a damaged blob itself; anything else: compile uncached
            log.warning("OpenVINO model cache %s unusable (%s): compiling without it", cache_dir, first_line(err))
    return core.compile_model(model, "CPU", config)


def _versions(ov: Any) -> str:
    import open_clip

    return f"openvino {ov.get_version()}; open_clip {open_clip.__version__}; torch {torch.__version__}"


def compile_module(
    module: torch.nn.Module,
    spec: EncoderSpec,
    precision: str,
    threads: int,
    cache_root: str | os.PathLike | None,
    variant: str = "",
) -> tuple[Any, Any, Path | None, bool]:
    """OpenVINO, and ``module`` converted (or read from ``cache_root``) and compiled: (ov, compiled, entry, converted).

    ``variant`` names another module of the same model ('dense': ``model.openvino_dense``) in the cache
    key and the errors. ``ConversionFailed`` when OpenVINO cannot convert or compile it.
    """
    ov = import_openvino()
    what = f"{variant} image encoder" if variant else "image encoder"
    cache = IrCache(cache_root) if cache_root is not None else None
    name = f"{spec.name}+{variant}" if variant else spec.name
    key = EntryKey(name, spec.image_size, weights_digest(module), _versions(ov))
    model = cache.load(ov.Core(), key) if cache is not None else None
    converted = model is None
    entry = None
    if model is None:
        model = _convert(ov, module, spec, what)
        entry = cache.store(ov, key, model) if cache is not None else None
    elif cache is not None:
        entry = cache.entry(key)
    try:
        compiled = _compile(ov, model, precision, threads, cache.compiled_dir(key) if cache is not None else None)
    except Exception as err:  # as for the conversion
        raise ConversionFailed(f"OpenVINO cannot compile {spec.name}'s {what}: {first_line(err)}") from None
    return ov, compiled, entry, converted


def load_openvino_encoder(
    visual: torch.nn.Module, spec: EncoderSpec, precision: str, threads: int, cache_root: str | os.PathLike | None
) -> OpenVinoImageEncoder:
    """Convert (or read from ``cache_root``) and compile ``visual``; ``ConversionFailed`` when OpenVINO cannot.

    ``precision``: "auto" (the plugin's choice for this CPU), "fp32", or "bf16" (a Ray worker matching
    the driver's rows). ``cache_root`` None: no cache, converted at every load.
    """
    ov, compiled, entry, converted = compile_module(visual, spec, precision, threads, cache_root)
    dims = compiled.output(0).get_partial_shape()
    if dims.rank.get_length() != 2 or dims[1].get_length() != spec.embed_dim:
        raise ConversionFailed(f"OpenVINO's {spec.name} image encoder gives {dims}, not (batch, {spec.embed_dim})")
    return OpenVinoImageEncoder(compiled, precision_name(ov, compiled), entry, converted)
