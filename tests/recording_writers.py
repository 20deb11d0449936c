"""Recordings written by the libraries themselves, for round-trip tests of the sources."""

from __future__ import annotations

from pathlib import Path

import dv_processing as dv
import faery
import numpy as np

from neuroclip_live.events import EVENT_DTYPE, SensorSize


def random_events(n: int, size: SensorSize, t0: int = 1_000, duration_us: int = 500_000, seed: int = 0) -> np.ndarray:
    """``n`` events spread over ``duration_us``, in time order (equal timestamps included)."""
    rng = np.random.default_rng(seed)
    events = np.empty(n, dtype=EVENT_DTYPE)
    events["t"] = np.sort(rng.integers(t0, t0 + duration_us, n))
    events["x"] = rng.integers(0, size.width, n)
    events["y"] = rng.integers(0, size.height, n)
    events["p"] = rng.integers(0, 2, n)
    return events


def write_with_faery(path: Path, events: np.ndarray, size: SensorSize, **to_file) -> Path:
    """Write ``events`` with faery's encoder for ``path``'s extension (.raw, .dat, .es, .csv, .aedat4)."""
    array = np.empty(events.shape[0], dtype=faery.EVENTS_DTYPE)
    array["t"], array["x"], array["y"], array["on"] = events["t"], events["x"], events["y"], events["p"]
    faery.events_stream_from_array(array, (size.width, size.height)).to_file(path, **to_file)
    return path


def write_atis_with_faery(path: Path, events: np.ndarray, size: SensorSize, seed: int = 0) -> Path:
    """An ATIS ``.es`` (Event Stream 2.0, type 2) of ``events`` with faery's encoder, threshold crossings among them.

    A real ATIS interleaves exposure measurements (two threshold crossings per pixel) with its DVS
    events; readers keep the DVS events only. One crossing follows about every third event here.
    """
    rng = np.random.default_rng(seed)
    crossings = np.sort(rng.choice(events.shape[0], events.shape[0] // 3, replace=False))
    order = np.concatenate([np.arange(events.shape[0]), crossings])
    is_tc = np.concatenate([np.zeros(events.shape[0], bool), np.ones(crossings.shape[0], bool)])
    sort = np.lexsort((is_tc, order))
    atis = np.zeros(order.shape[0], [("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("exposure", "?"), ("polarity", "?")])
    picked = events[order[sort]]
    atis["t"], atis["x"] = picked["t"], picked["x"]
    atis["y"] = size.height - 1 - picked["y"]  # Event Stream counts rows from the bottom
    atis["exposure"] = is_tc[sort]
    atis["polarity"] = np.where(is_tc[sort], rng.integers(0, 2, order.shape[0]), picked["p"]).astype(bool)
    with faery.extension.es.Encoder(path, "atis", False, (size.width, size.height)) as encoder:
        encoder.write(atis)
    return path


def to_dv_store(events: np.ndarray) -> dv.EventStore:
    store = dv.EventStore()
    for t, x, y, p in zip(
        events["t"].tolist(), events["x"].tolist(), events["y"].tolist(), events["p"].tolist(), strict=True
    ):
        store.push_back(t, x, y, bool(p))
    return store


def write_with_dv(path: Path, events: np.ndarray, size: SensorSize, frames: list[tuple[int, np.ndarray]] = ()) -> Path:
    """Write an .aedat4 with dv-processing: events, and APS frames (t_us, H x W uint8) when given."""
    if frames:
        config = dv.io.MonoCameraWriter.DAVISConfig("TEST_CAMERA", (size.width, size.height))
    else:
        config = dv.io.MonoCameraWriter.EventOnlyConfig("TEST_CAMERA", (size.width, size.height))
    writer = dv.io.MonoCameraWriter(str(path), config)
    for i in range(0, events.shape[0], 2_000):  # one file packet per write, as a camera would make
        writer.writeEvents(to_dv_store(events[i : i + 2_000]))
    for t, image in frames:
        writer.writeFrame(dv.Frame(t, image))
    del writer  # the file is complete once the writer is gone
    return path


def write_frames_only(path: Path, size: SensorSize, frames: list[tuple[int, np.ndarray]]) -> Path:
    writer = dv.io.MonoCameraWriter(
        str(path), dv.io.MonoCameraWriter.FrameOnlyConfig("TEST_CAMERA", (size.width, size.height))
    )
    for t, image in frames:
        writer.writeFrame(dv.Frame(t, image))
    del writer
    return path


def events_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == EVENT_DTYPE and b.dtype == EVENT_DTYPE and np.array_equal(a, b)
