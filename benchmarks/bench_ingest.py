"""Ingest against the libraries' own decode, on the same >= 4M-event files, in one run.

Made here from the shared recordings (repeated with a time offset until they
hold at least 4M events): an EVT 3.0 ``.raw`` (from ``evt3.raw``, written by
faery) and an ``.aedat4`` (from ``davis346.aedat4``, written by faery, read
back by dv-processing). Figures, in Mev/s:

- ``ingest_*``: the project's ``open_file`` plus reading every packet as EVENT_DTYPE;
- ``faery_evt3``: faery's own decode of the same file (iterate its chunks);
- ``dv_aedat4``: dv-processing's sequential read plus ``.numpy()``;
- ``ingest_*_ratio``: the project's speed as a fraction of the library's, the median over reads made
  back to back (so a change in the machine's load does not land on one side only);
- ``memcpy``: copying the same number of EVENT_DTYPE bytes once, the physical reference;
- ``first_frame_big_evt*_s``: seconds from opening a ~1 GB EVT file (the 4M-event body repeated,
  256 MB with ``--quick``) to its first frame out of the pipeline: big files stream, so this
  should not grow with the size. ``big_evt_gb`` gives the size.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dv_processing as dv
import faery
import numpy as np

from benchmarks.bench_io import _median_seconds
from neuroclip_live.events import EVENT_DTYPE
from neuroclip_live.runtime.config import RunConfig
from neuroclip_live.runtime.pipeline import Pipeline
from neuroclip_live.stream.sources import open_file
from neuroclip_live.stream.sources.files.prophesee_raw import prophesee_layout

ROOT = Path(__file__).resolve().parent.parent

RECORDINGS = ROOT.parent / "shared" / "data" / "recordings"
Reader = Callable[[Path], int]
MIN_EVENTS = 4_000_000


def _repeated(source: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """The recording's events repeated end to end (times shifted) until there are MIN_EVENTS."""
    stream = faery.events_stream_from_file(source)
    dims = stream.dimensions()
    one = np.concatenate(list(stream))
    copies = -(-MIN_EVENTS // one.shape[0])
    span = int(one["t"][-1] - one["t"][0]) + 1
    many = np.concatenate([one] * copies)
    many["t"] += np.repeat(np.arange(copies, dtype=np.uint64) * span, one.shape[0])
    return many, dims


def _ingest(path: Path) -> int:
    source = open_file(str(path))
    return sum(p.shape[0] for p in source.packets_from(None))


def _faery(path: Path) -> int:
    return sum(c.shape[0] for c in faery.events_stream_from_file(path))


def _dv(path: Path) -> int:
    recording = dv.io.MonoCameraRecording(str(path))
    n = 0
    while recording.isRunning():
        batch = recording.getNextEventBatch()
        if batch is not None:
            n += batch.numpy().shape[0]
    return n


def _body_repeated(path: Path, out: Path, size_bytes: int) -> int:
    """``path``'s EVT header, then its body repeated up to ``size_bytes``; returns the size written."""
    data = path.read_bytes()
    header = prophesee_layout(path, ".raw")[0]
    body = data[header:]
    with out.open("wb") as f:
        f.write(data[:header])
        for _ in range(max(size_bytes // len(body), 1)):
            f.write(body)
    return out.stat().st_size


def _first_frame_s(path: Path) -> float:
    t0 = time.perf_counter()
    with Pipeline(lambda: open_file(str(path)), RunConfig(speed=1.0)) as pipeline:
        next(iter(pipeline.results(timeout=60)))
        return time.perf_counter() - t0


def _big_file_figures(events: np.ndarray, dims: tuple[int, int], tmp: Path, quick: bool) -> dict[str, float]:
    figures: dict[str, float] = {}
    for version in ("evt3", "evt2"):
        small = tmp / f"small_{version}.raw"
        faery.events_stream_from_array(events, dims).to_file(small, version=version)
        big = tmp / f"big_{version}.raw"
        figures["big_evt_gb"] = _body_repeated(small, big, (256 if quick else 1024) << 20) / 1e9
        _first_frame_s(small)  # imports and kernels
        figures[f"first_frame_big_{version}_s"] = _first_frame_s(big)
        big.unlink()
    return figures


def _paired(path: Path, n: int, ours: tuple[str, Reader], theirs: tuple[str, Reader], repeats: int) -> dict[str, float]:
    """Both reads of ``path``, alternated; the ratio is the median of back-to-back pairs.

    Why pairs: on a shared machine the load changes within seconds, and two medians taken
    one after the other compared different loads (the EVT3 ratio swung 0.43-0.70 that way).
    """
    for label, read in (ours, theirs):
        got = read(path)  # warm the page cache and any compile
        assert got == n, f"{label} read {got} of {n} events"
    seconds: dict[str, list[float]] = {ours[0]: [], theirs[0]: []}
    for _ in range(repeats):
        for label, read in (ours, theirs):
            start = time.perf_counter()
            read(path)
            seconds[label].append(time.perf_counter() - start)
    figures = {f"{label}_mev_s": n / statistics.median(s) / 1e6 for label, s in seconds.items()}
    pairs = [b / a for a, b in zip(seconds[ours[0]], seconds[theirs[0]], strict=True)]
    figures[f"{ours[0]}_ratio"] = statistics.median(pairs)
    return figures


def _memcpy_mev_s(n: int, repeats: int) -> float:
    src = np.ones(n * EVENT_DTYPE.itemsize, np.uint8)
    dst = np.empty_like(src)
    return n / _median_seconds(lambda: np.copyto(dst, src), repeats) / 1e6


def collect(quick: bool = False) -> dict[str, float]:
    repeats = 1 if quick else 5
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        pairs = (
            ("evt3", "evt3.raw", ".raw", _faery, "faery_evt3"),
            ("aedat4", "davis346.aedat4", ".aedat4", _dv, "dv_aedat4"),
        )
        n = 0
        for key, name, suffix, library, library_key in pairs:
            source = RECORDINGS / name
            if not source.is_file():
                continue
            events, dims = _repeated(source)
            path = Path(tmp) / f"big{suffix}"
            faery.events_stream_from_array(events, dims).to_file(path)
            n = events.shape[0]
            figures.update(_paired(path, n, (f"ingest_{key}", _ingest), (library_key, library), repeats))
            if key == "evt3":
                figures.update(_big_file_figures(events, dims, Path(tmp), quick))
        if n:
            figures["memcpy_mev_s"] = _memcpy_mev_s(n, repeats)
    return figures


if __name__ == "__main__":
    for key, value in collect(quick="--quick" in sys.argv).items():
        print(f"{key:28s} {value:10.2f}")
