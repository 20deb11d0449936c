"""A prediction log: every scored timestep as one JSON line, after a header that says what scored them.

Written by ``--log PATH.jsonl`` (window and headless) and beside every recording made from the
window (``NAME.predictions.jsonl`` next to ``NAME.aedat4``: what the app said live). The lines are
the headless ``--json`` objects (``runtime.result_records``); the first line is the header: model,
weights hash, backend and precision, adapter hash, labels, templates, alpha, T and cut rule.

The writer is a result listener (``Pipeline.add_result_listener``): it runs on the worker thread,
writes a batch at a time and flushes, so a run that is killed leaves a log readable up to its last
batch. Reading stops at the first damaged line (a truncated end, bytes that are not JSON) and says
so in one note; what came before is kept.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuroclip_live.errors import NeuroclipError
from neuroclip_live.runtime.outputs import check_output_file
from neuroclip_live.runtime.result_records import result_record
from neuroclip_live.runtime.status import StepResult

log = logging.getLogger(__name__)

LOG_FORMAT = 1
HEADER_KEY = "neuroclip_live_predictions"  # the header's first key holds the format
LOG_SUFFIX = ".predictions.jsonl"
TOP_K = 3


def log_path_for(recording: str | Path) -> Path:
    """Where a recording's prediction log lies: ``NAME.predictions.jsonl`` beside ``NAME.aedat4``."""
    p = Path(recording)
    return p.with_name(p.stem + LOG_SUFFIX)


def log_header(classifier: Any, cut: str, T: int, source: str) -> dict[str, Any]:
    """What scored the log's timesteps (a ``StreamingClassifier``'s model, weights, labels, alpha...)."""
    # Here, not at the top: the window imports this module, and torch loads on the model's thread.
    from neuroclip_live.model.fingerprint import module_sha256

    backbone = getattr(classifier, "backbone", None)  # None: a stand-in classifier (tests) says what it can
    adapter = getattr(classifier, "adapter", None)
    return {
        HEADER_KEY: LOG_FORMAT,
        "model": None if backbone is None else backbone.name,
        "weights_sha256": None if backbone is None else module_sha256(backbone.model),
        "backend": None if backbone is None else backbone.image_encoder.backend,
        "precision": None if backbone is None else backbone.image_encoder.precision,
        "adapter_sha256": None if adapter is None else module_sha256(adapter),
        "labels": list(classifier.labels),
        "templates": list(getattr(classifier, "templates", ())),
        "ensemble": bool(getattr(classifier, "ensemble", True)),
        "alpha": [float(a) for a in getattr(classifier, "alpha", [1.0 / T] * T)],
        "T": int(T),
        "cut": cut,
        "source": source,
    }


class PredictionLogWriter:
    """Writes scored timesteps to ``path`` as they come (a result listener); one-line errors, never a traceback.

    ``follow_recording``: a log written beside a recording keeps to the file's clock, which the
    recorder moves on past the last event when time steps back (a seek back, a loop): so does the log,
    at each new epoch, to within one timestep.
    """

    def __init__(
        self,
        path: str | Path,
        cut: str,
        T: int,
        source: str = "",
        option: str = "--log",
        follow_recording: bool = False,
        origin_us: int | None = None,
    ) -> None:
        self.path = Path(path)
        check_output_file(self.path, option)
        try:
            self._fh: Any = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - held until close()
        except OSError as err:
            raise NeuroclipError(f"{option} {self.path}: {err.strerror or err}") from None
        self._run = (cut, T, source)
        self._follow = follow_recording
        self._origin = origin_us  # ``t_s`` counts from here (a recording's start); None: the first timestep's
        self._lock = threading.Lock()
        self._described: tuple[int, tuple[str, int, str]] | None = None  # what the last header said
        self._offset = 0
        self._last_end: int | None = None
        self._epoch: int | None = None
        self.count = 0  # timesteps written
        self.error: str | None = None  # one line when writing failed (the log holds what came before)

    def __call__(self, results: list[StepResult], classifier: Any) -> None:
        scored = [r for r in results if r.scores is not None]
        if not scored or classifier is None:
            return
        with self._lock:
            if self._fh is None:
                return
            lines = []
            described = (id(classifier), self._run)
            if described != self._described:  # the first batch, or a new model, source, cut or T in the window
                lines.append(json.dumps(log_header(classifier, *self._run)))
            lines += [json.dumps(self._record(r)) for r in scored]
            try:
                self._fh.write("\n".join(lines) + "\n")
                self._fh.flush()
            except OSError as err:
                self.error = f"prediction log {self.path.name} stopped: {err.strerror or err}"
                self._close_file()
                return
            self._described = described
            self.count += len(scored)

    def set_run(self, cut: str, T: int, source: str) -> None:
        """What the next timesteps come from (the window rebuilt its pipeline): a new header precedes them."""
        with self._lock:
            self._run = (cut, T, source)

    def _record(self, result: StepResult) -> dict[str, Any]:
        if self._origin is None:
            self._origin = result.frame.t_start_us
        record = result_record(result, TOP_K, self._origin)
        if self._follow:
            stepped_back = self._last_end is not None and record["t_start_us"] + self._offset < self._last_end
            if result.epoch != self._epoch and stepped_back:  # a seek back or a loop: the recorder moved on
                self._offset = self._last_end - record["t_start_us"]
            self._epoch = result.epoch
            record["t_start_us"] += self._offset
            record["t_end_us"] += self._offset
            record["t_s"] = round((record["t_end_us"] - self._origin) / 1e6, 6)
            self._last_end = record["t_end_us"]
        return record

    def close(self) -> None:
        with self._lock:
            self._close_file()

    def _close_file(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.close()
            except OSError as err:
                self.error = self.error or f"prediction log {self.path.name}: {err.strerror or err}"


@dataclass
class PredictionLog:
    """A log read back: its header, its timesteps up to any damage, and the one note that says what was skipped."""

    path: Path
    header: dict[str, Any]  # the first; a window that changed model or source wrote more (``headers``)
    records: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None
    headers: list[dict[str, Any]] = field(default_factory=list)

    def time_span(self) -> tuple[int, int] | None:
        if not self.records:
            return None
        return min(r["t_start_us"] for r in self.records), max(r["t_end_us"] for r in self.records)

    def belongs_to(self, time_range: tuple[int, int], step_us: int = 1_000_000) -> bool:
        """Whether its timesteps lie in ``time_range`` (give or take ``step_us``): else it is another recording's."""
        span = self.time_span()
        if span is None:
            return False
        t0, t1 = time_range
        return span[0] >= t0 - step_us and span[1] <= t1 + step_us and span[1] > t0


_NEEDED = {"t_start_us": int, "t_end_us": int, "scores": dict, "top": list}


def _parse(line: str) -> tuple[dict[str, Any] | None, str | None]:
    """A record or header line as an object, or why it cannot be used."""
    try:
        record = json.loads(line)
    except ValueError as err:
        return None, f"not JSON ({err.msg})"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    if HEADER_KEY in record:
        return record, None
    for key, kind in _NEEDED.items():
        if not isinstance(record.get(key), kind) or isinstance(record.get(key), bool):
            return None, f"no {key}"
    return record, None


def read_prediction_log(path: str | Path) -> PredictionLog:
    """A prediction log, read up to its first damaged line; ``NeuroclipError`` when it is none at all."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8", errors="replace")
    except OSError as err:
        raise NeuroclipError(f"cannot read prediction log {p}: {err.strerror or err}") from None
    lines = text.split("\n")
    try:
        header = json.loads(lines[0])
    except ValueError:
        header = None
    if not isinstance(header, dict) or HEADER_KEY not in header:
        raise NeuroclipError(f"{p.name} is not a prediction log (its first line is no neuroclip-live header)")
    out = PredictionLog(p, header, headers=[header])
    body = lines[1:]
    complete = text.endswith("\n")
    for number, line in enumerate(body, start=2):
        last = number == len(body) + 1
        if last and not line:
            break  # the newline that ends the last record
        record, why = _parse(line)
        if record is not None:
            (out.headers if HEADER_KEY in record else out.records).append(record)
            continue
        if last and not complete:
            why = "cut short"  # a run killed mid-write; what a flush completed is there
        out.note = f"{p.name}: read {len(out.records)} timesteps; line {number} is damaged ({why}), the rest is ignored"
        break
    return out


def step_tops(log: PredictionLog) -> tuple[list[str], list[int], list[float]]:
    """Labels in order of first use, and for each timestep its logged top label's index (-1: none) and probability."""
    labels: dict[str, int] = {}
    tops, probs = [], []
    for r in log.records:
        top: Sequence[str] = r["top"]
        if top:
            label = str(top[0])
            tops.append(labels.setdefault(label, len(labels)))
            probs.append(float(r["scores"].get(label, 0.0)))
        else:
            tops.append(-1)
            probs.append(0.0)
    return list(labels), tops, probs
