"""The GPU benchmark (issue 25): one run, under 5 minutes, one JSON file naming the device.

    python benchmarks/gpu.py                        # on CUDA when torch sees a GPU
    python benchmarks/gpu.py --tag before           # benchmarks/results/gpu-<gpu>-before.json
    python benchmarks/gpu.py --variants compile,cuda_graph --only step variants
    python benchmarks/gpu.py --device cpu --quick   # what tests/test_gpu_benchmark.py runs

It writes ``benchmarks/results/gpu-<the GPU's name>.json`` (``cpu-<the CPU's model>.json`` with
``--device cpu``; ``-quick`` and ``-<tag>`` added to the name when given), section by section:

- ``encoders``: RN50 and ViT-B-32 (random weights), the bare image encoder at batch 1, 32 and 256;
- ``step``: the classifier's whole step (preprocess of uint8 frames on the device, encode, adapter, window)
  at batch 1 and when behind (8 and 32): ms a timestep and timesteps/s;
- ``text``: the text re-encode for 10 labels (one template, the default set);
- ``replay_speed0`` / ``replay_speed1``: ``recordings/sample.aedat4`` with RN50 through the real Pipeline:
  timesteps/s at ``--speed 0``, p50/p95 latency at ``--speed 1``;
- ``ray``: one Ray actor's encodes/s for RN50 (``offline.cluster``'s actor), skipped where Ray is absent;
- ``variants`` (with ``--variants``): torch.compile and CUDA-graph versions of the image encoder beside the
  app's own, alternating in one loop (see ``gpu_variants``: untested on a GPU when written).

Peak memory: ``torch.cuda.max_memory_allocated`` on a GPU, the process's peak RSS on a CPU (the JSON says
which). Each section has a time budget (a share of ``--budget``) and stops its repeats when it is spent;
a section that fails is recorded with its error and the next one runs; a watchdog writes what there is
and ends the run 10 s past the budget. With ``--quick --device cpu`` a small model (tiny-digits) stands
in for RN50 and ViT-B-32 so that the test stays fast; the JSON's ``models`` says which model measured
what. Exit status: 0 when no section failed, 1 when one failed or the watchdog fired, 2 for bad options.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # the 5 minutes count from here, torch's import included

import argparse
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# After the path (this checkout's packages win); torch and the sections load once the options are checked.
from benchmarks.gpu_names import SECTIONS, VARIANTS

if TYPE_CHECKING:
    from benchmarks.gpu_model import Bench
    from benchmarks.gpu_report import Report

RESULTS = Path(__file__).resolve().parent / "results"
# A section's share of the time left is its weight over the weights of the sections still to run.
WEIGHTS = {"encoders": 3, "step": 4, "text": 1, "replay_speed0": 2, "replay_speed1": 2, "ray": 4, "variants": 6}
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
BACKENDS = ("auto", "torch", "openvino")
WATCHDOG_GRACE_S = 10.0


def _variant_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in VARIANTS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown variant {bad[0]!r}: use {', '.join(VARIANTS)}")
    return names


def _seconds(text: str) -> float:
    value = float(text)
    if not 10 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"--budget {text}: give 10 to 3600 seconds")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")  # one line, as the app's command line says it


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = _Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cuda", "cpu"), help="default: cuda when torch sees a GPU, else cpu")
    p.add_argument(
        "--quick", action="store_true", help="fewer repeats, shorter replays (with --device cpu: small model)"
    )
    p.add_argument("--out", type=Path, default=RESULTS, help=f"folder for the JSON file (default {RESULTS})")
    p.add_argument("--tag", default="", help="added to the file name: gpu-<device>-<tag>.json (before, after...)")
    p.add_argument(
        "--backend", choices=BACKENDS, default="auto", help="image encoder backend (default auto, the app's)"
    )
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help="default auto: fp16 on CUDA")
    p.add_argument("--variants", type=_variant_list, default=[], help=f"comma list of {', '.join(VARIANTS)}")
    p.add_argument("--compile-backend", default="inductor", help="torch.compile's backend for the compile variants")
    p.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections (the others are 'skipped')")
    p.add_argument("--skip", nargs="+", choices=SECTIONS, default=[], help="leave these sections out")
    p.add_argument("--budget", type=_seconds, default=280.0, help="seconds for the whole run (default 280)")
    args = p.parse_args(argv)
    if args.tag and not args.tag.replace("-", "").replace("_", "").isalnum():
        p.error(f"--tag {args.tag!r}: use letters, digits, - and _")
    import torch

    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    elif args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: this torch sees no CUDA GPU (use --device cpu)")
    if args.backend == "openvino" and args.device == "cuda":
        p.error("--backend openvino runs on the CPU: use --device cpu, or --backend torch on the GPU")
    return args


def _sections(args: argparse.Namespace, bench: Bench) -> dict[str, tuple]:
    """Section name -> (function(figures, budget), or None with why it does not run)."""
    from benchmarks import gpu_model, gpu_replay, gpu_variants

    variants = partial(gpu_variants.variants_section, bench, names=args.variants, compile_backend=args.compile_backend)
    table = {
        "encoders": partial(gpu_model.encoders_section, bench),
        "step": partial(gpu_model.step_section, bench),
        "text": partial(gpu_model.text_section, bench),
        "replay_speed0": partial(gpu_replay.replay_speed0_section, bench),
        "replay_speed1": partial(gpu_replay.replay_speed1_section, bench),
        "ray": partial(gpu_replay.ray_section, bench),
        "variants": variants if args.variants else None,
    }
    out = {}
    for name in SECTIONS:  # the order they run in
        fn = table[name]
        if args.only and name not in args.only:
            out[name] = (None, f"not asked for (--only {' '.join(args.only)})")
        elif name in args.skip:
            out[name] = (None, "left out (--skip)")
        elif fn is None:
            out[name] = (None, "no --variants given")
        else:
            out[name] = (fn, "")
    return out


def _file_name(info: dict, args: argparse.Namespace) -> str:
    return info["slug"] + ("-quick" if args.quick else "") + (f"-{args.tag}" if args.tag else "") + ".json"


def run(args: argparse.Namespace, started: float) -> Report:
    import torch

    from benchmarks import gpu_model
    from benchmarks.gpu_report import Report, describe_device

    device = torch.device(args.device)
    info = describe_device(device)
    stand_in = args.quick and device.type == "cpu"
    models = {role: gpu_model.STAND_IN if stand_in else name for role, name in gpu_model.ROLES.items()}
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    report = Report(args.out / _file_name(info, args), device, options, info)
    report.doc["models"] = models
    if stand_in:
        report.doc["notes"].append(f"--quick on a CPU: {gpu_model.STAND_IN} stands in for RN50 and ViT-B-32")
    report.start_watchdog(max(1.0, args.budget + WATCHDOG_GRACE_S - (time.perf_counter() - started)))
    with tempfile.TemporaryDirectory(prefix="neuroclip-gpu-bench-") as cache_dir:  # OpenVINO's converted models
        precision = None if args.precision == "auto" else args.precision
        bench = gpu_model.Bench(device, models, args.backend, precision, args.quick, cache_dir)
        sections = list(_sections(args, bench).items())
        for i, (name, (fn, why)) in enumerate(sections):
            if fn is None:
                report.skip(name, why)
                continue
            weights = sum(WEIGHTS[n] for n, (f, _) in sections[i:] if f is not None)  # this one's and those after
            left = args.budget - (time.perf_counter() - started)
            report.run(name, max(1.0, left * WEIGHTS[name] / weights), fn)
            if models["rn50"] in bench.backbones:
                bb = bench.backbones[models["rn50"]]
                report.set_engine(bb.engine, bb.image_encoder.backend, bb.image_encoder.precision)
    report.write()
    return report


def summary(report: Report) -> str:
    lines = [f"{report.doc['device']['name']} · {report.doc['engine']} · {report.path}"]
    for name, entry in report.doc["sections"].items():
        what = entry.get("error") or entry.get("note") or ""
        lines.append(f"  {name:<14} {entry['status']:<11} {entry['seconds']:7.1f} s  {what[:90]}")
    mem = report.doc["memory"]
    lines.append(f"  peak memory {mem['peak_mb']:.0f} MB ({mem['measure']}); wall {report.doc['wall_s']:.0f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args, STARTED)
    print(summary(report))
    return 1 if any(e["status"] in ("failed", "timed_out") for e in report.doc["sections"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
