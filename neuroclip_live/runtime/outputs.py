"""Output paths checked before any work starts: a run or a training that cannot write its result
says so in one line at once, not after minutes of work (or with a traceback after the first step).

Checked by writing: permission bits say little to root, and /sys or /proc accept ``mkdir`` checks
and refuse the files. The probe file is removed at once.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from neuroclip_live.errors import NeuroclipError


def _probe(directory: Path, option: str, what: str) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".neuroclip-probe-", dir=directory)
    except OSError as err:
        raise NeuroclipError(f"{option} {what}: cannot write in {directory} ({err.strerror or err})") from None
    os.close(fd)
    os.unlink(name)


def check_output_file(path: str | os.PathLike, option: str) -> None:
    """``path`` can be written: its folder exists and takes files, and it is no folder or read-only file."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise NeuroclipError(f"{option} {target}: is a directory, expected a file name")
    if not parent.is_dir():
        raise NeuroclipError(f"{option} {target}: folder {parent} does not exist")
    if target.exists() and not os.access(target, os.W_OK):
        raise NeuroclipError(f"{option} {target}: the file exists and is read-only")
    _probe(parent, option, str(target))


def prepare_output_dir(path: str | os.PathLike, option: str) -> Path:
    """``path`` as a folder that takes files, created if missing."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise NeuroclipError(f"{option} {target}: exists and is not a directory")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise NeuroclipError(f"{option} {target}: cannot create it ({err.strerror or err})") from None
    _probe(target, option, str(target))
    return target
