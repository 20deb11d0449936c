"""Live Prophesee cameras (EVK4, EVK3 HD and IMX636 / Gen4 based ones) through neuromorphic-drivers.

neuromorphic-drivers is optional (``pip install 'neuroclip-live[prophesee]'``);
dv-processing has no Prophesee support and Metavision is not on PyPI.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from neuroclip_live.errors import SourceDisconnected, SourceError
from neuroclip_live.events import SensorSize
from neuroclip_live.stream.sources.base import CameraInfo
from neuroclip_live.stream.sources.files.recording_scan import events_from_fields
from neuroclip_live.stream.sources.live.polled import IDLE_PACKET_S, PolledLiveSource

MISSING_DRIVERS = "Prophesee cameras need neuromorphic-drivers: pip install 'neuroclip-live[prophesee]'"


def drivers() -> ModuleType:
    """The neuromorphic_drivers module, or a one-line SourceError saying how to install it."""
    try:
        import neuromorphic_drivers
    except ImportError:
        raise SourceError(MISSING_DRIVERS) from None
    return neuromorphic_drivers


def discover_prophesee() -> list[CameraInfo]:
    """Connected Prophesee-sensor cameras (iniVation ones are left to dv-processing)."""
    found = []
    for device in drivers().list_devices():
        if device.name.name.startswith("INIVATION"):
            continue
        extra = {"connection": device.connection.value}
        if device.error:
            extra["error"] = device.error
        found.append(CameraInfo("prophesee", device.name.value, device.serial or "", extra))
    return found


def polarity_events(packet: Any) -> np.ndarray | None:
    """The DVS events of a neuromorphic-drivers packet (fields t, x, y, on), whichever packet style."""
    if packet is None:
        return None
    if isinstance(packet, dict):  # versions before 0.17 gave dicts with "dvs_events"
        return packet.get("dvs_events")
    return getattr(packet, "polarity_events", None)


class PropheseeCameraSource(PolledLiveSource):
    """A live camera read through neuromorphic-drivers."""

    _poll_waits = True  # the driver's iterator waits up to its iterator_timeout

    def __init__(self, device: Any) -> None:
        props = device.properties()
        super().__init__(f"{device.name().value} {device.serial()}", SensorSize(int(props.width), int(props.height)))
        self._device = device

    def _poll(self) -> np.ndarray | None:
        if self._device is None:
            return None
        try:
            _status, packet = next(self._device)
        except StopIteration:
            raise SourceDisconnected(f"{self.name}: the camera stopped sending") from None
        except Exception as err:
            raise SourceDisconnected(f"{self.name}: the camera was disconnected ({err})") from None
        events = polarity_events(packet)
        if events is None or events.shape[0] == 0:
            return None
        return events_from_fields(events["t"], events["x"], events["y"], events["on"])

    def _release(self) -> None:
        if self._device is not None:
            device, self._device = self._device, None
            device.close()


def open_prophesee_camera(serial: str = "") -> PropheseeCameraSource:
    """The Prophesee camera with this serial, or the first connected one."""
    nd = drivers()
    try:
        # The timeout makes the iterator return (status, None) when idle, so the
        # reader keeps its 100 ms stop-flag rhythm.
        device = nd.open(serial=serial or None, iterator_timeout=IDLE_PACKET_S)
    except Exception as err:
        what = f"Prophesee camera {serial}" if serial else "a Prophesee camera"
        raise SourceError(f"cannot open {what} ({err}); check the USB cable and permissions (udev rules)") from None
    return PropheseeCameraSource(device)
