"""Teaching while the stream runs: train on examples held in memory, then swap the adapter into the classifier.

What a window's Teach panel needs of the core, without Qt:
- ``train_examples``: ``train``'s recipe (``fewshot.train_on_split``) on an
  ``ExampleSet``, callable from a background thread, with a progress callback
  and a cancel flag (``training.FitProgress``). The same examples saved with
  ``ExampleSet.save`` and trained with ``neuroclip-live train`` give the same
  adapter (same seed).
- ``ClassifierSetup``: what a classifier scores with (labels, templates,
  adapter, alpha). ``setup_of`` reads it, ``apply_setup`` changes to another
  one, all checks first, so a refused change leaves the classifier as it
  was. Run both on the worker thread (``Pipeline.call_classifier``): the
  swap then takes effect at the next timestep, with no restart, and the
  setup read before it is what to return to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuroclip_live.errors import ModelError
from neuroclip_live.model.adapter import InterTimestepAdapter
from neuroclip_live.model.classifier import StreamingClassifier, uniform_alpha
from neuroclip_live.offline.examples import ExampleSet
from neuroclip_live.offline.extractors import LocalExtractor
from neuroclip_live.offline.fewshot import FewShotSettings, TextModel, TrainedAdapter, train_on_split
from neuroclip_live.offline.training import FitProgress


# What teaching from a stream trains with by default: time steps (the examples are windows of them) and the
# scale and placement jitter, which on the sample recording's objects seen at other sizes and places raised the
# windows named from 58.8% to 71.3% (benchmarks/teach_jitter.py, 3 seeds), while it cost N-MNIST's centred
# digits 5.5-9.2 points (so ``train`` keeps it off unless asked).
TEACH_SETTINGS = FewShotSettings(T=10, cut="time", jitter=True, progress=False)


def train_examples(
    examples: ExampleSet,
    tm: TextModel,
    settings: FewShotSettings,
    shots_per_class: int,
    val_per_class: int,
    progress: FitProgress | None = None,
) -> TrainedAdapter:
    """``train`` on examples in memory: the same draws, features and adapter as on the saved folder.

    ``tm``'s classes must be the examples' class names in ``examples.as_split()`` order
    (``load_text_model(model, split.folders, split.classes, None)`` gives that).
    """
    data = examples.as_split()
    if list(tm.classes) != data.classes:
        raise ValueError(f"text model classes {tm.classes} are not the examples' classes {data.classes}")
    s = settings
    features = LocalExtractor(tm.backbone, s.T, s.cut, s.batch_size, s.progress, read=examples.read)
    return train_on_split(data, tm, s, shots_per_class, val_per_class, features, examples.size, progress)


@dataclass(frozen=True)
class ClassifierSetup:
    """What a ``StreamingClassifier`` scores with."""

    labels: tuple[str, ...]
    templates: tuple[str, ...]
    ensemble: bool
    adapter: InterTimestepAdapter | None
    alpha: np.ndarray


def setup_of(clf: StreamingClassifier) -> ClassifierSetup:
    """The classifier's current setup (to return to after trying another)."""
    return ClassifierSetup(tuple(clf.labels), tuple(clf.templates), clf.ensemble, clf.adapter, clf.alpha.copy())


def trained_setup(trained: TrainedAdapter, ensemble: bool = True) -> ClassifierSetup:
    """The setup of a freshly trained adapter: its classes, templates and alpha."""
    info = trained.info
    return ClassifierSetup(tuple(info.classes), tuple(info.templates), ensemble, trained.adapter,
                           np.asarray(info.alpha if info.alpha is not None else uniform_alpha(info.T)))  # fmt: skip


def apply_setup(clf: StreamingClassifier, setup: ClassifierSetup) -> list[str]:
    """Score with ``setup`` from the next frame on; notes on what was adjusted. Call it on the worker thread.

    An adapter for other features is refused (``ModelError``); labels the model refuses leave the
    classifier as it was. Alpha weights for another window length than the classifier's are replaced
    by uniform ones (a note says so). The window and the adapter's membrane start afresh.
    """
    notes: list[str] = []
    if setup.adapter is not None and setup.adapter.dim != clf.backbone.embed_dim:
        raise ModelError(f"the adapter is for {setup.adapter.dim}-d features, the model gives "
                         f"{clf.backbone.embed_dim}")  # fmt: skip
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
    return notes
