"""Command-line mistakes in one line: argparse's errors without the usage block, and typos with the nearest name.

argparse prints its usage block before each error and suggests nothing for an unknown option
(Python 3.12 and later suggest near choices only, not near options); this parser raises
instead, and ``check_words`` names the nearest option or subcommand of those registered.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Sequence
from typing import NoReturn

from neuroclip_live.errors import NeuroclipError

# What argparse itself takes for a value rather than an option: a negative number, or a word with a space.
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


class UsageError(NeuroclipError):
    """A command line argparse cannot read; ``prog`` is the (sub)command it was given to."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise ``UsageError`` (one line, exit status 2 in ``cli.main``)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, f"{message} (see {self.prog} --help)")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subparsers registered on ``parser``, by name (in the order they were added)."""
    for action in parser._actions:  # argparse has no public accessor for them
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every option string ``parser`` accepts (``-T``, ``--file``, ``-h``...)."""
    return list(parser._option_string_actions)


def option_words(argv: Sequence[str]) -> list[str]:
    """The words of ``argv`` that argparse reads as options, without an ``=value`` part."""
    words = []
    for word in argv:
        if word == "--":
            break  # everything after it is a value
        if len(word) < 2 or not word.startswith("-") or " " in word or _NEGATIVE_NUMBER.match(word):
            continue
        words.append(word.split("=", 1)[0] if word.startswith("--") else word)
    return words


def is_known(word: str, known: set[str]) -> bool:
    # A short option may carry its value ("-T5", as argparse allows).
    return word in known or (not word.startswith("--") and word[:2] in known)


def nearest(word: str, names: Sequence[str]) -> str | None:
    """The name closest to ``word`` (case and leading dashes aside), or None when none is close."""
    keys = {name.lstrip("-").lower(): name for name in names}
    match = difflib.get_close_matches(word.lstrip("-").lower(), list(keys), n=1, cutoff=0.6)
    return keys[match[0]] if match else None


def check_options(
    command: str, parser: argparse.ArgumentParser, argv: Sequence[str], others: dict[str, argparse.ArgumentParser]
) -> None:
    """Raise ``UsageError`` for the first option ``parser`` does not know, naming the nearest one.

    Checked before argparse parses, so that a typo is named rather than reported as a required
    option missing (``train --dat x`` says ``--data`` is close, not that ``--data`` is required).
    An option that belongs to another subcommand says which.
    """
    known = set(option_strings(parser))
    unknown = [word for word in option_words(argv) if not is_known(word, known)]
    if not unknown:
        return
    word = unknown[0]
    more = f" (and {len(unknown) - 1} more unknown)" if len(unknown) > 1 else ""
    guess = nearest(word, sorted(known))
    if guess is not None:
        raise UsageError(parser.prog, f"unknown option {word}: did you mean {guess}?{more}")
    owners = [name for name, p in others.items() if name != command and word in option_strings(p)]
    if owners:
        where = " and ".join(f"'neuroclip-live {name}'" for name in owners)
        raise UsageError(parser.prog, f"{word} is an option of {where}, not of this command{more}")
    raise UsageError(parser.prog, f"unknown option {word}{more} (see {parser.prog} --help)")


def unknown_command(word: str, documented: Sequence[str]) -> UsageError:
    """The error for a first word that is no subcommand: the nearest one, or what to do with a file."""
    guess = nearest(word, documented)
    if guess is not None:
        return UsageError("neuroclip-live", f"unknown command '{word}': did you mean '{guess}'?")
    if "." in word or "/" in word:
        return UsageError("neuroclip-live", f"unknown command '{word}': to replay a recording, --file {word}")
    listed = ", ".join(documented)
    return UsageError(
        "neuroclip-live", f"unknown command '{word}': the commands are {listed}; without one, the live app runs"
    )
