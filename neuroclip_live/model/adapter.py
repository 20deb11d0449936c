"""NeuroCLIP's inter-timestep adapter: a small spiking (LIF) bottleneck shared across timesteps.

As in the original code (``trainers/fewshot.py`` of github.com/yfguo91/NeuroCLIP):
``BatchNorm1d(C) → Dropout(0.5) → Linear(C, C/8) → BatchNorm1d(C/8) → LIF →
Dropout(0.5) → Linear(C/8, C) → ReLU``, applied to each timestep's feature in
turn with the LIF membrane carried from one timestep to the next, and the
adapted feature ``0.6 · adapter(f) + 0.4 · f``.

The LIF: ``u ← 0.25·u + x``; spike ``s = [u − 0.5 ≥ 0]``; hard reset ``u ← 0``
after a spike; rectangular surrogate gradient ``ds/du = [|u − 0.5| < 0.5]``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import snntorch as snn
import torch
from torch import nn

from neuroclip_live import defaults
from neuroclip_live.errors import ModelError

ADAPTER_FORMAT = 1
_METADATA_KEY = "neuroclip_adapter"


class RectangularSpike(torch.autograd.Function):
    """Heaviside with ``>= 0`` (snntorch's own surrogates fire on ``> 0``), rectangular gradient of width 1."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * (x.abs() < 0.5).to(grad.dtype)  # width 1, height 1/width


class NeuroclipLIF(snn.Leaky):
    """snntorch's ``Leaky`` set up as NeuroCLIP's LIF.

    With ``reset_mechanism="zero"`` snntorch zeroes the membrane at the start
    of the next step from the stored (pre-reset) membrane: the same sequence
    ``u_t = 0.25·u_{t-1}·(1 − s_{t-1}) + x_t`` as resetting right after the
    spike. Two settings differ from snntorch's defaults: the spike function
    (``>=`` at threshold, rectangular surrogate), and the reset signal, which
    snntorch detaches from the graph while NeuroCLIP's LIF lets the surrogate
    gradient flow through it; ``mem_reset`` is overridden for that.
    """

    def __init__(self, beta: float = 0.25, threshold: float = 0.5) -> None:
        super().__init__(beta=beta, threshold=threshold, spike_grad=RectangularSpike.apply, reset_mechanism="zero")

    def mem_reset(self, mem: torch.Tensor) -> torch.Tensor:
        return self.spike_grad(mem - self.threshold)


class InterTimestepAdapter(nn.Module):
    """The adapter for features of dimension ``dim``; ``step`` carries the LIF membrane between calls."""

    def __init__(self, dim: int, ratio: float = 0.6, dropout: float = 0.5) -> None:
        super().__init__()
        if dim < 8:
            raise ValueError(f"adapter dimension must be at least 8, got {dim}")
        hidden = dim // 8
        self.dim = dim
        self.ratio = ratio
        self.bn_in = nn.BatchNorm1d(dim)
        self.drop_in = nn.Dropout(dropout)
        self.down = nn.Linear(dim, hidden)
        self.bn_hidden = nn.BatchNorm1d(hidden)
        self.lif = NeuroclipLIF()
        self.drop_hidden = nn.Dropout(dropout)
        self.up = nn.Linear(hidden, dim)
        self.act = nn.ReLU()

    def reset_state(self) -> None:
        """Forget the membrane (new sample, seek, loop, source change)."""
        self.lif.reset_mem()

    def step(self, f: torch.Tensor) -> torch.Tensor:
        """One timestep: (B, C) features -> (B, C) adapted features; the membrane carries to the next call."""
        return self.step_with_state(f)[0]

    def step_with_state(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``step`` and the LIF membrane (B, C/8) it reached, before the spike's reset (for TCKA)."""
        x = self.down(self.drop_in(self.bn_in(f)))
        spikes, mem = self.lif(self.bn_hidden(x))
        branch = self.act(self.up(self.drop_hidden(spikes)))
        return self.ratio * branch + (1.0 - self.ratio) * f, mem

    def forward_sequence(self, feats: torch.Tensor) -> torch.Tensor:
        """(T, B, C) -> (T, B, C) from a fresh membrane (training, evaluation, batch forward)."""
        return self.sequence_with_states(feats)[0]

    def sequence_with_states(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(T, B, C) -> adapted (T, B, C) and the LIF membranes (T, B, C/8), from a fresh membrane."""
        if feats.ndim != 3 or feats.shape[-1] != self.dim:
            raise ValueError(f"expected (T, B, {self.dim}) features, got {tuple(feats.shape)}")
        self.reset_state()
        outs, mems = zip(*(self.step_with_state(f) for f in feats), strict=True)
        return torch.stack(outs), torch.stack(mems)

    forward = forward_sequence


# --------------------------------------------------------------------------- files


@dataclass
class AdapterInfo:
    """What an adapter was trained with, stored beside its weights."""

    backbone: str
    embed_dim: int
    classes: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    T: int = defaults.T
    timestep: str = ""  # the framer's rule, e.g. "30ms" or "2000ev"
    alpha: list[float] | None = None
    ratio: float = 0.6
    # How it was trained beyond plain few-shot: {"mode": "images", "images": N, "lambda_feature": ...}
    # for RGB-to-event transfer, {"mode": "align", "recording": ..., "pairs": N, ...} for label-free alignment.
    transfer: dict | None = None
    # What it was trained on, so that ``evaluate`` can leave those samples out: {"root", "split", "seed",
    # "shots", "val_per_class", "samples": [[path in the split, bytes or None], ...], "sha1"}; None in files
    # written before it was recorded (and in ``align``'s, trained on a recording, see ``transfer``).
    data: dict | None = None
    format: int = ADAPTER_FORMAT


def _same_backbone(a: str, b: str) -> bool:
    # "RN50" with OpenAI's weights loads as QuickGELU: the same features as "RN50-quickgelu".
    return a.removesuffix("-quickgelu") == b.removesuffix("-quickgelu")


def save_adapter(path: str | Path, adapter: InterTimestepAdapter, info: AdapterInfo) -> None:
    """Weights as safetensors with ``info`` as JSON in the file's metadata (one file to pass around).

    Written with ``open`` rather than ``safetensors.torch.save_file``, which creates the file with
    mode 0600: an adapter is an output like any other and gets the user's umask.
    """
    from safetensors.torch import save

    if info.embed_dim != adapter.dim:
        raise ValueError(f"info.embed_dim {info.embed_dim} != adapter dimension {adapter.dim}")
    info.ratio = adapter.ratio
    state = {k: v.detach().cpu().contiguous() for k, v in adapter.state_dict().items()}
    data = save(state, metadata={_METADATA_KEY: json.dumps(asdict(info))})
    with open(path, "wb") as fh:
        fh.write(data)


def _read_adapter_file(path: Path) -> tuple[dict[str, torch.Tensor], AdapterInfo]:
    if not path.is_file():
        raise ModelError(f"adapter file not found: {path}")
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = (fh.metadata() or {}).get(_METADATA_KEY)
            state = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - safe_open is not a dict: keys() is its only listing
        if meta is None:
            raise ValueError("no adapter metadata")
        info = AdapterInfo(**json.loads(meta))
    except Exception as err:  # safetensors, JSON and field errors all mean the same to the user
        reason = str(err).splitlines()[0][:100] if str(err) else type(err).__name__
        raise ModelError(f"adapter file {path} is damaged or not an adapter ({reason})") from None
    return state, info


def read_adapter_info(path: str | Path) -> AdapterInfo:
    """What an adapter file was trained with (its backbone, classes...), without building the adapter."""
    return _read_adapter_file(Path(path))[1]


def load_adapter(
    path: str | Path,
    backbone: str | None = None,
    embed_dim: int | None = None,
    device: str | torch.device = "cpu",
) -> tuple[InterTimestepAdapter, AdapterInfo]:
    """An adapter in eval mode and its info; ``ModelError`` (one line) if missing, damaged or for another model."""
    path = Path(path)
    state, info = _read_adapter_file(path)
    if (backbone is not None and not _same_backbone(info.backbone, backbone)) or (
        embed_dim is not None and info.embed_dim != embed_dim
    ):
        raise ModelError(
            f"adapter {path.name} was trained for {info.backbone} (dim {info.embed_dim}), not "
            f"{backbone or '?'} (dim {embed_dim or '?'}): use the matching --model or no --adapter"
        )
    adapter = InterTimestepAdapter(info.embed_dim, ratio=info.ratio)
    try:
        adapter.load_state_dict(state)
    except RuntimeError as err:
        reason = str(err).splitlines()[-1].strip()[:100]
        raise ModelError(f"adapter file {path} does not match its own metadata: {reason}") from None
    if not all(math.isfinite(float(v)) for v in (info.alpha or [])):
        raise ModelError(f"adapter file {path} holds non-finite alpha weights")
    return adapter.to(device).eval(), info
