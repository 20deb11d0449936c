"""Relevance maps (issue 24): dense features and crops, places in sensor pixels, the classifier's maps.

The maps are the classifier's over its window.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clip_fixtures import TINY_RN, TINY_VIT, event_frames, register_tiny_configs, tiny_backbone
from neuroclip_live.errors import ModelError
from neuroclip_live.model.classifier import StreamingClassifier
from neuroclip_live.model.clip_model import create_clip
from neuroclip_live.model.dense_towers import DenseTower, dense_unavailable
from neuroclip_live.model.places import CropLayout, grid_places
from neuroclip_live.model.where import CropLocator, choose_method

LABELS = ["cat", "dog", "car"]


@pytest.mark.parametrize("name", [TINY_VIT, TINY_RN])
def test_the_dense_tower_gives_encode_images_own_features_and_a_grid(name):
    backbone = tiny_backbone(name)
    x = backbone.preprocess(event_frames(3, 40, 60))
    pooled, dense = DenseTower(backbone.model.visual)(x)
    assert torch.allclose(pooled, backbone.model.encode_image(x, normalize=True), atol=1e-6)
    rows, cols = backbone.dense_grid
    assert dense.shape == (3, rows * cols, backbone.embed_dim)
    assert torch.allclose(dense.norm(dim=-1), torch.ones(3, rows * cols), atol=1e-5)


@pytest.mark.parametrize("name,grid", [("ViT-B-32", (7, 7)), ("RN50", (7, 7))])
def test_rn50_and_vit_b_32_give_dense_maps_with_unchanged_scores(name, grid):
    """Random weights: the structure and the scores, not what the maps find (no pretrained weights here)."""
    torch.manual_seed(0)
    backbone = create_clip(name, device="cpu", threads=2)
    assert choose_method(backbone) == "dense" and backbone.dense_grid == grid
    frames = event_frames(2, 260, 346)
    plain = StreamingClassifier(backbone, LABELS, T=2)
    mapped = StreamingClassifier(backbone, LABELS, T=2)
    mapped.set_where(True)
    for f in frames:
        a, b = plain.step(f[None])[0], mapped.step(f[None])[0]
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)
    assert a.where is None and b.where is not None and b.where.method == "dense"
    assert b.where.values.shape == (3, 49)
    for label in LABELS:
        x, y = b.where.peak(label)
        assert 0 <= x < 346 and 0 <= y < 260


def test_grid_places_map_back_through_the_padding_of_a_wide_sensor():
    # 160 x 80 is padded to 160 x 160 (40 rows above and below), then a 4 x 4 grid: cells of 40 px.
    places = grid_places(160, 80, (64, 64), (4, 4))
    assert places.boxes[0].tolist() == [0.0, -40.0, 40.0, 0.0]
    assert places.boxes[5].tolist() == [40.0, 0.0, 80.0, 40.0]  # row 1, column 1
    assert places.valid.tolist() == [False] * 4 + [True] * 8 + [False] * 4
    assert places.centres[5].tolist() == [60.0, 20.0]
    # A tall sensor pads columns instead: 60 x 120 -> 120 x 120, 30 columns on each side.
    tall = grid_places(60, 120, (64, 64), (2, 2))
    assert tall.boxes[:, 0].tolist() == [-30.0, 30.0, -30.0, 30.0]
    assert tall.valid.all()


def test_a_grid_raster_is_the_sensor_without_its_padding():
    places = grid_places(160, 80, (64, 64), (4, 4))
    values = np.zeros(16, dtype=np.float32)
    values[6] = 1.0  # row 1 (sensor rows 0-40), column 2 (sensor columns 80-120)
    image = places.raster(values, cell=4)
    assert image.shape == (20, 40)
    row, col = np.unravel_index(np.argmax(image), image.shape)
    assert 0 <= row * 4 < 40 and 80 <= col * 4 < 120


def test_crop_layout_covers_the_frame_edge_to_edge():
    places = CropLayout(scales=(0.5,), overlap=2).places(100, 40)
    sides = places.boxes[:, 2] - places.boxes[:, 0]
    assert set(sides.tolist()) == {20.0}
    assert places.boxes[:, 0].min() == 0 and places.boxes[:, 2].max() == 100
    assert places.boxes[:, 1].min() == 0 and places.boxes[:, 3].max() == 40


def test_crop_features_are_each_crops_own_encoding():
    backbone = tiny_backbone(TINY_VIT)
    layout = CropLayout(scales=(0.8, 0.5), overlap=2)
    locator = CropLocator(backbone, layout)
    frames = event_frames(2, 30, 50, seed=3)
    own, located = locator.encode(frames, mapped=2)
    places = locator.places(50, 30)
    assert torch.allclose(own, backbone.encode_frames(frames), atol=1e-5)
    for k, (x0, y0, x1, y1) in enumerate(places.boxes.astype(int)):
        expected = backbone.encode_frames(frames[:, y0:y1, x0:x1])
        assert torch.allclose(located[:, k], expected, atol=1e-5), k


def test_a_run_that_fell_behind_maps_only_the_newest_frame_of_a_backlog():
    backbone = tiny_backbone(TINY_VIT)
    clf = StreamingClassifier(backbone, LABELS, T=3)
    clf.set_where(True, method="crops")
    clf.map_every_frame = False
    frames = event_frames(5, 30, 50, seed=9)
    first = clf.step(frames[:2])
    assert first[0].where is None and first[1].where is not None  # nothing made before the first batch
    second = clf.step(frames[2:])
    assert second[0].where is first[1].where and second[1].where is first[1].where
    assert second[2].where is not first[1].where
    # The map's window holds the mapped frames only: frames 1 and 4.
    fresh = StreamingClassifier(backbone, LABELS, T=3)
    fresh.set_where(True, method="crops")
    expected = [fresh.step(frames[i][None])[0].where for i in (1, 4)][-1]
    np.testing.assert_allclose(second[2].where.values, expected.values, atol=1e-5)
    own, located = CropLocator(backbone).encode(frames, mapped=1)
    assert own.shape[0] == 5 and located.shape[0] == 1


def test_maps_follow_the_window_and_reset_with_it():
    backbone = tiny_backbone(TINY_VIT)
    clf = StreamingClassifier(backbone, LABELS, T=3)
    clf.set_where(True, method="crops")
    frames = event_frames(4, 30, 50, seed=5)
    maps = [clf.step(f[None])[0].where for f in frames]
    # The last map is the window of the last 3 frames: the same as a fresh classifier fed those 3.
    fresh = StreamingClassifier(backbone, LABELS, T=3)
    fresh.set_where(True, method="crops")
    last = [fresh.step(f[None])[0].where for f in frames[1:]][-1]
    np.testing.assert_allclose(maps[-1].values, last.values, atol=1e-5)
    # A place's values sum to its events over the window, relative to the busiest place's.
    activity = np.mean([maps[-1].places.activity(f) for f in frames[1:]], axis=0)
    np.testing.assert_allclose(maps[-1].values.sum(axis=0), activity / activity.max(), atol=1e-5)
    clf.reset()
    again = clf.step(frames[0][None])[0].where
    np.testing.assert_allclose(again.values, maps[0].values, atol=1e-5)


def test_a_place_without_events_has_nothing_and_an_empty_frame_leaves_the_labels_as_they_are():
    clf = StreamingClassifier(tiny_backbone(TINY_VIT), LABELS, T=2)
    clf.set_where(True, method="crops")
    frame = np.full((1, 30, 60), 127, dtype=np.uint8)
    blank = clf.step(frame)[0].where
    np.testing.assert_allclose(blank.values.sum(axis=0), 1.0, atol=1e-5)  # no event anywhere: no weighting
    clf.reset()
    frame[0, 5:25, 40:60] = 255  # events on the right only
    maps = clf.step(frame)[0].where
    inner = maps.places.inner
    left = inner[:, 2] <= 40  # places whose counted pixels are all left of the events
    assert left.any() and np.all(maps.values[:, left] == 0)
    for label in LABELS:
        assert maps.peak(label)[0] > 30


def test_maps_are_off_unless_asked_for_and_labels_change_them():
    clf = StreamingClassifier(tiny_backbone(TINY_VIT), LABELS, T=2)
    frame = event_frames(1, 30, 50)
    assert clf.step(frame)[0].where is None and clf.where_method == ""
    clf.set_where(True)
    clf.set_labels(["cat", "tree"])
    assert clf.step(frame)[0].where.labels == ["cat", "tree"]
    clf.set_where(False)
    assert clf.step(frame)[0].where is None


def test_a_tower_without_a_dense_path_says_why():
    register_tiny_configs()
    backbone = create_clip(TINY_VIT, device="cpu")
    backbone.model.visual.pool_type = "avg"  # pools the patch tokens: no class token to read places beside
    assert "pools" in dense_unavailable(backbone.model.visual)
    clf = StreamingClassifier(backbone, LABELS)
    assert clf.where_unavailable().startswith(f"{TINY_VIT}: its ViT pools")
    with pytest.raises(ModelError, match="pools"):
        clf.set_where(True)
    with pytest.raises(ModelError, match="unknown map method 'nowhere'"):
        clf.set_where(True, method="nowhere")
    clf.set_where(True, method="crops")  # crops need no dense path
    assert clf.step(event_frames(1, 30, 50))[0].where.method == "crops"


@pytest.mark.parametrize("name,method", [(TINY_VIT, "dense"), (TINY_RN, "dense"), (TINY_VIT, "crops")])
def test_maps_on_openvino_match_torchs(name, method, tmp_path):
    """The dense tower is converted once (cached beside the image encoder); crops go through the encoder itself."""
    pytest.importorskip("openvino", reason="OpenVINO is not installed: pip install openvino")
    register_tiny_configs()
    frames = event_frames(3, 60, 90, seed=7)
    maps = {}
    for backend in ("torch", "openvino"):
        torch.manual_seed(0)
        backbone = create_clip(name, device="cpu", backend=backend, precision="fp32", cache_dir=tmp_path)
        clf = StreamingClassifier(backbone, LABELS, T=3)
        clf.set_where(True, method=method)
        maps[backend] = [clf.step(f[None])[0].where for f in frames][-1]
    assert maps["openvino"].method == method
    np.testing.assert_allclose(maps["openvino"].values, maps["torch"].values, atol=2e-3)
    if method == "dense":
        assert any(p.name.startswith(f"{name}_dense-") for p in (tmp_path / "openvino").iterdir())


def test_a_centred_classifier_scores_the_centred_frame_and_maps_the_sensors_places():
    """A taught (centred) adapter with Where on: scores as without maps, peaks where the events are on the sensor."""
    backbone = tiny_backbone(TINY_VIT)
    frame = np.full((1, 30, 60), 127, dtype=np.uint8)
    frame[0, 5:25, 40:60] = 255  # events on the right only
    plain, mapped, uncentred = (StreamingClassifier(backbone, LABELS, T=2) for _ in range(3))
    plain.centred = mapped.centred = True
    mapped.set_where(True, method="crops")
    scored, located, raw = plain.step(frame)[0], mapped.step(frame)[0], uncentred.step(frame)[0]
    np.testing.assert_allclose(located.probs, scored.probs, atol=1e-5)
    assert not np.allclose(raw.probs, scored.probs, atol=1e-4)  # centring changed what was scored
    for label in LABELS:
        assert located.where.peak(label)[0] > 30
