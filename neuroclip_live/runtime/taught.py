"""The worker's side of ``Controls.taught``: switch the classifier to a taught adapter and back to the labels.

Runs on the worker thread, which owns the classifier. Switching to a taught
setup first keeps what the classifier scored with (the typed labels, or an
``--adapter``'s classes), and the controls of that moment; returning restores
it, with the labels and templates the user changed meanwhile (edits made while
the taught classes ran are kept for then, not applied to them).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from neuroclip_live.runtime.controls import Controls


class TaughtSwitch:
    """Follows ``Controls.taught`` for one classifier (worker thread only)."""

    def __init__(self) -> None:
        self._saved: Any = None  # the ClassifierSetup before the first taught one
        self._then: Controls | None = None  # the controls when it was saved

    @property
    def active(self) -> bool:
        return self._saved is not None

    def follow(self, clf: Any, old: Controls, new: Controls) -> list[str]:
        """Apply ``new.taught`` (or return from ``old.taught``); notes on what was adjusted.

        A refused setup (``ModelError``: an adapter for another model) leaves the classifier as it was.
        """
        from neuroclip_live.model.classifier_setup import apply_setup, setup_of

        if new.taught is None:
            saved, then = self._saved, self._then
            if saved is None or then is None:
                return []
            templates = saved.templates
            if (new.templates, new.ensemble) != (then.templates, then.ensemble):
                from neuroclip_live.model.prompts import resolve_templates

                templates = resolve_templates(new.templates)
            labels = new.labels if new.labels and new.labels != then.labels else saved.labels
            notes = apply_setup(clf, replace(saved, labels=tuple(labels), templates=templates, ensemble=new.ensemble))
            self._saved = self._then = None
            return notes
        saved = self._saved if self._saved is not None else setup_of(clf)
        notes = apply_setup(clf, new.taught)
        if self._saved is None:
            self._saved, self._then = saved, old
        return notes
