"""``neuroclip-live train``: a few-shot inter-timestep adapter from K shots a class."""

from __future__ import annotations

import argparse
import time
from typing import Any

from neuroclip_live.cli.arguments import model_settings, positive_int
from neuroclip_live.cli.fewshot_args import (
    add_data_arguments,
    add_training_arguments,
    feature_source,
    fewshot_settings,
    resolve_data_defaults,
)
from neuroclip_live.errors import NeuroclipError
from neuroclip_live.offline.transfer_defaults import IMAGE_MARGIN
from neuroclip_live.wording import counted


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        prog="neuroclip-live train",
        description="Train the few-shot inter-timestep adapter.",
        help="train a few-shot adapter",
    )
    add_data_arguments(p, few_shot_inputs=False)
    p.add_argument("--split", default="Train", help="the training split folder (default Train)")
    p.add_argument("--shots", type=positive_int, default=16, help="training samples a class (default 16)")
    p.add_argument("--out", required=True, metavar="PATH", help="adapter file to write (.safetensors)")
    add_training_arguments(p)
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    from neuroclip_live.model.adapter import save_adapter
    from neuroclip_live.offline.datasets import load_split
    from neuroclip_live.offline.fewshot import load_text_model, train_on_split
    from neuroclip_live.runtime.outputs import check_output_file

    check_output_file(args.out, "--out")  # before the training, not after it
    resolve_data_defaults(args, training=True)
    settings = fewshot_settings(args)
    data = load_split(args.data, args.split)
    tm = load_text_model(model_settings(args), data.folders, data.classes, args.labels)
    t0 = time.perf_counter()
    trained = train_on_split(data, tm, settings, args.shots, args.val_per_class, feature_source(args, tm.backbone))
    try:
        save_adapter(args.out, trained.adapter, trained.info)
    except OSError as err:
        raise NeuroclipError(f"cannot write {args.out}: {err.strerror or err}") from None
    _print_summary(args, trained, time.perf_counter() - t0)
    return 0


def _print_summary(args: argparse.Namespace, trained: Any, seconds: float) -> None:
    fit = trained.fit
    jitter = ", scale and placement jitter" if args.jitter else ""
    jitter += ", frames centred on their events" if args.centre else ""
    print(
        f"trained on {counted(len(trained.shots), 'sample')} ({args.shots} a class, "
        f"{counted(args.views, 'augmented view')} each{jitter}) for {counted(args.epochs, 'epoch')} "
        f"in {seconds:.1f} s; final loss {fit.history[-1]:.3f}"
    )
    if fit.transfer:
        t = fit.transfer
        tried = "; ".join(
            f"{w}: {v['top1'] * 100:.1f}%, {v['nll']:.3f}" for w, v in t["image_weight_validation"].items()
        )
        how = (
            f"chosen on {t['validation_samples']} validation samples (top-1, cross-entropy by weight: {tried})"
            if len(t["image_weight_validation"]) > 1
            else "given by --image-weight"
        )
        print(
            f"with {counted(t['images'], 'labelled image')} ({t['encoding']} encoding): "
            f"image weight {t['image_weight']:g} "
            f"{how}; λ feature {t['lambda_feature']}, λ TCKA {t['lambda_tcka']}"
        )
        if t["image_weight"] == 0:
            print(
                f"the images did not help on the validation samples (a weight must get {IMAGE_MARGIN} more of them "
                "right than the shots alone, with a lower cross-entropy): the adapter is trained on the shots "
                "alone"
            )
    if fit.val_scores:
        print(
            f"alpha '{fit.alpha_name}' chosen on {counted(len(trained.val), 'validation sample')}: "
            + ", ".join(f"{k} {v * 100:.1f}%" for k, v in fit.val_scores.items())
        )
    for path, why in fit.unreadable:
        print(f"unreadable, left out: {path} ({why})")
    for note in trained.notes:
        print(f"note: {note}")
    print(f"wrote {args.out}")
