"""The label timeline in the real window (offscreen, real tiny-digits, the sample recording): a background pass
that never stalls the view, recolouring without the encoder, seeking, the prediction logs, "none of these"."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtWidgets import QToolTip

from conftest import PROJECT_ROOT
from neuroclip_live.cli import main
from neuroclip_live.cli.run import config_from_argv
from neuroclip_live.events import SensorSize
from neuroclip_live.model.clip_model import ClipBackbone
from neuroclip_live.runtime.prediction_log import log_path_for, read_prediction_log
from neuroclip_live.stream.sources import open_file
from neuroclip_live.stream.sources.base import EventSource, SourceSpec
from ui.main_window import MainWindow

SAMPLE = PROJECT_ROOT / "recordings" / "sample.aedat4"
SCHEDULE = ("0", "7", "circle", "star", "3", "square")  # recordings/README.md: one a second
TIMEOUT_MS = 120_000  # two models load on 2 shared cores

pytestmark = pytest.mark.skipif(not SAMPLE.is_file(), reason="recordings/sample.aedat4 not built")


@pytest.fixture(autouse=True)
def own_feature_cache(tmp_path, monkeypatch):
    """Kept features go to this test's folder, not the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def window(qtbot, tmp_path):
    windows = []

    def make(*argv: str, open_source=None) -> MainWindow:
        config = config_from_argv(["--model", "tiny-digits", "--device", "cpu", *argv])
        settings = QSettings(str(tmp_path / f"settings{len(windows)}.ini"), QSettings.Format.IniFormat)
        w = MainWindow(config, settings=settings, open_source=open_source)
        qtbot.addWidget(w)
        w.resize(1280, 720)
        w.show()
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()


@pytest.fixture
def encodes(monkeypatch) -> list[str]:
    """The thread of every call to the image encoder."""
    threads: list[str] = []
    original = ClipBackbone.encode_frames

    def counting(self, frames):
        threads.append(threading.current_thread().name)
        return original(self, frames)

    monkeypatch.setattr(ClipBackbone, "encode_frames", counting)
    return threads


def band_labels(w: MainWindow, log: bool = False) -> list[str]:
    return [b.label for b in w.timeline.bands() if b.log == log]


def wait_timeline_done(w: MainWindow, qtbot) -> None:
    qtbot.waitUntil(
        lambda: w.timeline_control.snapshot() is not None and w.timeline_control.snapshot().done, timeout=TIMEOUT_MS
    )
    qtbot.waitUntil(lambda: w.timeline.fraction == 1.0, timeout=5_000)


def test_the_timeline_fills_from_a_background_pass_while_the_view_keeps_refreshing(window, qtbot, encodes):
    w = window("--labels", ", ".join(SCHEDULE), "--loop")
    updates: list[float] = []
    progress: set[str] = set()
    w.session.updated.connect(lambda _: (updates.append(time.perf_counter()), progress.add(w.timeline.status)))
    w.open_file(SAMPLE)
    qtbot.waitUntil(lambda: w.timeline_control.background is not None, timeout=TIMEOUT_MS)
    started = time.perf_counter()
    wait_timeline_done(w, qtbot)
    ended = time.perf_counter()
    during = [b - a for a, b in itertools.pairwise(updates) if a >= started and b <= ended]
    largest = max(during)
    print(
        f"\nbackground pass {ended - started:.2f} s; {len(during)} frame updates during it, "
        f"largest gap {largest * 1e3:.0f} ms, median {np.median(during) * 1e3:.0f} ms"
    )
    # The 30 ms frame timer kept firing through the pass: no stall of the pass's length, or near it.
    assert largest < 1.0 and largest < (ended - started) / 3
    assert len(during) >= (ended - started) / 0.03 / 4
    assert any(s.startswith("scoring ") and s != "scoring 100%" for s in progress)  # progress showed as it filled
    assert band_labels(w) == list(SCHEDULE)  # one band per object, in its order
    bands = w.timeline.bands()
    for i, band in enumerate(bands):
        assert abs(band.t_start_us - i * 1_000_000) < 150_000, band
    assert "neuroclip-timeline" in encodes  # the pass encoded on its own thread
    # The history plot draws each label in its band's colour.
    band_colour = {b.label: b.colour for b in bands}
    qtbot.waitUntil(lambda: any(label in band_colour for label, _ in w.bars.history.key.entries), timeout=TIMEOUT_MS)
    for label, colour in w.bars.history.key.entries:
        if label in band_colour:
            assert colour == band_colour[label], label


def test_with_the_16_default_labels_each_drawn_label_has_its_own_colour_in_the_strip_and_the_plot(window, qtbot):
    """Colours go to labels as they are drawn, not by their place among 16 (the "0" and the "circle" shared one)."""
    w = window("--loop")
    w.open_file(SAMPLE)
    wait_timeline_done(w, qtbot)
    colours = {b.label: b.colour for b in w.timeline.bands()}
    assert {"0", "circle"} <= set(colours) and len(set(colours.values())) == len(colours)
    qtbot.waitUntil(lambda: len(w.bars.history.key.entries) >= 2, timeout=TIMEOUT_MS)
    for label, colour in w.bars.history.key.entries:
        assert colours.get(label, colour) == colour, label


def test_a_label_edit_recolours_the_timeline_without_encoding(window, qtbot, encodes):
    w = window("--labels", ", ".join(SCHEDULE))
    w.open_file(SAMPLE)
    wait_timeline_done(w, qtbot)
    encodes.clear()
    edited = time.perf_counter()
    w.session.controls.update(labels=("circle", "square", "star"))
    qtbot.waitUntil(
        lambda: bool(band_labels(w)) and set(band_labels(w)) <= {"circle", "square", "star"}, timeout=10_000
    )
    print(f"\nrecoloured {1e3 * (time.perf_counter() - edited):.0f} ms after the edit (the strip redraws every 250 ms)")
    assert "neuroclip-timeline" not in encodes  # from the kept features: no frame through the encoder
    colours = {b.label: b.colour for b in w.timeline.bands()}
    assert len(set(colours.values())) == len(colours)  # each label its own colour
    w.session.controls.update(min_confidence=1.0)  # "none of these" everywhere
    qtbot.waitUntil(lambda: band_labels(w) == [], timeout=10_000)
    assert "neuroclip-timeline" not in encodes


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # the offscreen platform and a tooltip
def test_hover_names_a_band_and_a_click_seeks_there(window, qtbot):
    w = window("--labels", ", ".join(SCHEDULE), "--loop")
    w.open_file(SAMPLE)
    wait_timeline_done(w, qtbot)
    star = next(b for b in w.timeline.bands() if b.label == "star")
    x = int(w.timeline.width() * (star.t_start_us + star.t_end_us) / 2 / 6_000_000)
    qtbot.mouseMove(w.timeline, QPoint(x, 5))
    qtbot.waitUntil(lambda: QToolTip.text().startswith("star: "), timeout=5_000)
    w.session.pause()
    qtbot.mouseClick(w.timeline, Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    qtbot.waitUntil(lambda: abs(w.session.latest.position_us - star.t_start_us) < 100_000, timeout=10_000)


def test_a_recording_from_the_window_keeps_its_log_which_shows_when_reopened(window, qtbot, tmp_path):
    w = window("--labels", ", ".join(SCHEDULE), "--speed", "2")
    w.open_file(SAMPLE)
    qtbot.waitUntil(lambda: w.session.latest is not None and w.session.latest.result is not None, timeout=TIMEOUT_MS)
    path = tmp_path / "take.aedat4"
    assert w.recording.start(path)
    qtbot.waitUntil(lambda: w.session.recorder.events_written > 200_000, timeout=TIMEOUT_MS)
    w.recording.stop()
    log = read_prediction_log(log_path_for(path))
    assert log.note is None and len(log.records) > 20 and log.header["model"] == "tiny-digits"
    with open_file(str(path)) as rec:
        t0, t1 = rec.time_range
    assert log.belongs_to((t0, t1))  # on the recording's clock
    assert all(t0 - 300_000 <= r["t_start_us"] <= t1 for r in log.records)
    again = window("--labels", ", ".join(SCHEDULE))
    again.open_file(path)
    qtbot.waitUntil(lambda: bool(band_labels(again, log=True)), timeout=TIMEOUT_MS)
    logged = [r["top"][0] for r in log.records if r["top"]]
    assert set(band_labels(again, log=True)) == set(logged)


def test_log_from_the_window_holds_every_scored_timestep(window, qtbot, tmp_path):
    path = tmp_path / "window.jsonl"
    w = window("--labels", ", ".join(SCHEDULE), "--speed", "4", "--log", str(path))
    w.open_file(SAMPLE)
    qtbot.waitUntil(
        lambda: w.session.latest is not None and w.session.latest.state.value == "ended", timeout=TIMEOUT_MS
    )
    w.close()
    log = read_prediction_log(path)
    assert log.note is None and log.header["source"] == str(SAMPLE) and log.header["labels"] == list(SCHEDULE)
    steps = [r["step"] for r in log.records]
    assert steps == list(range(steps[0], steps[0] + len(steps)))  # every scored timestep, none skipped
    assert len(steps) + w.session.latest.stats.drops >= 190  # a paced replay may drop frames it could not score


def test_a_damaged_log_shows_up_to_the_damage_and_another_recordings_log_not_at_all(window, qtbot, tmp_path, capsys):
    copy = tmp_path / "sample.aedat4"
    shutil.copy(SAMPLE, copy)
    log = log_path_for(copy)
    argv = ["--file", str(copy), "--headless", "--speed", "0", "--model", "tiny-digits", "--log", str(log)]
    assert main([*argv, "--labels", ", ".join(SCHEDULE)]) == 0
    lines = log.read_bytes().split(b"\n")
    log.write_bytes(b"\n".join(lines[:101]) + b"\n" + lines[101][:30])  # 100 timesteps, then cut short
    w = window()
    w.open_file(copy)
    qtbot.waitUntil(lambda: bool(band_labels(w, log=True)), timeout=TIMEOUT_MS)
    assert band_labels(w, log=True)[:2] == ["0", "7"]  # the first 3 s were logged; the rest was cut
    assert max(b.t_end_us for b in w.timeline.bands() if b.log) < 3_100_000
    assert "read 100 timesteps; line 102 is damaged (cut short)" in w.status.message_text
    shifted = [
        line.replace(b'"t_start_us": ', b'"t_start_us": 9').replace(b'"t_end_us": ', b'"t_end_us": 9') for line in lines
    ]
    log.write_bytes(b"\n".join(shifted))
    other = window()
    other.open_file(copy)
    qtbot.waitUntil(lambda: "is not this recording's" in other.status.message_text, timeout=TIMEOUT_MS)
    assert band_labels(other, log=True) == []


def test_min_confidence_slider_names_no_label_below_it(window, qtbot):
    w = window("--labels", ", ".join(SCHEDULE), "--loop")
    slider = next(s for s in w.settings_panel.findChildren(type(w.playback.slider)) if s is not w.playback.slider)
    w.open_file(SAMPLE)
    qtbot.waitUntil(lambda: w.bars.headline() in SCHEDULE, timeout=TIMEOUT_MS)
    slider.setValue(100)  # 100%: no window is that sure
    assert w.session.controls.value.min_confidence == 1.0
    step = w.session.latest.result.step
    qtbot.waitUntil(lambda: w.session.latest.result.step > step + 2 and w.bars.headline() == "–", timeout=10_000)
    assert len(w.bars.probabilities()) == 6 and 0.99 < sum(w.bars.probabilities().values()) < 1.01
    w.session.controls.update(min_confidence=0.0)
    assert slider.value() == 0  # the slider shows the controls' value
    qtbot.waitUntil(lambda: w.bars.headline() in SCHEDULE, timeout=10_000)


class SampleCamera(EventSource):
    """The sample's events as a live source, sent at their own pace (a stand-in for a camera)."""

    is_live = True

    def __init__(self) -> None:
        with open_file(str(SAMPLE)) as rec:
            self._events = np.concatenate(list(rec.packets()))
        self._closed = threading.Event()

    @property
    def name(self) -> str:
        return "sample camera"

    @property
    def size(self) -> SensorSize:
        return SensorSize(128, 128)

    def packets(self):
        """The sample again and again (each time 6 s later), at its own pace, until closed."""
        start = time.perf_counter()
        t = self._events["t"]
        length = int(t[-1]) + 1
        sent = 0  # events sent, over every repeat
        while not self._closed.is_set():
            now_us = (time.perf_counter() - start) * 1e6
            repeat, offset = divmod(int(now_us), length)
            end = repeat * len(t) + int(np.searchsorted(t, offset, side="right"))
            chunks = []
            while sent < end:
                k, i = divmod(sent, len(t))
                j = len(t) if k < repeat else end - k * len(t)
                chunk = self._events[i:j].copy()
                chunk["t"] += k * length
                chunks.append(chunk)
                sent += j - i
            yield np.concatenate(chunks) if chunks else self._events[:0]
            time.sleep(0.02)

    def close(self) -> None:
        self._closed.set()


def test_a_camera_has_no_timeline_so_the_strip_shows_this_session(window, qtbot):
    w = window("--labels", ", ".join(SCHEDULE), open_source=lambda spec: SampleCamera())
    w.open_spec(SourceSpec("camera", "sample"))
    # The model loads while the camera runs: wait for a "0" seen, then a "7".
    qtbot.waitUntil(lambda: "0,7" in ",".join(band_labels(w)), timeout=TIMEOUT_MS)
    assert w.timeline_control.live is not None and w.timeline_control.background is None
    assert w.timeline.status == "" and w.timeline.fraction == 1.0
    w.session.controls.update(labels=("seven", "7", "0"))  # recoloured: the live classifier's new text
    qtbot.waitUntil(lambda: "seven" in w.timeline_control.snapshot().labels, timeout=TIMEOUT_MS)


def test_the_window_modules_load_no_torch():
    """The window opens before torch loads: the timeline's modules import it on their threads."""
    code = "import sys, ui.main_window; print('torch' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300, check=False
    )
    assert proc.stdout.strip() == "False", proc.stderr
