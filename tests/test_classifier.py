"""The streaming classifier: incremental steps equal the batch forward, window and alpha handling, labels."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from clip_fixtures import (
    TINY_RN,
    TINY_VIT,
    event_frames,
    spiking_adapter,
    tiny_backbone,
    tiny_model,
)
from neuroclip_live.errors import ModelError
from neuroclip_live.model.adapter import AdapterInfo, InterTimestepAdapter, save_adapter
from neuroclip_live.model.classifier import (
    Scores,
    StreamingClassifier,
    Timings,
    encode_frames_batched,
    load_alpha,
    window_logits,
    window_probs,
)
from neuroclip_live.model.prompts import LabelError
from neuroclip_live.model.setup import build_classifier

LABELS = ["cat", "dog", "car", "tree"]
T = 10


def lif_spike_count(adapter: InterTimestepAdapter, backbone, frames: np.ndarray) -> tuple[int, int]:
    feats = backbone.encode_frames(frames)
    adapter.reset_state()
    total = 0
    with torch.no_grad():
        for f in feats:
            s, _ = adapter.lif(adapter.bn_hidden(adapter.down(adapter.bn_in(f[None]))))
            total += int(s.sum())
    adapter.reset_state()
    return total, feats.shape[0] * adapter.down.out_features


@pytest.mark.parametrize("name", [TINY_VIT, TINY_RN])
@pytest.mark.parametrize("with_adapter", [False, True])
def test_one_frame_at_a_time_equals_the_batch_forward(name, with_adapter):
    backbone = tiny_backbone(name)
    frames = event_frames(T, 34, 40, seed=11)
    adapter = None
    if with_adapter:
        adapter = spiking_adapter(backbone, event_frames(40, 34, 40, seed=12))
        spikes, possible = lif_spike_count(adapter, backbone, frames)
        assert 0 < spikes < possible  # the membrane really matters
    clf = StreamingClassifier(backbone, LABELS, T=T, adapter=adapter)
    for frame in frames:
        (scores,) = clf.step(frame[None])
    expected = clf.batch_forward(frames)
    assert scores.frames == T
    np.testing.assert_allclose(scores.probs, expected, atol=1e-5, rtol=0)
    assert scores.probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert not np.allclose(expected, 1 / len(LABELS), atol=1e-3)  # scores are not trivially uniform


def test_batches_of_pending_frames_equal_single_steps():
    backbone = tiny_backbone()
    frames = event_frames(T, seed=13)
    adapter = spiking_adapter(backbone, event_frames(40, seed=14))
    single = StreamingClassifier(backbone, LABELS, T=T, adapter=adapter)
    ones = [single.step(f[None])[0] for f in frames]
    chunked = StreamingClassifier(backbone, LABELS, T=T, adapter=spiking_adapter(backbone, event_frames(40, seed=14)))
    chunks = [s for part in (frames[:3], frames[3:6], frames[6:]) for s in chunked.step(part)]
    assert [s.frames for s in chunks] == list(range(1, T + 1))
    for a, b in zip(ones, chunks, strict=True):
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-5, rtol=0)
    assert chunks[4].timings.batch == 3 and chunks[-1].timings.batch == 4


def test_a_filling_window_uses_the_frames_it_has():
    backbone = tiny_backbone()
    frames = event_frames(4, seed=15)
    clf = StreamingClassifier(backbone, LABELS, T=T)
    scores = clf.step(frames)
    assert [s.frames for s in scores] == [1, 2, 3, 4]
    np.testing.assert_allclose(scores[-1].probs, clf.batch_forward(frames), atol=1e-6)
    np.testing.assert_allclose(scores[0].probs, clf.batch_forward(frames[:1]), atol=1e-6)


def test_the_window_drops_the_oldest_frames():
    backbone = tiny_backbone()
    frames = event_frames(T + 3, seed=16)
    clf = StreamingClassifier(backbone, LABELS, T=T)
    last = clf.step(frames)[-1]
    assert last.frames == T
    np.testing.assert_allclose(last.probs, clf.batch_forward(frames[3:]), atol=1e-5)
    assert not np.allclose(last.probs, clf.batch_forward(frames[:T]), atol=1e-4)


def test_alpha_last_weights_the_newest_frame():
    backbone = tiny_backbone()
    frames = event_frames(T, seed=17)
    newest_only = np.zeros(T)
    newest_only[-1] = 1.0
    clf = StreamingClassifier(backbone, LABELS, T=T, alpha=newest_only)
    scores = clf.step(frames)
    single = StreamingClassifier(backbone, LABELS, T=1).batch_forward(frames[-1:])
    np.testing.assert_allclose(scores[-1].probs, single, atol=1e-6)
    # While the window fills, alpha[-1] still goes to the newest frame.
    np.testing.assert_allclose(
        scores[2].probs, StreamingClassifier(backbone, LABELS, T=1).batch_forward(frames[2:3]), atol=1e-6
    )


def test_window_logits_by_hand():
    feats = torch.tensor([[3.0, 4.0], [0.0, 2.0]])  # normalised: (0.6, 0.8), (0, 1)
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    alpha = torch.tensor([0.25, 0.75])
    got = window_logits(feats, text, alpha, logit_scale=10.0)
    # label 0: 10 * (0.25 * 0.6 + 0.75 * 0) = 1.5; label 1: 10 * (0.25 * 0.8 + 0.75 * 1) = 9.5
    assert torch.allclose(got, torch.tensor([1.5, 9.5]))
    # One frame of a 2-frame window: the newest weight, scaled to the window's total (1.0).
    assert torch.allclose(window_logits(feats[1:], text, alpha, 10.0), torch.tensor([0.0, 10.0]))


def test_probabilities_follow_the_papers_formula():
    backbone = tiny_backbone()
    frames = event_frames(T, seed=18)
    alpha = np.linspace(0.5, 1.5, T) / T
    clf = StreamingClassifier(backbone, LABELS, T=T, alpha=alpha, ensemble=False, templates="photo")
    f = backbone.encode_frames(frames).double()
    w = backbone.encode_text([f"a photo of a {label}." for label in LABELS]).double()
    logits = backbone.logit_scale * (torch.tensor(alpha)[:, None] * (f @ w.T)).sum(0)
    expected = torch.softmax(logits, 0).numpy()
    np.testing.assert_allclose(clf.step(frames)[-1].probs, expected, atol=1e-5)


def test_alpha_files(tmp_path):
    as_list = tmp_path / "alpha.json"
    as_list.write_text(json.dumps([0.1] * T))
    as_object = tmp_path / "alpha_obj.json"
    as_object.write_text(json.dumps({"alpha": list(range(1, T + 1)), "accuracy": 0.5}))
    np.testing.assert_allclose(load_alpha(as_list, T), 0.1)
    clf = StreamingClassifier(tiny_backbone(), LABELS, T=T, alpha=str(as_object))
    np.testing.assert_allclose(clf.alpha, np.arange(1, T + 1))
    with pytest.raises(ModelError, match="has 10 weights but the window has T=5"):
        load_alpha(as_list, 5)
    bad = tmp_path / "bad.json"
    for content in ('["a", 1]', "{", '{"alpha": []}', "[NaN]"):
        bad.write_text(content)
        with pytest.raises(ModelError) as err:
            load_alpha(bad)
        assert "\n" not in str(err.value)
    with pytest.raises(ModelError, match="cannot read alpha file"):
        load_alpha(tmp_path / "missing.json")
    with pytest.raises(ModelError, match=r"alpha must be 10 finite numbers .* got 2"):
        StreamingClassifier(tiny_backbone(), LABELS, T=T, alpha=[1.0, 2.0])


def test_default_alpha_is_the_mean_over_the_window():
    clf = StreamingClassifier(tiny_backbone(), LABELS, T=T)
    np.testing.assert_allclose(clf.alpha, np.full(T, 0.1))


def test_new_labels_mid_stream_reencode_only_the_text():
    backbone = tiny_backbone()
    frames = event_frames(6, seed=19)
    clf = StreamingClassifier(backbone, LABELS, T=T)
    clf.step(frames[:5])
    encoded = clf.text_cache.prompts_encoded
    result = clf.set_labels("cat, dog, boat, cat")
    assert result.labels == ["cat", "dog", "boat"] and clf.label_notes == result.notes
    assert clf.text_cache.prompts_encoded == encoded + len(clf.templates)  # only "boat" was new
    scores = clf.step(frames[5:])[0]
    assert scores.labels == ["cat", "dog", "boat"] and scores.frames == 6
    fresh = StreamingClassifier(backbone, ["cat", "dog", "boat"], T=T)
    np.testing.assert_allclose(scores.probs, fresh.batch_forward(frames), atol=1e-5)


def test_set_templates_recomputes_the_text():
    clf = StreamingClassifier(tiny_backbone(), LABELS, T=T)
    before = clf.text_features.clone()
    clf.set_templates("cifar10dvs")
    assert clf.templates == ("A low quality stick figure of the object {}.",)
    assert not torch.allclose(before, clf.text_features)
    # NeuroCLIP's N-MNIST template is longer than the tiny model's 16-token context: refused, nothing changed.
    with pytest.raises(LabelError, match="no room"):
        clf.set_templates("nmnist")
    assert clf.templates == ("A low quality stick figure of the object {}.",) and clf.labels == LABELS


def test_reset_forgets_window_and_membrane():
    backbone = tiny_backbone()
    frames = event_frames(8, seed=20)
    adapter = spiking_adapter(backbone, event_frames(40, seed=21))
    clf = StreamingClassifier(backbone, LABELS, T=T, adapter=adapter)
    clf.step(frames[:5])
    clf.reset()
    after_reset = clf.step(frames[5:])
    assert after_reset[0].frames == 1
    np.testing.assert_allclose(after_reset[-1].probs, clf.batch_forward(frames[5:]), atol=1e-5)


def test_batch_forward_leaves_the_stream_untouched():
    backbone = tiny_backbone()
    frames = event_frames(T, seed=22)
    adapter = spiking_adapter(backbone, event_frames(40, seed=23))
    a = StreamingClassifier(backbone, LABELS, T=T, adapter=adapter)
    b = StreamingClassifier(backbone, LABELS, T=T, adapter=spiking_adapter(backbone, event_frames(40, seed=23)))
    a.step(frames[:4])
    b.step(frames[:4])
    a.batch_forward(frames[::-1])
    np.testing.assert_allclose(a.step(frames[4:])[-1].probs, b.step(frames[4:])[-1].probs, atol=1e-6)


def test_adapter_for_another_dimension_is_refused():
    with pytest.raises(ModelError, match="64-d features"):
        StreamingClassifier(tiny_backbone(), LABELS, adapter=InterTimestepAdapter(64))


def test_scores_top_and_timings():
    scores = Scores(["a", "b", "c"], np.array([0.2, 0.5, 0.3], dtype=np.float32), Timings(1.0, 2.0, 1), 1)
    assert scores.top(2) == [("b", pytest.approx(0.5)), ("c", pytest.approx(0.3))]
    assert [label for label, _ in scores.top(10)] == ["b", "c", "a"]
    s = StreamingClassifier(tiny_backbone(), LABELS, T=T).step(event_frames(2, seed=24))
    assert all(x.timings.total_ms >= x.timings.encode_ms > 0 for x in s)
    assert s[0].probs.dtype == np.float32 and s[0].probs.shape == (len(LABELS),)


def test_encode_frames_batched_matches_one_batch():
    backbone = tiny_backbone()
    frames = event_frames(7, seed=25)
    whole = backbone.encode_frames(frames)
    for batch_size in (1, 3, 64):
        got = encode_frames_batched(backbone, frames, batch_size)
        assert got.device.type == "cpu" and got.shape == (7, 32)
        assert torch.allclose(got, whole, atol=1e-5)


def test_window_probs_batched_matches_the_classifier():
    backbone = tiny_backbone()
    samples = [event_frames(T, seed=30 + i) for i in range(3)]
    clf = StreamingClassifier(backbone, LABELS, T=T)
    feats = torch.stack([backbone.encode_frames(s) for s in samples])  # (B, T, C)
    probs = window_probs(feats, clf.text_features, None, backbone.logit_scale)
    for i, s in enumerate(samples):
        np.testing.assert_allclose(probs[i].numpy(), clf.batch_forward(s), atol=1e-5)


def test_build_classifier_from_files(tmp_path):
    weights = tmp_path / "w.pt"
    torch.save(tiny_model(seed=3).state_dict(), weights)
    adapter_path = tmp_path / "adapter.safetensors"
    info = AdapterInfo(
        TINY_VIT, 32, ["zero", "one"], ["a digit {}"], T=4, timestep="2000ev", alpha=[0.1, 0.2, 0.3, 0.4]
    )
    save_adapter(adapter_path, InterTimestepAdapter(32), info)
    clf = build_classifier(TINY_VIT, str(weights), "cpu", labels=None, T=4, adapter_path=str(adapter_path))
    assert clf.labels == ["zero", "one"] and clf.templates == ("a digit {}",)
    np.testing.assert_allclose(clf.alpha, [0.1, 0.2, 0.3, 0.4])
    assert clf.adapter is not None and not clf.adapter.training
    assert math.isclose(clf.step(event_frames(1))[0].probs.sum(), 1.0, abs_tol=1e-5)
    with pytest.raises(ModelError, match="no labels"):
        build_classifier(TINY_VIT, str(weights), "cpu", labels=None, T=4)
