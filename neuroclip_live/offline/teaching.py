"""Teaching while the stream runs: train on examples held in memory, then swap the adapter into the classifier.

What a window's Teach panel needs of the core, without Qt:
- ``train_examples``: ``train``'s recipe (``fewshot.train_on_split``) on an
  ``ExampleSet``, callable from a background thread, with a progress callback
  and a cancel flag (``training.FitProgress``). The same examples saved with
  ``ExampleSet.save`` and trained with ``neuroclip-live train`` give the same
  adapter (same seed).
- ``trained_setup``: the ``model.classifier_setup.ClassifierSetup`` of a
  trained adapter (its classes, templates, alpha), which ``Controls.taught``
  puts in place of the labels at the next timestep, with no restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from neuroclip_live.model.centring import trained_centred
from neuroclip_live.offline.examples import ExampleSet
from neuroclip_live.offline.fewshot import FewShotSettings, TextModel, TrainedAdapter

if TYPE_CHECKING:  # torch: the window imports this module (TEACH_SETTINGS) and opens before torch loads
    from neuroclip_live.model.classifier_setup import ClassifierSetup
    from neuroclip_live.offline.training import FitProgress

# What teaching from a stream trains with by default: time steps (the examples are windows of them), frames
# centred on their events (model.centring) and the scale and placement jitter. On the sample recording's objects
# seen at other sizes, places and styles (benchmarks/teach_jitter.py, chosen on its validation recordings) the
# jitter raised the windows named from 52% to 64%, centring with it to 93% (unseen recording: 58%, 72%, 96%);
# both are off for ``train`` (``--jitter``, ``--centre``), whose N-MNIST digits are all centred and one size.
TEACH_SETTINGS = FewShotSettings(T=10, cut="time", jitter=True, centre=True, progress=False)


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
    from neuroclip_live.offline.extractors import LocalExtractor
    from neuroclip_live.offline.fewshot import train_on_split

    data = examples.as_split()
    if list(tm.classes) != data.classes:
        raise ValueError(f"text model classes {tm.classes} are not the examples' classes {data.classes}")
    s = settings
    features = LocalExtractor(tm.backbone, s.T, s.framing, s.batch_size, s.progress, read=examples.read)
    return train_on_split(data, tm, s, shots_per_class, val_per_class, features, examples.size, progress)


def trained_setup(trained: TrainedAdapter, ensemble: bool = True) -> ClassifierSetup:
    """The setup of a freshly trained adapter: its classes, templates and alpha."""
    from neuroclip_live.model.classifier import uniform_alpha
    from neuroclip_live.model.classifier_setup import ClassifierSetup

    info = trained.info
    alpha = np.asarray(info.alpha if info.alpha is not None else uniform_alpha(info.T))
    return ClassifierSetup(
        tuple(info.classes), tuple(info.templates), ensemble, trained.adapter, alpha, trained_centred(info)
    )
