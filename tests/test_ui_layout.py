"""The window on a laptop screen (issue 20): it fits 1280×720 with any number of labels, nothing overlaps,
a saved geometry is fitted to the screen, pytest keeps away from the user's settings, ``--screenshot``
waits for ``--exit-after``, and an offscreen run prints no Qt noise. Offscreen, the project's sample
recording, the fake classifier of test_ui_window.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, QSettings
from PySide6.QtGui import QImage

from conftest import PROJECT_ROOT, REAL_SETTINGS_DIR, SETTINGS_HOME
from neuroclip_live.cli.run import config_from_argv
from test_ui_window import TIMEOUT_MS, fake_factory, make_window, settings  # noqa: F401 - fixtures
from ui import app as app_module
from ui.history_plot import PLOT_MIN_HEIGHT
from ui.label_bars import ASKED_ROWS, PITCH_PX
from ui.main_window import MainWindow
from ui.window_layout import DEFAULT_SIZE, EDITOR_MIN_LINES, room_on_screen

SAMPLE = PROJECT_ROOT / "recordings" / "sample.aedat4"
LAPTOP_SCREENS = [(1280, 720), (1366, 768), (1280, 800)]
LONG_HINT = "adapter a.safetensors was trained for 0, 1, 2, 3, 4, 5 and 4 more; scoring the labels given instead; " * 3


def placed(w: MainWindow, part) -> QRect:
    return QRect(part.mapTo(w, QPoint(0, 0)), part.size())


def assert_laid_out(w: MainWindow) -> None:
    """Every part inside the window, the right column's parts one below the other, each at its minimum or more."""
    bars, history, tabs = placed(w, w.bars.scroll), placed(w, w.bars.history), placed(w, w.tabs)
    hint = placed(w, w.bars.hint)
    for part in (bars, history, tabs, placed(w, w.playback), placed(w, w.status), placed(w, w.event_view)):
        assert w.rect().contains(part), part
    assert w.bars.hint.isHidden() or hint.bottom() < bars.top()
    assert bars.bottom() < history.top() and history.bottom() < tabs.top()
    assert tabs.bottom() < placed(w, w.status).top() and placed(w, w.playback).bottom() < placed(w, w.status).top()
    assert w.bars.history.plot.height() >= PLOT_MIN_HEIGHT
    assert w.prompts.edit.height() >= EDITOR_MIN_LINES * w.prompts.edit.fontMetrics().lineSpacing()


@pytest.mark.parametrize("n_labels", [16, 40])
def test_the_window_fits_a_laptop_screen_with_16_and_40_labels(make_window, qtbot, n_labels):  # noqa: F811 - make_window: the fixture imported above
    labels = [f"label {i}" for i in range(n_labels)]
    w = make_window("--loop", labels=labels)
    w.open_file(SAMPLE)
    qtbot.waitUntil(lambda: len(w.bars.shown_labels) == n_labels, timeout=TIMEOUT_MS)
    smallest = w.minimumSizeHint()
    assert smallest.width() <= 1200 and smallest.height() <= 600  # room left for a title bar and a panel
    for size in LAPTOP_SCREENS:
        w.resize(*size)
        qtbot.waitUntil(lambda size=size: w.size().toTuple() == size)
        qtbot.wait(50)
        assert_laid_out(w)
        assert w.bars.shown_labels == labels  # all of them, in typed order
        if size == (1280, 720):
            assert w.bars.scroll.scrolls() == (n_labels > 16)  # the 16 default labels need no scrolling
    # The Settings tab scrolls down to its last row, whole.
    w.tabs.setCurrentIndex(1)
    qtbot.wait(50)  # laid out first: the scroll range follows the viewport's height
    settings_scroll = w.tabs.currentWidget()
    settings_scroll.verticalScrollBar().setValue(settings_scroll.verticalScrollBar().maximum())
    qtbot.wait(50)
    apply_button = w.settings_panel.apply_button
    seen = QRect(apply_button.mapTo(settings_scroll.viewport(), QPoint(0, 0)), apply_button.size())
    assert settings_scroll.viewport().rect().contains(seen)
    w.tabs.setCurrentIndex(0)
    # The worst hint (three lines) moves nothing over anything, and the minimum does not grow past the screen.
    w.bars.set_hint(LONG_HINT)
    w.resize(1280, 720)
    qtbot.wait(50)
    assert w.minimumSizeHint().height() <= 600
    assert_laid_out(w)
    # A tall window gives the room to the plot and the editor, shared, not to the bars.
    w.resize(1280, 1000)
    qtbot.waitUntil(lambda: w.height() == 1000)
    qtbot.wait(50)
    assert w.bars.scroll.height() <= min(len(labels), ASKED_ROWS) * PITCH_PX + 20
    assert w.bars.history.height() > w.bars.history.minimumHeight() + 40
    assert abs(w.bars.history.height() - w.tabs.height()) < 40


def test_the_window_opens_within_the_screen_and_so_does_a_bigger_saved_geometry(qtbot, tmp_path):
    saved = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    huge = MainWindow(config_from_argv([]), settings=saved, classifier_factory=fake_factory)
    qtbot.addWidget(huge)
    room = room_on_screen(huge)  # offscreen: an 800x800 screen, smaller than the default 1360x820
    expected = DEFAULT_SIZE.boundedTo(room.size()).expandedTo(huge.minimumSizeHint())
    assert huge.size() == expected and huge.height() < DEFAULT_SIZE.height()
    huge.setGeometry(4000, 3000, 3800, 2600)  # saved on a big monitor, far to the right
    saved.setValue("windowGeometry", huge.saveGeometry())
    w = MainWindow(config_from_argv([]), settings=saved, classifier_factory=fake_factory)
    qtbot.addWidget(w)
    w.restore_layout()
    w.show()
    room = w.screen().availableGeometry()
    assert room.contains(w.geometry().topLeft())
    assert w.width() <= max(room.width(), w.minimumSizeHint().width())
    assert w.height() <= max(room.height(), w.minimumSizeHint().height())


def test_pytest_leaves_the_real_settings_file_alone(qtbot, tmp_path):
    recording = tmp_path / f"settings-check-{uuid.uuid4().hex}.aedat4"  # a name no other run uses
    shutil.copy(SAMPLE, recording)
    assert app_module.run_app(config_from_argv(["--file", str(recording), "--exit-after", "0.2"])) == 0
    written = QSettings()  # what run_app used: the default settings of the session
    assert written.fileName().startswith(str(SETTINGS_HOME))
    assert str(recording) in Path(written.fileName()).read_text()  # the recent file went there
    for real in REAL_SETTINGS_DIR.glob("*"):
        assert str(recording) not in real.read_text(errors="replace"), real


def test_the_scripted_screenshot_is_taken_when_exit_after_ends(make_window, qtbot, tmp_path):  # noqa: F811 - make_window: the fixture imported above
    shot_path = tmp_path / "end.png"
    argv = ["--file", str(SAMPLE), "--screenshot", str(shot_path), "--exit-after", "1.5"]
    w = make_window(*argv)
    shot = app_module.prepare_window(w, config_from_argv(argv))
    qtbot.waitUntil(lambda: w.bars.shown_labels == ["a", "b", "c"], timeout=TIMEOUT_MS)  # the first scores
    assert shot.saved is None  # not at the first scores...
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=TIMEOUT_MS)
    assert shot.saved and QImage(str(shot_path)).width() > 600
    assert shot.stream_seconds >= 0.7  # ...but when --exit-after ends, with its history in the plot


def test_an_offscreen_window_run_prints_no_qt_size_hint_lines(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "ui.launch", "--file", str(SAMPLE), "--exit-after", "0.3"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "propagateSizeHints" not in proc.stderr


def test_a_running_model_keeps_the_window_within_a_laptop_width(make_window, qtbot):  # noqa: F811 - make_window: the fixture imported above
    """The run and engine descriptions give way (whole in their tooltips) before the window grows past 1280 px."""
    w = make_window("--loop")
    w.open_file(SAMPLE)
    qtbot.waitUntil(lambda: w.status.steps_label.text() != "", timeout=TIMEOUT_MS)
    run = "ViT-B-32 · 30ms timesteps · T=10 · adapter teaching-2026-12-06.safetensors"
    w.status.show_run(run)
    w.status.engine_label.setText("OpenVINO bf16 · CPU (AVX512-BF16)")
    w.resize(1280, 720)
    qtbot.wait(50)
    assert w.minimumSizeHint().width() <= 1200
    assert run in w.status.run_label.toolTip()
    assert_laid_out(w)
