"""Search a recording for labels: where each label is the window's top label, with its peak probability.

``search_recording`` gets the recording's kept features (from the store, else one pass through the
live app's framer and classifier: ``offline.recording_pass``) and turns them into ranges with the
classifier's own labels, alpha and window (``offline.timeline``). A second search of the same
recording with other labels encodes no image: it costs the text encoder and a matrix product.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuroclip_live.events import SensorSize
from neuroclip_live.offline.kept_features import KeptFeatureStore
from neuroclip_live.offline.recording_pass import PassOutcome, ProgressCallback, kept_features_for
from neuroclip_live.offline.timeline import LabelRange, LabelSpace, top_ranges
from neuroclip_live.stream.framing import TimestepRule


@dataclass
class SearchReport:
    """The ranges found, the labels asked for, and how the features came (``outcome``)."""

    ranges: list[LabelRange]
    labels: tuple[str, ...]
    min_confidence: float
    outcome: PassOutcome

    def by_label(self) -> dict[str, list[LabelRange]]:
        found: dict[str, list[LabelRange]] = {label: [] for label in self.labels}
        for r in self.ranges:
            found[r.label].append(r)
        return found


def search_recording(
    path: str | Path,
    classifier: Any,
    rule: TimestepRule,
    T: int,
    min_confidence: float,
    store: KeptFeatureStore | None = None,
    sensor: SensorSize | None = None,
    on_batch: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> SearchReport:
    """Ranges of ``classifier``'s labels in the recording at ``path`` (a stopped pass: those found so far)."""
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"the minimum confidence is a probability in [0, 1], not {min_confidence}")
    outcome = kept_features_for(path, classifier, rule, T, store, sensor, on_batch, cancel)
    space = LabelSpace.of(classifier)
    return SearchReport(top_ranges(outcome.rows, space, min_confidence), space.labels, min_confidence, outcome)


def range_lines(report: SearchReport, origin_us: int) -> list[str]:
    """One line per range, grouped by label in the order asked; times in seconds from ``origin_us``."""
    width = max((len(label) for label in report.labels), default=5)
    lines = [f"{'label':<{width}}  {'start':>9}  {'end':>9}  {'duration':>9}  peak"]
    for label, ranges in report.by_label().items():
        if not ranges:
            lines.append(f"{label:<{width}}  {'–':>9}  (never the top label with p ≥ {report.min_confidence:g})")
        for r in ranges:
            start, end = (r.t_start_us - origin_us) / 1e6, (r.t_end_us - origin_us) / 1e6
            lines.append(
                f"{label:<{width}}  {start:8.3f}s  {end:8.3f}s  {r.duration_us / 1e6:8.3f}s  {r.peak * 100:5.1f}%"
            )
    return lines
