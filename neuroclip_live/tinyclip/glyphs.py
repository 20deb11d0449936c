"""The synthetic world's objects: digits (typeset or pen strokes) and shapes as intensity masks, with captions.

Digits 0-9 are typeset in a DejaVu font or drawn as jittered pen strokes
(closer to handwriting, as in N-MNIST); shapes are circle, square, triangle,
star, cross and line. Each renders at any scale, rotation, shear and position
as an intensity mask in [0, 1]. Pure numpy and Pillow; deterministic for a
given ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from neuroclip_live.events import SensorSize
from neuroclip_live.model.label_presets import DIGITS, SHAPES
from neuroclip_live.stream.simulator import downsample  # noqa: F401 - part of this module's interface

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
CLASSES = DIGITS + SHAPES  # class index = position in this list

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = [
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSansCondensed-Bold.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerifCondensed-Bold.ttf",
]

# --------------------------------------------------------------------------- captions

DIGIT_TEMPLATES = [
    "a photo of the digit {d}",
    "a photo of the number {d}",
    "the digit {d}",
    "the number {w}",
    "the digit {w}",
    "a handwritten {d}",
    "a handwritten digit {w}",
    "an event camera image of the digit {d}",
    "an event camera image of the number {w}",
    "a neuromorphic image of the digit {d}",
    "a picture of the number {d}",
    "a drawing of a {d}",
    "{d}",
    "the number {d}",
]
SHAPE_TEMPLATES = [
    "a photo of a {s}",
    "a photo of the shape {s}",
    "a {s}",
    "the shape of a {s}",
    "a drawing of a {s}",
    "an event camera image of a {s}",
    "a neuromorphic image of a {s}",
    "a picture of a {s}",
    "a simple {s} shape",
]


def caption(label: int, rng: np.random.Generator) -> str:
    """A varied caption for class ``label`` (an index into ``CLASSES``)."""
    if label < 10:
        template = DIGIT_TEMPLATES[rng.integers(len(DIGIT_TEMPLATES))]
        return template.format(d=DIGITS[label], w=DIGIT_WORDS[label])
    template = SHAPE_TEMPLATES[rng.integers(len(SHAPE_TEMPLATES))]
    return template.format(s=SHAPES[label - 10])


# --------------------------------------------------------------------------- object masks

# Pen strokes of each digit in a unit box (x right, y down); each stroke is a
# polyline smoothed by a Catmull-Rom spline. Several variants per digit.
_ELLIPSE = "ellipse"  # marker: a closed loop (cx, cy, rx, ry)
_DIGIT_STROKES: dict[int, list[list]] = {
    0: [
        [(_ELLIPSE, 0.5, 0.5, 0.32, 0.46)],
        [(_ELLIPSE, 0.5, 0.5, 0.26, 0.47)],
    ],
    1: [
        [[(0.55, 0.03), (0.45, 0.97)]],
        [[(0.35, 0.2), (0.6, 0.03), (0.55, 0.97)]],
        [[(0.35, 0.2), (0.6, 0.03), (0.55, 0.97)], [(0.35, 0.97), (0.75, 0.97)]],
    ],
    2: [
        [[(0.18, 0.28), (0.4, 0.05), (0.72, 0.1), (0.78, 0.35), (0.5, 0.65), (0.17, 0.95), (0.5, 0.93), (0.85, 0.95)]],
        [[(0.2, 0.25), (0.5, 0.04), (0.8, 0.28), (0.6, 0.55), (0.2, 0.95), (0.85, 0.93)]],
        [
            [
                (0.2, 0.3),
                (0.45, 0.05),
                (0.78, 0.2),
                (0.7, 0.5),
                (0.3, 0.85),
                (0.2, 0.95),
                (0.35, 0.8),
                (0.6, 0.85),
                (0.9, 0.95),
            ]
        ],
    ],
    3: [
        [
            [
                (0.18, 0.15),
                (0.5, 0.03),
                (0.78, 0.2),
                (0.65, 0.42),
                (0.4, 0.5),
                (0.7, 0.58),
                (0.82, 0.78),
                (0.5, 0.97),
                (0.15, 0.85),
            ]
        ],
        [[(0.2, 0.05), (0.8, 0.05), (0.45, 0.42), (0.75, 0.55), (0.8, 0.8), (0.5, 0.97), (0.18, 0.85)]],
    ],
    4: [
        [[(0.3, 0.03), (0.18, 0.6), (0.88, 0.58)], [(0.7, 0.1), (0.68, 0.97)]],
        [[(0.65, 0.97), (0.65, 0.03), (0.12, 0.65), (0.88, 0.65)]],
        [[(0.25, 0.05), (0.22, 0.55), (0.75, 0.55)], [(0.75, 0.05), (0.72, 0.97)]],
    ],
    5: [
        [
            [(0.8, 0.04), (0.3, 0.04), (0.25, 0.45)],
            [(0.25, 0.45), (0.55, 0.38), (0.8, 0.6), (0.72, 0.88), (0.45, 0.97), (0.15, 0.85)],
        ],
        [[(0.75, 0.05), (0.35, 0.07), (0.28, 0.42), (0.6, 0.42), (0.8, 0.68), (0.55, 0.95), (0.2, 0.88)]],
    ],
    6: [
        [
            [
                (0.72, 0.04),
                (0.4, 0.3),
                (0.22, 0.65),
                (0.3, 0.9),
                (0.55, 0.97),
                (0.78, 0.8),
                (0.7, 0.55),
                (0.45, 0.52),
                (0.24, 0.68),
            ]
        ],
        [[(0.65, 0.03), (0.3, 0.35), (0.2, 0.72)], (_ELLIPSE, 0.48, 0.72, 0.27, 0.24)],
    ],
    7: [
        [[(0.15, 0.05), (0.85, 0.05), (0.4, 0.97)]],
        [[(0.15, 0.12), (0.3, 0.05), (0.85, 0.05), (0.55, 0.5), (0.45, 0.97)]],
        [[(0.15, 0.05), (0.85, 0.05), (0.4, 0.97)], [(0.35, 0.5), (0.8, 0.5)]],
    ],
    8: [
        [(_ELLIPSE, 0.5, 0.26, 0.22, 0.22), (_ELLIPSE, 0.5, 0.72, 0.27, 0.25)],
        [
            [
                (0.7, 0.12),
                (0.5, 0.03),
                (0.25, 0.18),
                (0.35, 0.4),
                (0.7, 0.6),
                (0.78, 0.82),
                (0.5, 0.97),
                (0.22, 0.82),
                (0.3, 0.6),
                (0.65, 0.4),
                (0.75, 0.2),
                (0.7, 0.12),
            ]
        ],
    ],
    9: [
        [(_ELLIPSE, 0.48, 0.3, 0.26, 0.24), [(0.74, 0.3), (0.7, 0.6), (0.6, 0.97)]],
        [[(0.75, 0.3), (0.5, 0.5), (0.25, 0.35), (0.4, 0.08), (0.7, 0.1), (0.75, 0.3), (0.72, 0.97)]],
    ],
}


def _catmull_rom(points: np.ndarray, per_segment: int = 8) -> np.ndarray:
    """A smooth curve through ``points`` (N x 2)."""
    if len(points) < 3:
        return points
    p = np.vstack([points[0], points, points[-1]])
    s = np.linspace(0.0, 1.0, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(
            0.5
            * (2 * p1 + (-p0 + p2) * s + (2 * p0 - 5 * p1 + 4 * p2 - p3) * s**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * s**3)
        )
    out.append(points[-1:])
    return np.vstack(out)


def _stroke_polylines(digit: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Jittered pen strokes of a digit, in the unit box."""
    variants = _DIGIT_STROKES[digit]
    strokes = variants[rng.integers(len(variants))]
    jitter = rng.uniform(0.02, 0.06)
    lines = []
    for stroke in strokes:
        if isinstance(stroke, tuple) and stroke[0] == _ELLIPSE:
            _, cx, cy, rx, ry = stroke
            rx *= rng.uniform(0.8, 1.15)
            ry *= rng.uniform(0.85, 1.1)
            start = rng.uniform(0, 2 * np.pi)
            gap = rng.uniform(-0.25, 0.35)  # negative: overlap, positive: an open loop
            a = start + np.linspace(0, 2 * np.pi - gap, 9)
            pts = np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], 1)
            pts = pts + rng.normal(0, jitter * 0.6, pts.shape)
            lines.append(_catmull_rom(pts, 10))
        else:
            pts = np.asarray(stroke, dtype=np.float64)
            pts = pts + rng.normal(0, jitter, pts.shape)
            lines.append(_catmull_rom(pts, 10))
    return lines


def _affine(
    points: np.ndarray, rng: np.random.Generator, rotation_deg: float, shear: float, aspect: float
) -> np.ndarray:
    """Rotate, shear and squash unit-box points about the centre."""
    c = points - 0.5
    c = c @ np.array([[aspect, 0.0], [0.0, 1.0]])
    c = c @ np.array([[1.0, 0.0], [shear, 1.0]])  # x += shear * y
    a = math.radians(rotation_deg)
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    return c @ rot + 0.5


@dataclass
class Pose:
    """Where and how big an object is drawn: centre (x, y) and height in pixels, rotation in degrees."""

    cx: float
    cy: float
    height: float
    rotation: float = 0.0


def _draw_polylines(draw: ImageDraw.ImageDraw, lines: list[np.ndarray], width: float) -> None:
    w = max(1, round(width))
    r = w / 2.0
    for line in lines:
        pts = [tuple(p) for p in line]
        draw.line(pts, fill=255, width=w, joint="curve")
        for x, y in (pts[0], pts[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)


@lru_cache(maxsize=256)
def _font(name: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / name), px)


def _glyph_mask(label: int, box: int, rng: np.random.Generator, style: str) -> np.ndarray:
    """An upright mask (box x box, float32 in [0, 1]) of the object, before rotation/placement."""
    img = Image.new("L", (box, box), 0)
    draw = ImageDraw.Draw(img)
    if label < 10 and style == "font":
        name = FONT_FILES[rng.integers(len(FONT_FILES))]
        font = _font(name, int(box * 0.95))
        left, top, right, bottom = draw.textbbox((0, 0), DIGITS[label], font=font)
        draw.text(
            ((box - (right - left)) / 2 - left, (box - (bottom - top)) / 2 - top), DIGITS[label], fill=255, font=font
        )
        if rng.random() < 0.5:  # heavier strokes, as in thick handwriting
            from PIL import ImageFilter

            k = 2 * int(rng.integers(1, max(2, box // 24))) + 1
            img = img.filter(ImageFilter.MaxFilter(k))
        return np.asarray(img, dtype=np.float32) / 255.0
    if label < 10:
        lines = _stroke_polylines(label, rng)
        lines = [_affine(line, rng, 0.0, rng.uniform(-0.35, 0.15), rng.uniform(0.7, 1.1)) for line in lines]
        margin = 0.1
        lines = [(margin + (1 - 2 * margin) * line) * box for line in lines]
        _draw_polylines(draw, lines, box * rng.uniform(0.09, 0.17))
        return np.asarray(img, dtype=np.float32) / 255.0
    _draw_shape(draw, SHAPES[label - 10], box, rng)
    return np.asarray(img, dtype=np.float32) / 255.0


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: int, rng: np.random.Generator) -> None:
    """One of ``SHAPES``, outlined or filled at random, centred in a box x box canvas."""
    filled = rng.random() < 0.5
    lw = max(1, round(box * rng.uniform(0.07, 0.14)))
    m = box * 0.1
    s = box - 2 * m
    c = box / 2
    if shape == "circle":
        ry = s / 2
        rx = ry * rng.uniform(0.85, 1.0)
        bb = (c - rx, c - ry, c + rx, c + ry)
        draw.ellipse(bb, fill=255 if filled else None, outline=255, width=lw)
    elif shape == "square":
        h = s / 2 * rng.uniform(0.8, 1.0)
        bb = (c - h, c - h, c + h, c + h)
        draw.rectangle(bb, fill=255 if filled else None, outline=255, width=lw)
    elif shape == "triangle":
        pts = [(c, m), (m, box - m), (box - m, box - m)]
        if filled:
            draw.polygon(pts, fill=255)
        else:
            draw.line([*pts, pts[0], pts[1]], fill=255, width=lw, joint="curve")
    elif shape == "star":
        a = -np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, s / 2, s / 2 * rng.uniform(0.35, 0.5))
        pts = [(c + ri * math.cos(ai), c + ri * math.sin(ai)) for ai, ri in zip(a, r, strict=True)]
        if filled:
            draw.polygon(pts, fill=255)
        else:
            draw.line([*pts, pts[0], pts[1]], fill=255, width=lw, joint="curve")
    elif shape == "cross":
        w = max(lw, round(s * rng.uniform(0.15, 0.3)))
        draw.rectangle((c - w / 2, m, c + w / 2, box - m), fill=255)
        draw.rectangle((m, c - w / 2, box - m, c + w / 2), fill=255)
    elif shape == "line":
        w = max(lw, round(s * rng.uniform(0.06, 0.14)))
        draw.line([(m, c), (box - m, c)], fill=255, width=w)


def object_mask(
    label: int,
    size: SensorSize,
    pose: Pose,
    rng: np.random.Generator,
    style: str | None = None,
    supersample: int = 4,
) -> np.ndarray:
    """The object as a float32 mask (1 inside, 0 outside) of ``supersample`` times the sensor size.

    ``style`` is "font" or "strokes" for digits (random when None); shapes ignore it.
    Downsample with ``downsample`` after any sub-pixel motion (see ``shift``).
    """
    if style is None:
        style = "strokes" if rng.random() < 0.7 else "font"
    ss = supersample
    box = max(8, round(pose.height * ss))
    glyph = Image.fromarray((_glyph_mask(label, box, rng, style) * 255).astype(np.uint8))
    glyph = glyph.rotate(pose.rotation, resample=Image.BILINEAR, expand=True)
    canvas = Image.new("L", (size.width * ss, size.height * ss), 0)
    gx = round(pose.cx * ss - glyph.width / 2)
    gy = round(pose.cy * ss - glyph.height / 2)
    canvas.paste(glyph, (gx, gy))
    return np.asarray(canvas, dtype=np.float32) / 255.0


def shift(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Shift a (supersampled) mask by whole pixels, filling with 0."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    if abs(dx) < w and abs(dy) < h:
        out[yd, xd] = mask[ys, xs]
    return out


def intensity(mask: np.ndarray, foreground: float, background: float) -> np.ndarray:
    """Scene intensity (0..1) from a mask: the object over a uniform background."""
    return background + (foreground - background) * mask
