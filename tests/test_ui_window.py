"""The real main window, offscreen, on real recordings and a loopback network camera.

Plays, edits labels mid-stream, pauses and seeks, records and replays the
recording, loses a live source, saves screenshots and closes within its bound.
A small fake classifier stands in for CLIP here (the model has its own tests);
one test uses the bundled tiny-digits model when it is there.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import dv_processing as dv
import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage

from conftest import PROJECT_ROOT
from neuroclip_live.cli.run import config_from_argv
from neuroclip_live.model.classifier import Scores, Timings
from neuroclip_live.model.settings import openvino_importable
from neuroclip_live.runtime.config import RunConfig
from neuroclip_live.stream.sources.base import SourceSpec
from ui import app as app_module
from ui.main_window import MainWindow

SAMPLE = PROJECT_ROOT / "recordings" / "sample.aedat4"
TINY_DIGITS = PROJECT_ROOT / "neuroclip_live" / "model" / "bundled" / "tiny-digits"
TIMEOUT_MS = 20_000  # generous: 2 shared cores, other suites running beside


# ------------------------------------------------------------------ helpers
class FakeClassifier:
    """Scores that depend on the frames (ON-event share per label slot), like a model would move."""

    def __init__(self, labels):
        self.labels = list(labels)
        self.steps = 0

    def step(self, frames):
        out = []
        for f in frames:
            self.steps += 1
            on = float((f == 255).mean())
            z = np.cos(np.arange(len(self.labels)) + 40 * on + self.steps / 7)
            p = np.exp(3 * z) / np.exp(3 * z).sum()
            out.append(Scores(list(self.labels), p.astype(np.float32), Timings(0.0, 0.0, 1), min(self.steps, 10)))
        return out

    def reset(self):
        pass

    def set_labels(self, labels):
        self.labels = list(labels)


def fake_factory(config, controls):
    return lambda: FakeClassifier(controls.labels)


def run_args(*argv: str) -> RunConfig:
    return config_from_argv(list(argv))


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_window(qtbot, settings):
    windows = []

    def make(*argv: str, labels=("a", "b", "c"), factory=fake_factory) -> MainWindow:
        w = MainWindow(run_args(*argv), settings=settings, classifier_factory=factory)
        qtbot.addWidget(w)  # closed at teardown: stops its threads
        if labels:
            w.session.controls.update(labels=tuple(labels))
        w.show()
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()


def davis(recordings_dir: Path) -> Path:
    return recordings_dir / "davis346.aedat4"


def state(w: MainWindow) -> str:
    return w.status.state_text


def play_davis(w: MainWindow, qtbot, recordings_dir: Path) -> MainWindow:
    w.open_file(davis(recordings_dir))
    qtbot.waitUntil(lambda: state(w) == "playing", timeout=TIMEOUT_MS)
    return w


def record(w: MainWindow, qtbot, path: Path, events: int):
    """Start recording to ``path`` and wait until ``events`` events are in the file."""
    assert w.recording.start(path)
    recorder = w.session.recorder
    qtbot.waitUntil(lambda: recorder.events_written > events, timeout=TIMEOUT_MS)
    return recorder


def neuroclip_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("neuroclip-") and t.is_alive()]


def aps_shown(w: MainWindow, qtbot, shape: tuple[int, int]) -> None:
    """The APS pane is on screen, as big as the event pane, and paints an intensity frame of ``shape``."""
    view = w.event_view
    qtbot.waitUntil(lambda: view.aps_displayed is not None and view.aps.isVisible(), timeout=TIMEOUT_MS)
    assert view.aps_displayed.shape == shape and view.aps_box.isChecked()
    assert view.aps.width() * view.aps.height() >= 0.8 * view.events.width() * view.events.height()
    painted = view.aps.grab().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    grey = np.asarray(painted.constBits())
    assert len(np.unique(grey)) > 20  # a picture, not an empty pane


# ------------------------------------------------------------------ files
def test_plays_a_shared_davis_recording_with_aps_beside(make_window, qtbot, recordings_dir):
    w = make_window()
    w.open_file(davis(recordings_dir))
    qtbot.waitUntil(lambda: w.bars.shown_labels == ["a", "b", "c"], timeout=TIMEOUT_MS)
    assert state(w) == "playing"
    assert w.stack.currentIndex() == 1
    assert w.event_view.displayed is not None and w.event_view.displayed.shape == (260, 346)
    aps_shown(w, qtbot, (260, 346))  # the DAVIS APS frames
    assert w.playback.slider.isVisible() and not w.playback.live_label.isVisible()
    assert "davis346.aedat4" in w.windowTitle()
    assert w.status.rate_label.text().endswith("ev/s")
    assert w.recent.paths()[0] == str(davis(recordings_dir))


def test_plays_the_project_sample_recording(make_window, qtbot):
    if not SAMPLE.is_file():
        pytest.skip(f"the sample recording is not there yet ({SAMPLE})")
    w = make_window("--speed", "2")
    w.open_file(SAMPLE)
    qtbot.waitUntil(lambda: w.event_view.displayed is not None, timeout=TIMEOUT_MS)
    assert w.event_view.displayed.shape == (128, 128)
    aps_shown(w, qtbot, (128, 128))  # its 25 fps intensity frames
    w.event_view.set_window_mode(True)  # the whole T-frame window as a mosaic
    qtbot.waitUntil(lambda: "10 frames" in w.event_view.caption.text(), timeout=TIMEOUT_MS)


def test_labels_edited_mid_stream_show_on_a_following_timestep(make_window, qtbot, recordings_dir):
    w = make_window("--loop")
    w.open_file(davis(recordings_dir))
    qtbot.waitUntil(lambda: w.bars.shown_labels == ["a", "b", "c"], timeout=TIMEOUT_MS)
    applied_at = w.session.latest.result.step
    pipeline = w.session.pipeline
    w.prompts.edit.setPlainText("cat, dog\ncar\nbicycle")
    w.prompts.apply_button.click()
    qtbot.waitUntil(lambda: w.bars.shown_labels == ["cat", "dog", "car", "bicycle"], timeout=TIMEOUT_MS)
    assert w.session.latest.result.step > applied_at
    assert w.session.pipeline is pipeline  # the stream did not restart
    # Reorder and sort: the bars follow the typed order unless sorted.
    w.prompts.set_labels(["car", "cat"])
    w.prompts.apply()
    qtbot.waitUntil(lambda: w.bars.shown_labels == ["car", "cat"], timeout=TIMEOUT_MS)
    w.bars.sort_box.setChecked(True)
    probs = w.bars.probabilities()
    assert w.bars.shown_labels == sorted(probs, key=lambda k: -probs[k])


def test_pause_and_seek(make_window, qtbot, recordings_dir):
    w = make_window(labels=())
    w.open_file(davis(recordings_dir))
    qtbot.waitUntil(lambda: state(w) == "playing" and w.event_view.displayed is not None, timeout=TIMEOUT_MS)
    assert "No labels yet" in w.bars.hint.text()  # frames only until labels are given
    w.playback.play_button.click()
    qtbot.waitUntil(lambda: state(w) == "paused", timeout=TIMEOUT_MS)
    assert w.playback.play_button.text() == "Play"
    here = w.session.latest.position_us
    qtbot.wait(300)
    assert w.session.latest.position_us == here  # paused means paused
    t0, t1 = w.session.latest.time_range
    w.playback.seek_to_fraction(0.8)
    target = int(t0 + 0.8 * (t1 - t0))
    qtbot.waitUntil(lambda: abs(w.session.latest.position_us - target) < 100_000, timeout=TIMEOUT_MS)
    assert state(w) == "paused"
    w.playback.play_button.click()
    qtbot.waitUntil(lambda: state(w) in ("playing", "ended"), timeout=TIMEOUT_MS)
    qtbot.waitUntil(
        lambda: w.session.latest.frame is not None and w.session.latest.frame.t_end_us > target, timeout=TIMEOUT_MS
    )


def test_play_after_the_end_replays_from_the_start(make_window, qtbot, recordings_dir):
    w = make_window("--speed", "0", labels=())  # as fast as possible: the end comes quickly
    w.open_file(davis(recordings_dir))
    qtbot.waitUntil(lambda: state(w) == "ended", timeout=TIMEOUT_MS)
    assert w.playback.play_button.text() == "Play"
    w.playback.speed.setCurrentIndex(2)  # 1x
    w.playback.play_button.click()
    qtbot.waitUntil(lambda: state(w) == "playing", timeout=TIMEOUT_MS)
    t0, t1 = w.session.latest.time_range
    assert w.session.latest.position_us < t0 + (t1 - t0) / 2


def test_record_a_stretch_then_open_and_replay_it(make_window, qtbot, recordings_dir, tmp_path):
    w = play_davis(make_window("--loop"), qtbot, recordings_dir)
    path = tmp_path / "stretch.aedat4"
    recorder = record(w, qtbot, path, 20_000)
    assert w.actions.record.isChecked() and w.actions.record.text() == "Stop recording"
    assert w.status.record_label.isVisible() and "stretch.aedat4" in w.status.record_label.text()
    w.recording.stop()
    assert not w.status.record_label.isVisible() and not w.actions.record.isChecked()
    written = recorder.events_written
    assert not recorder.is_open and recorder.error is None

    rec = dv.io.MonoCameraRecording(str(path))  # complete and readable by dv-processing
    assert rec.getEventResolution() == (346, 260)
    n = 0
    while rec.isRunning():
        batch = rec.getNextEventBatch()
        if batch is not None:
            n += batch.size()
    assert n == written

    w.open_file(path)
    qtbot.waitUntil(lambda: w.bars.shown_labels == ["a", "b", "c"], timeout=TIMEOUT_MS)
    assert "stretch.aedat4" in w.status.source_label.text()
    assert w.recent.paths()[0] == str(path)


def test_toolbar_actions_open_record_and_export_through_their_dialogs(
    make_window, qtbot, recordings_dir, tmp_path, monkeypatch
):
    from PySide6.QtWidgets import QFileDialog

    w = make_window("--loop")
    assert not w.actions.record.isEnabled()  # nothing to record before a source is open
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(davis(recordings_dir)), ""))
    w.actions.open.trigger()
    qtbot.waitUntil(lambda: state(w) == "playing", timeout=TIMEOUT_MS)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "take1"), ""))
    w.actions.record.trigger()
    assert w.session.recorder is not None and w.session.recorder.path == tmp_path / "take1.aedat4"
    qtbot.waitUntil(lambda: w.session.recorder.events_written > 1_000, timeout=TIMEOUT_MS)
    w.actions.record.trigger()
    assert w.session.recorder is None and (tmp_path / "take1.aedat4").stat().st_size > 0
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "view.png"), ""))
    qtbot.waitUntil(lambda: w.event_view.displayed is not None, timeout=TIMEOUT_MS)
    w.actions.export.trigger()
    assert QImage(str(tmp_path / "view.png")).size().toTuple() == (346, 260)  # sensor resolution


def test_closing_the_window_finishes_the_recording(make_window, qtbot, recordings_dir, tmp_path):
    w = play_davis(make_window("--loop"), qtbot, recordings_dir)
    path = tmp_path / "on-close.aedat4"
    recorder = record(w, qtbot, path, 5_000)
    w.close()
    assert w.closed_cleanly
    assert not neuroclip_threads()
    assert not recorder.is_open
    rec = dv.io.MonoCameraRecording(str(path))
    assert rec.getTimeRange()[1] > rec.getTimeRange()[0]


def test_a_bad_recording_path_is_one_line_in_the_status_bar(make_window, qtbot, recordings_dir, tmp_path):
    w = play_davis(make_window(), qtbot, recordings_dir)
    assert not w.recording.start(tmp_path / "no" / "such" / "dir.aedat4")
    assert "does not exist" in w.status.message_text and "\n" not in w.status.message_text
    assert not w.actions.record.isChecked()


def test_a_missing_file_says_so_without_a_traceback(make_window, qtbot, tmp_path):
    w = make_window()
    w.open_file(tmp_path / "nothing.aedat4")
    qtbot.waitUntil(lambda: state(w) == "error", timeout=TIMEOUT_MS)
    assert "nothing.aedat4" in w.status.message_text
    assert "Traceback" not in w.status.message_text and "\n" not in w.status.message_text


def test_settings_rebuild_the_stream_where_it_was(make_window, qtbot, recordings_dir, tmp_path):
    w = make_window("-T", "4")
    w.open_file(davis(recordings_dir))
    qtbot.waitUntil(lambda: w.bars.shown_labels == ["a", "b", "c"], timeout=TIMEOUT_MS)
    t0, t1 = w.session.latest.time_range
    qtbot.waitUntil(lambda: w.session.latest.position_us > t0 + (t1 - t0) / 3, timeout=TIMEOUT_MS)
    recorder = record(w, qtbot, tmp_path / "across.aedat4", 1_000)  # a recording carries on across the rebuild
    old = w.session.pipeline
    w.settings_panel.T.setValue(6)
    w.settings_panel.rule_mode.setCurrentIndex(1)  # by event count
    w.settings_panel.rule_size.setValue(500)
    w.playback.speed.setCurrentIndex(w.playback.speed.findData(2.0))  # a control: it carries over the rebuild
    w.settings_panel.backend.setCurrentIndex(w.settings_panel.backend.findData("torch"))
    w.settings_panel.precision.setCurrentIndex(w.settings_panel.precision.findData("fp32"))
    here = w.session.latest.position_us
    w.settings_panel.apply_button.click()
    assert w.session.pipeline is not old
    assert w.session.pipeline.controls is w.session.controls and w.session.controls.value.speed == 2.0
    assert (w.session.config.model.backend, w.session.config.model.precision) == ("torch", "fp32")
    assert w.session.pipeline.config.T == 6
    assert str(w.session.pipeline.config.rule) == "500ev"
    new = w.session.pipeline
    qtbot.waitUntil(lambda: new.snapshot().result is not None, timeout=TIMEOUT_MS)  # the GUI keeps polling
    first = next(new.results(timeout=1))
    assert abs(first.frame.t_start_us - here) < 100_000  # resumed there, not from the start
    w.event_view.set_window_mode(True)
    qtbot.waitUntil(lambda: "6 frames" in w.event_view.caption.text(), timeout=TIMEOUT_MS)
    written = recorder.events_written
    qtbot.waitUntil(lambda: recorder.events_written > written, timeout=TIMEOUT_MS)
    w.recording.stop()
    assert recorder.error is None
    w.settings_panel.noise_on.setChecked(True)
    assert w.session.controls.value.noise_filter_us == 2_000


class SlowModel:
    """A classifier factory whose model loads only once ``release`` is set; records the loading thread."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.loaded_on: list[str] = []

    def __call__(self, config, controls):
        def load():
            self.loaded_on.append(threading.current_thread().name)
            self.release.wait(10)
            return FakeClassifier(controls.labels)

        return load


def test_model_loading_is_visible_and_off_the_gui_thread(make_window, qtbot, recordings_dir):
    slow = SlowModel()
    w = make_window("--loop", factory=slow)
    w.open_file(davis(recordings_dir))
    qtbot.waitUntil(lambda: state(w) == "loading model", timeout=TIMEOUT_MS)
    assert w.bars.hint.text().startswith("Loading model") and not w.bars.busy.isHidden()
    # The GUI keeps polling meanwhile; the recording waits at its start so no timestep goes unscored.
    polled = w.session.latest
    qtbot.waitUntil(lambda: w.session.latest is not polled, timeout=TIMEOUT_MS)
    t0 = w.session.latest.time_range[0]
    assert w.session.latest.position_us - t0 < 200_000
    slow.release.set()
    qtbot.waitUntil(lambda: w.bars.shown_labels == ["a", "b", "c"], timeout=TIMEOUT_MS)
    assert slow.loaded_on == ["neuroclip-worker"]
    assert w.bars.hint.isHidden()
    assert state(w) == "playing"
    first = w.session.pipeline.results(timeout=1)
    assert next(first).frame.t_start_us - t0 < 100_000  # the first timesteps were scored


# ------------------------------------------------------------------ live
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CAMERA_SCRIPT = """
import datetime, sys, time
import dv_processing as dv
size = (64, 48)
writer = dv.io.NetworkWriter("127.0.0.1", int(sys.argv[1]), dv.io.Stream.EventStream(0, "events", "loopback", size))
print("ready", flush=True)
t = int(dv.now())
while True:
    writer.writeEvents(dv.data.generate.uniformEventsWithinTimeRange(t, datetime.timedelta(milliseconds=10), size, 300))
    t += 10_000
    time.sleep(0.01)
"""


class LoopbackCamera:
    """dv-processing's NetworkWriter on 127.0.0.1 in a child process, sending events every 10 ms.

    A child process because destroying a NetworkWriter that still has a client
    hangs inside dv-processing (2.0.4); killing the process is also closer to
    pulling a camera's cable.
    """

    def __init__(self, port: int) -> None:
        cmd = [sys.executable, "-c", CAMERA_SCRIPT, str(port)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def test_a_live_network_source_goes_away_and_comes_back(make_window, qtbot):
    port = free_port()
    camera = LoopbackCamera(port)
    try:
        w = make_window()
        w.open_spec(SourceSpec("net", f"127.0.0.1:{port}"))
        qtbot.waitUntil(lambda: w.bars.shown_labels == ["a", "b", "c"], timeout=TIMEOUT_MS)
        assert state(w) == "live"
        assert w.playback.live_label.isVisible() and not w.playback.slider.isVisible()
        assert w.event_view.displayed.shape == (48, 64)
        camera.close()  # unplugged
        qtbot.waitUntil(lambda: state(w) == "disconnected", timeout=TIMEOUT_MS)
        assert w.status.message_text and "\n" not in w.status.message_text
        camera = LoopbackCamera(port)  # plugged back in: the pipeline retries
        qtbot.waitUntil(lambda: state(w) == "live", timeout=TIMEOUT_MS)
        step = w.session.latest.result.step
        qtbot.waitUntil(lambda: w.session.latest.result.step > step, timeout=TIMEOUT_MS)
    finally:
        camera.close()


def test_a_live_source_shows_frames_while_its_model_loads(make_window, qtbot):
    port = free_port()
    camera = LoopbackCamera(port)
    slow = SlowModel()
    try:
        w = make_window(factory=slow)
        w.open_spec(SourceSpec("net", f"127.0.0.1:{port}"))
        qtbot.waitUntil(lambda: w.event_view.displayed is not None, timeout=TIMEOUT_MS)
        assert state(w) == "loading model" and w.bars.hint.text().startswith("Loading model")
        slow.release.set()
        qtbot.waitUntil(lambda: w.bars.shown_labels == ["a", "b", "c"], timeout=TIMEOUT_MS)
        assert state(w) == "live"
    finally:
        camera.close()


# ------------------------------------------------------------- window life
def test_screenshot_while_streaming_and_close_within_the_bound(make_window, qtbot, recordings_dir, tmp_path):
    w = make_window("--loop")
    w.resize(1280, 800)
    w.open_file(davis(recordings_dir))
    qtbot.waitUntil(lambda: w.bars.shown_labels == ["a", "b", "c"], timeout=TIMEOUT_MS)
    path = tmp_path / "shot.png"
    assert w.save_screenshot(path)
    image = QImage(str(path))
    assert image.width() >= 1280 * 0.9 and image.height() >= 800 * 0.9
    assert neuroclip_threads()
    w.close()
    assert w.closed_cleanly  # every thread stopped within 2 s
    assert not neuroclip_threads()


def test_empty_window_with_no_source_and_no_camera(qtbot, settings, monkeypatch, tmp_path):
    monkeypatch.setattr(app_module, "discover_cameras", lambda: [])
    earlier = tmp_path / "earlier.aedat4"
    earlier.write_bytes(b"x")
    w = MainWindow(run_args(), settings=settings, classifier_factory=fake_factory)
    qtbot.addWidget(w)
    w.recent.add(str(earlier))
    w.refresh_recent()
    app_module.prepare_window(w, run_args())
    w.show()
    assert w.stack.currentWidget() is w.empty
    assert w.empty.open_button.text() == "Open recording…" and w.empty.open_button.isVisible()
    assert w.empty.recent_names() == ["earlier.aedat4"]
    assert w.session.pipeline is None and state(w) == "no source"


def test_dropping_a_recording_on_the_window_opens_it(make_window, qtbot, recordings_dir, tmp_path):
    w = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "notes.txt")), QUrl.fromLocalFile(str(davis(recordings_dir)))])
    (tmp_path / "notes.txt").write_text("not events")
    event = QDropEvent(
        QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    w.dropEvent(event)
    assert w.session.spec == SourceSpec("file", str(davis(recordings_dir)))
    qtbot.waitUntil(lambda: w.event_view.displayed is not None, timeout=TIMEOUT_MS)


def test_command_line_screenshot_and_exit_after(qtbot, recordings_dir, tmp_path, isolated_qsettings, capsys):
    shot = tmp_path / "cli.png"
    args = run_args("--file", str(davis(recordings_dir)), "--loop", "--screenshot", str(shot), "--exit-after", "3")
    assert app_module.run_app(args) == 0  # returns once --exit-after closed the window
    assert QImage(str(shot)).width() > 600
    assert not neuroclip_threads()
    # A screenshot that cannot be written is an error of the run, said in one line.
    args = run_args(
        "--file", str(davis(recordings_dir)), "--screenshot", str(tmp_path / "no" / "x.png"), "--exit-after", "2"
    )
    assert app_module.run_app(args) == 1
    assert "could not be written" in capsys.readouterr().err


def test_space_pauses_but_not_while_typing_labels(make_window, qtbot, recordings_dir):
    w = play_davis(make_window("--loop"), qtbot, recordings_dir)
    w.prompts.edit.setFocus()
    w.prompts.edit.clear()
    qtbot.keyClicks(w.prompts.edit, "hot dog")
    assert w.prompts.edit.toPlainText() == "hot dog"
    qtbot.wait(100)
    assert state(w) == "playing"
    w.event_view.setFocus()
    qtbot.keyClick(w.event_view, Qt.Key.Key_Space)  # elsewhere, Space is play/pause
    qtbot.waitUntil(lambda: state(w) == "paused", timeout=TIMEOUT_MS)


def test_real_tiny_digits_model_scores_the_sample(make_window, qtbot):
    if not (TINY_DIGITS.is_dir() and any(TINY_DIGITS.iterdir())):
        pytest.skip(f"the tiny-digits model is not there yet ({TINY_DIGITS})")
    if not SAMPLE.is_file():
        pytest.skip(f"the sample recording is not there yet ({SAMPLE})")
    from neuroclip_live.model.label_presets import DIGITS

    w = make_window("--model", "tiny-digits", "--device", "cpu", labels=DIGITS, factory=None)
    w.open_file(SAMPLE)
    qtbot.waitUntil(lambda: w.bars.shown_labels == DIGITS, timeout=60_000)
    probs = np.array(list(w.bars.probabilities().values()))
    assert probs.shape == (10,) and abs(float(probs.sum()) - 1.0) < 1e-3
    engine = "OpenVINO" if openvino_importable() else "torch fp32"  # --backend auto on a CPU
    qtbot.waitUntil(lambda: w.status.engine_label.text().startswith(engine), timeout=TIMEOUT_MS)
