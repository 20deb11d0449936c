"""Damaged copies of real recordings, and how much of them replays, for tests/test_damaged_files.py.

A mutant is made from a recording's bytes with a seeded generator: a cut at a
random place in the body, one flipped bit, or one zeroed 4 KiB block. The
replayed share is counted the way a user sees it: timesteps that hold events
when the file is replayed through the real framer (30 ms steps).
"""

from __future__ import annotations

from pathlib import Path

import faery
import numpy as np

from neuroclip_live.errors import SourceError
from neuroclip_live.events import SensorSize
from neuroclip_live.stream.framing import EventFramer, TimestepRule
from neuroclip_live.stream.sources import open_file

STEP = TimestepRule("time", 30_000)
BLOCK = 4096


def timesteps(path: Path) -> int:
    """Timesteps with events when ``path`` is replayed through the framer (raises SourceError)."""
    source = open_file(str(path))
    framer = EventFramer(source.size, STEP, T=10)
    steps = 0
    for packet in source.packets_from(None):
        steps += sum(1 for frame in framer.frames(packet) if frame.n_events)  # one at a time, as the app
    return steps + (framer.flush() is not None)


def outcome(path: Path) -> tuple[str, int | str]:
    """("replay", timesteps) or ("error", the one-line message)."""
    try:
        return "replay", timesteps(path)
    except SourceError as err:
        return "error", str(err)


def mutate(data: bytes, kind: str, rng: np.random.Generator, body_start: int) -> bytes:
    """``data`` with one kind of damage in its body: "flip", "zero" (a 4 KiB block) or "cut"."""
    m = bytearray(data)
    if kind == "flip":
        at = int(rng.integers(body_start, len(m)))
        m[at] ^= 1 << int(rng.integers(8))
    elif kind == "zero":
        at = int(rng.integers(body_start, max(body_start + 1, len(m) - BLOCK)))
        m[at : at + BLOCK] = bytes(len(m[at : at + BLOCK]))
    elif kind == "cut":
        m = m[: int(rng.integers(body_start + 1, len(m)))]
    else:
        raise ValueError(kind)
    return bytes(m)


def faery_copy(source: Path, target: Path, max_events: int, **to_file) -> Path:
    """The first ``max_events`` events of ``source`` written by faery in ``target``'s format."""
    stream = faery.events_stream_from_file(source)
    chunks, n = [], 0
    for chunk in stream:
        chunks.append(chunk)
        n += chunk.shape[0]
        if n >= max_events:
            break
    events = np.concatenate(chunks)[:max_events]
    faery.events_stream_from_array(events, stream.dimensions()).to_file(target, **to_file)
    return target


def size_of(path: Path) -> SensorSize:
    return open_file(str(path)).size


def packet_ends(path: Path) -> list[int]:
    """Byte offsets where each packet of an intact AEDAT 4 file ends, in file order."""
    from neuroclip_live.stream.sources.repair.aedat_packets import walk

    chain = walk(path)
    assert chain.intact
    return [*chain.offsets[1:], chain.end]
