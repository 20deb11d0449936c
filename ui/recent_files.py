"""The recently opened recordings, kept in QSettings (newest first, missing files skipped)."""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings

KEY = "recentFiles"
LIMIT = 8


class RecentFiles:
    def __init__(self, settings: QSettings) -> None:
        self.settings = settings

    def paths(self) -> list[str]:
        value = self.settings.value(KEY, [])
        if isinstance(value, str):  # QSettings gives a lone string for a one-item list in INI files
            value = [value]
        return [p for p in (value or []) if isinstance(p, str) and os.path.isfile(p)]

    def add(self, path: str) -> None:
        path = os.path.abspath(path)
        paths = [path] + [p for p in self.paths() if p != path]
        self.settings.setValue(KEY, paths[:LIMIT])
        self.settings.sync()

    def clear(self) -> None:
        self.settings.remove(KEY)
        self.settings.sync()
