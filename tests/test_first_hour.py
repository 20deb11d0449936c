"""What a new user hits in the first hour (issue 10), through the real command line."""

from __future__ import annotations

import json
import shutil
import stat

import pytest

from neuroclip_live.cli import main

from conftest import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "recordings" / "sample.aedat4"


@pytest.fixture(scope="module")
def digits_adapter(tmp_path_factory):
    """An adapter trained by ``train`` on real N-MNIST shots of 0, 1 and 7 with tiny-digits."""
    from conftest import NMNIST

    if not NMNIST.is_dir():
        pytest.skip(f"N-MNIST samples not found at {NMNIST}")
    root = tmp_path_factory.mktemp("nmnist3")
    for digit in ("0", "1", "7"):
        (root / "Train" / digit).mkdir(parents=True)
        for f in sorted((NMNIST / "Train" / digit).iterdir())[:6]:
            shutil.copy(f, root / "Train" / digit / f.name)
    out = root / "digits.safetensors"
    rc = main(["train", "--data", str(root), "--shots", "3", "--out", str(out), "--model", "tiny-digits",
               "--epochs", "2", "--views", "2", "--val-per-class", "2", "--quiet", "--no-flip"])
    assert rc == 0 and out.is_file()
    return out


def _json_rows(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_adapter_classes_are_scored_and_its_backbone_is_the_default_model(digits_adapter, capsys):
    # No --model (RN50 would fail offline) and no --labels (tiny-digits would bring 16).
    rc = main(["--file", str(SAMPLE), "--headless", "--json", "--max-steps", "3", "--adapter", str(digits_adapter)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    rows = _json_rows(out)
    assert len(rows) == 3 and all(set(r["scores"]) == {"0", "1", "7"} for r in rows)
    assert "scoring the labels given instead" not in err


def test_labels_that_differ_from_the_adapters_are_used_and_the_conflict_stated(digits_adapter, capsys):
    rc = main(["--file", str(SAMPLE), "--headless", "--json", "--max-steps", "1", "--adapter", str(digits_adapter),
               "--labels", "cat, dog"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert set(_json_rows(out)[0]["scores"]) == {"cat", "dog"}
    assert "was trained for 0, 1, 7; scoring the labels given instead" in err


def test_adapter_file_is_written_with_the_users_umask(digits_adapter):
    # pytest runs under the machine's umask; the file gets what any other output would.
    import os

    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(digits_adapter.stat().st_mode) == 0o666 & ~mask
