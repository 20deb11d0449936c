"""Cameras of every vendor: discovery and opening by serial, iniVation first, then Prophesee."""

from __future__ import annotations

from neuroclip_live.errors import SourceError
from neuroclip_live.stream.sources.base import CameraInfo, EventSource
from neuroclip_live.stream.sources.live.inivation import (
    NO_CAMERA_HINT,
    discover_inivation,
    open_inivation_camera,
)
from neuroclip_live.stream.sources.live.prophesee import (
    MISSING_DRIVERS,
    discover_prophesee,
    open_prophesee_camera,
)


def _listed(lister) -> tuple[list[CameraInfo], str]:
    """A vendor's cameras, or none and why (library missing, USB not listable)."""
    try:
        return lister(), ""
    except Exception as err:  # includes SourceError for a missing optional library
        return [], str(err).splitlines()[0] if str(err) else type(err).__name__


def discover_cameras() -> list[CameraInfo]:
    """Every connected camera; never raises (a vendor whose library is missing lists none)."""
    return _listed(discover_inivation)[0] + _listed(discover_prophesee)[0]


def open_camera(serial: str = "") -> EventSource:
    """The camera with this serial, or the first found (iniVation, then Prophesee)."""
    inivation, _ = _listed(discover_inivation)
    prophesee, prophesee_problem = _listed(discover_prophesee)
    # Without the optional driver, Prophesee cameras are invisible: say so rather than "none".
    missing = f"; {MISSING_DRIVERS}" if prophesee_problem == MISSING_DRIVERS else ""
    if serial:
        if any(c.serial == serial for c in inivation):
            return open_inivation_camera(serial)
        if any(c.serial == serial for c in prophesee):
            return open_prophesee_camera(serial)
        connected = ", ".join(c.describe() for c in inivation + prophesee) or "none"
        raise SourceError(f"no camera with serial {serial} is connected (connected: {connected}){missing}")
    if inivation:
        return open_inivation_camera(inivation[0].serial)
    if prophesee:
        return open_prophesee_camera(prophesee[0].serial)
    raise SourceError(f"no camera connected (neither iniVation nor Prophesee): {NO_CAMERA_HINT}{missing}")
