from __future__ import annotations

import numpy as np
import pytest

from neuroclip_live.errors import DataError
from neuroclip_live.events import SensorSize, make_events
from neuroclip_live.offline.augment import affine_events, random_augment
from neuroclip_live.offline.datasets import load_split, pick_shots

SIZE = SensorSize(5, 3)


def test_flip_by_hand():
    ev = make_events([0, 1], [0, 4], [1, 2], [1, 0])
    out = affine_events(ev, SIZE, np.array([[-1.0, 0.0], [0.0, 1.0]]))
    assert out["x"].tolist() == [4, 0] and out["y"].tolist() == [1, 2] and out["p"].tolist() == [1, 0]


def test_rotation_drops_events_that_leave_the_sensor():
    ev = make_events([0, 1], [2, 4], [1, 0], [1, 1])
    quarter = np.array([[0.0, -1.0], [1.0, 0.0]])
    out = affine_events(ev, SIZE, quarter)
    assert out["t"].tolist() == [0]  # the centre stays, the corner leaves a 5x3 sensor
    assert (out["x"][0], out["y"][0]) == (2, 1)


def test_random_augment_keeps_dtype_and_bounds():
    rng = np.random.default_rng(0)
    n = 1000
    ev = make_events(np.arange(n), rng.integers(0, 34, n), rng.integers(0, 34, n), rng.integers(0, 2, n))
    out = random_augment(ev, SensorSize(34, 34), rng)
    assert out.dtype == ev.dtype and 0.7 * n < out.shape[0] <= n
    assert out["x"].max() < 34 and out["y"].max() < 34


def test_load_split_and_shots(nmnist_root):
    data = load_split(nmnist_root, "Train")
    assert data.folders == [str(d) for d in range(10)] and len(data.samples) == 1000
    shots, rest = pick_shots(data, 16, seed=3)
    assert len(shots) == 160 and len(rest) == 840
    assert not {s.path for s in shots} & {s.path for s in rest}
    assert [sum(s.label == c for s in shots) for c in range(10)] == [16] * 10
    again, _ = pick_shots(data, 16, seed=3)
    assert again == shots
    with pytest.raises(DataError, match="more than class '8' holds"):
        pick_shots(data, 90)


def test_bad_data_folders(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_split(tmp_path / "nope", "Train")
    with pytest.raises(DataError, match="no 'Train' split"):
        load_split(tmp_path, "Train")
    (tmp_path / "Train").mkdir()
    with pytest.raises(DataError, match="no class folders"):
        load_split(tmp_path, "Train")
    (tmp_path / "Train" / "cat").mkdir()
    (tmp_path / "Train" / "cat" / "empty.bin").write_bytes(b"")
    with pytest.raises(DataError, match="no readable event files"):
        load_split(tmp_path, "Train")


def test_class_words_from_classes_txt(tmp_path):
    for c in ("0", "1"):
        (tmp_path / "Train" / c).mkdir(parents=True)
        (tmp_path / "Train" / c / "a.bin").write_bytes(bytes(5))
    (tmp_path / "classes.txt").write_text("0: the digit zero\n1 one\n")
    data = load_split(tmp_path, "Train")
    assert data.classes == ["the digit zero", "one"]


# ------------------------------------------------------------------ scale and placement jitter


def _square(size: SensorSize, x0: int, y0: int, side: int) -> np.ndarray:
    """Every pixel of a filled square once (events in time order)."""
    xs, ys = np.meshgrid(np.arange(x0, x0 + side), np.arange(y0, y0 + side))
    n = xs.size
    return make_events(np.arange(n), xs.ravel(), ys.ravel(), np.ones(n, dtype=int))


def test_without_jitter_the_views_are_drawn_as_before():
    """Runs without jitter keep their augmentation draws (and feature-cache rows)."""
    from neuroclip_live.offline.augment import Augmentation, draw_augment, draw_view

    a, b = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(5):
        assert draw_view(a, Augmentation(flip=False)) == tuple(draw_augment(b, flip=False).ravel())


@pytest.mark.parametrize(("scale", "ux", "uy"), [(0.6, 0.0, 0.0), (1.0, 1.0, 0.0), (1.4, 0.5, 1.0), (1.4, 0.0, 0.0)])
def test_jitter_scales_the_object_and_places_it_where_asked(scale, ux, uy):
    from neuroclip_live.offline.augment import apply_view

    size = SensorSize(64, 48)
    ev = _square(size, 20, 14, 20)  # a 20 px square in the middle
    out = apply_view(ev, size, (scale, 0.0, 0.0, scale, ux, uy))
    width = out["x"].max() - out["x"].min() + 1
    assert abs(width - 20 * scale) <= 1.5
    assert out["x"].min() >= 0 and out["x"].max() < 64 and out["y"].min() >= 0 and out["y"].max() < 48
    room_x, room_y = 64 - width, 48 - (out["y"].max() - out["y"].min() + 1)
    assert abs(out["x"].min() - ux * room_x) <= 1.5 and abs(out["y"].min() - uy * room_y) <= 1.5
    if scale > 1:  # each pixel of the enlarged square has an event: no holes
        covered = np.zeros((48, 64), bool)
        covered[out["y"], out["x"]] = True
        assert covered[out["y"].min() : out["y"].max() + 1, out["x"].min() : out["x"].max() + 1].all()


def test_an_object_larger_than_the_sensor_covers_it_and_a_few_noise_events_do_not_count():
    from neuroclip_live.offline.augment import apply_view

    size = SensorSize(34, 34)
    digit = _square(size, 3, 3, 28)
    noise = make_events([10**6, 10**6 + 1], [0, 33], [33, 0], [0, 0])  # far corners: outside the 1-99% extent
    ev = np.concatenate([digit, noise])
    out = apply_view(ev, size, (1.4, 0.0, 0.0, 1.4, 0.5, 0.5))
    assert out["x"].min() == 0 and out["x"].max() == 33 and out["y"].min() == 0 and out["y"].max() == 33
    small = apply_view(ev, size, (0.6, 0.0, 0.0, 0.6, 1.0, 1.0))
    # The 28 px square shrinks to about 17 px and sits against the bottom-right corner.
    body = small[small["t"] < 10**6]
    assert 31 <= body["x"].max() <= 33 and 14 <= body["x"].min() <= 18


def test_jittered_views_are_planned_with_their_placement_and_differ_from_plain_ones(nmnist_root):
    from neuroclip_live.offline.augment import Augmentation
    from neuroclip_live.offline.extraction import plan_views

    samples = load_split(nmnist_root, "Train").samples[:3]
    plain = plan_views(samples, 2, True, flip=False, seed=1)
    jittered = plan_views(samples, 2, Augmentation(flip=False, jitter=True), seed=1)
    assert all(len(j.transform) == 4 for j in plain) and all(len(j.transform) == 6 for j in jittered)
    assert [j.transform[:4] for j in plain] != [j.transform[:4] for j in jittered]
    scales = [abs(np.linalg.det(np.reshape(j.transform[:4], (2, 2)))) ** 0.5 for j in jittered]
    assert all(0.6 <= s <= 1.4 for s in scales)
