"""``neuroclip-live train`` and ``neuroclip-live evaluate``: few-shot adapters and accuracy.

The protocol is the honest one: shots and every tuning choice (alpha) come
from the training split; the test samples are scored once, and the output
says which samples played which part.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neuroclip_live.cli import add_model_arguments, positive_int
from neuroclip_live.offline.datasets import take_per_class
from neuroclip_live.errors import DataError, NeuroclipError

log = logging.getLogger(__name__)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, metavar="ROOT", help="data set root: ROOT/<split>/<class>/<file>")
    p.add_argument("-T", type=positive_int, default=10, help="frames a sample (default 10)")
    p.add_argument("--cut", choices=("count", "time"), default="count",
                   help="split a sample into T equal event counts (the paper's N-MNIST setting) or T equal times")
    p.add_argument("--labels", help="prompt words for the class folders, in folder order (default: folder names "
                   "or ROOT/classes.txt)")
    p.add_argument("--seed", type=int, default=0, help="seed for shots, validation and augmentation")
    p.add_argument("--val-per-class", type=int, default=5, help="validation samples a class, from the training split")
    p.add_argument("--batch-size", type=positive_int, default=256, help="frames encoded at once")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_model_arguments(p)


def build_train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neuroclip-live train", description="Train the few-shot inter-timestep adapter.")
    _add_common(p)
    p.add_argument("--split", default="Train", help="the training split folder (default Train)")
    p.add_argument("--shots", type=positive_int, default=16, help="training samples a class (default 16)")
    p.add_argument("--out", required=True, metavar="PATH", help="adapter file to write (.safetensors)")
    p.add_argument("--epochs", type=positive_int, default=40)
    p.add_argument("--views", type=positive_int, default=8, help="augmented copies of each shot (encoded once)")
    p.add_argument("--no-flip", action="store_true", help="no horizontal flips in the augmentation (digits, text)")
    return p


def build_evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neuroclip-live evaluate", description="Top-1/top-5 accuracy on a labelled split.")
    _add_common(p)
    p.add_argument("--split", default="Test", help="the split scored (default Test)")
    p.add_argument("--train-split", default="Train", help="where shots and validation come from (default Train)")
    p.add_argument("--shots", type=positive_int, help="train an adapter on K shots a class first, then score")
    p.add_argument("--epochs", type=positive_int, default=40)
    p.add_argument("--views", type=positive_int, default=8)
    p.add_argument("--no-flip", action="store_true", help="no horizontal flips in the augmentation (digits, text)")
    p.add_argument("--alpha-search", action="store_true", help="choose alpha on the validation samples")
    p.add_argument("--save-alpha", metavar="PATH", help="write the alpha used to a JSON file (for --alpha)")
    p.add_argument("--json", metavar="OUT", help="write the report as JSON ('-' for stdout)")
    p.add_argument("--limit", type=positive_int, help="score at most this many test samples a class (quick looks)")
    return p


@dataclass
class _Setup:
    backbone: object
    classes: list[str]
    templates: tuple[str, ...]
    text: object


def _setup(args: argparse.Namespace, folders: list[str], default_classes: list[str]) -> _Setup:
    from neuroclip_live.model.clip_model import load_clip
    from neuroclip_live.model.prompts import parse_labels_with_notes, resolve_templates, text_features

    classes = default_classes
    if args.labels:
        classes = parse_labels_with_notes(args.labels).labels
        if len(classes) != len(folders):
            raise DataError(f"--labels gives {len(classes)} names for {len(folders)} class folders ({', '.join(folders)})")
    backbone = load_clip(args.model, args.weights, args.device)
    templates = resolve_templates(args.templates)
    text = text_features(backbone, classes, templates, ensemble=not args.no_ensemble)
    return _Setup(backbone, classes, templates, text)


def _split_validation(rest: list, n_classes: int, per_class: int, seed: int) -> tuple[list, list]:
    """Take ``per_class`` validation samples a class from ``rest`` (seeded); returns (val, remaining)."""
    return take_per_class(rest, n_classes, per_class, np.random.default_rng(seed + 1))


def _limit(samples: list, n_classes: int, per_class: int | None) -> list:
    if per_class is None:
        return samples
    out = []
    for c in range(n_classes):
        out += [s for s in samples if s.label == c][:per_class]
    return out


def _train(args, setup: _Setup, shots: list, val: list):
    from neuroclip_live.offline.evaluation import choose_alpha, extract_features
    from neuroclip_live.offline.training import TrainConfig, train_adapter

    bb = setup.backbone
    train_fs = extract_features(bb, shots, args.T, args.cut, views=args.views, augment=True, flip=not args.no_flip,
                                seed=args.seed,
                                batch_size=args.batch_size, progress=not args.quiet, desc="encoding shots")
    uniform = np.full(args.T, 1.0 / args.T)
    cfg = TrainConfig(epochs=args.epochs, seed=args.seed)
    adapter, history = train_adapter(train_fs, setup.text, bb.logit_scale, uniform, cfg, bb.device, not args.quiet)
    alpha_name, alpha, val_scores = "uniform", uniform, {}
    if val:
        val_fs = extract_features(bb, val, args.T, args.cut, batch_size=args.batch_size, progress=not args.quiet,
                                  desc="encoding validation")
        alpha_name, alpha, val_scores = choose_alpha(val_fs, setup.text, bb.logit_scale, args.T, adapter)
    return adapter, history, alpha_name, alpha, val_scores


def run_train(args: argparse.Namespace) -> int:
    from neuroclip_live.model.adapter import AdapterInfo, save_adapter
    from neuroclip_live.offline.datasets import load_split, pick_shots

    data = load_split(args.data, args.split)
    shots, rest = pick_shots(data, args.shots, args.seed)
    val, _ = _split_validation(rest, len(data.folders), args.val_per_class, args.seed)
    setup = _setup(args, data.folders, data.classes)
    t0 = time.perf_counter()
    adapter, history, alpha_name, alpha, val_scores = _train(args, setup, shots, val)
    bb = setup.backbone
    info = AdapterInfo(
        backbone=bb.name, embed_dim=bb.embed_dim, classes=setup.classes, templates=list(setup.templates),
        T=args.T, timestep=f"sample:{args.cut}", alpha=[float(a) for a in alpha],
    )
    try:
        save_adapter(args.out, adapter, info)
    except OSError as err:
        raise NeuroclipError(f"cannot write {args.out}: {err.strerror or err}") from None
    print(f"trained on {len(shots)} samples ({args.shots} a class, {args.views} augmented views each) "
          f"for {args.epochs} epochs in {time.perf_counter() - t0:.1f} s; final loss {history[-1]:.3f}")
    if val_scores:
        print(f"alpha '{alpha_name}' chosen on {len(val)} validation samples: "
              + ", ".join(f"{k} {v * 100:.1f}%" for k, v in val_scores.items()))
    print(f"wrote {args.out}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from neuroclip_live.model.adapter import load_adapter
    from neuroclip_live.model.classifier import load_alpha
    from neuroclip_live.offline.datasets import load_split, pick_shots
    from neuroclip_live.offline.evaluation import choose_alpha, extract_features, predict, report_from_probs

    test = load_split(args.data, args.split)
    k = len(test.folders)
    same_split = args.split == args.train_split
    need_train = bool(args.shots or args.alpha_search)
    train = load_split(args.data, args.train_split) if need_train else None
    if train is not None and train.folders != test.folders:
        raise DataError(f"splits '{args.train_split}' and '{args.split}' have different class folders")
    setup = _setup(args, test.folders, test.classes)
    bb = setup.backbone
    protocol = [f"model {bb.name} ({bb.weights}); templates: {len(setup.templates)}"
                f"{' ensembled' if not args.no_ensemble and len(setup.templates) > 1 else ''}; "
                f"T={args.T} frames a sample, cut by {args.cut}"]
    excluded: set = set()
    adapter, alpha, alpha_name = None, None, "uniform"
    t0 = time.perf_counter()
    if args.adapter:
        adapter, info = load_adapter(args.adapter, bb.name, bb.embed_dim, bb.device)
        if info.alpha is not None and len(info.alpha) == args.T:
            alpha, alpha_name = np.asarray(info.alpha), "from the adapter file"
        protocol.append(f"adapter {args.adapter} (trained for {', '.join(info.classes[:5])}...)")
    if args.alpha:
        alpha, alpha_name = load_alpha(args.alpha, args.T), f"from {args.alpha}"
    if train is not None:
        shots: list = []
        rest = train.samples
        if args.shots:
            shots, rest = pick_shots(train, args.shots, args.seed)
        val, _ = _split_validation(rest, k, args.val_per_class, args.seed)
        excluded = {s.path for s in shots} | {s.path for s in val}
        if args.shots:
            adapter, _, alpha_name, alpha, _ = _train(args, setup, shots, val)
            protocol.append(f"adapter trained here on {len(shots)} shots ({args.shots} a class, seed {args.seed}) "
                            f"from split '{args.train_split}', {args.epochs} epochs, {args.views} augmented views"
                            f"{' (no flips)' if args.no_flip else ''}")
        if args.alpha_search and not args.shots:
            val_fs = extract_features(bb, val, args.T, args.cut, batch_size=args.batch_size,
                                      progress=not args.quiet, desc="encoding validation")
            alpha_name, alpha, _ = choose_alpha(val_fs, setup.text, bb.logit_scale, args.T, adapter)
        protocol.append(f"alpha '{alpha_name}' chosen on {len(val)} validation samples from split "
                        f"'{args.train_split}' (never scored)")
    else:
        protocol.append(f"alpha {alpha_name} (no tuning)")
    samples = [s for s in test.samples if s.path not in excluded] if same_split else test.samples
    samples = _limit(samples, k, args.limit)
    if not samples:
        raise DataError("no test samples left after taking shots and validation from the same split")
    test_fs = extract_features(bb, samples, args.T, args.cut, batch_size=args.batch_size,
                               progress=not args.quiet, desc="encoding test")
    probs = predict(test_fs, setup.text, bb.logit_scale, alpha, adapter)
    what = f"split '{args.split}'" + (" minus shots and validation" if same_split and excluded else "")
    protocol.append(f"test: {what}, {len(samples)} samples, scored once")
    report = report_from_probs(probs, test_fs.labels, setup.classes, protocol)
    report.extra = {"seconds": round(time.perf_counter() - t0, 2), "alpha": [float(a) for a in (
        alpha if alpha is not None else np.full(args.T, 1.0 / args.T))], "shots": args.shots or 0}
    print(report.table())
    print(f"\n{report.n} samples in {report.extra['seconds']:.1f} s")
    if args.save_alpha:
        with open(args.save_alpha, "w", encoding="utf-8") as fh:
            json.dump({"alpha": report.extra["alpha"], "chosen": alpha_name}, fh)
    if args.json:
        text = json.dumps(report.as_dict(), indent=1)
        if args.json == "-":
            print(text)
        else:
            try:
                with open(args.json, "w", encoding="utf-8") as fh:
                    fh.write(text + "\n")
            except OSError as err:
                raise NeuroclipError(f"cannot write {args.json}: {err.strerror or err}") from None
    return 0


def main(argv: Sequence[str]) -> int:
    """``argv[0]`` is the subcommand."""
    name, rest = argv[0], list(argv[1:])
    parser = build_train_parser() if name == "train" else build_evaluate_parser()
    args = parser.parse_args(rest)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if name == "train":
        return run_train(args)
    return run_evaluate(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
