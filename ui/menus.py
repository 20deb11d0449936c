"""The main window's actions, menus and toolbar (built once; the window wires their effects)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QToolBar

from ui import theme
from ui.empty_view import mark_icon


def build_actions(window: QMainWindow) -> None:
    """File and View menus, the toolbar, and their actions as attributes of ``window`` (a ``MainWindow``)."""
    window.open_action = QAction("Open recording…", window, shortcut=QKeySequence.StandardKey.Open)
    window.open_action.triggered.connect(window.open_dialog)
    window.net_action = QAction("Open network stream…", window)
    window.net_action.triggered.connect(window.open_network_dialog)
    window._record_icon = mark_icon(theme.RECORD)
    window._stop_icon = mark_icon(theme.RECORD, square=True)
    window.record_action = QAction(window._record_icon, "Record", window, shortcut=QKeySequence("Ctrl+R"), checkable=True)
    window.record_action.setToolTip("Record the incoming events to an .aedat4 file")
    window.record_action.triggered.connect(window._record_triggered)
    window.export_action = QAction("Export view…", window, shortcut=QKeySequence("Ctrl+E"))
    window.export_action.setToolTip("Save the event view as a PNG at sensor resolution")
    window.export_action.triggered.connect(window.export_dialog)
    window.screenshot_action = QAction("Save window screenshot…", window)
    window.screenshot_action.triggered.connect(window.screenshot_dialog)
    window.close_source_action = QAction("Close source", window)
    window.close_source_action.triggered.connect(window.session.close_source)
    quit_action = QAction("Quit", window, shortcut=QKeySequence.StandardKey.Quit)
    quit_action.triggered.connect(window.close)
    window.colour_action = QAction("Colour polarity", window, checkable=True)
    window.colour_action.toggled.connect(window.event_view.set_colour)
    window.event_view.colour_box.toggled.connect(window.colour_action.setChecked)
    window.window_action = QAction("Show the T-frame window", window, checkable=True)
    window.window_action.toggled.connect(window.event_view.set_window_mode)
    window.event_view.window_button.toggled.connect(window.window_action.setChecked)
    window.sort_action = QAction("Sort labels by probability", window, checkable=True)
    window.sort_action.toggled.connect(window.bars.sort_box.setChecked)
    window.bars.sort_box.toggled.connect(window.sort_action.setChecked)

    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addAction(window.open_action)
    window.recent_menu = file_menu.addMenu("Open recent")
    window.camera_menu = file_menu.addMenu("Open camera")
    window.camera_menu.aboutToShow.connect(window._fill_camera_menu)
    file_menu.addAction(window.net_action)
    file_menu.addSeparator()
    file_menu.addAction(window.record_action)
    file_menu.addAction(window.export_action)
    file_menu.addAction(window.screenshot_action)
    file_menu.addSeparator()
    file_menu.addAction(window.close_source_action)
    file_menu.addAction(quit_action)
    view_menu = bar.addMenu("&View")
    for a in (window.colour_action, window.window_action, window.sort_action):
        view_menu.addAction(a)

    tools = QToolBar("Main")
    tools.setMovable(False)
    tools.setFloatable(False)
    tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    tools.addAction(window.open_action)
    tools.addAction(window.record_action)
    tools.addAction(window.export_action)
    window.addToolBar(tools)
