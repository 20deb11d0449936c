"""The status bar: source state in words, the stream's figures, and the recording indicator."""

from __future__ import annotations

import time

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar, QWidget

from neuroclip_live.runtime.pipeline import Snapshot
from neuroclip_live.stream.rate_limit import format_rate as format_limit
from ui import theme
from ui.elided_label import ElidedLabel

PROBLEM_HOLD_S = 10.0  # a problem line (a recording error, a damaged log) stays this long unless the stream says more
MIN_MESSAGE_PX = 80  # "no camera co…" at the narrowest; a wider window gives it the rest
KEEP_SOURCE_PX = 180  # a source name up to this wide is always whole; a longer one ends in …
RUN_TIP = "Model, timestep rule and window length T"
ENGINE_TIP = "Where the image encoder runs, at which precision (Settings: Backend, Precision)"
KEEP_RUN_PX = 120  # "tiny-digits · 30ms…" at the narrowest
KEEP_ENGINE_PX = 110  # "OpenVINO bf16 ·…" at the narrowest


def format_rate(events_per_s: float) -> str:
    """Fixed decimals, so the live field keeps its width (a limit is shown as typed: ``rate_limit.format_rate``)."""
    if events_per_s >= 1e6:
        return f"{events_per_s / 1e6:.2f} Mev/s"
    if events_per_s >= 1e3:
        return f"{events_per_s / 1e3:.1f} kev/s"
    return f"{events_per_s:.0f} ev/s"


class FigureLabel(QLabel):
    """A status field that keeps room for its usual widest value and grows past it only for a wider one.

    The window's minimum width is the sum of these: it stays put while the figures change at each
    redraw (every change of it is a round trip to the window system).
    """

    def __init__(self, widest: str) -> None:
        super().__init__("")
        self.widest = widest
        self._room: int | None = None  # the width for ``widest``, once the label has shown a text

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        if self._room is None and self.text():
            # What QLabel adds to a text (padding, frame, indent), measured on the text it shows, plus the widest.
            metrics = self.fontMetrics()
            self._room = (
                hint.width() - metrics.horizontalAdvance(self.text()) + metrics.horizontalAdvance(self.widest) + 2
            )
        return QSize(max(hint.width(), self._room or 0), hint.height())


class StatusBar(QStatusBar):
    """Permanent fields, updated from each snapshot; the message field holds one-line errors and notes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeGripEnabled(False)
        self.state_label = FigureLabel("loading model")
        self.source_label = ElidedLabel(keep_px=KEEP_SOURCE_PX)  # only a long file name is shortened
        self.source_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.source_label.setVisible(False)
        # What runs, and where: whole when there is room; on a laptop screen they give way before the
        # figures do (the whole text in the tooltip), so the window keeps fitting 1280 px.
        self.run_label = ElidedLabel(keep_px=KEEP_RUN_PX)
        self.engine_label = ElidedLabel(keep_px=KEEP_ENGINE_PX)
        for w in (self.run_label, self.engine_label):
            w.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.message_label = ElidedLabel()  # "no camera connected (neither…", the whole line in its tooltip
        self.message_label.setMinimumWidth(MIN_MESSAGE_PX)
        self.rate_label = FigureLabel("999.9 kev/s")
        self.steps_label = FigureLabel("99.9 steps/s")
        self.inference_label = FigureLabel("inference 99.9 ms")
        self.latency_label = FigureLabel("latency 99 ms")
        self.drops_label = FigureLabel("drops 99")
        self.record_label = QLabel("")
        self.record_label.setStyleSheet(f"color: {theme.RECORD}; font-weight: bold;")
        self.record_label.setVisible(False)
        # Figures keep their full width (they were cut to "T=:", "no \\", "unk" in a narrow window);
        # the message gives way first and shows the whole line in its tooltip.
        self._figures = (
            self.rate_label,
            self.steps_label,
            self.inference_label,
            self.latency_label,
            self.drops_label,
        )
        for w in (self.state_label, *self._figures, self.record_label):
            w.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)
        self._described = (self.source_label, self.run_label, self.engine_label)
        self.addWidget(self.state_label)
        self.addWidget(self.source_label)
        self.addWidget(self.run_label)
        self.addWidget(self.engine_label)
        self.addWidget(self.message_label, 1)
        for w in (
            self.record_label,
            self.rate_label,
            self.steps_label,
            self.inference_label,
            self.latency_label,
            self.drops_label,
        ):
            self.addPermanentWidget(w)
        self.rate_label.setToolTip("Events read per second of wall time")
        self.steps_label.setToolTip("Timesteps scored per second")
        self.inference_label.setToolTip("Model time per timestep")
        self.latency_label.setToolTip("From a timestep's last event to its scores")
        self.drops_label.setToolTip(
            "Frames dropped because the model could not keep up (oldest first), and events dropped by the "
            "event-rate limit (--max-rate, or automatic when a live source outruns the reader)"
        )
        self._state = ""
        self._problem: tuple[str, float] | None = None  # a line from ``show_problem`` and when it came
        self.show_state("no source")

    @property
    def state_text(self) -> str:
        return self._state

    @property
    def message_text(self) -> str:
        return self.message_label.text()

    def show_state(self, state: str, message: str = "") -> None:
        if state != self._state:
            self._state = state
            colour = theme.STATE_COLOURS.get(state, theme.BAR)
            self.state_label.setText(state)
            self.state_label.setStyleSheet(
                f"background: {colour}; color: white; border-radius: 8px; padding: 1px 10px; font-weight: bold;"
            )
        if not message and self._problem is not None:
            text, since = self._problem
            if time.monotonic() - since < PROBLEM_HOLD_S:
                message = text  # the snapshot, redrawn 33 times a second, has nothing to say over it
        self.message_label.setText(message)
        self.message_label.setToolTip(message)

    def show_problem(self, message: str) -> None:
        """A one-line problem (never a traceback), held ``PROBLEM_HOLD_S`` while the stream's own message is empty."""
        self._problem = (message, time.monotonic())
        self.message_label.setText(message)
        self.message_label.setToolTip(message)

    def show_snapshot(self, snap: Snapshot, has_model: bool) -> None:
        self.show_state(snap.state, snap.message)
        self.source_label.setText(snap.source_name)
        self.source_label.setVisible(bool(snap.source_name))  # no empty room held before a source opens
        self.engine_label.setText(snap.model_engine if has_model else "")
        self.engine_label.setToolTip(f"{ENGINE_TIP}: {snap.model_engine}" if has_model and snap.model_engine else "")
        st = snap.stats
        self.rate_label.setText(format_rate(st.event_rate))
        self.steps_label.setText(f"{st.steps_per_s:.1f} steps/s")
        self.inference_label.setText(f"inference {st.inference_ms:.1f} ms" if has_model else "no model")
        self.latency_label.setText(f"latency {st.latency_ms:.0f} ms")
        text = f"drops {st.drops:,}"
        if st.events_dropped:
            limit = f" (limit {format_limit(st.rate_limit)})" if st.rate_limit else ""
            text += f" · events dropped {st.events_dropped:,}{limit}"
        self.drops_label.setText(text)
        self.drops_label.setStyleSheet(f"color: {theme.HIGHLIGHT};" if st.drops or st.events_dropped else "")

    def show_run(self, text: str) -> None:
        """What is running: 'tiny-digits · 30ms timesteps · T=10'."""
        self.run_label.setText(text)
        self.run_label.setToolTip(f"{RUN_TIP}: {text}")

    def clear_figures(self) -> None:
        for w in (*self._described, *self._figures):
            w.setText("")
        self.source_label.setVisible(False)

    def show_recording(self, text: str | None) -> None:
        """'● REC name.aedat4 · 12,345 events', or None to hide the indicator."""
        self.record_label.setVisible(text is not None)
        self.record_label.setText(text or "")
