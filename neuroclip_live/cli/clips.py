"""``neuroclip-live clips``: labelled time ranges of a recording cut into examples in the N-MNIST layout.

``ROOT/<split>/<label>/<n>.aedat4`` on the recording's sensor, which ``train``
and ``evaluate`` read; ``ROOT/classes.txt`` keeps each label's own spelling.
"""

from __future__ import annotations

import argparse
import sys

from neuroclip_live.cli.arguments import positive_int, timestep
from neuroclip_live.errors import DataError


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "clips",
        prog="neuroclip-live clips",
        help="cut labelled ranges of a recording into training examples",
        description="Cut labelled time ranges of a recording into few-shot examples in the N-MNIST layout "
        "(ROOT/<split>/<label>/<n>.aedat4), one example per window of T timesteps.",
    )
    p.add_argument("--file", required=True, metavar="REC", help="the recording to cut")
    p.add_argument(
        "--segments",
        required=True,
        metavar="CSV",
        help="a CSV with the header label,start_s,end_s (seconds from the recording's start)",
    )
    p.add_argument("--out", required=True, metavar="ROOT", help="data set folder; examples already there are kept")
    p.add_argument("--split", default="Train", help="the split folder written (default Train)")
    p.add_argument("--timestep", type=timestep, default="30ms", help="the cut rule: '30ms' or '2000ev' (default 30ms)")
    p.add_argument("-T", type=positive_int, default=10, help="timesteps an example (default 10)")
    p.add_argument(
        "--stride",
        type=timestep,
        metavar="TIME",
        help="start an example every TIME (e.g. 50ms) for overlapping examples (default: one after the other)",
    )
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    from neuroclip_live.offline.clips import cut_recording, read_segments
    from neuroclip_live.offline.examples import ExamplesOrigin
    from neuroclip_live.runtime.outputs import prepare_output_dir

    if args.stride is not None and args.stride.mode != "time":
        raise DataError(f"--stride is a time such as 50ms, got {args.stride.size} events")
    segments, problems = read_segments(args.segments)
    root = prepare_output_dir(args.out, "--out")
    result = cut_recording(args.file, segments, args.timestep, args.T, args.stride.size if args.stride else None)
    for line in problems + result.problems:
        print(line, file=sys.stderr)
    counts = result.examples.counts()
    if not counts:
        raise DataError(f"no examples cut from {args.file}: every row of {args.segments} was left out")
    cut = "time" if args.timestep.mode == "time" else "count"
    result.examples.save(root, args.split, ExamplesOrigin(args.T, cut, "clips"))
    rows = len(result.windows_per_row)
    print(
        f"{len(result.examples)} examples of {len(counts)} classes from {rows} of {len(segments) + len(problems)} "
        f"rows written to {root / args.split}: " + ", ".join(f"{name} {n}" for name, n in counts.items())
    )
    print(
        f"each is {args.T} timesteps of {_rule_text(args.timestep)}; train on them with: neuroclip-live train "
        f"--data {root} --split {args.split} --shots K --out ADAPTER.safetensors (it takes T, the cut and the "
        "teaching recipe from the examples)"
    )
    return 0


def _rule_text(rule) -> str:
    return f"{rule.size / 1000:g} ms" if rule.mode == "time" else f"{rule.size} events"
