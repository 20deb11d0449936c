"""The ``neuroclip-live`` command line: one module per subcommand, argparse subparsers.

``run`` (the live app) is the default: a command line that does not start with
a subcommand's name runs it. The console script lives in ``ui.launch`` so that
the window can be opened from here without the core importing Qt: ``main``
takes the GUI entry as an argument.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from neuroclip_live.cli import align, evaluate, run, search, train
from neuroclip_live.cli.arguments import EXIT_USER_ERROR, DefaultsHelpFormatter
from neuroclip_live.cli.run import GuiEntry
from neuroclip_live.errors import NeuroclipError

COMMANDS = {"run": run, "train": train, "evaluate": evaluate, "align": align, "search": search}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neuroclip-live", description=run.DESCRIPTION, allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}")
    for module in COMMANDS.values():
        p = module.register(sub)
        p.allow_abbrev = False  # a typo ("--headles") is an error, not a guess
        p.formatter_class = DefaultsHelpFormatter
    return parser


def main(argv: Sequence[str] | None = None, gui: GuiEntry | None = None) -> int:
    """Entry point; returns the exit code. User mistakes print one line, never a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        argv = ["run", *argv]  # the live app is the default command (its --help and --version too)
    try:
        args = build_parser().parse_args(argv)
        verbose = getattr(args, "verbose", False)
        logging.basicConfig(
            level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
        )
        if args.command == "run":
            return run.main(args, gui)
        return args.handler(args)
    except NeuroclipError as err:
        print(f"neuroclip-live: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
