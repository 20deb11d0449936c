"""Linear centred kernel alignment (CKA), and R2ETL's temporal CKA over a spiking network's states.

Linear CKA (Kornblith et al. 2019) compares two representations of the same
n samples, X (n x p) and Y (n x q), after centring each column:

    CKA(X, Y) = ||Yᵀ X||²_F / (||Xᵀ X||_F · ||Yᵀ Y||_F)

It is 1 for identical representations, unchanged by orthogonal transforms
and isotropic scaling of either side, and near 0 for independent ones.
TCKA (Zhan et al., R2ETL, IEEE TIP 2024) takes it timestep by timestep
between the LIF states of the image branch and of the event branch and
averages over time, so that the two branches' temporal dynamics match, not
only their outputs. Written in torch (a few lines) so the loss is
differentiable; no library in the environment offers a differentiable CKA.
"""

from __future__ import annotations

import torch

_EPS = 1e-8


def _batched_cka(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Linear CKA of (T, n, p) and (T, n, q) representations, one per leading index -> (T,)."""
    x = x - x.mean(dim=1, keepdim=True)
    y = y - y.mean(dim=1, keepdim=True)
    cross = (y.transpose(1, 2) @ x).pow(2).sum(dim=(1, 2))
    norm_x = (x.transpose(1, 2) @ x).pow(2).sum(dim=(1, 2)).sqrt()
    norm_y = (y.transpose(1, 2) @ y).pow(2).sum(dim=(1, 2)).sqrt()
    return cross / (norm_x * norm_y + _EPS)


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Linear CKA of two (n, p) and (n, q) representations of the same n samples, a scalar in [0, 1].

    A representation that does not vary over the samples (all rows equal)
    carries no structure to align: CKA is 0 there, not NaN.
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"expected (n, p) and (n, q) with the same n, got {tuple(x.shape)} and {tuple(y.shape)}")
    return _batched_cka(x[None], y[None])[0]


def temporal_cka(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over timesteps of ``linear_cka(x[t], y[t])`` for (T, n, p) and (T, n, q) states."""
    if x.ndim != 3 or y.ndim != 3 or x.shape[:2] != y.shape[:2]:
        raise ValueError(
            f"expected (T, n, p) and (T, n, q) with the same T and n, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    return _batched_cka(x, y).mean()


def tcka_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``1 - temporal_cka``: 0 when the two branches' states align at every timestep."""
    return 1.0 - temporal_cka(x, y)
