"""The Teach tab (issue 23): capture examples from the stream, train in the background, use them, save them.

Offscreen, the real window on the project's sample recording (its schedule: the "0" from 0 to 1 s, the
"7" from 1 to 2 s, recordings/README.md) with the bundled tiny-digits model, trained for a few epochs on
few views so that it stays quick on 2 cores; a loopback network camera for the disconnect. The fake
classifier of test_ui_window stands in where only the panel's own behaviour is checked.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch
from PIL import Image
from PySide6.QtCore import QPoint, QRect, Qt

from conftest import PROJECT_ROOT
from neuroclip_live.cli import main
from neuroclip_live.model.adapter import load_adapter
from neuroclip_live.offline.teaching import TEACH_SETTINGS
from neuroclip_live.stream.sources.base import SourceSpec
from test_ui_window import TIMEOUT_MS, LoopbackCamera, free_port, make_window, settings  # noqa: F401 - fixtures
from ui.teach_panel import TIMELINE_NOTE

SAMPLE = PROJECT_ROOT / "recordings" / "sample.aedat4"
TINY = ("--model", "tiny-digits", "--device", "cpu")
QUICK = replace(TEACH_SETTINGS, epochs=3, views=2)  # the recipe, shortened for 2 shared cores
TRAIN_TIMEOUT_MS = 180_000


def window_within(w, lo_s: float, hi_s: float) -> bool:
    """The window on screen is full and lies within ``lo_s``-``hi_s`` seconds of the recording."""
    snap = w.session.latest
    if snap is None or snap.time_range is None or len(snap.window) < w.session.config.T:
        return False
    t0 = snap.window[0].t_start_us - snap.time_range[0]
    return lo_s * 1e6 <= t0 and snap.window[-1].t_end_us - snap.time_range[0] <= hi_s * 1e6


def hold_capture(w, qtbot, name: str, lo_s: float, n: int, press, release) -> None:
    """Hold capture (``press``/``release``) from a window early in the object shown from ``lo_s`` until ``n``."""
    panel = w.teach
    panel.name_box.setEditText(name)
    qtbot.waitUntil(lambda: window_within(w, lo_s + 0.03, lo_s + 0.35), timeout=TIMEOUT_MS)
    press()
    qtbot.waitUntil(lambda: panel.examples.counts().get(name, 0) >= n, timeout=TIMEOUT_MS)
    release()


def frame_updates(w) -> list[float]:
    """perf_counter times at which the view was handed a new frame (from now on)."""
    times: list[float] = []
    last = {"frame": None}

    def seen(snap) -> None:
        if snap.frame is not None and snap.frame is not last["frame"]:
            last["frame"] = snap.frame
            times.append(time.perf_counter())

    w.session.updated.connect(seen)
    return times


def test_teach_two_classes_train_in_the_background_and_use_them(make_window, qtbot, tmp_path):  # noqa: F811 - make_window: the fixture imported above
    w = make_window(*TINY, "--loop", labels=(), factory=None)
    panel = w.teach
    panel.train_settings = QUICK
    w.tabs.setCurrentWidget(w.tabs.widget(2))
    w.open_file(SAMPLE)
    qtbot.waitUntil(lambda: len(w.bars.shown_labels) == 16, timeout=60_000)  # tiny-digits' own labels
    # The "0" by holding the Capture button, the "7" by holding Enter in the name field.
    button = panel.capture_button
    hold_capture(
        w,
        qtbot,
        "my mug",
        0.0,
        2,
        lambda: qtbot.mousePress(button, Qt.MouseButton.LeftButton),
        lambda: qtbot.mouseRelease(button, Qt.MouseButton.LeftButton),
    )
    field = panel.name_box.lineEdit()
    hold_capture(
        w,
        qtbot,
        "red robot",
        1.0,
        2,
        lambda: qtbot.keyPress(field, Qt.Key.Key_Return),
        lambda: qtbot.keyRelease(field, Qt.Key.Key_Return),
    )
    assert panel.examples.counts() == {"my mug": 2, "red robot": 2}
    assert panel.browser.thumbnail_count() == 2 and "red robot" in panel.name_box.currentText()

    updates = frame_updates(w)
    t0 = time.perf_counter()
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert panel.job is not None and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: panel.job is None, timeout=TRAIN_TIMEOUT_MS)
    seconds = time.perf_counter() - t0
    assert panel.status.text().startswith("trained 2 classes"), panel.status.text()
    # The view kept playing: new frames reached it all through the training.
    gaps = np.diff([t0, *updates])
    print(
        f"\ntraining took {seconds:.2f} s; {len(updates)} frames shown meanwhile; largest gap between frame "
        f"updates {gaps.max() * 1e3:.0f} ms (median {np.median(gaps) * 1e3:.0f} ms)"
    )
    assert len(updates) >= 3 and gaps.max() < seconds

    typed = w.session.controls.value.labels  # tiny-digits' 16
    qtbot.mouseClick(panel.use_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.bars.shown_labels == ["my mug", "red robot"], timeout=TIMEOUT_MS)
    assert w.session.controls.value.labels == typed and not panel.use_button.isEnabled()  # kept to return to
    assert panel.status.text().endswith(TIMELINE_NOTE)  # the recording's label timeline shows the typed labels
    qtbot.mouseClick(panel.back_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.bars.shown_labels == list(typed), timeout=TIMEOUT_MS)

    # What the panel saves trains the same adapter with ``train`` (same seed, same split of the examples).
    assert panel.save_adapter_to(tmp_path / "panel.safetensors")
    assert panel.save_examples_to(tmp_path / "taught")
    assert (tmp_path / "taught" / "classes.txt").read_text().splitlines() == ["my_mug: my mug", "red_robot: red robot"]
    _, info = load_adapter(tmp_path / "panel.safetensors")
    out = tmp_path / "train.safetensors"
    # No -T, --cut, --centre or --jitter: train takes them from the examples the panel saved.
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "taught"),
                "--epochs",
                "3",
                "--views",
                "2",
                "--shots",
                str(info.data["shots"]),
                "--val-per-class",
                str(info.data["val_per_class"]),
                *TINY,
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    mine, theirs = load_adapter(tmp_path / "panel.safetensors")[0].state_dict(), load_adapter(out)[0].state_dict()
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert load_adapter(out)[1].alpha == info.alpha and load_adapter(out)[1].classes == info.classes
    # An unwritable place is one line, and the examples stay.
    (tmp_path / "a-file").write_text("x")
    assert not panel.save_adapter_to(tmp_path / "a-file" / "x.safetensors")
    assert panel.status.text().startswith("cannot write") and "\n" not in panel.status.text()
    assert not panel.save_examples_to(tmp_path / "a-file" / "ex")
    assert panel.status.text().startswith("cannot write examples") and len(panel.examples) == 4


def test_a_cancelled_training_leaves_the_classifier_as_it_was(make_window, qtbot):  # noqa: F811 - make_window: the fixture imported above
    w = make_window(*TINY, "--loop")  # the fake classifier scores a, b, c; training loads tiny-digits itself
    panel = w.teach
    panel.train_settings = replace(QUICK, epochs=500)
    w.open_file(SAMPLE)
    for name, lo in (("zero", 0.0), ("seven", 1.0)):
        panel.name_box.setEditText(name)
        qtbot.waitUntil(lambda lo=lo: window_within(w, lo + 0.03, lo + 0.95), timeout=TIMEOUT_MS)
        assert panel.capture()
    panel.name_box.setEditText("")
    assert panel.train()
    qtbot.waitUntil(lambda: panel.progress.maximum() == 500 and panel.progress.value() >= 1, timeout=TRAIN_TIMEOUT_MS)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.job is None, timeout=TRAIN_TIMEOUT_MS)
    assert "cancelled" in panel.status.text() and panel.trained is None
    assert not panel.use_button.isEnabled() and w.session.controls.value.taught is None
    step = w.session.latest.result.step
    qtbot.waitUntil(lambda: w.session.latest.result.step > step, timeout=TIMEOUT_MS)
    assert w.bars.shown_labels == ["a", "b", "c"]


def test_bad_names_too_few_classes_and_empty_saves_are_one_line_each(make_window, qtbot, tmp_path):  # noqa: F811 - make_window: the fixture imported above
    w = make_window(*TINY, "--loop")
    panel = w.teach
    w.open_file(SAMPLE)
    qtbot.waitUntil(lambda: window_within(w, 0.03, 0.95), timeout=TIMEOUT_MS)
    for name in ("", "   "):
        panel.name_box.setEditText(name)
        assert not panel.capture()
        assert "empty or only spaces" in panel.status.text()
    assert panel.examples is None
    assert not panel.train() and "at least 2 classes" in panel.status.text()
    assert not panel.save_adapter_to(tmp_path / "a.safetensors") and "train first" in panel.status.text()
    assert not panel.save_examples_to(tmp_path / "ex") and "no examples" in panel.status.text()
    panel.name_box.setEditText("zero")
    qtbot.waitUntil(lambda: window_within(w, 0.03, 0.95), timeout=TIMEOUT_MS)
    assert panel.capture()
    assert not panel.capture() and "an example already" in panel.status.text()  # the same window twice
    assert not panel.train()
    assert panel.status.text() == "training needs at least 2 classes with examples; there are 1 (zero)"
    panel.name_box.setEditText("seven")  # named, but nothing captured for it yet
    assert not panel.train() and panel.status.text().startswith("class 'seven' has no example")
    assert "\n" not in panel.status.text()
    panel.browser.select_thumbnails([0])
    qtbot.mouseClick(panel.browser.remove_button, Qt.MouseButton.LeftButton)
    assert panel.examples.counts() == {} and panel.browser.thumbnail_count() == 0


def test_a_camera_that_disconnects_while_capture_is_held_keeps_the_examples(make_window, qtbot):  # noqa: F811 - make_window: the fixture imported above
    port = free_port()
    camera = LoopbackCamera(port)
    try:
        w = make_window()
        panel = w.teach
        w.open_spec(SourceSpec("net", f"127.0.0.1:{port}"))
        qtbot.waitUntil(lambda: w.status.state_text == "live", timeout=TIMEOUT_MS)
        panel.name_box.setEditText("noise")
        qtbot.waitUntil(lambda: len(w.session.latest.window) == 10, timeout=TIMEOUT_MS)
        panel.start_hold()
        qtbot.waitUntil(lambda: panel.examples is not None and len(panel.examples) >= 2, timeout=TIMEOUT_MS)
        camera.close()  # unplugged while the button is held
        qtbot.waitUntil(lambda: w.status.state_text == "disconnected", timeout=TIMEOUT_MS)
        qtbot.waitUntil(lambda: "disconnected" in panel.status.text(), timeout=TIMEOUT_MS)
        kept = len(panel.examples)
        assert kept >= 2 and f"{kept} examples kept" in panel.status.text() and "\n" not in panel.status.text()
        assert panel.examples.size.width == 64 and panel.browser.thumbnail_count() == kept
        camera = LoopbackCamera(port)  # back: capture goes on while the button is still held
        qtbot.waitUntil(lambda: len(panel.examples) > kept, timeout=TIMEOUT_MS)
        panel.stop_hold()
    finally:
        camera.close()


def test_pictures_join_a_class_through_the_r2etl_encoding(make_window, qtbot, tmp_path):  # noqa: F811 - make_window: the fixture imported above
    w = make_window(*TINY, "--loop")
    panel = w.teach
    w.open_file(SAMPLE)
    qtbot.waitUntil(lambda: w.session.latest is not None and w.session.latest.size is not None, timeout=TIMEOUT_MS)
    paths = []
    for i in range(2):
        image = np.zeros((40, 40), np.uint8)
        image[8:32, 12 + i : 28 + i] = 255  # a bright bar
        paths.append(tmp_path / f"bar{i}.png")
        Image.fromarray(image).save(paths[-1])
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    panel.name_box.setEditText("a bar")
    assert panel.add_pictures([*paths, tmp_path / "broken.png"]) == 2
    assert panel.examples.counts() == {"a bar": 2} and panel.examples.size == w.session.latest.size
    line = panel.status.text()
    assert line.startswith("a bar: 2 pictures added; cannot read image") and "\n" not in line
    assert all(ev.shape[0] > 100 for ev in panel.examples.examples("a bar"))  # events of the moved picture


def test_the_teach_tab_fits_the_1280x720_window(make_window, qtbot):  # noqa: F811 - make_window: the fixture imported above
    w = make_window(*TINY)
    w.resize(1280, 720)
    w.tabs.setCurrentWidget(w.tabs.widget(2))
    qtbot.waitUntil(lambda: w.size().toTuple() == (1280, 720))
    qtbot.wait(50)
    scroll = w.tabs.currentWidget()
    for part in (
        w.teach.name_box,
        w.teach.capture_button,
        w.teach.train_button,
        w.teach.use_button,
        w.teach.save_button,
        w.teach.browser.remove_button,
    ):
        seen = QRect(part.mapTo(scroll.viewport(), QPoint(0, 0)), part.size())
        assert scroll.viewport().rect().contains(seen), part
    assert w.minimumSizeHint().height() <= 600
