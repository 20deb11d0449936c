"""R2ETL transfer: image folders, the encoding alignment, training with images on real N-MNIST features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import QUICK_TRAINING
from neuroclip_live.errors import DataError
from neuroclip_live.events import SensorSize
from neuroclip_live.model.adapter import AdapterInfo, load_adapter, save_adapter
from neuroclip_live.offline.image_encoding import (
    encode_images,
    image_frames,
    load_image_folder,
)
from neuroclip_live.offline.training import TrainConfig, train_adapter
from neuroclip_live.offline.transfer import (
    LOSS_TERMS,
    TransferConfig,
    train_with_images,
)
from neuroclip_live.tinyclip.synthetic import plain_image

N_MNIST = SensorSize(34, 34)
DIGITS = ("0", "1", "7")


def render_root(root, folders=DIGITS, per_class=4, seed=0):
    """Digits from the project's own renderer, as PNG (grey), JPEG (colour) and BMP, in root/<digit>/."""
    rng = np.random.default_rng(seed)
    for folder in folders:
        (root / folder).mkdir(parents=True)
        for j in range(per_class):
            img = plain_image(int(folder), SensorSize(40 + 8 * j, 48), rng)
            if j % 3 == 1:
                rgb = np.stack([img, img // 2, 255 - img // 3], axis=-1).astype(np.uint8)
                Image.fromarray(rgb).save(root / folder / f"{j}.jpg")
            else:
                Image.fromarray(img).save(root / folder / f"{j}.{'bmp' if j % 3 == 2 else 'png'}")
    return root


# ------------------------------------------------------------------ encoding alignment


@pytest.mark.parametrize("shape", [(28, 28), (60, 90), (200, 31)])
def test_saccade_encoding_gives_event_frames_at_the_sensor_size(shape):
    rng = np.random.default_rng(0)
    image = (np.random.default_rng(1).random(shape) * 40).astype(np.uint8)
    image[shape[0] // 4 : shape[0] // 2, shape[1] // 4 : -shape[1] // 4] = 220  # an edge to fire on
    frames = image_frames(image, N_MNIST, 10, rng)
    assert frames.shape == (10, 34, 34) and frames.dtype == np.uint8
    assert set(np.unique(frames).tolist()) <= {0, 127, 255}
    assert (frames == 255).any() and (frames == 0).any()  # ON and OFF edges
    # The T frames are successive chunks of one motion, not one frame repeated.
    assert not all(np.array_equal(frames[0], f) for f in frames[1:])


def test_saccade_encoding_is_seeded_and_the_repeat_alternative_is_the_plain_image():
    image = plain_image(3, SensorSize(56, 56), np.random.default_rng(2))
    a = image_frames(image, N_MNIST, 10, np.random.default_rng(5))
    b = image_frames(image, N_MNIST, 10, np.random.default_rng(5))
    assert np.array_equal(a, b)
    rep = image_frames(image, SensorSize(48, 40), 6, np.random.default_rng(5), encoding="repeat")
    assert rep.shape == (6, 40, 48) and all(np.array_equal(rep[0], f) for f in rep)
    assert len(np.unique(rep)) > 3  # grey levels, not the event encoding
    with pytest.raises(ValueError, match="encoding"):
        image_frames(image, N_MNIST, 10, np.random.default_rng(5), encoding="nope")


# ------------------------------------------------------------------ image folders


def test_image_folder_reads_grey_colour_and_any_size(tmp_path):
    root = render_root(tmp_path / "img")
    images = load_image_folder(root, list(DIGITS), list(DIGITS))
    assert len(images) == 12 and images.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert all(im.ndim == 2 and im.dtype == np.uint8 for im in images.images)
    assert {p.suffix for p in images.paths} == {".png", ".jpg", ".bmp"}


def test_image_folders_may_use_the_class_words(tmp_path):
    root = tmp_path / "img"
    for word in ("zero", "one"):
        (root / word).mkdir(parents=True)
        Image.fromarray(np.full((9, 9), 200, np.uint8)).save(root / word / "a.png")
    images = load_image_folder(root, ["0", "1"], ["zero", "one"])
    assert images.labels.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing-root", "does not exist"),
        ("empty-class", "class '7' has no images"),
        ("stranger", "image class folder 'cat'"),
        ("unreadable", "cannot read image"),
        ("truncated", "cannot read image"),
    ],
)
def test_bad_image_folders_give_one_line_naming_the_problem(tmp_path, damage, message):
    root = render_root(tmp_path / "img", per_class=2)
    if damage == "missing-root":
        root = tmp_path / "nowhere"
    elif damage == "empty-class":
        for f in (root / "7").iterdir():
            f.unlink()
    elif damage == "stranger":
        (root / "cat").mkdir()
    elif damage == "unreadable":
        (root / "1" / "junk.png").write_bytes(b"not a png at all")
    elif damage == "truncated":
        good = next((root / "0").glob("*.png"))
        good.write_bytes(good.read_bytes()[:40])
    with pytest.raises(DataError) as info:
        load_image_folder(root, list(DIGITS), list(DIGITS))
    text = str(info.value)
    assert message in text and "\n" not in text


# ------------------------------------------------------------------ training with images


@pytest.fixture(scope="module")
def slice_features(tmp_path_factory):
    """Tiny-digits features of 4 N-MNIST samples a digit (0, 1, 7; 2 augmented views) and of rendered digits."""
    from conftest import NMNIST
    from neuroclip_live.model.clip_model import load_clip
    from neuroclip_live.model.prompts import resolve_templates, text_features
    from neuroclip_live.offline.datasets import load_split
    from neuroclip_live.offline.evaluation import extract_features

    if not NMNIST.is_dir():
        pytest.skip(f"N-MNIST samples not found at {NMNIST}")
    threads = torch.get_num_threads()
    bb = load_clip("tiny-digits", None, "cpu")
    torch.set_num_threads(1)  # tiny batches: one thread, not a fight for the shared cores
    data = load_split(NMNIST, "Train")
    picked = [s for d in DIGITS for s in data.by_class()[data.folders.index(d)][:4]]
    remap = {data.folders.index(d): i for i, d in enumerate(DIGITS)}
    fs = extract_features(bb, picked, 10, views=2, augment=True, flip=False, progress=False)
    fs.labels = np.array([remap[int(v)] for v in fs.labels])
    root = render_root(tmp_path_factory.mktemp("img"), per_class=4)
    images = encode_images(bb, load_image_folder(root, list(DIGITS), list(DIGITS)), N_MNIST, 10, views=2)
    text = text_features(bb, list(DIGITS), resolve_templates("a photo of the digit {}."), ensemble=False)
    yield fs, images, text, bb.logit_scale
    torch.set_num_threads(threads)


def _train(slice_features, transfer=None, epochs=15, seed=0):
    fs, images, text, scale = slice_features
    cfg = TrainConfig(epochs=epochs, seed=seed, batch_size=8)
    return train_with_images(
        fs, images, text, scale, np.full(10, 0.1), cfg, transfer or TransferConfig(1.0, 1.0), progress=False
    )


def test_every_loss_term_decreases_over_training(slice_features):
    _, history = _train(slice_features, epochs=20)
    assert set(LOSS_TERMS) <= history.keys()
    for term in (*LOSS_TERMS, "total"):
        first, last = np.mean(history[term][:3]), np.mean(history[term][-3:])
        assert last < first, f"{term}: {first:.3f} -> {last:.3f}"


def test_images_change_the_adapter_and_a_fixed_seed_reproduces(slice_features):
    fs, _, text, scale = slice_features
    plain, _ = train_adapter(
        fs, text, scale, np.full(10, 0.1), TrainConfig(epochs=15, seed=0, batch_size=8), progress=False
    )
    a, _ = _train(slice_features, seed=0)
    b, _ = _train(slice_features, seed=0)
    c, _ = _train(slice_features, seed=1)
    sa, sb, sc, sp = (m.state_dict() for m in (a, b, c, plain))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.allclose(sa["down.weight"], sp["down.weight"])
    assert not torch.allclose(sa["down.weight"], sc["down.weight"])


def test_the_transfer_setting_travels_in_the_adapter_file(slice_features, tmp_path):
    adapter, _ = _train(slice_features, epochs=2)
    info = AdapterInfo("tiny-digits", 128, list(DIGITS), transfer=TransferConfig(0.5, 2.0).metadata(24))
    save_adapter(tmp_path / "a.safetensors", adapter, info)
    _, back = load_adapter(tmp_path / "a.safetensors", "tiny-digits", 128)
    assert back.transfer == {
        "mode": "images",
        "images": 24,
        "lambda_feature": 0.5,
        "lambda_tcka": 2.0,
        "image_weight": 1.0,
        "encoding": "saccade",
    }


@pytest.mark.parametrize(
    ("figures", "kept"),
    [
        ({0.0: (0.80, 0.60), 0.25: (0.84, 0.58), 1.0: (0.88, 0.59)}, 1.0),  # 2+ more right, lower loss: best top-1
        ({0.0: (0.80, 0.60), 0.25: (0.86, 0.55), 1.0: (0.86, 0.50)}, 1.0),  # top-1 tie: the lower cross-entropy
        ({0.0: (0.80, 0.60), 0.25: (0.82, 0.50), 1.0: (0.90, 0.61)}, 0.0),  # one more right; or a higher loss
        ({0.0: (0.90, 0.60), 0.5: (0.90, 0.40)}, 0.0),  # equal top-1 is no evidence
        ({0.5: (0.50, 2.0)}, 0.5),  # one weight given (--image-weight): that one
    ],
)
def test_images_are_kept_only_when_they_beat_the_adapter_alone_on_both_validation_figures(figures, kept):
    from neuroclip_live.offline.transfer import ValidationFigures, pick_image_weight

    assert pick_image_weight({w: ValidationFigures(*f, n=50) for w, f in figures.items()}) == kept


def test_absurd_lambdas_are_refused():
    with pytest.raises(ValueError, match="lambda_tcka"):
        TransferConfig(1.0, -1.0)
    with pytest.raises(ValueError, match="lambda_feature"):
        TransferConfig(float("nan"), 1.0)


# ------------------------------------------------------------------ the command line


@pytest.fixture
def small_root(tmp_path):
    """Three digit classes, 6 N-MNIST samples each."""
    import shutil

    from conftest import NMNIST

    if not NMNIST.is_dir():
        pytest.skip(f"N-MNIST samples not found at {NMNIST}")
    root = tmp_path / "nmnist3"
    for digit in DIGITS:
        (root / "Train" / digit).mkdir(parents=True)
        for f in sorted((NMNIST / "Train" / digit).iterdir())[:6]:
            shutil.copy(f, root / "Train" / digit / f.name)
    return root


def test_train_with_images_records_the_transfer_and_loads_with_adapter(small_root, tmp_path, capsys):
    from neuroclip_live.cli import main

    images = render_root(tmp_path / "img", per_class=3)
    out = tmp_path / "a.safetensors"
    base = [
        "train",
        "--data",
        str(small_root),
        "--shots",
        "2",
        "--out",
        str(out),
        *QUICK_TRAINING,
        "--no-flip",
    ]
    assert main([*base, "--images", str(images), "--lambda-feature", "0.5", "--lambda-tcka", "2"]) == 0
    text = capsys.readouterr().out
    assert "with 9 labelled images" in text and "chosen on 6 validation samples" in text
    _, info = load_adapter(out, "tiny-digits", 128)
    assert info.transfer["images"] == 9 and info.transfer["lambda_feature"] == 0.5
    assert info.transfer["lambda_tcka"] == 2.0 and info.transfer["encoding"] == "saccade"
    # The image weight was chosen on the validation samples among 0 (no images), 0.25, 0.5 and 1, and the
    # file says which and what each scored.
    tried = info.transfer["image_weight_validation"]
    assert sorted(tried) == ["0", "0.25", "0.5", "1"] and info.transfer["validation_samples"] == 6
    assert info.transfer["image_weight"] in (0.0, 0.25, 0.5, 1.0)
    assert f"image weight {info.transfer['image_weight']:g} chosen" in text
    assert main([*base, "--images", str(images), "--image-weight", "0.5"]) == 0
    assert "image weight 0.5 given by --image-weight" in capsys.readouterr().out
    _, info = load_adapter(out, "tiny-digits", 128)
    assert info.transfer["image_weight"] == 0.5 and list(info.transfer["image_weight_validation"]) == ["0.5"]
    rc = main(
        [
            "evaluate",
            "--data",
            str(small_root),
            "--split",
            "Train",
            "--model",
            "tiny-digits",
            "--quiet",
            "--adapter",
            str(out),
        ]
    )
    assert rc == 0 and "top-1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--images", "{nowhere}"], "does not exist"),
        (["--images", "{stranger}"], "image class folder 'cat'"),
        (["--images", "{img}", "--lambda-tcka", "-2"], "must be between 0 and 100"),
    ],
)
def test_train_with_bad_images_gives_one_line(small_root, tmp_path, capsys, extra, says):
    from neuroclip_live.cli import main

    img = render_root(tmp_path / "img", per_class=1)
    stranger = render_root(tmp_path / "img2", per_class=1)
    (stranger / "cat").mkdir()
    paths = {"nowhere": tmp_path / "none", "stranger": stranger, "img": img}
    argv = [
        "train",
        "--data",
        str(small_root),
        "--shots",
        "2",
        "--out",
        str(tmp_path / "a.safetensors"),
        "--model",
        "tiny-digits",
        "--epochs",
        "1",
        "--views",
        "1",
        "--quiet",
        *(a.format(**paths) for a in extra),
    ]
    try:
        rc = main(argv)
    except SystemExit as exit_:  # argparse refuses a bad value itself: usage, then one error line
        rc = exit_.code
    assert rc == 2
    err = capsys.readouterr().err
    assert says in err.strip().splitlines()[-1] and "Traceback" not in err
