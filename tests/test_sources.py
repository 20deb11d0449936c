"""Every file source driven through real files: the shared recordings and files the libraries write."""

from __future__ import annotations

import sys
import threading
import types

import dv_processing as dv
import numpy as np
import pytest

from neuroclip_live.errors import SourceDisconnected
from neuroclip_live.events import EVENT_DTYPE, SensorSize, concatenate
from neuroclip_live.stream.sources import (
    SUPPORTED_EXTENSIONS,
    SourceSpec,
    discover_cameras,
    open_file,
    open_source,
)
from neuroclip_live.stream.sources.files.aedat import AedatFileSource
from neuroclip_live.stream.sources.files.dat_files import DatFileSource
from neuroclip_live.stream.sources.files.faery_files import FaeryFileSource
from neuroclip_live.stream.sources.files.nmnist import NmnistFileSource
from recording_writers import (
    events_equal,
    random_events,
    write_with_dv,
    write_with_faery,
)


def read_all(source, start_us=None) -> np.ndarray:
    return concatenate(list(source.packets_from(start_us)))


# -- the shared recordings, against the figures in ../shared/data/README.md ---------------------


@pytest.mark.parametrize(
    ("name", "size", "count", "seconds"),
    [
        ("davis346.aedat4", (346, 260), 78_830, 2.36),
        ("evt3.raw", (1280, 720), 1_218_618, 10.77),
        ("dvs.es", (320, 240), 473_225, 1.0),
    ],
)
def test_shared_recording_matches_its_readme(recordings_dir, name, size, count, seconds):
    source = open_source(SourceSpec("file", str(recordings_dir / name)))
    events = read_all(source)
    assert events.dtype == EVENT_DTYPE
    assert (source.size.width, source.size.height) == size
    assert events.shape[0] == count == source.event_count
    assert (int(events["t"][0]), int(events["t"][-1])) == source.time_range
    first, last = source.time_range
    assert (last - first) / 1e6 == pytest.approx(seconds, abs=0.01)
    assert np.all(np.diff(events["t"]) >= 0)
    assert events["x"].max() < size[0] and events["y"].max() < size[1]
    assert set(np.unique(events["p"]).tolist()) == {0, 1}
    assert source.notes == []


def test_davis346_aps_frames_are_the_ones_dv_processing_reads(recordings_dir):
    path = recordings_dir / "davis346.aedat4"
    source = AedatFileSource(path)
    recording = dv.io.MonoCameraRecording(str(path))
    expected = []
    while (frame := recording.getNextFrame()) is not None:
        expected.append(frame)
    assert len(source.aps_frames) == len(expected) == 59
    for mine, theirs in zip(source.aps_frames, expected, strict=True):
        assert mine.t_us == theirs.timestamp
        assert mine.image.dtype == np.uint8 and mine.image.shape == (260, 346)
        assert np.array_equal(mine.image, theirs.image)


def test_aedat_read_from_disk_by_dv_equals_faery_in_memory(recordings_dir):
    # Two decoders, two code paths (dv time-window reads vs faery's scan kept in memory).
    path = recordings_dir / "davis346.aedat4"
    in_memory = AedatFileSource(path)
    from_disk = AedatFileSource(path, in_memory_max_events=0)
    assert in_memory.in_memory and not from_disk.in_memory
    everything = read_all(in_memory)
    assert events_equal(read_all(from_disk), everything)
    for start in (everything["t"][0], everything["t"][31_234], everything["t"][-1], everything["t"][-1] + 1):
        expected = everything[everything["t"] >= start]
        assert events_equal(read_all(from_disk, int(start)), expected)
        assert events_equal(read_all(in_memory, int(start)), expected)


def test_evt3_streamed_decoding_equals_whole_file(recordings_dir):
    path = recordings_dir / "evt3.raw"
    whole = FaeryFileSource(path)
    lazy = FaeryFileSource(path, in_memory_max_events=100_000)  # streamed: nothing decoded on open
    assert whole.in_memory and not lazy.in_memory
    assert lazy.event_count == 0 and lazy.wait_for_time_range(10)
    assert lazy.time_range == whole.time_range  # the range from the time words, found in the background
    everything = read_all(whole)
    start = int(everything["t"][900_001])
    assert events_equal(read_all(lazy, start), everything[everything["t"] >= start])
    assert events_equal(read_all(lazy), everything)  # a whole pass gives the counts
    assert lazy.event_count == whole.event_count and lazy.time_range == whole.time_range


def test_nmnist_sample_opens_by_extension(nmnist_root):
    sample = sorted((nmnist_root / "Train" / "7").glob("*.bin"))[0]
    source = open_file(str(sample))
    assert isinstance(source, NmnistFileSource)
    assert source.size == SensorSize(34, 34)
    assert read_all(source).shape[0] == sample.stat().st_size // 5


# -- round trips through files the libraries write ---------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "options"),
    [
        ("rec.dat", {}),
        ("rec.es", {"zero_t0": False}),
        ("rec.csv", {}),
        ("evt2.raw", {"version": "evt2"}),
        ("evt3.raw", {"version": "evt3"}),
        ("faery.aedat4", {}),
    ],
)
def test_faery_written_file_round_trips_exactly(tmp_path, file_name, options):
    size = SensorSize(640, 480)
    events = random_events(60_000, size)
    path = write_with_faery(tmp_path / file_name, events, size, **options)
    source = open_file(str(path))
    assert source.size == size
    assert source.time_range == (int(events["t"][0]), int(events["t"][-1]))
    assert source.notes == []
    assert events_equal(read_all(source), events)
    start = int(events["t"][41_000])
    assert events_equal(read_all(source, start), events[events["t"] >= start])


@pytest.mark.parametrize("file_name", ["rec.dat", "rec.csv", "evt3.raw", "rec.aedat4"])
def test_big_files_are_read_again_from_disk_with_the_same_events(tmp_path, file_name):
    size = SensorSize(320, 240)
    events = random_events(30_000, size, seed=3)
    path = write_with_faery(tmp_path / file_name, events, size)
    reader = {".aedat4": AedatFileSource, ".dat": DatFileSource}.get(path.suffix, FaeryFileSource)
    source = reader(path, in_memory_max_events=5_000)
    assert not source.in_memory
    assert events_equal(read_all(source), events)
    start = int(events["t"][12_345])
    assert events_equal(read_all(source, start), events[events["t"] >= start])


def test_dv_written_aedat4_with_frames_round_trips(tmp_path):
    size = SensorSize(64, 48)
    events = random_events(20_000, size, seed=1)
    rng = np.random.default_rng(2)
    frames = [(1_000 + k * 40_000, rng.integers(0, 256, (48, 64), dtype=np.uint8)) for k in range(4)]
    path = write_with_dv(tmp_path / "davis.aedat4", events, size, frames)
    source = open_file(str(path))
    assert isinstance(source, AedatFileSource)
    assert source.size == size
    assert events_equal(read_all(source), events)
    assert [f.t_us for f in source.aps_frames] == [t for t, _ in frames]
    assert all(np.array_equal(f.image, image) for f, (_, image) in zip(source.aps_frames, frames, strict=True))


def test_aps_frames_beyond_the_memory_budget_are_dropped_with_a_note(tmp_path):
    size = SensorSize(64, 48)
    frames = [(1_000 + k * 1_000, np.full((48, 64), k, np.uint8)) for k in range(5)]
    path = write_with_dv(tmp_path / "davis.aedat4", random_events(1_000, size), size, frames)
    source = AedatFileSource(path, aps_budget_bytes=3 * 64 * 48)
    assert [f.image[0, 0] for f in source.aps_frames] == [0, 1, 2]
    assert any("first 3 APS frames" in note for note in source.notes)


def test_csv_columns_are_found_by_name_and_a_headerless_csv_gets_the_events_extent(tmp_path):
    size = SensorSize(200, 100)
    events = random_events(5_000, size, seed=4)
    rows = np.stack([events["x"], events["y"], events["p"], events["t"]], axis=1)
    reordered = tmp_path / "reordered.csv"
    np.savetxt(reordered, rows, fmt="%d", delimiter=",", header="x,y,polarity,timestamp", comments="")
    source = open_file(str(reordered))
    assert events_equal(read_all(source), events)

    exported = tmp_path / "exported.csv"  # a spreadsheet export: byte-order mark before the header
    exported.write_bytes(b"\xef\xbb\xbf" + reordered.read_bytes())
    assert events_equal(read_all(open_file(str(exported))), events)

    headerless = tmp_path / "headerless.csv"
    np.savetxt(headerless, rows[:, [3, 0, 1, 2]], fmt="%d", delimiter=",")
    source = open_file(str(headerless))
    assert events_equal(read_all(source), events)
    assert source.size == SensorSize(int(events["x"].max()) + 1, int(events["y"].max()) + 1)
    assert any("does not say its sensor size" in note for note in source.notes)


@pytest.mark.parametrize(("extent", "implied"), [((600, 400), (640, 480)), ((1500, 900), (1280, 720))])
def test_evt2_without_geometry_gets_the_smallest_prophesee_sensor_that_holds_its_events(tmp_path, extent, implied):
    size = SensorSize(*extent)
    events = random_events(20_000, size, seed=5)
    written = write_with_faery(tmp_path / "full.raw", events, size, version="evt2").read_bytes()
    body = written.split(b"% t0", 1)[1].split(b"\n", 1)[1]
    t0_line = b"% t0" + written.split(b"% t0", 1)[1].split(b"\n", 1)[0] + b"\n"
    bare = tmp_path / "bare.raw"
    bare.write_bytes(b"% evt 2.0\n" + t0_line + body)  # no format/geometry lines: faery would say 1280x720
    source = open_file(str(bare))
    sensor = SensorSize(*implied)
    inside = (events["x"] < sensor.width) & (events["y"] < sensor.height)
    assert source.size == sensor
    assert events_equal(read_all(source), events[inside])  # beyond the largest sensor: dropped
    assert any("does not say its sensor size" in note for note in source.notes)
    if not inside.all():
        assert any(f"{int((~inside).sum()):,} outside the sensor" in note for note in source.notes)


def test_extensions_are_matched_case_blind(tmp_path):
    size = SensorSize(64, 64)
    events = random_events(1_000, size)
    path = write_with_faery(tmp_path / "rec.es", events, size, zero_t0=False)
    upper = path.rename(tmp_path / "REC.ES")
    assert events_equal(read_all(open_file(str(upper))), events)
    assert ".es" in SUPPORTED_EXTENSIONS


# -- cameras (no hardware here: discovery must cope, the Prophesee path runs on a stand-in driver) --


def test_discover_cameras_never_raises(monkeypatch):
    def broken_usb():
        raise RuntimeError("libusb: access denied")

    monkeypatch.setattr(dv.io.camera, "discover", broken_usb)
    monkeypatch.setitem(sys.modules, "neuromorphic_drivers", None)  # import fails as if not installed
    assert discover_cameras() == []


class StandInDevice:
    """What neuromorphic_drivers.open() returns, as far as PropheseeCameraSource uses it."""

    dtype = np.dtype([("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")])

    def __init__(self, batches):
        self.batches = list(batches)
        self.closed = threading.Event()

    def name(self):
        return types.SimpleNamespace(value="Prophesee EVK4")

    def serial(self):
        return "00050423"

    def properties(self):
        return types.SimpleNamespace(width=1280, height=720)

    def __next__(self):
        if self.closed.is_set():
            raise RuntimeError("device closed")
        if not self.batches:
            raise RuntimeError("USB device disconnected")
        batch = self.batches.pop(0)
        if batch is None:  # the driver's iterator timeout
            self.closed.wait(0.05)
            return object(), None
        events = np.zeros(len(batch), dtype=self.dtype)
        events["t"], events["x"], events["y"], events["on"] = np.array(batch).T
        return object(), types.SimpleNamespace(polarity_events=events)

    def close(self):
        self.closed.set()


def stand_in_drivers(device):
    listed = types.SimpleNamespace(
        name=types.SimpleNamespace(name="PROPHESEE_EVK4", value="Prophesee EVK4"),
        connection=types.SimpleNamespace(value="USB 3.0"),
        serial="00050423",
        error=None,
    )
    module = types.ModuleType("neuromorphic_drivers")
    module.list_devices = lambda: [listed]
    module.open = lambda serial=None, iterator_timeout=None: device
    return module


def test_prophesee_camera_through_a_stand_in_driver(monkeypatch):
    batches = [[(10, 1, 2, True), (12, 3, 4, False)], None, None, None, [(20, 1279, 719, True)]]
    device = StandInDevice(batches)
    monkeypatch.setattr(dv.io.camera, "discover", lambda: [])
    monkeypatch.setitem(sys.modules, "neuromorphic_drivers", stand_in_drivers(device))
    [info] = discover_cameras()
    assert (info.vendor, info.serial) == ("prophesee", "00050423")
    source = open_source(SourceSpec("camera", "00050423"))
    assert source.is_live and source.size == SensorSize(1280, 720)
    packets = []
    with pytest.raises(SourceDisconnected, match="disconnected"):
        for packet in source.packets():
            packets.append(packet)
    events = concatenate([p for p in packets if p.shape[0]])
    assert events["t"].tolist() == [10, 12, 20]
    assert events["x"].tolist() == [1, 3, 1279] and events["p"].tolist() == [1, 0, 1]
    assert any(p.shape[0] == 0 for p in packets)  # idle for 150 ms: an empty packet came out
    source.close()
    assert device.closed.is_set()


def test_prophesee_camera_close_from_another_thread_ends_packets(monkeypatch):
    device = StandInDevice([None] * 1_000)
    monkeypatch.setattr(dv.io.camera, "discover", lambda: [])
    monkeypatch.setitem(sys.modules, "neuromorphic_drivers", stand_in_drivers(device))
    source = open_source(SourceSpec("camera"))
    timer = threading.Timer(0.2, source.close)
    timer.start()
    count = sum(1 for _ in source.packets())
    timer.join()
    assert device.closed.is_set()
    assert 1 <= count < 100
