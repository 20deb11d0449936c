"""The worker thread: load the model, apply label and template edits, score pending frames.

Whatever is pending when the worker comes round is scored as one batch (up to
``max_batch``), so a backlog costs one batched encode rather than many; a run that
drops frames batches only where the encoder is measured to batch cheaper per
frame (``runtime.batch_choice``), otherwise it scores one frame at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, Protocol

import numpy as np

from neuroclip_live.errors import NeuroclipError
from neuroclip_live.events import BACKGROUND
from neuroclip_live.runtime.batch_choice import BatchChoice
from neuroclip_live.runtime.controls import Controls
from neuroclip_live.runtime.reader import END, PendingFrame, Reset
from neuroclip_live.runtime.results import ResultBuffer
from neuroclip_live.runtime.stats import RateWindow
from neuroclip_live.runtime.status import RunStatus, StepResult, lossless
from neuroclip_live.runtime.taught import TaughtSwitch
from neuroclip_live.states import ModelState, StreamState
from neuroclip_live.stream.queues import DropOldestQueue

log = logging.getLogger(__name__)

FRAMES_ONLY_BATCH = 64


class Classifier(Protocol):
    """What the worker needs of ``model.classifier.StreamingClassifier`` (``set_templates`` where it has one)."""

    def step(self, frames: np.ndarray) -> list[Any]: ...
    def reset(self) -> None: ...
    def set_labels(self, labels: list[str]) -> Any: ...


class ModelWorker:
    """Runs on the worker thread (``run``); publishes results and stats through ``status``."""

    def __init__(
        self,
        load_classifier: Callable[[], Classifier] | None,
        status: RunStatus,
        queue_in: DropOldestQueue,
        stop: threading.Event,
    ) -> None:
        self._load_classifier = load_classifier
        self._status = status
        self._queue = queue_in
        self._stop = stop
        tuning = status.config.tuning
        self._results = ResultBuffer(tuning.keep_results, tuning.keep_result_frames)
        self._classifier: Classifier | None = None
        self.model_ready = threading.Event()  # set once the model loaded or failed (or when there is none)
        self._step = 0
        self._step_rate = RateWindow()
        self._choice = BatchChoice(status.config.tuning.max_batch)
        # The controls the classifier was made with: the loader was made from them, on this thread,
        # just before the pipeline (so no update can fall between). Later ones are applied per batch.
        with status.lock:
            self._applied = status.controls
        self._taught = TaughtSwitch()  # a taught adapter in use instead of the labels (Controls.taught)

    def run(self) -> None:
        try:
            self._load_model()
            while not self._stop.is_set():
                batch = self._queue.get_batch(self._batch_size(), timeout=0.1)
                if not batch:
                    continue
                pending = [b for b in batch if isinstance(b, PendingFrame)]
                if pending:
                    self._score(pending)
                tail = batch[-1]
                if isinstance(tail, Reset) and self._classifier is not None:
                    self._classifier.reset()
                if tail is END:
                    self._say_ended()
                    return
        except NeuroclipError as err:
            self._status.set_state(StreamState.ERROR, str(err))
        except Exception as err:
            log.exception("worker thread failed")
            self._status.set_state(StreamState.ERROR, f"worker failed: {err}")
        finally:
            self._results.end()

    def _say_ended(self) -> None:
        """ENDED once a recording's last frame is scored (not when the reader handed it over)."""
        with self._status.lock:
            ended = self._status.reached_end
        if ended:
            self._status.set_state(StreamState.ENDED, keep_message=True)

    def _batch_size(self) -> int:
        """Frames to take: as ``BatchChoice`` says with a model; frames only, whatever is waiting (a wake-up each)."""
        if self._classifier is None:
            return FRAMES_ONLY_BATCH
        return self._choice.size(len(self._queue), self._status.is_lossless)

    def results(self, timeout: float | None = None) -> Iterator[StepResult]:
        """Every scored timestep in order until the stream ends or the pipeline stops (see ``ResultBuffer``)."""
        return self._results.iterate(timeout)

    def _set_model_state(self, state: ModelState) -> None:
        with self._status.lock:
            self._status.model_state = state

    def _load_model(self) -> None:
        status = self._status
        try:
            if self._load_classifier is None:
                return
            try:
                self._classifier = self._load_classifier()
                self._warm_up(self._classifier)
            except BaseException:
                self._set_model_state(ModelState.FAILED)
                raise
            self._set_model_state(ModelState.READY)
            self._offer_where(self._classifier)
            with status.lock:
                status.model_engine = str(getattr(self._classifier, "engine", ""))
            if self._applied.taught is not None:  # a rebuilt pipeline goes on with the taught classes
                self._follow_taught(self._classifier, replace(self._applied, taught=None), self._applied)
            # How the adapter's classes, templates and alpha met the user's (model.setup), said once.
            setup_notes = getattr(self._classifier, "setup_notes", None)
            if setup_notes:
                status.set_notice("; ".join(setup_notes))
            # A live reader held back its "live" while the model loaded; a recording's reader says
            # "playing" itself once ``model_ready`` is set.
            live = status.is_live
            status.change_state_from(StreamState.LOADING_MODEL, StreamState.LIVE if live else StreamState.STARTING)
        finally:
            self.model_ready.set()

    def _offer_where(self, clf: Classifier) -> None:
        """Say whether the model can give relevance maps, and start them when they were asked for already."""
        why = clf.where_unavailable() if hasattr(clf, "where_unavailable") else "this classifier gives no maps"
        with self._status.lock:
            self._status.where_unavailable = why
        if self._applied.where and not why:
            self._set_where(clf, True)

    def _set_where(self, clf: Classifier, on: bool) -> None:
        if on:  # the first time, OpenVINO converts the dense encoder: seconds without new scores
            self._status.set_notice("preparing the relevance maps…")
        try:
            clf.set_where(on)  # type: ignore[attr-defined] - only where ``where_unavailable`` said it can
            if on:
                self._status.set_notice("")
        except NeuroclipError as err:
            with self._status.lock:
                self._status.where_unavailable = str(err)
            self._status.set_notice(str(err))

    def _warm_up(self, clf: Classifier) -> None:
        """One throwaway step on a blank frame of the sensor's size, then reset.

        The first frames of a new size pay one-off costs (resize kernels, buffers): measured at
        a few hundred ms for the tiny model, enough to drop the first frames of a paced replay.
        """
        deadline = time.monotonic() + 2.0
        src = None
        while not self._stop.is_set() and time.monotonic() < deadline:
            with self._status.lock:
                src = self._status.source
            if src is not None:
                break
            time.sleep(0.01)  # the reader opens the source in parallel
        if src is None or self._stop.is_set():
            return
        clf.step(np.full((1, src.size.height, src.size.width), BACKGROUND, dtype=np.uint8))
        clf.reset()

    def _apply_requests(self) -> None:
        """The labels and templates the user chose since the last batch, and the queued classifier calls."""
        status = self._status
        with status.lock:
            controls = status.controls
            calls = list(status.classifier_calls)
            status.classifier_calls.clear()
            every_frame = lossless(status.config, controls, status.replay is not None)
        clf = self._classifier
        if clf is None:
            return
        if hasattr(clf, "map_every_frame"):  # a run that drops frames maps only the newest of a backlog
            clf.map_every_frame = every_frame
        applied, self._applied = self._applied, controls
        # A refused edit (no usable label, an unknown template) keeps the previous ones running, and says why.
        try:
            if controls.taught is not applied.taught:
                self._follow_taught(clf, applied, controls)
            elif not self._taught.active:  # while taught classes run, label and template edits wait for the return
                self._follow_labels(clf, applied, controls)
            if controls.where != applied.where:  # maps follow the toggle, taught classes or not
                with status.lock:
                    why = status.where_unavailable
                if not why:
                    self._set_where(clf, controls.where)
            for fn in calls:
                fn(clf)
        except NeuroclipError as err:
            status.set_notice(str(err))

    def _follow_labels(self, clf: Classifier, applied: Controls, controls: Controls) -> None:
        if controls.labels != applied.labels:
            result = clf.set_labels(list(controls.labels))
            self._status.set_notice("; ".join(getattr(result, "notes", None) or []))
        set_templates = getattr(clf, "set_templates", None)
        templates = (controls.templates, controls.ensemble)
        if set_templates is not None and templates != (applied.templates, applied.ensemble):
            set_templates(controls.templates, ensemble=controls.ensemble)

    def _follow_taught(self, clf: Classifier, old: Controls, new: Controls) -> None:
        try:
            notes = self._taught.follow(clf, old, new)
        except NeuroclipError as err:
            notes = [f"the taught classes cannot be used with this model ({err}): scoring the labels"]
        self._status.set_notice("; ".join(notes))

    def _score(self, pending: list[PendingFrame]) -> None:
        self._apply_requests()
        t0 = time.perf_counter()
        if self._classifier is not None:
            scores = self._classifier.step(np.stack([p.frame.image for p in pending]))
        else:  # frames only: no stacked copy (7 MB a batch at 1280x720)
            scores = [None] * len(pending)
        done = time.perf_counter()
        per_frame_ms = (done - t0) * 1e3 / len(pending)
        if self._classifier is not None:
            self._choice.record(len(pending), per_frame_ms)
        drops = self._queue.dropped
        first = self._step
        status = self._status
        with status.lock:  # one publication per batch: the GUI and the stats see the newest
            events_dropped = status.stats.events_dropped
            floor, listeners = status.controls.min_confidence, status.result_listeners
            results = [
                StepResult(first + k, p.frame, s, (done - p.ready) * 1e3, drops, p.epoch, events_dropped, floor)
                for k, (p, s) in enumerate(zip(pending, scores, strict=True))
            ]
            status.latest_result = results[-1]
            st = status.stats
            st.steps_total += len(results)
            st.drops = drops
            st.inference_ms = per_frame_ms
            st.latency_ms = results[-1].latency_ms
            st.steps_per_s = self._step_rate.add(done, len(results))
            wait = lossless(status.config, status.controls, status.replay is not None)
        self._step += len(results)
        for listener in listeners:
            listener(results, self._classifier)
        self._results.put_many(results, wait_for_consumer=wait, stopped=self._stop.is_set)
