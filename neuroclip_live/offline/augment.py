"""Event augmentations for few-shot training: rotation, horizontal flip, shear, and scale and placement jitter.

They move event coordinates and drop events that leave the sensor, as the
original NeuroCLIP code augments before framing. Written with numpy rather
than tonic: tonic brings many dependencies for a few affine maps, and has no
shear. Frames are rendered from the moved events afterwards, so the padding
(pixels without events) stays the background 127.

A view's map is drawn apart from applying it (``draw_view``, ``apply_view``)
so that a run can draw every view's map in order on one process and apply
them anywhere (Ray workers) with the same result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neuroclip_live.events import SensorSize

# Percentiles of the event coordinates taken as the object's extent: a few noise events far away
# must not make the object as large as the sensor.
_EXTENT_PERCENTILES = (1.0, 99.0)


@dataclass(frozen=True)
class Augmentation:
    """What a few-shot view may do to a sample's events.

    ``jitter``: also scale the object by ``scale`` (0.6-1.4×) and place it anywhere on the sensor where
    it fits (a captured example is one size at one place; the stream shows others).
    """

    rotation_deg: float = 10.0
    shear_deg: float = 5.0
    flip: bool = True
    jitter: bool = False
    scale: tuple[float, float] = (0.6, 1.4)


def affine_events(events: np.ndarray, size: SensorSize, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x2 ``matrix`` about the sensor centre; events that land outside are dropped."""
    cx, cy = (size.width - 1) / 2, (size.height - 1) / 2
    x = events["x"].astype(np.float64) - cx
    y = events["y"].astype(np.float64) - cy
    return _placed(events, size, matrix[0, 0] * x + matrix[0, 1] * y + cx, matrix[1, 0] * x + matrix[1, 1] * y + cy)


def _placed(events: np.ndarray, size: SensorSize, nx: np.ndarray, ny: np.ndarray) -> np.ndarray:
    nx, ny = np.rint(nx), np.rint(ny)
    inside = (nx >= 0) & (nx < size.width) & (ny >= 0) & (ny < size.height)
    out = events[inside].copy()
    out["x"] = nx[inside]
    out["y"] = ny[inside]
    return out


def draw_augment(
    rng: np.random.Generator, max_rotation_deg: float = 10.0, max_shear_deg: float = 5.0, flip: bool = True
) -> np.ndarray:
    """The 2x2 map of one random augmentation: rotation, shear, a horizontal flip half the time."""
    a = math.radians(rng.uniform(-max_rotation_deg, max_rotation_deg))
    s = math.tan(math.radians(rng.uniform(-max_shear_deg, max_shear_deg)))
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    shear = np.array([[1.0, s], [0.0, 1.0]])
    m = rotation @ shear
    if flip and rng.random() < 0.5:
        m = np.array([[-1.0, 0.0], [0.0, 1.0]]) @ m
    return m


def draw_view(rng: np.random.Generator, aug: Augmentation) -> tuple[float, ...]:
    """One view's map as numbers: the 2x2 matrix (4), and with jitter the placement (ux, uy) in [0, 1) after it.

    Without jitter the draws are those of ``draw_augment`` alone, so the views (and cached rows) of
    runs without jitter are what they always were.
    """
    m = draw_augment(rng, aug.rotation_deg, aug.shear_deg, aug.flip)
    if not aug.jitter:
        return tuple(float(v) for v in m.ravel())
    m = m * rng.uniform(*aug.scale)
    ux, uy = rng.random(2)
    return (*(float(v) for v in m.ravel()), float(ux), float(uy))


def apply_view(events: np.ndarray, size: SensorSize, transform: tuple[float, ...]) -> np.ndarray:
    """The events of one view drawn by ``draw_view``."""
    matrix = np.asarray(transform[:4], dtype=np.float64).reshape(2, 2)
    if len(transform) == 4:
        return affine_events(events, size, matrix)
    return jitter_events(events, size, matrix, transform[4], transform[5])


def jitter_events(events: np.ndarray, size: SensorSize, matrix: np.ndarray, ux: float, uy: float) -> np.ndarray:
    """Map the object (its events' extent) by ``matrix`` about its centre, then place it at (ux, uy) of the room left.

    (0, 0) puts it against the top-left corner, (1, 1) against the bottom-right; an object larger
    than the sensor after the map covers it, its overhang placed the same way. An enlarging map
    spreads each event over the pixels its own pixel now covers, so an enlarged object has no holes.
    """
    if events.shape[0] == 0:
        return events.copy()
    x, y = events["x"].astype(np.float64), events["y"].astype(np.float64)
    (x0, x1), (y0, y1) = np.percentile(x, _EXTENT_PERCENTILES), np.percentile(y, _EXTENT_PERCENTILES)
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    reps = max(1, math.ceil(math.sqrt(abs(np.linalg.det(matrix))) - 1e-9))
    if reps > 1:
        offsets = (np.arange(reps) + 0.5) / reps - 0.5  # sub-pixel positions inside each source pixel
        dx, dy = np.meshgrid(offsets, offsets)
        events = np.repeat(events, reps * reps)
        x = np.repeat(x, reps * reps) + np.tile(dx.ravel(), x.shape[0])
        y = np.repeat(y, reps * reps) + np.tile(dy.ravel(), y.shape[0])
    q = matrix @ np.stack([x - centre[0], y - centre[1]])
    corners = matrix @ (np.array([[x0, x1, x0, x1], [y0, y0, y1, y1]]) - centre[:, None])
    placed = []
    for axis, (u, extent) in enumerate(((ux, size.width), (uy, size.height))):
        low, high = -corners[axis].min(), extent - 1 - corners[axis].max()  # where the centre may go
        low, high = min(low, high), max(low, high)
        placed.append(q[axis] + low + u * (high - low))
    return _placed(events, size, placed[0], placed[1])


def random_augment(
    events: np.ndarray,
    size: SensorSize,
    rng: np.random.Generator,
    max_rotation_deg: float = 10.0,
    max_shear_deg: float = 5.0,
    flip: bool = True,
) -> np.ndarray:
    """Rotation within ±max_rotation_deg, shear within ±max_shear_deg, a horizontal flip half the time."""
    return affine_events(events, size, draw_augment(rng, max_rotation_deg, max_shear_deg, flip))
