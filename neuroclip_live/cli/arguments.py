"""Argument types and option groups that several subcommands share."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from neuroclip_live.errors import ModelError
from neuroclip_live.events import SensorSize
from neuroclip_live.model.settings import (
    BACKENDS,
    DEFAULT_MODEL,
    OPENVINO_MISSING,
    PRECISION_CHOICES,
    ModelSettings,
    openvino_importable,
)

if TYPE_CHECKING:  # framing compiles numba kernels on import: not for --help
    from neuroclip_live.stream.framing import TimestepRule

EXIT_USER_ERROR = 2


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it says it already or there is none to say."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        nothing = default is None or default is False or default is argparse.SUPPRESS
        if nothing or not action.option_strings or "default" in text.lower():
            return text
        return f"{text} (default: %(default)s)"


class ListTemplates(argparse.Action):
    """``--list-templates``: print the template sets and exit, as ``--version`` does."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="list the template sets and exit"
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from neuroclip_live.model.prompts import DEFAULT_TEMPLATE_SET, TEMPLATE_SETS

        for name, templates in TEMPLATE_SETS.items():
            mark = " (default)" if name == DEFAULT_TEMPLATE_SET else ""
            print(f"{name}{mark}:")
            for t in templates:
                print(f"    {t}")
        parser.exit()


def timestep(text: str) -> TimestepRule:
    from neuroclip_live.stream.framing import TimestepRule

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


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds such as 10 or 0.5, got {text!r}") from None
    if not 0 <= value <= 86_400:  # also refuses NaN and infinity
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds (a day), got {text}")
    return value


def probability(text: str) -> float:
    """A probability in [0, 1] (``--min-confidence``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a probability such as 0.5, got {text!r}") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a probability between 0 and 1, got {text}")
    return value


def event_rate(text: str) -> float:
    from neuroclip_live.stream.rate_limit import parse_rate  # numpy: not for --help

    try:
        return parse_rate(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_model_arguments(parser: argparse.ArgumentParser, few_shot_inputs: bool = True) -> None:
    """Model options shared by the app, ``train`` and ``evaluate``."""
    g = parser.add_argument_group("model")
    adapter_default = "the backbone an --adapter was trained on, else " if few_shot_inputs else ""
    g.add_argument(
        "--model",
        help=f"open_clip model name, or 'tiny-digits' (bundled, offline) (default: {adapter_default}{DEFAULT_MODEL})",
    )
    g.add_argument(
        "--weights",
        metavar="PATH",
        help="CLIP weights file (.pt TorchScript, checkpoint or .safetensors) (default: $NEUROCLIP_WEIGHTS, the "
        "bundled model's, or open_clip's cache)",
    )
    g.add_argument("--device", help="cuda, cuda:1, cpu... (default: cuda when available)")
    g.add_argument(
        "--templates",
        default=None,
        help="prompt template set, or one template with {} (see --list-templates) (default: "
        + ("the adapter's, else event)" if few_shot_inputs else "event)"),
    )
    g.add_argument("--list-templates", action=ListTemplates)
    g.add_argument("--no-ensemble", action="store_true", help="use the first template only, no prompt ensembling")
    g.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="torch threads on the CPU (default: 1 for small models such as tiny-digits and for adapter "
        "training, one per core for large encoders such as RN50)",
    )
    g.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="where the image encoder runs: auto = torch on a CUDA GPU, else OpenVINO on the CPU when it is "
        "installed, else torch (the text encoder and the adapter always run on torch)",
    )
    g.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        default="auto",
        help="auto = fp16 on CUDA and, on a CPU, what OpenVINO picks for it; fp32 = full precision",
    )
    if few_shot_inputs:
        g.add_argument(
            "--alpha",
            metavar="FILE",
            help="per-timestep weights (JSON written by 'evaluate') (default: the adapter's, else uniform)",
        )
        g.add_argument(
            "--adapter",
            metavar="PATH",
            help="few-shot adapter (.safetensors written by 'train') (default: none, zero-shot)",
        )


def model_settings(args: argparse.Namespace) -> ModelSettings:
    """The model options of a parsed command line as ``ModelSettings``.

    ``--backend openvino`` without OpenVINO fails here, before a window opens or data is read.
    """
    if args.backend == "openvino":
        if (args.device or "cpu").startswith("cuda"):
            raise ModelError("--backend openvino runs on the CPU: drop --device cuda, or use --backend torch")
        if not openvino_importable():
            raise ModelError(OPENVINO_MISSING)
    return ModelSettings(
        name=model_name(args.model, getattr(args, "adapter", None)),
        weights=args.weights,
        device=args.device,
        templates=args.templates,
        ensemble=not args.no_ensemble,
        alpha_path=getattr(args, "alpha", None),
        adapter_path=getattr(args, "adapter", None),
        threads=args.threads,
        backend=args.backend,
        precision=args.precision,
    )


def say_backend_note(backbone: Any) -> None:
    """The one ``note:`` line when ``--backend auto`` fell back to torch (``ClipBackbone.backend_note``)."""
    if backbone.backend_note:
        print(f"note: {backbone.backend_note}", file=sys.stderr)


def model_name(model: str | None, adapter_path: str | None) -> str:
    """``--model``, else the backbone the adapter records (read from its file), else the default."""
    if model or not adapter_path:
        return model or DEFAULT_MODEL
    from neuroclip_live.model.setup import resolve_model

    return resolve_model(None, adapter_path)
