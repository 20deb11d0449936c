"""The feature cache on real N-MNIST with tiny-digits: same rows as one process, reuse, resume, damage."""

from __future__ import annotations

import shutil

import pytest
import torch

from neuroclip_live.errors import DataError
from neuroclip_live.model.clip_model import load_clip
from neuroclip_live.model.settings import openvino_importable
from neuroclip_live.offline.datasets import Sample, load_split, pick_shots
from neuroclip_live.offline.evaluation import extract_features
from neuroclip_live.offline.feature_cache import CachedExtractor, EncodingKey


@pytest.fixture(scope="module")
def tiny():
    return load_clip("tiny-digits", device="cpu")


@pytest.fixture
def data(nmnist_slice):
    return load_split(nmnist_slice, "Train")


def test_rows_match_one_process_and_a_second_run_reuses_them(tiny, data, tmp_path):
    shots, _ = pick_shots(data, 2, seed=0)
    direct = extract_features(tiny, shots, 10, "count", views=3, augment=True, seed=4, progress=False)
    ex = CachedExtractor(tiny, 10, "count", tmp_path, shard_size=4, progress=False)
    first = ex.extract(shots, views=3, augment=True, seed=4)
    assert torch.allclose(first.feats, direct.feats, atol=1e-5)
    assert (first.labels == direct.labels).all() and len(first) == 6 * 3
    assert (
        ex.stats.computed_views == 18 and ex.stats.reused_views == 0 and ex.stats.computed_shards == 3
    )  # 4 views a shard, rounded up to whole samples

    again = CachedExtractor(tiny, 10, "count", tmp_path, shard_size=4, progress=False)  # a second run
    second = again.extract(shots, views=3, augment=True, seed=4)
    assert again.stats.computed_views == 0 and again.stats.reused_views == 18
    assert torch.equal(second.feats, first.feats)
    # Another seed draws other augmentations: new rows, not the cached ones.
    again.extract(shots, views=3, augment=True, seed=5)
    assert again.stats.computed_views == 18


def test_k_shot_runs_reuse_the_plain_rows(tiny, data, tmp_path):
    ex = CachedExtractor(tiny, 10, "count", tmp_path, shard_size=8, progress=False)
    everything = ex.extract(data.samples)
    assert ex.stats.computed_views == 24
    for k in (1, 3):
        _, rest = pick_shots(data, k, seed=k)
        part = ex.extract(rest)
        assert ex.stats.computed_views == 0 and ex.stats.reused_views == len(rest)
        index = [data.samples.index(s) for s in rest]
        assert torch.equal(part.feats, everything.feats[index])
    plain = extract_features(tiny, data.samples, 10, "count", progress=False)
    assert torch.allclose(everything.feats, plain.feats, atol=1e-5)


def test_key_follows_model_weights_frames_and_cut(tiny):
    base = EncodingKey.of(tiny, 10, "count")
    assert base.folder_name() == EncodingKey.of(tiny, 10, "count").folder_name()
    assert base.folder_name() != EncodingKey.of(tiny, 5, "count").folder_name()
    assert base.folder_name() != EncodingKey.of(tiny, 10, "time").folder_name()
    other = load_clip("tiny-digits", device="cpu")
    with torch.no_grad():
        next(other.model.parameters()).add_(1e-3)
    assert EncodingKey.of(other, 10, "count").weights_sha256 != base.weights_sha256
    if openvino_importable():  # OpenVINO's rows (bf16 on some CPUs) are never mixed with torch's
        for precision in ("auto", "fp32"):
            ov = load_clip("tiny-digits", device="cpu", backend="openvino", precision=precision)
            key = EncodingKey.of(ov, 10, "count")
            assert (key.backend, key.precision) == ("openvino", ov.image_encoder.precision)
            assert key.weights_sha256 == base.weights_sha256 and key.folder_name() != base.folder_name()


def test_a_damaged_shard_is_recomputed_alone(tiny, data, tmp_path):
    ex = CachedExtractor(tiny, 10, "count", tmp_path, shard_size=8, progress=False)
    first = ex.extract(data.samples)
    shards = ex.cache.shard_files
    assert len(shards) == 3
    shards[1].write_bytes(shards[1].read_bytes()[:100])  # a write cut short by a crash
    again = CachedExtractor(tiny, 10, "count", tmp_path, shard_size=8, progress=False)
    second = again.extract(data.samples)
    assert again.stats.computed_views == 8 and again.stats.reused_views == 16
    assert torch.allclose(second.feats, first.feats, atol=1e-6)


def test_unreadable_samples_are_listed_not_fatal(tiny, data, tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x01\x02\x03")  # not one whole 5-byte event
    gone = tmp_path / "gone.bin"
    samples = [*data.samples[:3], Sample(bad, 0), Sample(gone, 1)]
    direct = extract_features(tiny, samples, 10, "count", progress=False)
    ex = CachedExtractor(tiny, 10, "count", tmp_path / "cache", progress=False)
    cached = ex.extract(samples)
    for fs in (direct, cached):
        assert len(fs) == 3
        assert [p for p, _ in fs.unreadable] == sorted([str(bad), str(gone)])
        assert any("no complete event" in why for _, why in fs.unreadable)
    assert torch.allclose(direct.feats, cached.feats, atol=1e-5)


def test_unusable_cache_folder_is_one_clear_error(tiny, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DataError, match="cannot use feature cache"):
        CachedExtractor(tiny, 10, "count", blocker, progress=False)
    shutil.rmtree(tmp_path, ignore_errors=True)
