"""The headless sink: one line (or one JSON object) per timestep, optional PNG dumps."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from neuroclip_live.errors import NeuroclipError
from neuroclip_live.runtime.pipeline import StepResult


def result_record(result: StepResult, top_k: int = 3) -> dict[str, Any]:
    """The JSON object for one timestep (the ``--json`` schema)."""
    frame = result.frame
    record: dict[str, Any] = {
        "step": result.step,
        "t_start_us": frame.t_start_us,
        "t_end_us": frame.t_end_us,
        "events": frame.n_events,
        "drops": result.drops,
        "latency_ms": round(result.latency_ms, 3),
    }
    scores = result.scores
    if scores is not None:
        record["scores"] = {label: round(float(p), 6) for label, p in zip(scores.labels, scores.probs)}
        record["top"] = [label for label, _ in scores.top(top_k)]
    return record


def result_line(result: StepResult, top_k: int = 3) -> str:
    """A human-readable line for one timestep."""
    frame = result.frame
    parts = [f"step {result.step:6d}", f"t={frame.t_end_us / 1e6:9.3f}s", f"events {frame.n_events:7d}"]
    if result.scores is not None:
        tops = "  ".join(f"{label} {p * 100:5.1f}%" for label, p in result.scores.top(top_k))
        parts.append(f"| {tops} |")
    parts.append(f"latency {result.latency_ms:7.1f} ms")
    parts.append(f"drops {result.drops}")
    return "  ".join(parts)


class HeadlessSink:
    """Writes each result to a text stream, and frames as PNG files when asked."""

    def __init__(self, out: TextIO | None = None, as_json: bool = False, dump_dir: str | None = None, top_k: int = 3):
        self.out = out if out is not None else sys.stdout
        self.as_json = as_json
        self.top_k = top_k
        self.dump_dir = Path(dump_dir) if dump_dir else None
        if self.dump_dir is not None:
            if self.dump_dir.exists() and not self.dump_dir.is_dir():
                raise NeuroclipError(f"--dump {self.dump_dir}: exists and is not a directory")
            try:
                self.dump_dir.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise NeuroclipError(f"--dump {self.dump_dir}: cannot create it ({err.strerror})") from None
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
