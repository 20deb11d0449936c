"""The image encoder's backends: OpenVINO gives torch's features, auto's choice, the converted-model cache, failures."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest
import torch

from clip_fixtures import (
    TINY_RN,
    TINY_VIT,
    event_frames,
    register_tiny_configs,
    spiking_adapter,
)
from conftest import PROJECT_ROOT
from neuroclip_live.cli import main
from neuroclip_live.errors import ModelError
from neuroclip_live.model.classifier import StreamingClassifier
from neuroclip_live.model.clip_model import create_clip, load_clip
from neuroclip_live.model.image_encoders import resolve_backend
from neuroclip_live.model.settings import OPENVINO_MISSING
from neuroclip_live.model.setup import build_classifier

pytest.importorskip("openvino", reason="OpenVINO is not installed: pip install openvino")

SAMPLE = PROJECT_ROOT / "recordings" / "sample.aedat4"
LABELS = ["cat", "dog", "car", "tree"]


@pytest.fixture(autouse=True)
def _configs():
    register_tiny_configs()


def seeded(name: str, **kwargs):
    """The same random weights at every call: the converted-model cache knows them by their hash."""
    torch.manual_seed(0)
    return create_clip(name, device="cpu", **kwargs)


def torch_features(backbone, frames: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return backbone.model.encode_image(backbone.preprocess(frames), normalize=True).float()


@pytest.mark.parametrize("name", ["tiny-digits", TINY_RN, TINY_VIT])
@pytest.mark.parametrize("precision", ["auto", "fp32"])
def test_openvino_features_match_torch(name, precision):
    frames = event_frames(6, 34, 34, seed=3) if name == "tiny-digits" else event_frames(6, 260, 346, seed=3)
    if name == "tiny-digits":
        bb = load_clip(name, device="cpu", backend="openvino", precision=precision)
    else:
        bb = seeded(name, backend="openvino", precision=precision)
    assert bb.image_encoder.backend == "openvino" and bb.describe().startswith(f"{name} · OpenVINO ")
    got, want = bb.encode_frames(frames), torch_features(bb, frames)
    assert got.shape == want.shape and got.dtype == torch.float32
    assert torch.allclose(got.norm(dim=-1), torch.ones(len(frames)), atol=1e-5)
    assert torch.nn.functional.cosine_similarity(got, want).min() >= 0.999
    if precision == "fp32":
        assert bb.engine == "OpenVINO fp32 · CPU"
        assert torch.allclose(got, want, atol=1e-4)


def test_the_sample_recording_scores_alike_on_both_backends():
    """tiny-digits' per-step probabilities on the sample (200 timesteps of 30 ms): OpenVINO at its own precision
    (bf16 on a CPU with AMX or AVX512-BF16) within 0.02 of torch's, with the same top label."""
    from neuroclip_live.model.label_presets import default_labels
    from neuroclip_live.offline.align import pair_recording

    frames = pair_recording(SAMPLE).event_frames
    probs = {}
    for backend in ("torch", "openvino"):
        clf = StreamingClassifier(
            load_clip("tiny-digits", device="cpu", backend=backend), default_labels("tiny-digits")
        )
        probs[backend] = np.stack([s.probs for i in range(0, len(frames), 8) for s in clf.step(frames[i : i + 8])])
    assert probs["torch"].shape == (200, 16)
    assert np.abs(probs["torch"] - probs["openvino"]).max() <= 0.02
    assert (probs["torch"].argmax(1) == probs["openvino"].argmax(1)).all()


def test_every_batch_size_runs_on_one_compiled_model():
    bb = seeded(TINY_RN, backend="openvino", precision="fp32")
    frames = event_frames(9, 260, 346, seed=4)
    one_by_one = torch.cat([bb.encode_frames(f[None]) for f in frames])
    for size in (2, 5, 9):
        assert torch.allclose(bb.encode_frames(frames[:size]), one_by_one[:size], atol=1e-5)


def test_a_batch_of_waiting_frames_scores_as_one_at_a_time():
    """The worker encodes a backlog as one batch; the LIF adapter still steps frame by frame, in order."""
    bb = seeded(TINY_RN, backend="openvino", precision="fp32")
    frames = event_frames(10, 260, 346, seed=13)
    single = StreamingClassifier(bb, LABELS, T=10, adapter=spiking_adapter(bb, event_frames(40, 260, 346, seed=14)))
    ones = [single.step(f[None])[0] for f in frames]
    batched = StreamingClassifier(bb, LABELS, T=10, adapter=spiking_adapter(bb, event_frames(40, 260, 346, seed=14)))
    chunks = [s for part in (frames[:4], frames[4:]) for s in batched.step(part)]
    assert chunks[-1].timings.batch == 6
    for a, b in zip(ones, chunks, strict=True):
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-4, rtol=0)


def test_auto_picks_torch_when_openvino_cannot_be_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if it were not installed
    bb = seeded(TINY_RN, backend="auto")
    assert bb.engine == "torch fp32 · CPU" and bb.backend_note == ""
    with pytest.raises(ModelError, match="needs OpenVINO"):
        seeded(TINY_RN, backend="openvino")


def test_auto_picks_by_device():
    assert resolve_backend("auto", torch.device("cuda")) == "torch"  # a GPU keeps torch (fp16, channels-last)
    assert resolve_backend("auto", torch.device("mps")) == "torch"
    assert resolve_backend("auto", torch.device("cpu")) == "openvino"
    assert resolve_backend("torch", torch.device("cpu")) == "torch"
    with pytest.raises(ModelError, match="runs on the CPU"):
        resolve_backend("openvino", torch.device("cuda"))


def test_the_converted_model_is_cached_and_a_damaged_entry_rebuilt(tmp_path, caplog):
    frames = event_frames(3, 260, 346, seed=5)
    first = seeded(TINY_RN, backend="openvino", cache_dir=tmp_path)
    entry = first.image_encoder.cache_entry
    assert first.image_encoder.converted and entry is not None and entry.is_relative_to(tmp_path)
    want = first.encode_frames(frames)
    second = seeded(TINY_RN, backend="openvino", cache_dir=tmp_path)
    assert not second.image_encoder.converted and second.image_encoder.cache_entry == entry
    assert torch.equal(second.encode_frames(frames), want)
    assert list((entry / "compiled").iterdir()), "OpenVINO's CACHE_DIR holds the compiled model"
    torch.manual_seed(1)
    other = create_clip(TINY_RN, device="cpu", backend="openvino", cache_dir=tmp_path)
    assert other.image_encoder.converted and other.image_encoder.cache_entry != entry  # keyed by the weights

    ir = entry / "visual.bin"
    ir.write_bytes(ir.read_bytes()[: ir.stat().st_size // 2])  # a disk error, a crash mid-copy
    with caplog.at_level(logging.WARNING):
        third = seeded(TINY_RN, backend="openvino", cache_dir=tmp_path)
    assert third.image_encoder.converted and "visual.bin is damaged" in caplog.text
    assert torch.equal(third.encode_frames(frames), want)

    for blob in (entry / "compiled").iterdir():
        blob.write_bytes(b"not a compiled model")  # OpenVINO's own cache entry, damaged
    fourth = seeded(TINY_RN, backend="openvino", cache_dir=tmp_path)
    assert not fourth.image_encoder.converted
    assert torch.equal(fourth.encode_frames(frames), want)


def test_an_unwritable_cache_only_costs_the_conversion(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("the cache folder's place is taken")
    bb = seeded(TINY_RN, backend="openvino", precision="fp32", cache_dir=blocked)
    assert bb.image_encoder.converted and bb.image_encoder.cache_entry is None
    frames = event_frames(2, 260, 346, seed=7)
    assert torch.allclose(bb.encode_frames(frames), torch_features(bb, frames), atol=1e-4)


@pytest.fixture
def unconvertible(monkeypatch, tmp_path):
    """Weights for the tiny ResNet, and an OpenVINO that refuses every model (as one with an unknown operation)."""
    import openvino

    def refuse(*args, **kwargs):
        raise RuntimeError("Model wasn't fully converted: aten::made_up_op\nmore detail")

    monkeypatch.setattr(openvino, "convert_model", refuse)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing converted earlier in the session
    path = tmp_path / "tiny-rn.pt"
    torch.save(seeded(TINY_RN).model.state_dict(), path)
    return str(path)


def test_a_model_openvino_cannot_convert_runs_on_torch_with_one_note(unconvertible):
    clf = build_classifier(model=TINY_RN, weights=unconvertible, device="cpu", labels=LABELS, backend="auto")
    assert clf.engine == "torch fp32 · CPU"
    assert clf.setup_notes == [
        "OpenVINO cannot convert test-tiny-rn's image encoder: Model wasn't fully converted: aten::made_up_op; "
        "running it on torch"
    ]
    with pytest.raises(ModelError, match=r"^OpenVINO cannot convert test-tiny-rn's image encoder"):
        build_classifier(model=TINY_RN, weights=unconvertible, device="cpu", labels=LABELS, backend="openvino")


def test_headless_says_the_fallback_in_one_note_line(unconvertible, capsys):
    args = [
        "--file",
        str(SAMPLE),
        "--headless",
        "--model",
        TINY_RN,
        "--weights",
        unconvertible,
        "--labels",
        "a, b",
        "--max-steps",
        "2",
    ]
    assert main(args) == 0
    err = capsys.readouterr().err.splitlines()
    assert len([ln for ln in err if ln.startswith("note:")]) == 1
    assert err[-1] == "neuroclip-live: 2 timesteps, 0 dropped (test-tiny-rn · torch fp32 · CPU)"
    assert main([*args, "--backend", "openvino"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "neuroclip-live: OpenVINO cannot convert test-tiny-rn's image encoder: Model wasn't fully "
        "converted: aten::made_up_op"
    ]


@pytest.mark.parametrize("command", [[], ["align", "--out", "x.safetensors"]])
def test_backend_openvino_without_openvino_is_one_line(command, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "openvino", None)
    args = [*command, "--file", str(SAMPLE), "--model", "tiny-digits", "--backend", "openvino"]
    assert main([*args, "--headless"] if not command else args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.splitlines() == [f"neuroclip-live: {OPENVINO_MISSING}"]


def test_headless_summary_says_what_ran(capsys):
    args = ["--file", str(SAMPLE), "--headless", "--model", "tiny-digits", "--max-steps", "2", "--precision", "fp32"]
    assert main(args) == 0
    assert capsys.readouterr().err.splitlines()[-1] == (
        "neuroclip-live: 2 timesteps, 0 dropped (tiny-digits · OpenVINO fp32 · CPU)"
    )
