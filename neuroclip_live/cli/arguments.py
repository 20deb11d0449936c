"""Argument types and option groups that several subcommands share."""

from __future__ import annotations

import argparse

from neuroclip_live.events import SensorSize
from neuroclip_live.model.settings import DEFAULT_MODEL, ModelSettings
from neuroclip_live.stream.framing import TimestepRule

EXIT_USER_ERROR = 2


def timestep(text: str) -> TimestepRule:
    try:
        return TimestepRule.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def sensor_size(text: str) -> SensorSize:
    """'640x480' -> SensorSize(640, 480)."""
    width, sep, height = text.strip().lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or int(width) < 1 or int(height) < 1:
        raise argparse.ArgumentTypeError(f"expected a sensor size such as 640x480, got {text[:40]!r}")
    return SensorSize(int(width), int(height))


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 1, 0.5 or 0, got {text!r}") from None
    if value < 0 or value > 1000:
        raise argparse.ArgumentTypeError("speed must be between 0 (as fast as possible) and 1000")
    return value


def add_model_arguments(parser: argparse.ArgumentParser, few_shot_inputs: bool = True) -> None:
    """Model options shared by the app, ``train`` and ``evaluate``."""
    g = parser.add_argument_group("model")
    g.add_argument("--model", default=DEFAULT_MODEL, help="open_clip model name, or 'tiny-digits' (bundled, offline)")
    g.add_argument("--weights", metavar="PATH", help="CLIP weights file (.pt TorchScript, checkpoint or .safetensors)")
    g.add_argument("--device", help="cuda, cuda:1, cpu... (default: cuda when available)")
    g.add_argument("--templates", default=None, help="prompt template set (see --list-templates)")
    g.add_argument("--no-ensemble", action="store_true", help="use the first template only, no prompt ensembling")
    if few_shot_inputs:
        g.add_argument("--alpha", metavar="FILE", help="per-timestep weights (JSON written by 'evaluate')")
        g.add_argument("--adapter", metavar="PATH", help="few-shot adapter (.safetensors written by 'train')")


def model_settings(args: argparse.Namespace) -> ModelSettings:
    """The model options of a parsed command line as ``ModelSettings``."""
    return ModelSettings(
        name=args.model,
        weights=args.weights,
        device=args.device,
        templates=args.templates,
        ensemble=not args.no_ensemble,
        alpha_path=getattr(args, "alpha", None),
        adapter_path=getattr(args, "adapter", None),
    )
