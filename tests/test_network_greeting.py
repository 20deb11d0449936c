"""Peers that are not quite DV servers: every open is bounded and every outcome says what happened.

Each scenario runs the client in a child process with a timeout: a regression that hands dv-processing
an incomplete greeting blocks its constructor forever while it holds the GIL, which would hang the
whole test run instead of failing one test.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from test_network_source import Sender, free_port

PEER = Path(__file__).with_name("net_fake_peer.py")
CLIENT = """
import sys, time
from neuroclip_live.errors import NeuroclipError
from neuroclip_live.stream.sources import SourceSpec, open_source
try:
    source = open_source(SourceSpec("net", sys.argv[1]))
    events, packets, t0 = 0, 0, time.monotonic()
    for packet in source.packets():
        packets += 1
        events += packet.shape[0]
        if time.monotonic() - t0 > 1.0:
            break
    source.close()
    print(f"open: {packets} packets, {events} events")
except NeuroclipError as err:
    print(f"error: {err}")
"""


@pytest.fixture(scope="module")
def real_greeting() -> bytes:
    """The greeting a dv.io.NetworkWriter (in its child process) sends, as received."""
    port = free_port()
    sender = Sender(port)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            data = b""
            while len(data) < 4 or len(data) < 4 + struct.unpack_from("<I", data)[0]:
                data += sock.recv(4096)
        size = struct.unpack_from("<I", data)[0]
        return data[: 4 + size]
    finally:
        sender.close()


def against_peer(payload: bytes, then: str, tmp_path: Path) -> tuple[str, float]:
    """Serve ``payload`` from a child process, open it as --net from another one: (its one line, seconds)."""
    (tmp_path / "payload").write_bytes(payload)
    peer = subprocess.Popen(
        [sys.executable, str(PEER), str(tmp_path / "payload"), then],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(peer.stdout.readline())
        t0 = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", CLIENT, f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).parent.parent,
        )
        seconds = time.monotonic() - t0
    finally:
        peer.kill()
        peer.wait()
        peer.stdin.close()
        peer.stdout.close()
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout.strip(), seconds


def test_random_bytes_then_the_header_id_then_garbage_is_refused_quickly(tmp_path):
    rng = np.random.default_rng(11)
    payload = rng.bytes(8) + b"IOHE" + rng.bytes(4_000)
    line, seconds = against_peer(payload, "stall", tmp_path)
    assert line.startswith("error: --net") and ("does not send a DV" in line or "no answer within" in line)
    assert seconds < 20


@pytest.mark.parametrize("cut", [4, 100, -1])
def test_a_greeting_cut_short_is_refused_not_a_hang(real_greeting, cut, tmp_path):
    line, _ = against_peer(real_greeting[:cut], "stall", tmp_path)
    assert line.startswith("error: --net") and "no answer within" in line
    line, _ = against_peer(real_greeting[:cut], "close", tmp_path)
    assert "does not send a DV" in line and "closed the connection before its header was complete" in line


def test_a_corrupt_greeting_is_refused(real_greeting, tmp_path):
    damaged = bytearray(real_greeting)
    damaged[4:8] = struct.pack("<I", 60_000)  # the root table offset points outside the header
    line, _ = against_peer(bytes(damaged), "close", tmp_path)
    assert "does not send a DV" in line and "cut or corrupt" in line
    no_events = real_greeting.replace(b'"typeIdentifier" type="string">EVTS', b'"typeIdentifier" type="string">FRME')
    line, _ = against_peer(no_events, "stall", tmp_path)
    assert "carries no events" in line


@pytest.mark.parametrize("then", ["stall", "close"])
def test_a_real_greeting_then_garbage_is_a_disconnect_that_says_why(real_greeting, then, tmp_path):
    # Unchecked, this garbage made dv-processing throw std::length_error in its reader thread: an abort.
    garbage = np.random.default_rng(5).bytes(100_000)
    line, seconds = against_peer(real_greeting + garbage, then, tmp_path)
    assert line.startswith("error: 127.0.0.1:") and "sent damaged data (a packet of" in line
    assert seconds < 30


def test_a_real_greeting_then_silence_is_open_with_no_events(real_greeting, tmp_path):
    line, _ = against_peer(real_greeting, "stall", tmp_path)
    assert line.startswith("open: ") and line.endswith(" 0 events")  # the pipeline says "no data for N s"


def test_a_real_greeting_then_a_close_is_a_disconnect(real_greeting, tmp_path):
    line, _ = against_peer(real_greeting, "close", tmp_path)
    assert line.startswith("error: ") and "event stream closed" in line
