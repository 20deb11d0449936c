"""Label bars (one per label, top-1 highlighted) and the top labels' probabilities over time.

Bars are horizontal so long labels stay readable on the axis. They are fed
from the pipeline's latest scored timestep and redrawn only when a new
timestep arrived.
"""

from __future__ import annotations

import html
from collections import deque
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from ui import theme

MAX_BARS = 20  # more labels than this: show the 20 most probable, sorted
HISTORY_S = 5.0  # seconds of stream time in the probability plot
HISTORY_TOP = 3  # labels drawn in the probability plot


def bar_order(labels: list[str], probs: np.ndarray, sort: bool, limit: int = MAX_BARS) -> list[int]:
    """Indices of the labels to draw, top to bottom."""
    if sort or len(labels) > limit:
        return [int(i) for i in np.argsort(-probs, kind="stable")[:limit]]
    return list(range(len(labels)))


class LabelBars(QWidget):
    """The bar chart, a sort toggle, a loading/hint line and the probability-over-time plot."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        heading = QLabel("LABELS")
        heading.setObjectName("heading")
        self.sort_box = QCheckBox("Sort by probability")
        self.sort_box.setToolTip("Off: bars stay in the order the labels were typed")
        self.sort_box.toggled.connect(lambda _: self._redraw())
        self.prediction = QLabel("")
        self.prediction.setToolTip("The most probable label for the newest window of T timesteps")
        self.prediction.setTextFormat(Qt.TextFormat.RichText)
        self.hint = QLabel("")
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # indeterminate: model loading has no progress to report
        self.busy.setMaximumHeight(4)
        self.busy.setTextVisible(False)
        self.busy.setVisible(False)

        self.plot = self._build_bar_plot()
        self._texts: list[pg.TextItem] = []

        self.history_plot = self._build_history_plot()
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._history: dict[str, deque[tuple[float, float]]] = {}

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(heading)
        top.addStretch(1)
        top.addWidget(self.sort_box)
        history_heading = QLabel("TOP LABELS OVER TIME")
        history_heading.setObjectName("heading")
        # The key sits beside the heading, not on the plot: a legend inside covered the lines.
        self.history_key = QLabel("")
        self.history_key.setTextFormat(Qt.TextFormat.RichText)
        history_top = QHBoxLayout()
        history_top.setContentsMargins(0, 0, 0, 0)
        history_top.addWidget(history_heading)
        history_top.addStretch(1)
        history_top.addWidget(self.history_key)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.prediction)
        layout.addWidget(self.busy)
        layout.addWidget(self.hint)
        layout.addWidget(self.plot, 1)
        layout.addLayout(history_top)
        layout.addWidget(self.history_plot)

        self._labels: list[str] = []
        self._probs = np.zeros(0)
        self._min_confidence = 0.0  # below it the window names no label: the headline shows "–"
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
        plot.setMinimumHeight(160)
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.72, width=[], brushes=[], pen=None)
        plot.addItem(self.bars)
        return plot

    def _build_history_plot(self) -> pg.PlotWidget:
        """The probability of the top labels over the last seconds of stream time."""
        plot = pg.PlotWidget()
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        plot.setYRange(-0.03, 1.06, padding=0)
        plot.setXRange(-HISTORY_S, 0, padding=0)
        plot.showGrid(x=False, y=True, alpha=0.15)
        plot.setLabel("bottom", "seconds of stream time")
        plot.getAxis("bottom").setTickSpacing(1, 1)
        plot.getAxis("left").setTicks([[(0, "0"), (0.5, "50%"), (1, "100%")]])
        plot.setMaximumHeight(200)
        plot.setMinimumHeight(150)  # the label bars give way first: squeezed to 80 px the lines were unreadable
        return plot

    # ---------------------------------------------------------------- state
    def headline(self) -> str:
        """The label named above the bars, as plain text ("–" when none reaches the minimum confidence)."""
        if self.prediction.isHidden():
            return ""
        return html.unescape(self.prediction.text().split(">", 1)[-1].split("<", 1)[0])

    def probabilities(self) -> dict[str, float]:
        """The latest timestep's probability for each label, in label order."""
        return {label: float(p) for label, p in zip(self._labels, self._probs, strict=True)}

    def history_lengths(self) -> dict[str, int]:
        """Points held per label in the over-time plot (since the last seek or label change)."""
        return {label: len(points) for label, points in self._history.items()}

    def plotted_labels(self) -> set[str]:
        """The labels that have a curve in the over-time plot."""
        return set(self._curves)

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
        self._history.clear()
        self._redraw()
        self._update_history_curves()

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
            self._history.clear()
        if labels != self._labels:
            for gone in set(self._history) - set(labels):
                del self._history[gone]
            # About 18 px a bar keeps every label readable; the plot below gives up the room.
            self.plot.setMinimumHeight(min(440, max(160, 18 * len(labels) + 20)))
        self._labels = labels
        self._probs = probs
        self._min_confidence = result.min_confidence
        t = result.frame.t_end_us / 1e6
        for label, p in zip(labels, probs, strict=True):
            h = self._history.setdefault(label, deque())
            h.append((t, float(p)))
            while h and t - h[0][0] > HISTORY_S:
                h.popleft()
        self._redraw()
        self._update_history_curves(t)

    # -------------------------------------------------------------- drawing
    def _redraw(self) -> None:
        order = bar_order(self._labels, self._probs, self.sort_box.isChecked())
        n = len(order)
        probs = self._probs[order] if n else np.zeros(0)
        top = int(np.argmax(self._probs)) if self._probs.size else -1
        named = top >= 0 and self._probs[top] >= self._min_confidence  # else "none of these": no bar is the top
        brushes = [pg.mkBrush(theme.HIGHLIGHT if i == top and named else theme.BAR) for i in order]
        ys = np.arange(n, dtype=float)
        # y and width change together: BarGraphItem needs matching lengths when the count changes.
        self.bars.setOpts(x0=np.zeros(n), y=ys, width=probs, height=0.72, brushes=brushes)
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
        if top >= 0:
            headline, colour = (html.escape(self._labels[top]), theme.HIGHLIGHT) if named else ("–", theme.MUTED)
            self.prediction.setText(
                f'<span style="font-size: 20pt; font-weight: bold; color: {colour};">{headline}</span>'
                f'<span style="font-size: 13pt; color: {theme.MUTED};">&nbsp;&nbsp;{self._probs[top] * 100:.1f}%</span>'
            )
        else:
            self.prediction.setText("")
        self.prediction.setVisible(top >= 0)

    def _update_history_curves(self, now: float | None = None) -> None:
        if now is None or not self._labels:
            wanted: list[str] = []
        else:
            wanted = [self._labels[int(i)] for i in np.argsort(-self._probs, kind="stable")[:HISTORY_TOP]]
        for label in list(self._curves):
            if label not in wanted:
                self.history_plot.removeItem(self._curves.pop(label))
        for label in wanted:
            points = self._history.get(label)
            if not points:
                continue
            curve = self._curves.get(label)
            if curve is None:
                # A label keeps its line colour while it is drawn; a new one takes the first free colour.
                used = {c.opts["pen"].color().name() for c in self._curves.values()}
                colour = next((c for c in theme.SERIES if c not in used), theme.SERIES[0])
                curve = self.history_plot.plot(pen=pg.mkPen(colour, width=2), name=label)
                self._curves[label] = curve
            assert now is not None
            ts = np.fromiter((t - now for t, _ in points), dtype=float, count=len(points))
            ps = np.fromiter((p for _, p in points), dtype=float, count=len(points))
            curve.setData(ts, ps)
        self.history_key.setText(
            "&nbsp;&nbsp;".join(
                f'<span style="color:{c.opts["pen"].color().name()}">━</span> {html.escape(label)}'
                for label, c in self._curves.items()
            )
        )
