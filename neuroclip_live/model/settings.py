"""``ModelSettings``: which CLIP, which weights, prompts and few-shot extras (plain data, no torch)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MODEL = "RN50"


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
