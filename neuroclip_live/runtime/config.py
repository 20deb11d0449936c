"""``RunConfig``: one frozen description of what a run starts with, built from the command line or the GUI.

argparse stays in ``cli``; the GUI makes a new ``RunConfig`` with
``dataclasses.replace`` when its settings are applied (the pipeline restarts).
What the user changes while the run goes on is not here but in
``runtime.controls`` (``initial_controls`` gives the first record). What both
the CLI and the GUI need (the labels read, the model loader) is derived here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from neuroclip_live import defaults
from neuroclip_live.model.label_presets import default_labels
from neuroclip_live.model.settings import ModelSettings, is_known_model
from neuroclip_live.runtime.controls import Controls
from neuroclip_live.stream.framing import TimestepRule
from neuroclip_live.stream.sources.base import SourceSpec


@dataclass(frozen=True)
class WindowOptions:
    """Scripted-demo options of the window (``--screenshot``, ``--exit-after``)."""

    screenshot: str | None = None
    exit_after: float | None = None


@dataclass(frozen=True)
class PipelineTuning:
    """How a pipeline buffers, batches and retries: the same for every run; tests and benchmarks change it."""

    max_pending: int = 4  # frames waiting for the worker before the oldest is dropped
    max_batch: int = 8  # frames the worker encodes at once when a backlog built up
    reconnect_interval_s: float = 1.0
    keep_results: int = 1_000  # results buffered for ``results()`` before the oldest go (see runtime/results.py)
    keep_result_frames: int = 16  # of those, the newest that keep their frame's image
    auto_rate_limit: bool = True  # live sources: subsample when the reader falls behind
    no_data_after_s: float = 3.0  # a live source with no events this long says "no data"


@dataclass(frozen=True)
class RunConfig:
    """Everything a live run starts with: source, timesteps, replay, labels, model and the pipeline's tuning."""

    source: SourceSpec | None = None
    rule: TimestepRule = field(default_factory=TimestepRule.default)
    T: int = defaults.T
    speed: float = defaults.SPEED  # the first replay speed; the user's later ones are ``Controls.speed``
    loop: bool = False
    lossless: bool = False  # the reader waits for the worker instead of dropping (also implied by speed 0)
    max_rate: float | None = None  # events/s the framer may see (--max-rate); None: only the automatic limit
    labels: tuple[str, ...] | None = None  # None: not given (the model's defaults apply)
    where: bool = False  # relevance maps from the start (--where); the user's later choice is ``Controls.where``
    min_confidence: float = 0.0  # the first minimum confidence; the user's later ones are ``Controls.min_confidence``
    log_path: str | None = None  # --log: every scored timestep written there (``runtime.prediction_log``)
    model: ModelSettings = field(default_factory=ModelSettings)
    window: WindowOptions = field(default_factory=WindowOptions)
    tuning: PipelineTuning = field(default_factory=PipelineTuning)

    def initial_labels(self) -> list[str]:
        """The labels given; else none when an adapter brings its classes; else the model's own; else none.

        With an adapter and no labels the model chooses (``model.setup``): the adapter's classes,
        which win over the bundled model's defaults.
        """
        if self.labels:
            return list(self.labels)
        return [] if self.model.adapter_path else default_labels(self.model.name)

    def initial_controls(self) -> Controls:
        """The controls a session starts with: this run's speed, loop, labels, templates and minimum confidence."""
        return Controls(
            speed=self.speed,
            loop=self.loop,
            labels=tuple(self.initial_labels()),
            templates=self.model.templates,
            ensemble=self.model.ensemble,
            where=self.where,
            min_confidence=self.min_confidence,
        )

    def wants_model(self, labels: Sequence[str]) -> bool:
        # A trained adapter brings its own class names, so it loads the model even without labels;
        # an unknown model name is loaded too, so that its error reaches the window or the terminal.
        return bool(labels) or self.model.adapter_path is not None or not is_known_model(self.model.name)

    def classifier_loader(self, controls: Controls) -> Callable[[], Any]:
        """A callable that loads the model and builds the streaming classifier (run on the worker thread).

        The labels and templates are the controls' (what the user has chosen by now), the rest this config's;
        without labels, taught classes in use load the model with theirs (the worker then puts them in place).
        """
        model, T = self.model, self.T
        labels, templates, ensemble = list(controls.labels), controls.templates, controls.ensemble
        if not labels and controls.taught is not None:
            labels = list(controls.taught.labels)

        def load() -> Any:
            from neuroclip_live.model.setup import build_classifier

            return build_classifier(
                model=model.name,
                weights=model.weights,
                device=model.device,
                labels=labels,
                T=T,
                templates=templates,
                ensemble=ensemble,
                alpha_path=model.alpha_path,
                adapter_path=model.adapter_path,
                threads=model.threads,
                backend=model.backend,
                precision=model.precision,
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
