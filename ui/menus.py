"""The main window's actions as a table, and the menus and toolbar built from it.

``build_actions(window)`` makes one ``QAction`` per row of ``ACTIONS`` (owned by the window),
lays them out in the menus and the toolbar as ``MENUS`` and ``TOOLBAR`` say, and returns
them as one typed ``WindowActions``. It sets nothing on the window and connects nothing to
it: the window says what each action does. A new action is a row, a field, and a line in
the window that connects it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar

from ui import theme
from ui.empty_view import mark_icon


@dataclass(frozen=True)
class ActionSpec:
    """One action: its ``WindowActions`` field, text, shortcut, tooltip, and whether it is a switch."""

    name: str
    text: str
    shortcut: QKeySequence.StandardKey | str | None = None
    tip: str = ""
    checkable: bool = False


ACTIONS = (
    ActionSpec("open", "Open recording…", QKeySequence.StandardKey.Open),
    ActionSpec("open_network", "Open network stream…"),
    ActionSpec("record", "Record", "Ctrl+R", "Record the incoming events to an .aedat4 file", checkable=True),
    ActionSpec("export", "Export view…", "Ctrl+E", "Save the event view as a PNG at sensor resolution"),
    ActionSpec("screenshot", "Save window screenshot…"),
    ActionSpec("close_source", "Close source"),
    ActionSpec("quit", "Quit", QKeySequence.StandardKey.Quit),
    ActionSpec("colour", "Colour polarity", checkable=True),
    ActionSpec("window", "Show the T-frame window", checkable=True),
    ActionSpec("sort", "Sort labels by probability", checkable=True),
    ActionSpec("where", "Where each label is seen", tip="A label's relevance map over the frame", checkable=True),
)
# Each menu's entries in order: an action's name, "-" for a separator, "@name" for a submenu.
MENUS = {
    "&File": (
        "open",
        "@recent",
        "@camera",
        "open_network",
        "-",
        "record",
        "export",
        "screenshot",
        "-",
        "close_source",
        "quit",
    ),
    "&View": ("colour", "window", "sort", "where"),
}
SUBMENUS = {"recent": "Open recent", "camera": "Open camera"}
TOOLBAR = ("open", "record", "export")


@dataclass(frozen=True)
class WindowActions:
    """Every action of the main window, and the two menus it fills as they change."""

    open: QAction
    open_network: QAction
    record: QAction
    export: QAction
    screenshot: QAction
    close_source: QAction
    quit: QAction
    colour: QAction
    window: QAction
    sort: QAction
    where: QAction
    recent: QMenu  # the recent files, refilled when they change
    camera: QMenu  # the cameras connected, found as the menu opens


def build_actions(window: QMainWindow) -> WindowActions:
    """The actions of ``ACTIONS``, in ``window``'s menu bar and a toolbar as ``MENUS`` and ``TOOLBAR`` lay them out."""
    made: dict[str, QAction | QMenu] = {}
    for spec in ACTIONS:
        action = QAction(spec.text, window, checkable=spec.checkable)
        if spec.shortcut is not None:
            action.setShortcut(QKeySequence(spec.shortcut))
        if spec.tip:
            action.setToolTip(spec.tip)
        made[spec.name] = action
    bar = window.menuBar()
    for title, entries in MENUS.items():
        menu = bar.addMenu(title)
        for entry in entries:
            if entry == "-":
                menu.addSeparator()
            elif entry.startswith("@"):
                made[entry[1:]] = menu.addMenu(SUBMENUS[entry[1:]])
            else:
                menu.addAction(made[entry])
    tools = QToolBar("Main")
    tools.setMovable(False)
    tools.setFloatable(False)
    tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for name in TOOLBAR:
        tools.addAction(made[name])
    window.addToolBar(tools)
    actions = WindowActions(**made)  # type: ignore[arg-type]
    show_recording(actions.record, False)
    return actions


def show_recording(record: QAction, on: bool) -> None:
    """The record action as a recording is on or off: checked, its text and its dot or square."""
    record.blockSignals(True)
    record.setChecked(on)
    record.blockSignals(False)
    record.setText("Stop recording" if on else "Record")
    record.setIcon(mark_icon(theme.RECORD, square=on))


def fill_recent_menu(
    menu: QMenu, paths: Sequence[str], open_path: Callable[[str], None], clear: Callable[[], None]
) -> None:
    menu.clear()
    for path in paths:
        menu.addAction(path, lambda p=path: open_path(p))
    if not paths:
        menu.addAction("(none)").setEnabled(False)
    else:
        menu.addSeparator()
        menu.addAction("Clear recent files", clear)


def fill_camera_menu(menu: QMenu, cameras: Sequence, open_camera: Callable[[str], None]) -> None:
    menu.clear()
    if not cameras:
        menu.addAction("No camera connected").setEnabled(False)
    for cam in cameras:
        menu.addAction(cam.describe(), lambda s=cam.serial: open_camera(s))
