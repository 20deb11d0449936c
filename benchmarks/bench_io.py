"""Read-and-decode throughput of the file sources, on the shared real recordings.

``collect()`` returns figures in Mev/s (millions of events per second) and
milliseconds, measured as a user meets them: open the file (which scans it)
and read every packet as EVENT_DTYPE. ``lazy`` figures force the big-file
path (events decoded again from disk on each read) on the same recordings, to
compare with keeping a small file in memory; ``seek`` figures are one seek to
the middle plus its first packet. Keys for absent data are left out.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neuroclip_live.stream.sources.files.aedat import AedatFileSource
from neuroclip_live.stream.sources.files.faery_files import FaeryFileSource
from neuroclip_live.stream.sources.files.nmnist import NmnistFileSource

ROOT = Path(__file__).resolve().parent.parent

SHARED = ROOT.parent / "shared" / "data"
RECORDINGS = SHARED / "recordings"
NMNIST = SHARED / "nmnist-small"


def _median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _read_all(open_source: Callable[[], object]) -> int:
    source = open_source()
    return sum(packet.shape[0] for packet in source.packets_from(None))


def _seek_middle(source) -> None:
    first, last = source.time_range
    next(iter(source.packets_from((first + last) // 2)))


def _recording_figures(key: str, path: Path, reader, repeats: int) -> dict[str, float]:
    figures = {}
    count = _read_all(lambda: reader(path))
    seconds = _median_seconds(lambda: _read_all(lambda: reader(path)), repeats)
    figures[f"read_{key}_mev_s"] = count / seconds / 1e6
    lazy = partial(reader, path, in_memory_max_events=0)
    figures[f"read_{key}_lazy_mev_s"] = count / _median_seconds(lambda: _read_all(lazy), repeats) / 1e6
    in_memory, on_disk = reader(path), lazy()
    figures[f"seek_{key}_ms"] = _median_seconds(lambda: _seek_middle(in_memory), repeats) * 1e3
    figures[f"seek_{key}_lazy_ms"] = _median_seconds(lambda: _seek_middle(on_disk), repeats) * 1e3
    return figures


def collect(quick: bool = False) -> dict[str, float]:
    """Mev/s and ms figures for each shared recording format found."""
    repeats = 1 if quick else 5
    figures: dict[str, float] = {}
    for key, name, reader in (
        ("aedat4", "davis346.aedat4", AedatFileSource),
        ("raw_evt3", "evt3.raw", FaeryFileSource),
        ("es", "dvs.es", FaeryFileSource),
    ):
        path = RECORDINGS / name
        if path.is_file():
            figures.update(_recording_figures(key, path, reader, repeats))
    samples = sorted(NMNIST.glob("Train/*/*.bin"))[: 100 if quick else None]
    if samples:
        count = sum(_read_all(lambda p=p: NmnistFileSource(p)) for p in samples)
        seconds = _median_seconds(lambda: [_read_all(lambda p=p: NmnistFileSource(p)) for p in samples], repeats)
        figures["read_nmnist_mev_s"] = count / seconds / 1e6
    return figures


if __name__ == "__main__":
    for name, value in collect(quick="--quick" in sys.argv).items():
        print(f"{name:28s} {value:10.2f}")
