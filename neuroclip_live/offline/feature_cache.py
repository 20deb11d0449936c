"""A cache of per-view CLIP frame features in safetensors shards, keyed by what made them.

One folder per encoding key (model, weights hash, image backend and precision,
preprocessing, T, cut rule); in it, shard files of a few hundred views each, written whole (a
temporary file, then a rename) so that a run stopped at any moment leaves only
complete shards, and the next run computes only the views no shard holds. A
row is found by its view's id (sample file path, size and modification time,
and the augmentation map), so a second run, a K-shot run drawing other
samples, and a run on a Ray cluster all reuse the same rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from neuroclip_live.errors import DataError
from neuroclip_live.model.clip_model import ClipBackbone
from neuroclip_live.model.fingerprint import module_sha256, state_bytes
from neuroclip_live.model.preprocess import OPENAI_MEAN, OPENAI_STD
from neuroclip_live.offline.augment import Augmentation
from neuroclip_live.offline.datasets import Sample
from neuroclip_live.offline.evaluation import FeatureSet
from neuroclip_live.offline.extraction import (
    ViewJob,
    encode_views,
    frame_views,
    plan_views,
)

log = logging.getLogger(__name__)

# Bump when framing, preprocessing code or row ids change what a cached row means.
FORMAT_VERSION = 1


def default_cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "neuroclip-live" / "features"


def serialized_weights(backbone: ClipBackbone) -> bytes:
    """The model's state as safetensors bytes: hashed for the key, shipped to Ray workers as is."""
    return state_bytes(backbone.model)


@dataclass(frozen=True)
class EncodingKey:
    """Everything that changes a frame's features: rows made under another key are never mixed in."""

    model: str
    weights_sha256: str
    precision: str  # what the image encoder computes in (ImageEncoder.precision): bf16 rows are not fp32 rows
    image_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    T: int
    cut: str
    backend: str = "torch"  # where the image encoder ran: "torch" or "openvino"
    version: int = FORMAT_VERSION

    @classmethod
    def of(cls, backbone: ClipBackbone, T: int, cut: str, weights: bytes | None = None) -> EncodingKey:
        cfg = getattr(backbone.model.visual, "preprocess_cfg", {}) or {}
        return cls(
            model=backbone.name,
            weights_sha256=module_sha256(backbone.model, weights),  # hashed once per loaded model
            precision=backbone.image_encoder.precision,
            image_size=tuple(backbone.image_size),  # type: ignore[arg-type]
            mean=tuple(float(v) for v in cfg.get("mean", OPENAI_MEAN)),
            std=tuple(float(v) for v in cfg.get("std", OPENAI_STD)),
            T=int(T),
            cut=str(cut),
            backend=backbone.image_encoder.backend,
        )

    def as_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def folder_name(self) -> str:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.model)
        return f"{safe}-T{self.T}-{self.cut}-{hashlib.sha256(self.as_json().encode()).hexdigest()[:16]}"


def shard_name(row_ids: Sequence[str]) -> str:
    """A shard is named by the rows it was planned with: a resumed run plans the same names."""
    return hashlib.sha1("\n".join(row_ids).encode()).hexdigest()[:20]


class FeatureCache:
    """The shards of one encoding key under ``root``: which rows exist, loading and writing them."""

    def __init__(self, root: str | os.PathLike, key: EncodingKey, index: bool = True) -> None:
        """``index=False`` for a writer (a Ray worker) that never looks rows up."""
        self.key = key
        self.folder = Path(root).expanduser() / key.folder_name()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            key_file = self.folder / "key.json"
            if not key_file.is_file():
                key_file.write_text(key.as_json() + "\n", encoding="utf-8")
        except OSError as err:
            raise DataError(f"cannot use feature cache {self.folder}: {err.strerror or err}") from None
        self.root = Path(root).expanduser()
        self._index: dict[str, tuple[str, int]] = {}
        if index:
            self.refresh()

    def refresh(self) -> None:
        """Index every complete shard (headers only); a damaged one is removed and its rows recomputed."""
        self._index.clear()
        for path in sorted(self.folder.glob("*.safetensors")):
            try:
                with safe_open(str(path), framework="pt") as fh:
                    ids = json.loads((fh.metadata() or {})["ids"])
            except Exception as err:  # safetensors raises several types for a damaged file
                log.warning("feature cache: removing damaged shard %s (%s)", path.name, err)
                path.unlink(missing_ok=True)
                continue
            for row, rid in enumerate(ids):
                self._index[rid] = (path.name, row)

    @property
    def shard_files(self) -> list[Path]:
        return sorted(self.folder.glob("*.safetensors"))

    def has(self, rid: str) -> bool:
        return rid in self._index

    def missing(self, row_ids: Sequence[str]) -> list[str]:
        return [r for r in row_ids if r not in self._index]

    def write(self, name: str, row_ids: Sequence[str], feats: torch.Tensor) -> Path:
        """Write one shard atomically: readers see the whole shard or none of it."""
        target = self.folder / f"{name}.safetensors"
        tmp = self.folder / f".{name}.{os.getpid()}.tmp"
        try:
            save_file(
                {"feats": feats.detach().float().contiguous().cpu()},
                str(tmp),
                metadata={"ids": json.dumps(list(row_ids))},
            )
            os.replace(tmp, target)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise DataError(f"cannot write feature shard {target}: {err.strerror or err}") from None
        for row, rid in enumerate(row_ids):
            self._index[rid] = (target.name, row)
        return target

    def load(self, row_ids: Sequence[str]) -> torch.Tensor:
        """(n, T, C) rows in the order asked; every id must be present."""
        by_file: dict[str, list[tuple[int, int]]] = {}
        for i, rid in enumerate(row_ids):
            name, row = self._index[rid]
            by_file.setdefault(name, []).append((i, row))
        out = None
        for name, pairs in by_file.items():
            with safe_open(str(self.folder / name), framework="pt") as fh:
                feats = fh.get_tensor("feats")
            if out is None:
                out = torch.empty((len(row_ids), *feats.shape[1:]), dtype=torch.float32)
            dst, src = zip(*pairs, strict=True)
            out[list(dst)] = feats[list(src)]
        return out if out is not None else torch.empty((0, self.key.T, 0))


@dataclass
class ShardResult:
    """What one shard's work came to: views written, and {path: reason} for unreadable samples."""

    name: str
    rows: int
    failed: dict[str, str]
    worker_pid: int


@dataclass
class ExtractionStats:
    """What the last ``extract`` did: views found in the cache, views and shards computed."""

    reused_views: int = 0
    computed_views: int = 0
    computed_shards: int = 0
    planned_shards: int = 0
    seconds: float = 0.0


class ShardRunner(Protocol):
    """Computes planned shards into a cache and yields their results as they finish (any order)."""

    def run(
        self, shards: list[tuple[str, list[ViewJob]]], cache: FeatureCache
    ) -> Generator[ShardResult, None, None]: ...


def encode_into_cache(
    backbone: ClipBackbone, cache: FeatureCache, name: str, frames: Sequence, row_ids: Sequence[str], batch_size: int
) -> int:
    """Encode framed views and write them as shard ``name``; the number of rows written."""
    if frames:
        cache.write(name, row_ids, encode_views(backbone, frames, cache.key.T, batch_size))
    return len(frames)


class LocalRunner:
    """Shards computed one after another in this process, with the driver's own model."""

    def __init__(self, backbone: ClipBackbone, batch_size: int = 256) -> None:
        self.backbone = backbone
        self.batch_size = batch_size

    def run(self, shards: list[tuple[str, list[ViewJob]]], cache: FeatureCache) -> Generator[ShardResult, None, None]:
        for name, jobs in shards:
            frames, done, failed = frame_views(jobs, cache.key.T, cache.key.cut)
            rows = encode_into_cache(self.backbone, cache, name, frames, [j.row_id for j in done], self.batch_size)
            yield ShardResult(name, rows, failed, os.getpid())


class CachedExtractor:
    """``extract_features`` through the cache: rows already computed are loaded, the rest computed in shards.

    The runner decides where shards are computed (this process, or a Ray cluster); the
    plan (views, augmentation draws, shard names) and the order of the rows returned are
    made here, so the answer does not depend on it.
    """

    def __init__(
        self,
        backbone: ClipBackbone,
        T: int,
        cut: str,
        cache_root: str | os.PathLike | None = None,
        runner: ShardRunner | None = None,
        batch_size: int = 256,
        shard_size: int = 256,
        progress: bool = True,
        weights: bytes | None = None,
    ) -> None:
        self.weights = serialized_weights(backbone) if weights is None else weights
        self.key = EncodingKey.of(backbone, T, cut, self.weights)
        self.cache = FeatureCache(default_cache_root() if cache_root is None else cache_root, self.key)
        self.embed_dim = backbone.embed_dim
        self.runner: ShardRunner = runner or LocalRunner(backbone, batch_size)
        self.shard_size = shard_size
        self.progress = progress
        self.stats = ExtractionStats()  # of the last compute
        self.failed: dict[str, str] = {}  # unreadable samples seen by this extractor: {path: reason}

    def extract(
        self,
        samples: Sequence[Sample],
        views: int = 1,
        augment: bool | Augmentation = False,
        flip: bool = True,
        seed: int = 0,
        desc: str = "encoding",
        on_shard: Callable[[ShardResult], None] | None = None,
    ) -> FeatureSet:
        """The same rows as ``extract_features(backbone, samples, T, cut, views, augment, flip, seed)``."""
        jobs = plan_views(samples, views, augment, flip, seed)
        self.compute(jobs, desc, on_shard)
        rows = [j for j in jobs if self.cache.has(j.row_id)]
        feats = self.cache.load([j.row_id for j in rows]) if rows else torch.empty((0, self.key.T, self.embed_dim))
        labels = np.asarray([j.label for j in rows], dtype=np.int64)
        have = {j.path for j in rows}
        unreadable = sorted(
            {(j.path, self.failed[j.path]) for j in jobs if j.path in self.failed and j.path not in have}
        )
        return FeatureSet(feats, labels, unreadable)

    def compute(
        self, jobs: Sequence[ViewJob], desc: str = "encoding", on_shard: Callable[[ShardResult], None] | None = None
    ) -> None:
        """Compute, in one run of the runner, every planned view that no shard holds yet.

        Views of samples found unreadable earlier in this process are not tried again. Hand
        it the views of several ``plan_views`` at once (shots, validation, test) so that a
        cluster starts its workers once.
        """
        t0 = time.perf_counter()
        todo = list({j.row_id: j for j in jobs if not self.cache.has(j.row_id) and j.path not in self.failed}.values())
        shards, at = [], 0
        while at < len(todo):  # a sample's views stay in one shard
            end = min(len(todo), at + self.shard_size)
            while end < len(todo) and todo[end].path == todo[end - 1].path:
                end += 1
            part = todo[at:end]
            shards.append((shard_name([j.row_id for j in part]), part))
            at = end
        self.stats = ExtractionStats(reused_views=len(jobs) - len(todo), planned_shards=len(shards))
        if not shards:
            return
        planned = {name: len(part) for name, part in shards}
        unit = "sample" if all(j.transform is None for j in todo) else "view"  # tqdm shows rate and ETA
        bar = tqdm(total=len(todo), desc=desc, unit=unit, disable=not self.progress, leave=False)
        results = self.runner.run(shards, self.cache)
        try:
            for result in results:
                self.failed.update(result.failed)
                self.stats.computed_shards += 1
                self.stats.computed_views += result.rows
                bar.update(planned[result.name])
                bar.set_postfix_str(f"shards {self.stats.computed_shards}/{len(shards)}")
                if on_shard is not None:
                    on_shard(result)
        finally:  # a stopped driver (Ctrl-C) closes the run: the shards written so far stay
            results.close()
            bar.close()
            self.stats.seconds = time.perf_counter() - t0
        self.cache.refresh()  # shards written by other processes
