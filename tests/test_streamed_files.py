"""Big recordings stream: decoded once as they play, nothing scanned on open; seeking still works.

A file counts as big against ``in_memory_max_events`` (4M events by default);
here the limit is lowered so that the shared recordings and small written
files take the streamed path, and their events are compared with the
in-memory path's.
"""

from __future__ import annotations

import numpy as np
import pytest

from neuroclip_live.events import SensorSize, concatenate
from neuroclip_live.stream.sources.files.aedat import AedatFileSource
from neuroclip_live.stream.sources.files.faery_files import FaeryFileSource
from recording_writers import (
    events_equal,
    random_events,
    write_with_dv,
    write_with_faery,
)


def read_all(source, start=None) -> np.ndarray:
    return concatenate(list(source.packets_from(start)))


@pytest.fixture
def davis346(recordings_dir):
    return recordings_dir / "davis346.aedat4"


def test_streamed_and_whole_file_reading_give_the_same_events(davis346):
    whole = AedatFileSource(davis346)
    streamed = AedatFileSource(davis346, in_memory_max_events=1_000)
    assert whole.in_memory and not streamed.in_memory
    assert streamed.event_count == 0  # nothing decoded on open
    assert events_equal(read_all(streamed), read_all(whole))
    assert streamed.event_count == whole.event_count and streamed.time_range == whole.time_range
    assert len(streamed.aps_frames) == len(whole.aps_frames) == 59


def test_seek_in_a_streamed_file_before_and_after_its_first_pass(davis346):
    everything = read_all(AedatFileSource(davis346))
    streamed = AedatFileSource(davis346, in_memory_max_events=1_000)
    first, last = streamed.time_range
    assert first <= int(everything["t"][0]) and last >= int(everything["t"][-1])
    for start in np.linspace(everything["t"][0], everything["t"][-1], 5).astype(np.int64)[1:]:
        # Before a whole pass: faery decodes from the start and skips (no unchecked bytes reach dv).
        assert events_equal(read_all(streamed, int(start)), everything[everything["t"] >= start])
    read_all(streamed)  # a whole, clean pass: seeks now go through dv's packet table
    for start in np.linspace(everything["t"][0], everything["t"][-1], 5).astype(np.int64)[1:]:
        assert events_equal(read_all(streamed, int(start)), everything[everything["t"] >= start])


def test_a_damaged_streamed_file_skips_its_bad_packet_and_never_hands_it_to_dv(tmp_path):
    size = SensorSize(64, 48)
    events = random_events(20_000, size)
    path = write_with_dv(tmp_path / "corrupt.aedat4", events, size)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # dv-processing 2.0.4 hangs on this very file
    path.write_bytes(bytes(data))
    source = AedatFileSource(path, in_memory_max_events=0)
    got = read_all(source)
    assert got.shape[0] == events.shape[0] - 2_000
    assert any("skipped 1 damaged packet" in note for note in source.notes)
    middle = int(events["t"][10_000])
    assert events_equal(read_all(source, middle), got[got["t"] >= middle])  # still faery, not dv


@pytest.mark.parametrize("version", ["evt3", "evt2"])
def test_a_streamed_evt_file_opens_without_a_pass_and_finds_its_time_range(tmp_path, version):
    # 40 s: the 24-bit EVT 3.0 time wraps twice; faery's writer stores a t0 offset in the header.
    size = SensorSize(640, 480)
    events = random_events(50_000, size, t0=5_000_000, duration_us=40_000_000, seed=8)
    path = write_with_faery(tmp_path / "long.raw", events, size, version=version)
    streamed = FaeryFileSource(path, in_memory_max_events=1_000)
    assert not streamed.in_memory and streamed.event_count == 0
    # EVT 2.0 reads its end from the tail at once; EVT 3.0 passes over its time words meanwhile.
    assert streamed.time_range[0] == int(events["t"][0])
    assert streamed.wait_for_time_range(10)
    assert streamed.time_range == (int(events["t"][0]), int(events["t"][-1]))
    middle = int(events["t"][30_000])
    assert events_equal(read_all(streamed, middle), events[events["t"] >= middle])
    assert events_equal(read_all(streamed), events) and streamed.event_count == events.shape[0]
    streamed.close()


def test_the_evt3_time_word_pass_publishes_a_growing_range_block_by_block(tmp_path, monkeypatch):
    import neuroclip_live.stream.sources.files.prophesee_raw as prophesee_raw

    size = SensorSize(320, 240)
    events = random_events(40_000, size, t0=0, duration_us=60_000_000, seed=9)
    path = write_with_faery(tmp_path / "blocks.raw", events, size, version="evt3")
    monkeypatch.setattr(prophesee_raw, "_BLOCK_WORDS", 4_096)  # many blocks in a small file
    header = prophesee_raw.prophesee_layout(path, ".raw")[0]
    seen: list[int] = []
    words = prophesee_raw.Evt3TimeWords(path, header, seen.append)
    assert words.run() == int(events["t"][-1]) and words.done.is_set()
    assert len(seen) > 10 and seen == sorted(seen) and seen[-1] == int(events["t"][-1])
    assert seen[len(seen) // 2] > 16_777_216  # past the first wrap of the 24-bit time, counted
