"""The LIF neuron against NeuroCLIP's equations step by step, the adapter's wiring, and adapter files."""

from __future__ import annotations

import json

import pytest
import torch

from neuroclip_live.errors import ModelError
from neuroclip_live.model.adapter import (
    AdapterInfo,
    InterTimestepAdapter,
    NeuroclipLIF,
    load_adapter,
    save_adapter,
)


class _ReferenceFire(torch.autograd.Function):
    """s = [v >= 0], ds/dv = [|v| < 1/2]: written from the equations, independent of the code under test."""

    @staticmethod
    def forward(ctx, v):
        ctx.save_for_backward(v)
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        return grad * (v.abs() < 0.5).to(grad.dtype)


def reference_lif(xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """u <- 0.25 u + x; s = H(u - 0.5); u <- 0 after a spike (reset not detached, as NeuroCLIP's LIFSpike)."""
    u = torch.zeros_like(xs[0])
    spikes, mems = [], []
    for x in xs:
        u = 0.25 * u + x
        mems.append(u)
        s = _ReferenceFire.apply(u - 0.5)
        spikes.append(s)
        u = (1 - s) * u
    return torch.stack(spikes), torch.stack(mems)


def run_lif(lif: NeuroclipLIF, xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    spikes, mems = [], []
    for x in xs:
        s, m = lif(x)
        spikes.append(s)
        mems.append(m)
    return torch.stack(spikes), torch.stack(mems)


def test_lif_by_hand_threshold_is_inclusive_and_reset_is_hard():
    xs = torch.tensor([[0.5], [0.1], [0.4], [0.4], [0.0], [0.49]])
    lif = NeuroclipLIF()
    spikes, mems = run_lif(lif, xs)
    # u: 0.5 (= threshold: spike, reset) -> 0.1 -> 0.425 -> 0.50625 (spike, reset) -> 0 -> 0.49
    assert spikes.flatten().tolist() == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    assert mems.flatten().tolist() == pytest.approx([0.5, 0.1, 0.425, 0.50625, 0.0, 0.49])


def test_lif_matches_the_equations_step_by_step_with_gradients():
    torch.manual_seed(3)
    xs = (torch.rand(25, 4, 16) * 0.9).requires_grad_(True)
    weights = torch.randn(25, 4, 16)
    spikes, mems = run_lif(NeuroclipLIF(), xs)
    ref_spikes, ref_mems = reference_lif(xs)
    assert 0 < spikes.sum() < spikes.numel()  # both regimes are exercised
    assert torch.equal(spikes, ref_spikes)
    assert torch.allclose(mems, ref_mems, atol=1e-7)
    (grad,) = torch.autograd.grad((spikes * weights).sum(), xs)
    (ref_grad,) = torch.autograd.grad((ref_spikes * weights).sum(), xs)
    assert grad.abs().sum() > 0
    assert torch.allclose(grad, ref_grad, atol=1e-6)


def test_lif_membrane_carries_between_calls_until_reset_mem():
    lif = NeuroclipLIF()
    lif(torch.tensor([0.4]))
    _, carried = lif(torch.tensor([0.2]))
    assert carried.item() == pytest.approx(0.3)  # 0.25 * 0.4 + 0.2
    lif.reset_mem()
    _, fresh = lif(torch.tensor([0.2]))
    assert fresh.item() == pytest.approx(0.2)


def reference_adapter(adapter: InterTimestepAdapter, feats: torch.Tensor) -> torch.Tensor:
    """The adapter written out in eval mode from its own layers, with the reference LIF."""
    hidden = torch.stack([adapter.bn_hidden(adapter.down(adapter.bn_in(f))) for f in feats])
    spikes, _ = reference_lif(hidden)
    branch = torch.relu(adapter.up(spikes))
    return 0.6 * branch + 0.4 * feats


def spiking_adapter(dim: int = 64, seed: int = 0) -> InterTimestepAdapter:
    """A random adapter whose LIF fires now and then on unit-norm features (untrained BN would keep it silent)."""
    torch.manual_seed(seed)
    adapter = InterTimestepAdapter(dim).eval()
    with torch.no_grad():
        adapter.bn_in.running_var.fill_(1.0 / dim)  # features of norm 1 have per-dimension variance ~1/dim
        adapter.bn_hidden.weight.fill_(1.5)
    return adapter


def test_adapter_shapes_follow_the_paper():
    adapter = InterTimestepAdapter(1024)
    assert (adapter.down.in_features, adapter.down.out_features) == (1024, 128)
    assert (adapter.up.in_features, adapter.up.out_features) == (128, 1024)
    assert adapter.bn_in.num_features == 1024 and adapter.bn_hidden.num_features == 128
    assert adapter.drop_in.p == 0.5 and adapter.drop_hidden.p == 0.5
    assert adapter.ratio == 0.6


def test_adapter_matches_reference_over_timesteps():
    adapter = spiking_adapter()
    feats = torch.nn.functional.normalize(torch.randn(12, 3, 64), dim=-1)
    with torch.no_grad():
        out = adapter.forward_sequence(feats)
        ref = reference_adapter(adapter, feats)
        spikes, _ = reference_lif(torch.stack([adapter.bn_hidden(adapter.down(adapter.bn_in(f))) for f in feats]))
    assert 0 < spikes.sum() < spikes.numel()
    assert torch.allclose(out, ref, atol=1e-6)


def test_step_carries_the_membrane_and_reset_state_clears_it():
    adapter = spiking_adapter()
    feats = torch.nn.functional.normalize(torch.randn(8, 1, 64), dim=-1)
    with torch.no_grad():
        batch = adapter.forward_sequence(feats)
        adapter.reset_state()
        stepped = torch.stack([adapter.step(f) for f in feats])
        fresh = []
        for f in feats:
            adapter.reset_state()
            fresh.append(adapter.step(f))
    assert torch.allclose(batch, stepped, atol=1e-7)
    assert torch.allclose(stepped[0], fresh[0])
    # The state carried from earlier steps changes later outputs.
    assert any(not torch.allclose(a, b) for a, b in zip(stepped[1:], fresh[1:], strict=True))


def test_dropout_only_in_training():
    adapter = InterTimestepAdapter(64)
    feats = torch.randn(3, 8, 64)
    adapter.eval()
    with torch.no_grad():
        assert torch.equal(adapter(feats), adapter(feats))
    adapter.train()
    torch.manual_seed(0)
    a = adapter(feats)
    b = adapter(feats)
    assert not torch.equal(a, b)


def test_save_and_load_round_trip(tmp_path):
    adapter = spiking_adapter()
    info = AdapterInfo("RN50", 64, ["cat", "dog"], ["a photo of a {}."], T=10, timestep="30ms", alpha=[0.1] * 10)
    path = tmp_path / "adapter.safetensors"
    save_adapter(path, adapter, info)
    loaded, loaded_info = load_adapter(path, "RN50", 64)
    assert loaded_info == info
    assert not loaded.training
    feats = torch.nn.functional.normalize(torch.randn(6, 2, 64), dim=-1)
    with torch.no_grad():
        assert torch.equal(loaded.forward_sequence(feats), adapter.forward_sequence(feats))
    # OpenAI's RN50 loads as QuickGELU: an adapter made with either name fits the other.
    load_adapter(path, "RN50-quickgelu", 64)


@pytest.mark.parametrize(
    ("backbone", "dim", "match"),
    [("ViT-B-32", 64, "trained for RN50"), ("RN50", 128, "dim 64")],
)
def test_load_for_another_backbone_is_one_line_error(tmp_path, backbone, dim, match):
    path = tmp_path / "a.safetensors"
    save_adapter(path, InterTimestepAdapter(64), AdapterInfo("RN50", 64))
    with pytest.raises(ModelError, match=match) as err:
        load_adapter(path, backbone, dim)
    assert "\n" not in str(err.value)


def test_damaged_missing_and_foreign_files_are_one_line_errors(tmp_path):
    from safetensors.torch import save_file

    good = tmp_path / "good.safetensors"
    save_adapter(good, InterTimestepAdapter(64), AdapterInfo("RN50", 64))
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:100])
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    bad_meta = tmp_path / "bad_meta.safetensors"
    save_file({"w": torch.zeros(2)}, str(bad_meta), metadata={"neuroclip_adapter": json.dumps({"nope": 1})})
    for path in (truncated, garbage, plain, bad_meta, tmp_path / "missing.safetensors"):
        with pytest.raises(ModelError) as err:
            load_adapter(path)
        assert "\n" not in str(err.value)
        assert str(path.name) in str(err.value)
