"""One teaching run in the background: what the window's Train button starts while the stream plays on.

A ``TeachingJob`` trains on its own copy of the examples (capturing goes on
meanwhile) with ``teaching.train_examples``, on a thread of low priority: the
reader, the worker and the GUI keep the cores they need. It loads its model
once per ``BackboneCache`` (its own copy: the worker's classifier is not
thread-safe). The GUI polls ``progress()`` from its timer, as it polls the
pipeline's snapshot; ``cancel()`` stops the fit between two batches and no
adapter comes out. Everything that can be refused (fewer than two classes, a
class without an example) is refused when the job is made, in one line.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from neuroclip_live.errors import DataError, NeuroclipError
from neuroclip_live.model.settings import ModelSettings
from neuroclip_live.offline.datasets import check_trainable
from neuroclip_live.offline.examples import ExampleSet
from neuroclip_live.offline.fewshot import FewShotSettings, TrainedAdapter, text_model
from neuroclip_live.wording import counted

log = logging.getLogger(__name__)

MAX_SHOTS = 16  # ``train``'s default: more examples of a class than this are left out
MAX_VALIDATION = 3  # validation examples a class (alpha, and what the recipe chooses), at most half of the fewest
LOW_PRIORITY = 10  # the training thread's nice value above the process's


def teaching_split(counts: Mapping[str, int]) -> tuple[int, int]:
    """(shots, validation examples) a class for these example counts: ``train --shots K --val-per-class V``.

    Up to ``MAX_VALIDATION`` of the fewest class's examples validate, never more than half of them;
    the rest (at most ``MAX_SHOTS``) train. 7 examples give 4 shots and 3 for validation, 1 gives 1 and 0.
    """
    fewest = min(counts.values(), default=0)
    val = min(MAX_VALIDATION, fewest // 2)
    return min(MAX_SHOTS, fewest - val), val


class BackboneCache:
    """The model a teaching run encodes with, loaded once (on the thread that first asks) and kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[tuple, Any] = {}

    def get(self, model: ModelSettings) -> Any:
        from neuroclip_live.model.clip_model import load_for

        key = (model.name, model.weights, model.device, model.threads, model.backend, model.precision)
        with self._lock:
            if key not in self._loaded:
                self._loaded = {key: load_for(model)}  # one model kept: a new one replaces the last
            return self._loaded[key]


@dataclass(frozen=True)
class TeachingProgress:
    """Where a job is: its phase, the epochs done of all, and a line for the user when it ended."""

    phase: str  # "loading model", "encoding examples", "training", "done", "cancelled", "failed"
    epoch: int = 0
    epochs: int = 0
    message: str = ""

    @property
    def finished(self) -> bool:
        return self.phase in ("done", "cancelled", "failed")


def lower_thread_priority(step: int = LOW_PRIORITY) -> None:
    """Make the calling thread nicer than the rest of the process (Linux: a thread's own nice value)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + step))
    except (AttributeError, OSError):  # not on Linux, or not allowed: it trains at the same priority
        log.debug("could not lower the training thread's priority", exc_info=True)


class TeachingJob:
    """Trains an adapter on a copy of ``examples`` on a background thread (``start``); poll ``progress``."""

    def __init__(
        self, examples: ExampleSet, model: ModelSettings, settings: FewShotSettings, backbones: BackboneCache
    ) -> None:
        self.examples = examples.copy()
        counts = self.examples.counts()
        if len(counts) < 2:  # said here in the panel's words; check_trainable names a folder
            have = f"{len(counts)} ({', '.join(counts)})" if counts else "none"
            raise DataError(f"training needs at least 2 classes with examples; there are {have}")
        check_trainable(self.examples.as_split())  # a DataError (one line) before any thread starts
        self.shots, self.val = teaching_split(self.examples.counts())
        self.model, self.settings, self._backbones = model, settings, backbones
        self.result: TrainedAdapter | None = None
        self.seconds = 0.0
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._progress = TeachingProgress("loading model", 0, settings.epochs)
        self._thread = threading.Thread(target=self._run, name="neuroclip-teach", daemon=True)

    def start(self) -> TeachingJob:
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    def progress(self) -> TeachingProgress:
        with self._lock:
            return self._progress

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True when it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._progress = replace(self._progress, **changes)

    def _run(self) -> None:
        # Here, on the job's thread: the window imports this module, and opens before torch loads.
        from neuroclip_live.offline.teaching import train_examples
        from neuroclip_live.offline.training import FitCancelled, FitProgress

        lower_thread_priority()
        t0 = time.perf_counter()
        try:
            backbone = self._backbones.get(self.model)
            split = self.examples.as_split()
            tm = text_model(backbone, split.classes, self.model.templates, self.model.ensemble)
            self._set(phase="encoding examples")
            prog = FitProgress(on_epoch=self._epoch_done, cancel=self._cancel)
            trained = train_examples(self.examples, tm, self.settings, self.shots, self.val, prog)
        except FitCancelled:
            self._set(phase="cancelled", message="training cancelled: the classifier in use is unchanged")
            return
        except NeuroclipError as err:
            self._set(phase="failed", message=str(err))
            return
        except Exception as err:  # a bug: the window stays up and says so
            log.exception("teaching failed")
            self._set(phase="failed", message=f"training failed: {err}")
            return
        self.result, self.seconds = trained, time.perf_counter() - t0
        self._set(phase="done", message=self._summary(trained))

    def _epoch_done(self, done: int, total: int, loss: float) -> None:
        self._set(phase="training", epoch=done, epochs=total)

    def _summary(self, trained: TrainedAdapter) -> str:
        val = f", {self.val} for validation" if self.val else ""
        line = (
            f"trained {len(trained.info.classes)} classes on {counted(self.shots, 'example')} a class{val} "
            f"in {self.seconds:.0f} s"
        )
        return "; ".join([line, *trained.notes])
