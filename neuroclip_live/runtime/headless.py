"""The headless run: a pipeline whose sink prints one line (or one JSON object) per timestep, optional PNGs."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from neuroclip_live.errors import NeuroclipError
from neuroclip_live.runtime.config import RunConfig
from neuroclip_live.runtime.outputs import prepare_output_dir
from neuroclip_live.runtime.pipeline import Pipeline, StepResult
from neuroclip_live.runtime.prediction_log import PredictionLogWriter
from neuroclip_live.runtime.result_records import result_record
from neuroclip_live.states import StreamState
from neuroclip_live.wording import counted

EXIT_USER_ERROR = 2


def result_line(result: StepResult, top_k: int = 3, origin_us: int = 0) -> str:
    """A human-readable line for one timestep; ``t=`` is its end in seconds from ``origin_us``."""
    frame = result.frame
    t = (frame.t_end_us - origin_us) / 1e6
    parts = [f"step {result.step:6d}", f"t={t:9.3f}s", f"events {frame.n_events:7d}"]
    scores = result.scores
    if scores is not None:
        where = scores.where
        tops = "  ".join(
            f"{label} {p * 100:5.1f}%" + (" @{},{}".format(*where.peak(label)) if where is not None else "")
            for label, p in scores.top(top_k)
        )
        none = not result.confident_top(top_k)  # below the minimum confidence: "none of these"
        parts.append(f"| – ({tops}) |" if none else f"| {tops} |")
    parts.append(f"latency {result.latency_ms:7.1f} ms")
    parts.append(f"drops {result.drops}")
    if result.events_dropped:
        parts.append(f"events dropped {result.events_dropped}")
    return "  ".join(parts)


class HeadlessSink:
    """Writes each result to a text stream, and frames as PNG files when asked.

    Times count from ``origin_us`` (a recording's first event); None: from the first timestep
    written (a live source, whose clock may be a camera's or the Unix epoch).
    """

    def __init__(
        self,
        out: TextIO | None = None,
        as_json: bool = False,
        dump_dir: str | None = None,
        top_k: int = 3,
        origin_us: int | None = None,
    ) -> None:
        self.out = out if out is not None else sys.stdout
        self.as_json = as_json
        self.top_k = top_k
        self.dump_dir = prepare_output_dir(dump_dir, "--dump") if dump_dir else None
        self.origin_us = origin_us
        self.count = 0

    def write(self, result: StepResult) -> None:
        if self.origin_us is None:
            self.origin_us = result.frame.t_start_us
        if self.as_json:
            self.out.write(json.dumps(result_record(result, self.top_k, self.origin_us)) + "\n")
        else:
            self.out.write(result_line(result, self.top_k, self.origin_us) + "\n")
        self.out.flush()
        if self.dump_dir is not None:
            dump_step(self.dump_dir, result)
        self.count += 1


def dump_step(folder: Path, result: StepResult) -> None:
    """``stepNNNNNN.png``: the frame; beside it, with maps on, ``stepNNNNNN-where-II-label.png`` for each label.

    A map is grey levels at the sensor's size: white where the label wins at that place, black where it loses.
    """
    from PIL import Image  # only needed for --dump

    name = f"step{result.step:06d}"
    frame = result.frame.image
    Image.fromarray(frame).save(folder / f"{name}.png")
    maps = result.scores.where if result.scores is not None else None
    if maps is None or not frame.size:
        return
    height, width = frame.shape
    for i, label in enumerate(maps.labels):
        grey = Image.fromarray(np.round(maps.image(label) * 255).astype(np.uint8))
        grey.resize((width, height), Image.Resampling.BILINEAR).save(folder / f"{name}-where-{i:02d}-{slug(label)}.png")


def slug(label: str) -> str:
    """A label as a file-name part: letters, digits, '-' and '_' (others become '_'), at most 40 characters."""
    return re.sub(r"[^0-9A-Za-z_-]+", "_", label).strip("_")[:40] or "label"


class SourceStateLines:
    """One stderr line per change of a live source's state (disconnected, no data, live again), as it happens.

    The results loop is silent while a source is away (no timesteps come), so a thread polls.
    """

    SHOWN = (StreamState.DISCONNECTED, StreamState.NO_DATA)

    def __init__(self, pipeline: Pipeline, err: TextIO, poll_s: float = 0.2) -> None:
        self._pipeline = pipeline
        self._err = err
        self._poll_s = poll_s
        self._seen = 0
        self._away = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="neuroclip-state-lines", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()
        self._print_new()  # what changed in the last poll interval

    def _run(self) -> None:
        while not self._done.wait(self._poll_s):
            self._print_new()

    def _print_new(self) -> None:
        self._seen, changes = self._pipeline.state_changes_after(self._seen)
        for state, message in changes:
            if state in self.SHOWN:
                self._away = True
                print(f"neuroclip-live: {state}" + (f": {message}" if message else ""), file=self._err, flush=True)
            elif state == StreamState.LIVE and self._away:
                self._away = False
                print("neuroclip-live: live again", file=self._err, flush=True)


@dataclass(frozen=True)
class HeadlessOptions:
    as_json: bool = False
    dump_dir: str | None = None
    max_steps: int | None = None
    top_k: int = 3
    exit_after: float | None = None  # seconds after the first timestep written, as the window's --exit-after


# What a headless run without labels or a model prints first: it only frames, and how to get scores.
FRAMES_ONLY = (
    "no labels, so frames only (no scores): give --labels 'cat, dog, car' or --labels-file PATH, "
    "an --adapter PATH, or --model tiny-digits (it brings its own labels)"
)


class ExitAfter:
    """``--exit-after SECONDS``: counted from the first timestep written (a model load does not count).

    ``due()`` is asked before each result is written; a timer stops the pipeline as well, for a
    stream that sends nothing more (a paused scene, a silent camera) and so nothing to ask about.
    """

    def __init__(self, pipeline: Pipeline, seconds: float | None) -> None:
        self._pipeline = pipeline
        self.seconds = seconds
        self._deadline: float | None = None
        self._timer: threading.Timer | None = None
        self.reached = False

    def due(self) -> bool:
        if self.seconds is None:
            return False
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self.seconds
            self._timer = threading.Timer(self.seconds, self._stop)
            self._timer.daemon = True
            self._timer.start()
            return False  # the first timestep is written, even with --exit-after 0
        if now >= self._deadline:
            self.reached = True
        return self.reached

    def _stop(self) -> None:
        self.reached = True
        self._pipeline.stop()

    def cancel(self) -> None:
        """Before the caller stops the pipeline itself: the timer is not stopping it at the same time."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()


def open_prediction_log(config: RunConfig, origin_us: int | None) -> PredictionLogWriter | None:
    """The ``--log`` writer of a run (None without one): its file is checked and opened now."""
    if config.log_path is None:
        return None
    source = config.source.describe() if config.source is not None else ""
    return PredictionLogWriter(config.log_path, str(config.rule), config.T, source, origin_us=origin_us)


def run_headless(
    config: RunConfig, options: HeadlessOptions, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Replay or stream ``config.source`` to ``out`` until it ends; returns the exit code."""
    from neuroclip_live.stream.sources import FileSource, open_source

    err = err if err is not None else sys.stderr
    spec = config.source
    if spec is None:
        raise NeuroclipError("--headless needs a source: --file PATH, --camera [SERIAL] or --net HOST:PORT")
    controls = config.initial_controls()
    loader = config.classifier_loader(controls) if config.wants_model(controls.labels) else None
    if controls.where and loader is None:
        raise NeuroclipError(f"--where needs a model to make maps with, and this run has none: {FRAMES_ONLY}")
    # Open once here so that a bad file fails before any thread starts, with its one-line message.
    first = open_source(spec)
    opened = [first]
    origin = first.time_range[0] if isinstance(first, FileSource) else None
    sink = HeadlessSink(out, options.as_json, options.dump_dir, options.top_k, origin)
    prediction_log = open_prediction_log(config, origin)  # an unwritable --log fails here, before any work
    if loader is None:
        print(f"note: {FRAMES_ONLY}", file=err, flush=True)

    def reopen() -> Any:
        return opened.pop() if opened else open_source(spec)

    pipeline = Pipeline(reopen, config, loader)
    if prediction_log is not None:
        pipeline.add_result_listener(prediction_log)
    states = SourceStateLines(pipeline, err)
    exit_after = ExitAfter(pipeline, options.exit_after)
    interrupted = False
    try:
        results = pipeline.results()  # before start: a lossless run keeps every frame for us
        pipeline.start()
        states.start()
        if controls.where and pipeline.wait_model() and pipeline.snapshot().where_unavailable:
            print(f"neuroclip-live: --where: {pipeline.snapshot().where_unavailable}", file=err)
            return EXIT_USER_ERROR  # the pipeline stops below
        for result in results:
            if exit_after.due():
                break
            sink.write(result)
            if options.max_steps is not None and sink.count >= options.max_steps:
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        exit_after.cancel()
        if not pipeline.stop():
            pipeline.join(timeout=30)  # a CPU model step in flight: let it end before the process does
        states.stop()
        if prediction_log is not None:
            prediction_log.close()
    ending = (
        " (interrupted)" if interrupted else f" (--exit-after {options.exit_after:g} s)" if exit_after.reached else ""
    )
    log_error = prediction_log.error if prediction_log is not None else None
    return _finish(pipeline, first, sink.count, ending, err, config.model.name, [log_error] if log_error else [])


def _finish(
    pipeline: Pipeline, source: Any, count: int, ending: str, err: TextIO, model_name: str, notes: list[str]
) -> int:
    """The notes, then the error or the summary line; the exit code."""
    snapshot = pipeline.snapshot()
    notice = snapshot.notice  # how the model, adapter and labels were combined
    for note in [*getattr(source, "notes", []), *([notice] if notice else []), *notes]:
        print(f"note: {note}", file=err)
    if pipeline.state == StreamState.ERROR:
        print(f"neuroclip-live: {pipeline.message}", file=err)
        return EXIT_USER_ERROR
    summary = f"{counted(count, 'timestep')}, {pipeline.dropped:,} dropped"
    if snapshot.model_engine:  # what ran: "RN50 · OpenVINO bf16 · CPU"
        summary += f" ({model_name} · {snapshot.model_engine})"
    events_dropped = snapshot.stats.events_dropped
    if events_dropped:
        summary += f", {counted(events_dropped, 'event')} dropped by the rate limit"
    print(f"neuroclip-live: {summary}{ending}", file=err)
    return 0
