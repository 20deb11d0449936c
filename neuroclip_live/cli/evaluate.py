"""``neuroclip-live evaluate``: top-1/top-5 accuracy on a labelled split, with an honest protocol.

Shots and every tuning choice (alpha) come from the training split; the test
samples are scored once, and the report says which samples played which part.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from neuroclip_live.cli.arguments import model_settings, positive_int
from neuroclip_live.cli.fewshot_args import (
    add_data_arguments,
    add_training_arguments,
    feature_source,
    fewshot_settings,
    resolve_data_defaults,
)
from neuroclip_live.errors import DataError, NeuroclipError
from neuroclip_live.wording import counted

if TYPE_CHECKING:
    import numpy as np


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "evaluate",
        prog="neuroclip-live evaluate",
        description="Top-1/top-5 accuracy on a labelled split.",
        help="score a labelled split (zero-shot or few-shot)",
    )
    add_data_arguments(p, few_shot_inputs=True)
    p.add_argument("--split", default="Test", help="the split scored (default Test)")
    p.add_argument("--train-split", default="Train", help="where shots and validation come from (default Train)")
    p.add_argument("--shots", type=positive_int, help="train an adapter on K shots a class first, then score")
    add_training_arguments(p)
    p.add_argument("--alpha-search", action="store_true", help="choose alpha on the validation samples")
    p.add_argument("--save-alpha", metavar="PATH", help="write the alpha used to a JSON file (for --alpha)")
    p.add_argument("--json", metavar="OUT", help="write the report as JSON ('-' for stdout)")
    p.add_argument("--limit", type=positive_int, help="score at most this many test samples a class (quick looks)")
    p.add_argument(
        "--unrecorded-adapter",
        action="store_true",
        help="score with an --adapter file that does not "
        "record its training samples (older files); only if it never saw the split scored",
    )
    p.set_defaults(handler=run)
    return p


@dataclass
class _Scoring:
    """What scores the test split, and the protocol lines that say where each part came from."""

    adapter: Any = None
    alpha: np.ndarray | None = None
    alpha_name: str = "uniform"
    excluded: set = field(default_factory=set)  # training-split samples used as shots or validation here
    adapter_info: Any = None  # the --adapter file's AdapterInfo
    adapter_seen: set = field(default_factory=set)  # test samples the --adapter was trained or validated on
    protocol: list[str] = field(default_factory=list)
    unreadable: list = field(default_factory=list)  # (path, reason) of samples that could not be read


def _from_files(args: argparse.Namespace, bb: Any, sc: _Scoring) -> None:
    import numpy as np

    from neuroclip_live.model.adapter import load_adapter
    from neuroclip_live.model.classifier import load_alpha

    if args.adapter:
        sc.adapter, info = load_adapter(args.adapter, bb.name, bb.embed_dim, bb.device)
        sc.adapter_info = info
        if info.alpha is not None and len(info.alpha) == args.T:
            sc.alpha, sc.alpha_name = np.asarray(info.alpha), "from the adapter file"
        names = ", ".join(info.classes[:5]) + (", …" if len(info.classes) > 5 else "")
        what = f"{len(info.classes)} classes: {names}" if info.classes else "label-free"
        sc.protocol.append(f"adapter {args.adapter} ({what})")
    if args.alpha:
        sc.alpha, sc.alpha_name = load_alpha(args.alpha, args.T), f"from {args.alpha}"


def _from_training_split(args: argparse.Namespace, train: Any, tm: Any, sc: _Scoring, features: Any) -> None:
    from neuroclip_live.offline.datasets import pick_shots
    from neuroclip_live.offline.evaluation import choose_alpha
    from neuroclip_live.offline.fewshot import split_validation, train_fewshot

    shots: list = []
    rest = train.samples
    if args.shots:
        shots, rest = pick_shots(train, args.shots, args.seed)
    val, _ = split_validation(rest, len(train.folders), args.val_per_class, args.seed)
    sc.excluded = {s.path for s in shots} | {s.path for s in val}
    if args.shots:
        fit = train_fewshot(tm, shots, val, fewshot_settings(args), features, train.folders)
        sc.adapter, sc.alpha_name, sc.alpha = fit.adapter, fit.alpha_name, fit.alpha
        sc.unreadable += fit.unreadable
        sc.protocol.append(
            f"adapter trained here on {counted(len(shots), 'shot')} ({args.shots} a class, seed {args.seed}) "
            f"from split '{args.train_split}', {counted(args.epochs, 'epoch')}, {counted(args.views, 'augmented view')}"
            f"{' (no flips)' if args.no_flip else ''}"
            + (f", with {counted(fit.transfer['images'], 'labelled image')} from {args.images}" if fit.transfer else "")
        )
    else:  # --alpha-search alone
        bb = tm.backbone
        val_fs = features.extract(val, desc="encoding validation")
        sc.unreadable += val_fs.unreadable
        sc.alpha_name, sc.alpha, _ = choose_alpha(val_fs, tm.text, bb.logit_scale, args.T, sc.adapter)
    sc.protocol.append(
        f"alpha '{sc.alpha_name}' chosen on {counted(len(val), 'validation sample')} from split "
        f"'{args.train_split}' (never scored)"
    )


def _centre_as_the_adapter(args: argparse.Namespace, sc: _Scoring) -> None:
    """An --adapter trained on object-centred frames is scored on them (its file says so)."""
    from neuroclip_live.model.adapter import read_adapter_info
    from neuroclip_live.model.centring import trained_centred

    if args.adapter and not args.centre and trained_centred(read_adapter_info(args.adapter)):
        args.centre = True
        sc.protocol.append("frames centred on their events, as the adapter was trained (--centre)")


def _leave_out_adapter_samples(args: argparse.Namespace, test: Any, sc: _Scoring) -> None:
    """The --adapter's own shots and validation samples are not scored; a file that cannot tell is refused."""
    from neuroclip_live.offline.datasets import samples_in_record

    info = sc.adapter_info
    if info is None:
        return
    record = info.data
    if record is None and (info.transfer or {}).get("mode") == "align":
        return  # label-free: trained on a recording's frames, never on a labelled sample
    if record is None:
        if not args.unrecorded_adapter:
            raise DataError(
                f"adapter {args.adapter} does not record which samples it was trained on (written "
                "before that was recorded): train it again, or add --unrecorded-adapter if it never "
                f"saw split '{args.split}' of {args.data}"
            )
        sc.protocol.append(
            "the adapter file does not record its training samples: scored in full (--unrecorded-adapter)"
        )
        return
    seen = samples_in_record(record, test)
    sc.adapter_seen = {s.path for s in seen}
    if seen:
        sc.protocol.append(
            f"left out: {len(seen)} samples of split '{args.split}' that the adapter was trained or validated on "
            f"({record['shots']} shots a class and {record['val_per_class']} validation, seed {record['seed']}, "
            "as its file records)"
        )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from neuroclip_live.runtime.outputs import check_output_file

    resolve_data_defaults(args, training=False)
    # Before the encoding and training, not after it.
    for option, path in (("--save-alpha", args.save_alpha), ("--json", args.json)):
        if path and path != "-":
            check_output_file(path, option)
    from neuroclip_live.offline.datasets import load_split
    from neuroclip_live.offline.evaluation import predict, report_from_probs
    from neuroclip_live.offline.fewshot import limit_per_class, load_text_model

    test = load_split(args.data, args.split)
    same_split = args.split == args.train_split
    train = load_split(args.data, args.train_split) if (args.shots or args.alpha_search) else None
    if train is not None and train.folders != test.folders:
        raise DataError(f"splits '{args.train_split}' and '{args.split}' have different class folders")
    tm = load_text_model(model_settings(args), test.folders, test.classes, args.labels)
    bb = tm.backbone
    ensembled = " ensembled" if not args.no_ensemble and len(tm.templates) > 1 else ""
    sc = _Scoring(
        protocol=[
            f"model {bb.name} ({bb.weights}) on {bb.engine}; templates: {len(tm.templates)}{ensembled}; "
            f"T={args.T} frames a sample, cut by {args.cut}" + (", centred on the events" if args.centre else "")
        ]
    )
    t0 = time.perf_counter()
    _centre_as_the_adapter(args, sc)
    features = feature_source(args, bb)
    _from_files(args, bb, sc)
    if train is not None:
        _from_training_split(args, train, tm, sc, features)
    else:
        sc.protocol.append(f"alpha {sc.alpha_name} (no tuning)")
    _leave_out_adapter_samples(args, test, sc)
    left_out = (sc.excluded if same_split else set()) | sc.adapter_seen
    samples = [s for s in test.samples if s.path not in left_out]
    samples = limit_per_class(samples, len(test.folders), args.limit)
    if not samples:
        raise DataError(f"no samples of split '{args.split}' left to score after leaving out those used for training")
    test_fs = features.extract(samples, desc="encoding test")
    sc.unreadable += test_fs.unreadable
    probs = predict(test_fs, tm.text, bb.logit_scale, sc.alpha, sc.adapter)
    what = f"split '{args.split}'" + (" minus shots and validation" if left_out else "")
    sc.protocol.append(f"test: {what}, {counted(len(samples), 'sample')}, scored once")
    if sc.unreadable:
        sc.protocol.append(f"unreadable, left out: {counted(len(sc.unreadable), 'sample')} (listed under 'unreadable')")
    report = report_from_probs(probs, test_fs.labels, tm.classes, sc.protocol)
    alpha = sc.alpha if sc.alpha is not None else np.full(args.T, 1.0 / args.T)
    report.extra = {
        "seconds": round(time.perf_counter() - t0, 2),
        "alpha": [float(a) for a in alpha],
        "shots": args.shots or 0,
        "unreadable": [{"path": p, "reason": why} for p, why in sc.unreadable],
    }
    _print_report(report, sc.unreadable)
    _write_outputs(args, report, sc.alpha_name)
    return 0


def _print_report(report: Any, unreadable: list[tuple[str, str]]) -> None:
    print(report.table())
    for path, why in unreadable:
        print(f"unreadable, left out: {path} ({why})")
    print(f"\n{counted(report.n, 'sample')} in {report.extra['seconds']:.1f} s")


def _write_outputs(args: argparse.Namespace, report: Any, alpha_name: str) -> None:
    if args.save_alpha:
        _write_text(args.save_alpha, json.dumps({"alpha": report.extra["alpha"], "chosen": alpha_name}))
    if args.json == "-":
        print(json.dumps(report.as_dict(), indent=1))
    elif args.json:
        _write_text(args.json, json.dumps(report.as_dict(), indent=1) + "\n")


def _write_text(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as err:
        raise NeuroclipError(f"cannot write {path}: {err.strerror or err}") from None
