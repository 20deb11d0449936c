"""Loading CLIP: weight files the tests write in every supported format, the resolution order, and errors."""

from __future__ import annotations

import argparse
import logging
import warnings

import numpy as np
import pytest
import torch

from clip_fixtures import (
    CONFIG_DIR,
    TINY_RN,
    TINY_VIT,
    event_frames,
    register_tiny_configs,
    tiny_backbone,
    tiny_model,
)
from neuroclip_live.errors import ModelError
from neuroclip_live.model import clip_model, weights
from neuroclip_live.model.clip_model import load_clip
from neuroclip_live.model.weights import WEIGHTS_ENV, network_reachable

FRAMES = event_frames(3, seed=5)


@pytest.fixture(autouse=True)
def _no_weights_env(monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    register_tiny_configs()


def features_of(model: torch.nn.Module, name: str = TINY_VIT) -> torch.Tensor:
    """What a backbone holding ``model``'s weights must give for FRAMES."""
    backbone = tiny_backbone(name)
    with torch.no_grad():
        return model.encode_image(backbone.preprocess(FRAMES), normalize=True)


def assert_same_weights(backbone, model, name: str = TINY_VIT) -> None:
    got = backbone.encode_frames(FRAMES)
    assert torch.allclose(got, features_of(model, name), atol=1e-5)
    assert not torch.allclose(got, tiny_backbone(name).encode_frames(FRAMES), atol=1e-3)  # not just any weights


def test_backbone_encodes_normalised_float32_features_without_grad():
    backbone = tiny_backbone(TINY_RN)
    feats = backbone.encode_frames(event_frames(4, 260, 346))
    assert feats.shape == (4, 32) and feats.dtype == torch.float32
    assert not feats.requires_grad
    assert torch.allclose(feats.norm(dim=-1), torch.ones(4), atol=1e-5)
    text = backbone.encode_text(["a cat", "a dog"])
    assert text.shape == (2, 32) and torch.allclose(text.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert backbone.image_size == (64, 64) and backbone.embed_dim == 32 and backbone.context_length == 16
    assert backbone.logit_scale == pytest.approx(1 / 0.07, rel=1e-5)
    assert backbone.device.type == "cpu" and backbone.dtype == torch.float32
    assert not backbone.model.training


def test_state_dict_file(tmp_path):
    model = tiny_model(seed=1)
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    backbone = load_clip(TINY_VIT, str(path), device="cpu")
    assert_same_weights(backbone, model)
    assert backbone.weights == str(path) and backbone.notes == []


def test_open_clip_training_checkpoint_with_module_prefix(tmp_path):
    model = tiny_model(seed=2)
    path = tmp_path / "epoch_3.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)
    assert_same_weights(load_clip(TINY_VIT, path, device="cpu"), model)


def test_safetensors_file(tmp_path):
    from safetensors.torch import save_file

    model = tiny_model(TINY_RN, seed=3)
    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    assert_same_weights(load_clip(TINY_RN, path, device="cpu"), model, TINY_RN)


def test_checkpoint_that_needs_a_full_unpickle_loads_with_a_warning(tmp_path, caplog):
    model = tiny_model(seed=4)
    path = tmp_path / "with_args.pt"
    torch.save({"state_dict": model.state_dict(), "args": argparse.Namespace(lr=0.1)}, path)
    with caplog.at_level(logging.WARNING, logger="neuroclip_live.model.clip_model"):
        backbone = load_clip(TINY_VIT, path, device="cpu")
    assert_same_weights(backbone, model)
    assert "full pickle" in caplog.text
    assert any("full pickle" in n for n in backbone.notes)


def write_torchscript(model: torch.nn.Module, path) -> None:
    """An OpenAI-style TorchScript archive: the scripted model, with an extra int like OpenAI's input_resolution."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated; OpenAI's files still use it
        model.register_buffer("input_resolution", torch.tensor(32))
        torch.jit.script(model).save(str(path))


def test_openai_torchscript_archive_is_converted_once_and_uses_quickgelu(tmp_path, monkeypatch):
    model = tiny_model(seed=5, quick_gelu=True)  # OpenAI's models use QuickGELU
    path = tmp_path / "ViT-tiny.pt"
    write_torchscript(model, path)
    cache = tmp_path / "cache"
    backbone = load_clip(TINY_VIT, path, device="cpu", cache_dir=cache)
    model.eval()
    assert_same_weights(backbone, model)
    assert backbone.weights == str(path)
    assert any("TorchScript" in n for n in backbone.notes)
    assert isinstance(backbone.model.transformer.resblocks[0].mlp.gelu, __import__("open_clip").transformer.QuickGELU)
    converted = list((cache / "converted").glob("ViT-tiny-*.safetensors"))
    assert len(converted) == 1

    # The second load reads the converted file and never touches TorchScript again.
    def refuse(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(torch.jit, "load", refuse)
    assert_same_weights(load_clip(TINY_VIT, path, device="cpu", cache_dir=cache), model)


def test_environment_variable_then_explicit_path_wins(tmp_path, monkeypatch):
    env_model, arg_model = tiny_model(seed=6), tiny_model(seed=7)
    env_path, arg_path = tmp_path / "env.pt", tmp_path / "arg.pt"
    torch.save(env_model.state_dict(), env_path)
    torch.save(arg_model.state_dict(), arg_path)
    monkeypatch.setenv(WEIGHTS_ENV, str(env_path))
    assert_same_weights(load_clip(TINY_VIT, device="cpu"), env_model)
    assert_same_weights(load_clip(TINY_VIT, arg_path, device="cpu"), arg_model)


def test_bundled_model_is_a_config_plus_default_weights(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    folder = tmp_path / "models" / "bundled-tiny"
    folder.mkdir(parents=True)
    (folder / "bundled-tiny.json").write_text((CONFIG_DIR / f"{TINY_VIT}.json").read_text())
    model = tiny_model(seed=8)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "bundled-tiny.safetensors"))
    monkeypatch.setattr(clip_model, "BUNDLED_DIR", tmp_path / "models")
    assert "bundled-tiny" in clip_model.bundled_models()
    backbone = load_clip("bundled-tiny", device="cpu")
    assert backbone.name == "bundled-tiny" and backbone.weights.endswith("bundled-tiny.safetensors")
    assert_same_weights(backbone, model)


def test_the_shipped_tiny_digits_model_loads_offline():
    if (
        "tiny-digits" not in clip_model.bundled_models()
        or not (clip_model.BUNDLED_DIR / "tiny-digits" / "tiny-digits.safetensors").is_file()
    ):
        pytest.skip("neuroclip_live/model/bundled/tiny-digits is not there yet")
    backbone = load_clip("tiny-digits", device="cpu", offline=True)
    assert backbone.embed_dim == 128 and backbone.image_size == (64, 64)
    assert backbone.encode_frames(FRAMES).shape == (3, 128)


def assert_one_line_error(match: str, *args, **kwargs) -> str:
    with pytest.raises(ModelError, match=match) as err:
        load_clip(*args, **kwargs)
    text = str(err.value)
    assert "\n" not in text and len(text) < 300
    return text


def test_missing_file(tmp_path):
    assert_one_line_error("weights file not found", TINY_VIT, tmp_path / "nope.pt", device="cpu")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("garbage.pt", b"this is not a checkpoint" * 20),
        ("garbage.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{bad json"),
        ("empty.bin", b""),
    ],
)
def test_corrupt_files(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert_one_line_error("cannot read weights", TINY_VIT, path, device="cpu")


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "cut.pt"
    torch.save(tiny_model().state_dict(), path)
    path.write_bytes(path.read_bytes()[:5000])
    assert_one_line_error("cannot read weights", TINY_VIT, path, device="cpu")


def test_weights_of_another_model(tmp_path):
    path = tmp_path / "rn.pt"
    torch.save(tiny_model(TINY_RN).state_dict(), path)
    assert_one_line_error(f"do not fit model {TINY_VIT}", TINY_VIT, path, device="cpu")


def test_unknown_model_name_lists_valid_names():
    text = assert_one_line_error("unknown model 'RN5'", "RN5")
    assert "RN50" in text
    text = assert_one_line_error("unknown model", "no-such-model-at-all")
    assert "ViT-B-32" in text


def test_no_weights_offline_names_the_remedies(tmp_path):
    text = assert_one_line_error("no weights for RN50 found offline", "RN50", cache_dir=tmp_path, offline=True)
    assert "--weights PATH" in text and WEIGHTS_ENV in text and "internet" in text
    # A model open_clip has no weights for at all.
    assert_one_line_error("no pretrained weights", TINY_VIT, device="cpu")


def test_offline_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    assert_one_line_error("found offline", "ViT-B-32", cache_dir=tmp_path)


def test_cached_download_is_found_without_the_network(tmp_path, monkeypatch):
    # open_clip's URL cache layout: <cache>/<basename of the URL>; the file there is used as is.
    model = tiny_model(seed=9)
    torch.save(model.state_dict(), tmp_path / "tiny.pt")
    monkeypatch.setattr(weights.open_clip, "list_pretrained_tags_by_model", lambda name: ["openai"])
    monkeypatch.setattr(
        weights.open_clip, "get_pretrained_cfg", lambda name, tag: {"url": "https://example.invalid/x/tiny.pt"}
    )
    backbone = load_clip(TINY_VIT, device="cpu", cache_dir=tmp_path, offline=True)
    assert_same_weights(backbone, model)


def test_network_probe_fails_fast_for_an_unresolvable_host():
    assert network_reachable("neuroclip-test.invalid", timeout=1.0) is False


def test_bad_device_and_precision():
    assert_one_line_error("unknown device", TINY_VIT, device="warp-drive")
    assert_one_line_error("unknown precision", TINY_VIT, device="cpu", precision="fp8")
    if not torch.cuda.is_available():
        assert_one_line_error("no CUDA GPU", TINY_VIT, device="cuda")


def test_frames_of_any_sensor_size_encode():
    backbone = tiny_backbone()
    for h, w in ((34, 34), (260, 346), (720, 1280), (5, 3)):
        frames = np.full((1, h, w), 127, dtype=np.uint8)
        assert backbone.encode_frames(frames).shape == (1, 32)
