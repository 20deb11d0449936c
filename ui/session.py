"""The GUI's side of one running stream: a ``Pipeline`` polled on a QTimer, plus its recorder.

The pipeline's reader and worker threads do all the event and model work; this
object only starts and stops pipelines and emits the latest ``Snapshot`` on the
GUI thread about 33 times a second. It owns the user's controls (``controls``, a
``ControlsModel``): widgets show and update them, every pipeline follows them, and
they carry over a rebuild. Changing the timestep rule, T or the model means a new
pipeline: ``rebuild`` stops the old one and starts a new one where the old one was.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from neuroclip_live.errors import NeuroclipError
from neuroclip_live.runtime.config import RunConfig
from neuroclip_live.runtime.controls import Controls, ControlsChange, ControlsModel
from neuroclip_live.runtime.pipeline import Pipeline, Snapshot
from neuroclip_live.runtime.prediction_log import PredictionLogWriter, log_path_for
from neuroclip_live.runtime.status import ResultListener
from neuroclip_live.states import StreamState
from neuroclip_live.stream.recording import AedatRecorder, RecordingError
from neuroclip_live.stream.sources.base import EventSource, SourceSpec

log = logging.getLogger(__name__)

SourceOpener = Callable[[SourceSpec], EventSource]
# (run settings, the controls' labels and templates) -> the callable the worker thread runs to load the classifier
ClassifierFactory = Callable[[RunConfig, Controls], Callable[[], Any]]

POLL_MS = 30  # about 33 redraws a second


def _default_open_source(spec: SourceSpec) -> EventSource:
    from neuroclip_live.stream.sources import open_source

    return open_source(spec)


def _default_classifier_factory(config: RunConfig, controls: Controls) -> Callable[[], Any]:
    return config.classifier_loader(controls)


class StreamSession(QObject):
    """Owns the user's controls, and at most one pipeline and one recorder at a time."""

    updated = Signal(object)  # Snapshot, on every poll while a source is open
    sourceChanged = Signal()  # a source was opened, rebuilt or closed
    recordingChanged = Signal()  # a recording started or stopped
    problem = Signal(str)  # one-line message for the user (recording errors...)

    def __init__(
        self,
        config: RunConfig,
        open_source: SourceOpener | None = None,
        classifier_factory: ClassifierFactory | None = None,
        poll_ms: int = POLL_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config  # what the next pipeline starts with (the settings panel's Apply replaces it)
        self.controls = ControlsModel(config.initial_controls())
        self.controls.subscribe(self._labels_changed, "labels", "taught")
        self.spec: SourceSpec | None = None
        self.pipeline: Pipeline | None = None
        self.has_model = False
        self.recorder: AedatRecorder | None = None
        self.latest: Snapshot | None = None
        self._open_source = open_source or _default_open_source
        self._classifier_factory = classifier_factory or _default_classifier_factory
        self._listener: Callable[[Any], None] | None = None
        self._kept_listeners: list[Callable[[Any], None]] = []  # on every pipeline (capture for teaching)
        self._result_listeners: list[ResultListener] = []  # handed to every pipeline, as the recorder is
        self._run_log: PredictionLogWriter | None = None  # --log, for the whole session
        self._recording_log: PredictionLogWriter | None = None  # beside the recording being made
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self._poll)

    # ----------------------------------------------------------------- sources
    def open(self, spec: SourceSpec) -> None:
        """Stop whatever runs and stream ``spec``; errors show up in the snapshot's state."""
        self.stop_recording()
        self._stop_pipeline()
        self.spec = spec
        self._start_pipeline()
        self.sourceChanged.emit()

    def close_source(self) -> None:
        self.stop_recording()
        self._stop_pipeline()
        self.spec = None
        self.latest = None
        self.sourceChanged.emit()

    def rebuild(self, config: RunConfig | None = None) -> None:
        """Restart the pipeline with new run settings, continuing where the old one was."""
        if config is not None:
            self.config = config
        if self.spec is None:
            return
        snap = self.pipeline.snapshot() if self.pipeline is not None else None
        if snap is not None and snap.time_range is not None and snap.position_us is not None:
            self._restart(None if snap.state == StreamState.ENDED else snap.position_us)
        else:
            self._restart(None)
        self.sourceChanged.emit()

    def _restart(self, seek_us: int | None) -> None:
        """A new pipeline on the same source, at ``seek_us`` (files), paused if it was; a recording carries on."""
        self._stop_pipeline()
        self._start_pipeline(seek_us)
        if self.pipeline is not None and self._listener is not None:
            # The recorder closes the time jump itself: the file stays in time order.
            self.pipeline.add_packet_listener(self._listener)

    def _start_pipeline(self, start_us: int | None = None) -> None:
        assert self.spec is not None
        spec = self.spec
        opener = self._open_source
        controls = self.controls.value
        wanted = self.config.wants_model(controls.labels) or controls.taught is not None
        loader = self._classifier_factory(self.config, controls) if wanted else None
        self.has_model = loader is not None
        self.pipeline = Pipeline(lambda: opener(spec), self.config, loader, controls=self.controls)
        for fn in self._kept_listeners:
            self.pipeline.add_packet_listener(fn)
        for fn in self._result_listeners:
            self.pipeline.add_result_listener(fn)
        self._follow_run_log(spec)  # after: the first time, it adds itself to this pipeline
        if start_us is not None:
            self.pipeline.seek(start_us)  # kept until the file opens: the replay starts there
        self.pipeline.start()
        self._timer.start()

    def _stop_pipeline(self, timeout: float = 2.0) -> bool:
        pipeline, self.pipeline = self.pipeline, None
        self._timer.stop()
        if pipeline is None:
            return True
        ok = pipeline.stop(timeout)
        if not ok:
            log.warning("the pipeline's threads did not stop within %.1f s", timeout)
        return ok

    def shutdown(self, timeout: float = 2.0) -> bool:
        """Finish any recording and stop every thread; True when all stopped in time."""
        self.stop_recording()
        stopped = self._stop_pipeline(timeout)
        if self._run_log is not None:
            self._run_log.close()
        return stopped

    def classifier_loader(self) -> Callable[[], Any]:
        """A loader of the classifier the pipeline runs, as the run settings and the controls say now.

        For a second classifier of the same model (a recording's label timeline, on its own thread).
        """
        return self._classifier_factory(self.config, self.controls.value)

    # ---------------------------------------------------------- result listeners
    def add_result_listener(self, fn: ResultListener) -> None:
        """Call ``fn(results, classifier)`` on the worker thread with every scored batch, in every pipeline from now."""
        self._result_listeners.append(fn)
        if self.pipeline is not None:
            self.pipeline.add_result_listener(fn)

    def remove_result_listener(self, fn: ResultListener) -> None:
        self._result_listeners = [f for f in self._result_listeners if f is not fn]
        if self.pipeline is not None:
            self.pipeline.remove_result_listener(fn)

    def _follow_run_log(self, spec: SourceSpec) -> None:
        """``--log``: opened with the first pipeline; each new one (source, model, T) gets a header of its own."""
        if self.config.log_path is None:
            return
        if self._run_log is None:
            try:
                self._run_log = PredictionLogWriter(self.config.log_path, str(self.config.rule), self.config.T)
            except NeuroclipError as err:
                self.problem.emit(str(err))
                self.config = replace(self.config, log_path=None)
                return
            self.add_result_listener(self._run_log)
        self._run_log.set_run(str(self.config.rule), self.config.T, spec.describe())

    # ---------------------------------------------------------------- controls
    def play(self) -> None:
        """Resume; after the end, replay from the start (a finished reader cannot resume)."""
        self.controls.update(paused=False)
        if self.pipeline is not None and self.pipeline.state == StreamState.ENDED:
            self._restart(None)

    def pause(self) -> None:
        self.controls.update(paused=True)

    def seek(self, t_us: int) -> None:
        if self.pipeline is None:
            return
        if self.pipeline.state == StreamState.ENDED:  # the reader has finished: a new one starts there
            self._restart(t_us)
            return
        self.pipeline.seek(t_us)

    def _labels_changed(self, change: ControlsChange) -> None:
        """The first labels (or taught classes) load the model (a pipeline without one restarts with it)."""
        if self.pipeline is not None and not self.has_model and (change.new.labels or change.new.taught):
            self.rebuild()

    def keep_packet_listener(self, fn: Callable[[Any], None]) -> None:
        """Hand ``fn`` the raw packets of this pipeline and of every later one (``Pipeline.add_packet_listener``)."""
        self._kept_listeners.append(fn)
        if self.pipeline is not None:
            self.pipeline.add_packet_listener(fn)

    # --------------------------------------------------------------- recording
    def start_recording(self, path: str | os.PathLike) -> AedatRecorder:
        """Record the incoming stream (before the noise filter) to ``path``; raises RecordingError."""
        if self.pipeline is None:
            raise RecordingError("open a recording or a camera before recording")
        snap = self.pipeline.snapshot()
        if snap.size is None:
            raise RecordingError("the source is not open yet; try again in a moment")
        self.stop_recording()
        name = snap.source_name or "neuroclip-live"
        self.recorder = AedatRecorder(path, snap.size, camera_name=name)
        self._listener = self.recorder.write  # one bound method: removal compares by identity
        self.pipeline.add_packet_listener(self._listener)
        if self.has_model:  # what the app says live, beside the recording and on its clock
            try:
                self._recording_log = PredictionLogWriter(
                    log_path_for(path), str(self.config.rule), self.config.T, name, "recording", follow_recording=True
                )
                self.add_result_listener(self._recording_log)
            except NeuroclipError as err:
                self.problem.emit(f"recording without its prediction log: {err}")
        self.recordingChanged.emit()
        return self.recorder

    def stop_recording(self) -> str | None:
        """Finish the file; returns an error line when writing had failed, else None."""
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return None
        if self.pipeline is not None and self._listener is not None:
            self.pipeline.remove_packet_listener(self._listener)
        self._listener = None
        recorder.close()
        log_error = self._close_recording_log()
        self.recordingChanged.emit()
        return recorder.error or log_error

    def _close_recording_log(self) -> str | None:
        log, self._recording_log = self._recording_log, None
        if log is None:
            return None
        self.remove_result_listener(log)
        log.close()
        return log.error

    # -------------------------------------------------------------------- poll
    def _poll(self) -> None:
        pipeline = self.pipeline
        if pipeline is None:
            return
        snap = pipeline.snapshot()
        if self.recorder is not None and self.recorder.error is not None:
            error = self.stop_recording()
            if error:
                self.problem.emit(error)
        self.latest = snap
        self.updated.emit(snap)
