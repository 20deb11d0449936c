"""A loopback relay, in a child process, that hands dv-processing a connection whose greeting is known good.

dv-processing's ``NetworkReader`` opens its own connection and reads the greeting in its
constructor, with no timeout and holding the GIL. Checking the greeting on a first connection
does not protect the second: the server may stall or send garbage there. So we keep our checked
connection and let dv connect to this relay on 127.0.0.1, which replays the checked greeting at
once and then forwards the server's packets; an upstream close or stall reaches dv as a close or
a stall on a healthy socket (both handled). Each packet's framing is checked before dv sees it:
garbage after a good greeting (a wild packet size) makes dv throw in its own reader thread, which
aborts the whole process (std::length_error, measured); the relay closes the stream instead and
says why. The relay is a child process because dv's constructor
holds our GIL while it waits for the greeting: a relay thread could not run to send it.

The child runs this file as a script (standard library only, so it starts in milliseconds):
``python -I tcp_relay.py UPSTREAM_FD LISTENER_FD ID:TYPE...``, the greeting on stdin as a 4-byte
length and its bytes; it prints "ready" before it accepts, "damaged: WHY" when it stops on bad
framing, and exits when either socket or its stdin closes.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import subprocess
import sys
import threading

READY_TIMEOUT_S = 5.0
# Largest packet forwarded: dv-processing writes packets of a few thousand events (tens of KiB).
MAX_PACKET_BYTES = 64 << 20
_PACKET_HEADER = struct.Struct("<iI")  # stream id, byte size of the size-prefixed flatbuffer that follows


class RelayError(Exception):
    """The relay process did not start."""


class GreetingRelay:
    """Relays ``upstream`` (whose greeting was read off it) to the first local client, from a child process."""

    def __init__(self, upstream: socket.socket, greeting: bytes, streams: dict[int, str]) -> None:
        listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = listener.getsockname()[1]
        fds = (upstream.fileno(), listener.fileno())
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", __file__, *map(str, fds), *(f"{i}:{kind}" for i, kind in streams.items())],
                pass_fds=fds,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        finally:
            listener.close()  # the child holds its own copies
            upstream.close()
        assert self._process.stdin is not None and self._process.stdout is not None
        try:
            self._process.stdin.write(struct.pack("<I", len(greeting)) + greeting)
            self._process.stdin.flush()
        except OSError:
            self.close()
            raise RelayError("the relay process ended at once") from None
        ready, _, _ = select.select([self._process.stdout], [], [], READY_TIMEOUT_S)
        if not ready or self._process.stdout.readline().strip() != b"ready":
            self.close()
            raise RelayError(f"the relay process did not start within {READY_TIMEOUT_S:g} s")

    def problem(self) -> str:
        """Why the relay stopped forwarding ("" when it did not stop on bad framing)."""
        stdout = self._process.stdout
        if stdout is None or stdout.closed or not select.select([stdout], [], [], 0)[0]:
            return ""
        line = stdout.readline().decode("utf-8", errors="replace").strip()
        return line.removeprefix("damaged: ") if line.startswith("damaged: ") else ""

    def close(self) -> None:
        """Stop relaying: the child closes both sockets and exits (safe to call twice)."""
        process = self._process
        with contextlib.suppress(OSError):
            process.stdin.close()  # type: ignore[union-attr]
        try:
            process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(OSError):
            process.stdout.close()  # type: ignore[union-attr]


def _read_exactly(read, n: int) -> bytes:
    """``n`` bytes from ``read`` (a file's read or a socket's recv); SystemExit at the end of the stream."""
    data = b""
    while len(data) < n:
        part = read(min(n - len(data), 1 << 20))
        if not part:
            raise SystemExit(0)
        data += part
    return data


def _packet_problem(stream_id: int, size: int, body_start: bytes, streams: dict[int, str]) -> str:
    if stream_id not in streams:
        return f"a packet of unknown stream {stream_id}"
    if not 12 <= size <= MAX_PACKET_BYTES:
        return f"a packet of {size:,} bytes"
    # A size-prefixed flatbuffer: its length, its root offset, then the type's file identifier.
    if body_start[8:12] != streams[stream_id].encode():
        return f"a stream {stream_id} packet that is not {streams[stream_id]}"
    return ""


def _relay(upstream_fd: int, listener_fd: int, streams: dict[int, str]) -> None:
    upstream = socket.socket(fileno=upstream_fd)
    listener = socket.socket(fileno=listener_fd)
    stdin = sys.stdin.buffer
    (length,) = struct.unpack("<I", _read_exactly(stdin.read, 4))
    greeting = _read_exactly(stdin.read, length)
    # The parent closing our stdin (or dying) ends the relay.
    threading.Thread(target=lambda: (stdin.read(), os._exit(0)), daemon=True).start()
    print("ready", flush=True)
    down, _ = listener.accept()
    listener.close()
    upstream.settimeout(None)
    try:
        down.sendall(greeting)
        while True:
            header = _read_exactly(upstream.recv, _PACKET_HEADER.size)
            stream_id, size = _PACKET_HEADER.unpack(header)
            start = _read_exactly(upstream.recv, 12) if 12 <= size <= MAX_PACKET_BYTES else b""
            problem = _packet_problem(stream_id, size, start, streams)
            if problem:
                print(f"damaged: {problem}", flush=True)
                break
            down.sendall(header + start + _read_exactly(upstream.recv, size - 12))
    except OSError:
        pass  # either side closed
    finally:
        for sock in (down, upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


if __name__ == "__main__":
    try:
        _relay(
            int(sys.argv[1]), int(sys.argv[2]), {int(i): kind for i, kind in (a.split(":", 1) for a in sys.argv[3:])}
        )
    finally:
        # Without interpreter shutdown: the stdin watcher thread would make it fail.
        sys.stdout.flush()
        os._exit(0)
