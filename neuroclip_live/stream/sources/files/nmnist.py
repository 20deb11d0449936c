"""N-MNIST / N-Caltech101 ``.bin`` files: 5 bytes an event.

Byte 0: x, byte 1: y, byte 2: polarity (bit 7, 1 = ON) and timestamp bits
22-16, bytes 3-4: timestamp bits 15-0, in microseconds (Orchard et al. 2015).
Hand-decoded with numpy: faery and dv-processing do not read this format.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from neuroclip_live.errors import SourceError
from neuroclip_live.events import EVENT_DTYPE, SensorSize
from neuroclip_live.stream.sources.files.recording_scan import (
    IN_MEMORY_MAX_EVENTS,
    RecordingScan,
    ScannedFileSource,
    array_packets,
)
from neuroclip_live.stream.sources.repair.damage import check_size
from neuroclip_live.stream.sources.repair.file_checks import require_readable_file
from neuroclip_live.wording import counted

NMNIST_SIZE = SensorSize(34, 34)
# The format's timestamps have 23 bits (8.4 s at most); N-MNIST samples are about 30 kB, N-Caltech101's
# under a few MB. A file far bigger is not this format: refused from its size, before it is read whole.
MAX_BIN_BYTES = 64 << 20


def decode_nmnist_bytes(raw: bytes | np.ndarray) -> tuple[np.ndarray, int]:
    """Decode whole 5-byte records; returns (events, bytes left over at the end)."""
    buf = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, bytes | bytearray) else raw
    usable = buf.shape[0] - buf.shape[0] % 5
    rec = buf[:usable].reshape(-1, 5)
    events = np.empty(rec.shape[0], dtype=EVENT_DTYPE)
    events["x"] = rec[:, 0]
    events["y"] = rec[:, 1]
    events["p"] = rec[:, 2] >> 7
    events["t"] = ((rec[:, 2].astype(np.int64) & 0x7F) << 16) | (rec[:, 3].astype(np.int64) << 8) | rec[:, 4]
    return events, buf.shape[0] - usable


def read_nmnist(path: str | os.PathLike) -> np.ndarray:
    """All events of an N-MNIST ``.bin`` file (trailing partial record ignored)."""
    events, _ = decode_nmnist_bytes(np.fromfile(path, dtype=np.uint8))
    return events


class NmnistFileSource(ScannedFileSource):
    """A ``.bin`` recording: a few thousand events, decoded whole on open.

    Damaged records (a flipped bit) are dropped by the same checks as every
    file source: a timestamp that runs backwards or spikes ahead, a coordinate
    beyond the sensor. A file where most records fail is not this format.
    """

    def __init__(self, path: str | os.PathLike, sensor: SensorSize | None = None) -> None:
        self.path = require_readable_file(path)
        size_bytes = self.path.stat().st_size
        if size_bytes > MAX_BIN_BYTES:
            raise SourceError(
                f"{self.path.name}: {size_bytes / 1e6:,.0f} MB is far more than an N-MNIST-style .bin holds "
                f"(its 23-bit timestamps cover 8.4 s); is it another format?"
            )
        raw = np.fromfile(self.path, dtype=np.uint8)
        if raw.shape[0] < 5:
            size = counted(raw.shape[0], "byte")
            raise SourceError(f"{self.path.name}: no complete event in this .bin file ({size})")
        events, leftover = decode_nmnist_bytes(raw)
        self._notes = []
        if leftover:
            self._notes.append(
                f"{self.path.name}: truncated, read {counted(events.shape[0], 'whole event')}, "
                f"ignored {counted(leftover, 'trailing byte')}"
            )
        # 8-bit coordinates: N-MNIST's sensor is 34x34; N-Caltech101 and others reach further.
        bounds = check_size(self.name, sensor, "--sensor gives") if sensor is not None else SensorSize(256, 256)
        self._scan = RecordingScan(bounds, keep_max_events=max(IN_MEMORY_MAX_EVENTS, events.shape[0]))
        for _ in self._scan.feed(iter([events])):
            pass
        if self._scan.dropped > events.shape[0] // 4:
            # The format has no wrap marker or magic: many decreasing timestamps mean another format.
            raise SourceError(
                f"{self.path.name}: timestamps go backwards in {self._scan.dropped:,} of {events.shape[0]:,} records, "
                "so this is not an N-MNIST-style .bin file (or it is corrupt)"
            )
        summary = self._scan.summary(self.name)
        if summary is not None:
            self._notes.append(summary)
        self._events = self._scan.kept_events
        extent = self._scan.extent
        self._size = sensor or SensorSize(max(NMNIST_SIZE.width, extent.width), max(NMNIST_SIZE.height, extent.height))

    @property
    def events(self) -> np.ndarray:
        """Every event of the file (as checked)."""
        assert self._events is not None
        return self._events

    def _read_from_disk(self, start_us: int | None) -> Iterator[np.ndarray]:
        return array_packets(self.events, start_us)
