"""Torch thread counts on a shared machine: one thread against one per core, quiet and with the CPU loaded.

What ``neuroclip_live.model.threads`` chooses rests on these figures:

- tiny-digits ``encode_image`` per frame (batch 1, 346 x 260 frames, its bundled weights);
- one epoch of adapter training on 16 shots x 10 classes x 8 views (1,280 samples of T = 10
  features, 128-d as tiny-digits gives), extrapolated from a few batches of the real
  ``offline.training`` loop, so that the slow setting does not take minutes;
- RN50 ``encode_image`` per frame (random weights), the large encoder that keeps one thread a core.

"Loaded" runs beside one busy process per core (a plain Python loop), as a laptop with other
work running or this shared machine is; "quiet" adds no load of ours (the machine may have its
own). One-thread and N-thread runs alternate in one run, so that other load hits both alike.
Each OpenMP wait policy runs in its own child process, since libgomp reads it when torch is
imported: "spin" is libgomp's default (threads spin a while before sleeping), "passive" is
``OMP_WAIT_POLICY=PASSIVE``, which ``neuroclip_live`` sets unless the user set it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

from neuroclip_live.model.adapter import InterTimestepAdapter
from neuroclip_live.model.classifier import window_logits
from neuroclip_live.model.clip_model import create_clip, load_clip
from neuroclip_live.model.threads import cpu_cores, torch_threads

SAMPLES, T, DIM, BATCH = 16 * 10 * 8, 10, 128, 32


@contextmanager
def cpu_load(processes: int) -> Iterator[None]:
    """``processes`` busy Python loops for the duration of the block (ended by their own ids)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    time.sleep(0.5)  # let them get going
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up at this thread count
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return float(np.median(runs)) * 1e3


def _encoder(name: str) -> Callable[[], object]:
    backbone = load_clip(name, device="cpu") if name == "tiny-digits" else create_clip(name, device="cpu")
    frame = np.random.default_rng(0).choice(np.array([0, 127, 255], dtype=np.uint8), size=(1, 260, 346))
    x = backbone.preprocess(frame)

    def encode() -> object:
        with torch.no_grad():
            return backbone.model.encode_image(x)

    return encode


def _adapter_batches(batches: int) -> Callable[[], object]:
    """``batches`` steps of the training loop of ``offline.training`` (forward, loss, backward, SGD)."""
    gen = torch.Generator().manual_seed(0)
    feats = torch.nn.functional.normalize(torch.randn(SAMPLES, T, DIM, generator=gen), dim=-1)
    labels = torch.randint(0, 10, (SAMPLES,), generator=gen)
    text = torch.nn.functional.normalize(torch.randn(10, DIM, generator=gen), dim=-1)
    alpha = torch.full((T,), 1.0 / T)
    adapter = InterTimestepAdapter(DIM).train()
    opt = torch.optim.SGD(adapter.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.2)

    def run() -> object:
        for i in range(batches):
            idx = torch.arange(i * BATCH, (i + 1) * BATCH) % SAMPLES
            adapted = adapter.forward_sequence(feats[idx].transpose(0, 1)).transpose(0, 1)
            loss = loss_fn(window_logits(adapted, text, alpha, 30.0), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return loss

    return run


def _side_by_side(tag: str, fn: Callable[[], object], scale: float, repeats: int, cores: int) -> dict[str, float]:
    """``fn``'s median time x ``scale`` at 1 thread and at ``cores`` threads, runs alternating."""
    ones, manys = [], []
    for _ in range(repeats):
        with torch_threads(1):
            ones.append(_median_ms(fn, 1))
        with torch_threads(cores):
            manys.append(_median_ms(fn, 1))
    one, many = float(np.median(ones)) * scale, float(np.median(manys)) * scale
    return {f"{tag}_1t": one, f"{tag}_{cores}t": many, f"{tag}_{cores}t_over_1t": many / one}


def measure(quick: bool = False) -> dict[str, float]:
    """All figures under this process's wait policy."""
    torch.manual_seed(0)
    cores = cpu_cores()
    reps = 3 if quick else 5
    few = 3  # batches timed of the 40 in an epoch
    work = {
        "tiny_encode_ms": (_encoder("tiny-digits"), 1.0),
        "adapter_epoch_s": (_adapter_batches(few), SAMPLES / BATCH / few / 1e3),
        "rn50_encode_ms": (_encoder("RN50"), 1.0),
    }
    out: dict[str, float] = {}
    for state in ("quiet", "loaded"):
        with cpu_load(cores if state == "loaded" else 0):
            for tag, (fn, scale) in work.items():
                out.update(_side_by_side(f"{state}_{tag}", fn, scale, reps, cores))
    return out


def collect(quick: bool = False) -> dict[str, float]:
    out: dict[str, float] = {"threads_cores": float(cpu_cores())}
    for policy in ("spin", "passive"):
        env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
        env["OMP_WAIT_POLICY"] = "PASSIVE" if policy == "passive" else "libgomp-default"
        args = [sys.executable, "-m", "benchmarks.bench_threads", "--child"] + (["--quick"] if quick else [])
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        proc = subprocess.run(args, env=env, cwd=root, capture_output=True, text=True, check=True)
        figures = json.loads(proc.stdout.strip().splitlines()[-1])
        out.update({f"threads_{policy}_{k}": v for k, v in figures.items()})
    return out


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(measure(quick="--quick" in sys.argv)))
    else:
        for key, value in collect().items():
            print(f"{key:<50} {value:10.3f}")
