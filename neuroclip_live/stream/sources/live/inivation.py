"""Live iniVation cameras (DVS128, DAVIS, DVXplorer) through dv-processing."""

from __future__ import annotations

import dv_processing as dv

from neuroclip_live.errors import SourceError
from neuroclip_live.events import SensorSize
from neuroclip_live.stream.sources.base import CameraInfo
from neuroclip_live.stream.sources.files.dv_interop import dv_error_reason
from neuroclip_live.stream.sources.live.polled import DvLiveSource

NO_CAMERA_HINT = "plug one in and check the USB cable and permissions (udev rules)"


def discover_inivation() -> list[CameraInfo]:
    """Connected iniVation cameras (may raise if USB cannot be listed)."""
    return [
        CameraInfo("inivation", d.cameraModel.name, str(d.serialNumber), {"firmware": d.firmwareVersion})
        for d in dv.io.camera.discover()
    ]


def open_inivation_camera(serial: str = "") -> DvLiveSource:
    """The iniVation camera with this serial, or the first connected one."""
    # discover() first: dv.io.camera.open() with nothing connected raises an
    # unhelpful IndexError ("vector::_M_range_check").
    try:
        found = discover_inivation()
    except Exception as err:
        raise SourceError(f"cannot list iniVation cameras ({dv_error_reason(err)}); {NO_CAMERA_HINT}") from None
    if not found:
        raise SourceError(f"no iniVation camera connected (DVS128, DAVIS, DVXplorer): {NO_CAMERA_HINT}")
    chosen = found[0] if not serial else next((c for c in found if c.serial == serial), None)
    if chosen is None:
        connected = ", ".join(c.describe() for c in found)
        raise SourceError(f"no iniVation camera with serial {serial} (connected: {connected})")
    try:
        camera = dv.io.camera.open(chosen.serial)
    except Exception as err:
        raise SourceError(
            f"cannot open {chosen.describe()} ({dv_error_reason(err)}); is another program using it?"
        ) from None
    resolution = camera.getEventResolution()
    if resolution is None:
        raise SourceError(f"{chosen.describe()} has no event output")
    name = camera.getCameraName() or chosen.describe()
    return DvLiveSource(camera, name, SensorSize(*resolution), lost=f"{name}: the camera was disconnected")
