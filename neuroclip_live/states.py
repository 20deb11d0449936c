"""The states shared by the core and the GUI, each owned by one object.

``StrEnum`` so that a state prints, logs and serialises as its plain word
("playing"), which is also what the status bar and the JSON lines show.
"""

from __future__ import annotations

from enum import StrEnum


class StreamState(StrEnum):
    """Where a pipeline's stream is; owned by ``runtime.pipeline.Pipeline``."""

    STARTING = "starting"
    LOADING_MODEL = "loading model"  # a recording waits for its model before it plays
    PLAYING = "playing"
    PAUSED = "paused"
    LIVE = "live"
    DISCONNECTED = "disconnected"
    NO_DATA = "no data"  # a live source connected but sending no events for a while
    ENDED = "ended"
    STOPPED = "stopped"
    ERROR = "error"


class ModelState(StrEnum):
    """The classifier behind a pipeline; owned by ``runtime.worker.ModelWorker``."""

    NONE = "none"  # frames only
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class PlaybackState(StrEnum):
    """A recording's replay; owned by ``stream.replay.Replay``."""

    PLAYING = "playing"
    PAUSED = "paused"
    ENDED = "ended"  # played to the end, no loop
    STOPPED = "stopped"
