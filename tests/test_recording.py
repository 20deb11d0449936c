"""AedatRecorder: exact round trips through dv-processing, jumps, backpressure, errors."""

from __future__ import annotations

import threading

import dv_processing as dv
import numpy as np
import pytest

from neuroclip_live.events import SensorSize, concatenate, make_events
from neuroclip_live.stream.recording import AedatRecorder, RecordingError
from neuroclip_live.stream.sources.base import Discontinuity

SIZE = SensorSize(346, 260)


def random_packets(n_packets: int, per_packet: int, t0: int = 1_000, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    t = t0
    for _ in range(n_packets):
        ts = t + np.sort(rng.integers(0, 5_000, per_packet))
        t = int(ts[-1]) + 1
        out.append(
            make_events(
                ts,
                rng.integers(0, SIZE.width, per_packet),
                rng.integers(0, SIZE.height, per_packet),
                rng.integers(0, 2, per_packet),
            )
        )
    return out


def read_back(path) -> tuple[np.ndarray, tuple[int, int]]:
    rec = dv.io.MonoCameraRecording(str(path))
    size = rec.getEventResolution()
    chunks = []
    while rec.isRunning():
        batch = rec.getNextEventBatch()
        if batch is not None and batch.size():
            a = batch.numpy()
            chunks.append(make_events(a["timestamp"], a["x"], a["y"], a["polarity"]))
    return concatenate(chunks), size


def test_round_trip_is_exact(tmp_path):
    packets = random_packets(30, 7_000)
    path = tmp_path / "rec.aedat4"
    rec = AedatRecorder(path, SIZE)
    for p in packets:
        rec.write(p)
        rec.write(make_events([], [], [], []))  # live sources send empty keep-alive packets
    assert rec.close()
    assert rec.events_written == 210_000
    events, size = read_back(path)
    assert size == (SIZE.width, SIZE.height)
    expected = concatenate(packets)
    np.testing.assert_array_equal(events, expected)


def test_jumps_back_keep_the_file_in_time_order(tmp_path):
    a, b = random_packets(2, 1_000, t0=50_000, seed=1)
    path = tmp_path / "loop.aedat4"
    with AedatRecorder(path, SIZE) as rec:
        rec.write(a)
        rec.write(b)
        rec.write(Discontinuity("loop"))
        rec.write(a)  # the file starts again: same timestamps as already written
        rec.write(Discontinuity("seek"))
        rec.write(b)  # forward jump: kept as is, shifted like the rest
    events, _ = read_back(path)
    assert events.shape[0] == 4_000
    assert np.all(np.diff(events["t"]) >= 0)
    # The replayed stretch continues right after the first pass, and the rest keeps its spacing.
    again = events["t"][2_000:]
    assert again[0] == int(b["t"][-1]) + 1
    np.testing.assert_array_equal(again - again[0], concatenate([a, b])["t"] - int(a["t"][0]))
    np.testing.assert_array_equal(events[2_000:]["x"], concatenate([a, b])["x"])


def test_close_is_idempotent_and_late_packets_are_ignored(tmp_path):
    path = tmp_path / "twice.aedat4"
    (p,) = random_packets(1, 500)
    rec = AedatRecorder(path, SIZE)
    rec.write(p)
    assert rec.close()
    assert rec.close()
    rec.write(p)  # the pipeline may call a listener once more while it is being removed
    assert not rec.is_open
    events, _ = read_back(path)
    assert events.shape[0] == 500


def test_a_full_backlog_makes_the_reader_wait_instead_of_dropping(tmp_path):
    path = tmp_path / "slow.aedat4"
    packets = random_packets(40, 5_000, seed=3)
    rec = AedatRecorder(path, SIZE, max_backlog_events=10_000)
    seen_backlogs = []

    def reader():
        for p in packets:
            rec.write(p)
            seen_backlogs.append(rec.backlog_events)

    th = threading.Thread(target=reader)
    th.start()
    th.join(30)
    assert not th.is_alive()
    assert rec.close()
    # Never much more than the bound (one packet over it), and nothing lost.
    assert max(seen_backlogs) <= 10_000 + 5_000
    events, _ = read_back(path)
    assert events.shape[0] == 200_000


def test_bad_paths_say_what_to_do(tmp_path):
    with pytest.raises(RecordingError, match="does not exist"):
        AedatRecorder(tmp_path / "missing" / "x.aedat4", SIZE)
    with pytest.raises(RecordingError, match=r"\.aedat4"):
        AedatRecorder(tmp_path / "x.raw", SIZE)


def test_a_write_error_keeps_what_was_written(tmp_path, monkeypatch):
    path = tmp_path / "broken.aedat4"
    first, second = random_packets(2, 1_000, seed=4)
    rec = AedatRecorder(path, SIZE)
    rec.write(first)
    pause = threading.Event()  # never set: a sleep that reads as a bounded wait
    for _ in range(500):
        if rec.events_written == 1_000:
            break
        pause.wait(0.01)
    assert rec.events_written == 1_000

    def fail(*args, **kwargs):
        raise RuntimeError("No space left on device\nstack trace...")

    monkeypatch.setattr("neuroclip_live.stream.recording.to_event_store", fail)
    rec.write(second)
    assert not rec.close()
    assert rec.error == "recording to broken.aedat4 stopped: No space left on device"
    events, _ = read_back(path)
    np.testing.assert_array_equal(events, first)
