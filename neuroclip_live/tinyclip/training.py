"""Train the project's tiny CLIP ("tiny-digits") from scratch on synthetic digits and shapes.

    python -m neuroclip_live.tinyclip.training            # about 15 minutes on 2 CPU cores
    python -m neuroclip_live.tinyclip.training --eval-only --nmnist ../shared/data/nmnist-small

The model is an ordinary open_clip ``CLIP`` built from the config in
``MODEL_CONFIG`` with open_clip's own tokenizer. The data are made here by
``neuroclip_live.tinyclip.synthetic``: event-like 127/255/0 frames (mostly on a 34 x 34
sensor, as N-MNIST) and plain grey-level pictures, each with a varied caption.
The contrastive loss treats every pair of the same class in a batch as a
positive (plain CLIP targets would mark identical captions as negatives).

Images are preprocessed exactly as at inference (``neuroclip_live.model.preprocess``):
pad to a square with 127, bilinear resize with antialiasing to the model
input, 3 channels, OpenAI CLIP mean/std. Writes ``<out>/tiny-digits.json`` (open_clip model config) and
``<out>/tiny-digits.safetensors`` (fp16). The training script is not run by CI.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neuroclip_live import defaults
from neuroclip_live.events import SensorSize
from neuroclip_live.model.preprocess import (
    OPENAI_MEAN,
    OPENAI_STD,
    FramePreprocessor,
    pad_to_aspect,
)
from neuroclip_live.tinyclip import synthetic

MODEL_NAME = "tiny-digits"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "model" / "bundled" / MODEL_NAME
MODEL_CONFIG = {
    "embed_dim": 128,
    "vision_cfg": {"image_size": 64, "layers": 4, "width": 128, "head_width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
EVAL_TEMPLATES = ["a photo of the digit {}"]

# Sensor sizes the training frames are made at: mostly N-MNIST's, some larger (the sample recording, demos).
_LARGE_SIZES = [SensorSize(48, 48), SensorSize(64, 64), SensorSize(128, 128), SensorSize(160, 120), SensorSize(128, 96)]


# --------------------------------------------------------------------------- preprocessing


def pad_resize(frames: np.ndarray | torch.Tensor, image_size: int) -> torch.Tensor:
    """(N, H, W) uint8 -> (N, 1, S, S) float in 0..255, exactly as ``FramePreprocessor`` does before normalising.

    Pad to a square with 127 (centred), bilinear resize with antialiasing.
    """
    x = torch.as_tensor(frames)
    if x.ndim == 2:
        x = x[None]
    x = pad_to_aspect(x, image_size, image_size).to(torch.float32)[:, None]
    if tuple(x.shape[-2:]) != (image_size, image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)
    return x


def normalise(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, S, S) in 0..255 -> (N, 3, S, S) normalised with the CLIP mean/std."""
    mean = torch.tensor(OPENAI_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return (x / 255.0 - mean) / std


def preprocess_frames(frames: np.ndarray, image_size: int = 64) -> torch.Tensor:
    """127/255/0 (or grey-level) frames (N, H, W) uint8 -> model input (N, 3, S, S), the inference path."""
    return FramePreprocessor(image_size)(frames)


# --------------------------------------------------------------------------- data


def _make_chunk(args: tuple[int, int, int, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """``n`` training images (already padded/resized to the model input, uint8) and their labels."""
    seed, n, image_size, plain_fraction, large_fraction = args
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    images = np.empty((n, image_size, image_size), dtype=np.uint8)
    labels = rng.integers(0, len(synthetic.CLASSES), n)
    for i in range(n):
        size = _LARGE_SIZES[rng.integers(len(_LARGE_SIZES))] if rng.random() < large_fraction else SensorSize(34, 34)
        label = int(labels[i])
        if rng.random() < plain_fraction:
            frame = synthetic.plain_image(label, size, rng)
        else:
            frame = synthetic.event_frame(label, size, rng)
        images[i] = pad_resize(frame, image_size)[0, 0].round().clamp(0, 255).to(torch.uint8).numpy()
    return images, labels


def make_dataset(
    n: int,
    seed: int,
    image_size: int = 64,
    plain_fraction: float = 0.25,
    large_fraction: float = 0.15,
    workers: int = 2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A pool of ``n`` synthetic training images (uint8, model input size) and labels, made in parallel."""
    chunk = 500
    jobs = [
        (seed * 100_003 + k, min(chunk, n - k * chunk), image_size, plain_fraction, large_fraction)
        for k in range((n + chunk - 1) // chunk)
    ]
    images, labels = [], []
    t0 = time.time()
    with mp.get_context("fork").Pool(workers) as pool:
        for im, lb in pool.imap(_make_chunk, jobs):
            images.append(im)
            labels.append(lb)
            done = sum(x.shape[0] for x in images)
            print(f"\r  data: {done}/{n} images ({time.time() - t0:.0f} s)", end="", flush=True)
    print()
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def caption_tokens(tokenizer, seed: int, per_class: int = 64) -> torch.Tensor:
    """(classes, per_class, context) token ids: varied captions for each class."""
    rng = np.random.default_rng(seed)
    rows = []
    for label in range(len(synthetic.CLASSES)):
        captions = [synthetic.caption(label, rng) for _ in range(per_class)]
        rows.append(tokenizer(captions))
    return torch.stack(rows)


# --------------------------------------------------------------------------- model


def write_config(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{MODEL_NAME}.json"
    path.write_text(json.dumps(MODEL_CONFIG, indent=2) + "\n")
    return path


def create_model(out: Path = DEFAULT_OUT, weights: Path | None = None):
    """The tiny model through open_clip's own factory (config registered from ``out``)."""
    import open_clip

    open_clip.add_model_config(out / f"{MODEL_NAME}.json")
    kwargs = {"pretrained": str(weights)} if weights is not None else {}
    model = open_clip.create_model(MODEL_NAME, **kwargs)
    return model.float(), open_clip.get_tokenizer(MODEL_NAME)


def class_positive_loss(
    image_f: torch.Tensor, text_f: torch.Tensor, labels: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """Symmetric contrastive loss in which every same-class (image, caption) pair is a positive."""
    logits = scale * image_f @ text_f.T
    same = (labels[:, None] == labels[None, :]).float()
    target = same / same.sum(1, keepdim=True)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def class_text_features(model, tokenizer, names: list[str], templates: list[str]) -> torch.Tensor:
    """(classes, D) normalised text features, averaged over ``templates``."""
    feats = []
    for name in names:
        f = model.encode_text(tokenizer([t.format(name) for t in templates]), normalize=True).mean(0)
        feats.append(F.normalize(f, dim=0))
    return torch.stack(feats)


@torch.no_grad()
def evaluate_nmnist(
    model, tokenizer, root: Path, T: int = defaults.T, templates: list[str] | None = None, batch: int = 500
) -> dict:
    """Zero-shot top-1 on N-MNIST-layout data (``root/<split>/<digit>/*.bin``): T count-cut frames, logits summed.

    A stand-in until the project's evaluation harness exists.
    """
    from neuroclip_live.stream.framing import sample_frames
    from neuroclip_live.stream.sources.files.nmnist import NMNIST_SIZE, read_nmnist

    model.eval()
    files = sorted(Path(root).glob("*/[0-9]/*.bin"))
    labels = np.array([int(f.parent.name) for f in files])
    text = class_text_features(model, tokenizer, synthetic.DIGITS, templates or EVAL_TEMPLATES)
    scale = model.logit_scale.exp()
    scores = []
    for i in range(0, len(files), batch):
        frames = np.concatenate([sample_frames(read_nmnist(f), NMNIST_SIZE, T, "count") for f in files[i : i + batch]])
        img = model.encode_image(preprocess_frames(frames, model.visual.image_size[0]), normalize=True)
        logits = (scale * img @ text.T).view(-1, T, len(synthetic.DIGITS)).sum(1)
        scores.append(logits)
    pred = torch.cat(scores).argmax(1).numpy()
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (labels, pred), 1)
    per_class = (confusion.diagonal() / np.maximum(confusion.sum(1), 1)).round(3).tolist()
    return {
        "n": len(files),
        "top1": float((pred == labels).mean()),
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }


@torch.no_grad()
def all_class_text_features(model, tokenizer) -> torch.Tensor:
    """One prompt per class of ``synthetic.CLASSES`` (digits and shapes), normalised."""
    prompts = [f"a photo of the digit {d}" for d in synthetic.DIGITS] + [f"a photo of a {s}" for s in synthetic.SHAPES]
    return model.encode_text(tokenizer(prompts), normalize=True)


@torch.no_grad()
def synthetic_accuracy(model, text: torch.Tensor, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 over all classes on held-out synthetic images (uint8 at model input size)."""
    model.eval()
    correct = 0
    for i in range(0, images.shape[0], 500):
        f = model.encode_image(normalise(images[i : i + 500, None].float()), normalize=True)
        correct += int(((f @ text.T).argmax(1) == labels[i : i + 500]).sum())
    model.train()
    return correct / images.shape[0]


# --------------------------------------------------------------------------- training


def _optimizer(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    """AdamW as CLIP trains: no weight decay on gains, biases and embeddings."""
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6)


def _warmup_cosine(lr: float, steps: int) -> Callable[[int], float]:
    """Step -> learning rate: linear warm-up over the first 5% of steps, then cosine decay to zero."""
    warmup = max(1, int(0.05 * steps))

    def lr_at(step: int) -> float:
        if step < warmup:
            return lr * (step + 1) / warmup
        return 0.5 * lr * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    return lr_at


def _train_step(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    tokens: torch.Tensor,
    batch: int,
    gen: torch.Generator,
) -> float:
    """One optimiser step on a random batch; returns its loss."""
    idx = torch.randint(0, images.shape[0], (batch,), generator=gen)
    lb = labels[idx]
    x = images[idx, None].float()
    # Cheap extra variety: a small random translation (background-filled) of the whole batch.
    dx, dy = torch.randint(-3, 4, (2,), generator=gen).tolist()
    if dx or dy:
        x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
    cap = tokens[lb, torch.randint(0, tokens.shape[1], (batch,), generator=gen)]
    image_f = model.encode_image(normalise(x), normalize=True)
    text_f = model.encode_text(cap, normalize=True)
    loss = class_positive_loss(image_f, text_f, lb, model.logit_scale.exp())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(100))
    return loss.item()


def train(args: argparse.Namespace) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    write_config(out)
    model, tokenizer = create_model(out)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{MODEL_NAME}: {n_params / 1e6:.2f} M parameters; config {json.dumps(MODEL_CONFIG)}", flush=True)

    t_start = time.time()
    print(f"making {args.pool} training images and 2000 held-out ones ...", flush=True)
    images, labels = make_dataset(args.pool, args.seed, workers=args.threads)
    val_images, val_labels = make_dataset(
        2000, args.seed + 1, plain_fraction=0.0, large_fraction=0.0, workers=args.threads
    )
    tokens = caption_tokens(tokenizer, args.seed)
    print(f"data ready in {time.time() - t_start:.0f} s", flush=True)

    opt = _optimizer(model, args.lr)
    lr_at = _warmup_cosine(args.lr, args.steps)
    gen = torch.Generator().manual_seed(args.seed)
    model.train()
    t_train = time.time()
    loss_avg = None
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss = _train_step(model, opt, images, labels, tokens, args.batch, gen)
        loss_avg = loss if loss_avg is None else 0.95 * loss_avg + 0.05 * loss
        if (step + 1) % 25 == 0 or step == 0:
            el = time.time() - t_train
            eta = el / (step + 1) * (args.steps - step - 1)
            print(
                f"step {step + 1}/{args.steps} loss {loss_avg:.3f} lr {lr_at(step):.2e} "
                f"scale {model.logit_scale.exp().item():.1f} elapsed {el / 60:.1f} min eta {eta / 60:.1f} min",
                flush=True,
            )
        if (step + 1) % args.val_every == 0 or step + 1 == args.steps:
            top1 = synthetic_accuracy(model, all_class_text_features(model, tokenizer), val_images, val_labels)
            print(f"  held-out synthetic event frames: top-1 {top1:.3f}", flush=True)

    print(
        f"training took {(time.time() - t_train) / 60:.1f} min ({(time.time() - t_start) / 60:.1f} min with data)",
        flush=True,
    )
    state = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()}
    weights = out / f"{MODEL_NAME}.safetensors"
    save_file(state, str(weights))
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.1f} MB)", flush=True)
    if args.nmnist:
        report_nmnist(out, Path(args.nmnist))


def report_nmnist(out: Path, root: Path) -> None:
    """Reload the saved fp16 weights through open_clip and evaluate zero-shot on N-MNIST."""
    torch.manual_seed(0)
    model, tokenizer = create_model(out, out / f"{MODEL_NAME}.safetensors")
    t0 = time.time()
    for name, templates in [
        ("single prompt", EVAL_TEMPLATES),
        ("ensemble", [t.replace("{d}", "{}") for t in synthetic.DIGIT_TEMPLATES if "{d}" in t]),
    ]:
        r = evaluate_nmnist(model, tokenizer, root, templates=templates)
        summary = f"N-MNIST zero-shot ({name}, n={r['n']}, T={defaults.T} count, summed logits)"
        print(f"{summary}: top-1 {r['top1']:.3f}", flush=True)
        print(f"  per class: {r['per_class']}", flush=True)
        print(f"  confusion (rows true 0-9, columns predicted): {r['confusion']}", flush=True)
    print(f"evaluation took {time.time() - t0:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(DEFAULT_OUT), help="folder for tiny-digits.json / .safetensors")
    p.add_argument("--steps", type=int, default=1800)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--pool", type=int, default=50_000, help="synthetic training images made up front")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--val-every", type=int, default=300)
    p.add_argument("--nmnist", default=None, help="N-MNIST-layout root to evaluate on after training (test data)")
    p.add_argument("--eval-only", action="store_true", help="only evaluate the saved model on --nmnist")
    args = p.parse_args(argv)
    if args.eval_only:
        if not args.nmnist:
            sys.exit("--eval-only needs --nmnist ROOT")
        report_nmnist(Path(args.out), Path(args.nmnist))
        return
    train(args)


if __name__ == "__main__":
    main()
