"""The Record action: asks where to record, starts and stops the session's recorder, shows that it runs."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QWidget

from neuroclip_live.errors import NeuroclipError
from neuroclip_live.stream.recording import RecordingError
from neuroclip_live.wording import counted
from ui.menus import show_recording
from ui.session import StreamSession
from ui.status import StatusBar


class RecordingControl:
    """Drives ``action`` (checked while recording) and the status bar's REC field; errors go to ``show_problem``."""

    def __init__(
        self,
        parent: QWidget,
        session: StreamSession,
        action: QAction,
        status: StatusBar,
        settings: QSettings,
        show_problem: Callable[[str], None],
    ) -> None:
        self._parent = parent
        self._session = session
        self._action = action
        self._status = status
        self._settings = settings  # remembers the folder recorded to last
        self._show_problem = show_problem
        action.triggered.connect(self._triggered)
        session.recordingChanged.connect(self.show)
        self.show()

    def start(self, path: str | os.PathLike) -> bool:
        """Record to ``path``; False (and the reason in the status bar) when it cannot."""
        try:
            self._session.start_recording(path)
        except (RecordingError, NeuroclipError) as err:
            self._show_problem(str(err))
            self.show()
            return False
        return True

    def stop(self) -> None:
        error = self._session.stop_recording()
        if error:
            self._show_problem(error)

    def show(self) -> None:
        """The action and the indicator as the session's recorder is."""
        rec = self._session.recorder
        show_recording(self._action, rec is not None)
        self._status.show_recording(None if rec is None else f"● REC {rec.path.name}")

    def show_progress(self) -> None:
        """The events written so far, on each redraw while recording."""
        rec = self._session.recorder
        if rec is not None:
            self._status.show_recording(f"● REC {rec.path.name} · {counted(rec.events_written, 'event')}")

    def _triggered(self, checked: bool) -> None:
        if not checked:
            self.stop()
            return
        folder = self._settings.value("recordingFolder", str(Path.home()))
        name = time.strftime("neuroclip-%Y%m%d-%H%M%S.aedat4")
        path, _ = QFileDialog.getSaveFileName(self._parent, "Record to", str(Path(folder) / name), "AEDAT4 (*.aedat4)")
        if not path:
            self.show()
            return
        if not path.lower().endswith(".aedat4"):
            path += ".aedat4"
        self._settings.setValue("recordingFolder", str(Path(path).parent))
        self.start(path)
