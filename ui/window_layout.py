"""How the main window is laid out, and how big it opens.

Left: the start page, or the event view over the playback bar and the label timeline. Right, top to bottom: the label
bars, as tall as the labels ask (they scroll when the window is short), then the top labels over
time and the Labels/Settings/Teach tabs, which share the height that remains. Each part has a fixed
minimum, so the window's minimum size does not grow with the number of labels or a long hint:
it fits a 1280×720 screen. The window opens at ``DEFAULT_SIZE`` (shrunk to a smaller screen) or at
its saved geometry (which Qt fits to the screen).
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt, QTimer
from PySide6.QtWidgets import (
    QFrame,
    QMainWindow,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

DEFAULT_SIZE = QSize(1360, 820)
TITLE_BAR_PX = 32  # the window manager's frame, not known before the window is shown
LEFT_SHARE = 0.6  # of the width, for the event view
EDITOR_MIN_LINES = 4  # the labels box shows at least this many lines


def arrange(window: QMainWindow) -> None:
    """Put the window's widgets (event_view, playback, timeline, empty, bars, prompts, settings_panel, teach) in place.

    Adds ``window.stack`` (start page / event view), ``window.tabs`` and ``window.splitter``.
    """
    left_page = QWidget()
    left = QVBoxLayout(left_page)
    left.setContentsMargins(10, 8, 6, 8)
    left.addWidget(window.event_view, 1)
    left.addWidget(window.playback)
    left.addWidget(window.timeline)  # the label timeline, under the seek bar
    window.stack = QStackedWidget()
    window.stack.addWidget(window.empty)
    window.stack.addWidget(left_page)

    window.tabs = QTabWidget()
    window.tabs.addTab(window.prompts, "Labels")
    window.tabs.addTab(scrolled(window.settings_panel), "Settings")
    window.tabs.addTab(scrolled(window.teach), "Teach")
    edit = window.prompts.edit
    edit.setMinimumHeight(EDITOR_MIN_LINES * edit.fontMetrics().lineSpacing() + 14)

    right_page = QWidget()
    right = QVBoxLayout(right_page)
    right.setContentsMargins(6, 8, 10, 8)
    right.setSpacing(8)
    right.addWidget(window.bars)  # stretch 0: its own height, the first to give way
    right.addWidget(window.bars.history, 1)
    right.addWidget(window.tabs, 1)
    for part in (window.bars.history, window.tabs):
        share_remaining_height(part)

    window.splitter = QSplitter(Qt.Orientation.Horizontal)
    window.splitter.addWidget(window.stack)
    window.splitter.addWidget(right_page)
    window.splitter.setStretchFactor(0, 3)
    window.splitter.setStretchFactor(1, 2)
    window.splitter.setChildrenCollapsible(False)
    window.setCentralWidget(window.splitter)


def scrolled(widget: QWidget) -> QScrollArea:
    """``widget`` in a vertical scroll area: a form taller than its tab scrolls rather than squeeze the rest."""
    scroll = QScrollArea()
    scroll.setWidget(widget)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return scroll


def share_remaining_height(widget: QWidget) -> None:
    """``widget`` asks for no more than its minimum and takes a stretch share of what the others leave.

    Qt gives an ``Ignored`` widget a size hint of its minimum: the bars above keep the height they
    ask for while there is room, and a short window takes it from them, not from these.
    """
    widget.setMinimumHeight(widget.minimumSizeHint().height())
    policy = widget.sizePolicy()
    policy.setVerticalPolicy(QSizePolicy.Policy.Ignored)
    widget.setSizePolicy(policy)


def room_on_screen(window: QWidget) -> QRect:
    """The screen's available area less a title bar: where the window's contents may go."""
    area = window.screen().availableGeometry()
    return area.adjusted(0, TITLE_BAR_PX, 0, 0)


def open_size(window: QWidget) -> None:
    """The first size: ``DEFAULT_SIZE``, or the screen's room when that is smaller."""
    room = room_on_screen(window)
    size = DEFAULT_SIZE.boundedTo(room.size()).expandedTo(window.minimumSizeHint())
    window.resize(size)


def restore(window: QMainWindow, settings) -> None:
    """The saved window geometry and split.

    ``restoreGeometry`` itself moves and shrinks a geometry saved on another (bigger) screen onto this one.
    """
    geometry = settings.value("windowGeometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    state = settings.value("splitter")
    if state is not None:
        window.splitter.restoreState(state)


def save(window: QMainWindow, settings) -> None:
    settings.setValue("windowGeometry", window.saveGeometry())
    settings.setValue("splitter", window.splitter.saveState())


def split_when_shown(window: QMainWindow, settings) -> None:
    """Once laid out (splitter sizes only hold then): the event view gets ``LEFT_SHARE`` unless a split was saved."""

    def split() -> None:
        if settings.value("splitter") is None:
            w = window.splitter.width()
            window.splitter.setSizes([int(w * LEFT_SHARE), w - int(w * LEFT_SHARE)])

    QTimer.singleShot(0, split)
