"""One dark look for the whole window: Qt palette, pyqtgraph defaults and the colours widgets share.

Dark because event frames and probability bars read best on a dark ground,
and one theme everywhere (no light pyqtgraph plots inside a dark window).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from neuroclip_live.states import StreamState

BACKGROUND = "#1b1d23"
WINDOW_RGB = (0x1B, 0x1D, 0x23)  # BACKGROUND as a tuple, for lookup tables
PANEL = "#23262d"
BASE = "#15171b"
BORDER = "#343842"
TEXT = "#e4e6eb"
MUTED = "#9aa0ab"
DISABLED = "#5d636e"
ACCENT = "#4fc3f7"  # selection, live indicators
HIGHLIGHT = "#ffb300"  # the top-1 label
BAR = "#4a5566"  # every other label
RECORD = "#ef5350"

# Event polarity colours for the colour mode (blue/orange stay apart for colour-blind readers).
EVENT_BACKGROUND = (21, 23, 27)
EVENT_ON = (79, 195, 247)
EVENT_OFF = (255, 112, 67)
TILE_GAP = (52, 56, 66)

# Stable per-label line colours for the probability-over-time plot.
# No amber here: amber marks the top-1 bar, and a line must not look like it is the top-1 label.
# 20 line and band colours, so tiny-digits' 16 labels are all apart: the first ten, then lighter or other hues.
SERIES = [
    "#4fc3f7",
    "#ba68c8",
    "#81c784",
    "#e57373",
    "#e0e0e0",
    "#a1887f",
    "#4db6ac",
    "#f06292",
    "#7986cb",
    "#90a4ae",
    "#fff176",
    "#ff8a65",
    "#aed581",
    "#9575cd",
    "#4dd0e1",
    "#f48fb1",
    "#dce775",
    "#64b5f6",
    "#bcaaa4",
    "#ffcc80",
]

# Source state -> pill colour in the status bar.
STATE_COLOURS: dict[str, str] = {
    StreamState.PLAYING: "#2e7d32",
    StreamState.LIVE: "#2e7d32",
    StreamState.PAUSED: "#8d6e00",
    StreamState.LOADING_MODEL: "#1565c0",
    StreamState.STARTING: "#1565c0",
    StreamState.DISCONNECTED: "#c62828",
    StreamState.NO_DATA: "#8d6e00",
    StreamState.ERROR: "#c62828",
    StreamState.ENDED: "#4a5566",
    StreamState.STOPPED: "#4a5566",
    "no source": "#4a5566",  # the window's own state before anything is opened
}

STYLE_SHEET = f"""
QMainWindow, QDialog {{ background: {BACKGROUND}; }}
QWidget {{ color: {TEXT}; font-size: 10pt; }}
QToolBar {{ background: {PANEL}; border: none; border-bottom: 1px solid {BORDER}; spacing: 4px; padding: 3px; }}
QToolButton {{ padding: 4px 8px; border-radius: 4px; }}
QToolButton:hover {{ background: {BORDER}; }}
QToolButton:checked {{ background: #3a4150; }}
QStatusBar {{ background: {PANEL}; border-top: 1px solid {BORDER}; }}
QStatusBar QLabel {{ color: {MUTED}; padding: 0 6px; }}
QTabWidget::pane {{ border: 1px solid {BORDER}; border-radius: 4px; top: -1px; }}
QTabBar::tab {{ background: {PANEL}; padding: 5px 12px; border: 1px solid {BORDER};
               border-bottom: none; border-top-left-radius: 4px; border-top-right-radius: 4px; }}
QTabBar::tab:selected {{ background: #2c3039; color: {TEXT}; }}
QTabBar::tab:!selected {{ color: {MUTED}; }}
QPlainTextEdit, QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox {{
    background: {BASE}; border: 1px solid {BORDER}; border-radius: 4px; padding: 3px 5px;
    selection-background-color: #2f5d78; }}
QPlainTextEdit {{ font-family: "DejaVu Sans Mono"; }}
QPushButton {{ background: #2c3039; border: 1px solid {BORDER}; border-radius: 4px; padding: 4px 12px; }}
QPushButton:hover {{ background: #353a45; }}
QPushButton:disabled {{ color: {DISABLED}; }}
QToolButton:disabled {{ color: {DISABLED}; }}
QPushButton:checked {{ background: #1f5f80; border-color: #2f7ca3; }}
QPushButton#primary {{ background: #1f5f80; border-color: #2f7ca3; }}
QPushButton#primary:hover {{ background: #25709a; }}
QSlider::groove:horizontal {{ height: 4px; background: {BORDER}; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {TEXT}; width: 12px; margin: -5px 0; border-radius: 6px; }}
QLabel#heading {{ color: {MUTED}; font-weight: bold; font-size: 9pt; letter-spacing: 1px; }}
QLabel#hint {{ color: {MUTED}; }}
QSplitter::handle {{ background: {BACKGROUND}; }}
"""


def apply_theme(app: QApplication) -> None:
    """Fusion style, a dark palette and the style sheet; pyqtgraph follows."""
    app.setStyle("Fusion")
    pal = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, BACKGROUND),
        (QPalette.ColorRole.WindowText, TEXT),
        (QPalette.ColorRole.Base, BASE),
        (QPalette.ColorRole.AlternateBase, PANEL),
        (QPalette.ColorRole.Text, TEXT),
        (QPalette.ColorRole.Button, PANEL),
        (QPalette.ColorRole.ButtonText, TEXT),
        (QPalette.ColorRole.Highlight, "#2f5d78"),
        (QPalette.ColorRole.HighlightedText, TEXT),
        (QPalette.ColorRole.ToolTipBase, PANEL),
        (QPalette.ColorRole.ToolTipText, TEXT),
        (QPalette.ColorRole.PlaceholderText, MUTED),
    ):
        pal.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(DISABLED))
    app.setPalette(pal)
    app.setStyleSheet(STYLE_SHEET)
    configure_pyqtgraph()


def configure_pyqtgraph() -> None:
    pg.setConfigOptions(background=BACKGROUND, foreground=MUTED, antialias=True)


class LabelColours:
    """One colour per label for the whole window: the timeline strip, its log and the history plot ask here.

    A label gets the first colour no label holds yet, when it is first drawn, and keeps it: the timeline's
    labels come in the order they show in the recording, so the first twenty drawn are all apart (a colour by
    the label's place among 16 labels gave the "0" and the "circle" one colour). Past twenty, colours repeat.
    """

    def __init__(self, limit: int = 256) -> None:
        self._colours: dict[str, str] = {}
        self._limit = limit  # a long session of label edits starts over rather than grow without bound

    def of(self, label: str) -> str:
        colour = self._colours.get(label)
        if colour is None:
            if len(self._colours) >= self._limit:
                self._colours.clear()
            held = set(self._colours.values())
            free = [c for c in SERIES if c not in held]
            colour = free[0] if free else SERIES[len(self._colours) % len(SERIES)]
            self._colours[label] = colour
        return colour
