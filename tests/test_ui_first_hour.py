"""The first hour in the real window (issue 10): scripted screenshots, errors on the terminal, the
adapter's classes, the first timestep scored, and the window before the model. Offscreen, real
tiny-digits model, the project's sample recording."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage

from conftest import PROJECT_ROOT
from neuroclip_live.cli.run import config_from_argv
from neuroclip_live.model.adapter import AdapterInfo, InterTimestepAdapter, save_adapter
from neuroclip_live.states import ModelState
from ui import app as app_module
from ui.main_window import MainWindow

SAMPLE = PROJECT_ROOT / "recordings" / "sample.aedat4"
TIMEOUT_MS = 60_000  # the real model loads on 2 shared cores


@pytest.fixture
def open_window(qtbot, tmp_path):
    """A real window on a command line, as ``run_app`` prepares it; snapshots recorded."""
    windows = []

    def make(*argv: str) -> tuple[MainWindow, list]:
        config = config_from_argv(list(argv))
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        w = MainWindow(config, settings=settings)
        qtbot.addWidget(w)
        seen: list = []
        w.session.updated.connect(seen.append)
        w.show()
        app_module.prepare_window(w, config)
        windows.append(w)
        return w, seen

    yield make
    for w in windows:
        w.close()


def test_the_screenshot_is_taken_every_time_in_10_runs(tmp_path, isolated_qsettings, capsys):
    # --exit-after counts from the first scored timestep, so a slow model load cannot use it up.
    for i in range(10):
        shot = tmp_path / f"run{i}.png"
        argv = [
            "--file",
            str(SAMPLE),
            "--model",
            "tiny-digits",
            "--device",
            "cpu",
            "--screenshot",
            str(shot),
            "--exit-after",
            "0.3",
        ]
        assert app_module.run_app(config_from_argv(argv)) == 0, capsys.readouterr().err
        assert QImage(str(shot)).width() > 600, f"run {i}"
    assert "screenshot" not in capsys.readouterr().err


def test_a_gui_error_reaches_stderr_and_the_exit_code(tmp_path, isolated_qsettings, capsys):
    argv = ["--file", str(SAMPLE), "--model", "NoSuchModel", "--exit-after", "0.2"]
    assert app_module.run_app(config_from_argv(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("neuroclip-live: unknown model 'NoSuchModel'") == 1 and "Traceback" not in err


def test_an_unknown_model_without_labels_shows_its_error_in_the_window(open_window, qtbot):
    w, _ = open_window("--file", str(SAMPLE), "--model", "NoSuchModel")
    qtbot.waitUntil(lambda: "unknown model 'NoSuchModel'" in w.bars.hint.text(), timeout=TIMEOUT_MS)
    assert "unknown model 'NoSuchModel'" in w.status.message_text


def test_the_window_shows_before_the_model_and_scores_from_the_first_timestep(open_window, qtbot):
    w, seen = open_window("--file", str(SAMPLE), "--model", "tiny-digits", "--device", "cpu")
    assert w.isVisible()
    qtbot.waitUntil(lambda: any(s.result is not None and s.result.scores is not None for s in seen), timeout=TIMEOUT_MS)
    assert seen[0].model_state == ModelState.LOADING  # visible and polling while the model loads
    first = next(s for s in seen if s.result is not None and s.result.scores is not None)
    # The recording waits for its model: the first scores are for its first timesteps, not after 1 s.
    assert first.result.frame.t_start_us <= 60_000
    assert first.result.scores.top(1)[0][0] == "0"  # what the sample opens with (recordings/README.md)


def test_the_adapters_classes_are_the_window_labels(open_window, qtbot, tmp_path):
    path = tmp_path / "shapes.safetensors"
    classes = ["circle", "star", "square"]
    save_adapter(path, InterTimestepAdapter(128), AdapterInfo("tiny-digits", 128, classes=classes))
    w, _ = open_window("--file", str(SAMPLE), "--adapter", str(path), "--device", "cpu")
    qtbot.waitUntil(lambda: sorted(w.bars.shown_labels) == sorted(classes), timeout=TIMEOUT_MS)
    assert w.prompts.labels() == classes and "in use" in w.prompts.state.text()  # shown to edit
    assert w.session.controls.value.labels == ()  # none were asked for: the model's own are scored


def test_window_details_status_fields_whole_times_from_the_start_key_beside_the_plot(
    open_window, qtbot, recordings_dir, tmp_path
):
    w, seen = open_window(
        "--file", str(recordings_dir / "davis346.aedat4"), "--model", "tiny-digits", "--device", "cpu"
    )
    w.resize(640, 480)  # narrow: the fields must not be cut, the message gives way
    qtbot.waitUntil(lambda: bool(w.bars.history.key_labels()), timeout=TIMEOUT_MS)
    qtbot.wait(100)
    status = w.status
    figures = (status.state_label, status.rate_label, status.inference_label, status.latency_label, status.drops_label)
    described = (status.source_label, status.run_label, status.engine_label)  # these may end in "…"

    def cut() -> list[str]:
        cut = [f.text() for f in figures if f.text() and f.width() < f.fontMetrics().horizontalAdvance(f.text())]
        for f in described:
            shown = f.shown_text()
            if f.width() < f.fontMetrics().horizontalAdvance(shown) or (shown != f.text() and not shown.endswith("…")):
                cut.append(shown)
        return cut

    # The figures change at every redraw; a new text gets its room at the next layout pass, so the
    # fields must fit once it has run (a check right after a change would race the layout).
    qtbot.waitUntil(lambda: not cut(), timeout=2_000)
    # The DAVIS clock starts at 1589163147 s: captions count from the recording's start.
    start = seen[-1].time_range[0]
    assert start > 1e15 and float(w.event_view.caption.text().split()[1]) < 5
    # The top labels' key is a line of its own, not a legend over the lines.
    assert w.bars.history.key.text().count("━") >= 1 and w.bars.history.plot.getPlotItem().legend is None
    w.grab().save(str(tmp_path / "narrow.png"))
