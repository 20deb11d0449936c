"""The Teach panel's examples: the classes with their counts, and the thumbnails of the chosen class's examples.

A view of the panel's ``ExampleSet`` (the panel owns it): ``show_examples``
redraws from it, and **Remove** asks the panel, through ``removeRequested``,
to remove the selected examples. Each thumbnail is the example's events in
one 127/255/0 frame (the last event at a pixel wins), as the event view
paints a timestep.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from neuroclip_live.events import SensorSize
from neuroclip_live.offline.examples import ExampleSet
from neuroclip_live.stream.framing import sample_frames

THUMB_PX = 44
NAME_ROLE = Qt.ItemDataRole.UserRole  # a class row's name; a thumbnail's (name, index)


def thumbnail(events: np.ndarray, size: SensorSize, px: int = THUMB_PX) -> QPixmap:
    """The example's events painted in one frame, scaled to ``px`` (aspect kept, no smoothing)."""
    frame = np.ascontiguousarray(sample_frames(events, size, 1, "time")[0])
    image = QImage(frame.data, size.width, size.height, size.width, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(image).scaled(px, px, Qt.AspectRatioMode.KeepAspectRatio)


class ExampleBrowser(QWidget):
    """Classes (name and count) beside the thumbnails of the selected class; Remove takes selected examples out.

    ``classChosen(name)`` when the user picks a class; ``removeRequested(name, indices)`` for Remove or Delete.
    """

    classChosen = Signal(str)
    removeRequested = Signal(str, list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes = QListWidget()
        self.classes.setToolTip("Taught classes and how many examples each has")
        self.classes.currentItemChanged.connect(self._class_changed)
        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListWidget.ViewMode.IconMode)
        self.thumbs.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.thumbs.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.thumbs.setMovement(QListWidget.Movement.Static)
        self.thumbs.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.thumbs.setToolTip("The selected class's examples; select some and press Remove (or Delete)")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected examples")
        self.remove_button.clicked.connect(self._remove)
        QShortcut(QKeySequence.StandardKey.Delete, self.thumbs, self._remove)
        self.thumbs.itemSelectionChanged.connect(self._selection_changed)
        side = QVBoxLayout()
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.remove_button)
        side.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        row.addWidget(self.classes, 2)
        row.addWidget(self.thumbs, 3)
        row.addLayout(side)
        self.setMinimumHeight(THUMB_PX + 16)  # one row of thumbnails
        self._examples: ExampleSet | None = None
        self._selection_changed()

    @property
    def current_class(self) -> str | None:
        item = self.classes.currentItem()
        return None if item is None else item.data(NAME_ROLE)

    def show_examples(self, examples: ExampleSet | None, current: str | None = None) -> None:
        """Redraw from ``examples``; ``current`` (else the class shown before) is selected if it is still there."""
        self._examples = examples
        counts = examples.counts() if examples is not None else {}
        keep = current if current in counts else self.current_class
        self.classes.blockSignals(True)
        self.classes.clear()
        for name, n in counts.items():
            item = QListWidgetItem(f"{name} · {n}")
            item.setData(NAME_ROLE, name)
            self.classes.addItem(item)
            if name == keep:
                self.classes.setCurrentItem(item)
        if self.classes.currentItem() is None and self.classes.count():
            self.classes.setCurrentRow(self.classes.count() - 1)
        self.classes.blockSignals(False)
        self._show_thumbnails()

    def thumbnail_count(self) -> int:
        return self.thumbs.count()

    def select_thumbnails(self, indices: list[int]) -> None:
        self.thumbs.clearSelection()
        for i in indices:
            self.thumbs.item(i).setSelected(True)

    def _class_changed(self, *_: object) -> None:
        self._show_thumbnails()
        if self.current_class is not None:
            self.classChosen.emit(self.current_class)

    def _show_thumbnails(self) -> None:
        self.thumbs.clear()
        name, examples = self.current_class, self._examples
        if name is None or examples is None:
            return
        for i, events in enumerate(examples.examples(name)):
            item = QListWidgetItem(QIcon(thumbnail(events, examples.size)), "")
            item.setData(NAME_ROLE, (name, i))
            item.setToolTip(f"{name}, example {i + 1}: {events.shape[0]:,} events")
            self.thumbs.addItem(item)
        self._selection_changed()

    def _selection_changed(self) -> None:
        self.remove_button.setEnabled(bool(self.thumbs.selectedItems()))

    def _remove(self) -> None:
        chosen = [item.data(NAME_ROLE) for item in self.thumbs.selectedItems()]
        if chosen:
            self.removeRequested.emit(chosen[0][0], sorted((i for _, i in chosen), reverse=True))
