"""R2ETL's encoding alignment: labelled images enter the adapter in the same encoding as events.

Images are read from ``IMG_ROOT/<class>/*.png|jpg|jpeg|bmp`` (any size, grey
or colour; colour is converted to luma) and each becomes T frames of the
127/255/0 event encoding.

The choice made here (``"saccade"``): the image is placed on the event data's
sensor as N-MNIST placed MNIST digits (28 of 34 pixels), moved along a small
triangle of three saccades, as N-MNIST was recorded, and seen by the project's
event-camera model (``stream.simulator.EventCameraModel``: log-intensity
change over per-pixel thresholds); the events are then cut into T frames by
the same ``sample_frames`` that cuts real samples. Why: CLIP and the adapter
then see images exactly as they see events (edges in ON/OFF polarity, the
motion direction changing over the T timesteps), so the adapter's temporal
dynamics on images are those it must have on events, which TCKA needs.
The alternative measured in ``benchmarks/r2etl_sweep.py`` (``"repeat"``): the
plain grey image resized to the sensor, the same frame T times.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from neuroclip_live import defaults
from neuroclip_live.errors import DataError
from neuroclip_live.events import SensorSize
from neuroclip_live.model.centring import centred_if
from neuroclip_live.model.classifier import encode_frames_batched
from neuroclip_live.model.clip_model import ClipBackbone
from neuroclip_live.offline.evaluation import FeatureSet
from neuroclip_live.stream.framing import sample_frames
from neuroclip_live.stream.simulator import EventCameraModel, downsample

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
Encoding = Literal["saccade", "repeat"]
ENCODINGS: tuple[str, ...] = ("saccade", "repeat")

FILL = 28 / 34  # N-MNIST: a 28 px MNIST digit on the 34 px ATIS sensor
SUPERSAMPLE = 4  # sub-pixel motion, as tinyclip.synthetic renders it
SACCADE_MS = 100  # one side of the triangle, as N-MNIST's saccades
STEPS_PER_SACCADE = 12


@dataclass
class ImageSet:
    """Labelled grey images (H x W uint8, any size each), labels in the event data's class order."""

    images: list[np.ndarray]
    labels: np.ndarray
    paths: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)


def _match_folder(name: str, folders: list[str], classes: list[str]) -> int | None:
    """The class an image folder stands for: an event class folder name or its prompt words."""
    key = name.strip().lower()
    for i, (folder, words) in enumerate(zip(folders, classes, strict=True)):
        if key in (folder.lower(), words.lower()):
            return i
    return None


def read_image(path: Path) -> np.ndarray:
    """One image as H x W uint8 grey (colour to luma, alpha dropped); a DataError naming it otherwise."""
    try:
        with Image.open(path) as img:
            img.load()
            grey = img.convert("L")
    except (OSError, UnidentifiedImageError, ValueError) as err:
        reason = str(err).splitlines()[0][:100] if str(err) else type(err).__name__
        raise DataError(f"cannot read image {path}: {reason}") from None
    if grey.width < 2 or grey.height < 2:
        raise DataError(f"image {path} is {grey.width}x{grey.height}: too small to use")
    return np.asarray(grey, dtype=np.uint8)


def load_image_folder(root: str | os.PathLike, folders: list[str], classes: list[str]) -> ImageSet:
    """Every image under ``root/<class>/``, matched to the event classes; one-line DataError for what does not fit."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist (expected IMG_ROOT/<class>/*.png)")
    found: dict[int, list[Path]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        label = _match_folder(sub.name, folders, classes)
        if label is None:
            raise DataError(f"image class folder '{sub.name}' in {root} matches no event class ({', '.join(folders)})")
        found.setdefault(label, []).extend(p for p in sorted(sub.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES)
    images, labels, paths = [], [], []
    for label, folder in enumerate(folders):
        files = found.get(label, [])
        if not files:
            raise DataError(f"class '{folder}' has no images in {root} ({', '.join(IMAGE_SUFFIXES)})")
        for f in files:
            images.append(read_image(f))
            labels.append(label)
            paths.append(f)
    return ImageSet(images, np.asarray(labels, dtype=np.int64), paths)


def place_on_sensor(image: np.ndarray, size: SensorSize, pad: int = 0, supersample: int = SUPERSAMPLE) -> np.ndarray:
    """The image scaled to ``FILL`` of the sensor (aspect kept), centred on it, as intensities in [0, 1].

    The canvas is ``supersample`` times the sensor plus ``pad`` sensor pixels
    on each side (room to move it); the margin takes the image's border level
    (median of its edge pixels), so placing the image makes no edge of its own
    that would fire events.
    """
    h, w = image.shape
    scale = FILL * min(size.width / w, size.height / h) * supersample
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    small = np.asarray(Image.fromarray(image).resize((nw, nh), Image.BILINEAR), dtype=np.float32) / 255.0
    edge = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    shape = ((size.height + 2 * pad) * supersample, (size.width + 2 * pad) * supersample)
    canvas = np.full(shape, np.median(edge) / 255.0, np.float32)
    y0, x0 = (shape[0] - nh) // 2, (shape[1] - nw) // 2
    canvas[y0 : y0 + nh, x0 : x0 + nw] = small
    return canvas


def saccade_path(side: float, turn: float) -> list[tuple[float, float]]:
    """Offsets (pixels) along the three sides of an equilateral triangle, ``STEPS_PER_SACCADE`` a side."""
    corners = [(0.0, 0.0)] + [(side * math.cos(turn + a), side * math.sin(turn + a)) for a in (0.0, math.pi / 3)]
    path = [corners[0]]
    for k in range(3):
        (ax, ay), (bx, by) = corners[k], corners[(k + 1) % 3]
        path += [
            (ax + f * (bx - ax), ay + f * (by - ay)) for f in np.arange(1, STEPS_PER_SACCADE + 1) / STEPS_PER_SACCADE
        ]
    return path


def saccade_events(image: np.ndarray, size: SensorSize, rng: np.random.Generator) -> np.ndarray:
    """Events of the image moved along three saccades (a small triangle) in front of the event-camera model."""
    side = rng.uniform(1.5, 3.0) * min(size.width, size.height) / 34.0  # N-MNIST pixels, scaled to the sensor
    pad = math.ceil(side) + 1
    canvas = place_on_sensor(image, size, pad)
    ss, h, w = SUPERSAMPLE, size.height * SUPERSAMPLE, size.width * SUPERSAMPLE
    path = saccade_path(side, rng.uniform(-0.3, 0.3))  # the orientation varies a little from image to image
    camera = EventCameraModel(size, rng, threshold=rng.uniform(0.12, 0.3), threshold_sigma=0.1, noise_rate_hz=0.5)
    step_us = SACCADE_MS * 1000 // STEPS_PER_SACCADE
    chunks = []
    for i, (dx, dy) in enumerate(path):
        # The sensor's view moves over the padded canvas: no empty border slides in.
        y0, x0 = pad * ss - round(dy * ss), pad * ss - round(dx * ss)
        frame = downsample(canvas[y0 : y0 + h, x0 : x0 + w], ss)
        if i == 0:
            camera.reset(frame, 0)  # the first view sets every pixel's reference level without firing
        else:
            chunks.append(camera.step(frame, i * step_us))
    return np.concatenate(chunks)


def image_frames(
    image: np.ndarray, size: SensorSize, T: int, rng: np.random.Generator, encoding: Encoding = "saccade"
) -> np.ndarray:
    """(T, H, W) uint8 frames of one image at the sensor size, in the chosen encoding."""
    if encoding == "saccade":
        return sample_frames(saccade_events(image, size, rng), size, T, "count")
    if encoding == "repeat":
        plain = downsample(place_on_sensor(image, size), SUPERSAMPLE)
        return np.repeat((np.clip(plain, 0, 1) * 255).round().astype(np.uint8)[None], T, axis=0)
    raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, not {encoding!r}")


def encode_images(
    backbone: ClipBackbone,
    images: ImageSet,
    size: SensorSize,
    T: int = defaults.T,
    encoding: Encoding = "saccade",
    views: int = 1,
    seed: int = 0,
    batch_size: int = 256,
    centred: bool = False,
) -> FeatureSet:
    """CLIP features (N * views, T, C) of every image's frames; views of one image side by side.

    ``centred``: each frame cropped around its events (``model.centring``), as an adapter trained so sees its shots.
    """
    rng = np.random.default_rng(seed)
    frames = np.stack([image_frames(img, size, T, rng, encoding) for img in images.images for _ in range(views)])
    flat = frames.reshape(-1, size.height, size.width)
    feats = encode_frames_batched(backbone, centred_if(flat, centred), batch_size)
    return FeatureSet(feats.view(len(frames), T, -1), np.repeat(images.labels, views))
