"""Two objects side by side, then swapped, seen by the project's event-camera model: scenes for the relevance maps.

A scene puts two of the tiny model's objects (``glyphs``) on one sensor and moves the whole
view along a small triangle, one side every 100 ms (like the saccades that made N-MNIST), so
both objects keep firing events. Half way through they swap places. ``simulate`` returns the
events and, for each phase, each object's box in sensor pixels (its mask's extent over the
whole motion): where a label's map should peak. ``random_scene`` draws scenes of any sensor
size, object, style and placement, seeded, for the validation and report sets of
``benchmarks/bench_where.py`` and for the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuroclip_live import defaults
from neuroclip_live.events import SensorSize
from neuroclip_live.model.classifier import StreamingClassifier
from neuroclip_live.stream.framing import EventFramer, TimestepRule
from neuroclip_live.stream.recording import AedatRecorder
from neuroclip_live.stream.simulator import EventCameraModel, downsample
from neuroclip_live.tinyclip.glyphs import CLASSES, Pose, intensity, object_mask, shift

SACCADE_US = 100_000  # one side of the motion triangle
STEP_US = 1_000  # the scene is re-rendered every millisecond
SUPERSAMPLE = 4

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in sensor pixels, inclusive


@dataclass(frozen=True)
class TwoObjectScene:
    """Two objects at ``centres`` (phase 1; swapped in phase 2), ``height`` pixels tall."""

    size: SensorSize
    names: tuple[str, str]  # classes of ``glyphs.CLASSES``
    centres: tuple[tuple[float, float], tuple[float, float]]
    height: float
    styles: tuple[str, str] = ("font", "font")  # digits: "font" or "strokes"; shapes ignore it
    seconds_per_phase: float = 1.0
    swap: bool = True
    seed: int = 0
    contrast: tuple[float, float] = (0.75, 0.15)  # object and background intensity


@dataclass(frozen=True)
class Phase:
    """A stretch of the scene with the objects in one place: their boxes by name."""

    t_start_us: int
    t_end_us: int
    boxes: dict[str, Box]


def _offset(t_us: int, side_px: float) -> tuple[float, float]:
    """Position along the motion triangle at ``t_us`` (pixels from its first corner)."""
    corners = [(0.0, 0.0), (side_px, 0.0), (side_px / 2, side_px * math.sqrt(3) / 2)]
    k, r = divmod(t_us, SACCADE_US)
    a, b = corners[k % 3], corners[(k + 1) % 3]
    f = r / SACCADE_US
    return a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1])


def saccade_px(height: float) -> float:
    """The motion triangle's side: an eighth of the objects' height, at least 3 pixels."""
    return max(3.0, 0.125 * height)


def _box(mask: np.ndarray, side_px: float) -> Box:
    ys, xs = np.nonzero(downsample(mask, SUPERSAMPLE) > 0.25)
    if xs.size == 0:
        raise ValueError("an object of the scene falls outside the sensor")
    return float(xs.min()), float(ys.min()), float(xs.max() + side_px), float(ys.max() + side_px * math.sqrt(3) / 2)


def simulate(scene: TwoObjectScene) -> tuple[np.ndarray, list[Phase]]:
    """The scene's events (``EVENT_DTYPE``, time-ordered, from t = 0) and its phases."""
    rng = np.random.default_rng(scene.seed)
    camera = EventCameraModel(scene.size, rng, threshold=0.3, threshold_sigma=0.08, noise_rate_hz=0.2)
    side = saccade_px(scene.height)
    orders = [(0, 1), (1, 0)] if scene.swap else [(0, 1)]
    steps = int(scene.seconds_per_phase * 1e6) // STEP_US
    chunks, phases = [], []
    for p, order in enumerate(orders):
        masks = []
        for k, name in enumerate(scene.names):
            cx, cy = scene.centres[order[k]]
            # The same glyph in both phases: its own generator, seeded by the scene and the object.
            glyph_rng = np.random.default_rng([scene.seed, k])
            pose = Pose(cx, cy, scene.height)
            masks.append(object_mask(CLASSES.index(name), scene.size, pose, glyph_rng, scene.styles[k], SUPERSAMPLE))
        t0 = p * steps * STEP_US
        phases.append(
            Phase(t0, t0 + steps * STEP_US, {n: _box(m, side) for n, m in zip(scene.names, masks, strict=True)})
        )
        chunks += _move(camera, np.maximum(*masks), scene, side, t0, steps, first=p == 0)
    return np.concatenate(chunks), phases


def _move(
    camera: EventCameraModel, mask: np.ndarray, scene: TwoObjectScene, side: float, t0: int, steps: int, first: bool
) -> list[np.ndarray]:
    chunks, last, image = [], None, None
    for s in range(steps):
        dx, dy = _offset(s * STEP_US, side)
        moved = (round(dx * SUPERSAMPLE), round(dy * SUPERSAMPLE))
        if moved != last:  # re-render only when the view moved by a sub-pixel step
            image = intensity(downsample(shift(mask, *moved), SUPERSAMPLE), *scene.contrast)
            last = moved
        if first and s == 0:
            camera.reset(image, t0)
            continue
        chunks.append(camera.step(image, t0 + s * STEP_US))
    return chunks


def boxes_at(phases: list[Phase], t_us: float) -> dict[str, Box]:
    """The objects' boxes at ``t_us`` (empty outside the scene)."""
    for phase in phases:
        if phase.t_start_us <= t_us < phase.t_end_us:
            return phase.boxes
    return {}


def inside(point: tuple[float, float], box: Box, margin: float = 0.0) -> bool:
    x, y = point
    x0, y0, x1, y1 = box
    return x0 - margin <= x <= x1 + margin and y0 - margin <= y <= y1 + margin


def random_scene(rng: np.random.Generator, seconds_per_phase: float = 1.0) -> TwoObjectScene:
    """Two different objects of the 16 classes on a sensor of 64-400 by 48-300 pixels, side by side or stacked.

    The objects fill 55-85% of their half of the sensor (the tiny model was trained on objects
    filling most of its view), at random places in their half, in random digit styles.
    """
    while True:
        width, height = int(rng.integers(64, 400)), int(rng.integers(48, 300))
        if max(width, height) / min(width, height) <= 2.5:
            break
    names = tuple(str(n) for n in rng.choice(CLASSES, 2, replace=False))
    across = width >= height  # side by side on a wide sensor, one above the other on a tall one
    long_side, short_side = (width, height) if across else (height, width)
    tall = min(long_side / 2, short_side) * rng.uniform(0.55, 0.85)
    m = tall * 0.55  # half the object and a little more: both stay whole on the sensor
    drift = saccade_px(tall)

    def between(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, max(lo, hi)))

    first = (between(m, long_side / 2 - 0.8 * m), between(m, short_side - m - drift))
    second = (between(long_side / 2 + 0.6 * m, long_side - m - drift), between(m, short_side - m - drift))
    if not across:
        first, second = first[::-1], second[::-1]
    styles = tuple(str(s) for s in rng.choice(["font", "strokes"], 2))
    return TwoObjectScene(
        SensorSize(width, height),
        names,
        (first, second),
        tall,
        styles,
        seconds_per_phase,
        True,
        int(rng.integers(2**31)),
    )  # type: ignore[arg-type]


def write_recording(events: np.ndarray, size: SensorSize, path: str | Path) -> Path:
    """The events as an ``.aedat4`` file (what ``--file`` replays)."""
    with AedatRecorder(path, size, camera_name="neuroclip-live-scene") as recorder:
        recorder.write(events)
    return Path(path)


@dataclass(frozen=True)
class SceneScore:
    """How often each object's label peaked inside its box (with ``margin`` pixels), over the scene's timesteps."""

    scene: TwoObjectScene
    hits: dict[str, int]
    timesteps: int

    @property
    def rate(self) -> float:
        return sum(self.hits.values()) / max(1, len(self.hits) * self.timesteps)


def score_scene(classifier: StreamingClassifier, scene: TwoObjectScene, margin: float = 8.0) -> SceneScore:
    """Run ``scene`` through ``classifier`` (maps on, 30 ms timesteps) and count its labels' peaks in their boxes.

    A timestep counts for the phase its middle falls in. The classifier's labels must hold the scene's objects.
    """
    events, phases = simulate(scene)
    framer = EventFramer(scene.size, TimestepRule.parse(defaults.TIMESTEP), classifier.T)
    classifier.reset()
    classifier.set_where(True)
    hits = dict.fromkeys(scene.names, 0)
    count = 0
    for frame in framer.frames(events):
        boxes = boxes_at(phases, (frame.t_start_us + frame.t_end_us) / 2)
        if not boxes:
            continue
        maps = classifier.step(frame.image[None])[0].where
        count += 1
        for name, box in boxes.items():
            hits[name] += inside(maps.peak(name), box, margin)
    return SceneScore(scene, hits, count)
