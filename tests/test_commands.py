"""``train`` and ``evaluate`` end to end with the committed tiny-digits model on real N-MNIST."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import QUICK_TRAINING
from neuroclip_live.cli import main

DIGIT_TEMPLATE = "a photo of the digit {}."


@pytest.fixture
def small_root(nmnist_root, tmp_path):
    """Three digit classes, 8 samples each, copied from the shared N-MNIST samples."""
    root = tmp_path / "nmnist3"
    for digit in ("0", "1", "7"):
        (root / "Train" / digit).mkdir(parents=True)
        for f in sorted((nmnist_root / "Train" / digit).iterdir())[:8]:
            shutil.copy(f, root / "Train" / digit / f.name)
    return root


def test_train_then_evaluate_with_the_adapter(small_root, tmp_path, capsys):
    out = tmp_path / "adapter.safetensors"
    rc = main(
        [
            "train",
            "--data",
            str(small_root),
            "--split",
            "Train",
            "--shots",
            "3",
            "--out",
            str(out),
            *QUICK_TRAINING,
            "--templates",
            DIGIT_TEMPLATE,
            "--no-flip",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0 and out.is_file()
    assert "trained on 9 samples" in text and "alpha" in text

    from neuroclip_live.model.adapter import load_adapter

    _, info = load_adapter(out, "tiny-digits", 128)
    assert info.classes == ["0", "1", "7"] and info.T == 10 and len(info.alpha) == 10
    assert info.templates == [DIGIT_TEMPLATE]

    report_zs, report_fs = tmp_path / "zs.json", tmp_path / "fs.json"
    base = [
        "evaluate",
        "--data",
        str(small_root),
        "--split",
        "Train",
        "--model",
        "tiny-digits",
        "--templates",
        DIGIT_TEMPLATE,
        "--quiet",
    ]
    assert main([*base, "--json", str(report_zs)]) == 0
    assert main([*base, "--adapter", str(out), "--json", str(report_fs)]) == 0
    table = capsys.readouterr().out
    assert "top-1" in table and "confusion" in table and "protocol" in table
    zs, fs = json.loads(report_zs.read_text()), json.loads(report_fs.read_text())
    # The adapter's own 9 shots and 6 validation samples are in this split: they are not scored (issue 20).
    for r, n in ((zs, 24), (fs, 24 - 9 - 6)):
        assert {"top1", "top5", "n", "top1_ci95", "per_class_top1", "confusion", "protocol"} <= r.keys()
        assert r["n"] == n and 0 <= r["top1"] <= r["top5"] <= 1
        assert r["top1_ci95"][0] <= r["top1"] <= r["top1_ci95"][1]
        assert np.asarray(r["confusion"]).sum() == n
    assert any("left out: 15 samples of split 'Train'" in p for p in fs["protocol"])
    assert any("(3 classes: 0, 1, 7)" in p for p in fs["protocol"])  # not "trained for 0, 1, 7...": no epochs
    assert info.data["split"] == "Train" and info.data["shots"] == 3 and len(info.data["samples"]) == 15


def test_evaluate_with_shots_keeps_shots_and_validation_out_of_the_test(small_root, capsys):
    rc = main(
        [
            "evaluate",
            "--data",
            str(small_root),
            "--split",
            "Train",
            "--model",
            "tiny-digits",
            "--shots",
            "2",
            "--epochs",
            "1",
            "--views",
            "1",
            "--val-per-class",
            "2",
            "--json",
            "-",
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    report = json.loads(out[out.index("{") :])
    assert report["n"] == 3 * (8 - 2 - 2)
    assert report["shots"] == 2
    assert any("scored once" in p for p in report["protocol"])
    assert any("validation" in p for p in report["protocol"])


def test_an_adapter_file_that_does_not_record_its_samples_is_refused_unless_told(small_root, tmp_path, capsys):
    from neuroclip_live.model.adapter import (
        AdapterInfo,
        InterTimestepAdapter,
        save_adapter,
    )

    old = tmp_path / "old.safetensors"  # as written before adapter files recorded their samples
    save_adapter(old, InterTimestepAdapter(128).eval(), AdapterInfo("tiny-digits", 128, ["0", "1", "7"]))
    base = [
        "evaluate",
        "--data",
        str(small_root),
        "--split",
        "Train",
        "--model",
        "tiny-digits",
        "--quiet",
        "--adapter",
        str(old),
    ]
    assert main(base) == 2
    err = capsys.readouterr().err.strip()
    assert "does not record which samples it was trained on" in err and "--unrecorded-adapter" in err
    assert "\n" not in err
    assert main([*base, "--unrecorded-adapter", "--json", "-"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out[out.index("{") :])
    assert report["n"] == 24 and any("scored in full" in p for p in report["protocol"])


def test_zero_shot_floor_on_the_shared_nmnist_samples(nmnist_root, tmp_path, capsys):
    """The paper's RN50 zero-shot N-MNIST figure (45.41%) is this project's floor for its tiny model."""
    out = tmp_path / "report.json"
    rc = main(
        [
            "evaluate",
            "--data",
            str(nmnist_root),
            "--split",
            "Train",
            "--model",
            "tiny-digits",
            "--templates",
            DIGIT_TEMPLATE,
            "--json",
            str(out),
            "--quiet",
        ]
    )
    capsys.readouterr()
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["n"] == 1000
    assert report["top1"] >= 0.45, report["top1"]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--model", "no-such-model"], "unknown"),
        (["--shots", "9"], "more than class"),
        (["--adapter", "CORRUPT"], "damaged"),
    ],
)
def test_bad_training_and_evaluation_input(small_root, tmp_path, capsys, extra, says):
    corrupt = tmp_path / "bad.safetensors"
    corrupt.write_bytes(b"\x00" * 64)
    extra = [str(corrupt) if e == "CORRUPT" else e for e in extra]
    argv = ["evaluate", "--data", str(small_root), "--split", "Train", "--quiet"]
    if "--model" not in extra:
        argv += ["--model", "tiny-digits"]
    rc = main(argv + extra)
    err = capsys.readouterr().err
    assert rc == 2 and says in err and len(err.strip().splitlines()) == 1


def test_empty_data_folder_and_unreadable_class(tmp_path, capsys):
    (tmp_path / "Train").mkdir()
    assert main(["evaluate", "--data", str(tmp_path), "--split", "Train", "--model", "tiny-digits"]) == 2
    assert "no class folders" in capsys.readouterr().err
    (tmp_path / "Train" / "cat").mkdir()
    (tmp_path / "Train" / "cat" / "notes.txt").write_text("not events")
    assert (
        main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "a.safetensors"), "--model", "tiny-digits"])
        == 2
    )
    assert "no readable event files" in capsys.readouterr().err
