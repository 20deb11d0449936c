"""The greeting of an AEDAT4 network stream, read with a deadline and checked before dv-processing sees it.

A DV server opens every connection with a size-prefixed flatbuffer ``IOHeader`` (file identifier
"IOHE") whose ``infoNode`` string is an XML description of the streams it sends. dv-processing
2.0.4's ``NetworkReader`` constructor reads that header with no timeout while holding the GIL:
a peer that sends 8 random bytes and "IOHE", half a header, or nothing, freezes the whole app
(measured). So the header is read here, whole, within a deadline, and parsed field by field;
only a complete, well-formed greeting that announces an event stream goes on.
"""

from __future__ import annotations

import socket
import struct
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from neuroclip_live.events import SensorSize

# A real greeting is under 1 KiB per stream; anything near this is not a DV server.
MAX_GREETING_BYTES = 1 << 20
_IDENTIFIER = b"IOHE"
_INFO_NODE_FIELD = 2  # IOHeader: compression, dataTablePosition, infoNode


class GreetingError(Exception):
    """The peer's greeting is not a DV event stream's (the message says what is wrong)."""


@dataclass(frozen=True)
class Greeting:
    raw: bytes  # the size prefix and the header, exactly as received
    streams: dict[int, str]  # stream id -> type identifier ("EVTS" for events)
    size: SensorSize | None  # the event stream's sensor size, when it says

    @property
    def has_events(self) -> bool:
        return "EVTS" in self.streams.values()


def read_greeting(sock: socket.socket, timeout_s: float) -> Greeting:
    """Read and check the size-prefixed IOHeader within ``timeout_s`` seconds in all."""
    deadline = time.monotonic() + timeout_s
    prefix = _read_exactly(sock, 4, deadline)
    (size,) = struct.unpack("<I", prefix)
    if not 12 <= size <= MAX_GREETING_BYTES:
        raise GreetingError(f"it announces a {size:,}-byte header, not an AEDAT4 one")
    header = _read_exactly(sock, size, deadline)
    if header[4:8] != _IDENTIFIER:
        raise GreetingError("its header is not an AEDAT4 IOHeader")
    streams, sensor = _streams(_info_node(header))
    return Greeting(prefix + header, streams, sensor)


def _read_exactly(sock: socket.socket, n: int, deadline: float) -> bytes:
    parts, got = [], 0
    while got < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        part = sock.recv(min(n - got, 1 << 16))
        if not part:
            raise GreetingError("it closed the connection before its header was complete")
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _info_node(header: bytes) -> str:
    """The ``infoNode`` string of a flatbuffer IOHeader, every offset checked against the buffer."""
    try:
        (root,) = struct.unpack_from("<I", header, 0)
        (vtable_back,) = struct.unpack_from("<i", header, root)
        vtable = root - vtable_back
        (vtable_size,) = struct.unpack_from("<H", header, vtable)
        slot = 4 + 2 * _INFO_NODE_FIELD
        if vtable < 0 or vtable_size < slot + 2:
            raise GreetingError("its header has no stream description")
        (field,) = struct.unpack_from("<H", header, vtable + slot)
        if field == 0:
            raise GreetingError("its header has no stream description")
        at = root + field
        (string_back,) = struct.unpack_from("<I", header, at)
        (length,) = struct.unpack_from("<I", header, at + string_back)
    except struct.error:
        raise GreetingError("its header is cut or corrupt") from None
    start = at + string_back + 4
    if start + length > len(header):
        raise GreetingError("its header is cut or corrupt")
    return header[start : start + length].decode("utf-8", errors="replace")


def _streams(info: str) -> tuple[dict[int, str], SensorSize | None]:
    """The described streams (id -> type identifier) and the event stream's sensor size when given."""
    try:
        root = ET.fromstring(info)
    except ET.ParseError:
        raise GreetingError("its stream description is not readable") from None
    streams: dict[int, str] = {}
    size = None
    for node in root.iter("node"):
        attrs = {a.get("key"): (a.text or "").strip() for a in node.findall("attr")}
        kind = attrs.get("typeIdentifier")
        if kind is None or not (node.get("name") or "").isdigit():
            continue
        streams[int(node.get("name") or 0)] = kind
        if kind == "EVTS" and size is None:
            info_attrs = {a.get("key"): (a.text or "").strip() for a in node.findall("node/attr")}
            try:
                size = SensorSize(int(info_attrs["sizeX"]), int(info_attrs["sizeY"]))
            except (KeyError, ValueError):
                size = None
    return streams, size
