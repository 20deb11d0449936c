"""The synthetic world: renders, the event-camera model and the sample recording made from them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from neuroclip_live.events import EVENT_DTYPE, SensorSize
from neuroclip_live.tinyclip import synthetic

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "recordings" / "sample.aedat4"


def _load_make_sample():
    spec = importlib.util.spec_from_file_location("make_sample", ROOT / "recordings" / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("size", [SensorSize(34, 34), SensorSize(160, 120)])
def test_event_frames_are_ternary_and_show_the_object(size):
    rng = np.random.default_rng(0)
    for label in range(len(synthetic.CLASSES)):
        frame = synthetic.event_frame(label, size, rng)
        assert frame.shape == (size.height, size.width) and frame.dtype == np.uint8
        assert set(np.unique(frame)) <= {0, 127, 255}
        assert (frame == 255).any() and (frame == 0).any()


def test_plain_images_and_masks():
    rng = np.random.default_rng(1)
    size = SensorSize(34, 34)
    for label in range(len(synthetic.CLASSES)):
        image = synthetic.plain_image(label, size, rng)
        assert image.shape == (34, 34) and image.dtype == np.uint8
        assert image.std() > 5  # an object is there, not a flat picture
    for style in ("font", "strokes"):
        mask = synthetic.object_mask(3, size, synthetic.Pose(17, 17, 28), rng, style=style, supersample=2)
        assert mask.shape == (68, 68) and mask.min() >= 0.0 and mask.max() <= 1.0 and mask.max() > 0.5


def test_captions_name_the_class():
    rng = np.random.default_rng(2)
    for label, name in enumerate(synthetic.CLASSES):
        for _ in range(20):
            text = synthetic.caption(label, rng)
            if label < 10:
                assert name in text or synthetic.DIGIT_WORDS[label] in text
            else:
                assert name in text


def test_event_camera_fires_on_when_brighter_and_off_when_darker():
    size = SensorSize(8, 6)
    camera = synthetic.EventCameraModel(
        size, np.random.default_rng(3), threshold=0.2, threshold_sigma=0.0, noise_rate_hz=0.0
    )
    dark = np.full((6, 8), 0.1)
    camera.reset(dark, 0)
    bright = dark.copy()
    bright[2, 3] = 0.8  # log(0.82 / 0.12) = 1.92: nine thresholds of 0.2
    on = camera.step(bright, 1_000)
    assert on.dtype == EVENT_DTYPE
    assert on.shape[0] == 9 and (on["p"] == 1).all()
    assert (on["x"] == 3).all() and (on["y"] == 2).all()
    assert np.all(np.diff(on["t"]) >= 0) and on["t"].min() >= 0 and on["t"].max() <= 1_000
    assert camera.step(bright, 2_000).shape[0] == 0  # no change, no events
    off = camera.step(dark, 3_000)
    assert off.shape[0] == 9 and (off["p"] == 0).all()
    assert (off["t"] >= 2_000).all() and (off["t"] <= 3_000).all()


def test_moving_bright_bar_gives_on_at_the_leading_edge_and_off_at_the_trailing_edge():
    size = SensorSize(20, 10)
    camera = synthetic.EventCameraModel(
        size, np.random.default_rng(4), threshold=0.2, threshold_sigma=0.0, noise_rate_hz=0.0
    )

    def scene(left: int) -> np.ndarray:
        img = np.full((10, 20), 0.1)
        img[:, left : left + 4] = 0.9
        return img

    camera.reset(scene(5), 0)
    ev = camera.step(scene(7), 1_000)  # the bar moves right by 2 pixels
    assert set(ev["x"][ev["p"] == 1].tolist()) == {9, 10}  # newly bright: ahead of the bar
    assert set(ev["x"][ev["p"] == 0].tolist()) == {5, 6}  # newly dark: behind it


def test_event_camera_noise_stays_in_bounds():
    size = SensorSize(30, 20)
    camera = synthetic.EventCameraModel(size, np.random.default_rng(5), noise_rate_hz=50.0)
    flat = np.full((20, 30), 0.5)
    camera.reset(flat, 0)
    ev = camera.step(flat, 100_000)  # 50 Hz x 600 pixels x 0.1 s: about 3,000 noise events
    assert 2_000 < ev.shape[0] < 4_000
    assert ev["x"].max() < 30 and ev["y"].max() < 20
    assert np.all(np.diff(ev["t"]) >= 0)


def test_sample_recording_reads_back_with_dv_processing():
    dv = pytest.importorskip("dv_processing")
    assert SAMPLE.is_file(), "recordings/sample.aedat4 is committed; remake it with recordings/make_sample.py"
    assert SAMPLE.stat().st_size < 5_000_000
    reader = dv.io.MonoCameraRecording(str(SAMPLE))
    assert tuple(reader.getEventResolution()) == (128, 128)
    start, end = reader.getTimeRange()
    make_sample = _load_make_sample()
    expected = len(make_sample.SEQUENCE) * make_sample.SECONDS_PER_OBJECT * 1e6
    assert expected - 10_000 <= end - start <= expected
    n = 0
    polarities = set()
    while reader.isRunning():
        batch = reader.getNextEventBatch()
        if batch is not None:
            arr = batch.numpy()
            n += arr.shape[0]
            polarities |= set(np.unique(arr["polarity"]).tolist())
            assert arr["x"].max() < 128 and arr["y"].max() < 128
    assert n > 100_000 and polarities == {0, 1}


@pytest.mark.slow
def test_sample_recording_is_what_its_script_makes(tmp_path):
    dv = pytest.importorskip("dv_processing")
    make_sample = _load_make_sample()
    events = make_sample.simulate(seed=0)
    out = tmp_path / "again.aedat4"
    make_sample.write_aedat4(events[:1000], out)
    reader = dv.io.MonoCameraRecording(str(SAMPLE))
    first = reader.getNextEventBatch().numpy()[:1000]
    assert np.array_equal(first["timestamp"], events["t"][: first.shape[0]])
    assert np.array_equal(first["x"], events["x"][: first.shape[0]])
    assert np.array_equal(first["polarity"], events["p"][: first.shape[0]])
    again = dv.io.MonoCameraRecording(str(out))
    assert again.getNextEventBatch().numpy().shape[0] == 1000
