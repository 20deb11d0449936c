"""CSV event rows read by hand, for files faery's CSV decoder refuses.

faery stops for good at the first row it cannot parse, so one damaged row
would lose the rest of the file. Here a row that does not parse (a garbled
digit, NUL bytes from a zeroed block, a line cut short) is skipped and
counted, and the rows after it are read. Plain Python: slower than faery
(about 1 Mev/s), so it only runs once faery has refused a file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from neuroclip_live.events import EVENT_DTYPE

_ROWS_PER_CHUNK = 100_000
_TRUE = {b"1", b"true", b"on", b"+1"}
_FALSE = {b"0", b"false", b"off", b"-1"}


class CsvRows:
    """The events of a CSV file, row by row; ``bad`` counts the rows skipped."""

    def __init__(self, path: Path, columns: tuple[int, int, int, int], has_header: bool) -> None:
        self.path = path
        self.columns = columns
        self.has_header = has_header
        self.bad = 0
        self.cut_short = False  # the last row ends without a newline and does not parse

    def chunks(self) -> Iterator[np.ndarray]:
        """EVENT_DTYPE chunks of the rows that parse (not yet checked for order or bounds)."""
        ti, xi, yi, pi = self.columns
        rows: list[tuple[int, int, int, int]] = []
        with self.path.open("rb") as f:
            if self.has_header:
                f.readline()
            for line in f:
                cells = line.rstrip(b"\r\n").split(b",")
                try:
                    flag = cells[pi].strip().lower()
                    if flag not in _TRUE and flag not in _FALSE:
                        raise ValueError(flag)
                    t = int(cells[ti])
                    if not 0 <= t < 1 << 62:
                        raise ValueError(t)
                    rows.append((t, int(cells[xi]), int(cells[yi]), flag in _TRUE))
                except (IndexError, ValueError):
                    if not line.endswith(b"\n"):
                        self.cut_short = True  # the last line, cut off: not counted as damage
                    else:
                        self.bad += bool(line.strip())  # blank lines are not damage
                    continue
                if len(rows) == _ROWS_PER_CHUNK:
                    yield _events(rows)
                    rows = []
        if rows:
            yield _events(rows)


def _events(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    table = np.array([(t, min(max(x, -1), 0xFFFF), min(max(y, -1), 0xFFFF), p) for t, x, y, p in rows], dtype=np.int64)
    table[:, 1:3][table[:, 1:3] < 0] = 0xFFFF  # beyond any sensor: dropped and counted by the checks
    events = np.empty(table.shape[0], EVENT_DTYPE)
    events["t"], events["x"], events["y"], events["p"] = table[:, 0], table[:, 1], table[:, 2], table[:, 3]
    return events
