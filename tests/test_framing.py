"""The framer against frames worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from neuroclip_live.events import SensorSize, make_events
from neuroclip_live.stream.framing import (
    EventFramer,
    TimestepRule,
    render_frame,
    sample_frames,
)

SIZE = SensorSize(4, 3)


def ev(rows):
    """rows of (t, x, y, p)."""
    t, x, y, p = zip(*rows, strict=True)
    return make_events(t, x, y, p)


def test_render_by_hand_last_event_wins():
    events = ev([(0, 0, 0, 1), (1, 3, 2, 0), (2, 1, 1, 1), (3, 1, 1, 0), (4, 2, 0, 1), (5, 2, 0, 1)])
    expected = np.array(
        [
            [255, 127, 255, 127],
            [127, 0, 127, 127],
            [127, 127, 127, 0],
        ],
        dtype=np.uint8,
    )
    frame = render_frame(events, SIZE)
    assert frame.dtype == np.uint8
    np.testing.assert_array_equal(frame, expected)


def test_render_skips_events_outside_the_sensor():
    events = ev([(0, 4, 0, 1), (1, 0, 3, 1), (2, 1, 1, 1)])
    framer = EventFramer(SIZE, TimestepRule("count", 3), T=2)
    (frame,) = framer.push(events)
    assert framer.outside_events == 2
    assert frame.image[1, 1] == 255
    assert (frame.image == 127).sum() == 11


def test_rule_parsing():
    assert TimestepRule.parse("20ms") == TimestepRule("time", 20_000)
    assert TimestepRule.parse("500us") == TimestepRule("time", 500)
    assert TimestepRule.parse("0.1s") == TimestepRule("time", 100_000)
    assert TimestepRule.parse("2000ev") == TimestepRule("count", 2000)
    assert TimestepRule.parse("5kev") == TimestepRule("count", 5000)
    for bad in ("", "20", "fast", "-3ms", "0ms"):
        with pytest.raises(ValueError):
            TimestepRule.parse(bad)
    assert str(TimestepRule.parse("20ms")) == "20ms" and str(TimestepRule.parse("2000ev")) == "2000ev"


def test_time_cut_by_hand_across_packets_and_gaps():
    framer = EventFramer(SIZE, TimestepRule("time", 10), T=3)
    # Timestep 0 is [100, 110): two events in the first packet, one in the second.
    assert framer.push(ev([(100, 0, 0, 1), (105, 1, 0, 0)])) == []
    done = framer.push(ev([(109, 1, 0, 1), (110, 2, 2, 0), (131, 3, 1, 1)]))
    # [100,110) done, [110,120) done with one event, [120,130) empty, [130,140) open.
    assert [(f.index, f.t_start_us, f.t_end_us, f.n_events) for f in done] == [
        (0, 100, 110, 3),
        (1, 110, 120, 1),
        (2, 120, 130, 0),
    ]
    first = np.full((3, 4), 127, np.uint8)
    first[0, 0] = 255
    first[0, 1] = 255  # OFF at t=105 overwritten by ON at t=109
    np.testing.assert_array_equal(done[0].image, first)
    assert done[1].image[2, 2] == 0 and (done[1].image == 127).sum() == 11
    assert (done[2].image == 127).all()
    last = framer.flush()
    assert last is not None and (last.t_start_us, last.t_end_us, last.n_events) == (130, 140, 1)
    assert last.image[1, 3] == 255
    assert [f.index for f in framer.window] == [1, 2, 3]  # T=3 rolling window
    assert framer.window_array().shape == (3, 3, 4)


def test_gap_shorter_than_the_window_gives_its_empty_frames():
    framer = EventFramer(SIZE, TimestepRule("time", 10), T=4)
    framer.push(ev([(0, 0, 0, 1)]))
    done = framer.push(ev([(35, 1, 1, 1)]))
    assert [(f.t_start_us, f.n_events, f.after_jump) for f in done] == [(0, 1, False), (10, 0, False), (20, 0, False)]
    assert framer.jumps == 0 and framer.skipped_steps == 0


def test_time_jump_resets_the_window_once_instead_of_rendering_the_gap():
    framer = EventFramer(SIZE, TimestepRule("time", 10), T=2)
    framer.push(ev([(0, 0, 0, 1), (5, 1, 0, 1)]))
    done = framer.push(ev([(1_003, 1, 1, 1)]))
    assert [(f.index, f.n_events) for f in done] == [(0, 2)]
    assert framer.skipped_steps == 99 and framer.jumps == 1
    assert list(framer.window) == []  # reset, as after a seek
    last = framer.flush()
    assert last is not None and (last.index, last.t_start_us, last.t_end_us, last.after_jump) == (0, 1_003, 1_013, True)


def test_garbage_time_words_give_one_frame_per_jump_not_the_gap():
    """Damaged EVT 2.0 time words: 7e13 us jumps. Each costs one frame, never up to T empty ones."""
    framer = EventFramer(SensorSize(2048, 2048), TimestepRule("time", 30_000), T=10)
    t = np.array([0, 10, 70_000_000_000_000, 70_000_000_000_005, 70_000_000_000_009, 140_000_000_000_000])
    frames = framer.push(make_events(t, np.arange(6), np.arange(6), np.ones(6)))
    assert [(f.n_events, f.after_jump) for f in frames] == [(2, False), (3, True)]
    assert framer.jumps == 2
    assert framer.flush().n_events == 1


def test_reused_frame_buffers_never_leak_an_old_frame_into_a_new_step():
    framer = EventFramer(SIZE, TimestepRule("count", 1), T=1)
    held = framer.push(ev([(0, 0, 0, 1)]))[0].image  # a consumer keeps this frame's image
    kept = held.copy()
    seen = []
    for k in range(1, 60):  # many timesteps: buffers that nobody holds are recycled
        (frame,) = framer.push(ev([(k, k % 4, (k // 4) % 3, k % 2)]))
        expected = np.full((3, 4), 127, np.uint8)
        expected[(k // 4) % 3, k % 4] = 255 if k % 2 else 0
        np.testing.assert_array_equal(frame.image, expected)  # nothing of earlier steps shows through
        seen.append(id(frame.image))
    np.testing.assert_array_equal(held, kept)  # the frame still held was never repainted
    assert id(held) not in seen
    assert len(set(seen)) < 10  # and the buffers nobody held were reused, not allocated every step
    view = framer.push(ev([(100, 3, 2, 0)]))[0].image[1:]  # a view keeps its buffer too
    before = view.copy()
    for k in range(101, 120):
        framer.push(ev([(k, 0, 0, 1)]))
    np.testing.assert_array_equal(view, before)


def test_a_recycled_buffer_resets_only_what_it_painted_and_refills_when_that_overflowed():
    """Sparse timesteps undo their own pixels, dense ones refill the buffer: both must equal a fresh frame."""
    size = SensorSize(64, 32)  # 2048 pixels: a buffer remembers 4 painted pixels
    rng = np.random.default_rng(3)
    framer = EventFramer(size, TimestepRule("time", 100), T=2)
    chunks, t0 = [], 0
    for step in range(120):
        n = (1, 3, 4, 5, 60, 0, 2)[step % 7]  # under, at and over what a buffer remembers; an empty step
        t = np.sort(rng.integers(t0, t0 + 100, n))
        chunks.append(make_events(t, rng.integers(0, 64, n), rng.integers(0, 32, n), rng.integers(0, 2, n)))
        t0 += 100
    events = np.concatenate(chunks)
    held = {}
    frames = []
    for i in range(0, events.shape[0], 7):  # packets that cut timesteps at odd places
        for frame in framer.frames(events[i : i + 7]):
            frames.append((frame.t_start_us, frame.image.copy()))
            if frame.index % 17 == 0:
                held[frame.index] = (frame.image, frame.image.copy())  # a consumer keeps a few
    assert len(frames) >= 100 and framer.buffers_allocated < 30  # buffers were recycled
    for start, image in frames:
        in_step = events[(events["t"] >= start) & (events["t"] < start + 100)]
        np.testing.assert_array_equal(image, render_frame(in_step, size), err_msg=f"step at {start} us")
    for image, copy in held.values():
        np.testing.assert_array_equal(image, copy)


def test_count_cut_by_hand():
    framer = EventFramer(SIZE, TimestepRule("count", 2), T=10)
    done = framer.push(ev([(0, 0, 0, 1), (1, 1, 0, 1), (2, 2, 0, 0)]))
    assert [(f.t_start_us, f.t_end_us, f.n_events) for f in done] == [(0, 1, 2)]
    done = framer.push(ev([(3, 3, 0, 1), (4, 0, 2, 0), (5, 1, 2, 0), (6, 2, 2, 1)]))
    assert [(f.t_start_us, f.t_end_us, f.n_events) for f in done] == [(2, 3, 2), (4, 5, 2)]
    np.testing.assert_array_equal(done[0].image[0], [127, 127, 0, 255])
    tail = framer.flush()
    assert tail is not None and tail.n_events == 1 and tail.image[2, 2] == 255
    assert framer.flush() is None


def test_reset_forgets_window_and_partial_step():
    framer = EventFramer(SIZE, TimestepRule("count", 2), T=4)
    framer.push(ev([(0, 0, 0, 1), (1, 1, 0, 1), (2, 2, 0, 0)]))
    framer.reset()
    assert len(framer.window) == 0 and framer.flush() is None
    (f,) = framer.push(ev([(50, 0, 0, 0), (51, 0, 0, 0)]))
    assert f.index == 0 and f.t_start_us == 50


def test_packet_boundaries_do_not_change_frames():
    rng = np.random.default_rng(1)
    n = 5000
    t = np.sort(rng.integers(0, 100_000, n))
    events = make_events(t, rng.integers(0, 4, n), rng.integers(0, 3, n), rng.integers(0, 2, n))
    for rule in (TimestepRule("time", 7_000), TimestepRule("count", 333)):
        whole = EventFramer(SIZE, rule, T=100)
        a = [*whole.push(events), whole.flush()]
        parts = EventFramer(SIZE, rule, T=100)
        b = []
        for chunk in np.array_split(events, 37):
            b += parts.push(chunk)
        b.append(parts.flush())
        assert len(a) == len(b)
        for fa, fb in zip(a, b, strict=True):
            assert (fa.t_start_us, fa.t_end_us, fa.n_events) == (fb.t_start_us, fb.t_end_us, fb.n_events)
            np.testing.assert_array_equal(fa.image, fb.image)
        # Rendering each timestep's events directly gives the same picture.
        for f in a:
            if rule.mode == "time":
                sel = events[(events["t"] >= f.t_start_us) & (events["t"] < f.t_end_us)]
                np.testing.assert_array_equal(f.image, render_frame(sel, SIZE))


def test_sample_frames_count_and_time():
    events = ev([(0, 0, 0, 1), (1, 1, 0, 1), (2, 2, 0, 1), (90, 3, 0, 0)])
    by_count = sample_frames(events, SIZE, T=2, mode="count")
    assert by_count.shape == (2, 3, 4)
    np.testing.assert_array_equal(by_count[0, 0], [255, 255, 127, 127])
    np.testing.assert_array_equal(by_count[1, 0], [127, 127, 255, 0])
    by_time = sample_frames(events, SIZE, T=2, mode="time")
    np.testing.assert_array_equal(by_time[0, 0], [255, 255, 255, 127])
    np.testing.assert_array_equal(by_time[1, 0], [127, 127, 127, 0])
    assert (sample_frames(ev([(0, 0, 0, 1)])[:0], SIZE, T=3) == 127).all()


def test_matches_dv_processing_renderer_on_real_recording(recordings_dir):
    dv = pytest.importorskip("dv_processing")
    rec = dv.io.MonoCameraRecording(str(recordings_dir / "davis346.aedat4"))
    w, h = rec.getEventResolution()
    store = dv.EventStore()
    while rec.isRunning():
        batch = rec.getNextEventBatch()
        if batch is not None:
            store.add(batch)
    arr = store.numpy()
    events = make_events(arr["timestamp"], arr["x"], arr["y"], arr["polarity"])
    vis = dv.visualization.EventVisualizer((w, h), (127,) * 3, (255,) * 3, (0,) * 3)
    expected = vis.generateImage(store)[:, :, 0]
    np.testing.assert_array_equal(render_frame(events, SensorSize(w, h)), expected)


def test_paint_events_accepts_strided_frames_and_events():
    from neuroclip_live.stream.framing import paint_events

    events = ev([(0, 0, 0, 1), (1, 3, 2, 0), (2, 1, 1, 1), (3, 2, 2, 1)])
    big = np.full((3, 8), 127, np.uint8)
    view = big[:, ::2]  # every other column: not C-contiguous
    assert paint_events(view, events[::2]) == 0  # every other event: a strided record array
    expected = np.full((3, 4), 127, np.uint8)
    expected[0, 0] = 255
    expected[1, 1] = 255
    np.testing.assert_array_equal(view, expected)
    assert (big[:, 1::2] == 127).all()


def test_one_wild_time_word_costs_two_resets_not_the_rest_of_the_stream():
    framer = EventFramer(SIZE, TimestepRule("time", 10), T=3)
    t = [0, 5, 12, 70_000_000_000_000, 25, 31, 44, 52]  # one event far ahead, then time as before
    frames = [*framer.push(make_events(t, np.zeros(8), np.zeros(8), np.ones(8))), framer.flush()]
    assert [(f.t_start_us, f.n_events) for f in frames] == [
        (0, 2),
        (10, 1),
        (70_000_000_000_000, 1),
        (25, 2),
        (35, 1),
        (45, 1),
    ]
    assert framer.jumps == 2
