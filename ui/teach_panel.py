"""The Teach tab: capture examples from the stream, train the adapter in the background, use it at once.

- A class name (the labels in use are offered). **Capture** adds the window on
  screen (the raw events of its last T timesteps, kept by a ``RecentEvents``
  packet listener) as an example of that class; holding the button, or Enter
  in the name field, adds one every T timesteps. **Add pictures…** adds image
  files through R2ETL's encoding (``offline.image_encoding``: the picture moved
  along three saccades in front of the event-camera model).
- **Train** runs ``train``'s recipe on a copy of the examples, on a background
  thread of low priority (``offline.teaching_job``); the stream plays on.
  **Cancel** stops it and leaves the classifier as it was.
- **Use** puts the taught adapter and its classes in ``Controls.taught``: the
  worker scores them from its next timestep, no restart; the typed labels stay
  in ``Controls.labels``, and **Labels** returns to them. The panel
  keeps no copy of that state: it shows the controls.
- **Save**: **Save adapter…** writes what ``--adapter`` reads; **Save
  examples…** the N-MNIST layout with ``classes.txt``, which ``train`` reads.

The examples are the panel's alone (the GUI thread's): a source that ends,
disconnects or changes keeps them. Every refusal is one line in the panel.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QMenu,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from neuroclip_live.errors import DataError, NeuroclipError
from neuroclip_live.offline.examples import ExampleSet, ExamplesOrigin, clean_class_name
from neuroclip_live.offline.teaching import TEACH_SETTINGS, trained_setup
from neuroclip_live.runtime.capture import RecentEvents, window_events
from neuroclip_live.runtime.controls import ControlsChange
from neuroclip_live.runtime.pipeline import Snapshot
from neuroclip_live.states import StreamState
from neuroclip_live.wording import counted
from ui.elided_label import ElidedLabel
from ui.session import StreamSession
from ui.teach_examples import ExampleBrowser
from ui.teach_training import TeachTraining

IMAGE_FILTER = "Pictures (*.png *.jpg *.jpeg *.bmp)"
NOT_TRAINED = "not trained yet"
TIMELINE_NOTE = " (the timeline under the view keeps the typed labels)"
HOLD_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


def _row(*parts: QWidget | int) -> QHBoxLayout:
    """Widgets side by side, each followed by its stretch."""
    row = QHBoxLayout()
    row.setSpacing(4)
    for widget, stretch in zip(parts[::2], parts[1::2], strict=True):
        row.addWidget(widget, stretch)
    return row


class TeachPanel(QWidget):
    """Teach classes from the running stream (see the module). ``train_settings`` is the recipe's; T and the cut
    follow the session's timesteps."""

    def __init__(self, session: StreamSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.controls = session.controls
        self.train_settings = TEACH_SETTINGS
        self.examples: ExampleSet | None = None
        self._recent = RecentEvents(session.config.rule, session.config.T)
        self._holding = False
        self._last_window: tuple[int, int] | None = None  # the stream time of the last window captured
        self._build()
        session.keep_packet_listener(self._recent)
        session.updated.connect(self._snapshot)
        session.sourceChanged.connect(self._source_changed)
        self.controls.subscribe(self._controls_changed, "labels", "taught")
        self._offer_names()
        self._show_state()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.name_box = QComboBox()
        self.name_box.setEditable(True)
        self.name_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.name_box.lineEdit().setPlaceholderText("class name, e.g. my mug")
        self.name_box.setToolTip("The class the next examples belong to (the labels in use are offered)")
        self.name_box.lineEdit().installEventFilter(self)
        self.capture_button = self._button(
            "Capture",
            "Click: the window on screen (the last T timesteps) becomes "
            "one example. Hold it, or hold Enter in the name field: one every T "
            "timesteps",
        )
        self.capture_button.pressed.connect(self.start_hold)
        self.capture_button.released.connect(self.stop_hold)
        self.pictures_button = self._button(
            "Add pictures…",
            "Image files as examples of the class, through R2ETL's encoding (moved in front of the event-camera model)",
            self.add_pictures_dialog,
        )
        self.browser = ExampleBrowser()
        self.browser.classChosen.connect(self.name_box.setEditText)
        self.browser.removeRequested.connect(self.remove)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat(NOT_TRAINED)  # an empty bar reads as an empty text field
        self.training = TeachTraining(self.progress, self.say, self)
        self.training.changed.connect(self._show_state)
        self.train_button = self._button(
            "Train",
            "Train the adapter on the examples (train's recipe) in the background; the stream plays on",
            self.train,
        )
        self.cancel_button = self._button(
            "Cancel", "Stop the training; the classifier in use is unchanged", self.training.cancel
        )
        self.use_button = self._button(
            "Use", "Score the taught classes from the next timestep (no restart)", lambda: self.use(True)
        )
        self.back_button = self._button("Labels", "Back to the labels typed under Labels", lambda: self.use(False))
        self.save_button = QToolButton()
        self.save_button.setText("Save")
        self.save_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.save_button)
        self.save_adapter_action = menu.addAction("Save adapter…", self.save_adapter_dialog)
        self.save_adapter_action.setToolTip("The .safetensors that --adapter reads")
        self.save_examples_action = menu.addAction("Save examples…", self.save_examples_dialog)
        self.save_examples_action.setToolTip("The examples in the N-MNIST layout with classes.txt (train reads it)")
        self.save_button.setMenu(menu)
        self.status = ElidedLabel(max_lines=2)
        rows = QVBoxLayout(self)
        rows.setContentsMargins(4, 4, 4, 4)
        rows.setSpacing(4)
        rows.addLayout(_row(self.name_box, 1, self.capture_button, 0, self.pictures_button, 0))
        rows.addWidget(self.browser, 1)
        rows.addLayout(
            _row(self.train_button, 0, self.cancel_button, 0, self.progress, 1, self.use_button, 0, self.back_button, 0)
        )
        rows.addLayout(_row(self.save_button, 0, self.status, 1))

    def _button(self, text: str, tip: str, slot=None) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        if slot is not None:
            button.clicked.connect(slot)
        return button

    def say(self, line: str) -> None:
        """One line for the user in the panel (errors and results alike)."""
        self.status.setText(line)

    # ----------------------------------------------------------------- capture
    def class_name(self) -> str:
        """The name in the field, cleaned; a DataError when it is empty or only spaces."""
        return clean_class_name(self.name_box.currentText())

    def capture(self) -> bool:
        """Add the window on screen as an example of the named class; False (and a line) when it cannot."""
        snap = self.session.latest
        try:
            name = self.class_name()
            if snap is None or self.session.pipeline is None:
                raise DataError("nothing to capture: open a recording or a camera first")
            cfg = self.session.config
            window = (snap.window[0].t_start_us, snap.window[-1].t_end_us) if snap.window else None
            if window is not None and window == self._last_window:
                raise DataError("this window is an example already: let the stream move on")
            events = window_events(snap, self._recent, cfg.T, cfg.rule)
            count = self._example_set(snap).add(name, events)
        except NeuroclipError as err:
            self.say(self._with_kept(str(err)))
            return False
        self._last_window = window
        self._examples_changed(name)
        self.say(f"{name}: {counted(count, 'example')}")
        return True

    def _with_kept(self, line: str) -> str:
        n = len(self.examples) if self.examples is not None else 0
        return f"{line} ({counted(n, 'example')} kept)" if n else line

    def _example_set(self, snap: Snapshot) -> ExampleSet:
        """The examples, made for this source's sensor; a DataError when they were taken on another."""
        if snap.size is None:
            raise DataError("the source is not open yet: capture again in a moment")
        if self.examples is None or not len(self.examples):
            self.examples = ExampleSet(snap.size)
        elif self.examples.size != snap.size:
            have, this = self.examples.size, snap.size
            raise DataError(
                f"the examples are {have.width}x{have.height}, this source is {this.width}x{this.height}:"
                " save them and remove them to teach from it"
            )
        return self.examples

    def start_hold(self) -> None:
        """Capture now, and then every T timesteps until ``stop_hold``."""
        self._holding = True
        self.capture()

    def stop_hold(self) -> None:
        self._holding = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Enter in the name field is the Capture button: pressed captures, held keeps capturing."""
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and event.key() in HOLD_KEYS:
            if not event.isAutoRepeat():
                self.start_hold() if event.type() == QEvent.Type.KeyPress else self.stop_hold()
            return True
        return super().eventFilter(watched, event)

    def _snapshot(self, snap: Snapshot) -> None:
        if self._holding and snap.window and snap.state != StreamState.DISCONNECTED:
            if self._last_window is None or snap.window[0].t_start_us >= self._last_window[1]:
                self.capture()  # the window on screen holds none of the last example's timesteps: T later
        elif self._holding and snap.state == StreamState.DISCONNECTED:
            self.say(
                self._with_kept(f"{snap.source_name or 'the camera'} disconnected: capture waits until it is back")
            )
        labels = list(snap.result.scores.labels) if snap.result is not None and snap.result.scores else []
        if labels and not self.controls.value.labels and self.name_box.count() == 0:
            self._offer_names(labels)

    def _source_changed(self) -> None:
        cfg = self.session.config
        self._recent.restart(cfg.rule, cfg.T)  # the events of another source or another cut are of no window
        self._last_window = None

    def add_pictures(self, paths: list[str | Path]) -> int:
        """Add image files as examples of the named class (R2ETL's encoding); returns how many were added."""
        from neuroclip_live.offline.image_encoding import read_image, saccade_events

        snap = self.session.latest
        try:
            name = self.class_name()
            if snap is None or snap.size is None:
                raise DataError("open a recording or a camera first: pictures are placed on its sensor")
            examples = self._example_set(snap)
        except NeuroclipError as err:
            self.say(str(err))
            return 0
        added, problems = 0, []
        for path in paths:
            try:
                rng = np.random.default_rng(len(examples))  # seeded: the same pictures give the same examples
                examples.add(name, saccade_events(read_image(Path(path)), examples.size, rng))
                added += 1
            except NeuroclipError as err:
                problems.append(str(err))
        if added:
            self._examples_changed(name)
        self.say("; ".join([f"{name}: {counted(added, 'picture')} added", *problems]))
        return added

    def add_pictures_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add pictures to the class", "", IMAGE_FILTER)
        if paths:
            self.add_pictures(paths)

    def remove(self, name: str, indices: list[int]) -> None:
        """Remove examples ``indices`` of class ``name``."""
        if self.examples is None:
            return
        for i in sorted(indices, reverse=True):
            self.examples.remove(name, i)
        self._examples_changed(name)
        left = self.examples.counts().get(name, 0)
        self.say(f"{name}: {counted(len(indices), 'example')} removed, {left} left")

    def _examples_changed(self, name: str | None = None) -> None:
        self.browser.show_examples(self.examples, name)
        self._offer_names()
        self._show_state()

    def _offer_names(self, scored: list[str] | None = None) -> None:
        """The labels in use and the taught classes, offered in the name field (its text kept)."""
        text = self.name_box.currentText()
        names = list(self.controls.value.labels or scored or [])
        names += [c for c in (self.examples.counts() if self.examples is not None else {}) if c not in names]
        self.name_box.blockSignals(True)
        self.name_box.clear()
        self.name_box.addItems(names)
        self.name_box.setEditText(text)
        self.name_box.blockSignals(False)

    # ---------------------------------------------------------------- training
    @property
    def job(self):
        return self.training.job

    @property
    def trained(self):
        return self.training.trained

    def train(self) -> bool:
        """Start training in the background on the examples as they are now; False (and a line) when refused."""
        try:
            self._check_named_class()
            if self.examples is None:
                raise DataError("training needs at least 2 classes with examples: capture some first")
        except NeuroclipError as err:
            self.say(str(err))
            return False
        cfg, c = self.session.config, self.controls.value
        model = replace(cfg.model, templates=c.templates, ensemble=c.ensemble)
        return self.training.start(self.examples, model, replace(self.train_settings, T=cfg.T, cut=cfg.rule.mode))

    def _check_named_class(self) -> None:
        """A name typed for a class that has no example yet would be left out of the training silently: refuse."""
        text = " ".join(self.name_box.currentText().split())
        counts = self.examples.counts() if self.examples is not None else {}
        if text and text not in counts:
            raise DataError(f"class '{text}' has no example: capture some, or clear the name to train without it")

    # -------------------------------------------------------------- use, save
    def use(self, on: bool) -> None:
        """Score the last taught adapter's classes (on) or the typed labels (off), from the next timestep."""
        if on and self.trained is None:
            self.say("nothing taught yet: capture examples of 2 classes or more and press Train")
            return
        self.controls.update(taught=trained_setup(self.trained) if on else None)

    def _controls_changed(self, change: ControlsChange) -> None:
        if "labels" in change.changed:
            self._offer_names()
        if "taught" in change.changed:
            taught = change.new.taught
            # A recording's label timeline is a pass of its own with the typed labels (no taught adapter): say so.
            replay = self.session.spec is not None and self.session.spec.kind == "file"
            self.say(
                f"scoring the taught classes: {', '.join(taught.labels)}" + (TIMELINE_NOTE if replay else "")
                if taught is not None
                else "scoring the labels again"
            )
        self._show_state()

    def save_adapter_to(self, path: str | Path) -> bool:
        return self.training.save_adapter_to(path)

    def save_examples_to(self, root: str | Path) -> bool:
        if self.examples is None or not len(self.examples):
            self.say("no examples to save yet")
            return False
        cfg = self.session.config
        try:
            written = self.examples.save(root, origin=ExamplesOrigin(cfg.T, cfg.rule.mode, "the Teach panel"))
        except NeuroclipError as err:
            self.say(str(err))
            return False
        self.say(f"{counted(len(written), 'example')} saved under {root} (neuroclip-live train --data {root})")
        return True

    def save_adapter_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save adapter", "taught.safetensors", "Adapter (*.safetensors)")
        if path:
            self.save_adapter_to(path)

    def save_examples_dialog(self) -> None:
        root = QFileDialog.getExistingDirectory(self, "Save examples (N-MNIST layout) under")
        if root:
            self.save_examples_to(root)

    def _show_state(self) -> None:
        """Which buttons can act now: from the examples, the job and ``Controls.taught``."""
        running, taught = self.job is not None, self.controls.value.taught
        has_examples = self.examples is not None and len(self.examples) > 0
        self.train_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.use_button.setEnabled(
            self.trained is not None and (taught is None or taught.adapter is not self.trained.adapter)
        )
        self.back_button.setEnabled(taught is not None)
        self.save_adapter_action.setEnabled(self.trained is not None)
        self.save_examples_action.setEnabled(has_examples)
