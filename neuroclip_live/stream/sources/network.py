"""Events streamed over TCP by DV software or a ``dv.io.NetworkWriter``, read with ``dv.io.NetworkReader``.

Before dv-processing connects, we connect once ourselves, with a timeout, and
check that the server greets with an AEDAT4 ``IOHeader``: dv-processing 2.0.4's
``NetworkReader`` constructor takes only numeric addresses, has no timeout, and
blocks forever while holding the GIL when the peer is not a DV server or
closes before its header (measured), which would freeze the whole app.
"""

from __future__ import annotations

import re
import socket

import dv_processing as dv

from neuroclip_live.errors import SourceError
from neuroclip_live.events import SensorSize
from neuroclip_live.stream.sources.dv_interop import dv_error_reason
from neuroclip_live.stream.sources.live import DvLiveSource

CONNECT_TIMEOUT_S = 3.0

_TARGET = re.compile(r"\[(?P<ip6>[^\]]+)\]:(?P<port6>\d+)|(?P<host>[^:\s\[\]]+):(?P<port>\d+)")
# An AEDAT4 network stream opens with a size-prefixed flatbuffer whose file identifier is "IOHE".
_HEADER_ID = slice(8, 12)


def parse_net_target(target: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (or ``"[IPv6]:PORT"``) as ``(host, port)``; a one-line SourceError otherwise."""
    match = _TARGET.fullmatch(target.strip())
    if match is None:
        raise SourceError(f"--net expects HOST:PORT, for example 127.0.0.1:7777, not {target!r}")
    host = match["ip6"] or match["host"]
    port = int(match["port6"] or match["port"])
    if not 0 < port < 65536:
        raise SourceError(f"--net {target}: port {port} is outside 1-65535")
    return host, port


def _resolve(host: str, port: int, target: str) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise SourceError(f"--net {target}: cannot resolve host {host!r} ({err.strerror})") from None
    # Prefer IPv4: DV software listens on IPv4 by default.
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return infos[0][4][0]


def _probe(ip: str, port: int, target: str) -> None:
    """Connect and read the greeting; a one-line SourceError unless a DV event server answers."""
    try:
        with socket.create_connection((ip, port), timeout=CONNECT_TIMEOUT_S) as sock:
            greeting = b""
            while len(greeting) < _HEADER_ID.stop:
                part = sock.recv(_HEADER_ID.stop - len(greeting))
                if not part:
                    break
                greeting += part
    except ConnectionRefusedError:
        raise SourceError(
            f"--net {target}: connection refused; start the DV network output (or NetworkWriter) on that port"
        ) from None
    except TimeoutError:
        raise SourceError(
            f"--net {target}: no answer within {CONNECT_TIMEOUT_S:g} s; check the address and that the stream is running"
        ) from None
    except OSError as err:
        raise SourceError(f"--net {target}: cannot connect ({err.strerror or err})") from None
    if greeting[_HEADER_ID] != b"IOHE":
        raise SourceError(f"--net {target}: the server there does not send a DV (AEDAT4) event stream")


def open_network_source(target: str) -> DvLiveSource:
    """Connect to a DV event stream at ``HOST:PORT``."""
    host, port = parse_net_target(target)
    ip = _resolve(host, port, target)
    _probe(ip, port, target)
    try:
        reader = dv.io.NetworkReader(ip, port)
    except RuntimeError as err:
        raise SourceError(f"--net {target}: cannot connect ({dv_error_reason(err)})") from None
    if not reader.isEventStreamAvailable():
        raise SourceError(f"--net {target}: the stream carries no events (frames or IMU only)")
    resolution = reader.getEventResolution()
    if resolution is None:
        raise SourceError(f"--net {target}: the event stream does not say its sensor size")
    return DvLiveSource(
        reader,
        name=f"{host}:{port}",
        size=SensorSize(*resolution),
        lost=f"{host}:{port}: the event stream closed (the sender stopped or the network dropped)",
    )
