"""Event Stream ``.es`` recordings of type DVS and ATIS, decoded here rather than by faery.

Layout (Event Stream 2.x): ``Event Stream``, 3 version bytes, a type byte (0 generic, 1 DVS, 2 ATIS,
3 display, 4 colour), then for DVS and ATIS the width and height as uint16, then events: one
byte of time delta and flags, then x and y as uint16.

- DVS: the byte is ``t_delta << 1 | is_increase``; 0xFF adds 127 us, 0xFE is a reset marker.
- ATIS: the byte is ``t_delta << 2 | polarity << 1 | is_threshold_crossing``; a byte of
  ``0b111111xx`` adds ``63 * xx`` us (0xFC is the reset marker). Threshold crossings are
  exposure measurements, not change events: they are skipped (as faery does).

Why by hand: faery stops for good at the first coordinate beyond the sensor (one flipped bit in
an ATIS file replayed 1 of 34 timesteps). A flipped bit in x or y damages one event (dropped by
``event_checks``), but one that makes an event byte look like an overflow or reset byte shifts
every later event out of step; the decoder here then finds the byte offset where the next events
decode inside the sensor again and goes on from there. Generic, display and colour events carry
no polarity (and the first two no pixel), so those types are refused with a message, as faery
refuses them.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import numba
import numpy as np

from neuroclip_live.errors import SourceError
from neuroclip_live.events import EVENT_DTYPE, SensorSize
from neuroclip_live.stream.sources.files.recording_scan import (
    IN_MEMORY_MAX_EVENTS,
    RecordingScan,
    ScannedFileSource,
    skip_before,
)
from neuroclip_live.stream.sources.repair.damage import check_size
from neuroclip_live.stream.sources.repair.file_checks import require_readable_file

ES_MAGIC = b"Event Stream"
HEADER_BYTES = 20  # magic, version, type, width, height
DVS, ATIS = 1, 2
_OTHER_TYPES = {
    0: "generic events (no pixel, no polarity)",
    3: "display events (no polarity)",
    4: "colour events (no polarity)",
}
_BLOCK_BYTES = 1 << 22
# Events that must decode inside the sensor for an offset to count as back in step.
_IN_STEP = 8


@numba.njit(cache=True, nogil=True, inline="always")
def _is_marker(b, atis):
    """Whether byte ``b`` in the idle state is an overflow or reset byte rather than an event's first."""
    return b >= 0xFC if atis else b >= 0xFE


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
def _in_step(buf, i, width, height, atis):
    """Whether the events from byte ``i`` on (overflow bytes skipped) decode inside the sensor."""
    good = 0
    n = buf.shape[0]
    while good < _IN_STEP and i < n:
        if _is_marker(buf[i], atis):
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
def _decode(buf, t, width, height, atis, t_out, x_out, y_out, p_out, state):
    """Decode events from ``buf``; state: [bytes used, resyncs, bytes skipped]. Returns the event count."""
    n = buf.shape[0]
    i = 0
    k = 0
    while i < n:
        b = buf[i]
        if _is_marker(b, atis):
            t += 63 * (b & 3) if atis else 127 * (b & 1)  # an overflow; a reset adds nothing
            i += 1
            continue
        if i + 5 > n:
            break  # a partial event: the caller passes it again with the next block
        if not _fits(buf, i, width, height) and not _in_step(buf, i + 5, width, height, atis):
            # Out of step: the next offset where events fit again.
            j = i + 1
            while j + 5 <= n and not (_fits(buf, j, width, height) and _in_step(buf, j + 5, width, height, atis)):
                j += 1
            state[1] += 1
            state[2] += j - i
            i = j
            continue
        i += 5
        if atis:
            t += b >> 2
            if b & 1:
                continue  # a threshold crossing (exposure measurement), not a change event
            p_out[k] = (b >> 1) & 1
        else:
            t += b >> 1
            p_out[k] = b & 1
        t_out[k] = t
        x_out[k] = buf[i - 4] | (np.uint16(buf[i - 3]) << 8)
        y = buf[i - 2] | (np.uint16(buf[i - 1]) << 8)
        # Event Stream counts rows from the bottom; EVENT_DTYPE (and faery) from the top.
        y_out[k] = height - 1 - y if y < height else 0xFFFF
        k += 1
    state[0] = i
    return k, t


def decode_es_block(
    buf: np.ndarray, t: int, width: int, height: int, atis: bool, state: np.ndarray
) -> tuple[np.ndarray, int]:
    """(events of a block of DVS or ATIS bytes, the time after them); ``state[0]`` says how many bytes were used."""
    cap = buf.shape[0] // 5 + 1
    t_out = np.empty(cap, np.int64)
    x_out = np.empty(cap, np.uint16)
    y_out = np.empty(cap, np.uint16)
    p_out = np.empty(cap, np.uint8)
    k, t = _decode(buf, t, width, height, atis, t_out, x_out, y_out, p_out, state)
    events = np.empty(k, EVENT_DTYPE)
    events["t"], events["x"], events["y"], events["p"] = t_out[:k], x_out[:k], y_out[:k], p_out[:k]
    return events, int(t)


class EsFileSource(ScannedFileSource):
    """A DVS or ATIS ``.es`` recording (Event Stream 2.x)."""

    def __init__(
        self,
        path: str | os.PathLike,
        in_memory_max_events: int = IN_MEMORY_MAX_EVENTS,
        sensor: SensorSize | None = None,
    ) -> None:
        self.path, self._notes = require_readable_file(path), []
        with self.path.open("rb") as f:
            header = f.read(HEADER_BYTES)
        self._atis = es_type(self.name, header) == ATIS
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
            f.seek(HEADER_BYTES)
            left = np.empty(0, np.uint8)
            while True:
                block = np.fromfile(f, dtype=np.uint8, count=_BLOCK_BYTES)
                final = block.shape[0] < _BLOCK_BYTES
                buf = np.concatenate((left, block)) if left.shape[0] else block
                if buf.shape[0] == 0:
                    return
                events, t = decode_es_block(buf, t, width, height, self._atis, state)
                left = buf[int(state[0]) :]
                if events.shape[0]:
                    yield events
                if final:
                    return

    def _read_from_disk(self, start_us: int | None) -> Iterator[np.ndarray]:
        scan = RecordingScan(self._size, keep_max_events=0)
        return skip_before(scan.feed(self._decoded(np.zeros(3, np.int64))), start_us)


def es_type(name: str, header: bytes) -> int:
    """The event type of an Event Stream header (DVS or ATIS); a one-line SourceError for anything else."""
    if not header.startswith(ES_MAGIC):
        raise SourceError(f"{name}: not a readable Event Stream file (it does not start with 'Event Stream')")
    if len(header) < len(ES_MAGIC) + 4:
        raise SourceError(f"{name}: not a readable Event Stream file (it ends inside its header)")
    major, minor, patch, kind = header[12:16]
    if major != 2:
        raise SourceError(f"{name}: Event Stream version {major}.{minor}.{patch}; the version read here is 2.x")
    if kind in _OTHER_TYPES:
        raise SourceError(f"{name}: an Event Stream of {_OTHER_TYPES[kind]}; DVS and ATIS recordings are read here")
    if kind not in (DVS, ATIS):
        raise SourceError(f"{name}: an Event Stream of unknown event type {kind} (damaged header?)")
    if len(header) < HEADER_BYTES:
        raise SourceError(f"{name}: not a readable Event Stream file (it ends inside its header)")
    return kind
