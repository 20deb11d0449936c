"""Label bars: one per label, top-1 highlighted, under the top label's name; they feed the plot over time.

Bars are horizontal so long labels stay readable on the axis. A long list scrolls: rows are
``PITCH_PX`` apart when there is room and close up to ``MIN_PITCH_PX`` before the list scrolls,
so the window's height does not depend on the number of labels. Bars are fed from the
pipeline's latest scored timestep and redrawn only when a new timestep arrived.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from ui.elided_label import ElidedLabel
from ui.history_plot import TopLabelsPlot

MAX_BARS = 50  # more labels than this: the 50 most probable, sorted, and a line says so
PITCH_PX = 18  # a bar's row when there is room: every label readable at 10 pt
MIN_PITCH_PX = 14  # the closest rows before the list scrolls
MIN_ROWS = 3  # rows shown at the least, whatever the window's height
ASKED_ROWS = 24  # rows asked for at the most: a longer list scrolls even in a tall window, the plot keeps its share
PLOT_PAD_PX = 6
HINT_LINES = 3  # a longer hint is elided; the whole of it is the tooltip


def bar_order(labels: list[str], probs: np.ndarray, sort: bool, limit: int = MAX_BARS) -> list[int]:
    """Indices of the labels to draw, top to bottom."""
    if sort or len(labels) > limit:
        return [int(i) for i in np.argsort(-probs, kind="stable")[:limit]]
    return list(range(len(labels)))


class BarScroll(QScrollArea):
    """The bar plot in a vertical scroll area that asks for ``PITCH_PX`` a row (up to ``ASKED_ROWS`` rows) and
    settles for ``MIN_ROWS``."""

    def __init__(self, plot: QWidget) -> None:
        super().__init__()
        self.rows = -1
        self._plot_viewport = plot.viewport()
        self.setWidget(plot)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # pyqtgraph's view takes the wheel even with its mouse off; the wheel over the bars scrolls the list.
        self._plot_viewport.installEventFilter(self)
        self.set_rows(0)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # The scroll area filters its own scroll bars' events too: only the plot's wheel is passed on.
        if watched is self._plot_viewport and event.type() == QEvent.Type.Wheel:
            QApplication.sendEvent(self.verticalScrollBar(), event)
            return True
        return super().eventFilter(watched, event)

    def set_rows(self, rows: int) -> None:
        if rows != self.rows:
            self.rows = rows
            self.widget().setMinimumHeight(max(rows, 1) * MIN_PITCH_PX + PLOT_PAD_PX)
            self.updateGeometry()

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), min(max(self.rows, MIN_ROWS), ASKED_ROWS) * PITCH_PX + PLOT_PAD_PX)

    def minimumSizeHint(self) -> QSize:
        return QSize(super().minimumSizeHint().width(), MIN_ROWS * MIN_PITCH_PX + PLOT_PAD_PX)

    def scrolls(self) -> bool:
        """Whether some bars are out of view now."""
        return self.verticalScrollBar().maximum() > 0


class LabelBars(QWidget):
    """The top label, a sort toggle, a loading/hint line and the bar chart; ``history`` is the plot over time.

    The window places ``history`` (a widget of its own) where it likes; the bars feed it. ``labelClicked``
    fires with a bar's label when the user clicks it (or its name): the label whose relevance map the
    event view draws. ``set_selected`` outlines that bar.
    """

    labelClicked = Signal(str)

    def __init__(self, colours: theme.LabelColours | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        heading = QLabel("LABELS")
        heading.setObjectName("heading")
        self.sort_box = QCheckBox("Sort by probability")
        self.sort_box.setToolTip("Off: bars stay in the order the labels were typed")
        self.sort_box.toggled.connect(lambda _: self._redraw())
        self.prediction = ElidedLabel()
        self.prediction.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.prediction.setStyleSheet(f"font-size: 18pt; font-weight: bold; color: {theme.HIGHLIGHT};")
        self.prediction_share = QLabel("")
        self.prediction_share.setToolTip("The most probable label's share for the newest window of T timesteps")
        self.prediction_share.setStyleSheet(f"font-size: 12pt; color: {theme.MUTED};")
        self.prediction_share.ensurePolished()  # the style sheet's font, then a width for "100.0%": steady layout
        self.prediction_share.setFixedWidth(self.prediction_share.fontMetrics().horizontalAdvance("100.0%") + 6)
        self.hint = ElidedLabel(max_lines=HINT_LINES)
        self.hint.setObjectName("hint")
        self.hint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.limit_note = ElidedLabel()
        self.limit_note.setObjectName("hint")
        self.limit_note.setVisible(False)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # indeterminate: model loading has no progress to report
        self.busy.setMaximumHeight(4)
        self.busy.setTextVisible(False)
        self.busy.setVisible(False)

        self.plot = self._build_bar_plot()
        self.scroll = BarScroll(self.plot)
        self.selected: str | None = None  # the outlined bar's label
        self._texts: list[pg.TextItem] = []
        self.history = TopLabelsPlot(colours)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(heading)
        top.addSpacing(10)
        top.addWidget(self.prediction)
        top.addWidget(self.prediction_share)
        top.addStretch(1)
        top.addWidget(self.sort_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.busy)
        layout.addWidget(self.hint)
        layout.addWidget(self.limit_note)
        layout.addWidget(self.scroll, 1)

        self._labels: list[str] = []
        self._probs = np.zeros(0)
        self._min_confidence = 0.0  # below it the window names no label: the headline shows "–"
        self._named: bool | None = None  # whether the headline names a label (its colour follows)
        self._shown_step: tuple[int, int] | None = None
        self._epoch: int | None = None
        self.shown_labels: list[str] = []  # top to bottom, as drawn (tests read it)
        self.set_hint("Open a recording or a camera to start.")
        self._redraw()  # empty ticks, not pyqtgraph's default numbers

    def _build_bar_plot(self) -> pg.PlotWidget:
        """The horizontal bars, one per label, top to bottom."""
        plot = pg.PlotWidget()
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        plot.getPlotItem().setContentsMargins(0, 0, 0, 0)
        plot.getViewBox().invertY(True)
        plot.setXRange(0, 1.12, padding=0)
        plot.hideAxis("bottom")
        left = plot.getAxis("left")
        left.setStyle(tickLength=0, tickTextOffset=8)
        left.setTextPen(theme.TEXT)
        left.setPen(theme.BORDER)
        font = QFont()
        font.setPointSize(10)
        left.setTickFont(font)
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.72, width=[], brushes=[], pen=None)
        plot.addItem(self.bars)
        plot.scene().sigMouseClicked.connect(self._clicked)
        return plot

    # ---------------------------------------------------------------- state
    def headline(self) -> str:
        """The label named above the bars ("–" when none reaches the minimum confidence; "" before any)."""
        return self.prediction.text()

    def probabilities(self) -> dict[str, float]:
        """The latest timestep's probability for each label, in label order."""
        return {label: float(p) for label, p in zip(self._labels, self._probs, strict=True)}

    def set_hint(self, text: str, busy: bool = False) -> None:
        """A line above the bars (model loading, no labels yet); empty hides it."""
        self.hint.setText(text)
        self.hint.setVisible(bool(text))
        self.busy.setVisible(busy)

    def clear(self) -> None:
        self._labels = []
        self._probs = np.zeros(0)
        self._shown_step = None
        self._epoch = None
        self.scroll.set_rows(0)
        self.history.clear()
        self._redraw()

    def show_result(self, result: Any) -> None:
        """Draw a ``StepResult``'s scores; cheap when that timestep is already drawn."""
        if result is None or result.scores is None:
            return
        key = (result.step, result.epoch)
        if key == self._shown_step:
            return
        self._shown_step = key
        scores = result.scores
        labels = list(scores.labels)
        probs = np.asarray(scores.probs, dtype=np.float64)
        if result.epoch != self._epoch:  # a seek or a loop: earlier history is from another time
            self._epoch = result.epoch
            self.history.clear()
        self.scroll.set_rows(min(len(labels), MAX_BARS))
        self._labels = labels
        self._probs = probs
        self._min_confidence = result.min_confidence
        self._redraw()
        self.history.add(result.frame.t_end_us / 1e6, labels, probs)

    def set_selected(self, label: str | None) -> None:
        """Outline ``label``'s bar (the label whose map is drawn); None outlines none."""
        if label != self.selected:
            self.selected = label
            self._redraw()

    def _clicked(self, event: object) -> None:
        """A click on a bar or on its name, anywhere along its row, selects its label."""
        pos = event.scenePos()  # type: ignore[attr-defined]
        if not self.plot.plotItem.sceneBoundingRect().contains(pos):
            return
        row = round(self.plot.getViewBox().mapSceneToView(pos).y())
        if 0 <= row < len(self.shown_labels):
            self.labelClicked.emit(self.shown_labels[row])

    def bar_centre(self, label: str) -> tuple[float, float]:
        """Where ``label``'s bar is drawn, in the bar plot's widget pixels (for a click)."""
        row = self.shown_labels.index(label)
        vb = self.plot.getViewBox()
        scene = vb.mapViewToScene(pg.Point(0.05, float(row)))
        view = self.plot.mapFromScene(scene)
        return float(view.x()), float(view.y())

    # -------------------------------------------------------------- drawing
    def _redraw(self) -> None:
        order = bar_order(self._labels, self._probs, self.sort_box.isChecked())
        n = len(order)
        probs = self._probs[order] if n else np.zeros(0)
        top = int(np.argmax(self._probs)) if self._probs.size else -1
        named = top >= 0 and self._probs[top] >= self._min_confidence  # else "none of these": no bar is the top
        brushes = [pg.mkBrush(theme.HIGHLIGHT if i == top and named else theme.BAR) for i in order]
        # The chosen label's bar is outlined; pyqtgraph's BarGraphItem fails on an empty list of pens.
        pens = [pg.mkPen(theme.ACCENT, width=2) if self._labels[i] == self.selected else None for i in order] or None
        ys = np.arange(n, dtype=float)
        # y and width change together: BarGraphItem needs matching lengths when the count changes.
        self.bars.setOpts(x0=np.zeros(n), y=ys, width=probs, height=0.72, brushes=brushes, pens=pens)
        self.plot.getAxis("left").setTicks([[(float(i), self._labels[j]) for i, j in enumerate(order)]])
        self.plot.setYRange(-0.6, max(n, 1) - 0.4, padding=0)
        while len(self._texts) < n:
            text = pg.TextItem(anchor=(0, 0.5), color=theme.TEXT)
            self.plot.addItem(text)
            self._texts.append(text)
        for k, text in enumerate(self._texts):
            if k < n:
                text.setText(f"{probs[k] * 100:.1f}%")
                text.setColor(theme.HIGHLIGHT if order[k] == top and named else theme.MUTED)
                text.setPos(float(probs[k]) + 0.01, float(k))
                text.setVisible(True)
            else:
                text.setVisible(False)
        self.shown_labels = [self._labels[j] for j in order]
        self.prediction.setText((self._labels[top] if named else "–") if top >= 0 else "")
        if named != self._named:
            self._named = named
            colour = theme.HIGHLIGHT if named else theme.MUTED
            self.prediction.setStyleSheet(f"font-size: 18pt; font-weight: bold; color: {colour};")
        self.prediction_share.setText(f"{self._probs[top] * 100:.1f}%" if top >= 0 else "")
        over = len(self._labels) > MAX_BARS
        self.limit_note.setText(f"The {MAX_BARS} most probable of {len(self._labels)} labels, sorted" if over else "")
        self.limit_note.setVisible(over)
