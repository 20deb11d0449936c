"""Playback controls for recordings: play/pause, seek slider with the time, speed, loop.

The view of the session's ``ControlsModel`` for speed and loop (as napari's ``QtDims`` is of
its ``Dims``): the combo box and the check box show the model's values and send the user's
changes to it; they keep no value of their own. Play, pause and seek are requests to the
session (signals); the play button and the slider show the stream as its snapshots say.
Live sources cannot pause or seek: the bar then shows "live" and nothing else.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from neuroclip_live.runtime.controls import ControlsChange, ControlsModel
from ui import theme

# (shown, speed factor); 0 = as fast as possible, as on the command line.
SPEEDS = [
    ("0.25×", 0.25),
    ("0.5×", 0.5),
    ("1×", 1.0),
    ("2×", 2.0),
    ("4×", 4.0),
    ("8×", 8.0),
    ("as fast as possible", 0.0),
]
_SLIDER_STEPS = 10_000


def format_time(us: int) -> str:
    """Microseconds as m:ss.mmm."""
    total_ms = max(int(us) // 1_000, 0)
    minutes, ms = divmod(total_ms, 60_000)
    return f"{minutes}:{ms / 1000:06.3f}"


class PlaybackBar(QWidget):
    """Speed and loop are the ``controls``' own; signals carry play and seek; ``show_position`` follows the stream."""

    playToggled = Signal(bool)  # True = play
    seekRequested = Signal(object)  # absolute time in microseconds (int64: a Qt int would overflow)

    def __init__(self, controls: ControlsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controls = controls
        self.play_button = QPushButton("Pause")
        self.play_button.setCheckable(True)
        self.play_button.setChecked(True)
        self.play_button.setMinimumWidth(70)
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.toggled.connect(self._play_toggled)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, _SLIDER_STEPS)
        self.slider.setToolTip("Seek")
        self.slider.sliderReleased.connect(self._slider_released)
        self.slider.actionTriggered.connect(self._slider_action)
        self.time_label = QLabel("0:00.000 / 0:00.000")
        self.time_label.setObjectName("hint")
        self.time_label.setMinimumWidth(140)
        self.speed = QComboBox()
        for text, value in SPEEDS:
            self.speed.addItem(text, value)
        self.speed.setToolTip("Replay speed")
        self.speed.currentIndexChanged.connect(lambda i: controls.update(speed=float(self.speed.itemData(i))))
        self.loop = QCheckBox("Loop")
        self.loop.toggled.connect(lambda on: controls.update(loop=on))
        self.live_label = QLabel("● live")
        self.live_label.setStyleSheet(f"color: {theme.ACCENT}; font-weight: bold;")
        self.live_label.setToolTip("A live source: no pause, seek or speed")

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.play_button)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.time_label)
        layout.addWidget(self.speed)
        layout.addWidget(self.loop)
        layout.addWidget(self.live_label)
        layout.addStretch(0)
        self._range: tuple[int, int] | None = None
        self._pending_seek_us: int | None = None
        self._mode = ""
        self.set_mode("none")
        self._show_controls(ControlsChange(controls.value, controls.value))
        controls.subscribe(self._show_controls, "speed", "loop")

    # ----------------------------------------------------------------- modes
    def set_mode(self, mode: str) -> None:
        """'file' (all controls), 'live' (the live label only) or 'none' (nothing open)."""
        if mode == self._mode:
            return
        self._mode = mode
        file_mode = mode == "file"
        for w in (self.play_button, self.slider, self.time_label, self.speed, self.loop):
            w.setVisible(file_mode)
        self.live_label.setVisible(mode == "live")
        self.setEnabled(mode != "none")

    def _show_controls(self, change: ControlsChange) -> None:
        """Show the model's speed (a speed not offered, as from ``--speed 3``, gets its own entry) and loop."""
        speed = change.new.speed
        i = next((i for i in range(self.speed.count()) if self.speed.itemData(i) == speed), -1)
        for box in (self.speed, self.loop):
            box.blockSignals(True)
        if i < 0:
            self.speed.addItem(f"{speed:g}×", speed)
            i = self.speed.count() - 1
        self.speed.setCurrentIndex(i)
        self.loop.setChecked(change.new.loop)
        for box in (self.speed, self.loop):
            box.blockSignals(False)

    def set_playing(self, playing: bool) -> None:
        """Reflect the pipeline's state without emitting a request."""
        self.play_button.blockSignals(True)
        self.play_button.setChecked(playing)
        self.play_button.setText("Pause" if playing else "Play")
        self.play_button.blockSignals(False)

    def show_position(self, position_us: int | None, time_range: tuple[int, int] | None, final: bool = True) -> None:
        """Follow the stream; ``final`` False: the end of a big file is still being found, so the range is a floor."""
        if time_range is None or position_us is None:
            return
        t0, t1 = time_range
        if not final:
            t1 = max(t1, position_us)
        self._range = (t0, t1)
        if self._pending_seek_us is not None:
            # Hold the slider where the user put it until the stream has caught up.
            if abs(position_us - self._pending_seek_us) > 200_000:
                return
            self._pending_seek_us = None
        if not self.slider.isSliderDown():
            frac = (position_us - t0) / max(t1 - t0, 1)
            self.slider.blockSignals(True)
            self.slider.setValue(round(min(max(frac, 0.0), 1.0) * _SLIDER_STEPS))
            self.slider.blockSignals(False)
        at_least = "" if final else "≥"
        self.time_label.setText(f"{format_time(position_us - t0)} / {at_least}{format_time(t1 - t0)}")
        self.time_label.setToolTip("" if final else "The end of this big recording is still being found")

    # -------------------------------------------------------------- requests
    def seek_to_fraction(self, frac: float) -> None:
        """Seek to a fraction of the recording (the slider's release and tests use it)."""
        if self._range is None:
            return
        t0, t1 = self._range
        t = int(t0 + min(max(frac, 0.0), 1.0) * (t1 - t0))
        self._pending_seek_us = t
        self.slider.blockSignals(True)
        self.slider.setValue(round(frac * _SLIDER_STEPS))
        self.slider.blockSignals(False)
        self.seekRequested.emit(t)

    def _slider_released(self) -> None:
        self.seek_to_fraction(self.slider.value() / _SLIDER_STEPS)

    def _slider_action(self, action: int) -> None:
        # Clicks on the groove and keyboard steps (not drags: those seek on release).
        if action != QSlider.SliderAction.SliderMove.value:
            pos = self.slider.sliderPosition()
            self.seek_to_fraction(pos / _SLIDER_STEPS)

    def _play_toggled(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        self.playToggled.emit(playing)
