"""Time that faery holds at a damaged timestamp, and decoding resumed past it.

faery's AEDAT 4 decoder raises every timestamp that runs backwards to the
previous one, for the rest of the file. A flipped bit in a compressed event
packet whose checksum still passes (dv writes LZ4 frames without content
checksums) can decode into a timestamp far ahead (measured: 2^50 us and more),
and then every later packet comes out held at that one time: the check sees a
jump confirmed by all the events after it, and the rest of the recording
collapses into one timestep. Nothing in faery resets that state, so the
packet after the damaged one is decoded again by a fresh decoder, from a copy
of the file that starts there (see ``resumed_copy``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from neuroclip_live.stream.sources.repair.aedat_packets import (
    PacketChain,
    repaired_copy,
    walk,
)
from neuroclip_live.stream.sources.repair.event_checks import LOOKAHEAD, TIME_JUMP_US


def held_after(before_t: int, previous: np.ndarray, current: np.ndarray) -> bool:
    """Whether ``current`` may be time held at a jump in ``previous`` (faery output, time-ordered).

    ``before_t`` is the last time before ``previous`` (-1 if none). A suspect,
    not a verdict: a fresh decode of ``current`` tells (see ``is_held``).
    """
    if previous.shape[0] == 0 or current.shape[0] == 0:
        return False
    held = previous["t"][-1]
    head = current["t"][:LOOKAHEAD]
    if head[0] != held or head[-1] != held:
        return False
    steps = np.diff(previous["t"])
    jump = max(int(steps.max()) if steps.size else 0, int(previous["t"][0]) - before_t if before_t >= 0 else 0)
    return jump > TIME_JUMP_US


def is_held(previous: np.ndarray, fresh: np.ndarray) -> bool:
    """Whether a fresh decode of the next packet starts before where faery held time: it was held."""
    return fresh.shape[0] > 0 and previous.shape[0] > 0 and fresh["t"][0] < previous["t"][-1]


def before_next(previous: np.ndarray, fresh: np.ndarray) -> np.ndarray:
    """The events of the damaged packet up to the next packet's first time (past it: damage, held)."""
    return previous[: int(np.searchsorted(previous["t"], fresh["t"][0], side="right"))]


def resumed_copy(path: Path, index: int) -> tempfile._TemporaryFileWrapper | None:
    """A copy of ``path`` whose packets start at its ``index``-th (None if there is no such packet)."""
    chain = walk(path)
    if index >= len(chain.offsets):
        return None
    at = chain.offsets[index]
    runs = [(max(start, at), start + length - max(start, at)) for start, length in chain.runs if start + length > at]
    return repaired_copy(path, PacketChain(chain.header, runs))
