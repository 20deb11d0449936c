"""Relevance maps in use (issue 24): a recording of two objects side by side, then swapped, made with the project's
event-camera model; tiny-digits' labels peak on their objects; ``--where`` and ``--dump`` headless; the Where toggle,
a bar click and Export view in the window."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt

from clip_fixtures import register_tiny_configs
from neuroclip_live.cli import main
from neuroclip_live.events import SensorSize
from neuroclip_live.model.label_presets import default_labels
from neuroclip_live.tinyclip.scenes import TwoObjectScene, boxes_at, inside, simulate, write_recording
from test_ui_window import make_window, settings  # noqa: F401 - the window tests' fixtures, one way to make a window

TINY = ["--model", "tiny-digits", "--device", "cpu", "--backend", "torch"]
# Two scenes, side by side on a wide sensor and one above the other on a tall one, each swapped half way.
SCENES = {
    "wide": TwoObjectScene(SensorSize(200, 96), ("4", "circle"), ((52, 48), (148, 48)), 70, ("font", "font"), seed=3),
    "tall": TwoObjectScene(SensorSize(110, 220), ("2", "star"), ((55, 58), (55, 162)), 80, ("strokes", "font"), seed=5),
}
# Measured (README "Where"): the share of timesteps in which each object's label peaks inside its box, no
# margin, for the worse of the two objects: wide 0.92 (4 and circle both), tall 0.89 (2; star 0.94). About
# 5 of a scene's 66 timesteps follow the swap while the window still holds the old places.
FLOORS = {"wide": 0.85, "tall": 0.85}
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> dict[str, tuple]:
    folder = tmp_path_factory.mktemp("scenes")
    out = {}
    for name, scene in SCENES.items():
        events, phases = simulate(scene)
        out[name] = (write_recording(events, scene.size, folder / f"{name}.aedat4"), phases, scene)
    return out


def png(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def json_rows(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("name", list(SCENES))
def test_each_objects_label_peaks_on_it_before_and_after_the_swap(recordings, capsys, name):
    path, phases, scene = recordings[name]
    rc = main(["--file", str(path), "--headless", "--json", "--where", "--speed", "0", *TINY])
    out, err = capsys.readouterr()
    assert rc == 0, err
    rows = json_rows(out)
    assert len(rows) >= 60
    hits = {label: 0 for label in scene.names}
    counted = 0
    for row in rows:
        assert set(row["where"]) == set(default_labels("tiny-digits"))  # every label's peak, each step
        assert all(0 <= x < scene.size.width and 0 <= y < scene.size.height for x, y in row["where"].values())
        boxes = boxes_at(phases, (row["t_start_us"] + row["t_end_us"]) / 2)
        if not boxes:
            continue
        counted += 1
        for label, box in boxes.items():
            hits[label] += inside(row["where"][label], box)
    rates = {label: h / counted for label, h in hits.items()}
    assert min(rates.values()) >= FLOORS[name], rates


def test_where_without_it_the_lines_have_no_where(recordings, capsys):
    path = recordings["wide"][0]
    rc = main(["--file", str(path), "--headless", "--json", "--speed", "0", "--max-steps", "3", *TINY])
    out, _ = capsys.readouterr()
    assert rc == 0 and all("where" not in row and "scores" in row for row in json_rows(out))
    rc = main(["--file", str(path), "--headless", "--where", "--speed", "0", "--max-steps", "2", *TINY])
    out, _ = capsys.readouterr()
    assert rc == 0 and all(" @" in line for line in out.splitlines())  # text lines: "4  61.0% @52,48"


def test_dump_writes_each_labels_map_beside_the_frame(recordings, tmp_path, capsys):
    path, _, scene = recordings["wide"]
    dump = tmp_path / "dump"
    rc = main(
        [
            "--file",
            str(path),
            "--headless",
            "--where",
            "--dump",
            str(dump),
            "--speed",
            "0",
            "--max-steps",
            "4",
            "--labels",
            "4, circle, star",
            *TINY[:2],
        ]
    )
    _, err = capsys.readouterr()
    assert rc == 0, err
    for step in range(4):
        assert png(dump / f"step{step:06d}.png").shape == (scene.size.height, scene.size.width)
        for i, label in enumerate(["4", "circle", "star"]):
            grey = png(dump / f"step{step:06d}-where-{i:02d}-{label}.png")
            assert grey.shape == (scene.size.height, scene.size.width) and grey.dtype == np.uint8
    last = png(dump / "step000003-where-00-4.png")
    assert last.max() > last.min()  # a map, not a blank
    assert sorted(p.name for p in dump.iterdir())[:2] == ["step000000-where-00-4.png", "step000000-where-01-circle.png"]


def test_where_without_a_model_is_one_line_and_exit_2(recordings, capsys):
    rc = main(["--file", str(recordings["wide"][0]), "--headless", "--where"])
    _, err = capsys.readouterr()
    assert rc == 2
    assert err.count("\n") == 1 and "--where needs a model" in err


@pytest.fixture(scope="module")
def avg_model(tmp_path_factory) -> list[str]:
    """A ViT that pools its patch tokens (no class token to read places beside): it scores, but gives no maps."""
    import open_clip
    from safetensors.torch import save_file

    register_tiny_configs()
    weights = tmp_path_factory.mktemp("avg") / "avg.safetensors"
    model = open_clip.create_model("test-tiny-vit-avg")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    return ["--model", "test-tiny-vit-avg", "--weights", str(weights), "--backend", "torch"]


AVG_WHY = "test-tiny-vit-avg: its ViT pools attention or tokens another way than CLIP's class token"


def test_where_with_a_model_that_cannot_give_maps_is_one_line_and_exit_2(recordings, avg_model, capsys):
    args = ["--file", str(recordings["wide"][0]), "--headless", "--speed", "0", "--labels", "a, b", *avg_model]
    rc = main([*args, "--where"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    lines = [line for line in err.splitlines() if not line.startswith("note:")]
    assert lines == [f"neuroclip-live: --where: {AVG_WHY}"]
    assert main([*args, "--max-steps", "2"]) == 0  # the same model scores without maps


# ------------------------------------------------------------------ the window
def test_where_toggle_draws_the_map_a_bar_click_picks_its_label_and_export_keeps_it(
    make_window,  # noqa: F811 - the fixture imported above
    recordings,
    qtbot,
    tmp_path,
):
    path, _, scene = recordings["wide"]
    w = make_window(*TINY, "--loop", "--speed", "0.5", labels=None, factory=None)  # the real model
    w.open_file(path)
    view = w.event_view
    qtbot.waitUntil(lambda: bool(w.bars.shown_labels), timeout=TIMEOUT_MS)
    assert view.where_button.isEnabled() and not view.where.shown
    qtbot.mouseClick(view.where_button, Qt.MouseButton.LeftButton)
    assert w.session.controls.value.where and w.actions.where.isChecked()
    qtbot.waitUntil(lambda: view.where.shown, timeout=TIMEOUT_MS)
    assert view.where.heat.isVisible() and view.where.marker.isVisible()
    assert view.where.values.shape[1] > view.where.values.shape[0]  # over the wide sensor
    x, y = w.bars.bar_centre("circle")
    qtbot.mouseClick(w.bars.plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(int(x), int(y)))
    assert w.session.controls.value.where_label == "circle"
    qtbot.waitUntil(lambda: view.where.label == "circle" and w.bars.selected == "circle", timeout=TIMEOUT_MS)
    assert "circle at" in view.caption.text()

    with_map = tmp_path / "with.png"
    assert view.export_png(str(with_map))
    qtbot.mouseClick(view.where_button, Qt.MouseButton.LeftButton)  # off: the next draw drops the overlay
    qtbot.waitUntil(lambda: not view.where.shown, timeout=TIMEOUT_MS)
    without = tmp_path / "without.png"
    assert view.export_png(str(without))
    a, b = png(with_map), png(without)
    assert a.shape == b.shape == (scene.size.height, scene.size.width, 3)
    # The heat map is warm: red over green over blue where it is drawn; the plain frame is grey.
    warm = (a[..., 0].astype(int) - a[..., 2]) > 60
    assert warm.mean() > 0.05 and ((b[..., 0].astype(int) - b[..., 2]) > 60).mean() == 0


def test_where_toggle_is_disabled_with_the_reason_without_a_model(make_window, recordings, qtbot):  # noqa: F811 - make_window: the fixture imported above
    w = make_window("--model", "RN50", labels=None)  # no labels: frames only, no model loads
    w.open_file(recordings["wide"][0])
    qtbot.waitUntil(lambda: w.event_view.displayed is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not w.event_view.where_button.isEnabled(), timeout=TIMEOUT_MS)
    assert "no model runs" in w.event_view.where_button.toolTip() and not w.actions.where.isEnabled()


def test_where_toggle_is_disabled_with_the_reason_for_a_model_without_maps(
    make_window,  # noqa: F811 - the fixture imported above
    recordings,
    avg_model,
    qtbot,
):
    w = make_window(*avg_model, labels=("a", "b"), factory=None)  # the real model: it scores, it cannot map
    w.open_file(recordings["wide"][0])
    qtbot.waitUntil(lambda: bool(w.bars.shown_labels), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not w.event_view.where_button.isEnabled(), timeout=TIMEOUT_MS)
    assert w.event_view.where_button.toolTip() == f"Where is off: {AVG_WHY}" and not w.actions.where.isEnabled()
