"""A recording held in memory: events already decoded, replayed like a file (benchmarks, tests, edits)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from neuroclip_live.events import SensorSize
from neuroclip_live.stream.sources.base import FileSource
from neuroclip_live.stream.sources.files.recording_scan import (
    ARRAY_PACKET_EVENTS,
    array_packets,
)


class MemorySource(FileSource):
    """Time-ordered ``EVENT_DTYPE`` events handed out in fixed-size packets."""

    def __init__(
        self, events: np.ndarray, size: SensorSize, name: str = "memory", packet: int = ARRAY_PACKET_EVENTS
    ) -> None:
        if events.shape[0] == 0:
            raise ValueError("a memory source needs at least one event")
        self._events = events
        self._size = size
        self._name = name
        self._packet = packet

    @property
    def name(self) -> str:
        return self._name

    @property
    def size(self) -> SensorSize:
        return self._size

    @property
    def time_range(self) -> tuple[int, int]:
        return int(self._events["t"][0]), int(self._events["t"][-1])

    def packets_from(self, start_us: int | None = None) -> Iterator[np.ndarray]:
        return array_packets(self._events, start_us, self._packet)
