"""A recording's label timeline, computed on a background thread at low priority while the live view plays.

The thread loads its own classifier (the live worker's is not shared: it carries a window and
an adapter membrane, and belongs to the worker thread), then takes the recording's kept features
from the store or makes them in one pass (``offline.recording_pass``), publishing the ranges as it
goes. Afterwards it stays to answer label edits: new labels re-encode only the text and recolour
the whole strip from the kept features. It runs with a raised nice value, so the live worker and
the GUI get the cores first; what it holds of Python's GIL at a time is short (the encoder and the
framer release it).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from neuroclip_live.errors import NeuroclipError
from neuroclip_live.events import SensorSize
from neuroclip_live.offline.kept_features import KeptFeatureStore, StepRows
from neuroclip_live.offline.label_timeline import TimelineScorer, TimelineSnapshot
from neuroclip_live.offline.timeline import LabelSpace

if TYPE_CHECKING:  # the pass (torch, the readers) is imported on the timeline's thread, not the window's
    from neuroclip_live.offline.recording_pass import PassProgress
    from neuroclip_live.stream.framing import TimestepRule

log = logging.getLogger(__name__)

NICE = 10  # added to the thread's nice value: the live view's threads come first
PUBLISH_EVERY_S = 0.25  # ranges are recomputed at most this often while the pass runs
# Frames a batch: the live worker's batch, so that a stop or a label edit waits for few frames (RN50 on a
# busy CPU: about 0.3-0.6 s a frame).
BATCH = 8
MAX_REST_S = 1.0  # the longest rest between batches (a batch of a large model on a busy CPU takes seconds)


@dataclass(frozen=True)
class LabelRequest:
    """The labels, templates and minimum confidence the strip should show (the window's controls)."""

    labels: tuple[str, ...]
    templates: str | None
    ensemble: bool
    min_confidence: float


def lower_thread_priority(increment: int = NICE) -> None:
    """Raise this thread's nice value (Linux sets it per thread); elsewhere nothing happens."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))
    except (AttributeError, OSError):  # not Linux, or not allowed: the pass runs at normal priority
        log.debug("could not lower the timeline thread's priority", exc_info=True)


class BackgroundTimeline:
    """Scores a whole recording on its own thread; ``snapshot`` is safe from any thread."""

    def __init__(
        self,
        path: str,
        rule: TimestepRule,
        T: int,
        load_classifier: Callable[[], Any],
        request: LabelRequest,
        store: KeptFeatureStore | None = None,
        sensor: SensorSize | None = None,
    ) -> None:
        self.path, self.rule, self.T, self.sensor = path, rule, T, sensor
        self._load = load_classifier
        self._store = store
        self._cond = threading.Condition()
        self._request = request
        self._applied = request  # what the classifier is made from (the loader was made with these controls)
        self._stop = threading.Event()
        self._snapshot = TimelineSnapshot()
        self._scorer = TimelineScorer()
        self._rows: StepRows | None = None
        self._time_range: tuple[int, int] | None = None
        self._published = 0.0
        self._batch_started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="neuroclip-timeline", daemon=True)

    def start(self) -> BackgroundTimeline:
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> bool:
        """Stop the pass (at its next batch) and the thread; True when it ended in time."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def request(self, request: LabelRequest) -> None:
        """Show these labels and this minimum confidence (taken up between batches, or at once when done)."""
        with self._cond:
            self._request = request
            self._cond.notify_all()

    def snapshot(self) -> TimelineSnapshot:
        with self._cond:
            return self._snapshot

    # ------------------------------------------------------------------ thread
    def _run(self) -> None:
        lower_thread_priority()
        try:
            from neuroclip_live.offline.recording_pass import kept_features_for

            clf = self._load()
            self._apply(clf)
            on_batch = self._batch_done(clf)
            outcome = kept_features_for(
                self.path, clf, self.rule, self.T, self._store, self.sensor, on_batch, self._stop, BATCH
            )
            self._rows, self._time_range = outcome.rows, outcome.time_range
            fraction = 1.0 if outcome.complete else self._snapshot.fraction
            self._publish(fraction, outcome.complete, reused=outcome.reused, note="; ".join(outcome.notes))
            while not self._stop.is_set():
                with self._cond:
                    while self._request == self._applied and not self._stop.is_set():
                        self._cond.wait()
                if not self._stop.is_set():
                    self._apply(clf)
                    self._publish()
        except NeuroclipError as err:
            self._publish(note=f"label timeline: {err}")
        except Exception as err:  # a bug: the strip says so, the live view goes on
            log.exception("the label timeline failed")
            self._publish(note=f"label timeline failed: {err}")

    def _batch_done(self, clf: Any) -> Callable[[PassProgress, StepRows], None]:
        def on_batch(progress: PassProgress, rows: StepRows) -> None:
            # Low priority is also a share of the time: after each batch the thread rests as long as the batch
            # took, so the live worker and the GUI find the GIL free at least half the time (a nice value
            # alone does not give that: a thread preempted while it holds the GIL makes them wait).
            now = time.monotonic()
            self._stop.wait(min(now - self._batch_started, MAX_REST_S))
            self._batch_started = time.monotonic()
            self._rows, self._time_range = rows, progress.time_range
            with self._cond:
                changed = self._request != self._applied
            if changed:
                self._apply(clf)
            if changed or time.monotonic() - self._published >= PUBLISH_EVERY_S:
                self._publish(fraction=progress.fraction)

        return on_batch

    def _apply(self, clf: Any) -> None:
        """The requested labels and templates into the classifier (the text only); a refused edit keeps the old."""
        with self._cond:
            wanted = self._request
        applied, self._applied = self._applied, wanted
        try:
            if (wanted.templates, wanted.ensemble) != (applied.templates, applied.ensemble):
                clf.set_templates(wanted.templates, ensemble=wanted.ensemble)
            if wanted.labels and wanted.labels != applied.labels:
                clf.set_labels(list(wanted.labels))
        except NeuroclipError as err:
            with self._cond:
                self._snapshot = replace(self._snapshot, note=str(err))
        text = (wanted.labels, wanted.templates, wanted.ensemble) != (
            applied.labels,
            applied.templates,
            applied.ensemble,
        )
        if text or self._scorer.space is None:
            self._scorer.set_space(LabelSpace.of(clf))  # new text: every kept row is scored again (no encoder)

    def _publish(self, fraction: float | None = None, done: bool | None = None, **changes: Any) -> None:
        rows, request, space = self._rows, self._applied, self._scorer.space
        ranges = tuple(self._scorer.ranges(rows, request.min_confidence)) if rows is not None and request else ()
        span = self._time_range
        with self._cond:
            old = self._snapshot
            self._snapshot = replace(
                old,
                ranges=ranges,
                labels=space.labels if space is not None else old.labels,
                fraction=old.fraction if fraction is None else fraction,
                done=old.done if done is None else done,
                version=old.version + 1,
                span=span if span is not None else old.span,
                steps=len(rows) if rows is not None else 0,
                **changes,
            )
        self._published = time.monotonic()
