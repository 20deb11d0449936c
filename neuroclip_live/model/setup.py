"""From command-line choices to a ready ``StreamingClassifier`` (model, weights, adapter, alpha, prompts)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from neuroclip_live.model.adapter import load_adapter
from neuroclip_live.model.classifier import StreamingClassifier
from neuroclip_live.model.clip_model import load_clip
from neuroclip_live.errors import ModelError

log = logging.getLogger(__name__)


def build_classifier(
    model: str = "RN50",
    weights: str | None = None,
    device: str | None = None,
    labels: str | Sequence[str] | None = None,
    T: int = 10,
    templates: str | Sequence[str] | None = None,
    ensemble: bool = True,
    alpha_path: str | None = None,
    adapter_path: str | None = None,
) -> StreamingClassifier:
    """Load everything; ``ModelError`` (one line) when something cannot be used.

    A trained adapter brings what it was trained with: its classes serve when
    no labels are given, its templates when none are chosen, its alpha when
    no alpha file is given.
    """
    backbone = load_clip(model, weights, device)
    for note in backbone.notes:
        log.info(note)
    adapter = info = None
    if adapter_path:
        adapter, info = load_adapter(adapter_path, backbone.name, backbone.embed_dim, backbone.device)
        if info.T != T:
            log.warning("adapter %s was trained with T=%d, running with T=%d", adapter_path, info.T, T)
    if not labels:
        if info is None or not info.classes:
            raise ModelError("no labels: give --labels 'cat, dog' or --labels-file PATH")
        labels = info.classes
    if templates is None and info is not None and info.templates:
        templates = info.templates
    alpha = alpha_path
    if alpha is None and info is not None and info.alpha is not None and len(info.alpha) == T:
        alpha = info.alpha
    clf = StreamingClassifier(
        backbone, labels, T=T, alpha=alpha, adapter=adapter, templates=templates, ensemble=ensemble
    )
    for note in clf.label_notes:
        log.warning(note)
    return clf
