"""``run_app(args)``: the window for the command line (``neuroclip-live`` without ``--headless``).

Picks the first source (the command line's, else the first connected camera,
else an empty window with an "Open recording…" prompt), the first labels, and
handles ``--screenshot`` and ``--exit-after`` for scripted demos.
"""

from __future__ import annotations

import argparse
import sys

from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtWidgets import QApplication

from neuroclip_live.cli import read_labels, source_spec
from neuroclip_live.label_presets import DIGITS
from neuroclip_live.sources.base import SourceSpec
from ui import theme
from ui.main_window import MainWindow, discover_cameras

ORGANISATION = "neuroclip-live"
APPLICATION = "neuroclip-live"


def initial_labels(args: argparse.Namespace) -> list[str]:
    """The command line's labels; the digits for the bundled digit model; else none (frames only)."""
    labels = read_labels(args)
    if labels:
        return labels
    if args.model == "tiny-digits":
        return list(DIGITS)
    return []


def initial_source(args: argparse.Namespace) -> SourceSpec | None:
    spec = source_spec(args)
    if spec is not None:
        return spec
    cameras = discover_cameras()
    if cameras:
        return SourceSpec("camera", cameras[0].serial)
    return None


def application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        QCoreApplication.setOrganizationName(ORGANISATION)
        QCoreApplication.setApplicationName(APPLICATION)
        app = QApplication(sys.argv[:1])
        theme.apply_theme(app)
    assert isinstance(app, QApplication)
    return app


def prepare_window(window: MainWindow, args: argparse.Namespace) -> None:
    """Labels, first source, and the --screenshot / --exit-after timers for a new window."""
    labels = initial_labels(args)
    if labels:
        window.prompts.set_labels(labels)
        window.session.labels = labels
    spec = initial_source(args)
    if spec is None:
        window.show_empty()
    elif spec.kind == "file":
        window.open_file(spec.target)
    else:
        window.open_spec(spec)

    if args.screenshot:
        path = args.screenshot
        # With a model the picture is worth taking once scores are drawn; without, at the first frame.
        trigger = window.scoresShown if window.session.has_model else window.frameShown
        taken = {"done": False}

        def take() -> None:
            if taken["done"]:
                return
            taken["done"] = True
            if not window.save_screenshot(path):
                window.show_problem(f"could not write the screenshot {path}")

        # One more redraw first, so the bars and the plot show the scores just received.
        trigger.connect(lambda: QTimer.singleShot(150, take))
        # A stream that fails or ends before any scores still gets its picture (with the reason shown).
        window.session.updated.connect(lambda snap: snap.state in ("error", "ended") and QTimer.singleShot(150, take))
        if spec is None:
            QTimer.singleShot(300, take)
    if args.exit_after is not None:
        QTimer.singleShot(int(max(args.exit_after, 0) * 1000), window.close)


def run_app(args: argparse.Namespace) -> int:
    app = application()
    window = MainWindow(args)
    window.restore_layout()
    prepare_window(window, args)
    window.show()
    code = app.exec()
    return int(code)
