"""The start page (nothing open yet), and what it offers: recordings by extension, cameras found."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from neuroclip_live.stream.formats import SUPPORTED_EXTENSIONS, extensions_text
from ui import theme


def recording_filter() -> str:
    """The open dialog's filter, from the one table of supported extensions."""
    patterns = " ".join(f"*{ext}" for ext in SUPPORTED_EXTENSIONS)
    return f"Event recordings ({patterns});;All files (*)"


def dropped_recording(mime: QMimeData) -> str | None:
    """The first local file of a drag that is a recording this app reads, else None."""
    for url in mime.urls() if mime.hasUrls() else []:
        path = url.toLocalFile() if url.isLocalFile() else ""
        if path and os.path.isfile(path) and Path(path).suffix.lower() in SUPPORTED_EXTENSIONS:
            return path
    return None


def discover_cameras() -> list:
    """Connected cameras; a failing driver counts as none (the GUI opens anyway)."""
    try:
        from neuroclip_live.stream.sources import discover_cameras as discover

        return list(discover())
    except Exception:
        return []


def mark_icon(colour: str, square: bool = False) -> QIcon:
    """A small filled dot (record) or square (stop), drawn here so the app ships no image files."""
    pixmap = QPixmap(14, 14)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(colour))
    if square:
        painter.drawRoundedRect(2, 2, 10, 10, 2, 2)
    else:
        painter.drawEllipse(1, 1, 12, 12)
    painter.end()
    return QIcon(pixmap)


class EmptyView(QWidget):
    """Shown with nothing open: what the app does and how to give it events."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel("neuroclip-live")
        title.setStyleSheet("font-size: 22pt; font-weight: bold;")
        subtitle = QLabel("Zero-shot recognition for event cameras: type labels, watch the scores move.")
        subtitle.setObjectName("hint")
        self.open_button = QPushButton("Open recording…")
        self.open_button.setObjectName("primary")
        self.open_button.setMinimumHeight(36)
        self.net_button = QPushButton("Open network stream…")
        self.camera_note = QLabel(f"No camera connected. Drop a recording ({extensions_text()}) here.")
        self.camera_note.setObjectName("hint")
        self.recent_heading = QLabel("RECENT")
        self.recent_heading.setObjectName("heading")
        self.recent_box = QVBoxLayout()
        self.recent_box.setSpacing(2)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.net_button)
        buttons.addStretch(1)
        column = QVBoxLayout()
        column.addStretch(2)
        for w in (title, subtitle):
            column.addWidget(w, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addSpacing(16)
        column.addLayout(buttons)
        column.addWidget(self.camera_note, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addSpacing(16)
        column.addWidget(self.recent_heading, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addLayout(self.recent_box)
        column.addStretch(3)
        self.setLayout(column)
        self._recent_buttons: list[QPushButton] = []

    def show_recent(self, paths: list[str], open_path: Callable[[str], None]) -> None:
        for b in self._recent_buttons:
            b.deleteLater()
        self._recent_buttons = []
        for path in paths[:5]:
            b = QPushButton(Path(path).name)
            b.setToolTip(path)
            b.setFlat(True)
            b.setStyleSheet(f"color: {theme.ACCENT}; border: none; text-align: center;")
            b.clicked.connect(lambda _=False, p=path: open_path(p))
            self.recent_box.addWidget(b, 0, Qt.AlignmentFlag.AlignHCenter)
            self._recent_buttons.append(b)
        self.recent_heading.setVisible(bool(paths))

    def recent_names(self) -> list[str]:
        """The file names on the recent-file buttons, top to bottom."""
        return [b.text() for b in self._recent_buttons]
