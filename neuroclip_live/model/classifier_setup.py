"""What a ``StreamingClassifier`` scores with, read whole and changed whole: its labels, templates, adapter, alpha.

``setup_of`` reads the setup, ``apply_setup`` changes to another one, all
checks first, so a refused change leaves the classifier as it was. Both run on
the thread that owns the classifier (the pipeline's worker): a swap then takes
effect at the next timestep, with no restart, and the setup read before it is
what to return to. A taught adapter in use (``runtime.controls.Controls.taught``)
is one of these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuroclip_live.errors import ModelError
from neuroclip_live.model.adapter import InterTimestepAdapter
from neuroclip_live.model.classifier import StreamingClassifier, uniform_alpha


@dataclass(frozen=True, eq=False)  # compared by identity: two trainings are two setups, even with equal classes
class ClassifierSetup:
    """What a ``StreamingClassifier`` scores with."""

    labels: tuple[str, ...]
    templates: tuple[str, ...]
    ensemble: bool
    adapter: InterTimestepAdapter | None
    alpha: np.ndarray
    centred: bool = False  # frames cropped around their events first (the adapter was trained so)


def setup_of(clf: StreamingClassifier) -> ClassifierSetup:
    """The classifier's current setup (to return to after trying another)."""
    return ClassifierSetup(
        tuple(clf.labels), tuple(clf.templates), clf.ensemble, clf.adapter, clf.alpha.copy(), clf.centred
    )


def apply_setup(clf: StreamingClassifier, setup: ClassifierSetup) -> list[str]:
    """Score with ``setup`` from the next frame on; notes on what was adjusted. Call it on the classifier's thread.

    An adapter for other features is refused (``ModelError``); labels the model refuses leave the
    classifier as it was. Alpha weights for another window length than the classifier's are replaced
    by uniform ones (a note says so). The window and the adapter's membrane start afresh.
    """
    notes: list[str] = []
    if setup.adapter is not None and setup.adapter.dim != clf.backbone.embed_dim:
        raise ModelError(f"the adapter is for {setup.adapter.dim}-d features, the model gives {clf.backbone.embed_dim}")
    alpha = np.asarray(setup.alpha, dtype=np.float64)
    if alpha.shape != (clf.T,):
        notes.append(f"alpha for {alpha.size} timesteps, the window has {clf.T}: uniform weights instead")
        alpha = uniform_alpha(clf.T)
    before = setup_of(clf)
    try:
        clf.set_templates(list(setup.templates), setup.ensemble)
        notes += clf.set_labels(list(setup.labels)).notes
    except Exception:
        clf.set_templates(list(before.templates), before.ensemble)
        clf.set_labels(list(before.labels))
        raise
    clf.set_adapter(setup.adapter)
    clf.set_alpha(alpha)
    clf.centred = setup.centred
    return notes
