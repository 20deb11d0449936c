"""Labelled event data sets in the N-MNIST layout: ``ROOT/<split>/<class>/<file>``.

Class names come from the folder names, or from ``ROOT/classes.txt`` mapping
a folder to the words used in prompts (``3 three`` or ``3: the digit three``
a line). Shots are drawn from the training split only, seeded, so a run can be
repeated exactly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuroclip_live.errors import DataError, NeuroclipError
from neuroclip_live.events import SensorSize
from neuroclip_live.stream.sources.base import SourceSpec
from neuroclip_live.wording import counted

READABLE = {".bin", ".aedat4", ".raw", ".dat", ".es", ".csv"}
MEMORY_ROOT = Path("<examples in memory>")  # the root of a split held in memory (offline.examples)


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


@dataclass
class LabelledEvents:
    """One split of a labelled data set: the class folders, prompt words and samples."""

    root: Path
    split: str
    folders: list[str]  # class folder names, in label order
    classes: list[str]  # prompt words per class
    samples: list[Sample]

    def by_class(self) -> list[list[Sample]]:
        groups: list[list[Sample]] = [[] for _ in self.folders]
        for s in self.samples:
            groups[s.label].append(s)
        return groups


def folder_order_key(name: str) -> tuple:
    """Class folders in label order: numbers by value first ("2" before "10"), then names."""
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def _read_class_map(root: Path) -> dict[str, str]:
    path = root / "classes.txt"
    if not path.is_file():
        return {}
    mapping = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        folder, _, words = line.replace(":", " ", 1).partition(" ")
        if words.strip():
            mapping[folder] = words.strip()
    return mapping


def load_split(root: str | os.PathLike, split: str) -> LabelledEvents:
    """Index ``root/split``; a missing or empty folder, or a class without readable files, is a DataError."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist (expected ROOT/<split>/<class>/<file>)")
    base = root / split
    if not base.is_dir():
        found = ", ".join(sorted(p.name for p in root.iterdir() if p.is_dir())) or "none"
        raise DataError(f"{root} has no '{split}' split folder (found: {found})")
    folders = sorted((p.name for p in base.iterdir() if p.is_dir()), key=folder_order_key)
    if not folders:
        raise DataError(f"{base} holds no class folders (expected {base}/<class>/<file>)")
    names = _read_class_map(root)
    samples = []
    for label, folder in enumerate(folders):
        files = sorted(p for p in (base / folder).iterdir() if p.suffix.lower() in READABLE and p.stat().st_size > 0)
        if not files:
            raise DataError(f"class folder {base / folder} has no readable event files ({', '.join(sorted(READABLE))})")
        samples.extend(Sample(f, label) for f in files)
    return LabelledEvents(root, split, folders, [names.get(f, f) for f in folders], samples)


def check_trainable(data: LabelledEvents) -> None:
    """An adapter needs two classes or more, each with an example: a DataError (one line) otherwise."""
    if len(data.folders) < 2:
        raise DataError(
            f"training needs at least 2 classes, {data.root / data.split} holds "
            f"{len(data.folders)} ({', '.join(data.classes) or 'none'})"
        )
    empty = [c for c, group in zip(data.classes, data.by_class(), strict=True) if not group]
    if empty:
        raise DataError(f"class '{empty[0]}' has no example: add some or leave the class out")
    blank = [f for f, c in zip(data.folders, data.classes, strict=True) if not c.strip()]
    if blank:
        raise DataError(f"class folder '{blank[0]}' has an empty name")


def take_per_class(
    samples: list[Sample], n_classes: int, k: int, rng: np.random.Generator
) -> tuple[list[Sample], list[Sample]]:
    """Up to ``k`` samples of each class, drawn by ``rng`` class by class, and the rest."""
    taken, rest = [], []
    for c in range(n_classes):
        group = [s for s in samples if s.label == c]
        order = rng.permutation(len(group))
        taken += [group[i] for i in order[:k]]
        rest += [group[i] for i in order[k:]]
    return taken, rest


def pick_shots(data: LabelledEvents, shots: int, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """K samples a class (seeded) and the rest; a class with fewer than K samples is a DataError."""
    for folder, group in zip(data.folders, data.by_class(), strict=True):
        if len(group) < shots:
            raise DataError(f"--shots {shots} is more than class '{folder}' holds ({counted(len(group), 'sample')})")
    return take_per_class(data.samples, len(data.folders), shots, np.random.default_rng(seed))


def read_sample_events(path: Path) -> tuple[np.ndarray, SensorSize]:
    """All events of one labelled sample and its sensor size, through the same sources as the app."""
    from neuroclip_live.events import concatenate
    from neuroclip_live.stream.sources import open_source

    try:
        with open_source(SourceSpec("file", str(path))) as src:
            chunks = list(src.packets_from(None))  # type: ignore[attr-defined]
            return concatenate(chunks), src.size
    except NeuroclipError as err:
        raise DataError(f"{path}: {err}") from None


def samples_in_record(record: dict, data: LabelledEvents) -> list[Sample]:
    """The samples of ``data`` that an adapter's training record (``AdapterInfo.data``) lists as shots or validation.

    A sample matches when it has the record's split name, path in the split and size in bytes (a record
    made in memory has no sizes: the path decides), so a copy of the data set elsewhere matches too.
    """
    if record.get("split") != data.split:
        return []
    listed = {str(path): size for path, size in record.get("samples", [])}
    base = data.root / data.split
    seen = []
    for s in data.samples:
        rel = Path(s.path).relative_to(base).as_posix()
        if rel in listed and listed[rel] in (None, Path(s.path).stat().st_size):
            seen.append(s)
    return seen
