"""The live network path for real: a dv.io.NetworkWriter on 127.0.0.1 streams, the net source reads.

The writer runs in a child process (tests/dv_net_sender.py): destroying a
NetworkWriter in-process while a client is connected deadlocks in
dv-processing 2.0.4, and a process that exits is also the honest way to see a
sender go away.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from neuroclip_live.errors import SourceDisconnected, SourceError
from neuroclip_live.events import SensorSize, concatenate
from neuroclip_live.stream.sources import SourceSpec, open_source, parse_net_target
from neuroclip_live.stream.sources.live import network
from recording_writers import events_equal, random_events

SIZE = SensorSize(100, 80)
SENDER = Path(__file__).with_name("dv_net_sender.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sender:
    """The child process holding the NetworkWriter."""

    def __init__(self, port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SENDER), str(port), str(SIZE.width), str(SIZE.height)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=SENDER.parent,
        )
        assert self.ask("") == "ready"

    def ask(self, command: str) -> str:
        if command:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def quit(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
        self.process.wait(timeout=10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self.process.stdin.close()
        self.process.stdout.close()


@pytest.fixture
def sender():
    port = free_port()
    running = Sender(port)
    running.port = port
    yield running
    running.close()


def test_events_arrive_exactly_then_a_closed_sender_raises_disconnected(sender, tmp_path):
    source = open_source(SourceSpec("net", f"127.0.0.1:{sender.port}"))
    assert source.is_live and source.size == SIZE and source.name == f"127.0.0.1:{sender.port}"
    assert sender.ask("wait-client") == "connected"
    events = random_events(5_000, SIZE, t0=1_700_000_000_000_000)
    np.save(tmp_path / "events.npy", events)
    assert sender.ask(f"write {tmp_path / 'events.npy'}") == "written"
    received = []
    packets = source.packets()
    for packet in packets:
        received.append(packet)
        if sum(p.shape[0] for p in received) >= events.shape[0]:
            break
    assert events_equal(concatenate([p for p in received if p.shape[0]]), events)
    sender.quit()
    with pytest.raises(SourceDisconnected, match="closed"):
        for _ in packets:
            pass
    source.close()


def test_idle_stream_yields_empty_packets_and_close_from_another_thread_ends_it(sender):
    source = open_source(SourceSpec("net", f"127.0.0.1:{sender.port}"))
    assert sender.ask("wait-client") == "connected"
    timer = threading.Timer(1.0, source.close)
    timer.start()
    packets = list(source.packets())  # ends, without an error, once close() runs
    timer.join()
    assert all(p.shape[0] == 0 for p in packets)
    assert len(packets) >= 5  # at least one every 100 ms over the idle second (each 50 ms when not starved)
    source.close()  # twice is fine


def test_nothing_listening():
    with pytest.raises(SourceError) as caught:
        open_source(SourceSpec("net", f"127.0.0.1:{free_port()}"))
    message = str(caught.value)
    assert "connection refused" in message


@pytest.mark.parametrize("greeting", [b"HTTP/1.1 200 OK\r\n\r\nhello", b""])
def test_a_server_that_is_not_a_dv_stream(greeting):
    # dv's own NetworkReader would block forever (holding the GIL) on these peers.
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def answer_once():
            conn, _ = server.accept()
            with conn:
                conn.sendall(greeting)

        thread = threading.Thread(target=answer_once)
        thread.start()
        with pytest.raises(SourceError, match="does not send a DV"):
            open_source(SourceSpec("net", f"127.0.0.1:{port}"))
        thread.join()


def test_a_silent_server_times_out(monkeypatch):
    monkeypatch.setattr(network, "CONNECT_TIMEOUT_S", 0.2)
    with socket.create_server(("127.0.0.1", 0)) as server:  # accepts in the backlog, never speaks
        port = server.getsockname()[1]
        with pytest.raises(SourceError, match=r"no answer within 0\.2 s"):
            open_source(SourceSpec("net", f"127.0.0.1:{port}"))


def test_unresolvable_host():
    with pytest.raises(SourceError, match="cannot resolve host"):
        open_source(SourceSpec("net", "no-such-host.invalid:7777"))


@pytest.mark.parametrize(
    ("target", "expected"),
    [("127.0.0.1:7777", ("127.0.0.1", 7777)), (" camera-pc:4040 ", ("camera-pc", 4040)), ("[::1]:7777", ("::1", 7777))],
)
def test_parse_net_target(target, expected):
    assert parse_net_target(target) == expected


@pytest.mark.parametrize("target", ["127.0.0.1", ":7777", "host:port", "host:0", "host:70000", "a:b:7777", ""])
def test_parse_net_target_refuses(target):
    with pytest.raises(SourceError, match=r"HOST:PORT|outside 1-65535") as caught:
        parse_net_target(target)
    assert "\n" not in str(caught.value)
