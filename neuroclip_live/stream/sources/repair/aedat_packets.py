"""The packet chain of an AEDAT 4 file, walked by hand to step over damage faery cannot.

An AEDAT 4 file is a magic line, a size-prefixed flatbuffer IOHeader, then
packets: ``int32 stream id, int32 size``, then ``size`` bytes of compressed
payload (an LZ4 or zstd frame), and at the end a packet table. faery skips a
packet whose payload is bad, but a damaged packet *header* (a zeroed block,
a file cut short) leaves it nowhere to go on from. The walk here finds every
packet whose header is plausible (a known stream, a size that fits, the
compression's magic number where the payload starts), searching forward for
the next one past damage, so a repaired copy of the good packets can be
decoded. Neither library exposes this, hence the hand-written reader.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np

from neuroclip_live.stream.sources.repair.aedat_header import (
    FileHeader,
    read_file_header,
)

_HEADER = struct.Struct("<ii")
# The payload's first bytes per IOHeader compression (0: none, 1-2: LZ4, 3-4: zstd).
_FRAME_MAGIC = {1: b"\x04\x22\x4d\x18", 2: b"\x04\x22\x4d\x18", 3: b"\x28\xb5\x2f\xfd", 4: b"\x28\xb5\x2f\xfd"}
# An uncompressed payload is a size-prefixed flatbuffer: its size, its root offset, then the stream
# type's file identifier ("EVTS", "FRME", ...), 16 bytes into the packet.
_IDENTIFIER_AT = _HEADER.size + 8
_SEARCH_BLOCK = 1 << 20


@dataclass
class PacketChain:
    """Where the packets are: ``(offset, length)`` runs of whole, plausible packets, and what lies between."""

    header: FileHeader
    runs: list[tuple[int, int]] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # where each packet starts, in file order
    skipped_bytes: int = 0  # damaged bytes stepped over (a cut-off tail included)
    gaps: int = 0  # damaged places stepped over
    end: int = 0  # where the last plausible packet ends

    @property
    def data_start(self) -> int:
        return self.header.data_start

    @property
    def intact(self) -> bool:
        """Every packet plausible, one after the other, up to the packet table (or the file's end)."""
        return self.gaps == 0 and self.end == self.header.packets_end


@numba.njit(cache=True, nogil=True)
def _int32_at(buf, pos):
    value = np.int64(buf[pos]) | (np.int64(buf[pos + 1]) << 8) | (np.int64(buf[pos + 2]) << 16)
    value |= np.int64(buf[pos + 3]) << 24
    return value - (1 << 32) if value >= 1 << 31 else value


@numba.njit(cache=True, nogil=True)
def _size_at(buf, pos, end, ids, identifiers, magic):
    """The payload size of a plausible packet at ``pos``, or -1 (see ``_Plausibility``)."""
    marker_at = 8 if magic.shape[0] else 16
    if pos < 0 or pos + marker_at + 4 > buf.shape[0]:
        return -1
    stream = _int32_at(buf, pos)
    size = _int32_at(buf, pos + 4)
    j = -1
    for i in range(ids.shape[0]):
        if ids[i] == stream:
            j = i
    if j < 0 or size < (5 if magic.shape[0] else 12) or pos + 8 + size > end:
        return -1
    for b in range(4):
        expected = magic[b] if magic.shape[0] else identifiers[j, b]
        if buf[pos + marker_at + b] != expected:
            return -1
    return size


@numba.njit(cache=True, nogil=True)
def _whole_packets(buf, pos, end, ids, identifiers, magic, offsets):
    """Packets one after the other from ``pos`` while plausible: (how many, in ``offsets``; where they stop)."""
    k = 0
    while pos < end and k < offsets.shape[0]:
        size = _size_at(buf, pos, end, ids, identifiers, magic)
        if size < 0:
            break
        offsets[k] = pos
        k += 1
        pos += 8 + size
    return k, pos


class _Plausibility:
    """What a packet at an offset must show: a known stream, a size that fits, its payload's marker.

    The marker is the compression's magic number where the payload starts, or for uncompressed
    payloads the stream type's flatbuffer file identifier, 16 bytes into the packet. The file is
    mapped, not read: following a whole chain touches one page a packet (numba, about 1 us each).
    """

    def __init__(self, buf: np.ndarray, header: FileHeader) -> None:
        self.buf = buf
        streams = header.io.streams
        self.ids = np.array(list(streams), np.int64)
        kinds = [kind.encode("ascii", "replace")[:4].ljust(4, b"\0") for kind in streams.values()]
        self.identifiers = np.frombuffer(b"".join(kinds), np.uint8).reshape(-1, 4)
        self.end = header.packets_end
        magic = _FRAME_MAGIC.get(header.io.compression)
        self.magic = np.frombuffer(magic or b"", np.uint8)
        self.markers = {magic: _HEADER.size} if magic else dict.fromkeys(kinds, _IDENTIFIER_AT)
        self._scratch = np.empty(1 << 16, np.int64)

    def size_at(self, pos: int) -> int:
        return _size_at(self.buf, pos, self.end, self.ids, self.identifiers, self.magic)

    def whole_packets(self, pos: int, offsets: list[int]) -> int:
        """Add the packets that follow one another from ``pos`` to ``offsets``; return where they stop."""
        while True:
            k, pos = _whole_packets(self.buf, pos, self.end, self.ids, self.identifiers, self.magic, self._scratch)
            offsets.extend(self._scratch[:k].tolist())
            if k < self._scratch.shape[0]:
                return pos

    def next_after(self, pos: int) -> int | None:
        """The next offset holding a plausible packet whose successor is plausible too (or the end)."""
        while pos < self.end:
            block = self.buf[pos : pos + _SEARCH_BLOCK + _IDENTIFIER_AT + 4].tobytes()
            found = sorted(pos + i - at for marker, at in self.markers.items() for i in _find_all(block, marker))
            for candidate in (c for c in found if c >= pos):
                size = self.size_at(candidate)
                if size < 0:
                    continue
                following = candidate + _HEADER.size + size
                if following == self.end or self.size_at(following) >= 0:
                    return candidate
            pos += _SEARCH_BLOCK
        return None


def _find_all(block: bytes, marker: bytes) -> list[int]:
    found, at = [], block.find(marker)
    while at != -1:
        found.append(at)
        at = block.find(marker, at + 1)
    return found


def walk(path: Path) -> PacketChain:
    """The file's packet chain, stepping over damage to the next plausible packet (HeaderError: no header)."""
    header = read_file_header(path)
    chain = PacketChain(header)
    check = _Plausibility(np.memmap(path, np.uint8, mode="r"), header)
    pos = run_start = header.data_start
    while pos < check.end:
        pos = check.whole_packets(pos, chain.offsets)
        if pos >= check.end:
            break
        if pos > run_start:
            chain.runs.append((run_start, pos - run_start))
        run_start = pos
        found = check.next_after(pos + 1)
        if found is None:
            break  # garbage to the end of the packets
        chain.skipped_bytes += found - pos
        chain.gaps += 1
        pos = run_start = found
    if pos > run_start:
        chain.runs.append((run_start, min(pos, check.end) - run_start))
    chain.end = min(pos, check.end)
    chain.skipped_bytes += check.end - chain.end
    return chain


def repaired_copy(path: Path, chain: PacketChain) -> tempfile._TemporaryFileWrapper:
    """A temporary copy holding the header and the good packets only, with no packet table to trust."""
    # Returned open: the copy is read by the source and deleted when the source closes it.
    copy = tempfile.NamedTemporaryFile(prefix="neuroclip-", suffix=".aedat4")  # noqa: SIM115 - returned open, see above
    with path.open("rb") as f:
        copy.write(f.read(chain.data_start))
        for offset, length in chain.runs:
            f.seek(offset)
            shutil.copyfileobj(_Limited(f, length), copy, 1 << 20)
    if chain.header.table_field is not None:
        copy.seek(chain.header.table_field)
        copy.write(struct.pack("<q", -1))  # -1: no table; faery then reads packet by packet
    copy.flush()
    return copy


class _Limited:
    """The next ``n`` bytes of a file, for ``shutil.copyfileobj``."""

    def __init__(self, f, n: int) -> None:
        self.f = f
        self.left = n

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.f.read(size)
        self.left -= len(data)
        return data
