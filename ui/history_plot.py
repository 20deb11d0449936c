"""The top labels' probabilities over the last seconds of stream time.

Every label that was among the top three at some timestep still in view keeps its curve (the
circle's 97% stays on the plot when the star comes), up to ``MAX_CURVES`` curves: the newest
top label first, then the highest peaks. One probability vector is kept per timestep drawn, bounded
by time and by count.
"""

from __future__ import annotations

import html
from collections import deque
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ui import theme

HISTORY_S = 5.0  # seconds of stream time in view
HISTORY_TOP = 3  # a label among the top three at a timestep in view keeps its curve
MAX_CURVES = 6  # at most this many curves (and colours), so the plot stays readable
MAX_STEPS = 1024  # a bound by count too: the window shows one timestep a redraw, about 33 a second
PLOT_MIN_HEIGHT = 118  # below this the lines and the 50% grid line run together


@dataclass(frozen=True)
class _Step:
    t: float
    index: dict[str, int]  # label -> column of probs; shared by every step with the same labels
    probs: np.ndarray
    top: tuple[str, ...]


class ProbabilityHistory:
    """The probabilities of recent timesteps, and which labels deserve a curve (no Qt)."""

    def __init__(self, span_s: float = HISTORY_S, top: int = HISTORY_TOP, max_steps: int = MAX_STEPS) -> None:
        self.span_s = span_s
        self.top = top
        self._steps: deque[_Step] = deque(maxlen=max_steps)
        self._index: dict[str, int] = {}

    def clear(self) -> None:
        self._steps.clear()

    def add(self, t: float, labels: list[str], probs: np.ndarray) -> None:
        if list(self._index) != labels:
            self._index = {label: i for i, label in enumerate(labels)}
        order = np.argsort(-probs, kind="stable")[: self.top]
        self._steps.append(_Step(t, self._index, np.asarray(probs, dtype=np.float32), tuple(labels[i] for i in order)))
        while self._steps and t - self._steps[0].t > self.span_s:
            self._steps.popleft()

    def curve(self, label: str) -> tuple[np.ndarray, np.ndarray]:
        """(seconds before now, probability) of ``label`` at each kept timestep that scored it."""
        steps = [s for s in self._steps if label in s.index]
        if not steps:
            return np.zeros(0), np.zeros(0)
        now = self._steps[-1].t
        ts = np.fromiter((s.t - now for s in steps), dtype=float, count=len(steps))
        ps = np.fromiter((s.probs[s.index[label]] for s in steps), dtype=float, count=len(steps))
        return ts, ps

    def chosen(self, limit: int = MAX_CURVES) -> list[str]:
        """The labels to draw: those among the top ones at some timestep in view and still scored now."""
        if not self._steps:
            return []
        latest = self._steps[-1]
        candidates = {label for s in self._steps for label in s.top if label in latest.index}
        peak = {label: float(self.curve(label)[1].max()) for label in candidates}
        newest_top = latest.top[0]
        return sorted(candidates, key=lambda label: (label != newest_top, -peak[label], label))[:limit]

    def lengths(self) -> dict[str, int]:
        """Timesteps kept per label of the newest timestep."""
        if not self._steps:
            return {}
        return {label: sum(label in s.index for s in self._steps) for label in self._steps[-1].index}


class _KeyLabel(QLabel):
    """The line colours and their labels, as many as the width holds; all of them in the tooltip."""

    def __init__(self) -> None:
        super().__init__("")
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.setStyleSheet("font-size: 9pt;")
        self.entries: list[tuple[str, str]] = []  # (label, colour)

    def set_entries(self, entries: list[tuple[str, str]]) -> None:
        self.entries = entries
        self.setToolTip("\n".join(label for label, _ in entries))
        self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        self.ensurePolished()  # the style sheet's font
        metrics = self.fontMetrics()
        room = self.width() or 10_000
        shown: list[str] = []
        used = 0
        for i, (label, colour) in enumerate(self.entries):
            width = metrics.horizontalAdvance(f"━{label}   ")
            rest = len(self.entries) - i - 1
            reserve = metrics.horizontalAdvance(f"+{rest}") if rest else 0
            if shown and used + width + reserve > room:
                shown.append(f"+{rest + 1}")
                break
            used += width
            shown.append(f'<span style="color:{colour}">━</span>{html.escape(label)}')
        self.setText("&nbsp;&nbsp;&nbsp;".join(shown))


class TopLabelsPlot(QWidget):
    """A heading with the line key, and the plot; fed one scored timestep at a time."""

    def __init__(self, colours: theme.LabelColours | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data = ProbabilityHistory()
        self.colours = colours or theme.LabelColours()
        heading = QLabel("TOP LABELS OVER TIME")
        heading.setObjectName("heading")
        heading.setToolTip(
            f"The last {HISTORY_S:g} s of stream time: every label that was among the top {HISTORY_TOP} "
            f"(at most {MAX_CURVES} curves)"
        )
        # The key sits beside the heading, not on the plot: a legend inside covered the lines.
        self.key = _KeyLabel()
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(heading)
        top.addSpacing(12)
        top.addWidget(self.key, 1)
        self.plot = self._build_plot()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.plot, 1)
        self._curves: dict[str, pg.PlotDataItem] = {}

    def _build_plot(self) -> pg.PlotWidget:
        plot = pg.PlotWidget()
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        plot.setYRange(-0.1, 1.15, padding=0)  # room for the "0" and "100%" tick labels at the ends
        plot.setXRange(-HISTORY_S, 0, padding=0)
        plot.showGrid(x=False, y=True, alpha=0.15)
        # Units on the ticks instead of an axis title: the title took a line the curves need.
        ticks = [(-float(s), f"−{s} s") for s in range(int(HISTORY_S), 0, -1)] + [(0.0, "now")]
        plot.getAxis("bottom").setTicks([ticks])
        left = plot.getAxis("left")
        left.setTicks([[(0, "0"), (0.5, "50%"), (1, "100%")]])
        plot.setMinimumHeight(PLOT_MIN_HEIGHT)
        return plot

    # ---------------------------------------------------------------- state
    def plotted_labels(self) -> set[str]:
        """The labels that have a curve now."""
        return set(self._curves)

    def key_labels(self) -> list[str]:
        """The labels of the key, in its order."""
        return [label for label, _ in self.key.entries]

    def history_lengths(self) -> dict[str, int]:
        """Timesteps held per label (since the last seek, loop or clear)."""
        return self.data.lengths()

    # -------------------------------------------------------------- updates
    def clear(self) -> None:
        self.data.clear()
        self._redraw()

    def add(self, t: float, labels: list[str], probs: np.ndarray) -> None:
        self.data.add(t, labels, probs)
        self._redraw()

    def _redraw(self) -> None:
        wanted = self.data.chosen()
        for label in list(self._curves):
            if label not in wanted:
                self.plot.removeItem(self._curves.pop(label))
        for label in wanted:
            curve = self._curves.get(label)
            if curve is None:
                # A label's colour is the timeline strip's (the window's one LabelColours); only when another
                # drawn line has it already (11+ labels coloured) does it take a free one, kept while it is drawn.
                used = {c.opts["pen"].color().name() for c in self._curves.values()}
                colour = self.colours.of(label)
                if colour in used:
                    colour = next((c for c in theme.SERIES if c not in used), colour)
                curve = self.plot.plot(pen=pg.mkPen(colour, width=2), name=label)
                self._curves[label] = curve
            curve.setData(*self.data.curve(label))
        self.key.set_entries([(label, self._curves[label].opts["pen"].color().name()) for label in wanted])
