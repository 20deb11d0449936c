"""A recording's per-timestep image features, kept: in memory as they are computed, and on disk between runs.

Each timestep's feature is what the classifier's window uses (after the adapter, when there is
one), so any later question about the recording (other labels, a search, a label timeline) is a
matrix product per timestep instead of a pass through the image encoder (``offline.timeline``).

On disk they sit in the feature cache of ``evaluate --cache`` (``offline.feature_cache``): under the
folder of the encoding key (model, weights hash, backend, precision, preprocessing, T, cut rule), in
``recordings/``, one safetensors file per recording, named by the recording's content (size,
modification time, a hash of its first and last MiB), the adapter's weights and the sensor size
asked for. A file is written whole (a temporary file, then a rename) and only for a complete pass.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from neuroclip_live.errors import DataError
from neuroclip_live.events import SensorSize

if TYPE_CHECKING:  # torch and safetensors load where the store is used: the window draws kept rows without them
    from neuroclip_live.offline.feature_cache import EncodingKey

log = logging.getLogger(__name__)

EDGE_BYTES = 1 << 20  # hashed at each end of a recording: a rewritten file differs there, or in size or time
STORE_FORMAT = 1
_COLUMNS = ("t_start_us", "t_end_us", "events", "segment")


@dataclass(frozen=True)
class RecordingIdentity:
    """What names a recording's content without reading all of it."""

    size: int
    mtime_ns: int
    edges_sha256: str  # of its first and last ``EDGE_BYTES``

    @classmethod
    def of(cls, path: str | os.PathLike) -> RecordingIdentity:
        p = Path(path)
        try:
            st = p.stat()
            digest = hashlib.sha256()
            with open(p, "rb") as fh:
                digest.update(fh.read(EDGE_BYTES))
                if st.st_size > EDGE_BYTES:
                    fh.seek(max(EDGE_BYTES, st.st_size - EDGE_BYTES))
                    digest.update(fh.read(EDGE_BYTES))
        except OSError as err:
            raise DataError(f"cannot read {p}: {err.strerror or err}") from None
        return cls(st.st_size, st.st_mtime_ns, digest.hexdigest())


class KeptFeatures:
    """Timesteps in order: their times, event counts, segment (a window never spans two) and features.

    Rows are appended by one thread and read by others: ``append`` and ``view`` take a lock, and a
    view is a set of arrays that later appends never change (they write past its end, or into new arrays).
    """

    def __init__(self, dim: int, capacity: int = 256) -> None:
        self.dim = dim
        self._lock = threading.Lock()
        self._n = 0
        self._dropped = 0
        self._columns = {name: np.zeros(capacity, dtype=np.int64) for name in _COLUMNS}
        self._feats = np.zeros((capacity, dim), dtype=np.float32)

    def __len__(self) -> int:
        return self._n

    def append(
        self, t_start_us: ArrayLike, t_end_us: ArrayLike, events: ArrayLike, segment: ArrayLike, feats: ArrayLike
    ) -> None:
        """Add rows (one per timestep, oldest first)."""
        feats = np.asarray(feats, dtype=np.float32).reshape(-1, self.dim)
        k = feats.shape[0]
        with self._lock:
            n = self._n
            if n + k > self._feats.shape[0]:
                self._grow(max(2 * self._feats.shape[0], n + k))
            for name, values in zip(_COLUMNS, (t_start_us, t_end_us, events, segment), strict=True):
                self._columns[name][n : n + k] = values
            self._feats[n : n + k] = feats
            self._n = n + k

    def _grow(self, capacity: int) -> None:
        n = self._n
        for name, column in self._columns.items():
            self._columns[name] = np.concatenate([column[:n], np.zeros(capacity - n, dtype=np.int64)])
        feats = np.zeros((capacity, self.dim), dtype=np.float32)
        feats[:n] = self._feats[:n]
        self._feats = feats

    def drop_oldest(self, keep: int) -> None:
        """Keep the newest ``keep`` rows (a live session's timeline is bounded)."""
        with self._lock:
            gone = self._n - keep
            if gone <= 0:
                return
            # New arrays, not a shift in place: views handed out earlier stay as they were.
            for name, column in self._columns.items():
                self._columns[name] = np.concatenate([column[gone : self._n], np.zeros_like(column[:gone])])
            self._feats = np.concatenate([self._feats[gone : self._n], np.zeros_like(self._feats[:gone])])
            self._n = keep
            self._dropped += gone

    def view(self) -> StepRows:
        with self._lock:
            n = self._n
            return StepRows(*(self._columns[name][:n] for name in _COLUMNS), self._feats[:n], self._dropped)


@dataclass(frozen=True)
class StepRows:
    """A read-only view of kept timesteps: (N,) int64 columns and (N, C) float32 features."""

    t_start_us: np.ndarray
    t_end_us: np.ndarray
    events: np.ndarray
    segment: np.ndarray  # increases at every reset (a jump in time): windows restart there
    feats: np.ndarray
    first: int = 0  # rows dropped before these (a bounded live timeline): the index of the first since the start

    def __len__(self) -> int:
        return int(self.feats.shape[0])

    @property
    def dim(self) -> int:
        return int(self.feats.shape[1])


@dataclass(frozen=True)
class RecordingKey:
    """Everything that makes a recording's kept features what they are."""

    recording: RecordingIdentity
    encoding: EncodingKey  # model, weights, backend, precision, preprocessing, T, cut rule
    adapter_sha256: str | None  # the features are after the adapter
    sensor: tuple[int, int] | None  # the size the user gave (events beyond it are dropped)

    @classmethod
    def of(
        cls,
        path: str | os.PathLike,
        encoding: EncodingKey,
        adapter_sha256: str | None,
        sensor: SensorSize | None = None,
    ) -> RecordingKey:
        size = None if sensor is None else (int(sensor.width), int(sensor.height))
        return cls(RecordingIdentity.of(path), encoding, adapter_sha256, size)

    def file_name(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32] + ".safetensors"


class KeptFeatureStore:
    """The kept features of recordings, in the feature cache under ``root`` (see the module's notes)."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        """``root``: the feature cache's folder; None: its default (``$XDG_CACHE_HOME/neuroclip-live/features``)."""
        self._root = None if root is None else Path(root).expanduser()

    @property
    def root(self) -> Path:
        if self._root is None:
            from neuroclip_live.offline.feature_cache import default_cache_root

            self._root = default_cache_root()
        return self._root

    def path(self, key: RecordingKey) -> Path:
        return self.folder(key) / key.file_name()

    def folder(self, key: RecordingKey) -> Path:
        from neuroclip_live.offline.feature_cache import FeatureCache

        return FeatureCache(self.root, key.encoding, index=False).folder / "recordings"

    def load(self, key: RecordingKey) -> StepRows | None:
        """The rows kept for this key; None when there are none (or the file is damaged: it is removed)."""
        from safetensors import safe_open

        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                if int(meta.get("format", -1)) != STORE_FORMAT:
                    return None
                columns = [fh.get_tensor(name).numpy() for name in _COLUMNS]
                feats = fh.get_tensor("feats").numpy()
        except Exception as err:  # safetensors raises several types for a damaged file
            log.warning("kept features: removing damaged %s (%s)", path.name, err)
            path.unlink(missing_ok=True)
            return None
        return StepRows(*columns, feats)

    def save(self, key: RecordingKey, rows: StepRows) -> Path:
        """Write the rows of a complete pass whole: readers see the file complete or not at all."""
        import torch
        from safetensors.torch import save_file

        folder = self.folder(key)
        target = self.path(key)
        tmp = folder / f".{target.stem}.{os.getpid()}.{threading.get_ident()}.tmp"
        tensors = {name: torch.from_numpy(np.ascontiguousarray(getattr(rows, name))) for name in _COLUMNS}
        tensors["feats"] = torch.from_numpy(np.ascontiguousarray(rows.feats))
        try:
            folder.mkdir(parents=True, exist_ok=True)
            save_file(tensors, str(tmp), metadata={"format": str(STORE_FORMAT), "steps": str(len(rows))})
            os.replace(tmp, target)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise DataError(f"cannot keep features in {folder}: {err.strerror or err}") from None
        return target
