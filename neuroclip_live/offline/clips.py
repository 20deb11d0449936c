"""Labelled time ranges of a recording cut into few-shot examples (``neuroclip-live clips``).

A segments file is a CSV with the header ``label,start_s,end_s`` (seconds
from the recording's start, as the window's playback counts). Each range is
cut into windows of T timesteps of the cut rule, one example each: every
``stride`` when given (overlapping examples), else one after the other. A
window must lie inside its range; windows without events are skipped.

Bad rows, ranges outside the recording and ranges without events are
reported one line each and left out; a header with an unknown or missing
column is an error (``DataError``).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuroclip_live.errors import DataError
from neuroclip_live.events import concatenate
from neuroclip_live.offline.examples import ExampleSet, clean_class_name
from neuroclip_live.stream.framing import TimestepRule
from neuroclip_live.stream.sources import SourceSpec, open_source

COLUMNS = ("label", "start_s", "end_s")


@dataclass(frozen=True)
class Segment:
    """One labelled range of a segments file, in seconds from the recording's start, and its line number."""

    label: str
    start_s: float
    end_s: float
    line: int

    def where(self) -> str:
        return f"line {self.line} ({self.label}, {self.start_s:g}-{self.end_s:g} s)"


@dataclass
class ClipsResult:
    """The examples cut, one line per row or range left out, and how many windows each row gave."""

    examples: ExampleSet
    problems: list[str] = field(default_factory=list)
    windows_per_row: dict[int, int] = field(default_factory=dict)


def read_segments(path: str | Path) -> tuple[list[Segment], list[str]]:
    """The rows of a segments CSV and one line for each bad row; an unreadable file or a bad header is a DataError."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        reason = getattr(err, "strerror", None) or str(err).splitlines()[0]
        raise DataError(f"cannot read segments file {path}: {reason}") from None
    rows = [(i, r) for i, r in enumerate(rows, start=1) if any(cell.strip() for cell in r)]
    if not rows:
        raise DataError(f"segments file {path} is empty (expected the header {','.join(COLUMNS)} and rows)")
    header = [cell.strip().lower() for cell in rows[0][1]]
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise DataError(f"segments file {path}: unknown column '{unknown[0]}' (the columns are {','.join(COLUMNS)})")
    missing = [c for c in COLUMNS if c not in header]
    if missing or len(set(header)) != len(header):
        what = f"no '{missing[0]}' column" if missing else "a column twice"
        raise DataError(f"segments file {path}: {what} (the header must be {','.join(COLUMNS)})")
    segments, problems = [], []
    for line, row in rows[1:]:
        try:
            segments.append(_segment(dict(zip(header, row, strict=False)), len(row), len(header), line))
        except ValueError as err:
            problems.append(f"line {line}: {err}; left out")
    return segments, problems


def _segment(cells: dict[str, str], n_cells: int, n_columns: int, line: int) -> Segment:
    if n_cells != n_columns:
        raise ValueError(f"{n_cells} fields, expected {n_columns}")
    try:
        label = clean_class_name(cells["label"])
    except DataError:
        raise ValueError("the label is empty") from None
    times = []
    for column in ("start_s", "end_s"):
        try:
            value = float(cells[column])
        except ValueError:
            raise ValueError(f"{column} {cells[column].strip()[:20]!r} is not a number of seconds") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{column} {cells[column].strip()[:20]} is not a time in the recording")
        times.append(value)
    if times[1] <= times[0]:
        raise ValueError(f"the range {times[0]:g}-{times[1]:g} s ends before it starts")
    return Segment(label, times[0], times[1], line)


def window_starts(
    events: np.ndarray, start_us: int, end_us: int, rule: TimestepRule, T: int, stride_us: int | None
) -> Iterator[tuple[int, int]]:
    """(first, last + 1) event indices of each example window inside [start_us, end_us) of time-sorted ``events``."""
    t = events["t"]
    at = start_us
    while at < end_us:
        first = int(np.searchsorted(t, at, side="left"))
        if rule.mode == "time":
            stop_us = at + T * rule.size
            if stop_us > end_us:
                return
            last = int(np.searchsorted(t, stop_us, side="left"))
            nxt = at + (stride_us or T * rule.size)
        else:
            last = first + T * rule.size
            if last > len(t) or t[last - 1] >= end_us:
                return
            nxt = at + stride_us if stride_us else int(t[last - 1]) + 1
        yield first, last
        at = nxt


def cut_recording(
    path: str | Path, segments: list[Segment], rule: TimestepRule, T: int, stride_us: int | None = None
) -> ClipsResult:
    """Cut each segment of the recording at ``path`` into example windows (see the module's docstring)."""
    if stride_us is not None and stride_us <= 0:
        raise DataError("the stride must be a positive time")
    with open_source(SourceSpec("file", str(path))) as src:
        if src.is_live or not hasattr(src, "time_range"):
            raise DataError(f"{path}: clips are cut from a recording")
        src.wait_for_time_range()  # type: ignore[attr-defined]
        t0, t_last = src.time_range  # type: ignore[attr-defined]
        result = ClipsResult(ExampleSet(src.size))
        duration_s = (t_last - t0 + 1) / 1e6
        for seg in segments:
            start_us = t0 + round(seg.start_s * 1e6)
            end_us = t0 + round(seg.end_s * 1e6)
            if seg.start_s >= duration_s:
                result.problems.append(f"{seg.where()}: outside the recording (0-{duration_s:.3f} s); left out")
                continue
            if seg.end_s - duration_s >= 0.0005:  # past the end as the duration is shown (ms)
                result.problems.append(f"{seg.where()}: ends after the recording ({duration_s:.3f} s); cut there")
            end_us = min(end_us, t_last + 1)
            events = _events_between(src, start_us, end_us)
            _cut_segment(result, seg, events, start_us, end_us, rule, T, stride_us)
    return result


def _events_between(src, start_us: int, end_us: int) -> np.ndarray:
    """Events with start_us <= t < end_us, read from ``start_us`` on (a recording seeks there)."""
    chunks = []
    for packet in src.packets_from(start_us):
        if packet.shape[0] == 0:
            continue
        chunks.append(packet[packet["t"] < end_us])
        if packet["t"][-1] >= end_us:
            break
    events = concatenate(chunks)
    return events[events["t"] >= start_us]


def _cut_segment(
    result: ClipsResult,
    seg: Segment,
    events: np.ndarray,
    start_us: int,
    end_us: int,
    rule: TimestepRule,
    T: int,
    stride_us: int | None,
) -> None:
    if events.shape[0] == 0:
        result.problems.append(f"{seg.where()}: no events in this range; left out")
        return
    windows = [(a, b) for a, b in window_starts(events, start_us, end_us, rule, T, stride_us) if b > a]
    if not windows:
        size = f"{T * rule.size / 1e6:g} s" if rule.mode == "time" else f"{T * rule.size} events"
        result.problems.append(f"{seg.where()}: shorter than one example ({T} timesteps, {size}); left out")
        return
    for a, b in windows:
        result.examples.add(seg.label, events[a:b].copy())
    result.windows_per_row[seg.line] = len(windows)
