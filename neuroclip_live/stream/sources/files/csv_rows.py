"""CSV event files: the header read here (columns, a declared size), and rows read by hand where faery stops.

faery takes the columns and the size only from its caller; they are read here from the
first line: a ``t,x@W,y@H,on`` header (what faery writes), columns named in any order, or
no header (faery's order t, x, y, on).

faery stops for good at the first row it cannot parse, so one damaged row
would lose the rest of the file. Here a row that does not parse (a garbled
digit, NUL bytes from a zeroed block, a line cut short) is skipped and
counted, and the rows after it are read. Plain Python: slower than faery
(about 1 Mev/s), so it only runs once faery has refused a file. Lines are
read at most ``MAX_LINE_BYTES`` at a time: a file with no line ends (random
bytes, a binary file named .csv) never becomes one huge line in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import faery
import numpy as np

from neuroclip_live.errors import SourceError
from neuroclip_live.events import EVENT_DTYPE, SensorSize

_ROWS_PER_CHUNK = 100_000
# A row of four numbers is under 100 bytes; longer lines are damage (read and dropped in pieces).
MAX_LINE_BYTES = 4096
_CSV_COLUMNS = {
    "t": ("t", "ts", "timestamp", "time"),
    "x": ("x",),
    "y": ("y",),
    "p": ("p", "on", "polarity", "pol"),
}
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
                _skip_line(f)
            while line := f.readline(MAX_LINE_BYTES):
                if len(line) == MAX_LINE_BYTES and not line.endswith(b"\n"):
                    self.bad += 1
                    _skip_line(f)
                    continue
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


def _skip_line(f) -> None:
    """Read on to the end of the current line, a piece at a time."""
    while (piece := f.readline(MAX_LINE_BYTES)) and not piece.endswith(b"\n"):
        pass


def csv_layout(path: Path) -> tuple[faery.CsvProperties, SensorSize | None]:
    """faery's CSV properties for ``path`` (columns from its header, if any) and the size the header declares."""
    with path.open("rb") as f:
        first_bytes = f.readline(MAX_LINE_BYTES)
    try:
        first = first_bytes.decode("utf-8-sig").strip()  # -sig: spreadsheet exports start with a BOM
    except UnicodeDecodeError:
        first = "\0"
    if not first or not first.isprintable():
        raise SourceError(f"{path.name}: not a CSV text file (its first line is not readable text)")
    cells = [c.strip() for c in first.split(",")]
    if _is_number(cells[0]):
        return _csv_properties(False, (0, 1, 2, 3)), None  # no header: faery's default column order t, x, y, on
    names = [c.split("@")[0].strip().lower() for c in cells]
    index = {}
    for key, accepted in _CSV_COLUMNS.items():
        found = [i for i, n in enumerate(names) if n in accepted]
        if not found:
            raise SourceError(
                f"{path.name}: the CSV header names the columns {', '.join(cells)}; "
                "expected t, x, y and p (or on / polarity)"
            )
        index[key] = found[0]
    props = _csv_properties(True, (index["t"], index["x"], index["y"], index["p"]))
    return props, _csv_declared_size(cells[index["x"]], cells[index["y"]])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_properties(has_header: bool, columns: tuple[int, int, int, int]) -> faery.CsvProperties:
    props = faery.CsvProperties.default()
    props.has_header = has_header
    props.t_index, props.x_index, props.y_index, props.on_index = columns
    return props


def _csv_declared_size(x_cell: str, y_cell: str) -> SensorSize | None:
    """The size in a ``x@W,y@H`` header (faery's CSV writer puts it there), if given."""
    try:
        return SensorSize(int(x_cell.split("@")[1]), int(y_cell.split("@")[1]))
    except (IndexError, ValueError):
        return None
