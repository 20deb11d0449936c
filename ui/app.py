"""``run_app(config)``: the window for the command line (``neuroclip-live`` without ``--headless``).

Picks the first source (the command line's, else the first connected camera,
else an empty window with an "Open recording…" prompt), the first labels, and
handles ``--screenshot`` and ``--exit-after`` for scripted demos.
"""

from __future__ import annotations

import sys
from typing import Self

from PySide6.QtCore import (
    QCoreApplication,
    QMessageLogContext,
    QObject,
    QTimer,
    QtMsgType,
    qFormatLogMessage,
    qInstallMessageHandler,
)
from PySide6.QtWidgets import QApplication
from shiboken6 import Shiboken

from neuroclip_live.cli.arguments import EXIT_USER_ERROR
from neuroclip_live.runtime.config import RunConfig
from neuroclip_live.runtime.pipeline import Snapshot
from neuroclip_live.states import StreamState
from neuroclip_live.stream.sources.base import SourceSpec
from ui import theme
from ui.main_window import MainWindow, discover_cameras

ORGANISATION = "neuroclip-live"
APPLICATION = "neuroclip-live"


def initial_source(config: RunConfig) -> SourceSpec | None:
    """The command line's source, else the first connected camera, else none."""
    if config.source is not None:
        return config.source
    cameras = discover_cameras()
    if cameras:
        return SourceSpec("camera", cameras[0].serial)
    return None


_app: QApplication | None = None  # lives as long as the process: every widget must go before it


def application() -> QApplication:
    """The QApplication (created and themed once)."""
    global _app
    # Names first: QSettings() keeps the recent files and the layout under them.
    if not QCoreApplication.organizationName():
        QCoreApplication.setOrganizationName(ORGANISATION)
        QCoreApplication.setApplicationName(APPLICATION)
    app = QApplication.instance()
    if app is None:
        app = _app = QApplication(sys.argv[:1])
        theme.apply_theme(app)
        if app.platformName() == "offscreen":
            quiet_offscreen_size_hints()
    assert isinstance(app, QApplication)
    return app


OFFSCREEN_SIZE_HINTS = "This plugin does not support propagateSizeHints()"


def quiet_offscreen_size_hints() -> None:
    """Drop the offscreen platform's warning that it cannot pass a window's size limits on; pass the rest on.

    Qt sends a window's minimum size to the platform whenever it changes, from the first show on
    (the window keeps it steady otherwise); the offscreen plugin (tests, scripted screenshots)
    has no window manager to tell and says so each time.
    """
    previous = None

    def handler(mode, context, message: str) -> None:
        if message == OFFSCREEN_SIZE_HINTS:
            return
        if previous is not None:
            previous(mode, context, message)
        else:
            print(qFormatLogMessage(mode, context, message), file=sys.stderr, flush=True)

    previous = qInstallMessageHandler(handler)


def dispose(window: MainWindow) -> None:
    """Destroy a closed window now, while the application exists (not when garbage collection gets to it)."""
    Shiboken.delete(window)


class ScriptedScreenshot:
    """``--screenshot``: one PNG of the window, taken when ``--exit-after`` ends (``at_exit``), else once the
    first scores are drawn (the first frame without a model).

    Without ``--exit-after``, a stream that fails or ends before its first scores still gets its picture,
    with the reason in the status bar.
    """

    def __init__(self, window: MainWindow, path: str, nothing_to_wait_for: bool, at_exit: bool = False) -> None:
        self.window = window
        self.path = path
        self.saved: bool | None = None  # None until taken
        self.stream_seconds: float | None = None  # how far into the recording the picture is
        if at_exit:
            return  # ScriptedExit takes it
        trigger = window.scoresShown if window.session.has_model else window.frameShown
        trigger.connect(self._soon)
        window.session.updated.connect(self._check_state)
        if nothing_to_wait_for:
            QTimer.singleShot(300, self.take)

    def _soon(self) -> None:
        # One more redraw first, so the bars and the plot show the scores just received.
        QTimer.singleShot(150, self.take)

    def _check_state(self, snap: Snapshot) -> None:
        if snap.state in (StreamState.ERROR, StreamState.ENDED) and self.saved is None:
            self._soon()

    def take(self) -> None:
        if self.saved is not None:
            return
        snap = self.window.session.latest
        if snap is not None and snap.time_range is not None and snap.position_us is not None:
            self.stream_seconds = (snap.position_us - snap.time_range[0]) / 1e6
        self.saved = self.window.save_screenshot(self.path)
        if not self.saved:
            self.window.show_problem(f"could not write the screenshot {self.path}")


class ScriptedExit(QObject):
    """``--exit-after SECONDS``: counted from the first scored timestep (the first frame without a model).

    A model load can take longer than a script's whole budget on a busy machine, so the count
    starts when there is something to see; an error, the end of the stream or an empty window
    start it too. A ``--screenshot`` not taken yet is taken before the window closes. A child of
    the window, which keeps it alive.
    """

    def __init__(self, window: MainWindow, seconds: float, shot: ScriptedScreenshot | None, idle: bool) -> None:
        super().__init__(window)
        self.window, self.seconds, self.shot = window, max(seconds, 0.0), shot
        self.started = False
        trigger = window.scoresShown if window.session.has_model else window.frameShown
        trigger.connect(self.start)
        window.session.updated.connect(self._check_state)
        if idle:
            self.start()

    def _check_state(self, snap: Snapshot) -> None:
        if snap.state in (StreamState.ERROR, StreamState.ENDED):
            self.start()

    def start(self) -> None:
        if not self.started:
            self.started = True
            QTimer.singleShot(int(self.seconds * 1000), self._close)

    def _close(self) -> None:
        if self.shot is not None:
            self.shot.take()
        self.window.close()


class ErrorReporter:
    """Errors shown in the window go to stderr too (once each), and make the exit code non-zero."""

    def __init__(self, window: MainWindow) -> None:
        self.messages: list[str] = []
        window.session.updated.connect(self._check_state)
        window.session.problem.connect(self.report)

    def _check_state(self, snap: Snapshot) -> None:
        if snap.state == StreamState.ERROR:
            self.report(snap.message)

    def report(self, message: str) -> None:
        if message and message not in self.messages:
            self.messages.append(message)
            print(f"neuroclip-live: {message}", file=sys.stderr, flush=True)


def prepare_window(window: MainWindow, config: RunConfig) -> ScriptedScreenshot | None:
    """First source, and the --screenshot / --exit-after timers for a new window (its labels came with ``config``)."""
    spec = initial_source(config)
    if spec is None:
        window.show_empty()
    elif spec.kind == "file":
        window.open_file(spec.target)
    else:
        window.open_spec(spec)
    opts = config.window
    at_exit = opts.exit_after is not None
    shot = ScriptedScreenshot(window, opts.screenshot, spec is None, at_exit) if opts.screenshot else None
    if opts.exit_after is not None:
        ScriptedExit(window, opts.exit_after, shot, spec is None)
    return shot


class QtNoiseFilter:
    """Drops the one message Qt's offscreen platform repeats, and passes every other on (a context manager).

    Offscreen (a server, CI, a scripted ``--screenshot``) there is no window manager to tell a
    window's size limits to, and the platform says so each time the window's minimum size changes:
    about 8 to 20 times a run, in a window that works as it should.
    """

    NOISE = "This plugin does not support propagateSizeHints()"

    def __enter__(self) -> Self:
        self._previous = qInstallMessageHandler(self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        qInstallMessageHandler(self._previous)

    def _handle(self, mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
        if message == self.NOISE:
            return
        if self._previous is not None:  # pytest-qt's, in the tests
            self._previous(mode, context, message)
        else:
            print(qFormatLogMessage(mode, context, message), file=sys.stderr, flush=True)


def run_app(config: RunConfig) -> int:
    app = application()
    with QtNoiseFilter():
        window = MainWindow(config)
        window.restore_layout()
        errors = ErrorReporter(window)
        # The window shows before the model loads: the model loads on the worker thread, torch included.
        window.show()
        shot = prepare_window(window, config)
        code = int(app.exec())
        dispose(window)
    if shot is not None and not shot.saved:
        why = "could not be written" if shot.saved is False else "was not taken before the window closed"
        print(f"neuroclip-live: the screenshot {config.window.screenshot} {why}", file=sys.stderr)
        return code or 1
    return code or (EXIT_USER_ERROR if errors.messages else 0)
