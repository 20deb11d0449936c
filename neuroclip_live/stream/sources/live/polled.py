"""Live sources polled on a reader thread: cameras and network streams.

Both libraries poll: dv-processing's ``getNextEventBatch`` returns at once
(None when nothing arrived), neuromorphic-drivers' iterator returns after its
own timeout. ``PolledLiveSource`` turns such a poll into the live-source
contract: packets until ``close()``, an empty packet at least every 100 ms
when idle (so the reader can check its stop flag), ``SourceDisconnected`` when
the device or connection goes away, and a ``close()`` that is safe from any
thread: the device is released under the same lock as each poll, so it never
disappears in the middle of a library call.
"""

from __future__ import annotations

import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator

import dv_processing as dv
import numpy as np

from neuroclip_live.errors import SourceDisconnected
from neuroclip_live.events import SensorSize, empty_events
from neuroclip_live.stream.sources.base import EventSource, PacketOrJump
from neuroclip_live.stream.sources.files.dv_interop import from_dv_store

# Idle sources yield an empty packet this often (the contract allows up to 100 ms).
IDLE_PACKET_S = 0.05
# Sleep between polls that return at once with nothing (dv inputs): 2 ms adds
# at most 2 ms latency and costs a few hundred wake-ups a second only while idle.
_POLL_SLEEP_S = 0.002


class PolledLiveSource(EventSource):
    """A live source whose library is polled; subclasses say how to poll and release."""

    is_live = True
    _poll_waits = False  # True when _poll itself waits (with a timeout) for data

    def __init__(self, name: str, size: SensorSize) -> None:
        self._name = name
        self._size = size
        self._lock = threading.Lock()
        self._closed = threading.Event()

    @abstractmethod
    def _poll(self) -> np.ndarray | None:
        """Events available now (None or empty: none); raise SourceDisconnected when gone."""

    @abstractmethod
    def _release(self) -> None:
        """Let the device or connection go; called once, under the poll lock."""

    @property
    def name(self) -> str:
        return self._name

    @property
    def size(self) -> SensorSize:
        return self._size

    def packets(self) -> Iterator[PacketOrJump]:
        idle_since = time.monotonic()
        while not self._closed.is_set():
            with self._lock:
                if self._closed.is_set():
                    break
                events = self._poll()
            if events is not None and events.shape[0]:
                yield events
                idle_since = time.monotonic()
                continue
            if time.monotonic() - idle_since >= IDLE_PACKET_S:
                yield empty_events()
                idle_since = time.monotonic()
            if not self._poll_waits:
                self._closed.wait(_POLL_SLEEP_S)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with self._lock:
            self._release()


class DvLiveSource(PolledLiveSource):
    """A dv-processing input: an iniVation camera or a ``dv.io.NetworkReader``."""

    def __init__(
        self,
        device: dv.io.InputBase,
        name: str,
        size: SensorSize,
        lost: str,
        on_release: Callable[[], None] | None = None,
        why_lost: Callable[[], str] | None = None,
    ) -> None:
        super().__init__(name, size)
        self._device: dv.io.InputBase | None = device
        self._lost = lost
        self._on_release = on_release  # what else the connection holds (the network relay)
        self._why_lost = why_lost  # a reason the connection knows, said with ``lost``

    def _poll(self) -> np.ndarray | None:
        if self._device is None:
            return None
        store = self._device.getNextEventBatch()
        if store is None:
            if not self._device.isRunning():
                why = self._why_lost() if self._why_lost is not None else ""
                damaged = f"{self._name}: the event stream sent damaged data ({why}), so it was closed"
                raise SourceDisconnected(damaged if why else self._lost)
            return None
        return from_dv_store(store)

    def _release(self) -> None:
        self._device = None  # dv closes the device or socket when the object goes
        if self._on_release is not None:
            self._on_release()
