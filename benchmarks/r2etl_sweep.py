"""R2ETL and jitter on N-MNIST with tiny-digits: few-shot adapter alone, with scale/placement jitter, with images.

    PYTHONPATH=. python benchmarks/r2etl_sweep.py [--data ../shared/data/nmnist-small] [--json out.json]

Protocol (all from the one labelled split, never tuned on test samples):
- a fixed selection pool (``--select-per-class`` a class, seeded apart) is set
  aside first: λf and λt are chosen on it (shots drawn from the rest, seed
  100) and it is left out of every test set below;
- for each K and seed: K shots a class and 5 validation samples a class are
  drawn from the rest with the project's seeded draws (``pick_shots``,
  ``take_per_class``, as ``train``/``evaluate`` do); alpha is chosen on the
  validation samples; the test set is everything else, scored once;
- images: ``--images-per-class`` pictures a class drawn by the project's own
  renderer (fonts and pen strokes, ``tinyclip.synthetic.plain_image``) into a
  temporary IMG_ROOT and read back through ``load_image_folder``; never MNIST.
  The image weight is chosen on the validation samples for each run, as
  ``train --images`` does (``transfer.choose_image_weight``); its weight 0 is
  the "alone" run, so both columns come from one choice;
- jitter: the same shots with ``Augmentation(jitter=True)`` (scale 0.6-1.4x,
  placed anywhere on the sensor), alpha chosen on the same validation samples.

Features are computed once (the unaugmented samples once for all runs, the
augmented shots once per K and seed); each run then costs only the adapter.
Torch runs on one thread: on the shared 2-core machine two threads were 18x
slower for this small model (46 s against 2.6 s for the same training).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neuroclip_live.events import SensorSize
from neuroclip_live.model.clip_model import load_clip
from neuroclip_live.model.prompts import resolve_templates, text_features
from neuroclip_live.offline.augment import Augmentation
from neuroclip_live.offline.datasets import (
    load_split,
    pick_shots,
    read_sample_events,
    take_per_class,
)
from neuroclip_live.offline.evaluation import (
    FeatureSet,
    choose_alpha,
    extract_features,
    predict,
)
from neuroclip_live.offline.image_encoding import encode_images, load_image_folder
from neuroclip_live.offline.training import TrainConfig, train_adapter
from neuroclip_live.offline.transfer import (
    TransferConfig,
    ValidationFigures,
    choose_image_weight,
    pick_image_weight,
    train_with_images,
)
from neuroclip_live.tinyclip.synthetic import plain_image

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "nmnist-small"
TEMPLATE = "a photo of the digit {}."
T = 10
VIEWS = 8
VAL_PER_CLASS = 5
GRID_F = (0.0, 1.0, 2.0)
GRID_T = (0.0, 1.0, 2.0)
IMAGES = "images (w chosen)"


def render_image_root(root: Path, folders: list[str], per_class: int, seed: int) -> None:
    """``per_class`` renders of each digit, 56 x 56 PNG (fonts and pen strokes), in ``root/<digit>/``."""
    rng = np.random.default_rng(seed)
    for folder in folders:
        (root / folder).mkdir(parents=True)
        for j in range(per_class):
            Image.fromarray(plain_image(int(folder), SensorSize(56, 56), rng)).save(root / folder / f"{j}.png")


class Bench:
    """Cached features and one scoring function for every run."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.bb = load_clip("tiny-digits", None, "cpu")
        torch.set_num_threads(1)  # after load_clip, which sets one thread per core
        self.data = load_split(args.data, "Train")
        self.k = len(self.data.folders)
        self.text = text_features(self.bb, self.data.classes, resolve_templates(TEMPLATE), ensemble=False)
        self.size = read_sample_events(self.data.samples[0].path)[1]
        t0 = time.perf_counter()
        self.all = extract_features(self.bb, self.data.samples, T, progress=False)
        self.row = {s.path: i for i, s in enumerate(self.data.samples)}
        self.selection, self.pool = take_per_class(
            self.data.samples, self.k, args.select_per_class, np.random.default_rng(999)
        )
        self.tmp = tempfile.TemporaryDirectory(prefix="r2etl-images-")
        render_image_root(Path(self.tmp.name), self.data.folders, args.images_per_class, seed=12345)
        self.images = load_image_folder(self.tmp.name, self.data.folders, self.data.classes)
        self.image_cache: dict[tuple[str, int], FeatureSet] = {}
        self.uniform = np.full(T, 1.0 / T)
        print(
            f"features of {len(self.data.samples)} samples and {len(self.images)} images ready "
            f"in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )

    def subset(self, samples: list) -> FeatureSet:
        rows = [self.row[s.path] for s in samples]
        return FeatureSet(self.all.feats[rows], self.all.labels[rows])

    def image_features(self, encoding: str, seed: int) -> FeatureSet:
        key = (encoding, seed)
        if key not in self.image_cache:
            self.image_cache[key] = encode_images(self.bb, self.images, self.size, T, encoding, views=2, seed=seed)
        return self.image_cache[key]

    def split(self, shots_k: int, seed: int, pool: list, jitter: bool = False) -> tuple[FeatureSet, FeatureSet, list]:
        """Augmented shot features, validation features and the remaining samples (the test set)."""
        sub = type(self.data)(self.data.root, self.data.split, self.data.folders, self.data.classes, pool)
        shots, rest = pick_shots(sub, shots_k, seed)
        val, test = take_per_class(rest, self.k, VAL_PER_CLASS, np.random.default_rng(seed + 1))
        augment = Augmentation(flip=False, jitter=jitter)
        train = extract_features(self.bb, shots, T, views=VIEWS, augment=augment, seed=seed, progress=False)
        return train, self.subset(val), test

    def chosen(self, train: FeatureSet, val: FeatureSet, seed: int, transfer: TransferConfig):
        """``train --images``' choice of the image weight on ``val`` (``transfer.choose_image_weight``)."""
        images = self.image_features(transfer.encoding, seed)
        return choose_image_weight(train, images, val, self.text, self.bb.logit_scale, TrainConfig(seed=seed), transfer)

    def run(self, train: FeatureSet, val: FeatureSet, seed: int, transfer: TransferConfig | None) -> tuple:
        """Train (alone, or with images when ``transfer`` is given), choose alpha on ``val``; (adapter, alpha)."""
        cfg = TrainConfig(seed=seed)
        if transfer is None:
            adapter, _ = train_adapter(train, self.text, self.bb.logit_scale, self.uniform, cfg, progress=False)
        else:
            images = self.image_features(transfer.encoding, seed)
            adapter, _ = train_with_images(
                train, images, self.text, self.bb.logit_scale, self.uniform, cfg, transfer, progress=False
            )
        _, alpha, _ = choose_alpha(val, self.text, self.bb.logit_scale, T, adapter)
        return adapter, alpha

    def candidate_figures(self, figures: ValidationFigures, test: FeatureSet, adapter, alpha) -> dict[str, float]:
        """Validation top-1 and cross-entropy, selection-pool and test top-1 of one trained candidate."""
        pool = self.top1(self.subset(self.selection), adapter, alpha)
        return {
            "val_top1": figures.top1,
            "val_nll": figures.nll,
            "pool_top1": pool,
            "test_top1": self.top1(test, adapter, alpha),
        }

    def top1(self, fs: FeatureSet, adapter, alpha) -> float:
        return float((predict(fs, self.text, self.bb.logit_scale, alpha, adapter).argmax(1) == fs.labels).mean())


def select_lambdas(bench: Bench, shots_k: int = 4, seeds: tuple[int, ...] = (100,)) -> tuple[float, float, dict]:
    """λf, λt with the best mean top-1 on the selection pool (shots from the rest); ties go to the smaller sum."""
    scores: dict[str, float] = {}
    sel = bench.subset(bench.selection)
    splits = [bench.split(shots_k, s, bench.pool) for s in seeds]
    for lf in GRID_F:
        for lt in GRID_T:
            accs = [
                bench.top1(sel, *bench.run(tr, val, s, TransferConfig(lf, lt)))
                for (tr, val, _), s in zip(splits, seeds, strict=True)
            ]
            scores[f"{lf},{lt}"] = float(np.mean(accs))
    best = max(scores, key=lambda k: (scores[k], -sum(map(float, k.split(",")))))
    lf, lt = map(float, best.split(","))
    return lf, lt, scores


def merge_results(parts: list[dict]) -> dict:
    """Runs of separate processes (one per seed) joined: {setting: {K: [top-1 per seed]}}."""
    merged: dict[str, dict[int, list[float]]] = {}
    for part in parts:
        for name, by_k in part.items():
            for k, values in by_k.items():
                merged.setdefault(name, {}).setdefault(int(k), []).extend(values)
    return merged


def print_table(results: dict) -> None:
    ks = sorted({k for v in results.values() for k in v})
    print("top-1 on the test samples (%), mean ± sd over seeds")
    print("| K | " + " | ".join(results) + " |")
    print("|---" * (len(results) + 1) + "|")
    for k in ks:
        cells = [
            f"{np.mean(v[k]) * 100:.1f} ± {np.std(v[k], ddof=1) * 100:.1f}"
            if len(v.get(k, [])) > 1
            else (f"{v[k][0] * 100:.1f}" if k in v else "")
            for v in results.values()
        ]
        print(f"| {k} | " + " | ".join(cells) + " |")


def run_settings(bench: Bench, args: argparse.Namespace, lf: float, lt: float) -> tuple[dict, dict, list]:
    """Every K and seed: zero-shot, alone and images (one choice of the image weight), jitter, the ablation."""
    ablation = (
        {
            "ce-images-only": TransferConfig(0.0, 0.0),
            "feature-only": TransferConfig(lf, 0.0),
            "tcka-only": TransferConfig(0.0, lt),
            "images-repeat": TransferConfig(lf, lt, encoding="repeat"),
        }
        if args.ablation
        else {}
    )
    results: dict[str, dict[int, list[float]]] = {n: {} for n in ("zero-shot", "alone", IMAGES, "jitter", *ablation)}
    chosen: dict[int, list[float]] = {}
    details: list[dict] = []  # every image weight's validation, selection-pool and test figures
    for k in map(int, args.shots.split(",")):
        for seed in map(int, args.seeds.split(",")):
            t1 = time.perf_counter()
            train, val, test = bench.split(k, seed, bench.pool)
            test_fs = bench.subset(test)
            results["zero-shot"].setdefault(k, []).append(bench.top1(test_fs, None, bench.uniform))
            choice = bench.chosen(train, val, seed, TransferConfig(lf, lt))
            chosen.setdefault(k, []).append(choice.weight)
            details.append(
                {
                    "K": k,
                    "seed": seed,
                    "chosen": choice.weight,
                    "candidates": {
                        f"{w:g}": bench.candidate_figures(choice.figures[w], test_fs, *c)
                        for w, c in choice.candidates.items()
                    },
                }
            )
            results["alone"].setdefault(k, []).append(details[-1]["candidates"]["0"]["test_top1"])
            results[IMAGES].setdefault(k, []).append(details[-1]["candidates"][f"{choice.weight:g}"]["test_top1"])
            t2 = time.perf_counter()
            jit_train, _, _ = bench.split(k, seed, bench.pool, jitter=True)
            results["jitter"].setdefault(k, []).append(bench.top1(test_fs, *bench.run(jit_train, val, seed, None)))
            t3 = time.perf_counter()
            for name, transfer in ablation.items() if k == 4 else ():
                results[name].setdefault(k, []).append(bench.top1(test_fs, *bench.run(train, val, seed, transfer)))
            print(
                f"K={k} seed={seed} test n={len(test)}: "
                + ", ".join(f"{n} {v[k][-1] * 100:.1f}" for n, v in results.items() if k in v)
                + f"; w={choice.weight:g}; {t2 - t1:.0f} s alone and with images, {t3 - t2:.0f} s jitter",
                flush=True,
            )
    return results, chosen, details


def rechoose(details: list[dict]) -> tuple[dict, dict]:
    """The images column and the weights chosen, by today's ``pick_image_weight`` from recorded figures."""
    column: dict[int, list[float]] = {}
    weights: dict[int, list[float]] = {}
    for run in details:
        figures = {
            float(w): ValidationFigures(c["val_top1"], c["val_nll"], VAL_PER_CLASS * 10)
            for w, c in run["candidates"].items()
        }
        w = pick_image_weight(figures)
        column.setdefault(run["K"], []).append(run["candidates"][f"{w:g}"]["test_top1"])
        weights.setdefault(run["K"], []).append(w)
    return column, weights


def _margin_rule(c: dict, margin: int) -> float:
    ok = [
        w
        for w in c
        if w > 0
        and c[w]["val_top1"] * 50 >= c[0.0]["val_top1"] * 50 + margin - 1e-6
        and c[w]["val_nll"] < c[0.0]["val_nll"]
    ]
    return min(ok, key=lambda w: (-c[w]["val_top1"], c[w]["val_nll"])) if ok else 0.0


# How to keep an image weight from the validation figures: compared on the selection pool (--merge), not the test.
RULES = {
    "best top-1 (ties to 0)": lambda c: max(sorted(c), key=lambda w: c[w]["val_top1"]),
    "better top-1 and cross-entropy": lambda c: _margin_rule(c, 1),
    "2 more right and lower cross-entropy (train's)": lambda c: _margin_rule(c, 2),
    "lowest cross-entropy": lambda c: min(sorted(c), key=lambda w: c[w]["val_nll"]),
}


def compare_rules(details: list[dict]) -> None:
    """Each rule's mean gain over the adapter alone on the selection pool, by K."""
    for name, rule in RULES.items():
        gains: dict[int, list[float]] = {}
        for run in details:
            c = {float(w): f for w, f in run["candidates"].items()}
            gains.setdefault(run["K"], []).append(c[rule(c)]["pool_top1"] - c[0.0]["pool_top1"])
        cells = ", ".join(f"K={k} {np.mean(v) * 100:+.1f}" for k, v in sorted(gains.items()))
        print(f"selection pool, {name}: {cells}")


def print_merged(files: list[str]) -> None:
    """The table of the runs saved with --json, the image weight chosen again over all of them."""
    parts = [json.loads(Path(f).read_text()) for f in files]
    results = merge_results([part["results"] for part in parts])
    results[IMAGES], weights = rechoose([run for part in parts for run in part.get("details", [])])
    print_table(results)
    print(
        "image weight chosen: "
        + "; ".join(f"K={k}: {', '.join(f'{w:g}' for w in ws)}" for k, ws in sorted(weights.items()))
    )
    compare_rules([run for part in parts for run in part.get("details", [])])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--shots", default="1,2,4,8,16")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--images-per-class", type=int, default=20)
    p.add_argument("--select-per-class", type=int, default=15)
    p.add_argument("--lambdas", help="λf,λt to use instead of selecting them (e.g. 1,1)")
    p.add_argument("--select-only", action="store_true", help="choose λf, λt and stop")
    p.add_argument(
        "--ablation", action="store_true", help="also the loss-term ablation and the plain-image encoding at K = 4"
    )
    p.add_argument(
        "--merge",
        nargs="+",
        metavar="JSON",
        help="print the table of runs saved with --json (seeds run as separate processes)",
    )
    p.add_argument("--json", metavar="OUT")
    args = p.parse_args(argv)
    if args.merge:
        print_merged(args.merge)
        return
    t0 = time.perf_counter()
    bench = Bench(args)
    if args.lambdas:
        lf, lt = map(float, args.lambdas.split(","))
        grid: dict = {}
    else:
        lf, lt, grid = select_lambdas(bench)
        print("selection top-1 (λf,λt): " + ", ".join(f"{k} {v * 100:.1f}" for k, v in grid.items()), flush=True)
    print(f"λf={lf} λt={lt}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.select_only:
        if args.json:
            Path(args.json).write_text(json.dumps({"lambda_feature": lf, "lambda_tcka": lt, "selection": grid}))
        return
    results, chosen, details = run_settings(bench, args, lf, lt)
    print(f"\n{time.perf_counter() - t0:.0f} s in all")
    print_table(results)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "lambda_feature": lf,
                    "lambda_tcka": lt,
                    "selection": grid,
                    "results": results,
                    "image_weight": chosen,
                    "details": details,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
