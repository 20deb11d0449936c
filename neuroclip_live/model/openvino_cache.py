"""Converted image encoders kept on disk, so that a model is converted to OpenVINO once per weights.

An entry is a folder under ``<cache>/openvino/`` named by what made the conversion: the model's name and
input size, the sha256 of its image encoder's weights, and the versions of OpenVINO, open_clip and torch (a
new version converts anew). It holds the OpenVINO IR (``visual.xml``, ``visual.bin``), ``manifest.json``
with the IR files' digests, and ``compiled/``: OpenVINO's own model cache (``CACHE_DIR``), the compiled
blob per device and compile options, which OpenVINO itself rebuilds when it is damaged.

An entry is written into a temporary folder and renamed whole, so a crash or a second process converting
the same model at the same time never leaves half an entry. An entry whose files do not match their
manifest is removed and rebuilt; a cache that cannot be written only costs the next start its
conversion. The newest ``KEEP_ENTRIES`` entries are kept (an RN50 entry is about 300 MB).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

FORMAT = 1  # bump when what an entry holds changes
KEEP_ENTRIES = 4
IR_FILES = ("visual.xml", "visual.bin")
MANIFEST = "manifest.json"


def weights_digest(module: torch.nn.Module) -> str:
    """sha256 of a module's state (names, dtypes, shapes and bytes): random weights get a key of their own too."""
    h = hashlib.sha256()
    for name, value in module.state_dict().items():
        t = value.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class EntryKey:
    """What a converted model depends on."""

    model: str
    image_size: tuple[int, int]
    weights_sha256: str
    versions: str  # OpenVINO, open_clip and torch
    format: int = FORMAT

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["image_size"] = list(self.image_size)
        return d

    def folder_name(self) -> str:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.model)
        digest = hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:20]
        return f"{safe}-{digest}"


class IrCache:
    """The converted models under ``root`` (``<cache>/openvino``)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def entry(self, key: EntryKey) -> Path:
        return self.root / key.folder_name()

    def compiled_dir(self, key: EntryKey) -> Path | None:
        """OpenVINO's ``CACHE_DIR`` for this model, or None when the entry does not exist (nothing to cache in)."""
        folder = self.entry(key) / "compiled"
        return folder if folder.is_dir() else None

    def load(self, core: Any, key: EntryKey) -> Any | None:
        """The cached ``ov.Model``, or None: no entry, or a damaged or stale one (then removed)."""
        folder = self.entry(key)
        if not (folder / MANIFEST).is_file():
            return None
        problem = _check_entry(folder, key)
        if problem is None:
            try:
                model = core.read_model(str(folder / IR_FILES[0]), str(folder / IR_FILES[1]))
            except RuntimeError as err:
                problem = f"OpenVINO cannot read it ({(str(err).splitlines() or ['?'])[0]})"
            else:
                _touch(folder / MANIFEST)  # the newest entries survive pruning
                return model
        log.warning("OpenVINO cache: rebuilding %s: %s", folder.name, problem)
        shutil.rmtree(folder, ignore_errors=True)
        return None

    def store(self, ov: Any, key: EntryKey, model: Any) -> Path | None:
        """Write ``model`` as this key's entry (whole or not at all); its folder, or None when it cannot be written."""
        folder = self.entry(key)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=self.root))
        except OSError as err:
            log.warning("OpenVINO cache %s is not writable (%s): the model is converted at every start", self.root, err)
            return None
        try:
            ov.save_model(model, str(tmp / IR_FILES[0]), compress_to_fp16=False)  # fp32 weights: f32 stays exact
            (tmp / "compiled").mkdir()
            files = {name: file_digest(tmp / name) for name in IR_FILES}
            (tmp / MANIFEST).write_text(json.dumps({"key": key.as_dict(), "files": files}, indent=1), encoding="utf-8")
            os.replace(tmp, folder)
        except OSError as err:
            shutil.rmtree(tmp, ignore_errors=True)
            if (folder / MANIFEST).is_file():
                return folder  # another process wrote the same entry first
            log.warning("OpenVINO cache: cannot write %s (%s)", folder, err)
            return None
        self.prune(KEEP_ENTRIES)
        return folder

    def prune(self, keep: int) -> None:
        """Remove all but the ``keep`` most recently used entries, and temporary folders left by a crash."""
        entries, leftovers = [], []
        for path in self.root.iterdir():
            if path.name.startswith("."):
                leftovers.append(path)
            elif (path / MANIFEST).is_file():
                entries.append(((path / MANIFEST).stat().st_mtime, path))
        entries.sort(reverse=True)
        for _, path in entries[keep:]:
            shutil.rmtree(path, ignore_errors=True)
        for path in leftovers:
            if _age_s(path) > 3600:  # an hour: not another process's conversion in progress
                shutil.rmtree(path, ignore_errors=True)


def _check_entry(folder: Path, key: EntryKey) -> str | None:
    """None when the entry is whole and made for ``key``; else what is wrong with it."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("key") != key.as_dict():
            return "made for another model"
        for name in IR_FILES:
            if file_digest(folder / name) != manifest["files"][name]:
                return f"{name} is damaged"
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"unreadable ({err})"
    return None


def _touch(path: Path) -> None:
    with contextlib.suppress(OSError):  # a read-only cache still serves
        os.utime(path)


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0
