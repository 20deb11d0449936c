"""iniVation ``.aedat4`` recordings: events, plus the APS frames kept for display.

dv-processing (``dv.io.MonoCameraRecording``) reads big files lazily and
seeks in them through the file's packet table (``getEventsTimeRange``). It is
not the first reader of a file, though: measured with dv-processing 2.0.4, a
few damaged bytes in a compressed packet make it hang inside
``getNextEventBatch`` / ``getEventsTimeRange`` while holding the GIL (4 of 10
single-corruption trials: the whole app freezes), or silently drop the
packet, and it refuses a truncated file outright. faery's AEDAT4 decoder
checks every LZ4 checksum and stops with an error instead, so the scan made on
open goes through faery (about 50 Mev/s, like dv's own read). dv then serves
only files faery read cleanly to the end. Damaged or truncated files replay
what faery could read, with a note. IMU and trigger streams are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import dv_processing as dv
import faery
import numpy as np

from neuroclip_live.errors import SourceError
from neuroclip_live.events import SensorSize
from neuroclip_live.stream.sources.base import ApsFrame
from neuroclip_live.stream.sources.dv_interop import dv_error_reason, from_dv_store
from neuroclip_live.stream.sources.faery_files import damage_note, is_library_error, scan_until_damage, size_mismatch
from neuroclip_live.stream.sources.file_checks import require_readable_file
from neuroclip_live.stream.sources.recording_scan import (
    IN_MEMORY_MAX_EVENTS,
    RecordingScan,
    ScannedFileSource,
    events_from_fields,
    skip_before,
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


class AedatFileSource(ScannedFileSource):
    """An ``.aedat4`` recording (DAVIS, DVXplorer, DVS128); APS frames in ``aps_frames``."""

    def __init__(
        self,
        path: str | os.PathLike,
        in_memory_max_events: int = IN_MEMORY_MAX_EVENTS,
        aps_budget_bytes: int = APS_BUDGET_BYTES,
    ) -> None:
        self.path = require_readable_file(path)
        self._notes: list[str] = []
        self._frames: list[ApsFrame] = []
        self._aps_budget = aps_budget_bytes
        self._recording: dv.io.MonoCameraRecording | None = None
        track = self._event_track()
        self._track_id = track.id
        self._size = SensorSize(*track.dimensions)
        self._scan = self._scan_file(RecordingScan(in_memory_max_events))
        self._events = self._scan.kept_events
        if self._events is None and self._scan.damage is None:
            self._recording = self._open_dv()

    # -- opening -------------------------------------------------------------------------------

    def _decoder(self) -> faery.aedat.Decoder:
        try:
            return faery.aedat.Decoder(self.path)
        except BaseException as err:
            if not is_library_error(err):
                raise
            raise SourceError(f"{self.name}: not a readable AEDAT4 file ({str(err).splitlines()[0]})") from None

    def _event_track(self) -> faery.aedat.Track:
        with self._decoder() as decoder:
            tracks = decoder.tracks()
        for track in tracks:
            if track.data_type == "events":
                return track
        kinds = ", ".join(t.data_type for t in tracks) or "none"
        raise SourceError(f"{self.name}: holds no event stream (its streams: {kinds}); record with events enabled")

    def _scan_file(self, scan: RecordingScan) -> RecordingScan:
        with self._decoder() as decoder:
            scan_until_damage(scan, self._faery_events(decoder, keep_frames=True))
        name = self.name
        mismatch = size_mismatch(name, self._size, scan)
        if mismatch is not None:
            raise mismatch
        if scan.count == 0:
            reason = f" ({scan.damage})" if scan.damage else ""
            raise SourceError(f"{name}: the recording holds no events{reason}")
        if scan.damage is not None:
            self._notes.append(damage_note(name, scan))
        return scan

    def _faery_events(self, decoder: faery.aedat.Decoder, keep_frames: bool = False) -> Iterator[np.ndarray]:
        for track, packet in decoder:
            if track.id == self._track_id:
                if packet.shape[0]:
                    yield events_from_fields(packet["t"], packet["x"], packet["y"], packet["on"])
            elif keep_frames and track.data_type == "frame":
                self._keep_frame(packet, track.dimensions)

    def _keep_frame(self, frame: faery.aedat.Frame, dimensions: tuple[int, int]) -> None:
        image = aps_to_gray(frame.pixels, frame.format)
        if image.shape != (dimensions[1], dimensions[0]):
            # A region-of-interest frame: place it on the full sensor.
            full = np.zeros((dimensions[1], dimensions[0]), np.uint8)
            h, w = image.shape
            full[frame.offset_y : frame.offset_y + h, frame.offset_x : frame.offset_x + w] = image
            image = full
        if (len(self._frames) + 1) * image.nbytes > self._aps_budget:
            if len(self._frames) * image.nbytes <= self._aps_budget:
                self._notes.append(f"{self.name}: kept the first {len(self._frames)} APS frames (memory budget)")
                self._aps_budget = -1  # note once
            return
        # exposure_start_t is what dv-processing calls Frame.timestamp.
        self._frames.append(ApsFrame(int(frame.exposure_start_t), image))

    def _open_dv(self) -> dv.io.MonoCameraRecording:
        try:
            recording = dv.io.MonoCameraRecording(str(self.path))
        except RuntimeError as err:
            raise SourceError(f"{self.name}: dv-processing cannot open it ({dv_error_reason(err)})") from None
        names = [n for n in recording.getStreamNames() if recording.isStreamOfEventType(n)]
        if not names:
            raise SourceError(f"{self.name}: dv-processing finds no event stream in it")
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
        # Big and damaged: decode again with faery (it stops cleanly where the scan stopped).
        with self._decoder() as decoder:
            try:
                yield from skip_before(self._faery_events(decoder), start_us)
            except BaseException as err:
                if not is_library_error(err):
                    raise

    def _dv_packets(self, recording: dv.io.MonoCameraRecording, start_us: int | None) -> Iterator[np.ndarray]:
        # Stateless time-window reads (not the shared sequential cursor), so any
        # number of iterators and seeks can coexist. Windows start at packet
        # boundaries found by the scan and hold about _DV_READ_EVENTS events.
        firsts = self._scan.chunk_first_t
        step = max(1, _DV_READ_EVENTS * len(firsts) // max(self._scan.count, 1))
        bounds = np.unique(np.array(firsts[::step] + [self._scan.last_t + 1], dtype=np.int64))
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
