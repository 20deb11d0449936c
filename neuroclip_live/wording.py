"""How counts read in messages: "1 timestep", "2 timesteps", never "1 timesteps"."""

from __future__ import annotations


def plural(n: float, word: str, many: str | None = None) -> str:
    """``word`` for one, else ``many`` (default: ``word`` + "s"); for verbs too: ``plural(n, "needs", "need")``."""
    return word if n == 1 else (many if many is not None else word + "s")


def counted(n: int, word: str, many: str | None = None) -> str:
    """``n`` with thousands separators and its noun in the right number: ``counted(1200, "event")``."""
    return f"{n:,} {plural(n, word, many)}"
