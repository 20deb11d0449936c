"""The prompt editor: labels typed one per line or comma separated, presets, template choice.

A view of the session's ``ControlsModel`` (labels, templates): Apply puts the typed
labels into the model, and the running pipeline re-encodes only the text and uses
them from its next timestep on; the stream never stops. What it shows as "in use" is
the model's; the text box holds only the user's draft.
"""

from __future__ import annotations

from PySide6.QtGui import QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from neuroclip_live.model.label_presets import LABEL_PRESETS, preset_labels
from neuroclip_live.model.prompts import DEFAULT_TEMPLATE_SET, TEMPLATE_SETS, LabelError, parse_labels_with_notes
from neuroclip_live.runtime.controls import ControlsChange, ControlsModel
from neuroclip_live.wording import counted


def parse_label_text(text: str) -> tuple[list[str], list[str]]:
    """(labels, notes) from the editor's text, by the same rules as ``--labels``; no labels is not an error here."""
    if not text.strip():
        return [], []
    try:
        parsed = parse_labels_with_notes(text)
    except LabelError as err:
        return [], [str(err)]
    return parsed.labels, parsed.notes


class PromptEditor(QWidget):
    """Edit the ``controls``' labels and templates: it shows them and sends the user's changes to them."""

    def __init__(self, controls: ControlsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controls = controls
        self.edit = QPlainTextEdit()
        self.edit.setPlaceholderText("One label per line, or comma separated:\ncat, dog, car")
        self.edit.setTabChangesFocus(True)
        self.edit.textChanged.connect(self._edited)

        self._build_tools()

        self.templates = QComboBox()
        self.templates.addItems(list(TEMPLATE_SETS))
        self.templates.setToolTip("Sentences each label is wrapped in before the text encoder")
        self.ensemble = QCheckBox("Ensemble")
        self.ensemble.setToolTip("Average the text features over every template of the set (prompt ensembling)")
        self.templates.currentTextChanged.connect(lambda _: self._templates_changed())
        self.ensemble.toggled.connect(lambda _: self._templates_changed())
        self.state = QLabel("")
        self.state.setObjectName("hint")

        tools = QHBoxLayout()
        tools.setContentsMargins(0, 0, 0, 0)
        for w in (self.presets, self.up, self.down, self.remove):
            tools.addWidget(w)
        tools.addStretch(1)
        tools.addWidget(self.apply_button)
        templates = QHBoxLayout()
        templates.setContentsMargins(0, 0, 0, 0)
        templates.addWidget(QLabel("Templates"))
        templates.addWidget(self.templates, 1)
        templates.addWidget(self.ensemble)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.edit, 1)
        layout.addLayout(tools)
        layout.addLayout(templates)
        layout.addWidget(self.state)
        self._show_labels(ControlsChange(controls.value, controls.value))
        self._show_templates(ControlsChange(controls.value, controls.value))
        controls.subscribe(self._show_labels, "labels")
        controls.subscribe(self._show_templates, "templates", "ensemble")

    def _build_tools(self) -> None:
        """Presets, line moves and removal, Apply, and their keyboard shortcuts."""
        self.presets = QToolButton()
        self.presets.setText("Presets")
        self.presets.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.presets)
        for name in LABEL_PRESETS:
            menu.addAction(name, lambda n=name: self.load_preset(n))
        self.presets.setMenu(menu)
        self.up = QToolButton()
        self.up.setText("▲")
        self.up.setToolTip("Move the label under the cursor up (Alt+Up)")
        self.down = QToolButton()
        self.down.setText("▼")
        self.down.setToolTip("Move the label under the cursor down (Alt+Down)")
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setToolTip("Remove the label under the cursor")
        self.up.clicked.connect(lambda: self.move_current_line(-1))
        self.down.clicked.connect(lambda: self.move_current_line(1))
        self.remove.clicked.connect(self.remove_current_line)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("primary")
        self.apply_button.setToolTip("Use these labels from the next timestep on (Ctrl+Enter)")
        self.apply_button.clicked.connect(self.apply)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self.edit, self.apply)
        QShortcut(QKeySequence("Alt+Up"), self.edit, lambda: self.move_current_line(-1))
        QShortcut(QKeySequence("Alt+Down"), self.edit, lambda: self.move_current_line(1))

    # ------------------------------------------------------------------ labels
    def labels(self) -> list[str]:
        """The labels typed (the draft), parsed as ``--labels`` is."""
        return parse_label_text(self.edit.toPlainText())[0]

    def set_labels(self, labels: list[str]) -> None:
        """Put ``labels`` in the text, one per line, as a draft: Apply uses them."""
        self.edit.setPlainText("\n".join(labels))

    def _show_labels(self, change: ControlsChange) -> None:
        """The labels in use changed (Apply, a preset, the command line): show them."""
        if change.new.labels and self.labels() != list(change.new.labels):
            self.edit.setPlainText("\n".join(change.new.labels))
        self._edited()

    def show_model_labels(self, labels: list[str]) -> None:
        """The model scores its own classes (a trained adapter's) as none were asked for: show them to edit."""
        if self.controls.value.labels or self.edit.toPlainText().strip():
            return
        self.edit.blockSignals(True)
        self.edit.setPlainText("\n".join(labels))
        self.edit.blockSignals(False)
        n = len(labels)
        self.state.setText(f"The model's {n} label{'s' if n != 1 else ''} in use.")

    def load_preset(self, name: str) -> None:
        self.set_labels(preset_labels(name))
        self.apply()

    def apply(self) -> None:
        labels = self.labels()
        if not labels:
            self.state.setText("Type at least one label (commas or one per line).")
            return
        # Rewrite as one label per line: the canonical form, and what the move buttons work on.
        if self.edit.toPlainText() != "\n".join(labels):
            self.edit.setPlainText("\n".join(labels))
        self.controls.update(labels=tuple(labels))
        self._edited()  # the same labels again change nothing in the model, and are still in use

    def move_current_line(self, delta: int) -> None:
        lines = self.edit.toPlainText().split("\n")
        row = self.edit.textCursor().blockNumber()
        target = row + delta
        if not (0 <= row < len(lines)) or not (0 <= target < len(lines)):
            return
        lines[row], lines[target] = lines[target], lines[row]
        self.edit.setPlainText("\n".join(lines))
        self.put_cursor_on_line(target)

    def remove_current_line(self) -> None:
        lines = self.edit.toPlainText().split("\n")
        row = self.edit.textCursor().blockNumber()
        if 0 <= row < len(lines):
            del lines[row]
            self.edit.setPlainText("\n".join(lines))
            self.put_cursor_on_line(min(row, len(lines) - 1))

    def put_cursor_on_line(self, row: int) -> None:
        block = self.edit.document().findBlockByNumber(max(row, 0))
        cursor = QTextCursor(block)
        self.edit.setTextCursor(cursor)

    def _edited(self) -> None:
        current, notes = parse_label_text(self.edit.toPlainText())
        n = len(current)
        if n and current == list(self.controls.value.labels):
            text = f"{counted(n, 'label')} in use."
        elif n:
            text = f"{counted(n, 'label')} edited: Apply (Ctrl+Enter) to use them."
        else:
            text = ""
        self.state.setText(" ".join([text, *(f"Note: {note}." for note in notes)]).strip())

    # --------------------------------------------------------------- templates
    def _show_templates(self, change: ControlsChange) -> None:
        name = change.new.templates or DEFAULT_TEMPLATE_SET
        self.templates.blockSignals(True)
        self.ensemble.blockSignals(True)
        if self.templates.findText(name) < 0:  # a custom template from the command line
            self.templates.addItem(name)
        self.templates.setCurrentText(name)
        self.ensemble.setChecked(change.new.ensemble)
        self.templates.blockSignals(False)
        self.ensemble.blockSignals(False)

    def _templates_changed(self) -> None:
        self.controls.update(templates=self.templates.currentText(), ensemble=self.ensemble.isChecked())
