"""Crossing the dv-processing boundary: EventStore to EVENT_DTYPE, exceptions to one line."""

from __future__ import annotations

import dv_processing as dv
import numpy as np

from neuroclip_live.stream.sources.files.recording_scan import events_from_fields


def from_dv_store(store: dv.EventStore | None) -> np.ndarray:
    """EVENT_DTYPE from a dv-processing EventStore (``timestamp, x, y, polarity``)."""
    if store is None:
        return events_from_fields(*(np.empty(0, dtype=np.int64),) * 4)
    a = store.numpy()
    return events_from_fields(a["timestamp"], a["x"], a["y"], a["polarity"])


def dv_error_reason(err: BaseException) -> str:
    """The useful line of a dv-processing exception (they can carry a C++ stack trace)."""
    text = str(err)
    if "Error info:" in text:
        return text.split("Error info:", 1)[1].splitlines()[0].strip()
    return text.splitlines()[0] if text else type(err).__name__
