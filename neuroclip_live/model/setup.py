"""From command-line choices to a ready ``StreamingClassifier`` (model, weights, adapter, alpha, prompts)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from neuroclip_live import defaults
from neuroclip_live.errors import ModelError
from neuroclip_live.model.adapter import AdapterInfo, load_adapter, read_adapter_info
from neuroclip_live.model.centring import trained_centred
from neuroclip_live.model.classifier import StreamingClassifier
from neuroclip_live.model.clip_model import load_clip
from neuroclip_live.model.label_presets import default_labels
from neuroclip_live.model.settings import DEFAULT_MODEL

log = logging.getLogger(__name__)


def resolve_model(model: str | None, adapter_path: str | None) -> str:
    """The model that will load: the one asked for, else the adapter's backbone, else RN50 (for display)."""
    if model:
        return model
    return read_adapter_info(adapter_path).backbone if adapter_path else DEFAULT_MODEL


@dataclass
class _Choices:
    """Labels, templates and alpha after weighing the user's against the adapter's and the model's defaults."""

    labels: Sequence[str] | str
    templates: Sequence[str] | str | None
    alpha: Sequence[float] | str | None
    notes: list[str] = field(default_factory=list)


def _listed(items: Sequence[str], n: int = 6) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def _same_labels(a: Sequence[str] | str, b: Sequence[str]) -> bool:
    from neuroclip_live.model.prompts import parse_labels

    return [x.casefold() for x in parse_labels(a)] == [x.casefold() for x in b]


def weigh_choices(
    name: str,
    info: AdapterInfo | None,
    labels: str | Sequence[str] | None,
    templates: str | Sequence[str] | None,
    alpha_path: str | None,
    T: int,
    model: str,
) -> _Choices:
    """What the user gave wins; then what the adapter was trained with; then the model's defaults.

    A user choice that differs from the adapter's is used, and the difference is stated in a note.
    """
    notes: list[str] = []
    classes = info.classes if info is not None else []
    if labels:
        chosen_labels: Sequence[str] | str = labels
        if classes and not _same_labels(labels, classes):
            notes.append(f"adapter {name} was trained for {_listed(classes)}; scoring the labels given instead")
    else:
        chosen_labels = classes or default_labels(model)
    if not chosen_labels:
        raise ModelError("no labels: give --labels 'cat, dog' or --labels-file PATH")
    if info is None:
        return _Choices(chosen_labels, templates, alpha_path)
    chosen_templates = templates if templates is not None else (info.templates or None)
    if templates is not None and info.templates:
        notes.append(f"adapter {name} was trained with its own templates; using --templates {templates} instead")
    alpha: Sequence[float] | str | None = alpha_path
    if alpha_path is None and info.alpha is not None:
        if len(info.alpha) == T:
            alpha = info.alpha
        else:
            notes.append(f"adapter {name} holds alpha for T={len(info.alpha)}, running with T={T}: uniform alpha")
    elif alpha_path is not None and info.alpha is not None:
        notes.append(f"alpha from {alpha_path}, not the one stored in adapter {name}")
    if info.T != T:
        notes.append(f"adapter {name} was trained with T={info.T}, running with T={T}")
    return _Choices(chosen_labels, chosen_templates, alpha, notes)


def build_classifier(
    model: str | None = None,
    weights: str | None = None,
    device: str | None = None,
    labels: str | Sequence[str] | None = None,
    T: int = defaults.T,
    templates: str | Sequence[str] | None = None,
    ensemble: bool = True,
    alpha_path: str | None = None,
    adapter_path: str | None = None,
    threads: int | None = None,
    backend: str = "torch",
    precision: str | None = None,
) -> StreamingClassifier:
    """Load everything; ``ModelError`` (one line) when something cannot be used.

    ``labels`` are the user's (None when none were given). A trained adapter
    brings what it was trained with, which wins over the defaults: its
    backbone when no model is named, its classes over the model's default
    labels, its templates over the default set, its alpha over uniform.
    The user's own labels, templates or alpha win over the adapter's, and
    the classifier's ``setup_notes`` say so, as they say when ``backend`` 'auto' fell back to torch
    (``backend`` and ``precision``: see ``load_clip``; the app passes its settings, default 'auto').
    """
    adapter = info = None
    if adapter_path:
        # Before the weights: an adapter for another backbone fails fast, and names its own.
        adapter, info = load_adapter(adapter_path, model)
    name = model or (info.backbone if info is not None else DEFAULT_MODEL)
    backbone = load_clip(name, weights, device, precision, threads=threads, backend=backend)
    for note in backbone.notes:
        log.info(note)
    what = Path(adapter_path).name if adapter_path else ""
    choices = weigh_choices(what, info, labels, templates, alpha_path, T, name)
    clf = StreamingClassifier(
        backbone,
        choices.labels,
        T=T,
        alpha=choices.alpha,
        adapter=adapter,
        templates=choices.templates,
        ensemble=ensemble,
    )
    clf.centred = trained_centred(info)  # an adapter trained on centred frames runs on them
    centred = [f"{what} was trained on frames centred on their events: they are centred here too"]
    if not clf.centred:
        centred = []
    clf.setup_notes = [n for n in [backbone.backend_note] if n] + choices.notes + centred + clf.label_notes
    for note in clf.setup_notes:
        log.info(note)  # the runtime shows them as its notice (window, headless "note:" lines)
    return clf
