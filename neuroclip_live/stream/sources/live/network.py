"""Events streamed over TCP by DV software or a ``dv.io.NetworkWriter``, read with ``dv.io.NetworkReader``.

We connect ourselves, with a timeout, read the server's whole AEDAT4 greeting within a
deadline and check it (aedat_greeting.py); dv-processing then connects to a loopback relay
of that same connection (tcp_relay.py, a child process). dv-processing 2.0.4's ``NetworkReader`` constructor
takes only numeric addresses, has no timeout, and blocks forever while holding the GIL when
the peer is not a DV server, stalls or closes before its header is complete (measured),
which would freeze the whole app; through the relay it only ever reads a checked greeting.
"""

from __future__ import annotations

import re
import socket

import dv_processing as dv

from neuroclip_live.errors import SourceError
from neuroclip_live.events import SensorSize
from neuroclip_live.stream.sources.files.dv_interop import dv_error_reason
from neuroclip_live.stream.sources.live.aedat_greeting import (
    Greeting,
    GreetingError,
    read_greeting,
)
from neuroclip_live.stream.sources.live.polled import DvLiveSource
from neuroclip_live.stream.sources.live.tcp_relay import GreetingRelay, RelayError

CONNECT_TIMEOUT_S = 3.0

_CHECK = "check the address and that the stream is running"

_TARGET = re.compile(r"\[(?P<ip6>[^\]]+)\]:(?P<port6>\d+)|(?P<host>[^:\s\[\]]+):(?P<port>\d+)")


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


def _connect(ip: str, port: int, target: str) -> tuple[socket.socket, Greeting]:
    """Connect and read the whole greeting within the timeout; a one-line SourceError unless a DV server answers."""
    try:
        sock = socket.create_connection((ip, port), timeout=CONNECT_TIMEOUT_S)
    except ConnectionRefusedError:
        raise SourceError(
            f"--net {target}: connection refused; start the DV network output (or NetworkWriter) on that port"
        ) from None
    except TimeoutError:
        raise SourceError(f"--net {target}: no answer within {CONNECT_TIMEOUT_S:g} s; {_CHECK}") from None
    except OSError as err:
        raise SourceError(f"--net {target}: cannot connect ({err.strerror or err})") from None
    try:
        greeting = read_greeting(sock, CONNECT_TIMEOUT_S)
    except TimeoutError:
        sock.close()
        raise SourceError(
            f"--net {target}: no answer within {CONNECT_TIMEOUT_S:g} s (no complete DV greeting); {_CHECK}"
        ) from None
    except GreetingError as err:
        sock.close()
        raise SourceError(f"--net {target}: the server there does not send a DV (AEDAT4) event stream: {err}") from None
    except OSError as err:
        sock.close()
        raise SourceError(f"--net {target}: the connection failed ({err.strerror or err})") from None
    if not greeting.has_events:
        sock.close()
        raise SourceError(f"--net {target}: the stream carries no events (frames or IMU only)")
    return sock, greeting


def open_network_source(target: str) -> DvLiveSource:
    """Connect to a DV event stream at ``HOST:PORT``."""
    host, port = parse_net_target(target)
    ip = _resolve(host, port, target)
    sock, greeting = _connect(ip, port, target)
    try:
        relay = GreetingRelay(sock, greeting.raw, greeting.streams)
    except (RelayError, OSError) as err:
        raise SourceError(f"--net {target}: cannot relay the stream ({err})") from None
    try:
        reader = dv.io.NetworkReader("127.0.0.1", relay.port)
    except RuntimeError as err:
        relay.close()
        raise SourceError(f"--net {target}: cannot connect ({dv_error_reason(err)})") from None
    resolution = reader.getEventResolution() if reader.isEventStreamAvailable() else None
    if resolution is None:
        relay.close()
        raise SourceError(f"--net {target}: the event stream does not say its sensor size")
    return DvLiveSource(
        reader,
        name=f"{host}:{port}",
        size=SensorSize(*resolution),
        lost=f"{host}:{port}: the event stream closed (the sender stopped or the network dropped)",
        on_release=relay.close,
        why_lost=relay.problem,
    )
