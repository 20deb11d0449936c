"""The main window: event view and playback on the left, label bars, prompts and settings on the right.

It wires widgets to a ``StreamSession`` and redraws from the session's
snapshots; it never touches events or the model itself. The user's controls
(speed, loop, pause, noise filter, labels, templates) are the session's
``ControlsModel``: the widgets show it and update it, and keep no copy. The
window owns its actions (``menus.build_actions`` returns them) and says here
what each one does.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QMainWindow,
)

from neuroclip_live.runtime.config import RunConfig
from neuroclip_live.runtime.controls import ControlsChange
from neuroclip_live.runtime.pipeline import Snapshot
from neuroclip_live.states import ModelState, StreamState
from neuroclip_live.stream.sources.base import SourceSpec
from ui import theme, window_layout
from ui.confidence_slider import ConfidenceSlider
from ui.empty_view import EmptyView, discover_cameras, dropped_recording, recording_filter
from ui.event_view import EventView
from ui.label_bars import LabelBars
from ui.menus import build_actions, fill_camera_menu, fill_recent_menu
from ui.playback_bar import PlaybackBar
from ui.prompt_editor import PromptEditor
from ui.recent_files import RecentFiles
from ui.recording_control import RecordingControl
from ui.session import ClassifierFactory, SourceOpener, StreamSession
from ui.settings_panel import RunSettings, SettingsPanel
from ui.status import StatusBar
from ui.teach_panel import TeachPanel
from ui.timeline_control import TimelineControl
from ui.timeline_strip import TimelineStrip


class MainWindow(QMainWindow):
    """``scoresShown`` fires once per source when the first scores are drawn, ``frameShown`` for the first frame."""

    scoresShown = Signal()
    frameShown = Signal()

    def __init__(
        self,
        config: RunConfig,
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
        self.session = StreamSession(
            config, open_source=open_source, classifier_factory=classifier_factory, parent=self
        )
        self._build_widgets()
        self.actions = build_actions(self)
        self.recording = RecordingControl(
            self, self.session, self.actions.record, self.status, self.settings, self.show_problem
        )
        self.timeline_control = TimelineControl(self.session, self.timeline, self.show_problem)
        self._source_changed()
        self._connect()
        self._connect_actions()
        self.settings_panel.load(RunSettings.from_config(config))
        self._first_scores = False
        self._first_frame = False
        self._laid_out = False
        self.closed_cleanly: bool | None = None  # set on close: did every thread stop within 2 s
        self.refresh_recent()
        window_layout.open_size(self)

    def _build_widgets(self) -> None:
        self.event_view = EventView()
        self.playback = PlaybackBar(self.session.controls)
        colours = theme.LabelColours()  # a label is one colour in the timeline strip and the history plot
        self.timeline = TimelineStrip(colours)
        self.empty = EmptyView()
        self.bars = LabelBars(colours)
        self.prompts = PromptEditor(self.session.controls)
        self.settings_panel = SettingsPanel()
        self.settings_panel.add_control_row("Min. confidence", ConfidenceSlider(self.session.controls))
        self.teach = TeachPanel(self.session)
        self.status = StatusBar()
        self.setStatusBar(self.status)
        window_layout.arrange(self)

    def _connect(self) -> None:
        self.session.updated.connect(self._show_snapshot)
        self.session.sourceChanged.connect(self._source_changed)
        self.session.problem.connect(self.show_problem)
        self.playback.playToggled.connect(lambda play: self.session.play() if play else self.session.pause())
        self.playback.seekRequested.connect(self.session.seek)
        self.settings_panel.applied.connect(self._apply_settings)
        controls = self.session.controls
        self.settings_panel.noiseFilterChanged.connect(lambda us: controls.update(noise_filter_us=us or None))
        controls.subscribe(self._show_noise_filter, "noise_filter_us")
        self.settings_panel.show_noise_filter(controls.value.noise_filter_us)
        self.event_view.where_button.toggled.connect(lambda on: controls.update(where=on))
        controls.subscribe(self._show_where_toggle, "where")
        self.event_view.where_button.setChecked(controls.value.where)
        self.bars.labelClicked.connect(lambda label: controls.update(where_label=label))
        self.empty.open_button.clicked.connect(self.open_dialog)
        self.empty.net_button.clicked.connect(self.open_network_dialog)
        QShortcut(QKeySequence(Qt.Key.Key_Space), self, self._toggle_play)

    def _connect_actions(self) -> None:
        """What each action does; the view switches follow their twins in the views."""
        a = self.actions
        a.open.triggered.connect(self.open_dialog)
        a.open_network.triggered.connect(self.open_network_dialog)
        a.export.triggered.connect(self.export_dialog)
        a.screenshot.triggered.connect(self.screenshot_dialog)
        a.close_source.triggered.connect(self.session.close_source)
        a.quit.triggered.connect(self.close)
        a.camera.aboutToShow.connect(
            lambda: fill_camera_menu(a.camera, discover_cameras(), lambda s: self.open_spec(SourceSpec("camera", s)))
        )
        for action, widget, show in (
            (a.colour, self.event_view.colour_box, self.event_view.set_colour),
            (a.window, self.event_view.window_button, self.event_view.set_window_mode),
            (a.sort, self.bars.sort_box, self.bars.sort_box.setChecked),
            (a.where, self.event_view.where_button, self.event_view.where_button.setChecked),
        ):
            action.toggled.connect(show)
            widget.toggled.connect(action.setChecked)

    def _show_noise_filter(self, change: ControlsChange) -> None:
        self.settings_panel.show_noise_filter(change.new.noise_filter_us)

    def _show_where_toggle(self, change: ControlsChange) -> None:
        self.event_view.where_button.setChecked(change.new.where)

    def refresh_recent(self) -> None:
        paths = self.recent.paths()
        fill_recent_menu(self.actions.recent, paths, self.open_file, self._clear_recent)
        self.empty.show_recent(paths, self.open_file)

    def _clear_recent(self) -> None:
        self.recent.clear()
        self.refresh_recent()

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
        self.refresh_recent()

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
        for action in (self.actions.record, self.actions.export, self.actions.close_source):
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
        config = self.session.config
        model = config.model.name if self.session.has_model else "no model"
        self.status.show_run(f"{model} · {config.rule} timesteps · T={config.T}")
        self.setWindowTitle(f"neuroclip-live — {Path(spec.target).name if spec.kind == 'file' else spec.describe()}")

    # ----------------------------------------------------------------- redraw
    def _show_snapshot(self, snap: Snapshot) -> None:
        origin = snap.time_range[0] if snap.time_range is not None else None
        self.event_view.show_frames(snap.frame, snap.window, snap.aps, origin)
        self.bars.show_result(snap.result)
        self._show_where(snap)
        self._show_model_hint(snap)
        if snap.time_range is not None:
            self.playback.set_mode("file")
            self.playback.show_position(snap.position_us, snap.time_range, snap.time_range_final)
            if snap.state in (StreamState.PLAYING, StreamState.PAUSED):
                self.playback.set_playing(snap.state == StreamState.PLAYING)
            elif snap.state == StreamState.ENDED:
                self.playback.set_playing(False)
        elif snap.is_live:
            self.playback.set_mode("live")
        self.status.show_snapshot(snap, self.session.has_model)
        self.recording.show_progress()
        if snap.frame is not None and not self._first_frame:
            self._first_frame = True
            self.frameShown.emit()
        if snap.result is not None and snap.result.scores is not None and not self._first_scores:
            self._first_scores = True
            # Without labels asked for, the model scores its own (a trained adapter's classes): shown to edit.
            self.prompts.show_model_labels(list(snap.result.scores.labels))
            self.scoresShown.emit()

    def _show_where(self, snap: Snapshot) -> None:
        """The Where toggle's state, and the chosen label's map (else the most probable label's) over the frame."""
        why = snap.where_unavailable
        if not self.session.has_model:
            why = "no model runs: type labels under Labels (or pick a preset) and press Apply"
        self.event_view.set_where_available(why)
        self.actions.where.setEnabled(not why)
        scores = snap.result.scores if snap.result is not None else None
        maps = scores.where if scores is not None and self.session.controls.value.where else None
        label = None
        if maps is not None:
            chosen = self.session.controls.value.where_label
            label = chosen if chosen in maps.labels else scores.top(1)[0][0]
        self.bars.set_selected(label)
        self.event_view.show_where(maps, label)

    def _show_model_hint(self, snap: Snapshot) -> None:
        if snap.state == StreamState.ERROR:
            self.bars.set_hint(snap.message)
        elif snap.model_state == ModelState.LOADING:
            self.bars.set_hint(f"Loading model {self.session.config.model.name}…", busy=True)
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
        self.status.show_problem(message)

    # --------------------------------------------------------------- settings
    def _apply_settings(self, settings: RunSettings) -> None:
        self.event_view.clear()
        self.bars.clear()
        self._first_scores = False
        self.session.rebuild(settings.apply_to(self.session.config))

    def _toggle_play(self) -> None:
        if self.playback.play_button.isVisible():
            self.playback.play_button.toggle()

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
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_recording(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = dropped_recording(event.mimeData())
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_file(path)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._laid_out:
            self._laid_out = True
            window_layout.split_when_shown(self, self.settings)

    # ------------------------------------------------------------------ close
    def closeEvent(self, event) -> None:
        window_layout.save(self, self.settings)
        timeline_stopped = self.timeline_control.shutdown(timeout=2.0)
        self.closed_cleanly = self.session.shutdown(timeout=2.0) and timeline_stopped
        super().closeEvent(event)

    def restore_layout(self) -> None:
        window_layout.restore(self, self.settings)
