"""``neuroclip-live [run]``: the live app (the window, or ``--headless`` lines) on a file, camera or stream.

It is the default subcommand: ``neuroclip-live --file rec.aedat4`` runs it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from neuroclip_live import __version__, defaults
from neuroclip_live.cli.arguments import (
    add_model_arguments,
    event_rate,
    model_settings,
    positive_int,
    probability,
    seconds,
    sensor_size,
    speed,
    timestep,
)
from neuroclip_live.errors import NeuroclipError
from neuroclip_live.stream.formats import extensions_text

# The runtime, the framer and the readers import numba, dv-processing and faery: imported when a
# run starts, so that --help and --version answer at once.
if TYPE_CHECKING:
    from neuroclip_live.runtime.config import RunConfig
    from neuroclip_live.stream.sources.base import SourceSpec

GuiEntry = Callable[["RunConfig"], int]

TOP_K = 3  # labels on each headless line

SUMMARY = "Live zero-shot recognition for event cameras (NeuroCLIP)."


def description(commands: dict[str, str | None]) -> str:
    """The live app's description, naming the other subcommands registered (``name -> help``)."""
    others = "; ".join(f"{name}, to {text}" if text else name for name, text in commands.items())
    return f"{SUMMARY} Other commands (neuroclip-live COMMAND --help for each): {others}." if commands else SUMMARY


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    # Described by ``cli.build_parser``, which knows the other subcommands; not listed as a command.
    p = sub.add_parser("run", prog="neuroclip-live", help="the live app (the default)")
    add_run_arguments(p)
    return p


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", action="version", version=f"neuroclip-live {__version__}")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--file", metavar="PATH", help=f"replay a recording ({extensions_text()})")
    src.add_argument(
        "--camera", nargs="?", const="", metavar="SERIAL", help="a live camera (the first found, or by serial)"
    )
    src.add_argument("--net", metavar="HOST:PORT", help="a live stream from dv-processing's NetworkWriter or DV")
    p.add_argument(
        "--sensor",
        type=sensor_size,
        metavar="WxH",
        help="with --file: the recording's sensor size, when the file lacks it or says it wrongly "
        "(events beyond it are dropped)",
    )
    p.add_argument(
        "--timestep",
        type=timestep,
        default=defaults.TIMESTEP,
        metavar="SIZE",
        help="a timestep's length: a time ('30ms', '500us', '0.1s') or an event count ('2000ev', '5kev')",
    )
    p.add_argument("-T", type=positive_int, default=defaults.T, help=f"timesteps in the window (default {defaults.T})")
    p.add_argument(
        "--speed",
        type=speed,
        default=defaults.SPEED,
        metavar="FACTOR",
        help="with --file: replay speed, 1 = the recording's own pace, 0 = as fast as the model allows",
    )
    p.add_argument("--loop", action="store_true", help="with --file: replay the recording again and again")
    p.add_argument(
        "--max-rate",
        type=event_rate,
        metavar="RATE",
        help="most events per second the framer sees, e.g. '50Mev/s': beyond it each packet is subsampled evenly "
        "(live sources also limit themselves automatically when the reader falls behind)",
    )
    p.add_argument("--lossless", action="store_true", help="never drop frames: the reader waits for the model")
    add_label_arguments(p)
    add_model_arguments(p)
    _add_headless_arguments(p)
    g = p.add_argument_group("scripted runs")
    g.add_argument(
        "--screenshot",
        metavar="PATH",
        help="save a PNG of the window once the first scores show (at the latest when --exit-after closes it)",
    )
    g.add_argument(
        "--exit-after",
        type=seconds,
        metavar="SECONDS",
        help="close the window, or stop --headless, this many seconds after the first scores (the first frame "
        "without a model; in the window also an error or the end of the stream); a model load does not count "
        "(default: run to the end, or stay open)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")


def _add_headless_arguments(p: argparse.ArgumentParser) -> None:
    h = p.add_argument_group("headless")
    h.add_argument("--headless", action="store_true", help="no window: print one line per timestep")
    h.add_argument("--json", action="store_true", help="with --headless: one JSON object per line")
    h.add_argument(
        "--dump", metavar="DIR", help="with --headless: write each frame as a PNG (and with --where each label's map)"
    )
    h.add_argument(
        "--where",
        action="store_true",
        help="where each label is seen: its peak in sensor pixels on each line (--json: a 'where' object, "
        "label -> [x, y]), each map as a PNG with --dump; in the window, start with Where on",
    )
    h.add_argument(
        "--max-steps", type=positive_int, metavar="N", help="with --headless: stop after N timesteps (default: the end)"
    )
    h.add_argument(
        "--top-k", type=positive_int, metavar="K", help=f"with --headless: labels on each line (default: {TOP_K})"
    )


def add_label_arguments(p: argparse.ArgumentParser) -> None:
    """The labels a run scores, when a window names none of them, and where every prediction is kept."""
    p.add_argument(
        "--labels",
        help="comma- or newline-separated labels, e.g. 'cat, dog, car' (default: an --adapter's classes, else the "
        "model's own, such as tiny-digits' 16, else none: frames only)",
    )
    p.add_argument("--labels-file", metavar="PATH", help="labels one per line (added to --labels)")
    p.add_argument(
        "--min-confidence",
        type=probability,
        default=0.0,
        metavar="P",
        help="below this top probability a window names no label (\"–\", an empty 'top' in JSON); 0 = off",
    )
    p.add_argument(
        "--log",
        metavar="PATH.jsonl",
        help="write every scored timestep there as a JSON line (the --json objects), after a header line",
    )


def source_spec(args: argparse.Namespace) -> SourceSpec | None:
    from neuroclip_live.stream.sources.base import SourceSpec

    if args.sensor is not None and args.file is None:
        raise NeuroclipError("--sensor WxH applies to recordings (--file); cameras and streams say their size")
    if args.file is not None:
        return SourceSpec("file", args.file, sensor=args.sensor)
    if args.camera is not None:
        return SourceSpec("camera", args.camera)
    if args.net is not None:
        return SourceSpec("net", args.net)
    return None


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The ``RunConfig`` a parsed ``run`` command line describes."""
    from neuroclip_live.runtime.config import RunConfig, WindowOptions, read_labels

    return RunConfig(
        source=source_spec(args),
        rule=args.timestep,
        T=args.T,
        speed=args.speed,
        loop=args.loop,
        lossless=args.lossless,
        max_rate=args.max_rate,
        labels=read_labels(args.labels, args.labels_file),
        where=args.where,
        min_confidence=args.min_confidence,
        log_path=args.log,
        model=model_settings(args),
        window=WindowOptions(screenshot=args.screenshot, exit_after=args.exit_after),
    )


def config_from_argv(argv: Sequence[str]) -> RunConfig:
    """A ``RunConfig`` from command-line words (scripts, tests): ``config_from_argv(["--file", p])``."""
    parser = argparse.ArgumentParser(prog="neuroclip-live", allow_abbrev=False)
    add_run_arguments(parser)
    return config_from_args(parser.parse_args(list(argv)))


def main(args: argparse.Namespace, gui: GuiEntry | None) -> int:
    from neuroclip_live.runtime.headless import HeadlessOptions, run_headless

    config = config_from_args(args)
    if args.headless:
        options = HeadlessOptions(
            as_json=args.json,
            dump_dir=args.dump,
            max_steps=args.max_steps,
            top_k=args.top_k or TOP_K,
            exit_after=args.exit_after,
        )
        return run_headless(config, options)
    if gui is None:
        raise NeuroclipError("the window is not available here; add --headless to print results instead")
    if config.log_path is not None:
        from neuroclip_live.runtime.outputs import check_output_file

        check_output_file(config.log_path, "--log")  # one line and exit 2 before a window opens
    return gui(config)
