"""What an adapter brings (classes, templates, alpha, backbone), thread counts, weights messages, file modes."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from neuroclip_live.errors import ModelError
from neuroclip_live.model.adapter import (
    AdapterInfo,
    InterTimestepAdapter,
    load_adapter,
    save_adapter,
)
from neuroclip_live.model.clip_model import load_clip
from neuroclip_live.model.label_presets import default_labels
from neuroclip_live.model.setup import build_classifier, resolve_model
from neuroclip_live.model.threads import cpu_cores, threads_for_model, torch_threads

CLASSES = ["zero", "one", "seven"]
TEMPLATE = "a photo of the digit {}."


@pytest.fixture
def tiny_adapter(tmp_path):
    path = tmp_path / "digits.safetensors"
    info = AdapterInfo("tiny-digits", 128, classes=CLASSES, templates=[TEMPLATE], T=10, alpha=[0.1] * 10)
    save_adapter(path, InterTimestepAdapter(128), info)
    return path


def test_adapter_brings_its_backbone_classes_templates_and_alpha(tiny_adapter):
    assert resolve_model(None, None) == "RN50"
    assert resolve_model(None, str(tiny_adapter)) == "tiny-digits"
    assert resolve_model("ViT-B-32", str(tiny_adapter)) == "ViT-B-32"
    # No --model and no --labels: the adapter's backbone and classes, not RN50 or tiny-digits' 16 labels.
    clf = build_classifier(adapter_path=str(tiny_adapter), device="cpu")
    assert clf.backbone.name == "tiny-digits"
    assert clf.labels == CLASSES and clf.labels != default_labels("tiny-digits")
    assert clf.templates == (TEMPLATE,)
    assert clf.alpha.tolist() == [0.1] * 10
    assert clf.setup_notes == []
    scores = clf.step(torch.full((1, 64, 64), 127, dtype=torch.uint8).numpy())[0]
    assert scores.labels == CLASSES and scores.probs.shape == (3,)


def test_user_choices_win_over_the_adapter_and_the_conflict_is_stated(tiny_adapter, tmp_path):
    alpha = tmp_path / "alpha.json"
    alpha.write_text("[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]")
    clf = build_classifier(
        "tiny-digits",
        labels="cat, dog",
        templates="photo",
        alpha_path=str(alpha),
        adapter_path=str(tiny_adapter),
        device="cpu",
        T=10,
    )
    assert clf.labels == ["cat", "dog"] and clf.templates == ("a photo of a {}.",)
    assert clf.alpha.tolist()[-1] == 1
    text = " | ".join(clf.setup_notes)
    assert "trained for zero, one, seven; scoring the labels given instead" in text
    assert "--templates photo" in text and "alpha from" in text
    # The same labels (any case) are no conflict; another T is.
    clf = build_classifier("tiny-digits", labels="Zero, ONE, seven", adapter_path=str(tiny_adapter), T=5)
    assert not any("scoring the labels" in n for n in clf.setup_notes)
    assert any("T=10, running with T=5" in n for n in clf.setup_notes)


def test_an_adapter_for_another_backbone_is_refused_in_one_line(tiny_adapter):
    with pytest.raises(ModelError, match="trained for tiny-digits"):
        build_classifier("RN50", adapter_path=str(tiny_adapter), weights=str(tiny_adapter))


def test_adapter_file_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "a.safetensors"
        save_adapter(path, InterTimestepAdapter(16), AdapterInfo("x", 16))
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.umask(0o077)
        private = tmp_path / "b.safetensors"
        save_adapter(private, InterTimestepAdapter(16), AdapterInfo("x", 16))
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    finally:
        os.umask(old)
    assert load_adapter(path)[1].backbone == "x"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"these are not weights\n", "it holds text ('these are not weights'...)"),
        (b"", "the file is empty"),
        (bytes(range(200, 256)) * 2, "it starts with bytes c8 c9"),
        (b"PK\x03\x04" + b"\x00" * 40, "damaged or truncated zip archive"),
    ],
)
def test_weights_that_are_no_weights_say_what_the_file_is_and_what_was_expected(tmp_path, content, says):
    path = tmp_path / "notweights.txt"
    path.write_bytes(content)
    with pytest.raises(ModelError) as err:
        load_clip("tiny-digits", path, device="cpu")
    text = str(err.value)
    assert text.startswith(f"cannot read weights {path}") and says in text
    assert "expected a CLIP checkpoint" in text and "\n" not in text


def test_thread_counts_per_workload():
    assert threads_for_model(800_000) == 1
    assert threads_for_model(38_000_000) == cpu_cores()
    assert threads_for_model(38_000_000, requested=3) == 3
    before = torch.get_num_threads()
    backbone = load_clip("tiny-digits", device="cpu")
    assert backbone.threads == 1 and torch.get_num_threads() == 1
    backbone = load_clip("tiny-digits", device="cpu", threads=2)
    assert backbone.threads == 2 and torch.get_num_threads() == 2
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    torch.set_num_threads(before)
