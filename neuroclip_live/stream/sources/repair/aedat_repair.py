"""An AEDAT 4 file made safe to hand to faery: header and packet chain checked first, a repaired copy if damaged.

faery reads a packet's size from the file and allocates it before reading (measured: a random tail
after a good start reached 4.1 GB of memory), and stops for good at a packet header it cannot read
(a zeroed block right after the header lost the whole recording). So before faery opens a file, its
header is parsed here (``aedat_header``) and its packet chain walked (``aedat_packets``): every
packet a known stream, a size that fits the file, its payload's marker in place. A file whose chain
is whole is decoded as it is; otherwise faery reads a temporary copy of the plausible packets,
with no packet table, and the damaged places are counted.

The packet table (where the packets are, and their times) is trusted only when faery's reading of
it names exactly the packets the walk found: then it gives a big file's time range without a pass.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import faery

from neuroclip_live.errors import SourceError
from neuroclip_live.stream.sources.repair.aedat_header import HeaderError
from neuroclip_live.stream.sources.repair.aedat_packets import repaired_copy, walk
from neuroclip_live.stream.sources.repair.damage import reason_of
from neuroclip_live.stream.sources.repair.panics import (
    contained_panics,
    is_library_error,
)

_PACKET_HEADER_BYTES = 8  # faery's byte offsets point at payloads, 8 bytes after each packet's start


class CheckedAedat:
    """The file faery decodes for an ``.aedat4``: the original when its packets are whole, else a repaired copy."""

    def __init__(self, path: Path) -> None:
        self.original = path
        self.path = path
        self.notes: list[str] = []
        self._copy: tempfile._TemporaryFileWrapper | None = None
        try:
            self.chain = walk(path)
        except HeaderError as err:
            raise SourceError(f"{path.name}: not a readable AEDAT4 file ({err})") from None
        self.gaps = self.chain.gaps
        if not self.chain.intact:
            self._repair()

    @property
    def repaired(self) -> bool:
        return self._copy is not None

    @property
    def streams(self) -> dict[int, str]:
        return self.chain.header.io.streams

    def decoder(self) -> faery.aedat.Decoder:
        """A faery decoder of the checked file (a one-line SourceError if faery still refuses it)."""
        try:
            with contained_panics():
                return faery.aedat.Decoder(self.path)
        except BaseException as err:
            if not is_library_error(err):
                raise
            if not self.repaired:
                # The packets are whole but faery refused the packet table after them: read without it.
                self._repair()
                return self.decoder()
            raise SourceError(f"{self.original.name}: not a readable AEDAT4 file ({reason_of(err)})") from None

    def _repair(self) -> None:
        chain = self.chain
        if not chain.runs:
            raise SourceError(f"{self.original.name}: not a readable AEDAT4 file (no whole packet after its header)")
        self._copy = repaired_copy(self.original, chain)
        self.path = Path(self._copy.name)
        name = self.original.name
        tail = chain.header.packets_end - chain.end
        if chain.gaps:
            what = f"{chain.gaps:,} damaged place{'s' * (chain.gaps > 1)} ({chain.skipped_bytes:,} bytes)"
            self.notes.append(f"{name}: stepped over {what} to the next packets")
        elif tail:
            self.notes.append(
                f"{name}: its last {tail:,} bytes hold no whole packet (cut short or damaged); "
                "replaying the packets before"
            )
        else:
            self.notes.append(f"{name}: its packet table is missing or damaged (cut short?); read packet by packet")

    def table_time_range(self, decoder: faery.aedat.Decoder, track_id: int) -> tuple[int, int] | None:
        """(first, last) event time from the packet table, when it names exactly the packets the walk found."""
        if self.repaired:
            return None
        try:
            with contained_panics():
                table = decoder.file_data_definitions()
        except BaseException as err:
            if not is_library_error(err):
                raise
            return None
        if sorted(d.byte_offset - _PACKET_HEADER_BYTES for d in table) != self.chain.offsets:
            return None
        times = [(d.start_t, d.end_t) for d in table if d.track_id == track_id and d.elements_count > 0]
        if not times:
            return None
        return min(t for t, _ in times), max(t for _, t in times)

    def close(self) -> None:
        if self._copy is not None:
            self._copy.close()
            self._copy = None
            self.path = self.original
