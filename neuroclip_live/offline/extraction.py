"""The work of feature extraction, one piece at a time: plan views, frame them, encode them.

The same functions run in one process (``evaluation.extract_features``, the
cached local path) and on Ray workers (``offline.cluster``), so that every
path computes the same numbers. Augmentation maps are drawn on the driver, in
sample order, before any work is handed out: the views do not depend on how
the work is sharded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neuroclip_live.errors import NeuroclipError
from neuroclip_live.events import SensorSize
from neuroclip_live.model.centring import centred_if, split_cut
from neuroclip_live.model.classifier import encode_frames_batched
from neuroclip_live.model.clip_model import ClipBackbone
from neuroclip_live.offline.augment import Augmentation, apply_view, draw_view
from neuroclip_live.offline.datasets import Sample, read_sample_events
from neuroclip_live.stream.framing import sample_frames

READ_TRIES = 2  # a sample that fails twice is unreadable (a network file system can fail once)


@dataclass(frozen=True)
class ViewJob:
    """One framing of one sample: its file, label, augmentation map (None: as recorded) and row id."""

    path: str
    label: int
    transform: tuple[float, float, float, float] | None
    row_id: str

    def as_dict(self) -> dict:
        return {"path": self.path, "label": self.label, "transform": self.transform, "row_id": self.row_id}

    @classmethod
    def from_dict(cls, d: dict) -> ViewJob:
        t = d["transform"]
        return cls(d["path"], int(d["label"]), None if t is None else tuple(float(v) for v in t), d["row_id"])


def file_identity(path: Path) -> str:
    """Path, size and modification time: a rewritten file gets new rows, not stale features."""
    try:
        st = path.stat()
        return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    except OSError:
        return f"{path}|missing"  # framing will list it as unreadable


def row_id(identity: str, transform: tuple[float, ...] | None) -> str:
    view = "plain" if transform is None else ",".join(f"{v:.12g}" for v in transform)
    return hashlib.sha1(f"{identity}|{view}".encode()).hexdigest()[:24]


def plan_views(
    samples: Sequence[Sample],
    views: int = 1,
    augment: bool | Augmentation = False,
    flip: bool = True,
    seed: int = 0,
) -> list[ViewJob]:
    """``views`` jobs a sample, views of one sample next to each other; maps drawn in sample order from ``seed``.

    ``augment``: False (as recorded), True (the default ``Augmentation`` with ``flip``) or an ``Augmentation``.
    """
    spec = augment if isinstance(augment, Augmentation) else Augmentation(flip=flip)
    rng = np.random.default_rng(seed)
    jobs = []
    for sample in samples:
        identity = file_identity(Path(sample.path))
        for _ in range(views):
            m = draw_view(rng, spec) if augment else None
            jobs.append(ViewJob(str(sample.path), sample.label, m, row_id(identity, m)))  # type: ignore[arg-type]
    return jobs


def read_view_events(path: str) -> tuple[np.ndarray, SensorSize]:
    """A sample's events, tried ``READ_TRIES`` times; the last error is raised."""
    for attempt in range(READ_TRIES):
        try:
            return read_sample_events(Path(path))
        except (NeuroclipError, OSError):
            if attempt == READ_TRIES - 1:
                raise
    raise AssertionError("unreachable")


EventReader = Callable[[str], tuple[np.ndarray, SensorSize]]


def frame_views(
    jobs: Sequence[ViewJob], T: int, cut: str, read: EventReader = read_view_events
) -> tuple[list[np.ndarray], list[ViewJob], dict[str, str]]:
    """(T, H, W) frames of the readable views, those views, and {path: reason} for the unreadable ones.

    Views of one sample sit next to each other: its file is read once for all of them. ``read``
    gives a sample's events and sensor size (examples held in memory have their own).
    """
    frames, done, failed = [], [], {}
    last: tuple[str, np.ndarray | None, SensorSize | None] = ("", None, None)
    for job in jobs:
        if job.path != last[0]:
            try:
                last = (job.path, *read(job.path))
            except (NeuroclipError, OSError) as err:
                last = (job.path, None, None)
                failed[job.path] = (str(err).splitlines() or [type(err).__name__])[0]
        events, size = last[1], last[2]
        if events is None or size is None:
            continue
        if job.transform is not None:
            events = apply_view(events, size, job.transform)
        frames.append(sample_frames_of(events, size, T, cut))
        done.append(job)
    return frames, done, failed


def sample_frames_of(events: np.ndarray, size: SensorSize, T: int, cut: str) -> np.ndarray:
    """A sample's T frames by ``cut``: "count" or "time", object-centred when it ends in "+centred"."""
    mode, centred = split_cut(cut)
    frames = sample_frames(events, size, T, mode)  # type: ignore[arg-type]
    return centred_if(frames, centred)


def encode_views(backbone: ClipBackbone, frames: Sequence[np.ndarray], T: int, batch_size: int) -> torch.Tensor:
    """(n, T, C) features of n framed views; views of one sensor size are batched together."""
    out = torch.empty((len(frames), T, backbone.embed_dim), dtype=torch.float32)
    by_shape: dict[tuple, list[int]] = {}
    for i, f in enumerate(frames):
        by_shape.setdefault(f.shape, []).append(i)
    per_chunk = max(1, batch_size // T)  # whole views a forward pass, as extract_features always did
    for idx in by_shape.values():
        for start in range(0, len(idx), per_chunk):
            part = idx[start : start + per_chunk]
            stack = np.stack([frames[i] for i in part])
            enc = encode_frames_batched(backbone, stack.reshape(-1, *stack.shape[2:]), batch_size)
            out[part] = enc.view(len(part), T, -1)
    return out
