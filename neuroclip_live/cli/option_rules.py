"""Options that only mean something beside others: given without them, they would be silently ignored.

Each rule names the options it is about, when they apply (from the parsed namespace), and the one
line that says why not. An option counts as given when it is on the command line, even with its
default value (``--speed 1 --camera`` is still a replay speed for a camera).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from neuroclip_live.cli.command_line import UsageError, option_words
from neuroclip_live.model.label_presets import default_labels
from neuroclip_live.wording import plural


@dataclass(frozen=True)
class Rule:
    """``options`` apply only where ``applies(args)``; else ``says``.

    ``says`` may use ``{given}`` and the verbs ``{needs}`` and ``{shapes}``.
    """

    options: tuple[str, ...]
    applies: Callable[[argparse.Namespace], bool]
    says: str


def _live(args: argparse.Namespace) -> bool:
    return args.camera is not None or args.net is not None


RUN_RULES = (
    Rule(
        ("--json", "--dump", "--max-steps", "--top-k"),
        lambda a: a.headless,
        "{given} {needs} --headless (the window shows the results itself)",
    ),
    Rule(
        ("--screenshot",),
        lambda a: not a.headless,
        "--screenshot saves a picture of the window, and --headless opens none (--dump DIR saves each frame)",
    ),
    Rule(
        ("--speed", "--loop"),
        lambda a: not _live(a),
        "{given} {needs} a recording (--file): a camera or a stream runs at its own pace",
    ),
)

_RAY = Rule(
    ("--ray-workers",),
    lambda a: a.ray is not None,
    "{given} {needs} --ray (without it the features are encoded in this process)",
)
_IMAGES = Rule(
    ("--lambda-feature", "--lambda-tcka"),
    lambda a: a.images is not None,
    "{given} {needs} --images IMG_ROOT (they weigh the RGB-to-event transfer)",
)
TRAIN_RULES = (_RAY, _IMAGES)
EVALUATE_RULES = (
    _RAY,
    _IMAGES,
    Rule(
        ("--epochs", "--views", "--no-flip", "--jitter", "--images"),
        lambda a: a.shots is not None,
        "{given} {needs} --shots K (they shape the adapter trained first)",
    ),
    Rule(
        ("--train-split", "--val-per-class", "--seed"),
        lambda a: a.shots is not None or a.alpha_search,
        "{given} {needs} --shots K or --alpha-search (shots and validation samples come from the training split)",
    ),
    Rule(
        ("--adapter", "--alpha"),
        lambda a: a.shots is None,
        "--shots trains a new adapter and chooses its alpha: it cannot be combined with {given}",
    ),
    Rule(
        ("--alpha",), lambda a: not a.alpha_search, "--alpha-search chooses alpha: it cannot be combined with --alpha"
    ),
)

ALIGN_RULES = (
    Rule(
        ("--templates", "--no-ensemble"),
        lambda a: bool(a.labels or default_labels(a.model or "")),
        "{given} only {shapes} the agreement figure, which needs labels: give --labels, or --model tiny-digits",
    ),
)

RULES = {"run": RUN_RULES, "train": TRAIN_RULES, "evaluate": EVALUATE_RULES, "align": ALIGN_RULES}


def given_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The options on the command line, each under every name it has (``-v`` and ``--verbose``)."""
    actions = parser._option_string_actions  # argparse has no public accessor
    given = set()
    for word in option_words(argv):
        action = actions.get(word) or actions.get(word[:2])  # "-T5": a short option with its value
        if action is not None:
            given.update(action.option_strings)
    return given


def check_rules(command: str, parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str]) -> None:
    """Raise ``UsageError`` for the first rule broken: options given where they would do nothing."""
    given = given_options(parser, argv)
    for rule in RULES.get(command, ()):
        named = [option for option in rule.options if option in given]
        if named and not rule.applies(args):
            n = len(named)
            text = rule.says.format(
                given=" and ".join(named), needs=plural(n, "needs", "need"), shapes=plural(n, "shapes", "shape")
            )
            raise UsageError(parser.prog, text)
