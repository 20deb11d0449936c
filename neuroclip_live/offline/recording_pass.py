"""One pass over a whole recording at full speed: the live app's framer and classifier, every timestep kept.

The pass cuts the file's events with the same ``EventFramer`` (rule, T, the time-jump rule) and
scores them with the same ``StreamingClassifier`` as the live app's reader and worker; it resets
where they reset (a time jump) and closes the last, partial timestep at the end as they do. It keeps
each timestep's times and the feature the window used (``Scores.feature``), not the frames: what
any label costs afterwards is ``offline.timeline``. No threads and no pacing of its own: ``search``
runs it on the caller's thread, the window's timeline on a background thread.

``kept_features_for`` first asks the store (``offline.kept_features``): a recording seen before
with the same model, weights, backend, precision, adapter, cut rule and T is not encoded again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuroclip_live.errors import DataError
from neuroclip_live.events import SensorSize
from neuroclip_live.model.centring import with_centring
from neuroclip_live.model.fingerprint import module_sha256
from neuroclip_live.offline.feature_cache import EncodingKey
from neuroclip_live.offline.kept_features import KeptFeatures, KeptFeatureStore, RecordingKey, StepRows
from neuroclip_live.stream.framing import EventFramer, Frame, TimestepRule
from neuroclip_live.stream.sources import open_file
from neuroclip_live.stream.sources.base import Discontinuity, FileSource

log = logging.getLogger(__name__)

PASS_BATCH = 32  # frames encoded at once: large enough to batch, small enough to follow a cancel promptly


@dataclass(frozen=True)
class PassProgress:
    """How far a pass is: the time reached in the recording's range, and timesteps scored."""

    t_us: int
    time_range: tuple[int, int]
    steps: int

    @property
    def fraction(self) -> float:
        t0, t1 = self.time_range
        return 1.0 if t1 <= t0 else min(max((self.t_us - t0) / (t1 - t0), 0.0), 1.0)


ProgressCallback = Callable[[PassProgress, StepRows], None]


class RecordingPass:
    """Scores every timestep of ``source`` with ``classifier`` into ``kept``; ``run`` returns whether it finished."""

    def __init__(self, source: FileSource, classifier: Any, rule: TimestepRule, T: int) -> None:
        self.source = source
        self.classifier = classifier
        self.framer = EventFramer(source.size, rule, T)
        self.kept = KeptFeatures(int(classifier.backbone.embed_dim))
        self.segment = 0
        self._pending: list[Frame] = []

    def run(
        self,
        on_batch: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        batch: int = PASS_BATCH,
    ) -> bool:
        """Frame and score the whole file; False when ``cancel`` stopped it (``kept`` holds what was done)."""
        self.classifier.reset()
        for item in self.source.packets():
            if cancel is not None and cancel.is_set():
                return False
            if isinstance(item, Discontinuity):
                self._score(on_batch)
                self._reset()
                continue
            for frame in self.framer.frames(item):
                if frame.after_jump:  # the framer reset its window: the classifier's starts again too
                    self._score(on_batch)
                    self._reset()
                self._pending.append(frame)
                if len(self._pending) >= batch:
                    self._score(on_batch)
        last = self.framer.flush()
        if last is not None:
            self._pending.append(last)
        self._score(on_batch)
        return True

    def _reset(self) -> None:
        self.framer.reset()
        self.classifier.reset()
        self.segment += 1

    def _score(self, on_batch: ProgressCallback | None) -> None:
        frames, self._pending = self._pending, []
        if not frames:
            return
        scores = self.classifier.step(np.stack([f.image for f in frames]))
        self.kept.append(
            [f.t_start_us for f in frames],
            [f.t_end_us for f in frames],
            [f.n_events for f in frames],
            [self.segment] * len(frames),
            np.stack([s.feature for s in scores]),
        )
        if on_batch is not None:
            # The range is read each time: a big EVT 3.0 file's end is still being found while it plays.
            progress = PassProgress(frames[-1].t_end_us, self.source.time_range, len(self.kept))
            on_batch(progress, self.kept.view())


def adapter_sha256(classifier: Any) -> str | None:
    adapter = getattr(classifier, "adapter", None)
    return None if adapter is None else module_sha256(adapter)


def recording_key(path: str, classifier: Any, rule: TimestepRule, T: int, sensor: SensorSize | None) -> RecordingKey:
    """The key of ``path``'s kept features under this classifier, cut rule and T (and its framing: centred or not)."""
    encoding = EncodingKey.of(classifier.backbone, T, with_centring(str(rule), bool(getattr(classifier, "centred", 0))))
    return RecordingKey.of(path, encoding, adapter_sha256(classifier), sensor)


@dataclass
class PassOutcome:
    """Kept features of a recording and how they came: from the store, or a pass (finished or stopped)."""

    rows: StepRows
    reused: bool
    complete: bool
    seconds: float
    notes: list[str]
    time_range: tuple[int, int]  # the recording's first and last event
    interrupted: bool = False  # Ctrl-C stopped the pass: ``rows`` hold what was scored until then


def kept_features_for(
    path: str | Path,
    classifier: Any,
    rule: TimestepRule,
    T: int,
    store: KeptFeatureStore | None = None,
    sensor: SensorSize | None = None,
    on_batch: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    batch: int = PASS_BATCH,
) -> PassOutcome:
    """The recording's kept features: from ``store`` when it holds them, else a pass (kept there when complete).

    A store that cannot be read or written costs the reuse, not the answer: a note says so.
    """
    t0 = time.perf_counter()
    source = open_file(str(path), sensor)  # a missing, empty or unreadable file fails here, in one line
    notes = list(source.notes)
    try:
        key = None
        if store is not None:
            try:
                key = recording_key(str(path), classifier, rule, T, sensor)
                rows = store.load(key)
            except DataError as err:
                notes.append(f"features not kept: {err}")
                key = rows = None
            if rows is not None:
                return PassOutcome(rows, True, True, time.perf_counter() - t0, notes, source.time_range)
        scan = RecordingPass(source, classifier, rule, T)
        try:
            complete, interrupted = scan.run(on_batch, cancel, batch), False
        except KeyboardInterrupt:  # the caller reports what was found so far, nothing is lost
            complete, interrupted = False, True
        rows = scan.kept.view()
        if complete and store is not None and key is not None and len(rows):
            try:
                store.save(key, rows)
            except DataError as err:
                notes.append(f"features not kept: {err}")
        return PassOutcome(rows, False, complete, time.perf_counter() - t0, notes, source.time_range, interrupted)
    finally:
        source.close()
