"""The window's parts on their own: event-view tiling and colours, label bars, prompt editor,
playback bar, status bar, recent files, label presets. Offscreen, no pipeline."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QImage, QPointingDevice, QWheelEvent
from PySide6.QtWidgets import QApplication, QBoxLayout, QSlider

from neuroclip_live.events import BACKGROUND
from neuroclip_live.model.classifier import Scores, Timings
from neuroclip_live.model.label_presets import (
    CIFAR10,
    DIGITS,
    DVS128_GESTURES,
    LABEL_PRESETS,
    preset_labels,
)
from neuroclip_live.runtime.controls import Controls, ControlsModel
from neuroclip_live.runtime.pipeline import PipelineStats, Snapshot, StepResult
from neuroclip_live.stream.framing import Frame
from ui import theme
from ui.elided_label import ElidedLabel, elide_lines
from ui.event_view import (
    EMPTY_VALUE,
    GAP_VALUE,
    EventView,
    event_lut,
    grid_shape,
    shrink_ternary,
    tile_window,
)
from ui.history_plot import HISTORY_S, MAX_CURVES
from ui.label_bars import HINT_LINES, MAX_BARS, MIN_PITCH_PX, LabelBars, bar_order
from ui.playback_bar import PlaybackBar, format_time
from ui.prompt_editor import PromptEditor
from ui.recent_files import RecentFiles
from ui.status import StatusBar, format_rate


def scores(labels: list[str], probs: list[float]) -> Scores:
    return Scores(labels, np.asarray(probs, dtype=np.float32), Timings(0.0, 0.0, 1), 1)


def result(step: int, f: Frame, s: Scores, epoch: int = 0) -> StepResult:
    return StepResult(step, f, s, latency_ms=0.0, drops=0, epoch=epoch)


def frame(index: int, h: int = 6, w: int = 8) -> Frame:
    image = np.full((h, w), BACKGROUND, dtype=np.uint8)
    image[index % h, index % w] = 255
    return Frame(index, index * 1000, (index + 1) * 1000, 1, image)


# ------------------------------------------------------------------ event view
def test_shrink_keeps_sparse_events_visible():
    image = np.full((8, 8), BACKGROUND, dtype=np.uint8)
    image[1, 1] = 255  # one ON pixel in the top-left 4x4 block
    image[6, 5] = 0  # one OFF pixel in the bottom-right block
    image[5, 1] = 0
    image[6, 2] = 255  # bottom-left block holds both: ON wins
    small = shrink_ternary(image, 4)
    assert small.tolist() == [[255, BACKGROUND], [255, 0]]
    assert shrink_ternary(image, 1) is image


def test_window_mosaic_holds_every_frame_in_order_with_gaps():
    images = [frame(i).image for i in range(10)]
    rows, cols = grid_shape(10, 8, 6, target_aspect=5 * 8 / (2 * 6))
    assert (rows, cols) == (2, 5)
    mosaic = tile_window(images, target_aspect=5 * 8 / (2 * 6))
    g = 4
    assert mosaic.shape == (2 * 6 + g, 5 * 8 + 4 * g)
    for i, im in enumerate(images):
        r, c = divmod(i, 5)
        np.testing.assert_array_equal(mosaic[r * (6 + g) : r * (6 + g) + 6, c * (8 + g) : c * (8 + g) + 8], im)
    assert mosaic[6, 0] == GAP_VALUE


def test_window_mosaic_marks_unused_cells_and_shrinks_big_sensors():
    images = [np.full((720, 1280), BACKGROUND, dtype=np.uint8) for _ in range(3)]
    mosaic = tile_window(images, target_aspect=1.8)
    assert mosaic.shape == (2 * 180 + 4, 2 * 320 + 4)  # 2x2 grid of tiles shrunk to at most 360 px wide
    assert (mosaic == EMPTY_VALUE).any()  # 3 tiles in a 2x2 grid leave one cell
    assert tile_window([], 1.0).shape == (1, 1)


def test_lookup_tables_keep_grey_exact_and_colour_polarities():
    grey = event_lut(False)
    for v in (0, 127, 255):
        assert grey[v].tolist() == [v, v, v]
    colour = event_lut(True)
    assert tuple(colour[255]) == theme.EVENT_ON
    assert tuple(colour[0]) == theme.EVENT_OFF
    assert tuple(colour[127]) == theme.EVENT_BACKGROUND


def test_event_view_modes_and_export(qtbot, tmp_path):
    view = EventView()
    qtbot.addWidget(view)
    view.resize(600, 400)
    window = [frame(i) for i in range(4)]
    view.show_frames(window[-1], window, None)
    np.testing.assert_array_equal(view.displayed, window[-1].image)
    assert "1 events" in view.caption.text()
    view.set_window_mode(True)
    assert view.displayed.shape[0] > 6 and view.displayed.shape[1] > 8
    assert "4 frames" in view.caption.text()
    view.set_colour(True)
    path = tmp_path / "view.png"
    assert view.export_png(str(path))
    img = QImage(str(path))
    assert (img.width(), img.height()) == (view.displayed.shape[1], view.displayed.shape[0])
    assert not view.aps_column.isVisible()


def test_event_view_shows_aps_beside_when_given(qtbot):
    from neuroclip_live.stream.sources.base import ApsFrame

    view = EventView()
    qtbot.addWidget(view)
    view.resize(800, 400)
    view.show()
    aps = ApsFrame(0, np.tile(np.arange(0, 240, 30, dtype=np.uint8), (6, 1)))  # a grey ramp, 6 x 8
    view.show_frames(frame(0), [frame(0)], aps)
    qtbot.wait(50)
    assert view.aps_column.isVisible() and view.aps.isVisible() and view.aps_box.isVisible()
    np.testing.assert_array_equal(view.aps_displayed, aps.image)
    assert view.aps.height() > 100 and view.aps.width() > 100  # a pane of its own, not a sliver
    # What the pane paints holds the ramp: many grey levels, not an empty background.
    grey = np.asarray(view.aps.grab().toImage().convertToFormat(QImage.Format.Format_Grayscale8).constBits())
    assert len(np.unique(grey)) >= 6
    assert view.panes.direction() == QBoxLayout.Direction.LeftToRight  # wide room: side by side
    view.resize(300, 700)  # tall room: one over the other shows both bigger
    qtbot.waitUntil(lambda: view.panes.direction() == QBoxLayout.Direction.TopToBottom)
    view.aps_box.setChecked(False)
    assert not view.aps_column.isVisible() and view.aps_displayed is None


# ------------------------------------------------------------------ label bars
def test_bar_order_sorts_on_request_and_caps_long_lists():
    probs = np.array([0.1, 0.6, 0.3])
    assert bar_order(["a", "b", "c"], probs, sort=False) == [0, 1, 2]
    assert bar_order(["a", "b", "c"], probs, sort=True) == [1, 2, 0]
    many = np.linspace(0, 1, 30)
    order = bar_order([str(i) for i in range(30)], many, sort=False, limit=20)
    assert order[0] == 29 and len(order) == 20


def test_label_bars_follow_labels_order_and_highlight_top1(qtbot):
    bars = LabelBars()
    qtbot.addWidget(bars)
    bars.show_result(result(0, frame(0), scores(["cat", "dog", "car"], [0.2, 0.7, 0.1])))
    assert bars.shown_labels == ["cat", "dog", "car"]
    brushes = bars.bars.opts["brushes"]
    assert brushes[1].color().name() == theme.HIGHLIGHT
    assert brushes[0].color().name() == theme.BAR
    bars.sort_box.setChecked(True)
    assert bars.shown_labels == ["dog", "cat", "car"]
    # Fewer labels on a later timestep: bars and ticks shrink together.
    bars.show_result(result(1, frame(1), scores(["car", "bus"], [0.4, 0.6])))
    assert bars.shown_labels == ["bus", "car"]
    assert len(bars.bars.opts["y"]) == 2
    # The same timestep twice is drawn once; history plot shows the top labels still scored.
    bars.show_result(result(1, frame(1), scores(["x"], [1.0])))
    assert bars.shown_labels == ["bus", "car"]
    assert bars.history.plotted_labels() == {"bus", "car"}


def test_label_bars_history_restarts_after_a_seek(qtbot):
    bars = LabelBars()
    qtbot.addWidget(bars)
    for i in range(5):
        bars.show_result(result(i, frame(i), scores(["a", "b"], [0.5, 0.5])))
    assert bars.history.history_lengths()["a"] == 5
    bars.show_result(result(5, frame(0), scores(["a", "b"], [0.5, 0.5]), epoch=1))
    assert bars.history.history_lengths()["a"] == 1


def step_at(step: int, t_s: float, s: Scores) -> StepResult:
    t_us = int(t_s * 1e6)
    return StepResult(step, Frame(step, t_us - 30_000, t_us, 1, frame(0).image), s, latency_ms=0.0, drops=0, epoch=0)


def test_the_plot_keeps_an_earlier_top_labels_history(qtbot):
    labels = ["circle", "star", "square", "7"]
    bars = LabelBars()
    qtbot.addWidget(bars)
    plot = bars.history
    step = 0
    for label, start in (("circle", 0.0), ("star", 1.0)):  # the sample: the circle, then the star
        for k in range(33):
            probs = np.full(4, 0.01)
            probs[labels.index(label)] = 0.97
            bars.show_result(step_at(step, start + k * 0.03, scores(labels, list(probs))))
            step += 1
    assert "circle" in plot.plotted_labels() and plot.key_labels()[0] == "star"  # the newest top label first
    ts, ps = plot.data.curve("circle")
    assert ps.max() == pytest.approx(0.97) and ts.min() < -1.0  # its 97% is still on the plot a second later
    # Once the time it was among the top three has left the plot's span, the circle goes.
    for k in range(int((HISTORY_S + 0.5) / 0.1)):
        bars.show_result(step_at(step, 2.0 + k * 0.1, scores(labels, [0.001, 0.97, 0.02, 0.009])))
        step += 1
    assert "circle" not in plot.plotted_labels() and "star" in plot.plotted_labels()


def test_the_plot_holds_a_bounded_number_of_curves(qtbot):
    labels = [f"label {i}" for i in range(12)]
    bars = LabelBars()
    qtbot.addWidget(bars)
    for i in range(12):  # each label on top in turn, all within the plot's span
        probs = np.full(12, 0.01)
        probs[i] = 0.9 - 0.01 * i
        bars.show_result(step_at(i, i * 0.2, scores(labels, list(probs))))
    plotted = bars.history.plotted_labels()
    assert len(plotted) == MAX_CURVES and "label 11" in plotted  # the newest top label, then the highest peaks
    assert plotted == {"label 11", *(f"label {i}" for i in range(MAX_CURVES - 1))}
    assert len(bars.history.key_labels()) == MAX_CURVES


def test_forty_labels_keep_their_order_and_scroll(qtbot):
    labels = [f"label {i}" for i in range(40)]
    bars = LabelBars()
    qtbot.addWidget(bars)
    bars.resize(420, 360)
    bars.show()
    probs = np.linspace(0.001, 0.05, 40)
    bars.show_result(result(0, frame(0), scores(labels, list(probs / probs.sum()))))
    qtbot.wait(50)
    assert bars.shown_labels == labels  # typed order: "Sort by probability" is off
    assert bars.limit_note.isHidden()
    assert bars.scroll.scrolls() and bars.scroll.height() < 40 * MIN_PITCH_PX  # the list scrolls...
    bar = bars.scroll.verticalScrollBar()
    viewport = bars.plot.viewport()
    at = QPointF(50, 50)
    wheel = QWheelEvent(
        at,
        viewport.mapToGlobal(at),
        QPoint(0, 0),
        QPoint(0, -120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
        Qt.MouseEventSource.MouseEventNotSynthesized,
        QPointingDevice.primaryPointingDevice(),
    )
    QApplication.sendEvent(viewport, wheel)
    assert bar.value() > 0  # ...with the mouse wheel over the bars
    bars.sort_box.setChecked(True)
    assert bars.shown_labels == labels[::-1]
    # More than MAX_BARS: the most probable, sorted, and a line that says so.
    many = [f"label {i}" for i in range(MAX_BARS + 10)]
    bars.sort_box.setChecked(False)
    bars.show_result(result(1, frame(1), scores(many, list(np.linspace(1, 2, len(many)) / 90))))
    assert len(bars.shown_labels) == MAX_BARS and bars.shown_labels[0] == many[-1]
    assert not bars.limit_note.isHidden() and f"of {len(many)} labels" in bars.limit_note.text()


def test_a_long_hint_is_elided_to_its_lines_and_leaves_the_bars_their_room(qtbot):
    bars = LabelBars()
    qtbot.addWidget(bars)
    bars.resize(420, 260)
    bars.show()
    bars.show_result(result(0, frame(0), scores(["0", "7", "circle", "star"], [0.1, 0.1, 0.7, 0.1])))
    hint = "adapter a.safetensors was trained for 0, 1, 2, 3, 4, 5 and 4 more; scoring the labels given instead; " * 4
    bars.set_hint(hint.strip())
    qtbot.wait(50)
    assert bars.hint.text() == hint.strip() and bars.hint.toolTip() == hint.strip()
    assert bars.hint.is_elided() and bars.hint.shown_text().endswith("…")
    assert bars.hint.shown_text().count("\n") == HINT_LINES - 1
    assert bars.hint.geometry().bottom() < bars.scroll.geometry().top()  # nothing drawn over the bars
    assert not bars.scroll.scrolls()  # four bars still fit below it


def test_elided_label_shortens_with_a_mark_and_keeps_the_whole_text(qtbot):
    label = ElidedLabel("no camera connected (neither iniVation nor Prophesee): plug one in")
    qtbot.addWidget(label)
    label.resize(120, 20)
    label.show()
    qtbot.wait(20)
    assert label.shown_text().endswith("…") and label.shown_text().startswith("no camera")
    assert label.text().endswith("plug one in") and label.toolTip() == label.text()
    label.resize(900, 20)
    qtbot.waitUntil(lambda: not label.is_elided())
    assert elide_lines("one two three four five six", label.font(), 60, 2)[-1].endswith("…")
    assert elide_lines("a_recording_with_a_long_name.aedat4", label.font(), 80, 3) == [
        label.fontMetrics().elidedText("a_recording_with_a_long_name.aedat4", Qt.TextElideMode.ElideRight, 80)
    ]  # one word too long for the line: elided, not run past the edge


# --------------------------------------------------------------- prompt editor
def test_prompt_editor_parses_commas_and_lines_and_applies(qtbot):
    controls = ControlsModel()
    editor = PromptEditor(controls)
    qtbot.addWidget(editor)
    editor.edit.setPlainText("cat, dog\ncar\n\nCat")
    assert editor.labels() == ["cat", "dog", "car"]
    assert "merged duplicate" in editor.state.text()
    editor.apply_button.click()
    assert controls.value.labels == ("cat", "dog", "car")  # the model holds them; the editor shows them
    assert editor.edit.toPlainText() == "cat\ndog\ncar"  # rewritten one per line
    assert "in use" in editor.state.text()
    controls.update(labels=("bus",))  # labels from elsewhere (the command line, a preset) are shown
    assert editor.labels() == ["bus"] and "1 label in use" in editor.state.text()


def test_prompt_editor_reorders_and_removes_lines(qtbot):
    editor = PromptEditor(ControlsModel())
    qtbot.addWidget(editor)
    editor.set_labels(["a", "b", "c"])
    editor.put_cursor_on_line(2)
    editor.move_current_line(-1)
    assert editor.labels() == ["a", "c", "b"]
    assert editor.edit.textCursor().blockNumber() == 1
    editor.remove_current_line()
    assert editor.labels() == ["a", "b"]
    assert "Apply" in editor.state.text()


def test_prompt_editor_presets_and_templates(qtbot):
    controls = ControlsModel(Controls(templates="a sketch of a {}."))  # a custom template from the command line
    editor = PromptEditor(controls)
    qtbot.addWidget(editor)
    assert editor.templates.currentText() == "a sketch of a {}." and editor.ensemble.isChecked()
    editor.load_preset("CIFAR-10 classes")
    assert controls.value.labels == tuple(CIFAR10)
    editor.ensemble.setChecked(False)
    assert controls.value.ensemble is False and controls.value.templates == "a sketch of a {}."
    editor.templates.setCurrentText("nmnist")
    assert controls.value.templates == "nmnist"
    editor.edit.setPlainText(" , ")
    editor.apply()
    assert "at least one label" in editor.state.text() and controls.value.labels == tuple(CIFAR10)


def test_prompt_editor_shows_the_models_own_labels_when_none_were_asked_for(qtbot):
    controls = ControlsModel()
    editor = PromptEditor(controls)
    qtbot.addWidget(editor)
    editor.show_model_labels(["circle", "star"])  # a trained adapter's classes, scored without labels given
    assert editor.labels() == ["circle", "star"] and "2 labels in use" in editor.state.text()
    assert controls.value.labels == ()  # shown, not written back
    editor.edit.setPlainText("circle\nstar\nsquare")
    assert "Apply" in editor.state.text()


def test_label_presets():
    assert [str(d) for d in range(10)] == DIGITS
    assert len(CIFAR10) == 10 and len(DVS128_GESTURES) == 11
    assert list(LABEL_PRESETS) == ["Digits 0-9", "Digits and shapes", "CIFAR-10 classes", "DVS128 gestures"]
    assert LABEL_PRESETS["Digits and shapes"][10:] == ["circle", "square", "triangle", "star", "cross", "line"]
    labels = preset_labels("Digits 0-9")
    labels.append("x")
    assert preset_labels("Digits 0-9") == DIGITS  # callers get copies
    with pytest.raises(KeyError, match="known"):
        preset_labels("nope")


# ---------------------------------------------------------------- playback bar
def test_playback_bar_seeks_and_follows_the_stream(qtbot):
    controls = ControlsModel(Controls(speed=3.0, loop=True))
    bar = PlaybackBar(controls)
    qtbot.addWidget(bar)
    bar.show()
    bar.set_mode("file")
    bar.show_position(1_500_000, (1_000_000, 3_000_000))
    assert bar.slider.value() == 2_500
    assert bar.time_label.text() == "0:00.500 / 0:02.000"
    bar.show_position(5_000_000, (1_000_000, 3_000_000), final=False)  # a big file's end still being found
    assert bar.time_label.text() == "0:04.000 / ≥0:04.000" and bar.slider.value() == 10_000
    bar.show_position(1_500_000, (1_000_000, 3_000_000))
    with qtbot.waitSignal(bar.seekRequested) as sig:
        bar.seek_to_fraction(0.75)
    assert sig.args == [2_500_000]
    bar.show_position(1_600_000, (1_000_000, 3_000_000))  # an old position: the slider stays put
    assert bar.slider.value() == 7_500
    with qtbot.waitSignal(bar.seekRequested) as sig:  # a click on the groove pages forward
        bar.slider.triggerAction(QSlider.SliderAction.SliderPageStepAdd)
    assert sig.args[0] > 2_500_000
    assert bar.speed.currentText() == "3×" and bar.loop.isChecked()  # shows the model's, offered or not
    bar.speed.setCurrentIndex(bar.speed.findData(0.0))
    bar.loop.setChecked(False)
    assert (controls.value.speed, controls.value.loop) == (0.0, False)
    controls.update(speed=2.0)  # a change from elsewhere shows
    assert bar.speed.currentText() == "2×"
    with qtbot.waitSignal(bar.playToggled) as sig:
        bar.play_button.click()
    assert sig.args == [False] and bar.play_button.text() == "Play"
    bar.set_mode("live")
    assert bar.live_label.isVisible() and not bar.slider.isVisible()


def test_format_time():
    assert format_time(0) == "0:00.000"
    assert format_time(61_234_000) == "1:01.234"


# ------------------------------------------------------------ status and files
def test_status_bar_elides_a_long_message_and_keeps_it_whole_in_the_tooltip(qtbot):
    bar = StatusBar()
    qtbot.addWidget(bar)
    bar.resize(900, 24)
    bar.show()
    message = (
        "no camera connected (neither iniVation nor Prophesee): plug one in and check the USB cable and "
        "permissions (udev rules)"
    )
    bar.show_state("error", message)
    qtbot.wait(20)
    shown = bar.message_label.shown_text()
    assert shown.endswith("…") and len(shown) > len("no c…")  # not "no c", and marked where it is cut
    assert bar.message_text == message and bar.message_label.toolTip() == message
    metrics = bar.message_label.fontMetrics()
    assert metrics.horizontalAdvance(shown) <= bar.message_label.contentsRect().width()
    # A usual file name stays whole in the narrowest bar; a very long one is shortened, whole in its tooltip.
    source = bar.source_label
    for name, elided in (("davis346.aedat4", False), ("a_recording_from_the_lab_with_a_very_long_name.aedat4", True)):
        source.setText(name)
        source.show()
        bar.resize(bar.minimumSizeHint().width(), 24)
        qtbot.wait(20)
        assert source.is_elided() == elided and source.toolTip() == name


def test_status_bar_words_and_figures(qtbot):
    bar = StatusBar()
    qtbot.addWidget(bar)
    snap = Snapshot(
        "disconnected",
        "camera unplugged",
        "DAVIS346 123",
        None,
        True,
        None,
        None,
        None,
        [],
        None,
        None,
        PipelineStats(event_rate=1.25e6, steps_per_s=33.3, inference_ms=12.3, latency_ms=20, drops=7),
        model_engine="OpenVINO bf16 · CPU",
    )
    bar.show_snapshot(snap, has_model=True)
    assert bar.engine_label.text() == "OpenVINO bf16 · CPU"  # where the image encoder runs
    assert bar.state_text == "disconnected"
    assert bar.message_text == "camera unplugged"
    assert bar.rate_label.text() == "1.25 Mev/s"
    assert bar.drops_label.text() == "drops 7"
    bar.show_recording("● REC x.aedat4")
    assert not bar.record_label.isHidden()
    assert format_rate(999) == "999 ev/s" and format_rate(12_300) == "12.3 kev/s"


def test_recent_files_newest_first_existing_only(tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    recent = RecentFiles(settings)
    files = []
    for name in ("a.aedat4", "b.aedat4", "c.aedat4"):
        p = tmp_path / name
        p.write_bytes(b"x")
        files.append(str(p))
        recent.add(str(p))
    recent.add(files[0])
    assert recent.paths() == [files[0], files[2], files[1]]
    (tmp_path / "b.aedat4").unlink()
    assert recent.paths() == [files[0], files[2]]
    assert RecentFiles(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)).paths()[0] == files[0]
