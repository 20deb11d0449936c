"""Options shared by ``train`` and ``evaluate`` (data set, frames, few-shot recipe)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from neuroclip_live import defaults
from neuroclip_live.cli.arguments import add_model_arguments, positive_int, say_backend_note
from neuroclip_live.offline.transfer_defaults import DEFAULT_LAMBDA_FEATURE, DEFAULT_LAMBDA_TCKA, IMAGE_WEIGHTS

if TYPE_CHECKING:  # offline imports the readers and torch: not for --help
    from neuroclip_live.offline.extractors import FeatureSource
    from neuroclip_live.offline.fewshot import FewShotSettings


def add_data_arguments(p: argparse.ArgumentParser, few_shot_inputs: bool) -> None:
    p.add_argument("--data", required=True, metavar="ROOT", help="data set root: ROOT/<split>/<class>/<file>")
    p.add_argument(
        "-T",
        type=positive_int,
        help=f"frames a sample (default: the examples' own when clips or the Teach "
        f"panel wrote them, else {defaults.T})",
    )
    p.add_argument(
        "--cut",
        choices=("count", "time"),
        help="split a sample into T equal event counts (the paper's N-MNIST setting) or T equal times (default: the "
        "examples' own when clips or the Teach panel wrote them, else count)",
    )
    p.add_argument(
        "--centre",
        action=argparse.BooleanOptionalAction,
        help="crop each frame around its events "
        "(object-centred: sizes and places alike; an adapter trained so is run so wherever it is used; "
        "default: on for train on examples of a session (clips, Teach panel), else off)",
    )
    p.add_argument(
        "--labels",
        help="prompt words for the class folders, in folder order (default: folder names or ROOT/classes.txt)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for shots, validation and augmentation")
    p.add_argument("--val-per-class", type=int, default=5, help="validation samples a class, from the training split")
    p.add_argument("--batch-size", type=positive_int, default=256, help="frames encoded at once")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_model_arguments(p, few_shot_inputs=few_shot_inputs)
    add_cluster_arguments(p)


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=positive_int, default=40, help="passes over the shots")
    p.add_argument("--views", type=positive_int, default=8, help="augmented copies of each shot (encoded once)")
    p.add_argument("--no-flip", action="store_true", help="no horizontal flips in the augmentation (digits, text)")
    p.add_argument(
        "--jitter",
        action=argparse.BooleanOptionalAction,
        help="also scale the shots' objects 0.6-1.4x "
        "and place them anywhere on the sensor (default: on for examples of a session (clips, Teach "
        "panel), off elsewhere: it cost N-MNIST 5.5-9.2 points)",
    )
    g = p.add_argument_group("RGB-to-event transfer (R2ETL)")
    g.add_argument(
        "--images",
        metavar="IMG_ROOT",
        help="labelled images IMG_ROOT/<class>/*.png|jpg|jpeg|bmp that teach the adapter beside the shots",
    )
    weights = ", ".join(f"{w:g}" for w in IMAGE_WEIGHTS)
    g.add_argument(
        "--image-weight",
        type=_weight,
        metavar="W",
        help="weight of everything the images add to the "
        f"loss (default: chosen on the validation samples from {weights}; 0 trains on the shots alone)",
    )
    g.add_argument(
        "--lambda-feature",
        type=_weight,
        metavar="λ",
        help="weight of the feature alignment (default "
        f"{DEFAULT_LAMBDA_FEATURE:g}, chosen on N-MNIST samples kept apart from every test)",
    )
    g.add_argument(
        "--lambda-tcka",
        type=_weight,
        metavar="λ",
        help="weight of the TCKA loss between the branches' "
        f"LIF states (default {DEFAULT_LAMBDA_TCKA:g}, chosen likewise)",
    )


def _weight(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.5, got {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be between 0 and 100, got {text}")
    return value


def add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("feature extraction at scale")
    g.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="extract features on Ray: a local Ray without ADDRESS, or join 'auto' / ray://host:10001 "
        "(needs pip install 'neuroclip-live[cluster]')",
    )
    g.add_argument(
        "--ray-workers",
        type=positive_int,
        metavar="N",
        help="encoding actors (default: one a GPU, or the CPUs less one)",
    )
    g.add_argument(
        "--cache",
        metavar="DIR",
        help="feature cache folder: reruns and K-shot runs reuse it, a stopped "
        "run resumes (default with --ray: ~/.cache/neuroclip-live/features; without: no cache)",
    )


def resolve_data_defaults(args: argparse.Namespace, training: bool) -> None:
    """Fill -T, --cut, --centre and (``training``: train's) --jitter left unset: from the examples' origin when
    clips or the Teach panel wrote the data (their framing, and the teaching recipe for ``train``), else the
    N-MNIST defaults; says which. ``evaluate`` centres only as its adapter says."""
    from neuroclip_live.offline.examples import read_origin

    origin = read_origin(args.data)
    if origin is None:
        args.T, args.cut = args.T or defaults.T, args.cut or "count"
        args.centre = bool(args.centre)
        if training:
            args.jitter = bool(args.jitter)
        return
    given_T, given_cut = args.T, args.cut
    args.T, args.cut = given_T or origin.T, given_cut or origin.cut
    taken = [f"-T {args.T}" if given_T is None else "", f"--cut {args.cut}" if given_cut is None else ""]
    if training:
        # Session examples are few and alike, and the objects come back at other sizes and places: the teaching
        # recipe named 96% of an unseen recording's windows against 58% without (benchmarks/teach_jitter.py).
        taken += ["--centre" if args.centre is None else "", "--jitter" if args.jitter is None else ""]
        args.centre, args.jitter = args.centre is not False, args.jitter is not False
    else:
        args.centre = bool(args.centre)
    taken = [t for t in taken if t]
    if taken:
        recipe = " (the teaching recipe; --no-centre --no-jitter for the plain one)" if training else ""
        print(
            f"note: {args.data} holds examples from {origin.made_by}: {' '.join(taken)} taken for them{recipe}",
            file=sys.stderr,
        )


def feature_source(args: argparse.Namespace, backbone: Any) -> FeatureSource:
    """Where ``train`` and ``evaluate`` get their features: this process, ``--cache``, or ``--ray``."""
    from neuroclip_live.model.centring import with_centring
    from neuroclip_live.offline.extractors import open_feature_source

    say_backend_note(backbone)
    return open_feature_source(
        backbone,
        args.T,
        with_centring(args.cut, args.centre),
        args.batch_size,
        not args.quiet,
        args.cache,
        args.ray,
        args.ray_workers,
    )


def fewshot_settings(args: argparse.Namespace) -> FewShotSettings:
    from neuroclip_live.offline.fewshot import FewShotSettings

    return FewShotSettings(
        T=args.T,
        cut=args.cut,
        seed=args.seed,
        batch_size=args.batch_size,
        epochs=args.epochs,
        views=args.views,
        flip=not args.no_flip,
        progress=not args.quiet,
        threads=args.threads,
        images=args.images,
        lambda_feature=args.lambda_feature,
        lambda_tcka=args.lambda_tcka,
        image_weight=args.image_weight,
        jitter=args.jitter,
        centre=args.centre,
    )
