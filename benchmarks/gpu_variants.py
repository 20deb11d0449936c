"""Hot-path variants of the image encoder, measured beside the app's own (``eager``) in one run.

- ``compile``: ``torch.compile`` of the image tower (inductor unless ``--compile-backend`` says otherwise;
  shapes turn dynamic after the second batch size, so there are two compiles, not one per size);
- ``compile_graphs``: the same with ``mode="reduce-overhead"``, inductor plus torch's own CUDA graphs;
- ``cuda_graph``: the eager image tower captured into one ``torch.cuda.CUDAGraph`` per padded batch size
  (1, 2, 4 ... 256), the capture pattern of torch's CUDA-graph notes, no compiler involved.

UNTESTED ON A GPU: no GPU was available when these were written. ``compile`` runs on the CPU too
(slowly: inductor builds C++ there); the two CUDA-graph variants need CUDA and are skipped elsewhere.
Nothing here changes the app: the variants swap ``ClipBackbone.image_encoder`` for the run and put it back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.gpu_model import (
    STEP_BATCHES,
    Bench,
    T,
    alternate,
    event_frames,
    make_classifier,
    per_item,
    sweep,
)
from benchmarks.gpu_replay import replay
from benchmarks.gpu_report import Budget, SectionSkipped, first_line
from neuroclip_live.model.image_encoders import ImageEncoder

BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class VariantEncoder:
    """An ``ImageEncoder`` whose image tower runs through ``tower`` (compiled or graphed), normalised as open_clip's."""

    backend = "torch"

    def __init__(self, base: ImageEncoder, tower: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.precision = base.precision
        self.device_name = base.device_name
        self.tower = tower

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.tower(x), dim=-1).float()  # what encode_image(x, normalize=True) does


class GraphedTower:
    """The eager tower replayed from CUDA graphs: a batch is padded up to a bucket, each bucket captured once.

    Hand-written because ``torch.cuda.make_graphed_callables`` is built for training (it graphs the
    backward too) and takes one fixed shape; the pattern is torch's "whole-network capture".
    """

    def __init__(self, tower: torch.nn.Module) -> None:
        self.tower = tower
        self.graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        size = next((b for b in BUCKETS if b >= n), n)
        if size not in self.graphs:
            self.graphs[size] = self._capture(x, size)
        graph, static_in, static_out = self.graphs[size]
        static_in[:n].copy_(x)  # rows past n keep old inputs: each row's output depends on its own row only
        graph.replay()
        return static_out[:n].clone()

    @torch.no_grad()
    def _capture(self, x: torch.Tensor, size: int) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]:
        static_in = x[:1].repeat(size, *([1] * (x.ndim - 1)))
        if x.is_contiguous(memory_format=torch.channels_last):
            static_in = static_in.contiguous(memory_format=torch.channels_last)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up off the capture: cuDNN picks its kernels, the allocator fills
            for _ in range(3):
                self.tower(static_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.tower(static_in)
        return graph, static_in, static_out


def make_variant(name: str, base: ImageEncoder, tower: torch.nn.Module, device: torch.device, backend: str) -> Any:
    """The variant's encoder; ``SectionSkipped`` where it cannot run (CUDA graphs without CUDA)."""
    if name in ("compile_graphs", "cuda_graph") and device.type != "cuda":
        raise SectionSkipped("CUDA graphs need a CUDA device")
    if name == "cuda_graph":
        return VariantEncoder(base, GraphedTower(tower))
    mode = "reduce-overhead" if name == "compile_graphs" else None
    if mode is not None and backend != "inductor":
        raise SectionSkipped(f"mode reduce-overhead is inductor's, not the {backend} backend's")
    return VariantEncoder(base, torch.compile(tower, backend=backend, mode=mode))


def variants_section(bench: Bench, figures: dict, budget: Budget, names: list[str], compile_backend: str) -> str:
    bb = bench.backbone("rn50")
    base = bb.image_encoder
    if base.backend != "torch":
        raise SectionSkipped(f"the variants wrap torch's image encoder; this run's is {bb.engine}: use --backend torch")
    encoders: dict[str, Any] = {"eager": base}
    unavailable: dict[str, str] = {}
    for name in names:
        try:
            encoders[name] = make_variant(name, base, bb.model.visual, bb.device, compile_backend)
        except SectionSkipped as why:
            unavailable[name] = str(why)
    figures.update(model=bb.name, engine=bb.engine, compile_backend=compile_backend, unavailable=unavailable)
    try:
        figures["step"] = _variant_steps(bench, encoders, unavailable, budget.part(2))
        figures["replay_speed1"] = _variant_replays(bench, encoders, unavailable, budget)
    finally:
        bb.image_encoder = base
    eager = figures["step"].get("eager", {})
    figures["speedup_vs_eager"] = {
        name: {b: eager[b]["ms_per_timestep"] / f[b]["ms_per_timestep"] for b in f if b in eager}
        for name, f in figures["step"].items()
        if name != "eager"
    }
    return (
        "the classifier's step (random adapter) per image-encoder variant, alternating in one loop; eager = the app's"
    )


def _variant_steps(bench: Bench, encoders: dict[str, Any], unavailable: dict[str, str], budget: Budget) -> dict:
    """{variant: {'b<size>': figures}}: the step with each variant's encoder, the variants alternating."""
    bb = bench.backbone("rn50")
    clf = make_classifier(bench, "rn50", adapter=True)
    frames = event_frames(max(STEP_BATCHES) + T)
    clf.step(frames[:T])

    def measure(b: int, part: Budget) -> tuple[dict, float]:
        runs = {}
        for name, enc in encoders.items():
            if name in unavailable:
                continue

            def run(enc: Any = enc, batch: Any = frames[T : T + b]) -> None:
                bb.image_encoder = enc
                clf.step(batch)

            try:
                run()  # the first call at this size compiles or captures: a failure drops only this variant
                runs[name] = run
            except Exception as err:  # a variant that fails is recorded, the others go on
                unavailable[name] = first_line(err)
        times = alternate(runs, bench.repeats({1: 40, 8: 15, 32: 6}[b]), part, bench)
        return {n: per_item(t, b, "timesteps") for n, t in times.items()}, sum(min(t) for t in times.values()) / b

    by_batch = sweep(STEP_BATCHES, measure, bench, budget)
    return {name: {b: figs[name] for b, figs in by_batch.items() if name in figs} for name in encoders}


def _variant_replays(bench: Bench, encoders: dict[str, Any], unavailable: dict[str, str], budget: Budget) -> dict:
    """The sample at speed 1 once per variant (one after the other): its p50/p95 latency."""
    bb = bench.backbone("rn50")
    out: dict[str, Any] = {}
    usable = [n for n in encoders if n not in unavailable]
    for i, name in enumerate(usable):
        part = budget.part(len(usable) - i)
        bb.image_encoder = encoders[name]
        try:
            out[name] = replay(bench, 1, part)
        except Exception as err:  # recorded per variant
            out[name] = {"error": first_line(err)}
    return out
