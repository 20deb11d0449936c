"""Ready-made label lists for the prompt editor and scripts: digits, CIFAR-10, DVS128 Gesture.

Labels are written as a person would type them into a prompt ("right hand
wave", not "right_hand_wave"), because they are wrapped in CLIP text templates.
"""

from __future__ import annotations

DIGITS = [str(d) for d in range(10)]

# The simple shapes the bundled tiny-digits model was trained on (neuroclip_live/tinyclip/synthetic.py).
SHAPES = ["circle", "square", "triangle", "star", "cross", "line"]

# Krizhevsky 2009, in the data set's class-index order.
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

# Amir et al. 2017 (IBM DVS128 Gesture), in class-index order.
DVS128_GESTURES = [
    "hand clap",
    "right hand wave",
    "left hand wave",
    "right arm clockwise",
    "right arm counter-clockwise",
    "left arm clockwise",
    "left arm counter-clockwise",
    "arm roll",
    "air drums",
    "air guitar",
    "other gesture",
]

# Name shown to the user -> labels, in the order a menu should list them.
LABEL_PRESETS: dict[str, list[str]] = {
    "Digits 0-9": DIGITS,
    "Digits and shapes": DIGITS + SHAPES,
    "CIFAR-10 classes": CIFAR10,
    "DVS128 gestures": DVS128_GESTURES,
}


def preset_labels(name: str) -> list[str]:
    """A fresh copy of a preset's labels; KeyError names the known presets."""
    try:
        return list(LABEL_PRESETS[name])
    except KeyError:
        raise KeyError(f"unknown label preset {name!r}; known: {', '.join(LABEL_PRESETS)}") from None


# Bundled models that know a fixed vocabulary: their labels when the user gives none.
MODEL_DEFAULT_LABELS: dict[str, list[str]] = {"tiny-digits": DIGITS + SHAPES}


def default_labels(model: str) -> list[str]:
    """The labels to start with for ``model`` when none are given (empty: run frames only)."""
    return list(MODEL_DEFAULT_LABELS.get(model, []))
