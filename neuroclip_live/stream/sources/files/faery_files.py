"""Recordings faery decodes: Prophesee ``.raw`` (EVT 2.0, EVT 3.0), ``.csv``, and ``.dat`` / ``.es`` when asked.

(``open_file`` sends ``.dat`` to ``dat_files`` and DVS ``.es`` to ``es_files``,
which step over damage faery stops at.) Every chunk passes ``event_checks``.

faery decodes in Rust, in chunks of about 10k events with fields ``t, x, y,
on``, converted here to ``EVENT_DTYPE``. It cannot seek, so a seek into a big
file re-opens it and skips chunks (decoding them); small files are kept in
memory after the scan made on open (see ``recording_scan``).

What faery leaves to us:
- EVT 2.1: faery 0.7.1 has no decoder for it (a Rust ``todo!()`` that panics),
  so such files are refused with a message before faery sees them.
- A ``.raw``/``.dat`` header without a sensor size: faery silently assumes
  1280x720 and then fails on any event beyond it. We ask for a sentinel size
  instead, notice it, and use the smallest Prophesee sensor that holds the
  events (events beyond the largest are dropped), saying so in ``notes``.
- CSV: faery takes the size only from its caller; we read it from a
  ``t,x@W,y@H,on`` header (what faery writes) and map the columns by name.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import faery
import numpy as np

from neuroclip_live.errors import SourceError
from neuroclip_live.events import SensorSize
from neuroclip_live.stream.formats import FAERY_EXTENSIONS
from neuroclip_live.stream.sources.files.csv_rows import CsvRows, csv_layout
from neuroclip_live.stream.sources.files.prophesee_raw import (
    Evt3TimeWords,
    evt2_last_time,
    prophesee_layout,
)
from neuroclip_live.stream.sources.files.recording_scan import (
    IN_MEMORY_MAX_EVENTS,
    RecordingScan,
    ScannedFileSource,
    events_from_faery,
    skip_before,
)
from neuroclip_live.stream.sources.repair.damage import (
    MAX_SENSOR,
    PROPHESEE_SENSORS,
    check_size,
    implied_size,
    reason_of,
)
from neuroclip_live.stream.sources.repair.event_checks import JUMPS, OUTSIDE
from neuroclip_live.stream.sources.repair.evt_time_repair import (
    damaged_time_words,
    repaired_time_copy,
)
from neuroclip_live.stream.sources.repair.file_checks import require_readable_file
from neuroclip_live.stream.sources.repair.panics import (
    contained_panics,
    guarded,
    is_library_error,
)

_KIND = {".raw": "Prophesee EVT", ".dat": "Prophesee DAT", ".es": "Event Stream", ".csv": "CSV event"}
# Named for faery, which otherwise guesses by magic bytes, then by a case-sensitive extension.
_FAERY_TYPE = {".raw": "evt", ".dat": "dat", ".es": "es", ".csv": "csv"}

# Passed as faery's dimensions_fallback: getting it back means the header gave no size.
# EVT and DAT coordinates are below this, so faery's bounds check never fires with it.
_SIZE_UNKNOWN = (65535, 65535)

_EVT_VERSIONS = ("2", "2.0", "3", "3.0")

_OVERFLOW = re.compile(r"\b([xy]) overflow \([xy]=(\d+)")


def faery_chunks(stream) -> Iterator[np.ndarray]:
    """A faery stream's chunks as EVENT_DTYPE views (empty chunks dropped)."""
    for chunk in stream:
        if chunk.shape[0]:
            yield events_from_faery(chunk)


def checked(scan: RecordingScan, chunks: Iterator[np.ndarray], guard_each: bool = True) -> Iterator[np.ndarray]:
    """``scan.feed(chunks)``; a decoding error ends the stream and is recorded in ``scan``, not raised.

    ``guard_each``: keep panic text off stderr around every step (a lazy read, interleaved with
    the consumer's work); without it the caller guards the whole pass.
    """
    try:
        yield from scan.feed(guarded(chunks) if guard_each else chunks)
    except BaseException as err:
        if not is_library_error(err):
            raise
        scan.stop(reason_of(err))


def scan_until_damage(scan: RecordingScan, chunks: Iterator[np.ndarray]) -> RecordingScan:
    """Read ``chunks`` through ``scan`` to the end or to the first decoding error (one pass on open)."""
    with contained_panics():
        for _ in checked(scan, chunks, guard_each=False):
            pass
    return scan


def size_mismatch(name: str, declared: SensorSize, scan: RecordingScan) -> SourceError | None:
    """The error for a file whose events lie outside the size it declares (rather than a few damaged ones).

    Either the decoder stopped at its very first events (faery checks bounds
    itself) or more events lie outside than inside.
    """
    overflow = _OVERFLOW.search(scan.first_error or "")
    if overflow is not None and scan.count == 0:
        axis, value = overflow.groups()
    elif scan.first_outside is not None and scan.stats[OUTSIDE] > scan.count:
        x, y = scan.first_outside
        axis, value = ("x", x) if x >= declared.width else ("y", y)
    else:
        return None
    return SourceError(
        f"{name}: the file claims {declared} but events reach {axis}={value}; "
        "it was written with the wrong sensor size or is damaged (give the real size with --sensor WxH)"
    )


class FaeryFileSource(ScannedFileSource):
    """A ``.raw`` (EVT 2.0/3.0), ``.dat``, ``.es`` or ``.csv`` recording read through faery."""

    def __init__(
        self,
        path: str | os.PathLike,
        in_memory_max_events: int = IN_MEMORY_MAX_EVENTS,
        sensor: SensorSize | None = None,
    ) -> None:
        self.path = require_readable_file(path)
        self.suffix = self.path.suffix.lower()
        if self.suffix not in FAERY_EXTENSIONS:
            raise SourceError(f"{self.path.name}: faery reads {', '.join(FAERY_EXTENSIONS)} files, not {self.suffix!r}")
        self._notes: list[str] = []
        self._options: dict = {"file_type": _FAERY_TYPE[self.suffix]}
        self._decode_path = self.path
        self._copy: tempfile._TemporaryFileWrapper | None = None
        self._layout: tuple[int, str | None] = (0, None)
        self._time_words: Evt3TimeWords | None = None
        declared = self._prepare()
        stream = self._open()
        if declared is None and stream.dimensions() != _SIZE_UNKNOWN:
            declared = SensorSize(*stream.dimensions())
        if declared is not None:
            check_size(self.path.name, declared)
        if sensor is not None:
            declared = check_size(self.path.name, sensor, "--sensor gives")
        self._bounds = declared or (PROPHESEE_SENSORS[-1] if self.suffix in (".raw", ".dat") else MAX_SENSOR)
        self._csv_rows: CsvRows | None = None
        if declared is not None and self._streams(in_memory_max_events) and self._start_streaming(stream, declared):
            return
        scan = scan_until_damage(RecordingScan(self._bounds, in_memory_max_events), faery_chunks(stream))
        if scan.first_error is not None and self.suffix == ".csv":
            scan = self._rescan_csv_by_hand(scan, in_memory_max_events)
        elif scan.count and self.suffix == ".raw" and _OVERFLOW.search(scan.first_error or ""):
            scan = self._rescan_without_bounds(in_memory_max_events)
        if scan.stats[JUMPS] and self._layout[1] in _EVT_VERSIONS:
            scan = self._repair_time_words(scan, in_memory_max_events)
        self._check_scan(scan, declared if sensor is None else None)
        self._scan = scan
        self._size = declared if declared is not None else self._implied(scan.extent)
        self._events = scan.kept_events
        if declared is None:
            self._notes.append(
                f"{self.name}: the file does not say its sensor size; using {self._size}, "
                f"{'the smallest Prophesee sensor that holds' if self.suffix in ('.raw', '.dat') else 'the extent of'} "
                "its events (give it with --sensor WxH)"
            )

    def _start_streaming(self, stream: faery.FiniteEventsStream, size: SensorSize) -> bool:
        """Stream a big EVT file: its first time from the first chunk, its last from the time words.

        EVT 2.0 gives its last time in its tail; EVT 3.0 needs a pass over its time words, which runs
        in the background while the file plays (the range grows until it ends).
        """
        header, version = self._layout
        if version not in _EVT_VERSIONS:
            return False  # other layouts are scanned
        try:
            with contained_panics():
                first = next(faery_chunks(stream), None)
        except BaseException as err:
            if not is_library_error(err):
                raise
            return False
        if first is None:
            return False
        first_t, first_last = int(first["t"][0]), int(first["t"][-1])
        if version.startswith("2"):
            last = evt2_last_time(self.path, header)
            if last is None:
                return False
            self._streamed_range = (first_t, max(last, first_last))
        else:
            self._streamed_range = (first_t, first_last)

            def grow(reached: int) -> None:
                self._streamed_range = (first_t, max(reached, first_last))

            self._time_words = Evt3TimeWords(self.path, header, grow)
            self._time_words.start()
        self._scan = RecordingScan(self._bounds, keep_max_events=0)
        self._size = size
        self._events = None
        return True

    @property
    def time_range_complete(self) -> bool:
        """False while the background pass over a big EVT 3.0 file's time words still runs."""
        return self._time_words is None or self._time_words.done.is_set() or self._passed

    def wait_for_time_range(self, timeout: float | None = None) -> bool:
        if self._time_words is not None:
            self._time_words.done.wait(timeout)
        return self.time_range_complete

    def _rescan_csv_by_hand(self, refused: RecordingScan, in_memory_max_events: int) -> RecordingScan:
        """faery stopped at a row: read every row that parses instead (see ``csv_rows``)."""
        props = self._options["csv_properties"]
        rows = CsvRows(self.path, (props.t_index, props.x_index, props.y_index, props.on_index), props.has_header)
        scan = RecordingScan(self._bounds, in_memory_max_events)
        for _ in scan.feed(rows.chunks()):
            pass
        if scan.count == 0:
            return refused  # nothing parses: faery's reason is the one to give
        scan.damaged_packets = scan.lost_events = rows.bad
        scan.damage_unit = "row"
        self._csv_rows = rows
        if rows.cut_short:
            self._notes.append(
                f"{self.name}: its last row is cut short, so the file is truncated or damaged; replaying the whole rows"
            )
        return scan

    def _rescan_without_bounds(self, in_memory_max_events: int) -> RecordingScan:
        """faery stopped for good at one damaged coordinate: decode a copy whose header gives no size.

        faery then checks no bounds; ``event_checks`` drops the damaged events against
        the size the original header gave, and reading goes on.
        """
        # Held open while faery decodes it; closing the source closes (and so deletes) it.
        self._copy = tempfile.NamedTemporaryFile(prefix="neuroclip-", suffix=".raw")  # noqa: SIM115 - held, see above
        with self.path.open("rb") as f:
            while (line := f.readline(1024)).startswith(b"%"):
                if not line.lower().startswith(b"% geometry"):
                    self._copy.write(re.sub(rb";(height|width)=\d+", b"", line))
            self._copy.write(line)
            shutil.copyfileobj(f, self._copy, 1 << 20)
        self._copy.flush()
        self._decode_path = Path(self._copy.name)
        self._options["dimensions_fallback"] = _SIZE_UNKNOWN
        return scan_until_damage(RecordingScan(self._bounds, in_memory_max_events), faery_chunks(self._open()))

    def _repair_time_words(self, scan: RecordingScan, in_memory_max_events: int) -> RecordingScan:
        """Time jumped ahead and stayed there: decode a copy without the damaged time words, if any.

        The words are found and replaced by ``evt_time_repair``.
        """
        data_start = prophesee_layout(self._decode_path, ".raw")[0]
        offsets, words = damaged_time_words(self._decode_path, data_start, self._layout[1] or "3")
        if not offsets.size:
            return scan  # a real pause in the recording
        copy = repaired_time_copy(self._decode_path, offsets, words)
        if self._copy is not None:
            self._copy.close()
        self._copy, self._decode_path = copy, Path(copy.name)
        n = offsets.size
        self._notes.append(f"{self.name}: corrected {n:,} damaged time word{'s' * (n > 1)} (time ran ahead after them)")
        return scan_until_damage(RecordingScan(self._bounds, in_memory_max_events), faery_chunks(self._open()))

    def _implied(self, extent: SensorSize) -> SensorSize:
        return implied_size(extent) if self.suffix in (".raw", ".dat") else extent

    # -- opening -------------------------------------------------------------------------------

    def _prepare(self) -> SensorSize | None:
        """Format checks faery does not make; fills the decoder options. Returns a size known so far."""
        if self.suffix == ".csv":
            return self._prepare_csv()
        if self.suffix in (".raw", ".dat"):
            self._options["dimensions_fallback"] = _SIZE_UNKNOWN
            header, version, trailing = prophesee_layout(self.path, self.suffix)
            self._layout = (header, version)
            if not header:
                # Without a header faery would guess EVT 3.0 and decode anything, garbage included.
                raise SourceError(
                    f"{self.path.name}: no Prophesee header (lines starting with '%'), so this is not a "
                    f"{_KIND[self.suffix]} recording or its start is missing"
                )
            if version == "2.1":
                raise SourceError(
                    f"{self.path.name}: EVT 2.1 .raw files cannot be read (faery 0.7.1 has no EVT 2.1 decoder); "
                    "convert it to EVT 3.0 or record in EVT 3.0"
                )
            if trailing:
                self._notes.append(
                    f"{self.path.name}: ends {trailing} byte{'s' * (trailing > 1)} into a record, so the recording "
                    "was cut short; "
                    "replaying the whole records before"
                )
        return None

    def _prepare_csv(self) -> SensorSize | None:
        props, declared = csv_layout(self.path)
        self._options["csv_properties"] = props
        self._options["dimensions_fallback"] = (declared.width, declared.height) if declared else _SIZE_UNKNOWN
        return declared

    def _open(self) -> faery.FiniteEventsStream:
        try:
            return faery.events_stream_from_file(self._decode_path, **self._options)
        except BaseException as err:
            if not is_library_error(err):
                raise
            raise SourceError(
                f"{self.path.name}: not a readable {_KIND[self.suffix]} file ({reason_of(err)})"
            ) from None

    def _check_scan(self, scan: RecordingScan, declared: SensorSize | None) -> None:
        name = self.path.name
        mismatch = size_mismatch(name, declared, scan) if declared is not None else None
        if mismatch is not None:
            raise mismatch
        if scan.count == 0:
            if scan.damage is not None:
                raise SourceError(f"{name}: not a readable {_KIND[self.suffix]} file ({scan.damage})")
            raise SourceError(f"{name}: the recording holds no events")
        summary = scan.summary(name)
        if summary is not None:
            self._notes.append(summary)

    # -- FileSource ----------------------------------------------------------------------------

    def close(self) -> None:
        if self._time_words is not None:
            self._time_words.stop()
        if self._copy is not None:
            self._copy.close()
            self._copy = None
            self._decode_path = self.path

    def _read_from_disk(self, start_us: int | None) -> Iterator[np.ndarray]:
        # Lazy: decode again from the start and skip (faery cannot seek), through the
        # same checks as the scan, so both give the same events; a damaged file stops
        # where the scan stopped (its note already says so).
        scan = RecordingScan(self._bounds, keep_max_events=0)
        if self._csv_rows is not None:
            yield from skip_before(scan.feed(self._csv_rows.chunks()), start_us)
            return
        whole = start_us is None and not self._passed
        yield from skip_before(checked(scan, faery_chunks(self._open())), start_us)
        if whole:
            self._end_of_pass(scan)  # streamed: a damaged file says so now, once
        elif scan.damage is not None and self._scan.damage is None and self._passed:
            raise SourceError(f"{self.name}: became unreadable during replay ({scan.damage}); was it modified?")
