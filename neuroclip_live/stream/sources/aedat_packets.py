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

MAGIC = b"#!AER-DAT4.0\r\n"
_HEADER = struct.Struct("<ii")
# The payload's first bytes per IOHeader compression (0: none, 1-2: LZ4, 3-4: zstd).
_FRAME_MAGIC = {1: b"\x04\x22\x4d\x18", 2: b"\x04\x22\x4d\x18", 3: b"\x28\xb5\x2f\xfd", 4: b"\x28\xb5\x2f\xfd"}
_SEARCH_BLOCK = 1 << 20


@dataclass
class PacketChain:
    """Where the packets are: ``(offset, length)`` runs of whole, plausible packets, and what lies between."""

    data_start: int
    runs: list[tuple[int, int]] = field(default_factory=list)
    skipped_bytes: int = 0  # damaged bytes stepped over (a cut-off tail included)
    gaps: int = 0  # damaged places stepped over

    @property
    def intact(self) -> bool:
        return self.gaps == 0


def _io_header(head: bytes) -> tuple[int, int | None, int | None] | None:
    """(data start, byte offset of dataTablePosition if stored, compression) from a file's first bytes."""
    base = len(MAGIC)
    try:
        if not head.startswith(MAGIC) or head[base + 8 : base + 12] != b"IOHE":
            return None
        size, root = struct.unpack_from("<II", head, base)
        table = base + 4 + root
        (back,) = struct.unpack_from("<i", head, table)
        vtable = table - back
        (vtable_size,) = struct.unpack_from("<H", head, vtable)
        fields = [struct.unpack_from("<H", head, vtable + 4 + 2 * i)[0] for i in range(min((vtable_size - 4) // 2, 2))]
        compression = struct.unpack_from("<i", head, table + fields[0])[0] if fields and fields[0] else 0
    except struct.error:
        return None
    position = table + fields[1] if len(fields) > 1 and fields[1] else None
    return base + 4 + size, position, compression


def walk(path: Path, stream_ids: set[int]) -> PacketChain | None:
    """The file's packet chain (None when its IOHeader cannot be read)."""
    with path.open("rb") as f:
        header = _io_header(f.read(1 << 16))
        if header is None:
            return None
        start, _, compression = header
        magic = _FRAME_MAGIC.get(compression or 0)
        end = path.stat().st_size
        chain = PacketChain(start)
        pos = start
        run_start = start
        while pos + _HEADER.size <= end:
            if _plausible(f, pos, end, stream_ids, magic):
                pos += _HEADER.size + _HEADER.unpack(_read_at(f, pos, _HEADER.size))[1]
                continue
            if pos > run_start:
                chain.runs.append((run_start, pos - run_start))
            run_start = pos
            found = _next_plausible(f, pos + 1, end, stream_ids, magic)
            if found is None:
                break  # garbage, or the packet table, to the end
            chain.skipped_bytes += found - pos
            chain.gaps += 1
            pos = run_start = found
        if pos > run_start:
            chain.runs.append((run_start, min(pos, end) - run_start))
        return chain


def _read_at(f, pos: int, n: int) -> bytes:
    f.seek(pos)
    return f.read(n)


def _plausible(f, pos: int, end: int, stream_ids: set[int], magic: bytes | None) -> bool:
    head = _read_at(f, pos, _HEADER.size + 4)
    if len(head) < _HEADER.size + 4:
        return False
    stream, size = _HEADER.unpack_from(head)
    if stream not in stream_ids or size <= 4 or pos + _HEADER.size + size > end:
        return False
    return magic is None or head[_HEADER.size :] == magic


def _next_plausible(f, pos: int, end: int, stream_ids: set[int], magic: bytes | None) -> int | None:
    """The next offset holding a plausible packet header whose successor is plausible too (or the end)."""
    if magic is None:
        return None  # uncompressed payloads have no marker to search for
    while pos < end:
        block = _read_at(f, pos, _SEARCH_BLOCK + len(magic))
        at = block.find(magic)
        while at != -1:
            candidate = pos + at - _HEADER.size
            if candidate >= 0 and _plausible(f, candidate, end, stream_ids, magic):
                size = _HEADER.unpack(_read_at(f, candidate, _HEADER.size))[1]
                following = candidate + _HEADER.size + size
                if following + _HEADER.size > end or _plausible(f, following, end, stream_ids, magic):
                    return candidate
            at = block.find(magic, at + 1)
        pos += _SEARCH_BLOCK
    return None


def repaired_copy(path: Path, chain: PacketChain) -> tempfile._TemporaryFileWrapper:
    """A temporary copy holding the header and the good packets only, with no packet table to trust."""
    copy = tempfile.NamedTemporaryFile(prefix="neuroclip-", suffix=".aedat4")
    with path.open("rb") as f:
        head = f.read(chain.data_start)
        copy.write(head)
        for offset, length in chain.runs:
            f.seek(offset)
            shutil.copyfileobj(_Limited(f, length), copy, 1 << 20)
    header = _io_header(head)
    if header is not None and header[1] is not None:
        copy.seek(header[1])
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
