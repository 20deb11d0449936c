from __future__ import annotations

import numpy as np
import pytest

from neuroclip_live.offline.augment import affine_events, random_augment
from neuroclip_live.offline.datasets import load_split, pick_shots
from neuroclip_live.errors import DataError
from neuroclip_live.events import SensorSize, make_events

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
