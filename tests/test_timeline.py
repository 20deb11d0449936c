"""The alpha window over kept timesteps (offline.timeline) against the classifier's own, and how ranges are made."""

from __future__ import annotations

import numpy as np
import torch

from neuroclip_live.model.classifier import window_logits
from neuroclip_live.offline.kept_features import KeptFeatures, StepRows
from neuroclip_live.offline.label_timeline import SessionTimeline
from neuroclip_live.offline.timeline import LabelSpace, label_ranges, top_ranges, window_centres, window_probs

STEP_US = 30_000


def rows_of(feats: np.ndarray, segment: list[int]) -> StepRows:
    n = feats.shape[0]
    starts = np.arange(n, dtype=np.int64) * STEP_US
    return StepRows(starts, starts + STEP_US, np.ones(n, dtype=np.int64), np.asarray(segment, dtype=np.int64), feats)


def test_windows_fill_and_restart_at_each_reset_as_the_classifier_does():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(13, 8)).astype(np.float32)
    text = rng.normal(size=(3, 8)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    alpha = np.linspace(0.2, 1.0, 4)  # not uniform: which frame gets which weight matters
    segment = [0] * 5 + [1] * 8  # a reset (a time jump) before the sixth timestep
    space = LabelSpace(("a", "b", "c"), text, alpha, 30.0)
    probs = window_probs(rows_of(feats, segment), space)
    for k in range(13):
        first = 0 if k < 5 else 5
        window = torch.from_numpy(feats[max(first, k - 3) : k + 1])
        logits = window_logits(window, torch.from_numpy(text), torch.as_tensor(alpha, dtype=torch.float32), 30.0)
        assert np.abs(probs[k] - torch.softmax(logits, -1).numpy()).max() < 1e-5, k


def test_ranges_merge_across_one_timestep_never_two_nor_a_reset():
    labels = ("a", "b")
    top = np.array([0, 0, -1, 0, 0, 1, 1, 0, -1, -1, 0, 0, 0])
    peak = np.linspace(0.5, 0.9, 13)
    segment = [0] * 11 + [1] * 2  # a reset between the 11th and 12th timestep
    rows = rows_of(np.zeros((13, 1), dtype=np.float32), segment)
    centres = (rows.t_start_us + rows.t_end_us) / 2.0  # a window of one frame: its own middle
    ranges = label_ranges(top, peak, labels, rows, centres)
    assert [(r.label, r.first_step, r.last_step) for r in ranges] == [
        ("a", 0, 4),  # one timestep of nothing between: one range
        ("b", 5, 6),
        ("a", 7, 7),  # two timesteps apart from the next "a": another range
        ("a", 10, 10),
        ("a", 11, 12),  # after the reset: another range
    ]
    assert ranges[0].t_start_us == 0 and ranges[0].t_end_us == 5 * STEP_US and ranges[0].peak == peak[4]


def test_a_range_lies_where_its_windows_centre():
    """Uniform alpha, T = 10: a window's centre is 4.5 timesteps before its newest frame's middle (135 ms at 30 ms)."""
    alpha = np.full(10, 0.1)
    rows = rows_of(np.zeros((40, 1), dtype=np.float32), [0] * 40)
    centres = window_centres(rows, alpha)
    assert centres[0] == STEP_US / 2  # the first window holds one frame
    assert abs(centres[20] - ((20 * STEP_US + STEP_US / 2) - 4.5 * STEP_US)) < 1e-6


def test_min_confidence_leaves_weak_windows_unnamed():
    feats = np.array([[1.0, 0.0]] * 6 + [[0.6, 0.5]] * 6, dtype=np.float32)
    space = LabelSpace(("x", "y"), np.eye(2, dtype=np.float32), np.array([1.0]), 10.0)  # T = 1
    rows = rows_of(feats, [0] * 12)
    assert [r.label for r in top_ranges(rows, space, 0.0)] == ["x"]  # 0: every window names its top label
    strong = top_ranges(rows, space, 0.9)
    assert [(r.label, r.first_step, r.last_step) for r in strong] == [("x", 0, 5)]  # the close call is "none"


class FakeScores:
    def __init__(self, feature):
        self.feature = feature


class FakeFrame:
    def __init__(self, k):
        self.t_start_us, self.t_end_us, self.n_events = k * STEP_US, (k + 1) * STEP_US, 10


class FakeResult:
    def __init__(self, k, feature, epoch=0):
        self.frame, self.scores, self.epoch = FakeFrame(k), FakeScores(feature), epoch


class FakeClassifier:
    """What a session timeline reads of the live classifier: its labels, text, alpha and scale."""

    def __init__(self, labels, text):
        self.labels, self.text_features = list(labels), torch.from_numpy(text)
        self.templates, self.ensemble, self.alpha, self.logit_scale = ("{}",), True, np.array([1.0]), 10.0


def test_a_session_timeline_keeps_the_last_timesteps_and_follows_the_live_labels():
    timeline = SessionTimeline(max_steps=8)
    x, y = np.array([1.0, 0.0], dtype=np.float32), np.array([0.0, 1.0], dtype=np.float32)
    clf = FakeClassifier(("x", "y"), np.eye(2, dtype=np.float32))
    timeline([FakeResult(k, x) for k in range(6)], clf)
    timeline([FakeResult(k, y) for k in range(6, 12)], clf)
    snap = timeline.snapshot(0.0)
    assert snap.steps == 6 and snap.span == (6 * STEP_US, 12 * STEP_US)  # 12 > 8: the oldest went, in a chunk
    assert [r.label for r in snap.ranges] == ["y"]
    timeline([FakeResult(12, y)], FakeClassifier(("y", "z"), np.array([[0, 1], [1, 0]], dtype=np.float32)))
    again = timeline.snapshot(0.0)
    assert again.labels == ("y", "z") and again.version > snap.version  # recoloured with the new labels' text
    assert timeline.snapshot(0.0) is again  # nothing new: nothing recomputed


def test_kept_features_grow_and_views_stay_as_they_were():
    kept = KeptFeatures(2, capacity=2)
    kept.append([0], [1], [5], [0], np.ones((1, 2)))
    before = kept.view()
    kept.append([1, 2, 3], [2, 3, 4], [5, 5, 5], [0, 0, 1], np.zeros((3, 2)))
    assert len(before) == 1 and before.feats[0].tolist() == [1.0, 1.0]
    after = kept.view()
    assert len(after) == 4 and after.segment.tolist() == [0, 0, 0, 1] and after.first == 0
    kept.drop_oldest(2)
    assert kept.view().t_start_us.tolist() == [2, 3] and kept.view().first == 2 and len(after) == 4
