"""Linear CKA and temporal CKA against hand-computed cases and their invariances."""

from __future__ import annotations

import pytest
import torch

from neuroclip_live.offline.tcka import linear_cka, tcka_loss, temporal_cka


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_one_dimensional_cka_is_the_squared_correlation_by_hand():
    # Centred: x = (-1, 0, 1), y = (0, -1, 1); Σxy = 1, Σx² = Σy² = 2: r = 0.5, CKA = r² = 0.25.
    x = torch.tensor([[1.0], [2.0], [3.0]])
    y = torch.tensor([[2.0], [1.0], [3.0]])
    assert float(linear_cka(x, y)) == pytest.approx(0.25, abs=1e-6)


def test_identical_states_give_one():
    x = torch.randn(50, 16, generator=_gen())
    assert float(linear_cka(x, x)) == pytest.approx(1.0, abs=1e-5)
    states = torch.randn(10, 32, 16, generator=_gen(1))
    assert float(temporal_cka(states, states)) == pytest.approx(1.0, abs=1e-5)
    assert float(tcka_loss(states, states)) == pytest.approx(0.0, abs=1e-5)


def test_invariant_to_orthogonal_transforms_and_isotropic_scaling():
    x = torch.randn(64, 16, generator=_gen(2))
    y = x @ torch.randn(16, 12, generator=_gen(3)) + 0.5 * torch.randn(64, 12, generator=_gen(4))
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=_gen(5)))
    base = float(linear_cka(x, y))
    assert 0.2 < base < 0.99  # a case that is neither trivial nor identical
    assert float(linear_cka(x @ q, y)) == pytest.approx(base, abs=1e-5)
    assert float(linear_cka(3.7 * x, 0.01 * y)) == pytest.approx(base, abs=1e-5)
    assert float(linear_cka(x + 5.0, y)) == pytest.approx(base, abs=1e-5)  # centring: offsets do not count


def test_a_non_isotropic_scaling_changes_it():
    x = torch.randn(64, 4, generator=_gen(6))
    y = x.clone()
    squashed = x * torch.tensor([10.0, 1.0, 1.0, 0.1])
    assert float(linear_cka(squashed, y)) < 0.9


def test_independent_random_states_are_near_zero():
    x = torch.randn(10, 4000, 16, generator=_gen(7))
    y = torch.randn(10, 4000, 16, generator=_gen(8))
    assert float(temporal_cka(x, y)) < 0.02


def test_temporal_cka_is_the_mean_over_timesteps():
    x = torch.randn(3, 20, 8, generator=_gen(9))
    y = torch.randn(3, 20, 5, generator=_gen(10))
    per_step = [float(linear_cka(a, b)) for a, b in zip(x, y, strict=True)]
    assert float(temporal_cka(x, y)) == pytest.approx(sum(per_step) / 3, abs=1e-6)


def test_constant_states_give_zero_not_nan_and_gradients_flow():
    x = torch.ones(8, 4)
    y = torch.randn(8, 4, generator=_gen(11))
    assert float(linear_cka(x, y)) == 0.0
    z = torch.randn(2, 8, 4, generator=_gen(12), requires_grad=True)
    tcka_loss(z, torch.randn(2, 8, 3, generator=_gen(13))).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="same n"):
        linear_cka(torch.zeros(4, 2), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="same T and n"):
        temporal_cka(torch.zeros(3, 4, 2), torch.zeros(2, 4, 2))
