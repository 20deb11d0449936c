"""Event sources, picked from how the user named one: ``open_source(SourceSpec(...))``.

Files by extension (never by the caller checking types), cameras by serial or
the first found, network streams by ``HOST:PORT``. Every user mistake becomes
a one-line ``SourceError``.
"""

from __future__ import annotations

from collections.abc import Callable

from neuroclip_live.errors import SourceError
from neuroclip_live.events import SensorSize
from neuroclip_live.stream.formats import FAERY_EXTENSIONS, SUPPORTED_EXTENSIONS
from neuroclip_live.stream.sources.base import (
    ApsFrame,
    CameraInfo,
    Discontinuity,
    EventSource,
    FileSource,
    PacketOrJump,
    SourceSpec,
)
from neuroclip_live.stream.sources.files.aedat import AedatFileSource
from neuroclip_live.stream.sources.files.dat_files import DatFileSource
from neuroclip_live.stream.sources.files.es_files import EsFileSource
from neuroclip_live.stream.sources.files.faery_files import FaeryFileSource
from neuroclip_live.stream.sources.files.nmnist import NmnistFileSource
from neuroclip_live.stream.sources.live.cameras import discover_cameras, open_camera
from neuroclip_live.stream.sources.live.network import (
    open_network_source,
    parse_net_target,
)
from neuroclip_live.stream.sources.repair.damage import quote
from neuroclip_live.stream.sources.repair.file_checks import require_readable_file

# Extension -> reader, for every format in ``stream.formats`` (what each holds is said there).
_FILE_READERS: dict[str, Callable[..., FileSource]] = {
    ".aedat4": AedatFileSource,
    **dict.fromkeys(FAERY_EXTENSIONS, FaeryFileSource),
    ".dat": DatFileSource,  # by hand: steps over damage where faery stops (dat_files)
    ".es": EsFileSource,  # DVS and ATIS by hand: steps over damage where faery stops (es_files)
    ".bin": NmnistFileSource,
}
assert set(_FILE_READERS) == set(SUPPORTED_EXTENSIONS), "stream.formats and the readers disagree"


def open_file(path: str, sensor: SensorSize | None = None) -> FileSource:
    """A recording, read by the reader its extension names.

    ``sensor``: the size the user gives (``--sensor WxH``), over what the file
    says or implies; events beyond it are dropped and counted.
    """
    p = require_readable_file(path)
    reader = _FILE_READERS.get(p.suffix.lower())
    if reader is None:
        what = f"the extension {quote(p.suffix)!r}" if p.suffix else "no extension"
        raise SourceError(
            f"{quote(p.name)}: {what} is not a recording format read here; supported: {', '.join(SUPPORTED_EXTENSIONS)}"
        )
    return reader(str(p), sensor=sensor)


def open_source(spec: SourceSpec) -> EventSource:
    """The source a ``SourceSpec`` names: ``file`` (a path), ``camera`` (a serial or ""), ``net`` (HOST:PORT)."""
    if spec.kind == "file":
        return open_file(spec.target, spec.sensor)
    if spec.kind == "camera":
        return open_camera(spec.target)
    if spec.kind == "net":
        return open_network_source(spec.target)
    raise SourceError(f"unknown source kind {spec.kind!r}: use a file, a camera or a network stream (--net HOST:PORT)")


__all__ = [
    "SUPPORTED_EXTENSIONS",
    "ApsFrame",
    "CameraInfo",
    "Discontinuity",
    "EventSource",
    "FileSource",
    "PacketOrJump",
    "SourceSpec",
    "discover_cameras",
    "open_camera",
    "open_file",
    "open_network_source",
    "open_source",
    "parse_net_target",
]
