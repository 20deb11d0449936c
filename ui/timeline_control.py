"""What the timeline strip shows, and when: a recording's background pass, a live session, a log beside the file.

A recording opened with a model gets a ``BackgroundTimeline`` (its own classifier, on its own
low-priority thread); a camera or a network stream, which has no timeline, gets a
``SessionTimeline`` fed by the running pipeline (what was seen so far this session). The user's
label, template and minimum-confidence edits go to them as they happen; the strip is redrawn
from their snapshots on a timer. When the recording has a prediction log beside it
(``NAME.predictions.jsonl``), it is read off the GUI thread and shown as the strip's thin second
row; a damaged log shows up to the damage, a log of other times is not shown; each says so once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from neuroclip_live.errors import NeuroclipError
from neuroclip_live.offline.background_timeline import BackgroundTimeline, LabelRequest
from neuroclip_live.offline.kept_features import KeptFeatureStore
from neuroclip_live.offline.label_timeline import SessionTimeline, TimelineSnapshot
from neuroclip_live.offline.timeline import ranges_from_tops
from neuroclip_live.runtime.controls import ControlsChange
from neuroclip_live.runtime.prediction_log import PredictionLog, log_path_for, read_prediction_log, step_tops
from neuroclip_live.states import ModelState
from ui.session import StreamSession
from ui.timeline_strip import TimelineStrip

REFRESH_MS = 250  # the strip follows its timeline four times a second
# The pass starts this long after the live model is ready: the live view's first seconds (its first
# scores, the encoder's first calls at this frame size) keep the machine to themselves.
START_AFTER_READY_S = 1.5


def log_ranges(log: PredictionLog) -> tuple[list, list[str]]:
    """The ranges a prediction log's top labels make (placed with its own alpha), and its labels."""
    labels, tops, probs = step_tops(log)
    alpha = log.header.get("alpha") or [1.0]
    records = log.records
    ranges = ranges_from_tops(
        labels,
        tops,
        probs,
        [r["t_start_us"] for r in records],
        [r["t_end_us"] for r in records],
        [int(r.get("epoch", 0)) for r in records],
        alpha,
    )
    return ranges, labels


class TimelineControl(QObject):
    """Starts and stops the strip's timelines with the session's sources; ``shutdown`` before the window closes."""

    def __init__(
        self,
        session: StreamSession,
        strip: TimelineStrip,
        show_problem: Callable[[str], None],
        store: KeptFeatureStore | None = None,
    ) -> None:
        super().__init__(session)
        self._session = session
        self._strip = strip
        self._show_problem = show_problem
        self._store = store if store is not None else KeptFeatureStore()  # the feature cache's default folder
        self.background: BackgroundTimeline | None = None
        self.live: SessionTimeline | None = None
        self._shown: tuple[int, int] | None = None  # (which timeline, its version) last drawn
        self._generation = 0
        self._waiting = False  # a recording's pass waits for the live model
        self._ready_at: float | None = None  # when the waiting pass saw the live model ready
        self._log: Future | None = None
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neuroclip-log-reader")
        session.sourceChanged.connect(self.restart)
        session.controls.subscribe(self._controls_changed, "labels", "templates", "ensemble", "min_confidence")
        strip.seekRequested.connect(session.seek)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()

    # ---------------------------------------------------------------- sources
    def restart(self) -> None:
        """The session opened, rebuilt or closed its source: the timelines start again for it."""
        self._stop_timelines()
        self._strip.clear()
        session, spec = self._session, self._session.spec
        if spec is None:
            return
        if spec.kind == "file":
            path = log_path_for(spec.target)
            if path.is_file():
                self._log = self._reader.submit(read_prediction_log, path)
        if not session.has_model:
            return
        if spec.kind == "file":
            self._waiting = True  # the pass starts once the live model has loaded (two loads at once slow both)
        else:
            self.live = SessionTimeline()
            session.add_result_listener(self.live)

    def _start_background(self) -> None:
        self._waiting = False
        session, spec = self._session, self._session.spec
        assert spec is not None
        config = session.config
        self.background = BackgroundTimeline(
            spec.target, config.rule, config.T, session.classifier_loader(), self._request(), self._store, spec.sensor
        ).start()

    def _stop_timelines(self, wait_s: float = 0.0) -> bool:
        self._generation += 1
        self._waiting, self._ready_at = False, None
        self._log = None
        stopped = True
        if self.background is not None:
            stopped = self.background.close(wait_s)  # a pass in a model step ends after it: the thread is a daemon
            self.background = None
        if self.live is not None:
            self._session.remove_result_listener(self.live)
            self.live = None
        return stopped

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Stop the pass and the log reader; True when the pass ended within ``timeout``."""
        self._timer.stop()
        stopped = self._stop_timelines(timeout)
        self._reader.shutdown(wait=True, cancel_futures=True)  # a log being read: one file, a moment
        return stopped

    def _request(self) -> LabelRequest:
        c = self._session.controls.value
        return LabelRequest(c.labels, c.templates, c.ensemble, c.min_confidence)

    def _controls_changed(self, change: ControlsChange) -> None:
        if self.background is not None:
            self.background.request(self._request())  # recoloured from the kept features, no encoder
        self.refresh()

    # ----------------------------------------------------------------- redraw
    def snapshot(self) -> TimelineSnapshot | None:
        """What the strip's timeline says now (None: no timeline for this source)."""
        if self.background is not None:
            return self.background.snapshot()
        if self.live is not None:
            return self.live.snapshot(self._session.controls.value.min_confidence)
        return None

    def refresh(self) -> None:
        latest = self._session.latest
        if self._waiting and latest is not None and latest.model_state == ModelState.READY:
            if self._ready_at is None:
                self._ready_at = time.monotonic()
            elif time.monotonic() - self._ready_at >= START_AFTER_READY_S:
                self._start_background()
        snap = self.snapshot()
        if snap is not None and (self._generation, snap.version) != self._shown:
            self._shown = (self._generation, snap.version)
            span = snap.span or self._time_range()
            scoring = "" if snap.done or self.live is not None else f"scoring {snap.fraction:.0%}"
            self._strip.show_timeline(snap.ranges, span, snap.fraction, snap.note or scoring)
        if self._log is not None and self._log.done():
            self._show_log()

    def _time_range(self) -> tuple[int, int] | None:
        latest = self._session.latest
        return latest.time_range if latest is not None else None

    def _show_log(self) -> None:
        assert self._log is not None
        span = self._time_range()
        if span is None:
            return  # the recording's range comes with its first snapshot
        future, self._log = self._log, None
        try:
            log: PredictionLog = future.result()
        except NeuroclipError as err:
            self._show_problem(str(err))
            return
        if not log.belongs_to(span):
            self._show_problem(f"{Path(log.path).name} is not this recording's (other times): its labels are not shown")
            return
        if self._strip.bands() == [] and self.snapshot() is None:
            self._strip.show_timeline([], span, 1.0, "")
        ranges, labels = log_ranges(log)
        self._strip.show_log(ranges, labels)
        if log.note:
            self._show_problem(log.note)
