"""A recording held in memory: events already decoded, replayed like a file (benchmarks, tests, edits)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from neuroclip_live.events import SensorSize
from neuroclip_live.stream.sources.base import FileSource

PACKET_EVENTS = 10_000  # as the in-memory file sources hand them out


class MemorySource(FileSource):
    """Time-ordered ``EVENT_DTYPE`` events handed out in fixed-size packets."""

    def __init__(self, events: np.ndarray, size: SensorSize, name: str = "memory", packet: int = PACKET_EVENTS) -> None:
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
        events = self._events
        if start_us is not None:
            events = events[int(np.searchsorted(events["t"], start_us, side="left")) :]
        for i in range(0, events.shape[0], self._packet):
            yield events[i : i + self._packet]
