"""Checks every recording path goes through before a decoder sees it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from neuroclip_live.errors import SourceError


def require_readable_file(path: str | os.PathLike) -> Path:
    """The path as a ``Path`` if it names a non-empty readable regular file; else a one-line SourceError.

    Opening is bounded: a FIFO with no writer or a device would block or
    never end, so anything that is not a regular file is refused from its
    ``stat``, and the test open is non-blocking.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise SourceError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise SourceError(f"{p}: is a folder; give one recording file inside it")
    try:
        info = p.stat()
        if not stat.S_ISREG(info.st_mode):
            raise SourceError(f"{p.name}: is not a regular file (a pipe, socket or device); give a recording file")
        os.close(os.open(p, os.O_RDONLY | os.O_NONBLOCK))
    except OSError as err:
        raise SourceError(f"{p}: cannot be read ({err.strerror or err}); check its permissions") from None
    if info.st_size == 0:
        raise SourceError(f"{p.name}: the file is empty (0 bytes); the recording was not saved")
    return p
