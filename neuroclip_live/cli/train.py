"""``neuroclip-live train``: a few-shot inter-timestep adapter from K shots a class."""

from __future__ import annotations

import argparse
import time

from neuroclip_live.cli.arguments import model_settings, positive_int
from neuroclip_live.cli.fewshot_args import (
    add_data_arguments,
    add_training_arguments,
    feature_source,
    fewshot_settings,
)
from neuroclip_live.errors import NeuroclipError
from neuroclip_live.wording import counted


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train", prog="neuroclip-live train", description="Train the few-shot inter-timestep adapter.",
        help="train a few-shot adapter",
    )  # fmt: skip
    add_data_arguments(p, few_shot_inputs=False)
    p.add_argument("--split", default="Train", help="the training split folder (default Train)")
    p.add_argument("--shots", type=positive_int, default=16, help="training samples a class (default 16)")
    p.add_argument("--out", required=True, metavar="PATH", help="adapter file to write (.safetensors)")
    add_training_arguments(p)
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    from neuroclip_live.model.adapter import AdapterInfo, save_adapter
    from neuroclip_live.offline.datasets import load_split, pick_shots
    from neuroclip_live.offline.fewshot import (
        load_text_model,
        split_validation,
        train_fewshot,
    )
    from neuroclip_live.runtime.outputs import check_output_file

    check_output_file(args.out, "--out")  # before the training, not after it
    settings = fewshot_settings(args)
    data = load_split(args.data, args.split)
    shots, rest = pick_shots(data, args.shots, args.seed)
    val, _ = split_validation(rest, len(data.folders), args.val_per_class, args.seed)
    tm = load_text_model(model_settings(args), data.folders, data.classes, args.labels)
    t0 = time.perf_counter()
    fit = train_fewshot(tm, shots, val, settings, feature_source(args, tm.backbone), data.folders)
    bb = tm.backbone
    info = AdapterInfo(
        backbone=bb.name, embed_dim=bb.embed_dim, classes=tm.classes, templates=list(tm.templates),
        T=args.T, timestep=f"sample:{args.cut}", alpha=[float(a) for a in fit.alpha], transfer=fit.transfer,
    )  # fmt: skip
    try:
        save_adapter(args.out, fit.adapter, info)
    except OSError as err:
        raise NeuroclipError(f"cannot write {args.out}: {err.strerror or err}") from None
    print(
        f"trained on {counted(len(shots), 'sample')} ({args.shots} a class, "
        f"{counted(args.views, 'augmented view')} each) for {counted(args.epochs, 'epoch')} "
        f"in {time.perf_counter() - t0:.1f} s; final loss {fit.history[-1]:.3f}"
    )
    if fit.transfer:
        t = fit.transfer
        print(f"with {counted(t['images'], 'labelled image')} ({t['encoding']} encoding): "
              f"λ feature {t['lambda_feature']}, λ TCKA {t['lambda_tcka']}")
    if fit.val_scores:
        print(
            f"alpha '{fit.alpha_name}' chosen on {counted(len(val), 'validation sample')}: "
            + ", ".join(f"{k} {v * 100:.1f}%" for k, v in fit.val_scores.items())
        )
    for path, why in fit.unreadable:
        print(f"unreadable, left out: {path} ({why})")
    print(f"wrote {args.out}")
    return 0
