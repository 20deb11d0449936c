"""``RunConfig``: one typed description of a run, built from the command line or the GUI's settings.

argparse stays in ``cli``; the GUI edits a ``RunConfig`` with
``dataclasses.replace``. What both need (the source named, the labels read, the
model loader) is derived here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from neuroclip_live.model.label_presets import default_labels
from neuroclip_live.model.settings import ModelSettings, is_known_model
from neuroclip_live.runtime.status import PipelineConfig
from neuroclip_live.stream.framing import TimestepRule
from neuroclip_live.stream.sources.base import SourceSpec


@dataclass(frozen=True)
class WindowOptions:
    """Scripted-demo options of the window (``--screenshot``, ``--exit-after``)."""

    screenshot: str | None = None
    exit_after: float | None = None


@dataclass(frozen=True)
class RunConfig:
    """Everything a live run needs: source, timesteps, replay, labels and model."""

    source: SourceSpec | None = None
    rule: TimestepRule = field(default_factory=lambda: TimestepRule("time", 30_000))
    T: int = 10
    speed: float = 1.0
    loop: bool = False
    lossless: bool = False
    max_rate: float | None = None  # events/s the framer may see (--max-rate); None: only the automatic limit
    labels: tuple[str, ...] | None = None  # None: not given (the model's defaults apply)
    model: ModelSettings = field(default_factory=ModelSettings)
    window: WindowOptions = field(default_factory=WindowOptions)

    def initial_labels(self) -> list[str]:
        """The labels given; else none when an adapter brings its classes; else the model's own; else none.

        With an adapter and no labels the model chooses (``model.setup``): the adapter's classes,
        which win over the bundled model's defaults.
        """
        if self.labels:
            return list(self.labels)
        return [] if self.model.adapter_path else default_labels(self.model.name)

    def wants_model(self, labels: list[str]) -> bool:
        # A trained adapter brings its own class names, so it loads the model even without labels;
        # an unknown model name is loaded too, so that its error reaches the window or the terminal.
        return bool(labels) or self.model.adapter_path is not None or not is_known_model(self.model.name)

    def pipeline_config(self, **overrides: Any) -> PipelineConfig:
        base = PipelineConfig(
            rule=self.rule, T=self.T, speed=self.speed, loop=self.loop, lossless=self.lossless, max_rate=self.max_rate
        )
        for name, value in overrides.items():
            setattr(base, name, value)
        return base

    def classifier_loader(self, labels: list[str]) -> Callable[[], Any]:
        """A callable that loads the model and builds the streaming classifier (run on the worker thread)."""
        model, T = self.model, self.T
        labels = list(labels)

        def load() -> Any:
            from neuroclip_live.model.setup import build_classifier

            return build_classifier(
                model=model.name,
                weights=model.weights,
                device=model.device,
                labels=labels,
                T=T,
                templates=model.templates,
                ensemble=model.ensemble,
                alpha_path=model.alpha_path,
                adapter_path=model.adapter_path,
                threads=model.threads,
            )

        return load


def read_labels(text: str | None, path: str | None) -> tuple[str, ...] | None:
    """Labels from a text ("cat, dog" or one a line) and/or a file of them; None when neither is given."""
    from neuroclip_live.model.prompts import log_notes, parse_labels, read_label_file

    if not path:
        return None if text is None else tuple(parse_labels(text))
    from_file = read_label_file(path)  # the one reader of label files (comments, BOM, CRLF, bad bytes)
    log_notes(from_file.notes)
    typed = parse_labels(text) if text is not None else []
    return tuple(parse_labels([*from_file.labels, *typed]))
