"""The headless run: a pipeline whose sink prints one line (or one JSON object) per timestep, optional PNGs."""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from typing import Any, TextIO

from neuroclip_live.errors import NeuroclipError
from neuroclip_live.runtime.config import RunConfig
from neuroclip_live.runtime.outputs import prepare_output_dir
from neuroclip_live.runtime.pipeline import Pipeline, StepResult
from neuroclip_live.runtime.prediction_log import PredictionLogWriter
from neuroclip_live.runtime.result_records import result_record
from neuroclip_live.states import StreamState

EXIT_USER_ERROR = 2


def result_line(result: StepResult, top_k: int = 3) -> str:
    """A human-readable line for one timestep."""
    frame = result.frame
    parts = [f"step {result.step:6d}", f"t={frame.t_end_us / 1e6:9.3f}s", f"events {frame.n_events:7d}"]
    if result.scores is not None:
        tops = "  ".join(f"{label} {p * 100:5.1f}%" for label, p in result.scores.top(top_k))
        none = not result.confident_top(top_k)  # below the minimum confidence: "none of these"
        parts.append(f"| – ({tops}) |" if none else f"| {tops} |")
    parts.append(f"latency {result.latency_ms:7.1f} ms")
    parts.append(f"drops {result.drops}")
    if result.events_dropped:
        parts.append(f"events dropped {result.events_dropped}")
    return "  ".join(parts)


class HeadlessSink:
    """Writes each result to a text stream, and frames as PNG files when asked."""

    def __init__(self, out: TextIO | None = None, as_json: bool = False, dump_dir: str | None = None, top_k: int = 3):
        self.out = out if out is not None else sys.stdout
        self.as_json = as_json
        self.top_k = top_k
        self.dump_dir = prepare_output_dir(dump_dir, "--dump") if dump_dir else None
        self.count = 0

    def write(self, result: StepResult) -> None:
        if self.as_json:
            self.out.write(json.dumps(result_record(result, self.top_k)) + "\n")
        else:
            self.out.write(result_line(result, self.top_k) + "\n")
        self.out.flush()
        if self.dump_dir is not None:
            from PIL import Image  # only needed for --dump

            Image.fromarray(result.frame.image).save(self.dump_dir / f"step{result.step:06d}.png")
        self.count += 1


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


def open_prediction_log(config: RunConfig) -> PredictionLogWriter | None:
    """The ``--log`` writer of a run (None without one): its file is checked and opened now."""
    if config.log_path is None:
        return None
    source = config.source.describe() if config.source is not None else ""
    return PredictionLogWriter(config.log_path, str(config.rule), config.T, source)


def run_headless(config: RunConfig, options: HeadlessOptions, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Replay or stream ``config.source`` to ``out`` until it ends; returns the exit code."""
    from neuroclip_live.stream.sources import open_source

    err = err if err is not None else sys.stderr
    spec = config.source
    if spec is None:
        raise NeuroclipError("--headless needs a source: --file PATH, --camera [SERIAL] or --net HOST:PORT")
    controls = config.initial_controls()
    loader = config.classifier_loader(controls) if config.wants_model(controls.labels) else None
    sink = HeadlessSink(out, as_json=options.as_json, dump_dir=options.dump_dir, top_k=options.top_k)
    prediction_log = open_prediction_log(config)  # an unwritable --log fails here, before any work
    # Open once here so that a bad file fails before any thread starts, with its one-line message.
    first = open_source(spec)
    opened = [first]

    def reopen() -> Any:
        return opened.pop() if opened else open_source(spec)

    pipeline = Pipeline(reopen, config, loader)
    if prediction_log is not None:
        pipeline.add_result_listener(prediction_log)
    states = SourceStateLines(pipeline, err)
    interrupted = False
    try:
        results = pipeline.results()  # before start: a lossless run keeps every frame for us
        pipeline.start()
        states.start()
        for result in results:
            sink.write(result)
            if options.max_steps is not None and sink.count >= options.max_steps:
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if not pipeline.stop():
            pipeline.join(timeout=30)  # a CPU model step in flight: let it end before the process does
        states.stop()
        if prediction_log is not None:
            prediction_log.close()
    notice = pipeline.snapshot().notice  # how the model, adapter and labels were combined
    log_error = prediction_log.error if prediction_log is not None else None
    for note in [*getattr(first, "notes", []), *([notice] if notice else []), *([log_error] if log_error else [])]:
        print(f"note: {note}", file=err)
    if pipeline.state == StreamState.ERROR:
        print(f"neuroclip-live: {pipeline.message}", file=err)
        return EXIT_USER_ERROR
    summary = f"{sink.count} timesteps, {pipeline.dropped} dropped"
    events_dropped = pipeline.snapshot().stats.events_dropped
    if events_dropped:
        summary += f", {events_dropped:,} events dropped by the rate limit"
    print(f"neuroclip-live: {summary}" + (" (interrupted)" if interrupted else ""), file=err)
    return 0
