"""``--log``: every scored timestep after a header, read back whole or up to the damage; ``--min-confidence``."""

from __future__ import annotations

import json

import pytest

from conftest import PROJECT_ROOT, SCORE_SAMPLE
from neuroclip_live.cli import main
from neuroclip_live.errors import NeuroclipError
from neuroclip_live.runtime.controls import Controls
from neuroclip_live.runtime.prediction_log import log_path_for, read_prediction_log, step_tops

SAMPLE = PROJECT_ROOT / "recordings" / "sample.aedat4"
SAMPLE_RANGE = (0, 6_000_000)

pytestmark = pytest.mark.skipif(not SAMPLE.is_file(), reason="recordings/sample.aedat4 not built")


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def headless(capsys, *args: str) -> tuple[int, str, str]:
    try:
        rc = main(["--file", str(SAMPLE), "--headless", "--speed", "0", "--model", "tiny-digits", *args])
    except SystemExit as stop:  # argparse's own errors
        rc = stop.code
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def logged(tmp_path_factory) -> tuple[list[dict], object]:
    """A headless --json run of the sample with --log: what it printed, and the log's path."""
    path = tmp_path_factory.mktemp("log") / "sample.predictions.jsonl"
    capture = pytest.MonkeyPatch()
    import io
    import sys

    out = io.StringIO()
    capture.setattr(sys, "stdout", out)
    try:
        rc = main(
            [
                *SCORE_SAMPLE,
                "--log",
                str(path),
            ]
        )
    finally:
        capture.undo()
    assert rc == 0
    return json_lines(out.getvalue()), path


def test_log_round_trips(logged):
    printed, path = logged
    log = read_prediction_log(path)
    assert log.note is None and len(log.records) == len(printed) == 200
    assert log.records == printed  # the headless --json objects, every one
    h = log.header
    assert h["model"] == "tiny-digits" and len(h["weights_sha256"]) == 64 and h["backend"] in ("torch", "openvino")
    assert h["precision"] in ("fp32", "bf16", "fp16") and h["adapter_sha256"] is None
    assert len(h["labels"]) == 16 and h["templates"] and h["ensemble"] is True
    assert h["alpha"] == [pytest.approx(0.1)] * 10 and h["T"] == 10 and h["cut"] == "30ms"
    assert log.belongs_to(SAMPLE_RANGE) and not log.belongs_to((60_000_000, 66_000_000))
    labels, tops, probs = step_tops(log)
    assert labels[0] == "0" and tops[0] == 0 and probs[0] == printed[0]["scores"]["0"]
    assert log_path_for("/data/run 3.aedat4").name == "run 3.predictions.jsonl"


def test_a_truncated_log_loads_up_to_the_damage(logged, tmp_path):
    _, path = logged
    data = path.read_bytes()
    lines = data.split(b"\n")
    cut = tmp_path / "cut.predictions.jsonl"
    cut.write_bytes(b"\n".join(lines[:101]) + b"\n" + lines[101][:40])  # header, 100 records, a partial one
    log = read_prediction_log(cut)
    assert len(log.records) == 100 and log.records[-1]["step"] == 99
    assert log.note == "cut.predictions.jsonl: read 100 timesteps; line 102 is damaged (cut short), the rest is ignored"
    damaged = tmp_path / "damaged.predictions.jsonl"
    damaged.write_bytes(b"\n".join([*lines[:51], b"\x00\xff garbage", *lines[52:]]))
    log = read_prediction_log(damaged)
    assert len(log.records) == 50 and "line 52 is damaged (not JSON" in log.note
    not_a_log = tmp_path / "other.jsonl"
    not_a_log.write_bytes(b"".join(lines[1:3]))
    with pytest.raises(NeuroclipError, match="is not a prediction log"):
        read_prediction_log(not_a_log)


def test_an_unwritable_log_stops_the_run_before_it_starts(tmp_path, capsys):
    rc, out, err = headless(capsys, "--log", str(tmp_path / "no-such-folder" / "x.jsonl"))
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and err.strip().endswith("does not exist")
    rc, out, err = headless(capsys, "--log", str(tmp_path))
    assert rc == 2 and "is a directory" in err


def test_min_confidence_names_no_label_below_it(capsys):
    rc, out, err = headless(capsys, "--json", "--min-confidence", "0.6")
    assert rc == 0, err
    rows = json_lines(out)
    weak = [r for r in rows if max(r["scores"].values()) < 0.6]
    strong = [r for r in rows if max(r["scores"].values()) >= 0.6]
    assert len(weak) > 20 and len(strong) > 100  # with 16 labels the "7" stays near 0.42 (recordings/README.md)
    assert all(r["top"] == [] for r in weak)  # "none of these"; the scores are all still there
    assert all(r["top"][0] == max(r["scores"], key=r["scores"].get) and len(r["scores"]) == 16 for r in strong)
    rc, out, err = headless(capsys, "--min-confidence", "0.6", "--max-steps", "60")
    lines = out.splitlines()
    assert rc == 0 and sum("| – (" in line for line in lines) == sum(max(r["scores"].values()) < 0.6 for r in rows[:60])


@pytest.mark.parametrize("value", ["1.01", "-0.5", "nan", "high"])
def test_min_confidence_outside_0_1_is_refused(capsys, value):
    rc, _, err = headless(capsys, "--min-confidence", value)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "--min-confidence" in err
    with pytest.raises((ValueError, TypeError)):
        Controls(min_confidence=float(value) if value != "high" else value)
