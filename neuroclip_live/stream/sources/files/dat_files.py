"""Prophesee ``.dat`` recordings (CD events), decoded here rather than by faery.

Layout: text header lines starting with ``%`` (``% Width``, ``% Height``,
faery's ``% T0``), one byte of event type and one of event size (8), then
8-byte records: ``uint32 t`` (microseconds, wraps every 71 minutes) and
``uint32`` with x in bits 0-13, y in bits 14-27, polarity in bits 28-31.

Why by hand: faery's DAT decoder stops for good at the first coordinate
beyond the sensor, and forces timestamps to be monotonic by raising every
later one to a damaged maximum, so one flipped bit loses the rest of the
file. Records have a fixed size, so a damaged record is one record: the
common checks (``event_checks``) drop it and the next one is read as usual.
Decoding is three numpy operations on the words, in blocks read from disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from neuroclip_live.errors import SourceError
from neuroclip_live.events import EVENT_DTYPE, SensorSize
from neuroclip_live.stream.sources.files.recording_scan import (
    IN_MEMORY_MAX_EVENTS,
    RecordingScan,
    ScannedFileSource,
    skip_before,
)
from neuroclip_live.stream.sources.repair.damage import (
    PROPHESEE_SENSORS,
    check_size,
    implied_size,
)
from neuroclip_live.stream.sources.repair.file_checks import require_readable_file

_RECORD = 8
_BLOCK_RECORDS = 1 << 18  # 2 MB read at a time
_WRAP = 1 << 32
# A timestamp that falls from the last 67 s of the 32-bit range into its first 67 s wrapped.
_WRAP_MARGIN = 1 << 26


def read_dat_header(path: Path) -> tuple[int, dict[str, str]]:
    """(offset of the first record, header keys in lower case) of a ``.dat`` file; a SourceError if it has none."""
    keys: dict[str, str] = {}
    offset = 0
    with path.open("rb") as f:
        while (line := f.readline(1024)).startswith(b"%"):
            offset += len(line)
            words = line[1:].decode("ascii", errors="replace").split(None, 1)
            if len(words) == 2:
                keys[words[0].lower()] = words[1].strip()
        f.seek(offset)
        type_and_size = f.read(2) if offset else b""
    if not offset:
        raise SourceError(
            f"{path.name}: no Prophesee header (lines starting with '%'), so this is not a "
            "Prophesee DAT recording or its start is missing"
        )
    if len(type_and_size) < 2 or type_and_size[1] != _RECORD:
        raise SourceError(f"{path.name}: not a Prophesee CD .dat file (its records are not 8-byte events)")
    return offset + 2, keys


class DatFileSource(ScannedFileSource):
    """A ``.dat`` recording of CD events."""

    def __init__(
        self,
        path: str | os.PathLike,
        in_memory_max_events: int = IN_MEMORY_MAX_EVENTS,
        sensor: SensorSize | None = None,
    ) -> None:
        self.path, self._notes = require_readable_file(path), []
        self._start, keys = read_dat_header(self.path)
        self._t0 = _int(keys.get("t0")) or 0
        declared = None
        width, height = _int(keys.get("width")), _int(keys.get("height"))
        if width and height:
            declared = check_size(self.name, SensorSize(width, height))
        if sensor is not None:
            declared = check_size(self.name, sensor, "--sensor gives")
        self._bounds = declared or PROPHESEE_SENSORS[-1]
        trailing = (self.path.stat().st_size - self._start) % _RECORD
        if trailing:
            self._notes.append(
                f"{self.name}: ends {trailing} byte{'s' * (trailing > 1)} into a record, so the recording was cut "
                "short; replaying the whole records before"
            )
        scan = RecordingScan(self._bounds, in_memory_max_events)
        for _ in scan.feed(self._decoded()):
            pass
        self._size = declared or implied_size(scan.extent)
        if declared is None and scan.count:
            self._notes.append(
                f"{self.name}: the file does not say its sensor size; using {self._size}, the smallest Prophesee "
                "sensor that holds its events (give it with --sensor WxH)"
            )
        self._keep_scan(scan)

    def _decoded(self) -> Iterator[np.ndarray]:
        """Every whole record as EVENT_DTYPE, block by block (not yet checked)."""
        wraps = 0
        previous = -1
        with self.path.open("rb") as f:
            f.seek(self._start)
            while True:
                words = np.fromfile(f, dtype="<u4", count=2 * _BLOCK_RECORDS)
                n = words.shape[0] // 2
                if n == 0:
                    return
                words = words[: 2 * n].reshape(n, 2)
                t = words[:, 0].astype(np.int64)
                falls = (t[1:] < _WRAP_MARGIN) & (t[:-1] >= _WRAP - _WRAP_MARGIN)
                first_falls = previous >= _WRAP - _WRAP_MARGIN and t[0] < _WRAP_MARGIN
                offsets = np.concatenate(([wraps + first_falls], wraps + first_falls + np.cumsum(falls)))
                wraps = int(offsets[-1])
                previous = int(t[-1])
                events = np.empty(n, EVENT_DTYPE)
                events["t"] = t + offsets * _WRAP + self._t0
                data = words[:, 1]
                events["x"] = data & 0x3FFF
                events["y"] = (data >> 14) & 0x3FFF
                events["p"] = (data >> 28) & 1
                yield events

    def _read_from_disk(self, start_us: int | None) -> Iterator[np.ndarray]:
        scan = RecordingScan(self._bounds, keep_max_events=0)
        return skip_before(scan.feed(self._decoded()), start_us)


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
