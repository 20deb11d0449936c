"""The main window: event view and playback on the left, label bars, prompts and settings on the right.

It wires widgets to a ``StreamSession`` and redraws from the session's
snapshots; it never touches events or the model itself.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QKeySequence,
    QPainter,
    QPixmap,
    QShortcut,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from neuroclip_live.errors import NeuroclipError
from neuroclip_live.runtime.pipeline import Snapshot
from neuroclip_live.stream.recording import RecordingError
from neuroclip_live.stream.sources.base import SourceSpec
from ui import theme
from ui.event_view import EventView
from ui.label_bars import LabelBars
from ui.playback_bar import PlaybackBar
from ui.prompt_editor import PromptEditor
from ui.recent_files import RecentFiles
from ui.session import ClassifierFactory, SourceOpener, StreamSession
from ui.settings_panel import RunSettings, SettingsPanel
from ui.status import StatusBar


def supported_extensions() -> tuple[str, ...]:
    from neuroclip_live.stream.sources import SUPPORTED_EXTENSIONS

    return tuple(SUPPORTED_EXTENSIONS)


def recording_filter() -> str:
    patterns = " ".join(f"*{ext}" for ext in supported_extensions())
    return f"Event recordings ({patterns});;All files (*)"


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
        self.camera_note = QLabel("No camera connected. Drop a recording (.aedat4, .raw, .dat, .es, .csv, .bin) here.")
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


class MainWindow(QMainWindow):
    """``scoresShown`` fires once per source when the first scores are drawn, ``frameShown`` for the first frame."""

    scoresShown = Signal()
    frameShown = Signal()

    def __init__(
        self,
        args: argparse.Namespace,
        settings: QSettings | None = None,
        open_source: SourceOpener | None = None,
        classifier_factory: ClassifierFactory | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("neuroclip-live")
        self.setAcceptDrops(True)
        theme.configure_pyqtgraph()
        self.settings = settings if settings is not None else QSettings()
        self.recent = RecentFiles(self.settings)
        self.session = StreamSession(args, open_source=open_source, classifier_factory=classifier_factory, parent=self)

        # Widgets
        self.event_view = EventView()
        self.playback = PlaybackBar()
        self.empty = EmptyView()
        self.bars = LabelBars()
        self.prompts = PromptEditor()
        self.settings_panel = SettingsPanel()
        self.status = StatusBar()
        self.setStatusBar(self.status)

        left_page = QWidget()
        left = QVBoxLayout(left_page)
        left.setContentsMargins(10, 8, 6, 8)
        left.addWidget(self.event_view, 1)
        left.addWidget(self.playback)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(left_page)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.prompts, "Labels")
        settings_scroll = QScrollArea()  # the form is taller than the tab; it must not squeeze the bars
        settings_scroll.setWidget(self.settings_panel)
        settings_scroll.setWidgetResizable(True)
        settings_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.tabs.addTab(settings_scroll, "Settings")
        right_page = QWidget()
        right = QVBoxLayout(right_page)
        right.setContentsMargins(6, 8, 10, 8)
        self.right_split = right_split = QSplitter(Qt.Orientation.Vertical)
        right_split.addWidget(self.bars)
        right_split.addWidget(self.tabs)
        right_split.setStretchFactor(0, 3)
        right_split.setStretchFactor(1, 2)
        right_split.setChildrenCollapsible(False)
        right.addWidget(right_split)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(right_page)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)
        self._build_actions()
        self._source_changed()

        # Wiring
        self.session.updated.connect(self._show_snapshot)
        self.session.sourceChanged.connect(self._source_changed)
        self.session.recordingChanged.connect(self._recording_changed)
        self.session.problem.connect(self.show_problem)
        self.prompts.labelsApplied.connect(self.session.set_labels)
        self.prompts.templatesChanged.connect(self.session.set_templates)
        self.playback.playToggled.connect(lambda play: self.session.play() if play else self.session.pause())
        self.playback.seekRequested.connect(self.session.seek)
        self.playback.speedChanged.connect(self.session.set_speed)
        self.playback.loopChanged.connect(self.session.set_loop)
        self.settings_panel.applied.connect(self._apply_settings)
        self.settings_panel.noiseFilterChanged.connect(lambda us: self.session.set_noise_filter(us or None))
        self.empty.open_button.clicked.connect(self.open_dialog)
        self.empty.net_button.clicked.connect(self.open_network_dialog)
        QShortcut(QKeySequence(Qt.Key.Key_Space), self, self._toggle_play)

        self.settings_panel.load(RunSettings.from_args(args))
        self.prompts.set_templates(args.templates, not args.no_ensemble)
        self.playback.set_speed(args.speed)
        self.playback.loop.setChecked(bool(args.loop))
        self._first_scores = False
        self._first_frame = False
        self._laid_out = False
        self.closed_cleanly: bool | None = None  # set on close: did every thread stop within 2 s
        self._refresh_recent()
        self.resize(1360, 820)

    # ------------------------------------------------------------------ menus
    def _build_actions(self) -> None:
        self.open_action = QAction("Open recording…", self, shortcut=QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self.open_dialog)
        self.net_action = QAction("Open network stream…", self)
        self.net_action.triggered.connect(self.open_network_dialog)
        self._record_icon = mark_icon(theme.RECORD)
        self._stop_icon = mark_icon(theme.RECORD, square=True)
        self.record_action = QAction(self._record_icon, "Record", self, shortcut=QKeySequence("Ctrl+R"), checkable=True)
        self.record_action.setToolTip("Record the incoming events to an .aedat4 file")
        self.record_action.triggered.connect(self._record_triggered)
        self.export_action = QAction("Export view…", self, shortcut=QKeySequence("Ctrl+E"))
        self.export_action.setToolTip("Save the event view as a PNG at sensor resolution")
        self.export_action.triggered.connect(self.export_dialog)
        self.screenshot_action = QAction("Save window screenshot…", self)
        self.screenshot_action.triggered.connect(self.screenshot_dialog)
        self.close_source_action = QAction("Close source", self)
        self.close_source_action.triggered.connect(self.session.close_source)
        quit_action = QAction("Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        self.colour_action = QAction("Colour polarity", self, checkable=True)
        self.colour_action.toggled.connect(self.event_view.set_colour)
        self.event_view.colour_box.toggled.connect(self.colour_action.setChecked)
        self.window_action = QAction("Show the T-frame window", self, checkable=True)
        self.window_action.toggled.connect(self.event_view.set_window_mode)
        self.event_view.window_button.toggled.connect(self.window_action.setChecked)
        self.sort_action = QAction("Sort labels by probability", self, checkable=True)
        self.sort_action.toggled.connect(self.bars.sort_box.setChecked)
        self.bars.sort_box.toggled.connect(self.sort_action.setChecked)

        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open recent")
        self.camera_menu = file_menu.addMenu("Open camera")
        self.camera_menu.aboutToShow.connect(self._fill_camera_menu)
        file_menu.addAction(self.net_action)
        file_menu.addSeparator()
        file_menu.addAction(self.record_action)
        file_menu.addAction(self.export_action)
        file_menu.addAction(self.screenshot_action)
        file_menu.addSeparator()
        file_menu.addAction(self.close_source_action)
        file_menu.addAction(quit_action)
        view_menu = bar.addMenu("&View")
        for a in (self.colour_action, self.window_action, self.sort_action):
            view_menu.addAction(a)

        tools = QToolBar("Main")
        tools.setMovable(False)
        tools.setFloatable(False)
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tools.addAction(self.open_action)
        tools.addAction(self.record_action)
        tools.addAction(self.export_action)
        self.addToolBar(tools)
        self._recording_changed()

    def _fill_camera_menu(self) -> None:
        self.camera_menu.clear()
        cameras = discover_cameras()
        if not cameras:
            none = self.camera_menu.addAction("No camera connected")
            none.setEnabled(False)
        for cam in cameras:
            self.camera_menu.addAction(cam.describe(), lambda s=cam.serial: self.open_spec(SourceSpec("camera", s)))

    def _refresh_recent(self) -> None:
        paths = self.recent.paths()
        self.recent_menu.clear()
        for path in paths:
            self.recent_menu.addAction(path, lambda p=path: self.open_file(p))
        if not paths:
            empty = self.recent_menu.addAction("(none)")
            empty.setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear recent files", self._clear_recent)
        self.empty.show_recent(paths, self.open_file)

    def _clear_recent(self) -> None:
        self.recent.clear()
        self._refresh_recent()

    # ---------------------------------------------------------------- sources
    def open_spec(self, spec: SourceSpec) -> None:
        self._first_scores = False
        self._first_frame = False
        self.event_view.clear()
        self.bars.clear()
        self.session.open(spec)

    def open_file(self, path: str | os.PathLike) -> None:
        path = str(path)
        self.open_spec(SourceSpec("file", path))
        self.recent.add(path)
        self._refresh_recent()

    def open_dialog(self) -> None:
        start = str(Path(self.recent.paths()[0]).parent) if self.recent.paths() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open recording", start, recording_filter())
        if path:
            self.open_file(path)

    def open_network_dialog(self) -> None:
        target, ok = QInputDialog.getText(
            self, "Open network stream", "Host and port (dv-processing NetworkWriter or DV):", text="127.0.0.1:7777"
        )
        if ok and target.strip():
            self.open_spec(SourceSpec("net", target.strip()))

    def show_empty(self) -> None:
        """The start page: nothing open, an "Open recording…" prompt and the recent files."""
        self.stack.setCurrentWidget(self.empty)
        self.bars.set_hint("Open a recording or a camera to start.")

    def _source_changed(self) -> None:
        spec = self.session.spec
        for action in (self.record_action, self.export_action, self.close_source_action):
            action.setEnabled(spec is not None)
        if spec is None:
            self.show_empty()
            self.playback.set_mode("none")
            self.status.show_state("no source")
            self.status.clear_figures()
            self.setWindowTitle("neuroclip-live")
            return
        self.stack.setCurrentIndex(1)
        self.playback.set_mode("none")  # until the source is open and says what it is
        args = self.session.args
        model = args.model if self.session.has_model else "no model"
        self.status.show_run(f"{model} · {args.timestep} timesteps · T={args.T}")
        self.setWindowTitle(f"neuroclip-live — {Path(spec.target).name if spec.kind == 'file' else spec.describe()}")

    # ----------------------------------------------------------------- redraw
    def _show_snapshot(self, snap: Snapshot) -> None:
        self.event_view.show_frames(snap.frame, snap.window, snap.aps)
        self.bars.show_result(snap.result)
        self._show_model_hint(snap)
        if snap.time_range is not None:
            self.playback.set_mode("file")
            self.playback.show_position(snap.position_us, snap.time_range)
            if snap.state in ("playing", "paused"):
                self.playback.set_playing(snap.state == "playing")
            elif snap.state == "ended":
                self.playback.set_playing(False)
        elif snap.is_live:
            self.playback.set_mode("live")
        self.status.show_snapshot(snap, self.session.has_model)
        rec = self.session.recorder
        if rec is not None:
            self.status.show_recording(f"● REC {rec.path.name} · {rec.events_written:,} events")
        if snap.frame is not None and not self._first_frame:
            self._first_frame = True
            self.frameShown.emit()
        if snap.result is not None and snap.result.scores is not None and not self._first_scores:
            self._first_scores = True
            if not self.prompts.applied_labels:
                # The model chose the labels (a trained adapter's classes): show them for editing.
                self.prompts.set_labels(list(snap.result.scores.labels))
                self.session.labels = list(snap.result.scores.labels)
            self.scoresShown.emit()

    def _show_model_hint(self, snap: Snapshot) -> None:
        if snap.state == "error":
            self.bars.set_hint(snap.message)
        elif snap.state == "loading model" or self.session.model_loading:
            self.bars.set_hint(f"Loading model {self.session.args.model}…", busy=True)
        elif not self.session.has_model:
            self.bars.set_hint("No labels yet: type some under Labels (or pick a preset) and press Apply.")
        elif snap.result is None or snap.result.scores is None:
            self.bars.set_hint("Waiting for the first timestep…")
        elif snap.notice:
            # What the worker made of the last label edit (a label cut to fit, one refused).
            self.bars.set_hint(snap.notice)
        else:
            self.bars.set_hint("")

    def show_problem(self, message: str) -> None:
        """A one-line error in the status bar (never a traceback)."""
        self.status.message_label.setText(message)
        self.status.message_label.setToolTip(message)

    # --------------------------------------------------------------- settings
    def _apply_settings(self, settings: RunSettings) -> None:
        self.event_view.clear()
        self.bars.clear()
        self._first_scores = False
        self.session.rebuild(settings.apply_to(self.session.args))

    def _toggle_play(self) -> None:
        if self.playback.play_button.isVisible():
            self.playback.play_button.toggle()

    # -------------------------------------------------------------- recording
    def start_recording(self, path: str | os.PathLike) -> bool:
        try:
            self.session.start_recording(path)
        except (RecordingError, NeuroclipError) as err:
            self.show_problem(str(err))
            self._recording_changed()
            return False
        return True

    def stop_recording(self) -> None:
        error = self.session.stop_recording()
        if error:
            self.show_problem(error)

    def _record_triggered(self, checked: bool) -> None:
        if not checked:
            self.stop_recording()
            return
        folder = self.settings.value("recordingFolder", str(Path.home()))
        name = time.strftime("neuroclip-%Y%m%d-%H%M%S.aedat4")
        path, _ = QFileDialog.getSaveFileName(self, "Record to", str(Path(folder) / name), "AEDAT4 (*.aedat4)")
        if not path:
            self._recording_changed()
            return
        if not path.lower().endswith(".aedat4"):
            path += ".aedat4"
        self.settings.setValue("recordingFolder", str(Path(path).parent))
        self.start_recording(path)

    def _recording_changed(self) -> None:
        rec = self.session.recorder
        self.record_action.blockSignals(True)
        self.record_action.setChecked(rec is not None)
        self.record_action.blockSignals(False)
        self.record_action.setText("Stop recording" if rec is not None else "Record")
        self.record_action.setIcon(self._stop_icon if rec is not None else self._record_icon)
        if rec is None:
            self.status.show_recording(None)
        else:
            self.status.show_recording(f"● REC {rec.path.name}")

    # ----------------------------------------------------------------- export
    def export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export view", "view.png", "PNG (*.png)")
        if path and not self.event_view.export_png(path):
            self.show_problem("nothing to export yet: no frame shown")

    def screenshot_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save window screenshot", "neuroclip-live.png", "PNG (*.png)")
        if path:
            self.save_screenshot(path)

    def save_screenshot(self, path: str | os.PathLike) -> bool:
        return self.grab().save(str(path), "PNG")

    # ------------------------------------------------------------ drag & drop
    def _dropped_file(self, urls: list[QUrl]) -> str | None:
        for url in urls:
            if url.isLocalFile():
                path = url.toLocalFile()
                if os.path.isfile(path) and Path(path).suffix.lower() in supported_extensions():
                    return path
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        if event.mimeData().hasUrls() and self._dropped_file(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        path = self._dropped_file(event.mimeData().urls()) if event.mimeData().hasUrls() else None
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_file(path)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if not self._laid_out:
            # Splitter sizes only hold once the window is laid out; the label bars get the most room.
            self._laid_out = True
            QTimer.singleShot(0, self._initial_split)

    def _initial_split(self) -> None:
        w = self.splitter.width()
        if self.settings.value("splitter") is None:
            self.splitter.setSizes([int(w * 0.6), w - int(w * 0.6)])
        h = self.right_split.height()
        self.right_split.setSizes([int(h * 0.62), h - int(h * 0.62)])

    # ------------------------------------------------------------------ close
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.settings.setValue("windowGeometry", self.saveGeometry())
        self.settings.setValue("splitter", self.splitter.saveState())
        self.closed_cleanly = self.session.shutdown(timeout=2.0)
        super().closeEvent(event)

    def restore_layout(self) -> None:
        geometry = self.settings.value("windowGeometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("splitter")
        if state is not None:
            self.splitter.restoreState(state)
