"""Feature extraction on a Ray cluster: a Ray Data pipeline that fills the feature cache.

    shard plans (file lists, split into blocks by Ray)
      -> framing into T frames (CPU tasks, retried)
      -> encoding in batches (an actor pool; each actor loads the model once, a GPU each
         when the cluster has GPUs) -> shard files in the cache folder

The driver plans the shards (views, augmentation draws and names: see
``feature_cache``), reads no sample and sees only one small result a shard;
frames stay on the workers and features go straight to the cache, which must be
a folder every node and the driver can reach (local disk for a local Ray, a
shared file system for a cluster). The nodes need neuroclip-live[cluster]
installed, as the driver has it. Ray is optional: this module imports without
it, and using it without Ray says how to install it in one line.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuroclip_live.errors import ClusterError, NeuroclipError
from neuroclip_live.model.clip_model import ClipBackbone
from neuroclip_live.offline.extraction import ViewJob, frame_views
from neuroclip_live.offline.feature_cache import (
    EncodingKey,
    FeatureCache,
    ShardResult,
    encode_into_cache,
    serialized_weights,
)

log = logging.getLogger(__name__)

RAY_MISSING = "--ray needs Ray: pip install 'neuroclip-live[cluster]'"
TASK_RETRIES = 2  # a framing task that raises is tried again, twice at most


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def import_ray():
    """The ``ray`` module with Ray Data, or a ClusterError saying how to install it."""
    try:
        import ray
        import ray.data  # the extra brings it; plain ray does not
    except ImportError:
        raise ClusterError(RAY_MISSING) from None
    return ray


@dataclass(frozen=True)
class ClusterInfo:
    address: str  # "local" for a Ray started here
    cpus: float
    gpus: float


def connect(address: str | None = None, num_cpus: int | None = None, object_store_mb: int = 512) -> ClusterInfo:
    """Join the Ray at ``address`` ('auto', 'ray://host:10001'), or start a local one; reuses one already up."""
    ray = import_ray()
    if not ray.is_initialized():
        # Ray's core worker logs an error line for every actor pool ("constructor arguments in the
        # object store and max_restarts > 0"): Ray Data always puts them there. Real failures still
        # reach the driver as exceptions.
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
        try:
            if address is None:
                ray.init(
                    num_cpus=num_cpus or os.cpu_count() or 1,
                    object_store_memory=object_store_mb << 20,
                    include_dashboard=False,
                    **quiet,
                )
            else:
                ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as err:
            where = "start a local Ray" if address is None else f"join the Ray cluster at {address}"
            raise ClusterError(f"cannot {where}: {_first_line(err)}") from None
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the driver shows its own: samples/s, shards, ETA
    ctx.print_on_execution_start = False
    # A framing task that raises is tried again (sample read errors are handled inside it);
    # Ray's defaults already retry tasks and restart actors lost with their worker.
    ctx.retried_map_errors = True
    ctx.max_map_retries = TASK_RETRIES
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled": we know
    res = ray.cluster_resources()
    return ClusterInfo(address or "local", float(res.get("CPU", 0)), float(res.get("GPU", 0)))


def frame_shard(row: dict, T: int, cut: str) -> dict:
    """Ray task: one planned shard -> its frames (flat bytes and shapes), row ids and unreadable samples."""
    jobs = [ViewJob.from_dict(d) for d in json.loads(row["jobs"])]
    frames, done, failed = frame_views(jobs, T, cut)
    return {
        "shard": row["shard"],
        "frames": b"".join(f.tobytes() for f in frames),
        "shapes": json.dumps([list(f.shape) for f in frames]),
        "ids": json.dumps([j.row_id for j in done]),
        "failed": json.dumps(failed),
    }


def _register_config(name: str, config: dict | None) -> None:
    """Make a model config the driver registered (a test config, say) known to open_clip in this worker."""
    import open_clip

    if config is None or name in open_clip.list_models():
        return
    folder = Path(tempfile.mkdtemp(prefix="neuroclip-config-"))
    (folder / f"{name}.json").write_text(json.dumps(config), encoding="utf-8")
    open_clip.add_model_config(folder)


class ShardEncoder:
    """Ray actor: holds the model once and turns framed shards into cache shards."""

    def __init__(
        self,
        key: EncodingKey,
        cache_root: str,
        weights_ref: list,
        config: dict | None,
        device: str,
        threads: int,
        batch_size: int,
    ) -> None:
        import ray
        import torch
        from safetensors.torch import load

        from neuroclip_live.model.clip_model import create_clip

        _register_config(key.model, config)
        self.backbone = create_clip(key.model, device, key.precision if key.backend == "torch" else "fp32", threads)
        self.backbone.model.load_state_dict(load(ray.get(weights_ref[0])), strict=True)
        torch.set_num_threads(threads)
        if key.backend != "torch":
            # After the weights: OpenVINO converts these. At the driver's precision, not this node's choice.
            self.backbone.use_backend(key.backend, key.precision)
            got = self.backbone.image_encoder.precision
            if got != key.precision:
                raise ClusterError(
                    f"a Ray node runs OpenVINO at {got}, the driver's rows are {key.precision}: use --precision fp32"
                )
        self.cache = FeatureCache(cache_root, key, index=False)
        self.batch_size = batch_size

    def __call__(self, batch: dict) -> dict:
        out: dict[str, list] = {"shard": [], "rows": [], "failed": [], "pid": []}
        for i, name in enumerate(batch["shard"]):
            flat = np.frombuffer(batch["frames"][i], dtype=np.uint8)
            frames, at = [], 0
            for shape in json.loads(batch["shapes"][i]):
                n = int(np.prod(shape))
                frames.append(flat[at : at + n].reshape(shape))
                at += n
            ids = json.loads(batch["ids"][i])
            rows = encode_into_cache(self.backbone, self.cache, name, frames, ids, self.batch_size)
            out["shard"].append(name)
            out["rows"].append(rows)
            out["failed"].append(batch["failed"][i])
            out["pid"].append(os.getpid())
        return out


class RayRunner:
    """Computes planned shards on Ray (a ``ShardRunner`` for ``CachedExtractor``)."""

    def __init__(
        self,
        backbone: ClipBackbone,
        workers: int | None = None,
        batch_size: int = 256,
        threads_per_worker: int = 1,
        weights: bytes | None = None,
    ) -> None:
        import open_clip

        self.ray = import_ray()
        self.weights = serialized_weights(backbone) if weights is None else weights
        self.config = open_clip.get_model_config(backbone.name)
        self.workers = workers
        self.batch_size = batch_size
        self.threads = threads_per_worker
        self._weights_ref: list = []

    def _encoder_resources(self, backend: str) -> tuple[int, dict]:
        res = self.ray.cluster_resources()
        gpus, cpus = float(res.get("GPU", 0)), float(res.get("CPU", 1))
        if gpus >= 1 and backend == "torch":  # OpenVINO rows are made on CPUs
            workers = self.workers or int(gpus)
            return workers, {"num_gpus": 1, "num_cpus": 1}
        workers = self.workers or max(1, int(cpus // self.threads) - 1)
        # Leave a share of the CPUs to the framing tasks, or a pool as large as the cluster starves them.
        share = min(float(self.threads), max(0.25, (cpus - 0.5) / workers))
        return workers, {"num_gpus": 0, "num_cpus": share}

    def run(self, shards: list[tuple[str, list[ViewJob]]], cache: FeatureCache) -> Generator[ShardResult, None, None]:
        ray = self.ray
        if not self._weights_ref:
            self._weights_ref = [ray.put(self.weights)]  # once a runner: every actor reads the same copy
        key = cache.key
        workers, resources = self._encoder_resources(key.backend)
        items = [{"shard": name, "jobs": json.dumps([j.as_dict() for j in jobs])} for name, jobs in shards]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ds = ds.map(frame_shard, fn_kwargs={"T": key.T, "cut": key.cut}, num_cpus=0.5)
        ds = ds.map_batches(
            ShardEncoder,
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
            fn_constructor_kwargs={
                "key": key,
                "cache_root": str(cache.root),
                "weights_ref": self._weights_ref,
                "config": self.config,
                "device": "cuda" if resources["num_gpus"] else "cpu",
                "threads": self.threads,
                "batch_size": self.batch_size,
            },
            **resources,
        )
        try:
            for row in ds.iter_rows():
                yield ShardResult(str(row["shard"]), int(row["rows"]), json.loads(row["failed"]), int(row["pid"]))
        except ray.exceptions.RayError as err:
            cause = getattr(err, "cause", None) or err
            if isinstance(cause, NeuroclipError):
                raise type(cause)(str(cause)) from None
            raise ClusterError(f"the Ray extraction failed: {_first_line(cause)}") from None
