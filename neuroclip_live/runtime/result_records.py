"""One scored timestep as a JSON object: what headless ``--json`` prints and a prediction log holds."""

from __future__ import annotations

from typing import Any

from neuroclip_live.runtime.status import StepResult


def result_record(result: StepResult, top_k: int = 3, origin_us: int = 0) -> dict[str, Any]:
    """The JSON object for one timestep (the ``--json`` schema).

    ``t_start_us`` and ``t_end_us`` are on the recording's (or camera's) own clock; ``t_s`` is the
    timestep's end in seconds from ``origin_us``, the start of the recording, as the text lines say.
    ``top`` is empty where the window's top probability is below the minimum confidence
    ("none of these"); ``scores`` still holds every label's probability. ``epoch`` counts the
    resets (seek, loop, reconnect, time jump) before this timestep: a window never spans two.
    ``where`` (with maps on) gives each label's peak in sensor pixels.
    """
    frame = result.frame
    record: dict[str, Any] = {
        "step": result.step,
        "t_start_us": frame.t_start_us,
        "t_end_us": frame.t_end_us,
        "t_s": round((frame.t_end_us - origin_us) / 1e6, 6),
        "events": frame.n_events,
        "drops": result.drops,
        "events_dropped": result.events_dropped,
        "latency_ms": round(result.latency_ms, 3),
        "epoch": result.epoch,
    }
    scores = result.scores
    if scores is not None:
        record["scores"] = {label: round(float(p), 6) for label, p in zip(scores.labels, scores.probs, strict=True)}
        record["top"] = [label for label, _ in result.confident_top(top_k)]
        if scores.where is not None:
            record["where"] = scores.where.peak_table()  # label -> [x, y], the peak in sensor pixels
    return record
