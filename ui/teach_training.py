"""The Teach panel's training: one ``TeachingJob`` at a time, polled on a timer into a progress bar.

The job runs on its own thread (``offline.teaching_job``); this object only
starts it, cancels it, and reads its progress every ``JOB_POLL_MS`` on the GUI
thread, as the session reads the pipeline's snapshot. It keeps the last
trained adapter (``trained``) and writes it where ``--adapter`` reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QProgressBar

from neuroclip_live.errors import NeuroclipError
from neuroclip_live.model.settings import ModelSettings
from neuroclip_live.offline.examples import ExampleSet
from neuroclip_live.offline.fewshot import FewShotSettings
from neuroclip_live.offline.teaching_job import BackboneCache, TeachingJob
from neuroclip_live.wording import counted

JOB_POLL_MS = 100


class TeachTraining(QObject):
    """Starts, follows and cancels the panel's training; ``changed`` after it started or ended."""

    changed = Signal()

    def __init__(self, progress: QProgressBar, say: Callable[[str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.progress = progress
        self.say = say
        self.job: TeachingJob | None = None
        self.trained = None  # the last TrainedAdapter
        self._backbones = BackboneCache()
        self._timer = QTimer(self)
        self._timer.setInterval(JOB_POLL_MS)
        self._timer.timeout.connect(self._poll)

    def start(self, examples: ExampleSet, model: ModelSettings, settings: FewShotSettings) -> bool:
        """Train on the examples as they are now; False (and a line) when refused."""
        if self.job is not None:
            self.say("a training is running: wait for it or cancel it")
            return False
        try:
            self.job = TeachingJob(examples, model, settings, self._backbones).start()
        except NeuroclipError as err:
            self.say(str(err))
            return False
        self.say(f"training on {counted(len(self.job.examples), 'example')} in the background…")
        self._timer.start()
        self.changed.emit()
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.say("cancelling the training…")

    def _poll(self) -> None:
        job = self.job
        if job is None:
            self._timer.stop()
            return
        p = job.progress()
        if p.phase == "training":
            self.progress.setRange(0, p.epochs)
            self.progress.setValue(p.epoch)
            self.progress.setFormat("epoch %v of %m")
        elif not p.finished:
            self.progress.setRange(0, 0)  # busy: loading the model, encoding the examples
            self.progress.setFormat(p.phase)
        if not p.finished:
            return
        self.job = None
        self._timer.stop()
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if p.phase == "done" else 0)
        self.progress.setFormat(f"trained on {counted(len(job.examples), 'example')}" if p.phase == "done" else p.phase)
        if p.phase == "done":
            self.trained = job.result
        self.say(p.message + (": press Use to score the taught classes" if p.phase == "done" else ""))
        self.changed.emit()

    def save_adapter_to(self, path: str | Path) -> bool:
        """The last trained adapter as the ``.safetensors`` that ``--adapter`` reads; False (and a line) when not."""
        from neuroclip_live.model.adapter import save_adapter

        if self.trained is None:
            self.say("nothing to save yet: train first")
            return False
        try:
            save_adapter(path, self.trained.adapter, self.trained.info)
        except OSError as err:
            self.say(f"cannot write {path}: {err.strerror or err}")
            return False
        self.say(f"adapter saved to {path} (neuroclip-live --adapter {Path(path).name})")
        return True
