"""Damaged recordings replay what is intact, or give one clean line; never a hang, a panic or a blow-up.

Mutants are made from the shared real recordings with a fixed seed (see
``damage_mutants``): one flipped bit or one zeroed 4 KiB block in the body
must keep at least 90% of the intact file's timesteps (a zeroed block right
after an AEDAT 4 header and a flip in an ATIS .es too); a file cut short
replays every whole packet or record before the cut; random bytes after a
good start stay far from the memory a size read from them could claim;
wrong extensions, wild coordinates and backwards timestamps give a clean
line or a counted drop. (``benchmarks/fuzz_files.py`` runs many more.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import faery
import numpy as np
import pytest

from damage_mutants import BLOCK, faery_copy, mutate, outcome, packet_ends, timesteps
from neuroclip_live.errors import SourceError
from neuroclip_live.events import SensorSize, concatenate
from neuroclip_live.stream.sources import SourceSpec, open_file, open_source
from neuroclip_live.stream.sources.repair.aedat_header import read_file_header
from neuroclip_live.stream.sources.repair.damage import reason_of
from recording_writers import (
    events_equal,
    random_events,
    write_atis_with_faery,
    write_with_faery,
)

SAMPLE = Path(__file__).resolve().parent.parent / "recordings" / "sample.aedat4"
SEED = 20260
MUTANTS = {"flip": 4, "zero": 2}


def read_all(source) -> np.ndarray:
    return concatenate(list(source.packets_from(None)))


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> dict[str, tuple[Path, int]]:
    """name -> (intact file, where its body starts); .dat and .csv written by faery from the shared data."""
    from conftest import NMNIST, RECORDINGS

    if not RECORDINGS.is_dir():
        pytest.skip(f"shared recordings not found at {RECORDINGS}")
    made = tmp_path_factory.mktemp("intact")
    return {
        "evt3": (RECORDINGS / "evt3.raw", 4096),
        "es": (RECORDINGS / "dvs.es", 20),
        "davis346": (RECORDINGS / "davis346.aedat4", 4096),
        "sample": (SAMPLE, 1024),
        "dat": (faery_copy(RECORDINGS / "evt3.raw", made / "evt3.dat", 400_000), 100),
        "csv": (faery_copy(RECORDINGS / "dvs.es", made / "dvs.csv", 40_000), 30),
        "nmnist": (sorted((NMNIST / "Train" / "3").glob("*.bin"))[0], 0),
    }


@pytest.fixture(scope="module")
def intact_steps(recordings) -> dict[str, int]:
    return {name: timesteps(path) for name, (path, _) in recordings.items()}


def one_line(message: str) -> None:
    assert message and "\n" not in message and "\0" not in message and "Traceback" not in message


# -- one flipped bit, one zeroed block: at least 90% of the timesteps ----------------------------


# (No zeroed 4 KiB block in an N-MNIST sample: it is a quarter of the file; see the backwards-time test.)
@pytest.mark.parametrize(
    ("name", "kind"),
    [(name, kind) for name in ("evt3", "es", "davis346", "sample", "dat", "csv", "nmnist") for kind in MUTANTS][:-1],
)
def test_single_damage_replays_at_least_90_percent(recordings, intact_steps, tmp_path, name, kind):
    path, body = recordings[name]
    data = path.read_bytes()
    rng = np.random.default_rng([SEED, len(name), MUTANTS[kind]])
    shares = []
    for i in range(MUTANTS[kind]):
        mutant = tmp_path / f"{kind}{i}{path.suffix}"
        mutant.write_bytes(mutate(data, kind, rng, body))
        result, steps = outcome(mutant)
        assert result == "replay", steps
        shares.append(steps / intact_steps[name])
    assert min(shares) >= 0.9, shares


def test_a_timestamp_flipped_far_ahead_in_an_aedat4_packet_loses_only_that_packet(tmp_path):
    # No checksum catches it (uncompressed here; dv's LZ4 frames carry none either), and faery then raises
    # every later timestamp to the damaged one: without a fresh decoder past it, the rest is one timestep.
    events = random_events(100_000, SensorSize(64, 48), duration_us=3_000_000, seed=7)
    path = write_with_faery(tmp_path / "flat.aedat4", events, SensorSize(64, 48), compression=None)
    data = bytearray(path.read_bytes())
    k = 3 * 4096 + 1000  # an event inside the fourth packet (faery writes 4,096 events a packet)
    record = events[k : k + 1].copy()
    at = data.index(record["t"].astype("<i8").tobytes() + record["x"].astype("<i2").tobytes())
    data[at + 6] ^= 0x04  # bit 50 of its timestamp: 35 years ahead
    mutant = tmp_path / "ahead.aedat4"
    mutant.write_bytes(bytes(data))
    source = open_file(str(mutant))
    assert events_equal(read_all(source), np.concatenate([events[:k], events[4 * 4096 :]]))
    assert any("skipped 1 damaged packet" in note for note in source.notes)
    assert timesteps(mutant) >= 0.95 * timesteps(path)


def test_sample_minus_its_last_byte_replays_all_of_it(intact_steps, recordings, tmp_path):
    path, _ = recordings["sample"]
    cut = tmp_path / "cut.aedat4"
    cut.write_bytes(path.read_bytes()[:-1])
    assert timesteps(cut) == intact_steps["sample"] == 200
    note = " ".join(open_file(str(cut)).notes)
    assert "read packet by packet" in note


def test_zeroed_packet_header_steps_over_it_without_panic_text(recordings, tmp_path, capfd):
    # faery's flatbuffers assertion fires on a zeroed packet header and prints a Rust panic on fd 2.
    path, _ = recordings["davis346"]
    data = bytearray(path.read_bytes())
    start = packet_ends(path)[30] - 100  # the block covers the end of one packet and the next one's header
    data[start : start + BLOCK] = bytes(BLOCK)
    mutant = tmp_path / "zeroed.aedat4"
    mutant.write_bytes(bytes(data))
    source = open_file(str(mutant))
    assert read_all(source).shape[0] > 0.95 * 78_830
    assert any("stepped over 1 damaged place" in note for note in source.notes)
    err = capfd.readouterr().err
    assert "panicked" not in err and "backtrace" not in err


@pytest.mark.parametrize("name", ["davis346.aedat4", "sample.aedat4"])
def test_zeroed_block_right_after_an_aedat4_header_replays_90_percent(tmp_path, name):
    # Every .aedat4 of the shared data, and the project's sample: faery used to stop at the zeroed packet
    # header (0 of 79 and 0 of 200 timesteps) and quote its flatbuffers assertion.
    from conftest import RECORDINGS

    path = SAMPLE if name == "sample.aedat4" else RECORDINGS / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    data = bytearray(path.read_bytes())
    start = read_file_header(path).data_start
    data[start : start + BLOCK] = bytes(BLOCK)
    mutant = tmp_path / name
    mutant.write_bytes(bytes(data))
    source = open_file(str(mutant))
    assert timesteps(mutant) >= 0.9 * timesteps(path)
    assert any("stepped over 1 damaged place" in note for note in source.notes)
    assert not any("assertion" in note for note in source.notes)


def test_library_assertions_are_said_in_our_words():
    panic = RuntimeError("assertion failed: data.len() >= SIZE_SIZEPREFIX + SIZE_UOFFSET + FILE_IDENTIFIER_LENGTH")
    assert reason_of(panic) == "a packet's contents are damaged"
    assert reason_of(OSError("failed to fill whole buffer")) == "the data ends inside a packet"
    assert reason_of(RuntimeError("x overflow (x=400 should be ...)")).startswith("x overflow")  # already plain


@pytest.fixture(scope="module")
def atis_es(recordings, tmp_path_factory) -> tuple[Path, int]:
    """An ATIS .es of the shared DVS recording's events (threshold crossings among them), and its timesteps."""
    dvs, _ = recordings["es"]
    events = read_all(open_file(str(dvs)))
    path = write_atis_with_faery(tmp_path_factory.mktemp("atis") / "atis.es", events, SensorSize(320, 240), seed=SEED)
    source = open_file(str(path))
    assert events_equal(read_all(source), events) and source.notes == []
    return path, timesteps(path)


def _event_starts(data: bytes, limit: int) -> list[int]:
    """Offsets of the first ATIS events (the spec's state machine: 0b111111xx is an overflow byte, else 5 bytes)."""
    starts, i = [], 20
    while i < limit:
        if data[i] >= 0xFC:
            i += 1
        else:
            starts.append(i)
            i += 5
    return starts


def test_a_flipped_bit_in_an_atis_es_replays_90_percent(atis_es, tmp_path):
    # faery stops for good at the first coordinate beyond the sensor: one flip replayed 1 of 34 timesteps.
    path, intact = atis_es
    data = path.read_bytes()
    starts = _event_starts(data, len(data) // 2)
    rng = np.random.default_rng(SEED)
    flips = [(starts[-1] + 2, 7), (starts[-7] + 4, 6), (starts[-20], 0)]  # x beyond 32767, y beyond, a crossing
    flips += [(int(rng.integers(20, len(data))), int(rng.integers(8))) for _ in range(4)]
    for i, (at, bit) in enumerate(flips):
        mutant = bytearray(data)
        mutant[at] ^= 1 << bit
        flipped = tmp_path / f"flip{i}.es"
        flipped.write_bytes(bytes(mutant))
        assert timesteps(flipped) >= 0.9 * intact, (at, bit)


@pytest.mark.parametrize(("name", "dtype", "bit"), [("evt3", "<u2", 11), ("evt2", "<u4", 20)])
def test_a_flipped_time_high_word_in_an_evt_file_is_set_right(recordings, tmp_path, name, dtype, bit):
    # faery carried it on: EVT 3.0 time stayed 8.4 s ahead (69% of the timesteps), EVT 2.0 read a 34-bit wrap.
    from neuroclip_live.stream.sources.files.prophesee_raw import prophesee_layout

    path, _ = recordings["evt3"]
    if name == "evt2":
        path = write_with_faery(
            tmp_path / "evt2.raw", read_all(open_file(str(path)))[:300_000], SensorSize(1280, 720), version="evt2"
        )
    start = prophesee_layout(path, ".raw")[0]
    data = bytearray(path.read_bytes())
    words = np.frombuffer(bytes(data[start:]), dtype=dtype, count=(len(data) - start) // np.dtype(dtype).itemsize)
    # A time-high word past the middle whose bit is 0: setting it moves time ahead (2^23 us, 2^26 us).
    high = np.flatnonzero((words >> (8 * words.itemsize - 4) == 0x8) & (words & (1 << bit) == 0))
    at = start + int(high[high.shape[0] // 2]) * words.itemsize
    data[at + bit // 8] ^= 1 << (bit % 8)
    mutant = tmp_path / f"flipped-{name}.raw"
    mutant.write_bytes(bytes(data))
    intact, source = open_file(str(path)), open_file(str(mutant))
    assert source.time_range == intact.time_range
    assert timesteps(mutant) >= 0.99 * timesteps(path)
    assert any("corrected 1 damaged time word" in note for note in source.notes)


_PEAK_CHILD = """
import resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))  # a regression fails here, not the machine
from damage_mutants import outcome
for path in sys.argv[1:]:
    result, said = outcome(Path(path))
    assert result == "replay" or "\\n" not in said, said
hwm = [line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM")]
print(int(hwm[0].split()[1]) // 1024)
"""


def test_random_bytes_after_a_good_start_stay_under_500_mb(recordings, tmp_path):
    # The sample's first 0.5 MB and random bytes reached 4.1 GB: faery allocated a packet size read from them.
    paths = []
    for name, (path, _) in recordings.items():
        data = path.read_bytes()
        keep = min(512 * 1024, len(data) // 2)
        for seed, tail in enumerate((100_000, 2 << 20)):
            mutant = tmp_path / f"{name}-tail{seed}{path.suffix}"
            mutant.write_bytes(data[:keep] + np.random.default_rng([SEED, seed]).bytes(tail))
            paths.append(str(mutant))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK_CHILD, *paths], capture_output=True, text=True, timeout=600, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.split()[-1]) < 500, proc.stdout


# -- cut short: every whole packet or record before the cut ---------------------------------------


@pytest.mark.parametrize("name", ["evt3", "es", "davis346", "sample", "dat", "csv", "nmnist"])
def test_cut_short_replays_a_prefix_of_the_intact_events(recordings, tmp_path, name):
    path, body = recordings[name]
    data = path.read_bytes()
    intact = read_all(open_file(str(path)))
    rng = np.random.default_rng([SEED, len(name)])
    for i in range(2):
        cut = mutate(data, "cut", rng, body)
        mutant = tmp_path / f"cut{i}{path.suffix}"
        mutant.write_bytes(cut)
        got = read_all(open_file(str(mutant)))
        assert events_equal(got, intact[: got.shape[0]])
        assert got.shape[0] >= whole_events_before(name, path, len(cut), intact.shape[0])


def whole_events_before(name: str, path: Path, cut: int, total: int) -> int:
    """Events held by whole packets or records before byte ``cut`` (0 where the format has no fixed layout)."""
    if name == "dat":
        header = path.read_bytes().index(b"\n% T0")  # the records start after the header's last line
        start = path.read_bytes().index(b"\n", header + 1) + 3
        return (cut - start) // 8
    if name == "nmnist":
        return cut // 5
    if path.suffix == ".aedat4":
        return _aedat_events_before(path, cut)
    return 0


def _aedat_events_before(path: Path, cut: int) -> int:
    """Events in the event packets that end before ``cut`` in the intact file."""
    with faery.aedat.Decoder(path) as decoder:
        sizes = [packet.shape[0] if track.data_type == "events" else 0 for track, packet in decoder]
    return sum(n for end, n in zip(packet_ends(path), sizes, strict=True) if end <= cut)


# -- wrong extension, wild coordinates, backwards time ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "suffix"), [("evt3", ".es"), ("evt3", ".aedat4"), ("es", ".raw"), ("davis346", ".dat"), ("dat", ".csv")]
)
def test_wrong_extension_is_one_clean_line(recordings, tmp_path, name, suffix):
    path, _ = recordings[name]
    renamed = tmp_path / f"renamed{suffix}"
    renamed.write_bytes(path.read_bytes()[:200_000])
    result, message = outcome(renamed)
    assert result == "error"
    one_line(message)
    assert len(message) < 300


def test_csv_row_far_outside_is_dropped_not_a_60001_pixel_sensor(tmp_path):
    events = random_events(5_000, SensorSize(346, 260), seed=1)
    path = tmp_path / "wild.csv"
    rows = [f"{t},{x},{y},{p}" for t, x, y, p in zip(events["t"], events["x"], events["y"], events["p"], strict=True)]
    rows.insert(2_500, f"{events['t'][2_500]},60000,12,1")
    path.write_text("t,x,y,p\n" + "\n".join(rows) + "\n")
    source = open_file(str(path))
    assert source.size == SensorSize(int(events["x"].max()) + 1, int(events["y"].max()) + 1)
    assert events_equal(read_all(source), events)
    assert any("1 event (1 outside the sensor)" in note for note in source.notes)


def test_a_claimed_size_over_the_cap_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("t,x@100000,y@100000,on\n1,2,3,1\n")
    with pytest.raises(SourceError) as caught:
        open_file(str(path))
    message = str(caught.value)
    one_line(message)
    assert "100000x100000" in message and "4096x4096" in message


def test_a_user_given_sensor_size_wins_and_drops_what_lies_beyond(tmp_path):
    events = random_events(5_000, SensorSize(640, 480), seed=2)
    path = write_with_faery(tmp_path / "rec.raw", events, SensorSize(640, 480), version="evt3")
    source = open_source(SourceSpec("file", str(path), sensor=SensorSize(320, 240)))
    inside = (events["x"] < 320) & (events["y"] < 240)
    assert source.size == SensorSize(320, 240)
    assert events_equal(read_all(source), events[inside])


@pytest.mark.parametrize("suffix", [".dat", ".bin"])
def test_backwards_timestamps_are_dropped_and_counted(tmp_path, nmnist_root, suffix):
    # (faery's own decoders, used for EVT, CSV and aedat4, raise such timestamps to the previous one.)
    if suffix == ".bin":
        sample = sorted((nmnist_root / "Train" / "1").glob("*.bin"))[0]
        raw = bytearray(sample.read_bytes())
        intact = read_all(open_file(str(sample)))
        for k in (100, 900, 2_000):  # three records' timestamps zeroed: they run back to t=0
            raw[5 * k + 2] &= 0x80
            raw[5 * k + 3 : 5 * k + 5] = b"\0\0"
        path = tmp_path / "back.bin"
        path.write_bytes(bytes(raw))
        expected = np.delete(intact, [100, 900, 2_000])
    else:
        intact = random_events(3_000, SensorSize(64, 48), seed=3)
        intact["t"] = np.arange(3_000) * 10 + 1_000
        path = write_with_faery(tmp_path / "back.dat", intact, SensorSize(64, 48))
        raw = bytearray(path.read_bytes())
        start = len(raw) - 8 * 3_000
        for k in (100, 900, 2_000):  # these records' timestamps set to 0: back before the first event
            raw[start + 8 * k : start + 8 * k + 4] = bytes(4)
        path.write_bytes(bytes(raw))
        expected = np.delete(intact, [100, 900, 2_000])
    source = open_file(str(path))
    assert events_equal(read_all(source), expected)
    assert any("3 events (3 back in time)" in note for note in source.notes)


def test_zeroed_block_in_a_csv_quotes_no_nul_bytes(recordings, tmp_path):
    path, _ = recordings["csv"]
    data = bytearray(path.read_bytes())
    data[0:BLOCK] = bytes(BLOCK)  # the header line and the first rows are NUL bytes
    mutant = tmp_path / "zeroed.csv"
    mutant.write_bytes(bytes(data))
    result, message = outcome(mutant)
    assert result == "error"
    one_line(message)
    assert len(message) < 200


# -- special files: bounded, and called what they are --------------------------------------------


def test_a_fifo_without_a_writer_does_not_hang(tmp_path):
    fifo = tmp_path / "f.es"
    os.mkfifo(fifo)
    with pytest.raises(SourceError) as caught:
        open_file(str(fifo))
    message = str(caught.value)
    assert "not a regular file" in message


def test_dev_zero_is_not_called_empty(tmp_path):
    link = tmp_path / "z.raw"
    link.symlink_to("/dev/zero")
    with pytest.raises(SourceError) as caught:
        open_file(str(link))
    message = str(caught.value)
    assert "not a regular file" in message and "empty" not in message


# -- the command line: --sensor, and each note once ----------------------------------------------


def test_sensor_flag_reaches_the_reader_and_notes_print_once(tmp_path, capsys):
    from neuroclip_live.cli import main

    events = random_events(20_000, SensorSize(640, 480), seed=6)
    events["t"] = np.sort(events["t"])
    events["y"][:50] = 479  # rows that --sensor 640x400 cuts off
    path = write_with_faery(tmp_path / "rec.dat", events, SensorSize(640, 480))
    rc = main(["--file", str(path), "--sensor", "640x400", "--headless", "--json", "--speed", "0"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert notes and len(notes) == len(set(notes)) and "WARNING" not in err
    beyond = int((events["y"] >= 400).sum())
    assert any(f"{beyond:,} events ({beyond:,} outside the sensor)" in note for note in notes)
    assert sum(json.loads(line)["events"] for line in out.splitlines()) == events.shape[0] - beyond


def test_sensor_flag_is_for_files(capsys):
    from neuroclip_live.cli import main

    assert main(["--camera", "--sensor", "640x480", "--headless"]) == 2
    assert "--sensor WxH applies to recordings" in capsys.readouterr().err
    assert main(["--file", "x.raw", "--sensor", "640by480", "--headless"]) == 2  # argparse's error, in one line
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expected a sensor size such as 640x480" in err
