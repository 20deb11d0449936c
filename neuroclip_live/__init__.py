"""neuroclip-live core: event sources, framing, CLIP + LIF inference. Never imports Qt."""

__version__ = "0.1.0"
