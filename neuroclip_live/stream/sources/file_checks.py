"""Checks every recording path goes through before a decoder sees it."""

from __future__ import annotations

import os
from pathlib import Path

from neuroclip_live.errors import SourceError


def require_readable_file(path: str | os.PathLike) -> Path:
    """The path as a ``Path`` if it names a non-empty readable file; else a one-line SourceError."""
    p = Path(path).expanduser()
    if not p.exists():
        raise SourceError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise SourceError(f"{p}: is a folder; give one recording file inside it")
    try:
        size = p.stat().st_size
        with p.open("rb"):
            pass
    except OSError as err:
        raise SourceError(f"{p}: cannot be read ({err.strerror or err}); check its permissions") from None
    if size == 0:
        raise SourceError(f"{p.name}: the file is empty (0 bytes); the recording was not saved")
    return p
