"""A label timeline: the ranges of the top label over kept timesteps, kept up to date as rows and labels change.

``TimelineScorer`` holds the cosines of every kept timestep with the current labels: new rows cost
their own product, a new minimum confidence none, new labels one product over the kept features
(no encoder). ``SessionTimeline`` is what a live source's timeline is: a result listener
(``Pipeline.add_result_listener``) that keeps each scored timestep's feature, bounded to the last
``MAX_SESSION_STEPS``, with the labels the live classifier uses. A recording's timeline comes from
a pass over the whole file instead (``offline.background_timeline``). Both answer ``TimelineSnapshot``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuroclip_live.offline.kept_features import KeptFeatures, StepRows
from neuroclip_live.offline.timeline import LabelRange, LabelSpace, step_cosines, top_ranges, window_probs

# A live session keeps this many timesteps' features (15 min at 30 ms: 8 MB with tiny-digits'
# 128-d features, 123 MB with RN50's 1024): older ones leave the strip.
MAX_SESSION_STEPS = 30_000


@dataclass(frozen=True)
class TimelineSnapshot:
    """What a timeline shows now; ``version`` changes whenever the ranges may have."""

    ranges: tuple[LabelRange, ...] = ()
    labels: tuple[str, ...] = ()
    fraction: float = 0.0  # of the recording scored so far (1.0 when done; a live session: 1.0)
    done: bool = False
    version: int = 0
    span: tuple[int, int] | None = None  # the times the strip covers
    note: str = ""  # one line on what went wrong (the model did not load, the file could not be read)
    reused: bool = False  # the features came from the store: nothing was encoded
    steps: int = 0


class TimelineScorer:
    """Ranges for one label space over growing rows; the cosines of rows already seen are kept."""

    def __init__(self) -> None:
        self.space: LabelSpace | None = None
        self._cos = np.zeros((0, 0), dtype=np.float32)
        self._first = 0  # ``StepRows.first`` of the rows the cosines are for

    def set_space(self, space: LabelSpace) -> None:
        """Other labels (or templates): the next ``ranges`` recomputes every row's cosines from the kept features."""
        self.space = space
        self._cos = np.zeros((0, len(space.labels)), dtype=np.float32)

    def ranges(self, rows: StepRows, min_confidence: float) -> list[LabelRange]:
        space = self.space
        if space is None or len(rows) == 0:
            return []
        if rows.first != self._first or self._cos.shape[0] > len(rows):  # older rows left: start again
            self._cos = np.zeros((0, len(space.labels)), dtype=np.float32)
            self._first = rows.first
        done = self._cos.shape[0]
        if done < len(rows):
            self._cos = np.concatenate([self._cos, step_cosines(rows.feats[done:], space.text)])
        probs = window_probs(rows, space, self._cos)
        return top_ranges(rows, space, min_confidence, probs)


class SessionTimeline:
    """A live source's timeline: what was seen so far this session (a result listener; see the module's notes)."""

    def __init__(self, max_steps: int = MAX_SESSION_STEPS) -> None:
        self.max_steps = max_steps
        self._lock = threading.Lock()
        self._kept: KeptFeatures | None = None
        self._space: LabelSpace | None = None
        self._labels_seen: tuple[Any, ...] | None = None
        self._changes = 0
        self._scorer = TimelineScorer()
        self._shown: tuple[int, float] | None = None
        self._snapshot = TimelineSnapshot(fraction=1.0)

    def __call__(self, results: list[Any], classifier: Any) -> None:
        """On the worker thread: keep each scored timestep's feature and times, and the labels now in use."""
        scored = [r for r in results if r.scores is not None and r.scores.feature is not None]
        if not scored or classifier is None:
            return
        seen = (tuple(classifier.labels), tuple(classifier.templates), classifier.ensemble)  # what the text is
        space = LabelSpace.of(classifier) if seen != self._labels_seen else None
        feats = np.stack([r.scores.feature for r in scored])
        with self._lock:
            if self._kept is None or self._kept.dim != feats.shape[1]:
                self._kept = KeptFeatures(feats.shape[1])
            if space is not None:
                self._space, self._labels_seen = space, seen
            frames = [r.frame for r in scored]
            self._kept.append(
                [f.t_start_us for f in frames],
                [f.t_end_us for f in frames],
                [f.n_events for f in frames],
                [r.epoch for r in scored],
                feats,
            )
            if len(self._kept) > self.max_steps:
                self._kept.drop_oldest(self.max_steps * 3 // 4)  # in chunks: the cosines are recomputed after each
            self._changes += 1

    def snapshot(self, min_confidence: float) -> TimelineSnapshot:
        """The ranges so far (computed here, on the caller's thread, only when something changed)."""
        with self._lock:
            kept, space, changes = self._kept, self._space, self._changes
        if kept is None or space is None:
            return self._snapshot
        if self._shown == (changes, min_confidence):
            return self._snapshot
        if space is not self._scorer.space:
            self._scorer.set_space(space)
        rows = kept.view()
        ranges = tuple(self._scorer.ranges(rows, min_confidence))
        span = (int(rows.t_start_us[0]), int(rows.t_end_us[-1])) if len(rows) else None
        self._shown = (changes, min_confidence)
        self._snapshot = TimelineSnapshot(
            ranges, space.labels, 1.0, False, self._snapshot.version + 1, span, steps=len(rows)
        )
        return self._snapshot
