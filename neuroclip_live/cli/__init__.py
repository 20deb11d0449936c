"""The ``neuroclip-live`` command line: source choice, headless replay, train and evaluate.

The console script lives in ``ui.launch`` so that the GUI can be opened from
here without the core importing Qt: ``main`` takes the GUI entry as an argument.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from neuroclip_live import __version__
from neuroclip_live.errors import NeuroclipError
from neuroclip_live.stream.framing import TimestepRule
from neuroclip_live.model.label_presets import default_labels
from neuroclip_live.runtime.pipeline import Pipeline, PipelineConfig
from neuroclip_live.stream.sources.base import SourceSpec

GuiEntry = Callable[[argparse.Namespace], int]

EXIT_USER_ERROR = 2
SUBCOMMANDS = ("train", "evaluate")


def _timestep(text: str) -> TimestepRule:
    try:
        return TimestepRule.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 1, 0.5 or 0, got {text!r}") from None
    if value < 0 or value > 1000:
        raise argparse.ArgumentTypeError("speed must be between 0 (as fast as possible) and 1000")
    return value


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Model options shared by the app, ``train`` and ``evaluate``."""
    g = parser.add_argument_group("model")
    g.add_argument("--model", default="RN50", help="open_clip model name, or 'tiny-digits' (bundled, offline)")
    g.add_argument("--weights", metavar="PATH", help="CLIP weights file (.pt TorchScript, checkpoint or .safetensors)")
    g.add_argument("--device", help="cuda, cuda:1, cpu... (default: cuda when available)")
    g.add_argument("--templates", default=None, help="prompt template set (see --list-templates)")
    g.add_argument("--no-ensemble", action="store_true", help="use the first template only, no prompt ensembling")
    g.add_argument("--alpha", metavar="FILE", help="per-timestep weights (JSON written by 'evaluate')")
    g.add_argument("--adapter", metavar="PATH", help="few-shot adapter (.safetensors written by 'train')")


def build_run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="neuroclip-live",
        description="Live zero-shot recognition for event cameras (NeuroCLIP). "
        "Subcommands: 'neuroclip-live train ...', 'neuroclip-live evaluate ...'.",
    )
    p.add_argument("--version", action="version", version=f"neuroclip-live {__version__}")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--file", metavar="PATH", help="replay a recording (.aedat4, .raw, .dat, .es, .csv, .bin)")
    src.add_argument(
        "--camera", nargs="?", const="", metavar="SERIAL", help="a live camera (the first found, or by serial)"
    )
    src.add_argument("--net", metavar="HOST:PORT", help="a live stream from dv-processing's NetworkWriter or DV")
    p.add_argument("--timestep", type=_timestep, default=TimestepRule("time", 30_000), help="'30ms' or '2000ev'")
    p.add_argument("-T", type=positive_int, default=10, help="timesteps in the window (default 10)")
    p.add_argument("--speed", type=_speed, default=1.0, help="replay speed factor; 0 = as fast as possible")
    p.add_argument("--loop", action="store_true", help="replay the file again and again")
    p.add_argument("--labels", help="comma- or newline-separated labels, e.g. 'cat, dog, car'")
    p.add_argument("--labels-file", metavar="PATH", help="labels one per line")
    p.add_argument("--top-k", type=positive_int, default=3, help="labels shown per timestep (headless)")
    add_model_arguments(p)
    h = p.add_argument_group("headless")
    h.add_argument("--headless", action="store_true", help="no window: print one line per timestep")
    h.add_argument("--json", action="store_true", help="with --headless: one JSON object per line")
    h.add_argument("--dump", metavar="DIR", help="with --headless: write each frame as a PNG")
    h.add_argument("--max-steps", type=positive_int, help="stop after this many timesteps")
    h.add_argument("--lossless", action="store_true", help="never drop frames: the reader waits for the model")
    g = p.add_argument_group("window")
    g.add_argument("--screenshot", metavar="PATH", help="save a PNG of the window once the first scores show")
    g.add_argument("--exit-after", type=float, metavar="SECONDS", help="close the app after this many seconds")
    p.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    return p


def source_spec(args: argparse.Namespace) -> SourceSpec | None:
    if args.file is not None:
        return SourceSpec("file", args.file)
    if args.camera is not None:
        return SourceSpec("camera", args.camera)
    if args.net is not None:
        return SourceSpec("net", args.net)
    return None


def read_labels(args: argparse.Namespace) -> list[str] | None:
    """The labels from --labels / --labels-file, or None when neither is given."""
    from neuroclip_live.model.prompts import parse_labels

    text = None
    if args.labels_file:
        try:
            with open(args.labels_file, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as err:
            raise NeuroclipError(f"--labels-file {args.labels_file}: {err.strerror}") from None
    if args.labels is not None:
        text = args.labels if text is None else text + "\n" + args.labels
    if text is None:
        return None
    return parse_labels(text)


def classifier_loader(args: argparse.Namespace, labels: list[str]) -> Callable[[], Any]:
    """A callable that loads the model and builds the streaming classifier (run on the worker thread)."""

    def load() -> Any:
        from neuroclip_live.model.setup import build_classifier

        return build_classifier(
            model=args.model,
            weights=args.weights,
            device=args.device,
            labels=labels,
            T=args.T,
            templates=args.templates,
            ensemble=not args.no_ensemble,
            alpha_path=args.alpha,
            adapter_path=args.adapter,
        )

    return load


def run_headless(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from neuroclip_live.runtime.headless import HeadlessSink
    from neuroclip_live.stream.sources import open_source

    spec = source_spec(args)
    if spec is None:
        raise NeuroclipError("--headless needs a source: --file PATH, --camera [SERIAL] or --net HOST:PORT")
    labels = read_labels(args) or default_labels(args.model)
    # An adapter brings its own class names, so it needs no --labels.
    loader = classifier_loader(args, labels) if (labels or args.adapter) else None
    sink = HeadlessSink(out, as_json=args.json, dump_dir=args.dump, top_k=args.top_k)
    config = PipelineConfig(rule=args.timestep, T=args.T, speed=args.speed, loop=args.loop, lossless=args.lossless)
    # Open once here so that a bad file fails before any thread starts, with its one-line message.
    first = open_source(spec)
    opened = [first]

    def reopen():
        return opened.pop() if opened else open_source(spec)

    pipeline = Pipeline(reopen, config, loader)
    interrupted = False
    try:
        pipeline.start()
        for result in pipeline.results():
            sink.write(result)
            if args.max_steps is not None and sink.count >= args.max_steps:
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if not pipeline.stop():
            pipeline.join(timeout=30)  # a CPU model step in flight: let it end before the process does
    for note in getattr(first, "notes", []):
        print(f"note: {note}", file=sys.stderr)
    if pipeline.state == "error":
        print(f"neuroclip-live: {pipeline.message}", file=sys.stderr)
        return EXIT_USER_ERROR
    summary = f"{sink.count} timesteps, {pipeline.snapshot().stats.drops} dropped"
    print(f"neuroclip-live: {summary}" + (" (interrupted)" if interrupted else ""), file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None, gui: GuiEntry | None = None) -> int:
    """Entry point; returns the exit code. User mistakes print one line, never a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            from neuroclip_live.cli import commands

            return commands.main(argv)
        args = build_run_parser().parse_args(argv)
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
        )
        if args.headless:
            return run_headless(args)
        if gui is None:
            raise NeuroclipError("the window is not available here; add --headless to print results instead")
        return gui(args)
    except NeuroclipError as err:
        print(f"neuroclip-live: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
