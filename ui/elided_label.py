"""A label that shortens its text with "…" to the room it is given, and shows the whole text in its tooltip.

Qt's QLabel cuts text at the widget's edge, mid-word and without a mark ("no c" for "no camera
connected"); ``QFontMetrics.elidedText`` does one line only, so the wrapped case goes through
``QTextLayout`` (Qt's own line breaking) and elides the last line that fits.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QTextLayout
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


def wrap_lines(text: str, font: QFont, width: int) -> list[str]:
    """``text`` broken into lines no wider than ``width`` pixels, as Qt's word wrap would break it."""
    if not text or width <= 0:
        return [text] if text else []
    layout = QTextLayout(text, font)
    layout.beginLayout()
    starts: list[tuple[int, int]] = []
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        starts.append((line.textStart(), line.textLength()))
    layout.endLayout()
    return [text[s : s + n].strip() for s, n in starts]


def elide_lines(text: str, font: QFont, width: int, max_lines: int) -> list[str]:
    """At most ``max_lines`` wrapped lines, each within ``width``: the last one of more, or a word too long
    for a line (a file name), ends in "…"."""
    lines = wrap_lines(" ".join(text.split()), font, width)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], " ".join(lines[max_lines - 1 :])]
    metrics = QFontMetrics(font)
    return [metrics.elidedText(line, Qt.TextElideMode.ElideRight, width) for line in lines]


ELIDE_SLACK_PX = 4  # QLabel paints a few pixels inside its contents rect: a full-width "…" lost its last dot


class ElidedLabel(QLabel):
    """Plain text in up to ``max_lines`` lines, elided to the width it gets; ``text()`` is the whole text.

    Its minimum is one line (none when empty) and its preferred height the lines the text needs, so a
    layout short of room takes lines away rather than pushing its neighbours out of place.
    """

    def __init__(self, text: str = "", max_lines: int = 1, keep_px: int = 0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.keep_px = keep_px  # a text up to this wide is never shortened (its minimum is the whole of it)
        self._full = ""
        self._wanted = 0  # lines asked for in the last size hint
        self.max_lines = max(1, max_lines)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(False)
        self.setIndent(0)  # a style sheet's padding makes QLabel indent the text too, past the elided width
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:
        text = text or ""
        if text == self._full:
            return
        self._full = text
        self.setToolTip(text)
        self._refit()
        self.updateGeometry()

    def text(self) -> str:
        return self._full

    def shown_text(self) -> str:
        """What is drawn now (elided, lines joined by newlines)."""
        return super().text()

    def is_elided(self) -> bool:
        """Whether part of the text is left out (line breaks and spacing aside)."""
        return "".join(self.shown_text().split()) != "".join(self._full.split())

    def _lines(self, max_lines: int) -> list[str]:
        self.ensurePolished()  # a style sheet's font applies from the polish on
        width = self.contentsRect().width() - ELIDE_SLACK_PX
        if width <= 0:
            return [self._full] if self._full else []
        return elide_lines(self._full, self.font(), width, max_lines)

    def _refit(self) -> None:
        spacing = max(self.fontMetrics().lineSpacing(), 1)
        room = max(1, self.contentsRect().height() // spacing)
        super().setText("\n".join(self._lines(min(self.max_lines, room))))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._refit()
        if self.max_lines > 1 and self._wanted_lines() != self._wanted:
            self.updateGeometry()  # another width needs another number of lines: ask the layout again

    def _height_for(self, lines: int) -> int:
        m = self.contentsMargins()
        return lines * self.fontMetrics().lineSpacing() + m.top() + m.bottom()

    def _wanted_lines(self) -> int:
        return max(len(self._lines(self.max_lines)) if self.max_lines > 1 else 1, 1)

    def _width_for(self, text: str) -> int:
        m = self.contentsMargins()
        return self.fontMetrics().horizontalAdvance(text) + m.left() + m.right() + ELIDE_SLACK_PX + 2  # rounding

    def sizeHint(self) -> QSize:
        self.ensurePolished()  # a style sheet's font and padding apply from the polish on
        width = self._width_for(" ".join(self._full.split()))
        self._wanted = self._wanted_lines()
        return QSize(width, self._height_for(self._wanted))

    def minimumSizeHint(self) -> QSize:
        self.ensurePolished()
        whole = self._width_for(" ".join(self._full.split()))
        return QSize(max(self._width_for("…"), min(whole, self.keep_px)), self._height_for(1))
