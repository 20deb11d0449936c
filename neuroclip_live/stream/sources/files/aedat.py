"""iniVation ``.aedat4`` recordings: events, plus the APS frames kept for display.

dv-processing (``dv.io.MonoCameraRecording``) reads big files lazily and
seeks in them through the file's packet table (``getEventsTimeRange``). It is
not the first reader of a file, though: measured with dv-processing 2.0.4, a
few damaged bytes in a compressed packet make it hang inside
``getNextEventBatch`` / ``getEventsTimeRange`` while holding the GIL (4 of 10
single-corruption trials: the whole app freezes), or silently drop the
packet, and it refuses a truncated file outright. faery's AEDAT4 decoder
checks every LZ4/zstd checksum, raises for a bad packet and goes on with the
next one, so every decode goes through faery, packet by packet: a damaged
packet is skipped and counted, the rest replays. Before faery sees a file,
its header and packet chain are checked (``aedat_repair``): damaged packet
headers, a cut or a garbage tail are stepped over by decoding a copy of the
plausible packets. Small files are scanned and kept on open; big ones stream
(decoded once, as they play; the time range comes from the packet table,
trusted only when it names exactly the packets found), and dv serves their
seeks only once a whole faery pass found no damage and the table's times.
IMU and trigger streams are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, nullcontext
from pathlib import Path

import dv_processing as dv
import faery
import numpy as np

from neuroclip_live.errors import SourceError
from neuroclip_live.events import SensorSize
from neuroclip_live.stream.sources.base import ApsFrame
from neuroclip_live.stream.sources.files.dv_interop import from_dv_store
from neuroclip_live.stream.sources.files.faery_files import size_mismatch
from neuroclip_live.stream.sources.files.recording_scan import (
    IN_MEMORY_MAX_EVENTS,
    RecordingScan,
    ScannedFileSource,
    events_from_faery,
    skip_before,
)
from neuroclip_live.stream.sources.repair.aedat_held_time import (
    before_next,
    held_after,
    is_held,
    resumed_copy,
)
from neuroclip_live.stream.sources.repair.aedat_repair import CheckedAedat
from neuroclip_live.stream.sources.repair.damage import (
    MAX_SENSOR,
    check_size,
    reason_of,
)
from neuroclip_live.stream.sources.repair.file_checks import require_readable_file
from neuroclip_live.stream.sources.repair.panics import (
    contained_panics,
    is_library_error,
)

# APS frames kept in memory: 256 MB is about 2,900 DAVIS346 frames (2 minutes at 25 fps).
APS_BUDGET_BYTES = 256 * 1024 * 1024

# dv reads of a big file ask for about this many events at a time.
_DV_READ_EVENTS = 50_000


def aps_to_gray(pixels: np.ndarray, pixel_format: str) -> np.ndarray:
    """An APS frame as H x W uint8 gray, whatever the camera stored (L, I;16, RGB, RGBA)."""
    if pixel_format == "I;16":
        return (pixels >> 8).astype(np.uint8)
    if pixels.ndim == 3:
        # ITU-R BT.601 luma, the weights OpenCV's cvtColor uses.
        rgb = pixels[..., :3].astype(np.float32)
        return np.clip(rgb @ np.array([0.299, 0.587, 0.114], np.float32) + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(pixels, dtype=np.uint8)


# Consecutive packets refused before the decoder is taken to be lost (garbage to the end).
_MAX_BAD_IN_A_ROW = 64
# Fresh decoders started past damage that held time, per pass (each copies the rest of the file).
_MAX_RESUMES = 16


class AedatFileSource(ScannedFileSource):
    """An ``.aedat4`` recording (DAVIS, DVXplorer, DVS128); APS frames in ``aps_frames``."""

    def __init__(
        self,
        path: str | os.PathLike,
        in_memory_max_events: int = IN_MEMORY_MAX_EVENTS,
        aps_budget_bytes: int = APS_BUDGET_BYTES,
        sensor: SensorSize | None = None,
    ) -> None:
        self.path = require_readable_file(path)
        self._file = CheckedAedat(self.path)  # header and packets checked before faery sees a byte
        self._frames: list[ApsFrame] = []
        self._aps_budget = aps_budget_bytes
        self._recording: dv.io.MonoCameraRecording | None = None
        track = self._event_track()
        self._notes: list[str] = list(self._file.notes)
        self._track_id = track.id
        self._size = check_size(self.name, SensorSize(*track.dimensions))
        self._user_size = sensor is not None
        if sensor is not None:
            self._size = check_size(self.name, sensor, "--sensor gives")
        table_range = self._table_range() if self._streams(in_memory_max_events) else None
        if table_range is not None:
            self._start_streaming(table_range)
            return
        self._scan = self._scan_file(RecordingScan(self._size, in_memory_max_events))
        summary = self._scan.summary(self.name)
        if summary is not None:
            self._notes.append(summary)
        self._events = self._scan.kept_events
        if self._events is None and summary is None:
            self._recording = self._dv_if_sound(self._scan.time_range)

    # -- opening -------------------------------------------------------------------------------

    def _start_streaming(self, time_range: tuple[int, int]) -> None:
        """Stream a big file: no pass on open; the time range from the packet table (read, not decoded).

        Every read decodes with faery (checksums checked, damaged packets skipped); the
        first whole pass fills the scan, and once one found no damage and the table's
        times, dv-processing's indexed reads serve seeks.
        """
        self._streamed_range = time_range
        self._scan = RecordingScan(self._size, keep_max_events=0)
        self._events = None

    def _decoder(self) -> faery.aedat.Decoder:
        return self._file.decoder()

    def _table_range(self) -> tuple[int, int] | None:
        """The event time range the packet table gives, when it names exactly the packets found (else None)."""
        with self._decoder() as decoder:
            return self._file.table_time_range(decoder, self._track_id)

    def _event_track(self) -> faery.aedat.Track:
        with self._decoder() as decoder:
            tracks = decoder.tracks()
        for track in tracks:
            if track.data_type == "events":
                return track
        kinds = ", ".join(t.data_type for t in tracks) or "none"
        raise SourceError(f"{self.name}: holds no event stream (its streams: {kinds}); record with events enabled")

    def _scan_file(self, scan: RecordingScan) -> RecordingScan:
        with self._decoder() as decoder, contained_panics():
            for _ in scan.feed(self._faery_events(decoder, scan, keep_frames=True, guard_each=False)):
                pass
        scan.damaged_packets += self._file.gaps
        name = self.name
        mismatch = size_mismatch(name, self._size, scan) if not self._user_size else None
        if mismatch is not None:
            raise mismatch
        if scan.count == 0:
            reason = f" ({scan.first_error})" if scan.first_error else ""
            raise SourceError(f"{name}: the recording holds no events{reason}")
        return scan

    def _faery_events(
        self, decoder: faery.aedat.Decoder, scan: RecordingScan, keep_frames: bool = False, guard_each: bool = True
    ) -> Iterator[np.ndarray]:
        """The event packets, each held back until the next shows whether faery held time after it."""
        with ExitStack() as resumed:
            path, items = self._file.path, self._packets(decoder, scan, keep_frames, guard_each)
            pending, before_t, resumes = None, -1, 0
            while (item := next(items, None)) is not None:
                index, events = item
                if pending is not None and resumes < _MAX_RESUMES and held_after(before_t, pending, events):
                    resumes += 1
                    fresh = self._resume(resumed, path, index, scan, keep_frames, guard_each)
                    first = next(fresh[1], None) if fresh is not None else None
                    if first is not None and is_held(pending, first[1]):
                        # Damage in ``pending`` held time: keep what came before it, go on from the fresh decode.
                        scan.skip_packet("a damaged timestamp ran ahead of the rest of the file")
                        path, items, events = fresh[0], fresh[1], first[1]
                        pending = before_next(pending, events)
                if pending is not None and pending.shape[0]:
                    before_t = int(pending["t"][-1])
                    yield pending
                pending = events
            if pending is not None and pending.shape[0]:
                yield pending

    def _resume(
        self, stack: ExitStack, path: Path, index: int, scan: RecordingScan, keep_frames: bool, guard_each: bool
    ) -> tuple[Path, Iterator[tuple[int, np.ndarray]]] | None:
        """A fresh decoder's packets from ``path``'s ``index``-th packet on (its own copy of the file)."""
        copy = resumed_copy(path, index)
        if copy is None:
            return None
        stack.callback(copy.close)
        try:
            with contained_panics():
                decoder = stack.enter_context(faery.aedat.Decoder(copy.name))
        except BaseException as err:
            if not is_library_error(err):
                raise
            return None
        return Path(copy.name), self._packets(decoder, scan, keep_frames, guard_each)

    def _packets(
        self, decoder: faery.aedat.Decoder, scan: RecordingScan, keep_frames: bool, guard_each: bool
    ) -> Iterator[tuple[int, np.ndarray]]:
        """(index of the packet in the file, its events) for the event track; damaged packets skipped and counted."""
        packets = iter(decoder)
        bad_in_a_row = 0
        index = -1
        while bad_in_a_row < _MAX_BAD_IN_A_ROW:
            index += 1
            try:
                with contained_panics() if guard_each else nullcontext():
                    track, packet = next(packets)
            except StopIteration:
                return
            except BaseException as err:
                if not is_library_error(err):
                    raise
                # Every packet's size was checked (CheckedAedat): faery goes on at the next one.
                scan.skip_packet(reason_of(err))
                bad_in_a_row += 1
                continue
            bad_in_a_row = 0
            if track.id == self._track_id:
                if packet.shape[0]:
                    yield index, events_from_faery(packet)
            elif keep_frames and track.data_type == "frame":
                self._keep_frame(packet, track.dimensions)
        scan.stop(f"{_MAX_BAD_IN_A_ROW} damaged packets in a row")

    def _keep_frame(self, frame: faery.aedat.Frame, dimensions: tuple[int, int]) -> None:
        width, height = dimensions
        if not (0 < width <= MAX_SENSOR.width and 0 < height <= MAX_SENSOR.height):
            self._note_once(f"{self.name}: its header claims {width}x{height} APS frames; they are not shown")
            return
        if (len(self._frames) + 1) * width * height > self._aps_budget:
            if self._aps_budget >= 0:
                self._notes.append(f"{self.name}: kept the first {len(self._frames)} APS frames (memory budget)")
                self._aps_budget = -1  # note once
            return
        image = aps_to_gray(frame.pixels, frame.format)
        if image.shape != (height, width):
            # A region-of-interest frame: place it on the full sensor (a damaged one may not fit).
            h, w = image.shape[:2]
            x, y = frame.offset_x, frame.offset_y
            if image.ndim != 2 or x < 0 or y < 0 or x + w > width or y + h > height:
                self._note_once(
                    f"{self.name}: skipped APS frames that do not fit its {width}x{height} sensor (damaged)"
                )
                return
            full = np.zeros((height, width), np.uint8)
            full[y : y + h, x : x + w] = image
            image = full
        # exposure_start_t is what dv-processing calls Frame.timestamp.
        self._frames.append(ApsFrame(int(frame.exposure_start_t), image))

    def _note_once(self, note: str) -> None:
        if note not in self._notes:
            self._notes.append(note)

    def _dv_if_sound(self, time_range: tuple[int, int]) -> dv.io.MonoCameraRecording | None:
        """dv-processing for seeks, only on a file whose packets and table proved sound (it can hang on damage)."""
        if self._file.repaired or self._table_range() != time_range:
            return None
        try:
            recording = dv.io.MonoCameraRecording(str(self.path))
        except RuntimeError:
            return None  # faery serves every read
        names = [n for n in recording.getStreamNames() if recording.isStreamOfEventType(n)]
        if not names:
            return None
        self._stream = names[0]
        return recording

    # -- FileSource ----------------------------------------------------------------------------

    @property
    def aps_frames(self) -> list[ApsFrame]:
        return self._frames

    def _read_from_disk(self, start_us: int | None) -> Iterator[np.ndarray]:
        if self._recording is not None:
            yield from self._dv_packets(self._recording, start_us)
            return
        # Streamed, or big and damaged: decode with faery, through the same checks as the scan.
        scan = RecordingScan(self._size, keep_max_events=0)
        whole = start_us is None and not self._passed
        if whole:
            self._frames = []  # APS frames arrive with the first whole pass (an abandoned one starts over)
        with self._decoder() as decoder:
            yield from skip_before(scan.feed(self._faery_events(decoder, scan, keep_frames=whole)), start_us)
        if whole and self._end_of_pass(scan):
            self._recording = self._dv_if_sound(scan.time_range)

    def _dv_packets(self, recording: dv.io.MonoCameraRecording, start_us: int | None) -> Iterator[np.ndarray]:
        # Stateless time-window reads (not the shared sequential cursor), so any
        # number of iterators and seeks can coexist. Windows start at packet
        # boundaries found by the scan and hold about _DV_READ_EVENTS events.
        firsts = self._scan.chunk_first_t
        step = max(1, _DV_READ_EVENTS * len(firsts) // max(self._scan.count, 1))
        bounds = np.unique(np.array([*firsts[::step], self._scan.time_range[1] + 1], dtype=np.int64))
        start = int(bounds[0]) if start_us is None else max(int(start_us), int(bounds[0]))
        i = max(int(np.searchsorted(bounds, start, side="right")) - 1, 0)
        lo = start
        for hi in bounds[i + 1 :]:
            events = from_dv_store(recording.getEventsTimeRange(lo, int(hi), self._stream))
            if events.shape[0]:
                yield events
            lo = int(hi)

    def close(self) -> None:
        self._recording = None
        self._file.close()
