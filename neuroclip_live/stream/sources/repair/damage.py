"""Limits and wording for damaged recordings: the size cap, sizes formats imply, the one summary line."""

from __future__ import annotations

from typing import Protocol

from neuroclip_live.errors import SourceError
from neuroclip_live.events import SensorSize
from neuroclip_live.stream.sources.repair.event_checks import BACKWARDS, OUTSIDE, SPIKES

# No frame is ever allocated beyond this, whatever a header or a CSV claims
# (the largest event sensors sold are 1280x720; 4096x4096 frames are 16 MB each).
MAX_SENSOR = SensorSize(4096, 4096)

# Sensors a Prophesee EVT 2.0/2.1/3.0 or DAT file can come from, smallest first:
# Gen3/Gen4 VGA, then IMX636 (EVK4), the largest. A file without a size gets
# the smallest that holds its events; events beyond the largest are damage.
PROPHESEE_SENSORS = (SensorSize(640, 480), SensorSize(1280, 720))

QUOTE_MAX = 80


def quote(text: str, limit: int = QUOTE_MAX) -> str:
    """At most ``limit`` printable characters of ``text`` (bad input quoted in a message)."""
    clean = "".join(c if c.isprintable() else "?" for c in text[: limit + 1])
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


# faery's words for damage, and ours: its Rust assertions and I/O errors name its internals, not the file.
_LIBRARY_WORDS = (
    (
        ("assertion failed", "panicked", "flatbuffer", "out of bounds", "unwrap()", "packet prefix", "size prefix"),
        "a packet's contents are damaged",
    ),
    (("failed to fill whole buffer", "unexpected end of file", "unexpectedeof"), "the data ends inside a packet"),
    (
        ("lz4 error", "frame descriptor", "incomplete frame", "checksum", "corrupt", "zstd", "decompress"),
        "compressed data is damaged",
    ),
)


def reason_of(err: BaseException) -> str:
    """A library exception in our words where we know what it means, else its first line, quoted safely."""
    text = str(err)
    first = text.splitlines()[0] if text.strip() else type(err).__name__
    lowered = first.lower()
    for needles, words in _LIBRARY_WORDS:
        if any(needle in lowered for needle in needles):
            return words
    return quote(first)


def implied_size(extent: SensorSize, sensors: tuple[SensorSize, ...] = PROPHESEE_SENSORS) -> SensorSize:
    """The smallest known sensor of a family that holds ``extent`` (the largest when none does)."""
    for sensor in sensors:
        if extent.width <= sensor.width and extent.height <= sensor.height:
            return sensor
    return sensors[-1]


def check_size(name: str, size: SensorSize, what: str = "the file claims") -> SensorSize:
    """``size`` if it is a plausible sensor; a one-line error before anything is allocated if not."""
    if size.width <= 0 or size.height <= 0 or size.width > MAX_SENSOR.width or size.height > MAX_SENSOR.height:
        raise SourceError(
            f"{name}: {what} a {size} sensor; the most read here is {MAX_SENSOR} (give the real size with --sensor WxH)"
        )
    return size


class _Scan(Protocol):
    count: int
    dropped: int
    damaged_packets: int
    damage_unit: str
    lost_events: int | None
    damage: str | None
    chunk_first_t: list[int]
    stats: object

    def describe_read(self) -> str: ...


def damage_summary(name: str, scan: _Scan) -> str | None:
    """One line: where reading stopped, what was skipped, what share was replayed; None if clean."""
    line = ""
    if scan.damage is not None:
        line = (
            f"{name}: unreadable after {scan.describe_read()} ({quote(scan.damage)}); "
            "the file is truncated or damaged, replaying what was read"
        )
    skipped = []
    if scan.damaged_packets:
        skipped.append(f"{scan.damaged_packets:,} damaged {scan.damage_unit}{'s' * (scan.damaged_packets > 1)}")
    if scan.dropped:
        stats = scan.stats
        why = [
            f"{int(stats[k]):,} {what}"  # type: ignore[index]
            for k, what in ((OUTSIDE, "outside the sensor"), (BACKWARDS, "back in time"), (SPIKES, "lone time spikes"))
            if stats[k]  # type: ignore[index]
        ]
        skipped.append(f"{scan.dropped:,} event{'s' * (scan.dropped > 1)} ({', '.join(why)})")
    if not skipped:
        return line or None
    tail = f"skipped {', '.join(skipped)}"
    if scan.damage is None:  # a file read to its end: the share of it replayed is known
        per_packet = scan.count / max(len(scan.chunk_first_t), 1)
        lost = scan.dropped + (scan.lost_events if scan.lost_events is not None else scan.damaged_packets * per_packet)
        tail += f"; replayed {100 * scan.count / max(scan.count + lost, 1):.3g}% of the recording"
    return f"{line}; {tail}" if line else f"{name}: {tail}"
