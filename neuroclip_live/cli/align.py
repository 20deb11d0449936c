"""``neuroclip-live align``: a label-free adapter from a recording's paired frames and events (R2ETL).

The adapter learns, without labels or a class list, to bring each event
frame's CLIP feature to that of the APS frame nearest in time; it then serves
any labels typed live (``--adapter``). The command trains on the first 70% of
the timesteps and reports, on the last 30%, how often the event view's
zero-shot top-1 equals the frame view's, before and after, and their cosine.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from neuroclip_live import defaults
from neuroclip_live.cli.arguments import (
    add_model_arguments,
    model_settings,
    positive_int,
    say_backend_note,
    timestep,
)
from neuroclip_live.errors import NeuroclipError
from neuroclip_live.wording import counted


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "align",
        prog="neuroclip-live align",
        help="align the adapter on a recording's frames, no labels",
        description="Align the adapter on a DAVIS recording's frames and events, without labels.",
    )
    p.add_argument("--file", required=True, metavar="REC", help="a recording with frames and events (.aedat4)")
    p.add_argument("--out", required=True, metavar="PATH", help="adapter file to write (.safetensors)")
    p.add_argument(
        "--timestep", type=timestep, default=defaults.TIMESTEP, help=f"'30ms' or '2000ev' (default {defaults.TIMESTEP})"
    )
    p.add_argument(
        "-T", type=positive_int, default=defaults.T, help=f"timesteps a training window (default {defaults.T})"
    )
    p.add_argument("--epochs", type=positive_int, default=200, help="passes over the windows (default 200)")
    p.add_argument("--lambda-tcka", type=float, default=1.0, metavar="λ", help="weight of the TCKA loss (default 1)")
    p.add_argument(
        "--train-share",
        type=float,
        default=0.7,
        help="first share of the timesteps trained on; the rest measures agreement (default 0.7)",
    )
    p.add_argument("--labels", help="labels for the agreement figure (default: the model's own, if any)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the adapter's initial weights, dropout and batch order (default 0)"
    )
    p.add_argument(
        "--write-anyway",
        action="store_true",
        help="write the adapter even when it did not bring the "
        "event view closer to the frames on the held-out timesteps (by default it is then not written "
        "and the exit status is 1)",
    )
    add_model_arguments(p, few_shot_inputs=False)
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    from neuroclip_live.model.clip_model import load_for
    from neuroclip_live.model.label_presets import default_labels
    from neuroclip_live.model.prompts import (
        parse_labels,
        resolve_templates,
        text_features,
    )
    from neuroclip_live.offline.align import (
        AlignConfig,
        align_recording,
        pair_recording,
    )
    from neuroclip_live.offline.training import TrainConfig
    from neuroclip_live.runtime.outputs import check_output_file

    if not 0 <= args.lambda_tcka <= 100:
        raise NeuroclipError(f"--lambda-tcka must be between 0 and 100, got {args.lambda_tcka}")
    check_output_file(args.out, "--out")  # before the training, not after it
    paired = pair_recording(args.file, args.timestep)  # a file without frames fails here, before the model loads
    ms = model_settings(args)
    bb = load_for(ms)
    say_backend_note(bb)
    labels = parse_labels(args.labels) if args.labels else default_labels(args.model)
    templates = resolve_templates(ms.templates)
    text = text_features(bb, labels, templates, ensemble=ms.ensemble) if labels else None
    cfg = AlignConfig(
        T=args.T, lambda_tcka=args.lambda_tcka, train=TrainConfig(epochs=args.epochs, lr=0.05, seed=args.seed)
    )
    out = align_recording(bb, paired, cfg, args.train_share, text)
    return _report_and_write(args, bb, paired.name, out, len(labels))


def _report_and_write(args: argparse.Namespace, bb: Any, name: str, out: Any, n_labels: int) -> int:
    """Print the before/after figures and the verdict; write the adapter when it helped (or when told to)."""
    from neuroclip_live.model.adapter import AdapterInfo, save_adapter
    from neuroclip_live.model.classifier import uniform_alpha
    from neuroclip_live.offline.align import judge_alignment

    held = out.timesteps - out.trained_on
    where = f"the last {counted(held, 'timestep')} (held out)" if held else "the training timesteps (none held out)"
    print(
        f"{name}: {counted(out.timesteps, 'timestep')} of {args.timestep} paired with {counted(out.frames, 'frame')}; "
        f"aligned on the first {out.trained_on}; final loss {out.history['total'][-1]:.3f}"
    )
    print(f"on {where}: cosine event/frame {out.before.cosine:.3f} -> {out.after.cosine:.3f}")
    if out.before.agreement is not None and out.after.agreement is not None:
        print(
            f"top-1 agreement event view / frame view over {counted(n_labels, 'label')}: "
            f"{out.before.agreement * 100:.1f}% -> {out.after.agreement * 100:.1f}%"
        )
    verdict = judge_alignment(out.before, out.after, held > 0)
    print(verdict.line)
    if not verdict.helped and not args.write_anyway:
        print(
            f"neuroclip-live: {args.out} not written, as the alignment did not help (--write-anyway writes it)",
            file=sys.stderr,
        )
        return 1
    info = AdapterInfo(
        backbone=bb.name,
        embed_dim=bb.embed_dim,
        T=args.T,
        timestep=str(args.timestep),
        alpha=[float(a) for a in uniform_alpha(args.T)],
        transfer={
            "mode": "align",
            "recording": name,
            "timesteps": out.trained_on,
            "frames": out.frames,
            "lambda_tcka": args.lambda_tcka,
            "epochs": args.epochs,
            "helped": verdict.helped,
        },
    )
    try:
        save_adapter(args.out, out.adapter, info)
    except OSError as err:
        raise NeuroclipError(f"cannot write {args.out}: {err.strerror or err}") from None
    print(f"wrote {args.out}")
    return 0
