"""Feature extraction on a local 2-CPU Ray: same rows as one process, retries, an interrupted run resumed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time

import pytest
import torch

from conftest import QUICK_TRAINING
from neuroclip_live.cli import main
from neuroclip_live.errors import ClusterError
from neuroclip_live.model.clip_model import load_clip
from neuroclip_live.model.settings import openvino_importable
from neuroclip_live.offline.datasets import Sample, load_split, pick_shots
from neuroclip_live.offline.evaluation import extract_features
from neuroclip_live.offline.extraction import plan_views
from neuroclip_live.offline.feature_cache import CachedExtractor


@pytest.fixture(scope="module")
def tiny():
    return load_clip("tiny-digits", device="cpu")


def test_missing_ray_is_one_line_saying_how_to_install(monkeypatch):
    from neuroclip_live.offline import cluster

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(ClusterError) as err:
        cluster.import_ray()
    assert str(err.value) == "--ray needs Ray: pip install 'neuroclip-live[cluster]'"


def test_ray_rows_match_one_process(ray_local, tiny, nmnist_slice, tmp_path):
    from neuroclip_live.offline.cluster import RayRunner

    data = load_split(nmnist_slice, "Train")
    shots, rest = pick_shots(data, 2, seed=1)
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00" * 3)  # not one whole 5-byte event
    rest = [*rest[:10], Sample(bad, 2)]
    runner = RayRunner(tiny, workers=2)
    ex = CachedExtractor(tiny, 10, "count", tmp_path / "cache", runner=runner, shard_size=4, progress=False)
    requests = ((shots, {"views": 2, "augment": True, "seed": 9}), (rest, {}))
    # Shots, validation and test views planned together: one pipeline, one actor pool.
    ex.compute([j for samples, kw in requests for j in plan_views(samples, **kw)])
    assert ex.stats.computed_views == 12 + 10 and ex.stats.computed_shards == 3 + 3
    for samples, kw in requests:
        local = extract_features(tiny, samples, 10, "count", progress=False, **kw)
        remote = ex.extract(samples, **kw)
        assert ex.stats.computed_views == 0  # all there already; the unreadable one is not tried again
        assert remote.feats.shape == local.feats.shape
        assert torch.allclose(remote.feats, local.feats, atol=1e-5)
        assert (remote.labels == local.labels).all()
        assert remote.unreadable == local.unreadable
    assert [p for p, _ in remote.unreadable] == [str(bad)]


def test_a_killed_worker_and_a_stopped_driver_lose_nothing(ray_local, tiny, nmnist_slice, tmp_path):
    """Kill an encoding actor mid-run (Ray restarts it, the shard is retried), then stop the driver
    halfway (Ctrl-C); the next run computes only the shards that were not written."""
    from neuroclip_live.offline.cluster import RayRunner

    samples = load_split(nmnist_slice, "Train").samples
    runner = RayRunner(tiny, workers=2)
    seen: list = []

    def kill_then_stop(result) -> None:
        seen.append(result)
        if len(seen) == 1:
            os.kill(result.worker_pid, signal.SIGKILL)
        if len(seen) == 3:
            raise KeyboardInterrupt

    ex = CachedExtractor(tiny, 10, "count", tmp_path, runner=runner, shard_size=3, progress=False)
    with pytest.raises(KeyboardInterrupt):
        ex.extract(samples, on_shard=kill_then_stop)
    assert ex.stats.planned_shards == 8 and ex.stats.computed_shards == 3
    time.sleep(1.0)  # the stopped run's last in-flight shard, if any, lands or is dropped whole
    before = {p.name: p.stat().st_mtime_ns for p in ex.cache.shard_files}
    assert 3 <= len(before) < 8

    resumed = CachedExtractor(tiny, 10, "count", tmp_path, runner=runner, shard_size=3, progress=False)
    fs = resumed.extract(samples)
    assert resumed.stats.reused_views == 3 * len(before)
    assert resumed.stats.computed_views == 24 - 3 * len(before)
    assert {p.name: p.stat().st_mtime_ns for p in resumed.cache.shard_files if p.name in before} == before
    local = extract_features(tiny, samples, 10, "count", progress=False)
    assert torch.allclose(fs.feats, local.feats, atol=1e-5)


# --------------------------------------------------------------------------- the command line

FEW_SHOT = ["--split", "Train", "--templates", "a photo of the digit {}.", "--shots", "2", *QUICK_TRAINING]


@pytest.fixture
def slice_with_a_bad_file(nmnist_slice, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(nmnist_slice, root)
    (root / "Train" / "7" / "99999.bin").write_bytes(b"\x00\x01")  # cut short: not one whole event
    return root


def _report(capsys) -> dict:
    out = capsys.readouterr().out
    report = json.loads(out[out.index("{") :])
    report.pop("seconds")
    return report


def test_evaluate_on_ray_gives_the_local_report(ray_local, slice_with_a_bad_file, tmp_path, capsys):
    base = ["evaluate", "--data", str(slice_with_a_bad_file), *FEW_SHOT, "--json", "-"]
    assert main(base) == 0
    local = _report(capsys)
    assert main([*base, "--ray", "--cache", str(tmp_path / "cache")]) == 0
    on_ray = _report(capsys)
    assert on_ray == local
    if openvino_importable():  # --backend auto on a CPU: the actors encoded with OpenVINO, as the driver does
        key = json.loads(next((tmp_path / "cache").glob("*/key.json")).read_text())
        assert key["backend"] == "openvino"
    assert [u["path"] for u in on_ray["unreadable"]] == [str(slice_with_a_bad_file / "Train" / "7" / "99999.bin")]
    assert on_ray["n"] == 3 * (8 - 2 - 2)  # class 7 has a ninth file, the bad one: a test sample left out


def test_train_on_ray_writes_the_local_adapter(ray_local, nmnist_slice, tmp_path, capsys):
    from neuroclip_live.model.adapter import load_adapter

    outputs = {}
    for name, extra in (("local", []), ("ray", ["--ray", "--cache", str(tmp_path / "cache")])):
        out = tmp_path / f"{name}.safetensors"
        assert main(["train", "--data", str(nmnist_slice), *FEW_SHOT, "--out", str(out), *extra]) == 0
        outputs[name] = load_adapter(out, "tiny-digits", 128)
    text = capsys.readouterr().out
    assert text.count("alpha '") == 2
    (a, info_a), (b, info_b) = outputs["local"], outputs["ray"]
    assert info_a.alpha == pytest.approx(info_b.alpha)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.allclose(va.float(), vb.float(), atol=1e-4), ka


def test_a_cache_folder_serves_the_second_run(nmnist_slice, tmp_path, capsys):
    base = ["evaluate", "--data", str(nmnist_slice), *FEW_SHOT, "--json", "-", "--cache", str(tmp_path)]
    assert main(base) == 0
    first = _report(capsys)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.safetensors")}
    assert main(base) == 0
    assert _report(capsys) == first
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.safetensors")} == stamps  # nothing recomputed


def test_ray_flag_without_ray_is_one_line(nmnist_slice, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    rc = main(
        ["evaluate", "--data", str(nmnist_slice), "--split", "Train", "--model", "tiny-digits", "--ray", "--quiet"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == "neuroclip-live: --ray needs Ray: pip install 'neuroclip-live[cluster]'"
