"""The minimum confidence ("none of these"): a slider that is a view of the session's ``Controls.min_confidence``.

Below it a window names no label: the headline shows "–", headless JSON has an empty ``top``, the
timeline and ``search`` leave the time unnamed; the bars still show every probability. 0 is off.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

from neuroclip_live.runtime.controls import ControlsChange, ControlsModel

STEPS = 100  # percent


def confidence_text(p: float) -> str:
    return "off" if p <= 0 else f"{p * 100:.0f}%"


class ConfidenceSlider(QWidget):
    """Shows the controls' minimum confidence and sends the user's; keeps no value of its own."""

    def __init__(self, controls: ControlsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controls = controls
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, STEPS)
        self.slider.setSingleStep(1)
        self.slider.setPageStep(10)
        self.slider.setToolTip(
            'None of these: a window whose most probable label is below this names no label ("–"); '
            "the bars still show every probability. 0 = off"
        )
        self.value_label = QLabel("")
        self.value_label.setMinimumWidth(36)
        self.slider.valueChanged.connect(lambda v: controls.update(min_confidence=v / STEPS))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.value_label)
        self._show(ControlsChange(controls.value, controls.value))
        controls.subscribe(self._show, "min_confidence")

    def _show(self, change: ControlsChange) -> None:
        p = change.new.min_confidence
        self.slider.blockSignals(True)
        self.slider.setValue(round(p * STEPS))
        self.slider.blockSignals(False)
        self.value_label.setText(confidence_text(p))
