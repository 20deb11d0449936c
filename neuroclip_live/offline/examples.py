"""Labelled examples held in memory as event arrays: what ``clips`` cuts and what teaching in the window captures.

An ``ExampleSet`` is a data set in the N-MNIST layout that has not been
written yet: ``as_split`` gives the same ``LabelledEvents`` (class order,
sample order, labels) that ``load_split`` reads back after ``save``, and
``read`` serves the events to the feature extraction. So training on the set
in memory and ``train`` on the saved folder draw the same shots and
validation samples, frame the same events and give the same adapter.

Files are ``.aedat4`` written by faery, at the set's sensor size, with the
events' own timestamps; the app reads them back exactly (dv-processing).
Class names become folder names with anything but letters, digits, ``.``,
``_`` and ``-`` replaced by ``_``; ``classes.txt`` maps each folder back to
its name. ``examples.json`` says how the examples were cut (T timesteps of a
time or count rule) and that they are objects of a session, so ``train`` takes
the teaching recipe and the examples' framing without being told.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from neuroclip_live.errors import DataError
from neuroclip_live.events import EVENT_DTYPE, SensorSize
from neuroclip_live.offline.datasets import MEMORY_ROOT, LabelledEvents, Sample, folder_order_key

EXAMPLE_SUFFIX = ".aedat4"
ORIGIN_FILE = "examples.json"
_NUMBERED = re.compile(r"^(\d+)\.[A-Za-z0-9]+$")


def clean_class_name(name: str) -> str:
    """The name without surrounding spaces; a DataError (one line) when nothing is left."""
    cleaned = " ".join(str(name).split())
    if not cleaned:
        raise DataError("a class name is empty or only spaces: give the class a name")
    return cleaned


def class_folder(name: str) -> str:
    """The folder a class is saved in: its name with spaces and other characters unsafe in paths as ``_``."""
    folder = re.sub(r"[^A-Za-z0-9._-]+", "_", clean_class_name(name)).strip("._") or "class"
    return folder


@dataclass(frozen=True)
class ExamplesOrigin:
    """How a folder of examples was made: ``T`` timesteps a window, cut by ``cut`` ("time" or "count"), by whom."""

    T: int
    cut: str
    made_by: str  # "clips" or "teach panel"


def read_origin(root: str | Path) -> ExamplesOrigin | None:
    """The origin ``save`` wrote under ``root``; None for any other data set (or an unreadable file)."""
    try:
        raw = json.loads((Path(root) / ORIGIN_FILE).read_text(encoding="utf-8"))
        origin = ExamplesOrigin(int(raw["T"]), str(raw["cut"]), str(raw["made_by"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return origin if origin.T > 0 and origin.cut in ("time", "count") else None


class ExampleSet:
    """Examples per class (event arrays of one sensor), in the order they were added. Not thread-safe."""

    def __init__(self, size: SensorSize) -> None:
        self.size = size
        self._examples: dict[str, list[np.ndarray]] = {}

    def add(self, name: str, events: np.ndarray) -> int:
        """Add one example of class ``name`` (a new class when unseen); returns the class's count."""
        name = clean_class_name(name)
        if events.dtype != EVENT_DTYPE:
            raise ValueError(f"events must be of the event dtype, got {events.dtype}")
        if events.shape[0] == 0:
            raise DataError(f"an example of '{name}' holds no events")
        if name not in self._examples:
            self._check_folder_free(name)
        self._examples.setdefault(name, []).append(events)
        return len(self._examples[name])

    def _check_folder_free(self, name: str) -> None:
        folder = class_folder(name)
        for other in self._examples:
            if class_folder(other) == folder:
                raise DataError(f"class names '{other}' and '{name}' would share the folder '{folder}': rename one")

    def remove(self, name: str, index: int) -> None:
        """Remove example ``index`` of class ``name``; the class goes when its last example does."""
        group = self._examples.get(name)
        if group is None or not 0 <= index < len(group):
            raise DataError(f"no example {index} of class '{name}'")
        del group[index]
        if not group:
            del self._examples[name]

    def copy(self) -> ExampleSet:
        """Another set of the same examples (a training thread's own; the event arrays, never changed, are shared)."""
        other = ExampleSet(self.size)
        other._examples = {name: list(group) for name, group in self._examples.items()}
        return other

    def counts(self) -> dict[str, int]:
        """Examples per class, in the order the classes were first added."""
        return {name: len(group) for name, group in self._examples.items()}

    def examples(self, name: str) -> list[np.ndarray]:
        """The event arrays of class ``name`` (a copy of the list; the arrays themselves are shared)."""
        return list(self._examples.get(name, []))

    def __len__(self) -> int:
        return sum(len(g) for g in self._examples.values())

    def _ordered(self) -> list[tuple[str, str]]:
        """(folder, name) of each class in label order: the order ``load_split`` gives the saved folders."""
        return sorted(((class_folder(n), n) for n in self._examples), key=lambda fn: folder_order_key(fn[0]))

    def as_split(self, split: str = "Train") -> LabelledEvents:
        """The set as ``load_split`` would read it after ``save`` (paths under ``MEMORY_ROOT``, served by ``read``)."""
        folders, classes, samples = [], [], []
        for label, (folder, name) in enumerate(self._ordered()):
            folders.append(folder)
            classes.append(name)
            samples += [
                Sample(MEMORY_ROOT / split / folder / _file_name(i), label) for i in range(len(self._examples[name]))
            ]
        return LabelledEvents(MEMORY_ROOT, split, folders, classes, samples)

    def read(self, path: str) -> tuple[np.ndarray, SensorSize]:
        """The events of one sample of ``as_split`` and the sensor size (the feature extraction's reader)."""
        p = Path(path)
        by_folder = {folder: name for folder, name in self._ordered()}
        match = _NUMBERED.match(p.name)
        name = by_folder.get(p.parent.name)
        if name is None or match is None or int(match.group(1)) >= len(self._examples[name]):
            raise DataError(f"{path}: no such example in memory")
        return self._examples[name][int(match.group(1))], self.size

    def save(self, root: str | Path, split: str = "Train", origin: ExamplesOrigin | None = None) -> list[Path]:
        """Write the examples as ``root/split/<folder>/<n>.aedat4``, ``root/classes.txt`` and the ``origin``.

        Examples already in a class folder are kept: new ones are numbered after them. An
        unwritable place is a DataError (one line); files written before it stay.
        """
        root = Path(root)
        written = []
        try:
            for folder, name in self._ordered():
                target = root / split / folder
                target.mkdir(parents=True, exist_ok=True)
                start = _next_number(target)
                for i, events in enumerate(self._examples[name]):
                    path = target / _file_name(start + i)
                    write_events(path, events, self.size)
                    written.append(path)
            _merge_class_names(root, dict(self._ordered()))
            if origin is not None:
                (root / ORIGIN_FILE).write_text(json.dumps(asdict(origin)) + "\n", encoding="utf-8")
        except OSError as err:
            raise DataError(f"cannot write examples under {root}: {err.strerror or err}") from None
        return written


def _file_name(i: int) -> str:
    return f"{i:05d}{EXAMPLE_SUFFIX}"  # zero-padded: files are read back in name order


def _next_number(folder: Path) -> int:
    numbers = [int(m.group(1)) for p in folder.iterdir() if (m := _NUMBERED.match(p.name))]
    return max(numbers, default=-1) + 1


def _merge_class_names(root: Path, names: dict[str, str]) -> None:
    """``classes.txt`` with a ``folder: name`` line for each class, lines already there for other folders kept."""
    path = root / "classes.txt"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    kept = [ln for ln in lines if ln.strip().replace(":", " ", 1).partition(" ")[0] not in names]
    path.write_text(
        "\n".join([*kept, *(f"{folder}: {name}" for folder, name in names.items())]) + "\n", encoding="utf-8"
    )


def write_events(path: Path, events: np.ndarray, size: SensorSize) -> None:
    """Events as an ``.aedat4`` file through faery's writer (read back exactly by the app's reader)."""
    import faery

    array = np.empty(events.shape[0], dtype=faery.EVENTS_DTYPE)
    array["t"], array["x"], array["y"], array["on"] = events["t"], events["x"], events["y"], events["p"]
    faery.events_stream_from_array(array, (size.width, size.height)).to_file(path)
