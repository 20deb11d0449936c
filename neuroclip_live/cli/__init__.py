"""The ``neuroclip-live`` command line: one module per subcommand, argparse subparsers.

``run`` (the live app) is the default: a command line that does not start with
a subcommand's name runs it, and the name ``run`` itself is not advertised. The
console script lives in ``ui.launch`` so that the window can be opened from
here without the core importing Qt: ``main`` takes the GUI entry as an argument.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from neuroclip_live.cli import align, clips, evaluate, run, search, train
from neuroclip_live.cli.arguments import EXIT_USER_ERROR, DefaultsHelpFormatter
from neuroclip_live.cli.command_line import (
    OneLineParser,
    UsageError,
    check_options,
    subcommands,
    unknown_command,
)
from neuroclip_live.cli.option_rules import check_rules
from neuroclip_live.cli.run import GuiEntry
from neuroclip_live.errors import NeuroclipError

COMMANDS = {"run": run, "train": train, "evaluate": evaluate, "align": align, "clips": clips, "search": search}
DEFAULT_COMMAND = "run"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="neuroclip-live", allow_abbrev=False)
    sub = parser.add_subparsers(dest="command")
    for module in COMMANDS.values():
        p = module.register(sub)
        p.allow_abbrev = False  # a typo ("--headles") is an error, not a guess
        p.formatter_class = DefaultsHelpFormatter
    documented = {a.dest: a.help for a in sub._choices_actions if a.dest != DEFAULT_COMMAND}
    sub.metavar = "{" + ",".join(documented) + "}"
    live = subcommands(parser)[DEFAULT_COMMAND]
    parser.description = live.description = run.description(documented)
    return parser


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The parsed command line; every mistake raises ``UsageError`` (one line, the nearest name when a typo)."""
    parser = build_parser()
    commands = subcommands(parser)
    argv = list(argv)
    if argv and not argv[0].startswith("-") and argv[0] not in commands:
        raise unknown_command(argv[0], [name for name in commands if name != DEFAULT_COMMAND])
    if not argv or argv[0] not in commands:
        argv = [DEFAULT_COMMAND, *argv]  # the live app is the default command (its --help and --version too)
    command = commands[argv[0]]
    check_options(argv[0], command, argv[1:], commands)
    args = parser.parse_args(argv)
    check_rules(argv[0], command, args, argv[1:])
    return args


def main(argv: Sequence[str] | None = None, gui: GuiEntry | None = None) -> int:
    """Entry point; returns the exit code. User mistakes print one line, never a traceback."""
    try:
        args = parse(sys.argv[1:] if argv is None else argv)
        verbose = getattr(args, "verbose", False)
        logging.basicConfig(
            level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
        )
        if args.command == DEFAULT_COMMAND:
            return run.main(args, gui)
        return args.handler(args)
    except UsageError as err:
        print(f"{err.prog}: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except NeuroclipError as err:
        print(f"neuroclip-live: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
