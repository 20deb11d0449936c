from __future__ import annotations

import numpy as np

from neuroclip_live.events import SensorSize, make_events
from neuroclip_live.stream.noise import BackgroundActivityFilter


def test_isolated_events_are_removed_and_supported_ones_kept():
    f = BackgroundActivityFilter(SensorSize(10, 10), duration_us=100)
    events = make_events(
        [0, 10, 20, 500, 1000, 1050],
        [5, 6, 0, 9, 3, 3],
        [5, 5, 0, 9, 3, 3],  # (6,5) follows its neighbour (5,5); (3,3) twice = same pixel, no support
        [1, 1, 0, 1, 1, 0],
    )
    kept = f(events)
    assert kept["t"].tolist() == [10]


def test_support_carries_across_packets_and_reset_clears_it():
    f = BackgroundActivityFilter(SensorSize(4, 4), duration_us=50)
    f(make_events([0], [1], [1], [1]))
    assert f(make_events([40], [2], [2], [0])).shape[0] == 1
    f.reset()
    assert f(make_events([45], [1], [2], [0])).shape[0] == 0


def test_real_noise_is_thinned(recordings_dir):
    import faery

    chunks = [c for c in faery.events_stream_from_file(recordings_dir / "dvs.es")]
    raw = np.concatenate(chunks)
    events = make_events(raw["t"], raw["x"], raw["y"], raw["on"])
    f = BackgroundActivityFilter(SensorSize(320, 240), duration_us=2_000)
    kept = f(events)
    assert 0 < kept.shape[0] < events.shape[0]
