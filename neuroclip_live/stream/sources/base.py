"""What every event source offers, whatever the hardware or file format.

Sources convert to ``EVENT_DTYPE`` at their boundary. Two kinds, as faery
types its streams: finite ``FileSource`` (a time range; seekable, so it can be
paused, looped and replayed at a speed factor by ``Replay``) and infinite live
sources (cameras, network), which cannot and say so.

Iterators of a source yield ``np.ndarray`` packets of ``EVENT_DTYPE`` in time
order, or a ``Discontinuity`` marker when time jumps (seek, loop, reconnect),
after which consumers reset their state (framer window, adapter membrane).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from neuroclip_live.events import SensorSize


@dataclass(frozen=True)
class Discontinuity:
    """Time jumps here: everything that carries state across timesteps must reset."""

    reason: str  # "seek", "loop", "reconnect"
    t_us: int = 0


@dataclass(frozen=True)
class SourceSpec:
    """How the user named a source on the command line or in the GUI.

    kind: "file" (target = path), "camera" (target = serial or "" for the first
    found), "net" (target = "HOST:PORT").
    """

    kind: str
    target: str = ""
    sensor: SensorSize | None = None  # files only: the user's --sensor WxH, over what the file says

    def describe(self) -> str:
        if self.kind == "camera":
            return f"camera {self.target}" if self.target else "camera"
        return self.target


@dataclass
class ApsFrame:
    """A grayscale intensity frame (DAVIS APS) kept for display beside the events."""

    t_us: int
    image: np.ndarray  # H x W uint8


PacketOrJump = np.ndarray | Discontinuity


class EventSource(ABC):
    """Anything that yields event packets in the one internal dtype."""

    is_live: bool = False

    @property
    @abstractmethod
    def name(self) -> str:
        """Short human-readable name (file name, camera model and serial, host:port)."""

    @property
    @abstractmethod
    def size(self) -> SensorSize:
        """Sensor resolution."""

    @abstractmethod
    def packets(self) -> Iterator[PacketOrJump]:
        """Yield packets until the source ends (files) or ``close()`` is called (live).

        Live sources yield an empty array at least every 100 ms even when no
        events arrive, so a reader thread can check its stop flag, and raise
        ``SourceDisconnected`` when the device or connection goes away.
        """

    def close(self) -> None:  # noqa: B027 - optional for sources that hold nothing
        """Release the device or file; safe to call twice."""

    def __enter__(self) -> EventSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FileSource(EventSource):
    """A recording: finite, with a time range, readable from any time on."""

    is_live = False

    @property
    @abstractmethod
    def time_range(self) -> tuple[int, int]:
        """(first, last) event timestamp in microseconds; may grow while ``time_range_complete`` is False."""

    @property
    def time_range_complete(self) -> bool:
        """Whether ``time_range`` is final (a big file's end may still be being found in the background)."""
        return True

    def wait_for_time_range(self, timeout: float | None = None) -> bool:
        """Wait until ``time_range`` is final (at most ``timeout`` seconds); whether it is."""
        return self.time_range_complete

    @abstractmethod
    def packets_from(self, start_us: int | None = None) -> Iterator[np.ndarray]:
        """Yield packets with ``t >= start_us`` (from the beginning when None), unpaced."""

    def packets(self) -> Iterator[PacketOrJump]:
        yield from self.packets_from(None)

    @property
    def aps_frames(self) -> list[ApsFrame]:
        """Intensity frames stored in the recording (empty when it has none)."""
        return []

    @property
    def notes(self) -> list[str]:
        """One-line remarks about the file (for example how much of a truncated file was readable)."""
        return []


@dataclass
class CameraInfo:
    """A connected camera found by discovery."""

    vendor: str  # "inivation" or "prophesee"
    model: str
    serial: str
    extra: dict = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.model} {self.serial}"
