"""Object-centred framing (model.centring): one object at any size and place gives one frame; adapters keep it."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from neuroclip_live.cli import main
from neuroclip_live.events import SensorSize
from neuroclip_live.model.adapter import read_adapter_info
from neuroclip_live.model.centring import centre_frames, split_cut, with_centring
from neuroclip_live.model.clip_model import load_clip
from neuroclip_live.offline.image_encoding import encode_images, image_frames, load_image_folder
from neuroclip_live.tinyclip.synthetic import plain_image


def ring(size: tuple[int, int], cx: float, cy: float, radius: float, noise: int = 0, seed: int = 0) -> np.ndarray:
    """A 127 frame with a ring of ON events (and ``noise`` scattered OFF events), like a timestep of a circle."""
    h, w = size
    y, x = np.mgrid[:h, :w]
    frame = np.full(size, 127, np.uint8)
    frame[np.abs(np.hypot(x - cx, y - cy) - radius) < max(1.0, radius / 12)] = 255
    rng = np.random.default_rng(seed)
    frame[rng.integers(0, h, noise), rng.integers(0, w, noise)] = 0
    return frame


def test_one_object_at_other_sizes_and_places_gives_nearly_the_same_frame():
    big = centre_frames(ring((128, 128), 64, 64, 50))
    small = centre_frames(ring((128, 128), 30, 95, 20, noise=80))  # less than half the size, in a corner, noisy
    assert big.shape == small.shape == (128, 128)
    assert set(np.unique(small)) <= {0, 127, 255}  # still the event encoding
    on_big, on_small = big == 255, small == 255
    raw_big, raw_small = ring((128, 128), 64, 64, 50) == 255, ring((128, 128), 30, 95, 20) == 255
    overlap, raw_overlap = (on_big & on_small).sum() / on_big.sum(), (raw_big & raw_small).sum() / raw_big.sum()
    assert overlap > 0.4 and raw_overlap < 0.1  # centred they coincide; as recorded they barely cross
    assert abs(np.argwhere(on_small).mean(0) - 63.5).max() < 6  # the object is in the middle


def test_a_frame_without_an_object_stays_whole_and_frames_of_a_sensor_keep_one_shape():
    wide = np.full((2, 60, 80), 127, np.uint8)
    wide[1, 5:15, 60:75] = 255
    out = centre_frames(wide)
    assert out.shape == (2, 60, 60)
    assert (out[0] == 127).all()  # nothing to centre on: the whole frame, letterboxed
    assert centre_frames(wide[1]).shape == (60, 60)
    assert split_cut(with_centring("time", True)) == ("time", True) and split_cut("count") == ("count", False)


def test_an_adapter_trained_centred_records_it_and_evaluate_runs_it_centred(nmnist_slice, tmp_path, capsys):
    out = tmp_path / "a.safetensors"
    common = ["--model", "tiny-digits", "--device", "cpu", "--quiet", "--data", str(nmnist_slice)]
    assert (
        main(
            [
                "train",
                *common,
                "--centre",
                "--shots",
                "2",
                "--val-per-class",
                "1",
                "--epochs",
                "2",
                "--views",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert read_adapter_info(out).timestep == "sample:count+centred"
    capsys.readouterr()
    report = tmp_path / "r.json"
    assert (
        main(["evaluate", *common, "--split", "Train", "--adapter", str(out), "--limit", "2", "--json", str(report)])
        == 0
    )
    assert any(
        "centred on their events, as the adapter was trained" in line
        for line in json.loads(report.read_text())["protocol"]
    )
    from neuroclip_live.model.setup import build_classifier

    assert build_classifier(adapter_path=str(out), device="cpu").centred  # the live classifier runs it centred


def test_pictures_are_encoded_centred_for_an_adapter_trained_centred(tmp_path):
    """R2ETL's pictures (train --images, Add pictures) are framed as the shots are: centred when the adapter is."""
    size = SensorSize(48, 64)  # wider than high: centred frames are 48 x 48
    for digit in ("1", "7"):
        (tmp_path / digit).mkdir()
        Image.fromarray(plain_image(int(digit), SensorSize(30, 30), np.random.default_rng(0))).save(
            tmp_path / digit / "a.png"
        )
    images = load_image_folder(tmp_path, ["1", "7"], ["1", "7"])
    bb = load_clip("tiny-digits", device="cpu")
    centred = encode_images(bb, images, size, T=3, seed=4, centred=True)
    plain = encode_images(bb, images, size, T=3, seed=4)
    rng = np.random.default_rng(4)
    frames = np.concatenate([image_frames(img, size, 3, rng, "saccade") for img in images.images])
    expected = bb.encode_frames(centre_frames(frames)).view(2, 3, -1)
    assert torch.allclose(centred.feats, expected, atol=1e-5)
    assert not torch.allclose(plain.feats, centred.feats, atol=1e-3)
