"""``ModelSettings``: which CLIP, which weights, prompts and few-shot extras (plain data, no torch)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "RN50"
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"  # <name>/<name>.json (+ .safetensors)
# Where the image encoder runs (``model.image_encoders``): auto = torch on CUDA, else OpenVINO if installed, else torch.
BACKENDS = ("auto", "torch", "openvino")
# auto: fp16 on CUDA, OpenVINO's choice on a CPU (see ``model.image_encoders``); fp32: full precision everywhere.
PRECISION_CHOICES = ("auto", "fp32")
OPENVINO_MISSING = "--backend openvino needs OpenVINO: pip install openvino"


def is_known_model(name: str) -> bool:
    """Whether ``name`` is a bundled model, an open_clip config or a hub name, told without importing torch.

    A run without labels loads no model; an unknown name must still be said, and checking it
    through open_clip would cost the frames-only run its torch-free start.
    """
    if name.startswith("hf-hub:") or (BUNDLED_DIR / name / f"{name}.json").is_file():
        return True
    spec = importlib.util.find_spec("open_clip")
    locations = spec.submodule_search_locations if spec is not None else None
    return bool(locations) and any((Path(d) / "model_configs" / f"{name}.json").is_file() for d in locations)


def openvino_importable() -> bool:
    """Whether ``import openvino`` works here (it takes 0.2 s: asked only when OpenVINO is wanted)."""
    try:
        import openvino  # noqa: F401 - imported only to learn whether it can be
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class ModelSettings:
    """What the live app, ``train`` and ``evaluate`` load; built from the command line or the GUI."""

    name: str = DEFAULT_MODEL
    weights: str | None = None
    device: str | None = None  # None: cuda when available
    templates: str | None = None  # template set name; None: the default set
    ensemble: bool = True
    alpha_path: str | None = None
    adapter_path: str | None = None
    threads: int | None = None  # torch threads on the CPU; None: by workload (model.threads)
    backend: str = "auto"  # where the image encoder runs: one of BACKENDS
    precision: str = "auto"  # one of PRECISION_CHOICES
