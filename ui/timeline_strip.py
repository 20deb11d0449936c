"""The label timeline under the seek bar: one coloured band per range of each top label, and the log's labels.

The upper strip shows a ``TimelineSnapshot`` (``offline.label_timeline``): a recording's whole
length, filled as its background pass goes (the part not scored yet is dimmed, with how far it
is), or for a live source what was seen so far this session. The thin strip below it shows what
a prediction log beside the recording says the app named live. Hovering a band names its label,
and a click seeks to where the band starts (elsewhere: to the time clicked).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPoint, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QToolTip, QWidget

from neuroclip_live.offline.timeline import LabelRange  # numpy only: no torch for the window
from ui import theme

MAIN_HEIGHT = 16
LOG_HEIGHT = 6
GAP = 3


@dataclass(frozen=True)
class Band:
    """One drawn range: its label, times, peak probability and colour; ``log`` for the thin strip."""

    label: str
    t_start_us: int
    t_end_us: int
    peak: float
    colour: str
    log: bool = False


def format_seconds(us: float) -> str:
    return f"{us / 1e6:.2f} s"


class TimelineStrip(QWidget):
    """Paints the bands; ``seekRequested(t_us)`` on a click."""

    seekRequested = Signal(object)  # microseconds on the recording's clock (int64: a Qt int would overflow)

    def __init__(self, colours: theme.LabelColours | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colours = colours or theme.LabelColours()
        self.setMouseTracking(True)
        self.setFixedHeight(MAIN_HEIGHT)
        self.setToolTip("The top label over time")
        self._span: tuple[int, int] | None = None
        self._bands: list[Band] = []
        self._log_bands: list[Band] = []
        self._log: tuple[list[LabelRange], list[str]] = ([], [])  # the log's ranges and labels, coloured on show
        self._fraction = 0.0
        self._status = ""  # "scoring 45%", or a one-line note

    # ---------------------------------------------------------------- state
    def bands(self) -> list[Band]:
        """What is drawn: the timeline's bands, then the log's."""
        return [*self._bands, *self._log_bands]

    @property
    def status(self) -> str:
        return self._status

    @property
    def fraction(self) -> float:
        return self._fraction

    def clear(self) -> None:
        self._span = None
        self._bands, self._log_bands, self._log = [], [], ([], [])
        self._fraction, self._status = 0.0, ""
        self._fit_height()
        self.update()

    def show_timeline(
        self,
        ranges: tuple[LabelRange, ...] | list[LabelRange],
        span: tuple[int, int] | None,
        fraction: float,
        status: str,
    ) -> None:
        """The timeline's ranges (each label in its window-wide colour), the span of the axis, how much is scored
        and a status line."""
        self._span = span if span is not None else self._span
        colour = self.colours.of
        self._bands = [Band(r.label, r.t_start_us, r.t_end_us, r.peak, colour(r.label)) for r in ranges]
        self._colour_log()
        self._fraction = fraction
        self._status = status
        self.setToolTip(status or "The top label over time: hover a band for its label, click to go there")
        self.update()

    def show_log(self, ranges: list[LabelRange], labels: list[str]) -> None:
        """The labels a prediction log says were named live, as a thin second strip (none: hidden)."""
        self._log = (list(ranges), list(labels))
        self._colour_log()
        self._fit_height()
        self.update()

    def _colour_log(self) -> None:
        ranges, _ = self._log
        self._log_bands = [
            Band(r.label, r.t_start_us, r.t_end_us, r.peak, self.colours.of(r.label), log=True) for r in ranges
        ]

    def _fit_height(self) -> None:
        self.setFixedHeight(MAIN_HEIGHT + (GAP + LOG_HEIGHT if self._log_bands else 0))

    # ------------------------------------------------------------- geometry
    def _x(self, t_us: float) -> float:
        assert self._span is not None
        t0, t1 = self._span
        return (t_us - t0) / max(t1 - t0, 1) * self.width()

    def time_at(self, x: float) -> int | None:
        if self._span is None:
            return None
        t0, t1 = self._span
        return int(t0 + min(max(x / max(self.width(), 1), 0.0), 1.0) * (t1 - t0))

    def band_at(self, x: float, y: float) -> Band | None:
        """The band under a point (the thin strip below the main one holds the log's)."""
        t = self.time_at(x)
        if t is None:
            return None
        bands = self._log_bands if y > MAIN_HEIGHT else self._bands
        slack = (self._span[1] - self._span[0]) / max(self.width(), 1)  # a band narrower than a pixel is 1 px wide
        return next((b for b in bands if b.t_start_us - slack <= t <= b.t_end_us + slack), None)

    # ---------------------------------------------------------------- events
    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        band = self.band_at(pos.x(), pos.y())
        if band is not None:
            where = "logged live" if band.log else f"peak {band.peak * 100:.0f}%"
            text = f"{band.label}: {format_seconds(band.t_start_us)} – {format_seconds(band.t_end_us)} ({where})"
            QToolTip.showText(event.globalPosition().toPoint(), text, self)
        else:
            QToolTip.showText(event.globalPosition().toPoint(), self.toolTip(), self)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.position()
        self.click(QPoint(int(pos.x()), int(pos.y())))

    def click(self, pos: QPoint) -> None:
        """Seek to the band under ``pos`` (its start), or to the time there."""
        band = self.band_at(pos.x(), pos.y())
        t = band.t_start_us if band is not None else self.time_at(pos.x())
        if t is not None:
            self.seekRequested.emit(int(t))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        w = self.width()
        painter.fillRect(QRectF(0, 0, w, MAIN_HEIGHT), QColor(theme.BASE))
        if self._span is not None:
            for band in self.bands():
                y, h = (MAIN_HEIGHT + GAP, LOG_HEIGHT) if band.log else (0, MAIN_HEIGHT)
                x0, x1 = self._x(band.t_start_us), self._x(band.t_end_us)
                rect = QRectF(x0, y, max(x1 - x0, 1.0), h)
                painter.fillRect(rect, QColor(band.colour))
                if not band.log and rect.width() > painter.fontMetrics().horizontalAdvance(band.label) + 6:
                    painter.setPen(QColor(theme.BASE))
                    painter.drawText(rect.adjusted(3, 0, -3, 0), Qt.AlignmentFlag.AlignVCenter, band.label)
        if self._fraction < 1.0:  # what the background pass has not reached yet
            x = self._fraction * w
            painter.fillRect(QRectF(x, 0, w - x, MAIN_HEIGHT), QColor(theme.PANEL))
        if self._status:
            painter.setPen(QColor(theme.MUTED))
            painter.drawText(
                QRectF(0, 0, w - 4, MAIN_HEIGHT),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                self._status,
            )
        painter.end()
