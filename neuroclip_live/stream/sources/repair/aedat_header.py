"""The ``IOHeader`` of an AEDAT 4 file or network stream, read field by field with every offset checked.

An AEDAT 4 file starts with a magic line, then a size-prefixed flatbuffer ``IOHeader`` (file identifier
"IOHE") with three fields: ``compression`` (0 none, 1-2 LZ4, 3-4 zstd), ``dataTablePosition`` (where the
packet table starts, -1 if none) and ``infoNode``, an XML description of the streams (id, type
identifier, sensor size). A DV server greets a network client with the same size-prefixed header.

Read here before faery or dv-processing sees the bytes: faery allocates whatever size the prefix
claims before reading it, and dv-processing can hang on a damaged header (measured). A size that does not
fit the bytes there are, an offset outside the header or a description that is not XML is a one-line
``HeaderError``; nothing is allocated from a value read here before it was checked.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from neuroclip_live.events import SensorSize

MAGIC = b"#!AER-DAT4.0\r\n"
IDENTIFIER = b"IOHE"
# A real header is under 1 KiB per stream; anything near this is not an AEDAT 4 header.
MAX_HEADER_BYTES = 1 << 20
_COMPRESSION, _TABLE_POSITION, _INFO_NODE = range(3)  # IOHeader's fields, in schema order
COMPRESSIONS = range(5)


class HeaderError(Exception):
    """The header is not a readable AEDAT 4 IOHeader (the message says what is wrong, in one line)."""


@dataclass(frozen=True)
class IoHeader:
    compression: int
    table_position: int  # -1: no packet table
    table_field: int | None  # where dataTablePosition lies in the header bytes (None: not stored)
    streams: dict[int, str]  # stream id -> type identifier ("EVTS" for events)
    size: SensorSize | None  # the event stream's sensor size, when it says

    @property
    def has_events(self) -> bool:
        return "EVTS" in self.streams.values()


@dataclass(frozen=True)
class FileHeader:
    """An AEDAT 4 file's header: the IOHeader, where the packets start, and the file's size."""

    io: IoHeader
    data_start: int
    file_size: int

    @property
    def table_field(self) -> int | None:
        """The byte offset of dataTablePosition in the file (None if the header does not store it)."""
        field = self.io.table_field
        return None if field is None else len(MAGIC) + 4 + field

    @property
    def packets_end(self) -> int:
        """Where the packets end: the packet table if the header points inside the file, else the file's end."""
        position = self.io.table_position
        return position if self.data_start <= position <= self.file_size else self.file_size


def check_header_size(size: int, available: int) -> None:
    """A size prefix that the bytes there are (``available``) can hold, and that a header can be."""
    if not 12 <= size <= min(MAX_HEADER_BYTES, available):
        raise HeaderError(f"it announces a {size:,}-byte header, not an AEDAT4 one")


def read_file_header(path: Path) -> FileHeader:
    """The header of an AEDAT 4 file; a HeaderError when it is missing, cut or damaged."""
    file_size = path.stat().st_size
    with path.open("rb") as f:
        start = f.read(len(MAGIC) + 4)
        if not start.startswith(MAGIC):
            raise HeaderError("it does not start with the AEDAT 4 magic line (#!AER-DAT4.0)")
        if len(start) < len(MAGIC) + 4:
            raise HeaderError("it ends inside its header")
        (size,) = struct.unpack_from("<I", start, len(MAGIC))
        check_header_size(size, file_size - len(start))
        header = f.read(size)
    return FileHeader(parse_io_header(header), len(start) + size, file_size)


def parse_io_header(header: bytes) -> IoHeader:
    """The fields of an IOHeader flatbuffer (the bytes after its size prefix)."""
    if header[4:8] != IDENTIFIER:
        raise HeaderError("its header is not an AEDAT4 IOHeader")
    try:
        (root,) = struct.unpack_from("<I", header, 0)
        (back,) = struct.unpack_from("<i", header, root)
        vtable = root - back
        if vtable < 0:
            raise HeaderError("its header is cut or corrupt")
        (vtable_size,) = struct.unpack_from("<H", header, vtable)
        slots = [
            struct.unpack_from("<H", header, vtable + 4 + 2 * i)[0] if 4 + 2 * i + 2 <= vtable_size else 0
            for i in range(3)
        ]
        compression = struct.unpack_from("<i", header, root + slots[_COMPRESSION])[0] if slots[_COMPRESSION] else 0
        table = root + slots[_TABLE_POSITION] if slots[_TABLE_POSITION] else None
        position = struct.unpack_from("<q", header, table)[0] if table is not None else -1
    except struct.error:
        raise HeaderError("its header is cut or corrupt") from None
    if compression not in COMPRESSIONS:
        raise HeaderError(f"its header names an unknown compression ({compression})")
    if not slots[_INFO_NODE]:
        raise HeaderError("its header has no stream description")
    streams, size = _streams(_string_at(header, root + slots[_INFO_NODE]))
    return IoHeader(compression, position, table, streams, size)


def _string_at(header: bytes, at: int) -> str:
    """The flatbuffer string a field at ``at`` points to, its length checked against the buffer."""
    try:
        (string_back,) = struct.unpack_from("<I", header, at)
        (length,) = struct.unpack_from("<I", header, at + string_back)
    except struct.error:
        raise HeaderError("its header is cut or corrupt") from None
    start = at + string_back + 4
    if start + length > len(header):
        raise HeaderError("its header is cut or corrupt")
    return header[start : start + length].decode("utf-8", errors="replace")


def _streams(info: str) -> tuple[dict[int, str], SensorSize | None]:
    """The described streams (id -> type identifier) and the event stream's sensor size when given."""
    try:
        root = ET.fromstring(info)
    except ET.ParseError:
        raise HeaderError("its stream description is not readable") from None
    streams: dict[int, str] = {}
    size = None
    for node in root.iter("node"):
        attrs = {a.get("key"): (a.text or "").strip() for a in node.findall("attr")}
        kind = attrs.get("typeIdentifier")
        if kind is None or not (node.get("name") or "").isdecimal():
            continue
        streams[int(node.get("name") or 0)] = kind
        if kind == "EVTS" and size is None:
            info_attrs = {a.get("key"): (a.text or "").strip() for a in node.findall("node/attr")}
            try:
                size = SensorSize(int(info_attrs["sizeX"]), int(info_attrs["sizeY"]))
            except (KeyError, ValueError):
                size = None
    return streams, size
