"""One pass over a recording on open: what it holds, and its events when they are few.

Library-decoded recordings (``.aedat4``, ``.raw``, ``.dat``, ``.es``, ``.csv``)
are scanned once when opened, because the time range, the event count and
the events' extent (to check them against the declared sensor size) are
written nowhere in these files. The scan keeps the decoded events while they
fit ``in_memory_max_events`` (then seeking is a binary search), and drops them
for bigger files, which are decoded again lazily from disk. Files too big for
that (see ``STREAM_BYTES_PER_EVENT``) are not scanned at all where the time
range can be had cheaply: they stream, and their first whole pass is the scan.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuroclip_live.errors import SourceError
from neuroclip_live.events import EVENT_DTYPE, SensorSize, concatenate, index_at
from neuroclip_live.stream.sources.base import FileSource
from neuroclip_live.stream.sources.repair.damage import MAX_SENSOR, damage_summary
from neuroclip_live.stream.sources.repair.event_checks import (
    BACKWARDS,
    FIRST_OUT_X,
    FIRST_OUT_Y,
    FIRST_T,
    KEPT,
    LAST_T,
    MAX_X,
    MAX_Y,
    OUTSIDE,
    SPIKES,
    check_events,
    new_stats,
)
from neuroclip_live.wording import counted

# 4M events are 52 MB as EVENT_DTYPE: files up to that are decoded once and
# kept (faery's EVT3 decode runs at about 30 Mev/s here, so a seek by
# re-decoding a 10 s HD recording would cost about 40 ms; from memory it is
# instant). Bigger files stay on disk.
IN_MEMORY_MAX_EVENTS = 4_000_000

# A file bigger than this many bytes per event kept in memory is streamed instead of scanned on
# open (decoded once, as it plays): compressed AEDAT 4 and EVT 3.0 take 4-8 bytes per event.
STREAM_BYTES_PER_EVENT = 4

# Packets handed out of an in-memory recording (about what the libraries decode at once).
ARRAY_PACKET_EVENTS = 10_000


def events_from_fields(t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """EVENT_DTYPE from a library's field arrays (p: bool or 0/1 integers).

    Direct field assignment: about 4x faster than ``events.make_events``,
    whose ``p != 0`` makes a temporary; the libraries already give 0/1.
    """
    out = np.empty(t.shape[0], dtype=EVENT_DTYPE)
    out["t"] = t
    out["x"] = x
    out["y"] = y
    out["p"] = p
    return out


def events_from_faery(chunk: np.ndarray) -> np.ndarray:
    """EVENT_DTYPE from a faery chunk (``t u8, x u2, y u2, on bool``, packed).

    The layouts are byte-identical, so a view (no copy) does it: about 1% of
    the cost of assigning the four fields (LIBRARY-NOTES).
    """
    if chunk.dtype.itemsize == EVENT_DTYPE.itemsize and chunk.flags.c_contiguous:
        return chunk.view(EVENT_DTYPE)
    return events_from_fields(chunk["t"], chunk["x"], chunk["y"], chunk["on"])


def array_packets(events: np.ndarray, start_us: int | None, packet: int = ARRAY_PACKET_EVENTS) -> Iterator[np.ndarray]:
    """Packets of a time-ordered in-memory recording, from ``start_us`` on."""
    if start_us is not None:
        events = events[index_at(events, start_us) :]
    for i in range(0, events.shape[0], packet):
        yield events[i : i + packet]


def skip_before(chunks: Iterator[np.ndarray], start_us: int | None) -> Iterator[np.ndarray]:
    """Drop the events before ``start_us`` from a time-ordered stream of chunks."""
    if start_us is None:
        yield from chunks
        return
    for chunk in chunks:
        if chunk.shape[0] == 0 or chunk["t"][-1] < start_us:
            continue
        yield chunk[index_at(chunk, start_us) :]
        break
    yield from chunks


@dataclass
class RecordingScan:
    """What one pass over a recording found, and the check its chunks pass (``feed``).

    ``bounds``: events at or beyond it are dropped and counted (the declared
    sensor, or the largest one the format implies).
    """

    bounds: SensorSize = MAX_SENSOR
    keep_max_events: int = IN_MEMORY_MAX_EVENTS
    stats: np.ndarray = field(default_factory=new_stats)
    chunk_first_t: list[int] = field(default_factory=list)
    damaged_packets: int = 0  # packets a decoder refused (or places it stepped over), skipped
    damage_unit: str = "packet"  # what ``damaged_packets`` counts, for the summary
    lost_events: int | None = None  # events lost in them, when the decoder knows (else estimated per packet)
    damage: str | None = None  # why the pass stopped before the end of the file
    first_error: str | None = None  # the first decoding error, whether or not reading went on
    _kept: list[np.ndarray] | None = field(default_factory=list)

    def feed(self, chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """The checked chunks (see ``event_checks``); the counts grow as they are read."""
        carry = None
        width, height = self.bounds.width, self.bounds.height
        for chunk in chunks:
            if carry is not None:
                chunk = concatenate([carry, chunk])
            checked, decided = check_events(chunk, width, height, self.stats, final=False)
            carry = chunk[decided:] if decided < chunk.shape[0] else None
            yield from self._record(checked)
        if carry is not None:
            yield from self._record(check_events(carry, width, height, self.stats, final=True)[0])

    def _record(self, events: np.ndarray) -> Iterator[np.ndarray]:
        if events.shape[0] == 0:
            return
        self.chunk_first_t.append(int(events["t"][0]))
        if self._kept is not None:
            if self.count <= self.keep_max_events:
                self._kept.append(events)
            else:
                self._kept = None  # too big to hold: read lazily from disk instead
        yield events

    def stop(self, reason: str) -> None:
        """Reading failed here: what came before stays usable (a re-read stops at the same place)."""
        self.damage = reason
        self.first_error = self.first_error or reason

    def skip_packet(self, reason: str) -> None:
        """A decoder refused one packet and went on with the next."""
        self.damaged_packets += 1
        self.first_error = self.first_error or reason

    @property
    def count(self) -> int:
        return int(self.stats[KEPT])

    @property
    def dropped(self) -> int:
        """Events dropped by the check: outside the bounds, backwards in time, lone time spikes."""
        return int(self.stats[OUTSIDE] + self.stats[BACKWARDS] + self.stats[SPIKES])

    @property
    def extent(self) -> SensorSize:
        """The smallest sensor that holds every event kept."""
        return SensorSize(int(self.stats[MAX_X]) + 1, int(self.stats[MAX_Y]) + 1)

    @property
    def first_outside(self) -> tuple[int, int] | None:
        """(x, y) of the first event beyond the bounds, if any."""
        return (int(self.stats[FIRST_OUT_X]), int(self.stats[FIRST_OUT_Y])) if self.stats[OUTSIDE] else None

    @property
    def kept_events(self) -> np.ndarray | None:
        """Every event, in time order, when the recording was small enough to keep."""
        if self._kept is None:
            return None
        events = concatenate(self._kept)
        self._kept = [events]
        return events

    @property
    def time_range(self) -> tuple[int, int]:
        if self.count == 0:
            return (0, 0)
        return (int(self.stats[FIRST_T]), int(self.stats[LAST_T]))

    def describe_read(self) -> str:
        """'N events (S s)': how much a damaged file gave."""
        first, last = self.time_range
        return f"{counted(self.count, 'event')} ({(last - first) / 1e6:.3g} s)"

    def summary(self, name: str) -> str | None:
        """The one line on what the check and the decoder skipped; None for a clean file."""
        return damage_summary(name, self)


class ScannedFileSource(FileSource):
    """A recording scanned on open: read from memory when small, from disk through ``_read_from_disk`` when not.

    Subclasses set ``path``, ``_size``, ``_scan``, ``_events`` (``_scan.kept_events``) and ``_notes``.
    """

    path: Path
    _size: SensorSize
    _scan: RecordingScan
    _events: np.ndarray | None
    _notes: list[str]
    # Streamed (a big file): the time range read cheaply on open, until a whole pass gives the counts.
    _streamed_range: tuple[int, int] | None = None

    @abstractmethod
    def _read_from_disk(self, start_us: int | None) -> Iterator[np.ndarray]:
        """Packets from ``start_us`` on, decoded again from the file."""

    def _keep_scan(self, scan: RecordingScan) -> None:
        """Adopt a finished scan: refuse a file without events, note what was skipped, keep a small file's events."""
        if scan.count == 0:
            raise SourceError(f"{self.name}: the recording holds no events")
        self._scan = scan
        summary = scan.summary(self.name)
        if summary is not None:
            self._notes.append(summary)
        self._events = scan.kept_events

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def size(self) -> SensorSize:
        return self._size

    @property
    def time_range(self) -> tuple[int, int]:
        if self._streamed_range is not None and not self._passed:
            return self._streamed_range
        return self._scan.time_range

    @property
    def _passed(self) -> bool:
        """Whether the counts are the whole file's (scanned on open, or one whole streamed pass)."""
        return self._streamed_range is None or self._scan.count > 0 or self._scan.damage is not None

    def _streams(self, in_memory_max_events: int) -> bool:
        return self.path.stat().st_size > in_memory_max_events * STREAM_BYTES_PER_EVENT

    def _end_of_pass(self, scan: RecordingScan) -> bool:
        """A whole streamed pass ended: its counts become the file's; what it skipped is noted once.

        Returns whether the file proved clean.
        """
        if self._passed:
            return False
        self._scan = scan
        summary = scan.summary(self.name)
        if summary is not None:
            self._notes.append(summary)
        return summary is None

    @property
    def event_count(self) -> int:
        """Events in the recording (as far as it was readable)."""
        return self._scan.count

    @property
    def in_memory(self) -> bool:
        """Whether the events are held in memory (small file) or decoded again for each read."""
        return self._events is not None

    @property
    def notes(self) -> list[str]:
        return list(self._notes)

    def packets_from(self, start_us: int | None = None) -> Iterator[np.ndarray]:
        if self._events is not None:
            return array_packets(self._events, start_us)
        return self._read_from_disk(start_us)
