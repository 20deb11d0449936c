"""User-facing errors: each carries one line that says what is wrong and what to do.

The command line and the GUI catch ``NeuroclipError`` and show ``str(err)``
without a traceback; anything else is a bug and keeps its traceback.
"""


class NeuroclipError(Exception):
    """A problem caused by input or environment, explained in one line."""


class SourceError(NeuroclipError):
    """An event source could not be opened or read (missing file, bad format, no camera)."""


class SourceDisconnected(SourceError):
    """A live source went away mid-stream (camera unplugged, network closed)."""


class ModelError(NeuroclipError):
    """A model, its weights or an adapter could not be loaded."""


class DataError(NeuroclipError):
    """A labelled data set for training or evaluation is unusable."""


class ClusterError(NeuroclipError):
    """Ray is missing, or a Ray cluster could not be started, joined or used."""
