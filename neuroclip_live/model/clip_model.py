"""The CLIP backbone: open_clip model, weights resolution, device and precision, frame/text encoders.

Weights resolve in this order: an explicit path, ``NEUROCLIP_WEIGHTS``, the
weights bundled with a model under ``neuroclip_live/model/bundled/<name>/``, then
open_clip's cache and download (pretrained tag ``openai`` where the model has
it). A bundled model is only an open_clip config plus a default weights file:
it loads through the same path as ``RN50``.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
import socket
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import open_clip
import torch

from neuroclip_live.errors import ModelError
from neuroclip_live.model.preprocess import OPENAI_MEAN, OPENAI_STD, FramePreprocessor

log = logging.getLogger(__name__)

WEIGHTS_ENV = "NEUROCLIP_WEIGHTS"
OFFLINE_ENV = "NEUROCLIP_OFFLINE"
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
DEFAULT_TAG = "openai"  # the paper's weights
# open_clip's "fp16"/"bf16" are its mixed modes (OpenAI's): weights in half, LayerNorm in float32.
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
PRECISIONS = tuple(_DTYPES)
_REMEDIES = f"give --weights PATH, set {WEIGHTS_ENV}=PATH, or connect to the internet once to download them"


@dataclass
class ClipBackbone:
    """A loaded CLIP model in eval mode with what the classifier needs to use it."""

    model: torch.nn.Module
    tokenizer: Any
    name: str
    image_size: tuple[int, int]
    embed_dim: int
    device: torch.device
    dtype: torch.dtype
    context_length: int
    weights: str  # where the weights came from, for display ("random" when none)
    notes: list[str] = field(default_factory=list)  # one-line remarks for the user (full unpickle...)
    preprocess: FramePreprocessor = field(init=False)

    def __post_init__(self) -> None:
        cfg = getattr(self.model.visual, "preprocess_cfg", {}) or {}
        self.preprocess = FramePreprocessor(
            self.image_size,
            mean=cfg.get("mean", OPENAI_MEAN),
            std=cfg.get("std", OPENAI_STD),
            device=self.device,
            dtype=self.dtype,
            channels_last=self.device.type == "cuda",
        )

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.detach().exp().item())

    # no_grad, not inference_mode: the features also feed adapter training, which must save them for backward.
    @torch.no_grad()
    def encode_frames(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(B, H, W) uint8 frames -> (B, C) L2-normalised float32 features on ``self.device``."""
        x = self.preprocess(frames)
        return self.model.encode_image(x, normalize=True).float()

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Prompts -> (N, C) L2-normalised float32 features on ``self.device``."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        return self.model.encode_text(tokens, normalize=True).float()


# --------------------------------------------------------------------------- model names


def bundled_models() -> list[str]:
    """Models shipped in ``neuroclip_live/model/bundled/<name>/<name>.json``."""
    if not BUNDLED_DIR.is_dir():
        return []
    return sorted(d.name for d in BUNDLED_DIR.iterdir() if (d / f"{d.name}.json").is_file())


def _register_bundled(name: str) -> Path | None:
    """Register a bundled model's config with open_clip; its default weights file, if any."""
    config = BUNDLED_DIR / name / f"{name}.json"
    if not config.is_file():
        return None
    if name not in open_clip.list_models():
        open_clip.add_model_config(config)
    weights = config.with_suffix(".safetensors")
    return weights if weights.is_file() else None


def _check_name(name: str) -> None:
    known = open_clip.list_models()
    if name in known:
        return
    close = difflib.get_close_matches(name, known + bundled_models(), n=4, cutoff=0.5)
    examples = close or ["RN50", "RN101", "ViT-B-32", "ViT-B-16", *bundled_models()]
    raise ModelError(
        f"unknown model {name!r}: try {', '.join(examples)} ({len(known)} names in open_clip.list_models())"
    )


# --------------------------------------------------------------------------- weights files


def _cache_root(cache_dir: str | os.PathLike | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "neuroclip-live"


def _file_kind(path: Path) -> str:
    """'safetensors', 'torchscript' (OpenAI's .pt) or 'pickle' (torch.save, zip or legacy)."""
    if path.suffix == ".safetensors":
        return "safetensors"
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return "pickle"  # torch.load will say it is corrupt
        # torch.save archives hold data.pkl and data/; TorchScript adds its code/ (and constants.pkl).
        if any("/code/" in n or n.endswith("constants.pkl") for n in names):
            return "torchscript"
    return "pickle"


def _convert_torchscript(path: Path, cache_dir: str | os.PathLike | None) -> Path:
    """OpenAI's TorchScript archive -> a cached safetensors state dict (done once per file).

    open_clip loads with ``weights_only=True``, which refuses TorchScript.
    """
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    target = _cache_root(cache_dir) / "converted" / f"{path.stem}-{key}.safetensors"
    if target.is_file():
        return target
    from safetensors.torch import save_file

    log.info("converting TorchScript weights %s to %s (once)", path, target)
    try:
        with warnings.catch_warnings():
            # torch marks TorchScript deprecated, but OpenAI's weights ship in it: reading them is the point.
            warnings.simplefilter("ignore", FutureWarning)
            state = torch.jit.load(str(path), map_location="cpu").state_dict()
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError and friends for a damaged archive
        raise ModelError(f"cannot read TorchScript weights {path}: {_first_line(err)}") from None
    # OpenAI's int attributes, and the causal mask TorchScript keeps as a buffer: not weights.
    for extra in ("input_resolution", "context_length", "vocab_size", "attn_mask"):
        state.pop(extra, None)
    tensors = {k: v.detach().contiguous().clone() for k, v in state.items()}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        save_file(tensors, str(tmp))
        os.replace(tmp, target)
    except OSError:
        # Unwritable cache: convert into a temporary file for this run only.
        fd, tmp_name = tempfile.mkstemp(suffix=".safetensors")
        os.close(fd)
        save_file(tensors, tmp_name)
        return Path(tmp_name)
    return target


def _first_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    # torch's load_state_dict error starts with a header; the next line says what is wrong.
    if len(lines) > 1 and lines[0].startswith("Error(s) in loading state_dict"):
        lines = lines[1:]
    text = lines[0] if lines else type(err).__name__
    return text if len(text) <= 160 else text[:157] + "..."


# --------------------------------------------------------------------------- default weights (download)


def _cached_pretrained(cfg: dict, cache_dir: str | os.PathLike | None) -> str | None:
    """open_clip's already-downloaded file for a pretrained config, found without the network."""
    hf_hub = cfg.get("hf_hub", "")
    if hf_hub and open_clip.pretrained.has_hf_hub():
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(hf_hub)
        candidates = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        for fn in candidates:
            found = try_to_load_from_cache(repo, fn, cache_dir=cache_dir)
            if isinstance(found, str):
                return found
    url = cfg.get("url", "")
    if url:
        local = Path(cache_dir or "~/.cache/clip").expanduser() / os.path.basename(url)
        if local.is_file():
            return str(local)
    return None


def network_reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether ``host`` resolves and accepts a connection (a quick check before a download).

    Without it, an offline machine waits about 50 s on huggingface_hub's retries before failing.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _download_host(cfg: dict) -> str:
    if cfg.get("hf_hub") and open_clip.pretrained.has_hf_hub():
        from huggingface_hub import constants

        return urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    return urlparse(cfg.get("url", "")).hostname or "huggingface.co"


def _offline_requested() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes") for v in (OFFLINE_ENV, "HF_HUB_OFFLINE"))


def _default_weights(name: str, cache_dir: str | os.PathLike | None, offline: bool | None) -> tuple[str, dict]:
    """open_clip's weights for ``name`` (tag 'openai' preferred): cached, else downloaded with progress."""
    tags = open_clip.list_pretrained_tags_by_model(name)
    if not tags:
        raise ModelError(f"open_clip has no pretrained weights for {name!r}: {_REMEDIES}")
    tag = DEFAULT_TAG if DEFAULT_TAG in tags else tags[0]
    cfg = open_clip.get_pretrained_cfg(name, tag)
    cached = _cached_pretrained(cfg, cache_dir)
    if cached:
        return cached, cfg
    if offline is None:
        offline = _offline_requested()
    if offline or not network_reachable(_download_host(cfg)):
        raise ModelError(f"no weights for {name} found offline: {_REMEDIES}")
    log.warning("downloading %s weights (%s) for %s", tag, _download_host(cfg), name)
    try:
        path = open_clip.download_pretrained(cfg, cache_dir=str(cache_dir) if cache_dir else None)
    except Exception as err:  # noqa: BLE001 - network, disk or hub errors: all mean "no weights"
        raise ModelError(f"could not download {name} weights ({_first_line(err)}): {_REMEDIES}") from None
    if not path:
        raise ModelError(f"could not download {name} weights: {_REMEDIES}")
    return path, cfg


# --------------------------------------------------------------------------- loading


def _pick_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ModelError(f"unknown device {device!r}: use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for, but this torch sees no CUDA GPU: use --device cpu")
    return dev


def _pick_precision(precision: str | None, device: torch.device) -> str:
    if precision is None:
        return "fp16" if device.type == "cuda" else "fp32"
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    return precision


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _backbone(
    model: torch.nn.Module, name: str, device: torch.device, precision: str, weights: str, notes: list[str]
) -> ClipBackbone:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)  # faster convolutions for RN50 under cuDNN
    else:
        cores = _cpu_cores()
        if torch.get_num_threads() != cores:
            torch.set_num_threads(cores)
    size = model.visual.image_size
    image_size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    cfg = open_clip.get_model_config(name) or {}
    context_length = int(getattr(model, "context_length", 0) or cfg.get("text_cfg", {}).get("context_length", 77))
    embed_dim = int(cfg.get("embed_dim") or model.text_projection.shape[-1])
    dtype = _DTYPES[precision]
    tokenizer = open_clip.get_tokenizer(name)
    return ClipBackbone(model, tokenizer, name, image_size, embed_dim, device, dtype, context_length, weights, notes)


def create_clip(name: str, device: str | None = None, precision: str | None = None) -> ClipBackbone:
    """A model with random weights (tests, benchmarks): same structure and speed as the real one."""
    if _register_bundled(name) is None:
        _check_name(name)
    dev = _pick_device(device)
    prec = _pick_precision(precision, dev)
    model = open_clip.create_model(name, device=dev, precision=prec)
    return _backbone(model, name, dev, prec, "random", [])


def load_clip(
    name: str = "RN50",
    weights: str | os.PathLike | None = None,
    device: str | None = None,
    precision: str | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
) -> ClipBackbone:
    """Load a CLIP model by open_clip name (or a bundled one) with its weights, ready for inference.

    Raises ``ModelError`` (one line) for an unknown name, a missing, damaged or
    mismatched weights file, or no weights reachable offline. ``cache_dir``
    holds converted TorchScript files and downloads (default: the usual caches);
    ``offline`` skips the download (default: ``NEUROCLIP_OFFLINE`` / ``HF_HUB_OFFLINE``).
    """
    bundled = _register_bundled(name)
    if bundled is None:
        _check_name(name)
    dev = _pick_device(device)
    prec = _pick_precision(precision, dev)
    notes: list[str] = []
    quick_gelu = False
    if weights is None and os.environ.get(WEIGHTS_ENV):
        weights = os.environ[WEIGHTS_ENV]
        notes.append(f"weights from {WEIGHTS_ENV}={weights}")
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ModelError(f"weights file not found: {path}")
    elif bundled is not None:
        path = bundled
    else:
        found, cfg = _default_weights(name, cache_dir, offline)
        path = Path(found)
        quick_gelu = bool(cfg.get("quick_gelu", False))

    kind = _file_kind(path)
    source = path
    if kind == "torchscript":
        # OpenAI's own archives: their models use QuickGELU (what open_clip's -quickgelu configs set).
        quick_gelu = True
        path = _convert_torchscript(path, cache_dir)
        notes.append(f"converted OpenAI TorchScript {source.name} to safetensors (QuickGELU)")

    def create(weights_only: bool) -> torch.nn.Module:
        return open_clip.create_model(
            name,
            pretrained=str(path),
            device=dev,
            precision=prec,
            force_quick_gelu=quick_gelu,
            weights_only=weights_only,
        )

    try:
        try:
            model = create(weights_only=True)
        except Exception as err:
            # A checkpoint that pickles other objects (optimizer state, argparse args...) needs a full
            # unpickle; torch says "Unsupported global" for those, "invalid load key" for garbage.
            if "Unsupported global" not in str(err):
                raise
            msg = f"{source.name} is a full pickle: loading it runs code from the file, use it only if you trust it"
            log.warning(msg)
            notes.append(msg)
            model = create(weights_only=False)
    except Exception as err:  # noqa: BLE001 - open_clip and torch raise many types; each becomes one line
        text = _first_line(err)
        if any(s in text for s in ("Missing key", "Unexpected key", "size mismatch")):
            raise ModelError(f"weights {source} do not fit model {name}: {text}") from None
        raise ModelError(f"cannot read weights {source}: {text}") from None
    return _backbone(model, name, dev, prec, str(source), notes)
