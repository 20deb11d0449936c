"""Event augmentations for few-shot training: rotation, horizontal flip, shear.

They move event coordinates about the sensor centre and drop events that
leave the sensor, as the original NeuroCLIP code augments before framing.
Written with numpy rather than tonic: tonic brings many dependencies for
three affine maps, and has no shear.
"""

from __future__ import annotations

import math

import numpy as np

from neuroclip_live.events import SensorSize


def affine_events(events: np.ndarray, size: SensorSize, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x2 ``matrix`` about the sensor centre; events that land outside are dropped."""
    cx, cy = (size.width - 1) / 2, (size.height - 1) / 2
    x = events["x"].astype(np.float64) - cx
    y = events["y"].astype(np.float64) - cy
    nx = np.rint(matrix[0, 0] * x + matrix[0, 1] * y + cx)
    ny = np.rint(matrix[1, 0] * x + matrix[1, 1] * y + cy)
    inside = (nx >= 0) & (nx < size.width) & (ny >= 0) & (ny < size.height)
    out = events[inside].copy()
    out["x"] = nx[inside]
    out["y"] = ny[inside]
    return out


def draw_augment(
    rng: np.random.Generator, max_rotation_deg: float = 10.0, max_shear_deg: float = 5.0, flip: bool = True
) -> np.ndarray:
    """The 2x2 map of one random augmentation: rotation, shear, a horizontal flip half the time.

    Drawn apart from applying it so that a run can draw every view's map in order on one
    process and apply them anywhere (Ray workers) with the same result.
    """
    a = math.radians(rng.uniform(-max_rotation_deg, max_rotation_deg))
    s = math.tan(math.radians(rng.uniform(-max_shear_deg, max_shear_deg)))
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    shear = np.array([[1.0, s], [0.0, 1.0]])
    m = rotation @ shear
    if flip and rng.random() < 0.5:
        m = np.array([[-1.0, 0.0], [0.0, 1.0]]) @ m
    return m


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
