"""Finding CLIP weights: an explicit file, the environment, a bundled model, open_clip's cache or a download.

Also reads OpenAI's TorchScript archives once into a cached safetensors file
(open_clip loads with ``weights_only=True``, which refuses TorchScript).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import tempfile
import warnings
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import open_clip
import torch

from neuroclip_live.errors import ModelError

log = logging.getLogger(__name__)

WEIGHTS_ENV = "NEUROCLIP_WEIGHTS"
OFFLINE_ENV = "NEUROCLIP_OFFLINE"
DEFAULT_TAG = "openai"  # the paper's weights
_REMEDIES = f"give --weights PATH, set {WEIGHTS_ENV}=PATH, or connect to the internet once to download them"


def cache_root(cache_dir: str | os.PathLike | None) -> Path:
    """``cache_dir``, else the user's cache folder (``$XDG_CACHE_HOME/neuroclip-live``): converted files live here."""
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "neuroclip-live"


EXPECTED = (
    "expected a CLIP checkpoint (.pt/.bin from torch.save or open_clip, OpenAI's TorchScript .pt, or .safetensors)"
)
KIND_NAMES = {"safetensors": "safetensors", "torchscript": "TorchScript archive", "pickle": "torch checkpoint"}


def _describe_content(head: bytes) -> str:
    """What the first bytes of a file that is no weights format look like, for the message."""
    if not head:
        return "the file is empty"
    text = head.decode("utf-8", errors="replace")
    if all(ch.isprintable() or ch.isspace() for ch in text) and "\ufffd" not in text:
        return f"it holds text ({text.strip()[:40]!r}...)"
    return f"it starts with bytes {head[:8].hex(' ')}, no known weights format"


def file_kind(path: Path) -> str:
    """'safetensors', 'torchscript' (OpenAI's .pt) or 'pickle' (torch.save, zip or legacy), told by content.

    ``ModelError`` saying what the file is instead, when it is none of those: torch's own
    error for a text file is an unhelpful "pop from empty list" or a bare number.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as err:
        raise ModelError(f"cannot read weights {path}: {err.strerror or err}") from None
    if head.startswith(b"PK\x03\x04"):
        if not zipfile.is_zipfile(path):
            raise ModelError(f"cannot read weights {path}: a damaged or truncated zip archive; {EXPECTED}")
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return "pickle"  # torch.load will say it is corrupt
        # torch.save archives hold data.pkl and data/; TorchScript adds its code/ (and constants.pkl).
        return "torchscript" if any("/code/" in n or n.endswith("constants.pkl") for n in names) else "pickle"
    if len(head) > 8 and head[8:9] == b"{":  # safetensors: 8-byte header length, then the JSON header
        return "safetensors"
    if head[:1] == b"\x80":  # a pickle, protocol 2 or later: torch.save's legacy format
        return "pickle"
    raise ModelError(f"cannot read weights {path}: {_describe_content(head)}; {EXPECTED}")


def convert_torchscript(path: Path, cache_dir: str | os.PathLike | None) -> Path:
    """OpenAI's TorchScript archive -> a cached safetensors state dict (done once per file).

    open_clip loads with ``weights_only=True``, which refuses TorchScript.
    """
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    target = cache_root(cache_dir) / "converted" / f"{path.stem}-{key}.safetensors"
    if target.is_file():
        return target
    from safetensors.torch import save_file

    log.info("converting TorchScript weights %s to %s (once)", path, target)
    try:
        with warnings.catch_warnings():
            # torch marks TorchScript deprecated, but OpenAI's weights ship in it: reading them is the point.
            warnings.simplefilter("ignore", FutureWarning)
            state = torch.jit.load(str(path), map_location="cpu").state_dict()
    except Exception as err:  # torch raises RuntimeError and friends for a damaged archive
        raise ModelError(f"cannot read TorchScript weights {path}: {first_line(err)}") from None
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


def first_line(err: BaseException) -> str:
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
    except Exception as err:  # network, disk or hub errors: all mean "no weights"
        raise ModelError(f"could not download {name} weights ({first_line(err)}): {_REMEDIES}") from None
    if not path:
        raise ModelError(f"could not download {name} weights: {_REMEDIES}")
    return path, cfg


def resolve_weights(
    name: str,
    weights: str | os.PathLike | None,
    bundled: Path | None,
    cache_dir: str | os.PathLike | None,
    offline: bool | None,
    notes: list[str],
) -> tuple[Path, bool]:
    """The weights file, in order: ``weights``, the environment variable, the bundled model, the cache."""
    if weights is None and os.environ.get(WEIGHTS_ENV):
        weights = os.environ[WEIGHTS_ENV]
        notes.append(f"weights from {WEIGHTS_ENV}={weights}")
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ModelError(f"weights file not found: {path}")
        return path, False
    if bundled is not None:
        return bundled, False
    found, cfg = _default_weights(name, cache_dir, offline)
    return Path(found), bool(cfg.get("quick_gelu", False))
