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
from dataclasses import dataclass

from neuroclip_live.events import SensorSize
from neuroclip_live.stream.sources.repair.aedat_header import (
    HeaderError,
    check_header_size,
    parse_io_header,
)

# The peer's greeting is not a DV event stream's: the same checks as a file's header, the same error.
GreetingError = HeaderError


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
    check_header_size(size, size)
    header = _read_exactly(sock, size, deadline)
    parsed = parse_io_header(header)
    return Greeting(prefix + header, parsed.streams, parsed.size)


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
