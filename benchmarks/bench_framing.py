"""Framer throughput next to dv-processing's renderer on the same events and cuts."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import partial

import numpy as np

from neuroclip_live.events import SensorSize, make_events
from neuroclip_live.stream.framing import EventFramer, TimestepRule, render_frame

N_EVENTS = 1_000_000
DURATION_US = 1_000_000
STEP_US = 10_000  # 100 timesteps over the second
STEP_EVENTS = 10_000
PACKET = 10_000  # dv-processing reads about 10k events a batch


def _events(size: SensorSize, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, DURATION_US, N_EVENTS))
    return make_events(
        t, rng.integers(0, size.width, N_EVENTS), rng.integers(0, size.height, N_EVENTS), rng.integers(0, 2, N_EVENTS)
    )


def _median_s(fn, repeats: int) -> float:
    fn()  # warm-up (numba compile, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _framer_run(events: np.ndarray, size: SensorSize, rule: TimestepRule) -> int:
    framer = EventFramer(size, rule, T=10)
    n = 0
    for i in range(0, events.shape[0], PACKET):
        n += len(framer.push(events[i : i + PACKET]))
    return n + (framer.flush() is not None)


def _dv_store(events: np.ndarray):
    import dv_processing as dv

    store = dv.EventStore()
    # No fast numpy → EventStore path exists (see LIBRARY-NOTES); this is setup, not timed.
    for t, x, y, p in zip(
        events["t"].tolist(), events["x"].tolist(), events["y"].tolist(), events["p"].tolist(), strict=True
    ):
        store.push_back(t, x, y, bool(p))
    return store


def _dv_run(store, size: SensorSize, rule: TimestepRule) -> int:
    import dv_processing as dv

    vis = dv.visualization.EventVisualizer((size.width, size.height), (127,) * 3, (255,) * 3, (0,) * 3)
    frames = []
    slicer = dv.EventStreamSlicer()
    if rule.mode == "time":
        slicer.doEveryTimeInterval(timedelta(microseconds=rule.size), lambda s: frames.append(vis.generateImage(s)))
    else:
        slicer.doEveryNumberOfElements(rule.size, lambda s: frames.append(vis.generateImage(s)))
    n = len(store)
    for i in range(0, n, PACKET):
        slicer.accept(store.slice(i, min(PACKET, n - i)))
    return len(frames)


def collect(quick: bool = False) -> dict[str, float]:
    repeats = 3 if quick else 7
    out: dict[str, float] = {}
    for size in (SensorSize(346, 260), SensorSize(1280, 720)):
        events = _events(size)
        tag = f"{size.width}x{size.height}"
        for rule in (TimestepRule("time", STEP_US), TimestepRule("count", STEP_EVENTS)):
            s = _median_s(partial(_framer_run, events, size, rule), repeats)
            out[f"framer_{rule.mode}_{tag}_mev_s"] = N_EVENTS / s / 1e6
        try:
            store = _dv_store(events)
        except ImportError:
            continue
        for rule in (TimestepRule("time", STEP_US), TimestepRule("count", STEP_EVENTS)):
            s = _median_s(partial(_dv_run, store, size, rule), repeats)
            out[f"dv_renderer_{rule.mode}_{tag}_mev_s"] = N_EVENTS / s / 1e6
        # The renderers alone: all 1M events into one frame (no cutting, no per-timestep frames).
        import dv_processing as dv

        vis = dv.visualization.EventVisualizer((size.width, size.height), (127,) * 3, (255,) * 3, (0,) * 3)
        out[f"render_one_frame_{tag}_mev_s"] = N_EVENTS / _median_s(partial(render_frame, events, size), repeats) / 1e6
        out[f"dv_render_one_frame_{tag}_mev_s"] = N_EVENTS / _median_s(partial(vis.generateImage, store), repeats) / 1e6
    # The headline pair named by the issue: 1M events, 346x260, cut by time.
    out["framer_mev_s"] = out["framer_time_346x260_mev_s"]
    if "dv_renderer_time_346x260_mev_s" in out:
        out["dv_renderer_mev_s"] = out["dv_renderer_time_346x260_mev_s"]
    return out
