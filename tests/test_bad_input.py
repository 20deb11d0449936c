"""Every user mistake with a source gives one line that says what is wrong and what to do.

Damaged files are made here from good ones: cut short, overwritten in the
middle, or replaced by garbage.
"""

from __future__ import annotations

import re
import sys

import dv_processing as dv
import numpy as np
import pytest

from neuroclip_live.errors import SourceError
from neuroclip_live.events import SensorSize, concatenate
from neuroclip_live.stream.sources import (
    SUPPORTED_EXTENSIONS,
    SourceSpec,
    open_file,
    open_source,
)
from neuroclip_live.stream.sources.files.aedat import AedatFileSource
from neuroclip_live.stream.sources.live.inivation import open_inivation_camera
from neuroclip_live.stream.sources.live.prophesee import (
    MISSING_DRIVERS,
    open_prophesee_camera,
)
from recording_writers import (
    events_equal,
    random_events,
    write_frames_only,
    write_with_dv,
    write_with_faery,
)

SIZE = SensorSize(64, 48)


def error_of(call, *args) -> str:
    """The message of the SourceError ``call(*args)`` raises, checked to be one line."""
    with pytest.raises(SourceError) as caught:
        call(*args)
    message = str(caught.value)
    assert message and "\n" not in message and "Traceback" not in message
    return message


def read_all(source) -> np.ndarray:
    return concatenate(list(source.packets_from(None)))


def cut(path, keep: int):
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    return path


# -- paths ----------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    assert "no such file" in error_of(open_source, SourceSpec("file", str(tmp_path / "nope.aedat4")))


def test_a_folder(tmp_path):
    assert "is a folder" in error_of(open_file, str(tmp_path))


@pytest.mark.parametrize("suffix", SUPPORTED_EXTENSIONS)
def test_empty_file(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    path.touch()
    assert "empty" in error_of(open_file, str(path))


@pytest.mark.parametrize("name", ["recording.mp4", "recording"])
def test_unknown_extension_lists_the_supported_ones(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x00" * 100)
    message = error_of(open_file, str(path))
    assert all(ext in message for ext in SUPPORTED_EXTENSIONS)


def test_unknown_source_kind():
    assert "unknown source kind" in error_of(open_source, SourceSpec("usb", "x"))


# -- truncated files replay what is readable, with a note ---------------------------------------


def test_truncated_aedat4_replays_what_was_written_before_the_cut(tmp_path):
    events = random_events(20_000, SIZE)
    path = write_with_dv(tmp_path / "cut.aedat4", events, SIZE)
    cut(path, int(path.stat().st_size * 0.6))
    with pytest.raises(RuntimeError, match="truncated"):
        dv.io.MonoCameraRecording(str(path))  # what dv-processing alone would do with it
    for source in (open_file(str(path)), AedatFileSource(path, in_memory_max_events=0)):
        got = read_all(source)
        assert 0 < got.shape[0] < events.shape[0]
        assert events_equal(got, events[: got.shape[0]])
        [note] = source.notes  # the cut is found before decoding: faery reads the whole packets only
        assert "hold no whole packet (cut short or damaged)" in note


@pytest.mark.parametrize(("name", "version"), [("cut.dat", None), ("cut3.raw", "evt3"), ("cut2.raw", "evt2")])
def test_record_cut_in_half_is_noted(tmp_path, name, version):
    events = random_events(20_000, SIZE)
    options = {"version": version} if version else {}
    path = write_with_faery(tmp_path / name, events, SIZE, **options)
    cut(path, path.stat().st_size - 1)  # every record here is 2 bytes or more
    source = open_file(str(path))
    got = read_all(source)
    assert events_equal(got, events[: got.shape[0]]) and got.shape[0] >= events.shape[0] - 16
    [note] = source.notes
    assert "cut short" in note


def test_csv_cut_mid_line(tmp_path):
    events = random_events(20_000, SIZE)
    path = write_with_faery(tmp_path / "cut.csv", events, SIZE)
    cut(path, path.stat().st_size // 2 + 3)
    source = open_file(str(path))
    got = read_all(source)
    assert 0 < got.shape[0] < events.shape[0]
    assert events_equal(got, events[: got.shape[0]])
    assert "truncated or damaged" in source.notes[0]


def test_truncated_nmnist_bin(tmp_path, nmnist_root):
    sample = sorted((nmnist_root / "Train" / "0").glob("*.bin"))[0]
    path = tmp_path / "cut.bin"
    path.write_bytes(sample.read_bytes()[:-2])
    source = open_source(SourceSpec("file", str(path)))
    assert read_all(source).shape[0] == sample.stat().st_size // 5 - 1
    assert "truncated" in source.notes[0]


# -- corrupt and garbage files ------------------------------------------------------------------


@pytest.mark.parametrize("in_memory_max_events", [None, 0])
def test_corrupt_aedat4_packet_is_skipped_and_the_rest_replays_instead_of_hanging(tmp_path, in_memory_max_events):
    # One byte changed in the middle of a compressed event packet: dv-processing
    # 2.0.4 hangs reading this very file (holding the GIL); faery's checksum catches
    # it, and its decoder goes on at the next packet.
    events = random_events(20_000, SIZE)
    path = write_with_dv(tmp_path / "corrupt.aedat4", events, SIZE)  # packets of 2,000 events
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    options = {} if in_memory_max_events is None else {"in_memory_max_events": in_memory_max_events}
    source = AedatFileSource(path, **options)
    got = read_all(source)
    assert got.shape[0] == events.shape[0] - 2_000
    lost = int(np.argmax(got["t"] != events["t"][: got.shape[0]]))
    assert lost % 2_000 == 0 and events_equal(got, np.concatenate([events[:lost], events[lost + 2_000 :]]))
    [note] = source.notes
    assert "skipped 1 damaged packet" in note and "replayed 90% of the recording" in note


@pytest.mark.parametrize(
    ("suffix", "says"),
    [
        (".aedat4", "not a readable AEDAT4 file"),
        (".raw", "no Prophesee header"),
        (".dat", "no Prophesee header"),
        (".es", "not a readable Event Stream file"),
        (".csv", "not a CSV text file"),
        (".bin", "not an N-MNIST"),
    ],
)
def test_garbage_with_a_recording_extension(tmp_path, suffix, says):
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(np.random.default_rng(7).integers(0, 256, 4_000, dtype=np.uint8).tobytes().replace(b"%", b"&"))
    assert says in error_of(open_file, str(path))


def test_a_file_with_a_header_and_no_events(tmp_path):
    path = write_with_faery(tmp_path / "none.es", random_events(0, SIZE), SIZE)
    assert "holds no events" in error_of(open_file, str(path))
    path = write_with_dv(tmp_path / "none.aedat4", random_events(0, SIZE), SIZE)
    assert "holds no events" in error_of(open_file, str(path))


def test_aedat4_with_only_frames(tmp_path):
    path = write_frames_only(tmp_path / "frames.aedat4", SIZE, [(1_000, np.zeros((48, 64), np.uint8))])
    assert "no event stream (its streams: frame)" in error_of(open_file, str(path))


def test_evt21_is_refused_before_faery_panics(tmp_path):
    path = tmp_path / "evt21.raw"
    path.write_bytes(b"% evt 2.1\n% format EVT2.1;height=480;width=640\n" + bytes(64))
    assert "EVT 2.1" in error_of(open_file, str(path))


def test_csv_with_unknown_columns(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("time,column,row,sign\n1,2,3,1\n")
    assert "expected t, x, y and p" in error_of(open_file, str(path))


# -- a file of another sensor size than it claims -----------------------------------------------


def test_aedat4_events_outside_the_declared_resolution(tmp_path):
    events = random_events(5_000, SensorSize(64, 90))
    events["y"][100] = 89
    path = write_with_dv(tmp_path / "wrong.aedat4", events, SIZE)  # claims 64x48
    first_outside = int(events["y"][np.argmax(events["y"] >= 48)])
    assert f"the file claims 64x48 but events reach y={first_outside}" in error_of(open_file, str(path))


def test_raw_header_smaller_than_its_events(tmp_path):
    events = random_events(5_000, SensorSize(640, 480))
    path = write_with_faery(tmp_path / "wrong.raw", events, SensorSize(640, 480), version="evt3")
    data = (
        path.read_bytes()
        .replace(b"width=640;height=480", b"width=320;height=240")
        .replace(b"geometry 640x480", b"geometry 320x240")
    )
    path.write_bytes(data)
    message = error_of(open_file, str(path))
    assert re.search(r"the file claims 320x240 but events reach [xy]=\d+", message)


# -- cameras ------------------------------------------------------------------------------------


def test_no_camera_connected(monkeypatch):
    monkeypatch.setattr(dv.io.camera, "discover", lambda: [])
    assert "no iniVation camera connected" in error_of(open_inivation_camera)
    assert "no camera connected" in error_of(open_source, SourceSpec("camera"))


def test_camera_serial_not_found(monkeypatch):
    monkeypatch.setattr(dv.io.camera, "discover", lambda: [])
    assert "no camera with serial 00000499" in error_of(open_source, SourceSpec("camera", "00000499"))


def test_prophesee_without_its_driver_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "neuromorphic_drivers", None)
    monkeypatch.setattr(dv.io.camera, "discover", lambda: [])
    assert error_of(open_prophesee_camera) == MISSING_DRIVERS
    assert "pip install 'neuroclip-live[prophesee]'" in error_of(open_source, SourceSpec("camera"))
