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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from neuroclip_live.events import EVENT_DTYPE, SensorSize
from neuroclip_live.model.label_presets import DIGITS, SHAPES

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
        [[(0.2, 0.3), (0.45, 0.05), (0.78, 0.2), (0.7, 0.5), (0.3, 0.85), (0.2, 0.95), (0.35, 0.8), (0.6, 0.85), (0.9, 0.95)]],
    ],
    3: [
        [[(0.18, 0.15), (0.5, 0.03), (0.78, 0.2), (0.65, 0.42), (0.4, 0.5), (0.7, 0.58), (0.82, 0.78), (0.5, 0.97), (0.15, 0.85)]],
        [[(0.2, 0.05), (0.8, 0.05), (0.45, 0.42), (0.75, 0.55), (0.8, 0.8), (0.5, 0.97), (0.18, 0.85)]],
    ],
    4: [
        [[(0.3, 0.03), (0.18, 0.6), (0.88, 0.58)], [(0.7, 0.1), (0.68, 0.97)]],
        [[(0.65, 0.97), (0.65, 0.03), (0.12, 0.65), (0.88, 0.65)]],
        [[(0.25, 0.05), (0.22, 0.55), (0.75, 0.55)], [(0.75, 0.05), (0.72, 0.97)]],
    ],
    5: [
        [[(0.8, 0.04), (0.3, 0.04), (0.25, 0.45)], [(0.25, 0.45), (0.55, 0.38), (0.8, 0.6), (0.72, 0.88), (0.45, 0.97), (0.15, 0.85)]],
        [[(0.75, 0.05), (0.35, 0.07), (0.28, 0.42), (0.6, 0.42), (0.8, 0.68), (0.55, 0.95), (0.2, 0.88)]],
    ],
    6: [
        [[(0.72, 0.04), (0.4, 0.3), (0.22, 0.65), (0.3, 0.9), (0.55, 0.97), (0.78, 0.8), (0.7, 0.55), (0.45, 0.52), (0.24, 0.68)]],
        [[(0.65, 0.03), (0.3, 0.35), (0.2, 0.72)], (_ELLIPSE, 0.48, 0.72, 0.27, 0.24)],
    ],
    7: [
        [[(0.15, 0.05), (0.85, 0.05), (0.4, 0.97)]],
        [[(0.15, 0.12), (0.3, 0.05), (0.85, 0.05), (0.55, 0.5), (0.45, 0.97)]],
        [[(0.15, 0.05), (0.85, 0.05), (0.4, 0.97)], [(0.35, 0.5), (0.8, 0.5)]],
    ],
    8: [
        [(_ELLIPSE, 0.5, 0.26, 0.22, 0.22), (_ELLIPSE, 0.5, 0.72, 0.27, 0.25)],
        [[(0.7, 0.12), (0.5, 0.03), (0.25, 0.18), (0.35, 0.4), (0.7, 0.6), (0.78, 0.82), (0.5, 0.97), (0.22, 0.82), (0.3, 0.6), (0.65, 0.4), (0.75, 0.2), (0.7, 0.12)]],
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
            * (
                2 * p1
                + (-p0 + p2) * s
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * s**2
                + (-p0 + 3 * p1 - 3 * p2 + p3) * s**3
            )
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


def _affine(points: np.ndarray, rng: np.random.Generator, rotation_deg: float, shear: float, aspect: float) -> np.ndarray:
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
    w = max(1, int(round(width)))
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
        l, t, r, b = draw.textbbox((0, 0), DIGITS[label], font=font)
        draw.text(((box - (r - l)) / 2 - l, (box - (b - t)) / 2 - t), DIGITS[label], fill=255, font=font)
        if rng.random() < 0.5:  # heavier strokes, as in thick handwriting
            from PIL import ImageFilter

            k = 2 * int(rng.integers(1, max(2, box // 24))) + 1
            img = img.filter(ImageFilter.MaxFilter(k))
        return np.asarray(img, dtype=np.float32) / 255.0
    if label < 10:
        lines = _stroke_polylines(label, rng)
        lines = [
            _affine(line, rng, 0.0, rng.uniform(-0.35, 0.15), rng.uniform(0.7, 1.1)) for line in lines
        ]
        margin = 0.1
        lines = [(margin + (1 - 2 * margin) * line) * box for line in lines]
        _draw_polylines(draw, lines, box * rng.uniform(0.09, 0.17))
        return np.asarray(img, dtype=np.float32) / 255.0
    shape = SHAPES[label - 10]
    filled = rng.random() < 0.5
    lw = max(1, int(round(box * rng.uniform(0.07, 0.14))))
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
            draw.line(pts + [pts[0], pts[1]], fill=255, width=lw, joint="curve")
    elif shape == "star":
        a = -np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, s / 2, s / 2 * rng.uniform(0.35, 0.5))
        pts = [(c + ri * math.cos(ai), c + ri * math.sin(ai)) for ai, ri in zip(a, r, strict=True)]
        if filled:
            draw.polygon(pts, fill=255)
        else:
            draw.line(pts + [pts[0], pts[1]], fill=255, width=lw, joint="curve")
    elif shape == "cross":
        w = max(lw, int(round(s * rng.uniform(0.15, 0.3))))
        draw.rectangle((c - w / 2, m, c + w / 2, box - m), fill=255)
        draw.rectangle((m, c - w / 2, box - m, c + w / 2), fill=255)
    elif shape == "line":
        w = max(lw, int(round(s * rng.uniform(0.06, 0.14))))
        draw.line([(m, c), (box - m, c)], fill=255, width=w)
    return np.asarray(img, dtype=np.float32) / 255.0


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
    box = max(8, int(round(pose.height * ss)))
    glyph = Image.fromarray((_glyph_mask(label, box, rng, style) * 255).astype(np.uint8))
    glyph = glyph.rotate(pose.rotation, resample=Image.BILINEAR, expand=True)
    canvas = Image.new("L", (size.width * ss, size.height * ss), 0)
    gx = int(round(pose.cx * ss - glyph.width / 2))
    gy = int(round(pose.cy * ss - glyph.height / 2))
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


def downsample(mask: np.ndarray, factor: int) -> np.ndarray:
    """Block mean: a supersampled mask to sensor resolution (anti-aliased edges)."""
    if factor == 1:
        return mask
    h, w = mask.shape
    return mask.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


def intensity(mask: np.ndarray, foreground: float, background: float) -> np.ndarray:
    """Scene intensity (0..1) from a mask: the object over a uniform background."""
    return background + (foreground - background) * mask


# --------------------------------------------------------------------------- event camera model


class EventCameraModel:
    """A simple DVS pixel model driven by a sequence of intensity images.

    Each pixel remembers the log intensity at its last event; when the current
    log intensity differs from it by ``k`` contrast thresholds it fires ``k``
    events (ON if brighter, OFF if darker), spread evenly in time between the
    two images, and moves its reference by ``k`` thresholds. Thresholds vary
    from pixel to pixel (``threshold_sigma``, relative) and background noise
    events arrive at ``noise_rate_hz`` per pixel (a fraction ``noise_on_fraction``
    of them ON, as real sensors are ON-biased).
    """

    def __init__(
        self,
        size: SensorSize,
        rng: np.random.Generator,
        threshold: float = 0.2,
        threshold_sigma: float = 0.1,
        noise_rate_hz: float = 0.5,
        noise_on_fraction: float = 0.7,
        eps: float = 0.02,
    ) -> None:
        self.size = size
        self.rng = rng
        self.eps = eps
        self.noise_rate_hz = noise_rate_hz
        self.noise_on_fraction = noise_on_fraction
        self.thresholds = threshold * np.clip(
            1.0 + threshold_sigma * rng.standard_normal((size.height, size.width)), 0.5, 1.5
        )
        self._ref: np.ndarray | None = None
        self._t: int | None = None

    def reset(self, image: np.ndarray, t_us: int) -> None:
        """Start from ``image`` (H x W intensities in [0, 1]) at time ``t_us`` without firing."""
        self._ref = np.log(image.astype(np.float64) + self.eps)
        self._t = int(t_us)

    def step(self, image: np.ndarray, t_us: int) -> np.ndarray:
        """Events fired between the previous image and ``image`` at ``t_us``, time-ordered."""
        if self._ref is None or self._t is None:
            self.reset(image, t_us)
            return np.zeros(0, dtype=EVENT_DTYPE)
        t0, t1 = self._t, int(t_us)
        log_i = np.log(image.astype(np.float64) + self.eps)
        diff = log_i - self._ref
        k = np.floor(np.abs(diff) / self.thresholds).astype(np.int64)
        ys, xs = np.nonzero(k)
        counts = k[ys, xs]
        sign = np.sign(diff[ys, xs])
        self._ref[ys, xs] += sign * counts * self.thresholds[ys, xs]
        n = int(counts.sum())
        ev_x = np.repeat(xs, counts)
        ev_y = np.repeat(ys, counts)
        ev_p = np.repeat(sign > 0, counts)
        # The j-th of k crossings happens at fraction (j + 1) / (k + 1)... roughly, with jitter.
        j = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
        frac = (j + self.rng.uniform(0.2, 0.8, n)) / np.repeat(counts, counts)
        ev_t = t0 + frac * (t1 - t0)
        noise = self._noise(t0, t1)
        events = np.empty(n + noise.shape[0], dtype=EVENT_DTYPE)
        events["t"][:n] = ev_t
        events["x"][:n] = ev_x
        events["y"][:n] = ev_y
        events["p"][:n] = ev_p
        events[n:] = noise
        self._t = t1
        return events[np.argsort(events["t"], kind="stable")]

    def _noise(self, t0: int, t1: int) -> np.ndarray:
        area = self.size.width * self.size.height
        n = self.rng.poisson(self.noise_rate_hz * area * max(t1 - t0, 0) * 1e-6)
        out = np.empty(n, dtype=EVENT_DTYPE)
        out["t"] = self.rng.integers(t0, max(t1, t0 + 1), n)
        out["x"] = self.rng.integers(0, self.size.width, n)
        out["y"] = self.rng.integers(0, self.size.height, n)
        out["p"] = self.rng.random(n) < self.noise_on_fraction
        return out


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
        image = intensity(downsample(shift(mask, int(round(x * ss)), int(round(y * ss))), ss), fg, bg)
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
