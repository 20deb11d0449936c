"""A small synthetic world of digits and shapes, seen by a plain camera and by an event camera.

Shared by the tiny-CLIP trainer (``neuroclip_live.tinyclip.training``) and the
script that makes the sample recording (``recordings/make_sample.py``).

- Objects: digits 0-9, either typeset in a DejaVu font or drawn as jittered
  pen strokes (closer to handwriting, as in N-MNIST), and simple shapes
  (circle, square, triangle, star, cross, line), each rendered at any scale,
  rotation, shear and position as an intensity mask in [0, 1].
- Event camera: ``EventCameraModel`` turns a sequence of intensity images into
  events in ``EVENT_DTYPE``: each pixel keeps a reference log intensity and
  fires ON (brighter) or OFF (darker) events for every contrast threshold the
  log intensity crosses, with per-pixel threshold mismatch and background
  noise events.
- Training frames: ``event_frame`` moves an object a few pixels in a random
  direction through that model and paints the events 127/255/0 (last event
  wins), like one count-cut chunk of an N-MNIST saccade; ``plain_image`` is the
  same object as an ordinary grey-level picture.

Pure numpy and Pillow; deterministic for a given ``numpy.random.Generator``.
"""

from __future__ import annotations

import math

import numpy as np

from neuroclip_live.events import SensorSize
from neuroclip_live.stream.simulator import EventCameraModel

# The objects live in ``glyphs``; these names are part of this module's interface too.
from neuroclip_live.tinyclip.glyphs import (  # noqa: F401 - re-exported, see above
    CLASSES,
    DIGIT_TEMPLATES,
    DIGIT_WORDS,
    DIGITS,
    SHAPES,
    Pose,
    caption,
    downsample,
    intensity,
    object_mask,
    shift,
)

# --------------------------------------------------------------------------- training images


def random_pose(label: int, size: SensorSize, rng: np.random.Generator, fill: tuple[float, float]) -> Pose:
    """A random pose whose height is a fraction ``fill`` of the shorter sensor side, kept inside."""
    side = min(size.width, size.height)
    h = side * rng.uniform(*fill)
    margin = h * 0.35
    cx = rng.uniform(min(margin, size.width / 2), max(size.width - margin, size.width / 2))
    cy = rng.uniform(min(margin, size.height / 2), max(size.height - margin, size.height / 2))
    rot = rng.normal(0, 12) if label < 10 else rng.uniform(-180, 180)
    return Pose(cx, cy, h, float(np.clip(rot, -35, 35)) if label < 10 else rot)


def _contrast(rng: np.random.Generator) -> tuple[float, float]:
    """(foreground, background) intensities; mostly a bright object on a dark background."""
    lo, hi = rng.uniform(0.02, 0.25), rng.uniform(0.55, 1.0)
    return (hi, lo) if rng.random() < 0.75 else (lo, hi)


def event_frame(
    label: int,
    size: SensorSize,
    rng: np.random.Generator,
    fill: tuple[float, float] = (0.75, 1.05),
    style: str | None = None,
) -> np.ndarray:
    """One 127/255/0 frame of the object moving a few pixels in a random direction.

    Made like a count-cut chunk of an N-MNIST saccade: the object moves along
    one or two straight segments (a saccade may turn inside a chunk), the
    event-camera model fires ON/OFF events at its edges, noise events are
    added, and the events are painted in time order, last one winning.
    """
    ss = 4
    pose = random_pose(label, size, rng, fill)
    mask = object_mask(label, size, pose, rng, style=style, supersample=ss)
    fg, bg = _contrast(rng)
    scale = min(size.width, size.height) / 34.0  # motion and blur measured in N-MNIST pixels
    distance = rng.uniform(1.0, 3.5) * scale
    angle = rng.uniform(0, 2 * np.pi)
    n_steps = int(rng.integers(6, 12))
    turn = rng.random() < 0.3
    camera = EventCameraModel(
        size,
        rng,
        threshold=rng.uniform(0.12, 0.3),
        threshold_sigma=rng.uniform(0.05, 0.2),
        noise_rate_hz=0.0,
    )
    frame = np.full((size.height, size.width), 127, dtype=np.uint8)
    x = y = 0.0
    for i in range(n_steps + 1):
        if i > 0:
            a = angle + (rng.uniform(1.5, 2.6) if turn and i > n_steps // 2 else 0.0)
            x += distance / n_steps * math.cos(a)
            y += distance / n_steps * math.sin(a)
        image = intensity(downsample(shift(mask, round(x * ss), round(y * ss)), ss), fg, bg)
        if i == 0:
            camera.reset(image, 0)
            continue
        ev = camera.step(image, i * 1000)
        frame[ev["y"], ev["x"]] = np.where(ev["p"] == 1, 255, 0).astype(np.uint8)
    # Background noise: a sparse scatter of mostly ON events over the whole chunk.
    density = rng.uniform(0.0, 0.03)
    noise = rng.random(frame.shape) < density
    frame[noise] = np.where(rng.random(int(noise.sum())) < 0.75, 255, 0).astype(np.uint8)
    return frame


def plain_image(
    label: int,
    size: SensorSize,
    rng: np.random.Generator,
    fill: tuple[float, float] = (0.6, 1.05),
    style: str | None = None,
) -> np.ndarray:
    """The object as an ordinary grey-level uint8 picture (a 'photo'), light noise added."""
    ss = 4
    pose = random_pose(label, size, rng, fill)
    mask = downsample(object_mask(label, size, pose, rng, style=style, supersample=ss), ss)
    fg, bg = _contrast(rng)
    img = intensity(mask, fg, bg) + rng.normal(0, rng.uniform(0.0, 0.05), mask.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)
