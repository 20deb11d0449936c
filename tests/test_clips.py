"""``clips``: labelled ranges of a recording cut into N-MNIST-layout examples, then ``train``, then the live app."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import PROJECT_ROOT, SCORE_SAMPLE
from neuroclip_live.cli import main
from neuroclip_live.errors import DataError
from neuroclip_live.events import SensorSize
from neuroclip_live.offline.clips import (
    Segment,
    cut_recording,
    read_segments,
    window_starts,
)
from neuroclip_live.offline.datasets import load_split, read_sample_events
from neuroclip_live.stream.framing import TimestepRule
from recording_writers import events_equal, random_events, write_with_faery

SAMPLE = PROJECT_ROOT / "recordings" / "sample.aedat4"
# The sample's schedule (recordings/README.md): one object a second. Invented names, which tiny-digits reads
# as 6 different text directions (its zero-shot scores none of them); "charlie" would read as "bravo" (0.996).
NAMES = ("alpha", "bravo", "zulu", "delta", "echo", "foxtrot")


def _segments(path, rows, header="label,start_s,end_s"):
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("recipe", [["--no-centre", "--no-jitter"], []], ids=["plain", "teaching"])
def test_clips_then_train_then_the_live_app_names_each_object_of_the_sample(tmp_path, capsys, recipe):
    """The first 0.6 s of each object, clips every 50 ms, 4 shots a class: every window inside an object named.

    ``train`` takes T and the cut from the examples, and on examples of a session the teaching recipe (centred,
    jitter) unless told otherwise; a centred adapter says so and the live app centres its frames too.
    """
    centring = not recipe
    rows = [f"{name},{k}.0,{k}.6" for k, name in enumerate(NAMES)]
    root, adapter = tmp_path / "taught", tmp_path / "taught.safetensors"
    assert (
        main(
            [
                "clips",
                "--file",
                str(SAMPLE),
                "--segments",
                str(_segments(tmp_path / "s.csv", rows)),
                "--out",
                str(root),
                "--stride",
                "50ms",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "42 examples of 6 classes from 6 of 6 rows" in out  # (0.6 s - 0.3 s) / 50 ms + 1 = 7 a class
    split = load_split(root, "Train")
    assert split.classes == sorted(NAMES) and len(split.samples) == 42
    events, size = read_sample_events(split.samples[0].path)
    assert size == SensorSize(128, 128) and events["t"][-1] - events["t"][0] < 300_000
    assert (
        main(
            [
                "train",
                "--data",
                str(root),
                "--shots",
                "4",
                "--val-per-class",
                "3",
                "--model",
                "tiny-digits",
                "--out",
                str(adapter),
                "--quiet",
                *recipe,
            ]
        )
        == 0
    )
    note = "-T 10 --cut time --centre --jitter taken" if centring else "-T 10 --cut time taken"
    assert f"holds examples from clips: {note}" in capsys.readouterr().err
    assert main(["--file", str(SAMPLE), "--headless", "--json", "--speed", "0", "--adapter", str(adapter)]) == 0
    run = capsys.readouterr()
    assert ("frames centred on their events" in run.err + run.out) == centring
    steps = [json.loads(line) for line in run.out.splitlines() if line.startswith("{")]
    for k, name in enumerate(NAMES):
        # Windows of 10 timesteps that lie inside the object's second (its first burst included).
        inside = [s for s in steps if s["t_start_us"] >= k * 1_000_000 + 270_000 and s["t_end_us"] <= (k + 1) * 1e6]
        assert len(inside) >= 20
        named = [s["top"][0] for s in inside]
        assert named == [name] * len(inside), (name, named)


def test_zero_shot_with_the_invented_names_names_none_of_them(capsys):
    """What the adapter above adds: without it, tiny-digits gives none of the objects its invented name."""
    assert (
        main(
            [
                *SCORE_SAMPLE,
                "--labels",
                ", ".join(NAMES),
            ]
        )
        == 0
    )
    steps = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    right = [s for s in steps if "top" in s and s["top"][0] == NAMES[min(5, int(s["t_end_us"] // 1_000_000))]]
    assert len(right) < len(steps) // 6


def test_bad_rows_and_ranges_give_one_line_each_and_the_rest_is_cut(tmp_path, capsys):
    rows = [
        "alpha,0.0,0.6",
        "bravo,x,1",
        " ,1,2",
        "echo,2.0,1.5",
        "delta,3.0",
        "late,7,8",
        "tail,5.5,6.5",
        "short,1.0,1.1",
        "inf,nan,1",
    ]
    rc = main(
        [
            "clips",
            "--file",
            str(SAMPLE),
            "--segments",
            str(_segments(tmp_path / "s.csv", rows)),
            "--out",
            str(tmp_path / "root"),
        ]
    )
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert rc == 0
    assert err == [
        "line 3: start_s 'x' is not a number of seconds; left out",
        "line 4: the label is empty; left out",
        "line 5: the range 2-1.5 s ends before it starts; left out",
        "line 6: 2 fields, expected 3; left out",
        "line 10: start_s nan is not a time in the recording; left out",
        "line 7 (late, 7-8 s): outside the recording (0-5.998 s); left out",
        "line 8 (tail, 5.5-6.5 s): ends after the recording (5.998 s); cut there",
        "line 9 (short, 1-1.1 s): shorter than one example (10 timesteps, 0.3 s); left out",
    ]
    assert "3 examples of 2 classes from 2 of 9 rows" in captured.out  # alpha 0-0.6 s: 2; tail 5.5-6 s: 1
    assert sorted(p.name for p in (tmp_path / "root" / "Train").iterdir()) == ["alpha", "tail"]


@pytest.mark.parametrize(
    ("header", "says"),
    [
        ("label,start_s,end_s,colour", "unknown column 'colour'"),
        ("label,start_s", "no 'end_s' column"),
        ("label,start,end_s", "unknown column 'start'"),
    ],
)
def test_an_unknown_or_missing_column_is_an_error(tmp_path, capsys, header, says):
    path = _segments(tmp_path / "s.csv", ["alpha,0,1"], header)
    assert main(["clips", "--file", str(SAMPLE), "--segments", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err and err.startswith("neuroclip-live:")


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--segments", "{missing}"], "cannot read segments file"),
        (["--segments", "{empty}"], "is empty"),
        (["--segments", "{all_bad}"], "no examples cut"),
        (["--stride", "100ev"], "--stride is a time"),
        (["--file", "{missing}"], "no such file"),
    ],
)
def test_clips_bad_input_gives_one_line(tmp_path, capsys, extra, says):
    paths = {
        "missing": tmp_path / "nope.csv",
        "empty": tmp_path / "empty.csv",
        "all_bad": _segments(tmp_path / "bad.csv", ["late,7,8"]),
        "good": _segments(tmp_path / "g.csv", []),
    }
    paths["empty"].write_text("")
    argv = ["clips", "--file", str(SAMPLE), "--segments", str(paths["good"]), "--out", str(tmp_path / "r")]
    argv += [a.format(**paths) for a in extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert says in err[-1] and err[-1].startswith("neuroclip-live:")


def test_a_range_without_events_is_left_out_and_windows_follow_the_cut_rule(tmp_path):
    size = SensorSize(32, 24)
    events = np.concatenate(
        [
            random_events(3000, size, t0=0, duration_us=500_000, seed=1),
            random_events(3000, size, t0=2_000_000, duration_us=1_000_000, seed=2),
        ]
    )
    rec = write_with_faery(tmp_path / "gaps.aedat4", events, size)
    segments = [Segment("quiet", 0.6, 1.8, 1), Segment("busy", 2.0, 3.0, 2)]
    result = cut_recording(rec, segments, TimestepRule("time", 20_000), 10, stride_us=100_000)
    assert result.problems == ["line 1 (quiet, 0.6-1.8 s): no events in this range; left out"]
    examples = result.examples.examples("busy")
    assert len(examples) == 8  # windows of 200 ms every 100 ms up to the last event (just before 3 s)
    start = int(events["t"][0])  # segment times count from the recording's first event
    for i, ex in enumerate(examples):
        t0 = start + 2_000_000 + i * 100_000
        inside = events[(events["t"] >= t0) & (events["t"] < t0 + 200_000)]
        assert events_equal(ex, inside)
    by_count = cut_recording(rec, segments[1:], TimestepRule("count", 100), 10)
    sizes = [len(ex) for ex in by_count.examples.examples("busy")]
    assert sizes == [1000, 1000, 1000]  # 3000 events of the range, one example after the other


def test_window_starts_by_count_with_a_stride_overlap():
    t = np.arange(0, 1_000_000, 1_000)  # one event a millisecond
    events = np.zeros(t.shape[0], dtype=[("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")])
    events["t"] = t
    got = list(window_starts(events, 0, 1_000_000, TimestepRule("count", 50), 4, stride_us=100_000))
    assert got[:3] == [(0, 200), (100, 300), (200, 400)] and got[-1] == (800, 1000)


def test_read_segments_keeps_the_label_as_written(tmp_path):
    path = _segments(tmp_path / "s.csv", ["  my   red mug ,0,1", "3,1,2"], header="End_S,LABEL,start_s")
    path.write_text("end_s,label,start_s\n1,  my   red mug ,0\n2,3,1\n")
    segments, problems = read_segments(path)
    assert problems == [] and [s.label for s in segments] == ["my red mug", "3"]
    with pytest.raises(DataError, match="unknown column"):
        read_segments(_segments(tmp_path / "t.csv", [], header="label;start_s;end_s"))
