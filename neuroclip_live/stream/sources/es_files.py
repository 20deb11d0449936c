"""Event Stream ``.es`` recordings of type DVS, decoded here rather than by faery.

Layout (Event Stream 2.x, DVS type): ``Event Stream``, 3 version bytes, a
type byte (1: DVS), width and height as uint16, then events: one byte
``t_delta << 1 | is_increase`` followed by x and y as uint16, where the byte
0xFF adds 127 us and 0xFE is a reset marker.

Why by hand: faery stops for good at the first coordinate beyond the sensor.
A flipped bit in x or y damages one event (dropped by ``event_checks``), but
one that makes an event byte look like 0xFF or 0xFE shifts every later event
out of step; the decoder here then finds the byte offset where the next
events decode inside the sensor again and goes on from there. Other types
(ATIS, generic, colour) stay with faery.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import numba
import numpy as np

from neuroclip_live.events import EVENT_DTYPE, SensorSize
from neuroclip_live.stream.sources.damage import check_size
from neuroclip_live.stream.sources.file_checks import require_readable_file
from neuroclip_live.stream.sources.recording_scan import (
    IN_MEMORY_MAX_EVENTS,
    RecordingScan,
    ScannedFileSource,
    skip_before,
)

ES_MAGIC = b"Event Stream"
DVS_HEADER_BYTES = 20
_BLOCK_BYTES = 1 << 22
# Events that must decode inside the sensor for an offset to count as back in step.
_IN_STEP = 8


@numba.njit(cache=True, nogil=True)
def _fits(buf, i, width, height):
    """Whether the event at byte ``i`` decodes inside the sensor."""
    n = buf.shape[0]
    if i + 5 > n:
        return False
    x = buf[i + 1] | (np.uint16(buf[i + 2]) << 8)
    y = buf[i + 3] | (np.uint16(buf[i + 4]) << 8)
    return x < width and y < height


@numba.njit(cache=True, nogil=True)
def _in_step(buf, i, width, height):
    """Whether the events from byte ``i`` on (overflow bytes skipped) decode inside the sensor."""
    good = 0
    n = buf.shape[0]
    while good < _IN_STEP and i < n:
        b = buf[i]
        if b >= 0xFE:
            i += 1
            continue
        if i + 5 > n:
            return good > 0
        if not _fits(buf, i, width, height):
            return False
        good += 1
        i += 5
    return True


@numba.njit(cache=True, nogil=True)
def _decode(buf, t, width, height, t_out, x_out, y_out, p_out, state):
    """Decode events from ``buf``; state: [bytes used, resyncs, bytes skipped]. Returns the event count."""
    n = buf.shape[0]
    i = 0
    k = 0
    while i < n:
        b = buf[i]
        if b == 0xFF:
            t += 127
            i += 1
            continue
        if b == 0xFE:
            i += 1
            continue
        if i + 5 > n:
            break  # a partial event: the caller passes it again with the next block
        if not _fits(buf, i, width, height) and not _in_step(buf, i + 5, width, height):
            # Out of step: the next offset where events fit again.
            j = i + 1
            while j + 5 <= n and not (_fits(buf, j, width, height) and _in_step(buf, j + 5, width, height)):
                j += 1
            state[1] += 1
            state[2] += j - i
            i = j
            continue
        t += b >> 1
        t_out[k] = t
        p_out[k] = b & 1
        x_out[k] = buf[i + 1] | (np.uint16(buf[i + 2]) << 8)
        y = buf[i + 3] | (np.uint16(buf[i + 4]) << 8)
        # Event Stream counts rows from the bottom; EVENT_DTYPE (and faery) from the top.
        y_out[k] = height - 1 - y if y < height else 0xFFFF
        k += 1
        i += 5
    state[0] = i
    return k, t


def decode_dvs_block(buf: np.ndarray, t: int, width: int, height: int, state: np.ndarray) -> tuple[np.ndarray, int]:
    """(events of a block of DVS bytes, the time after them); ``state[0]`` says how many bytes were used."""
    cap = buf.shape[0] // 5 + 1
    t_out = np.empty(cap, np.int64)
    x_out = np.empty(cap, np.uint16)
    y_out = np.empty(cap, np.uint16)
    p_out = np.empty(cap, np.uint8)
    k, t = _decode(buf, t, width, height, t_out, x_out, y_out, p_out, state)
    events = np.empty(k, EVENT_DTYPE)
    events["t"], events["x"], events["y"], events["p"] = t_out[:k], x_out[:k], y_out[:k], p_out[:k]
    return events, int(t)


class EsFileSource(ScannedFileSource):
    """A DVS ``.es`` recording (Event Stream 2.x)."""

    def __init__(self, path: str | os.PathLike, in_memory_max_events: int = IN_MEMORY_MAX_EVENTS, sensor: SensorSize | None = None) -> None:
        self.path, self._notes = require_readable_file(path), []
        with self.path.open("rb") as f:
            header = f.read(DVS_HEADER_BYTES)
        declared = check_size(self.name, SensorSize(*struct.unpack_from("<HH", header, 16)))
        self._declared = declared
        self._size = check_size(self.name, sensor, "--sensor gives") if sensor is not None else declared
        self._resync = np.zeros(3, np.int64)
        scan = RecordingScan(self._size, in_memory_max_events)
        for _ in scan.feed(self._decoded(self._resync)):
            pass
        scan.damaged_packets = int(self._resync[1])  # places where the stream was out of step
        scan.damage_unit = "place"
        scan.lost_events = int(self._resync[2]) // 5
        self._keep_scan(scan)

    def _decoded(self, state: np.ndarray) -> Iterator[np.ndarray]:
        t = 0
        width, height = self._declared.width, self._declared.height
        with self.path.open("rb") as f:
            f.seek(DVS_HEADER_BYTES)
            left = np.empty(0, np.uint8)
            while True:
                block = np.fromfile(f, dtype=np.uint8, count=_BLOCK_BYTES)
                final = block.shape[0] < _BLOCK_BYTES
                buf = np.concatenate((left, block)) if left.shape[0] else block
                if buf.shape[0] == 0:
                    return
                events, t = decode_dvs_block(buf, t, width, height, state)
                left = buf[int(state[0]) :]
                if events.shape[0]:
                    yield events
                if final:
                    return

    def _read_from_disk(self, start_us: int | None) -> Iterator[np.ndarray]:
        scan = RecordingScan(self._size, keep_max_events=0)
        return skip_before(scan.feed(self._decoded(np.zeros(3, np.int64))), start_us)


def open_es(path: str | os.PathLike, sensor: SensorSize | None = None, **options) -> ScannedFileSource:
    """A ``.es`` file: DVS type 2.x decoded here, the other types (and anything unexpected) by faery."""
    from neuroclip_live.stream.sources.faery_files import FaeryFileSource

    p = require_readable_file(path)
    with p.open("rb") as f:
        header = f.read(DVS_HEADER_BYTES)
    if len(header) == DVS_HEADER_BYTES and header.startswith(ES_MAGIC) and header[12] == 2 and header[15] == 1:
        return EsFileSource(p, sensor=sensor, **options)
    return FaeryFileSource(p, sensor=sensor, **options)
