"""The command line end to end, as a user runs it: real files, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from itertools import pairwise

import numpy as np
import pytest
from PIL import Image

from conftest import PROJECT_ROOT
from neuroclip_live.cli import main

SAMPLE = PROJECT_ROOT / "recordings" / "sample.aedat4"


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The installed entry point in a fresh process (what a user gets, tracebacks included)."""
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "ui.launch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=PROJECT_ROOT,
    )


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("name", ["davis346.aedat4", "evt3.raw", "dvs.es"])
def test_headless_json_on_every_shared_recording(recordings_dir, capsys, name):
    rc = main(["--file", str(recordings_dir / name), "--headless", "--json", "--speed", "0", "--timestep", "50ms"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    rows = json_lines(out)
    assert rows and [r["step"] for r in rows] == list(range(len(rows)))
    assert all({"step", "t_end_us", "events", "drops", "latency_ms"} <= r.keys() for r in rows)
    assert all(r["drops"] == 0 for r in rows)  # speed 0 waits for the worker, nothing is dropped
    ends = [r["t_end_us"] for r in rows]
    assert ends == sorted(ends) and all(b - a == 50_000 for a, b in pairwise(ends))
    total = sum(r["events"] for r in rows)
    expected = {"davis346.aedat4": 78_830, "evt3.raw": 1_218_618, "dvs.es": 473_225}[name]
    assert total == expected  # every event of the file lands in exactly one timestep


def test_headless_on_nmnist_samples_by_event_count(nmnist_root, capsys):
    files = sorted((nmnist_root / "Train" / "7").iterdir())[:5]
    for f in files:
        rc = main(["--file", str(f), "--headless", "--json", "--speed", "0", "--timestep", "500ev", "-T", "10"])
        out, err = capsys.readouterr()
        assert rc == 0, err
        rows = json_lines(out)
        n = f.stat().st_size // 5
        assert sum(r["events"] for r in rows) == n
        assert all(r["events"] == 500 for r in rows[:-1]) and 0 < rows[-1]["events"] <= 500


def test_dump_writes_the_frames_as_png(recordings_dir, tmp_path, capsys):
    rc = main(
        [
            "--file",
            str(recordings_dir / "dvs.es"),
            "--headless",
            "--speed",
            "0",
            "--timestep",
            "100ms",
            "--dump",
            str(tmp_path / "frames"),
            "--max-steps",
            "3",
        ]
    )
    out, _ = capsys.readouterr()
    assert rc == 0 and len(out.splitlines()) == 3
    pngs = sorted((tmp_path / "frames").glob("*.png"))
    assert len(pngs) == 3
    img = np.asarray(Image.open(pngs[0]))
    assert img.shape == (240, 320) and set(np.unique(img)) <= {0, 127, 255} and (img != 127).any()


def test_project_sample_recording_replays(capsys):
    if not SAMPLE.is_file():
        pytest.skip("recordings/sample.aedat4 not built")
    rc = main(["--file", str(SAMPLE), "--headless", "--speed", "0", "--max-steps", "20"])
    out, err = capsys.readouterr()
    assert rc == 0 and len(out.splitlines()) == 20, err


def test_paced_replay_takes_stream_time(recordings_dir, capsys):
    t0 = time.perf_counter()
    rc = main(["--file", str(recordings_dir / "dvs.es"), "--headless", "--speed", "4", "--timestep", "100ms"])
    elapsed = time.perf_counter() - t0
    capsys.readouterr()
    assert rc == 0
    assert elapsed > 0.2  # a 1 s recording at 4x lasts about 0.25 s, not "as fast as possible"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--file", "missing.aedat4", "--headless"], "no such file"),
        (["--file", "recordings", "--headless"], "folder"),
        (["--file", "pyproject.toml", "--headless"], "supported"),
        (["--headless"], "needs a source"),
        (["--file", "x.aedat4", "--timestep", "fast", "--headless"], "cannot read timestep"),
        (["--file", "x.aedat4", "--speed", "-1", "--headless"], "speed"),
        (["train", "--data", "nowhere", "--out", "a.safetensors"], "does not exist"),
    ],
)
def test_user_mistakes_give_one_line_and_no_traceback(args, says):
    proc = run_cli(*args)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert any(says in ln for ln in lines), proc.stderr
    assert len([ln for ln in lines if "error" in ln.lower() or "neuroclip-live:" in ln]) <= 2


def test_empty_and_garbage_files(tmp_path):
    empty = tmp_path / "empty.aedat4"
    empty.write_bytes(b"")
    garbage = tmp_path / "junk.raw"
    # Seeded, and without the '%' that opens a Prophesee header: random bytes that began with
    # one would be read as a headered file (1 run in 256).
    garbage.write_bytes(b"\x00" + np.random.default_rng(7).bytes(4095))
    for path in (empty, garbage):
        proc = run_cli("--file", str(path), "--headless")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.count("\n") == 1, proc.stderr


def test_model_without_weights_offline_says_how_to_fix_it(recordings_dir, monkeypatch, tmp_path):
    env_home = tmp_path / "home"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ui.launch",
            "--file",
            str(recordings_dir / "dvs.es"),
            "--headless",
            "--labels",
            "cat, dog",
            "--model",
            "RN50",
            "--speed",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
        env=dict(
            os.environ,
            PYTHONPATH=str(PROJECT_ROOT),
            HOME=str(env_home),
            XDG_CACHE_HOME=str(env_home),
            NEUROCLIP_OFFLINE="1",
            HF_HUB_OFFLINE="1",
        ),
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--weights" in proc.stderr and "NEUROCLIP_WEIGHTS" in proc.stderr


def test_tiny_model_recognises_the_sample_recording(capsys):
    """With no --labels the bundled model scores what it knows: each object of the sample, from step 0."""
    if not SAMPLE.is_file():
        pytest.skip("recordings/sample.aedat4 not built")
    rc = main(["--file", str(SAMPLE), "--headless", "--json", "--speed", "0", "--model", "tiny-digits"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    rows = json_lines(out)
    assert len(rows[0]["scores"]) == 16 and abs(sum(rows[0]["scores"].values()) - 1) < 1e-3
    # The first timestep is scored, and already right (what the README's caption shows).
    assert rows[0]["step"] == 0 and rows[0]["t_start_us"] == 0 and rows[0]["top"][0] == "0"
    # recordings/README.md: one object a second; a window of T=10 x 30 ms wholly inside each.
    for i, name in enumerate(["0", "7", "circle", "star", "3", "square"]):
        tops = [r["top"][0] for r in rows if i * 1_000_000 + 300_000 <= r["t_end_us"] <= (i + 1) * 1_000_000]
        assert len(tops) >= 20 and tops.count(name) == len(tops), (name, tops)


# --------------------------------------------------------------------------- issue 20: times, options, loop


def stderr_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


@pytest.mark.parametrize(("name", "clock_s"), [("davis346.aedat4", 1_589_163_147.3), ("evt3.raw", 11.2)])
def test_headless_times_count_from_the_recordings_start(recordings_dir, capsys, name, clock_s):
    """The text's ``t=`` and JSON's ``t_s`` count from the first event, as the window; ``t_*_us`` keep the file's."""
    path = str(recordings_dir / name)
    assert main(["--file", path, "--headless", "--speed", "0", "--max-steps", "3"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert "t=    0.030s" in text[0] and "t=    0.060s" in text[1], text
    assert main(["--file", path, "--headless", "--json", "--speed", "0", "--max-steps", "3"]) == 0
    rows = json_lines(capsys.readouterr().out)
    assert [r["t_s"] for r in rows] == [0.03, 0.06, 0.09]
    assert rows[0]["t_start_us"] / 1e6 > clock_s  # the recording's own clock, as before
    assert rows[1]["t_end_us"] - rows[0]["t_end_us"] == 30_000


def test_loop_keeps_the_last_partial_step_at_the_seam(recordings_dir, capsys):
    """dvs.es lasts about 1 s: four 300 ms steps a pass, the fourth partial, then the same four again."""
    rc = main(
        [
            "--file",
            str(recordings_dir / "dvs.es"),
            "--headless",
            "--json",
            "--speed",
            "0",
            "--timestep",
            "300ms",
            "--loop",
            "--max-steps",
            "8",
        ]
    )
    rows = json_lines(capsys.readouterr().out)
    assert rc == 0 and [r["step"] for r in rows] == list(range(8))
    assert sum(r["events"] for r in rows[:4]) == 473_225  # every event of the first pass, the last step's too
    assert [r["events"] for r in rows[4:]] == [r["events"] for r in rows[:4]]
    assert [r["t_s"] for r in rows] == [0.3, 0.6, 0.9, 1.2] * 2


def test_headless_exit_after_stops_a_paced_replay(capsys):
    if not SAMPLE.is_file():
        pytest.skip("recordings/sample.aedat4 not built")
    # The sample lasts 6 s (200 steps of 30 ms) at its own pace; 0.3 s after the first step it stops.
    assert main(["--file", str(SAMPLE), "--headless", "--json", "--exit-after", "0.3"]) == 0
    out, err = capsys.readouterr()
    rows = json_lines(out)
    assert 1 <= len(rows) < 100 and rows[-1]["t_s"] < 3
    assert stderr_lines(err)[-1].endswith(f"{len(rows)} timesteps, 0 dropped (--exit-after 0.3 s)"), err
    assert main(["--file", str(SAMPLE), "--headless", "--exit-after", "0"]) == 0
    out, err = capsys.readouterr()
    assert (
        len(out.splitlines()) == 1
        and stderr_lines(err)[-1] == "neuroclip-live: 1 timestep, 0 dropped (--exit-after 0 s)"
    )


def test_headless_exit_after_stops_a_stream_that_sends_nothing_more(tmp_path, capsys):
    """No result comes during a long gap, so a timer stops the run, not the next result."""
    from neuroclip_live.events import SensorSize
    from recording_writers import random_events, write_with_faery

    size = SensorSize(64, 48)
    events = random_events(3_000, size, t0=0, duration_us=200_000)
    events[-1]["t"] = 60_000_000  # one last event a minute later: the paced replay waits for it
    path = write_with_faery(tmp_path / "gap.es", events, size)
    t0 = time.monotonic()
    assert main(["--file", str(path), "--headless", "--json", "--exit-after", "0.5"]) == 0
    waited = time.monotonic() - t0
    out, err = capsys.readouterr()
    rows = json_lines(out)
    assert rows and max(r["t_s"] for r in rows) < 1  # the step a minute in never came
    assert stderr_lines(err)[-1].endswith("(--exit-after 0.5 s)"), err
    assert waited < 30  # not a speed figure: without the timer the run waits out the whole minute


def test_frames_only_says_so_once_and_how_to_get_scores(capsys):
    if not SAMPLE.is_file():
        pytest.skip("recordings/sample.aedat4 not built")
    assert main(["--file", str(SAMPLE), "--headless", "--max-steps", "1"]) == 0
    err = stderr_lines(capsys.readouterr().err)
    notes = [line for line in err if line.startswith("note: no labels")]
    assert len(notes) == 1 and "--labels" in notes[0] and "--model tiny-digits" in notes[0]
    assert err[-1] == "neuroclip-live: 1 timestep, 0 dropped"  # "1 timestep", not "1 timesteps"
    assert main(["--file", str(SAMPLE), "--headless", "--max-steps", "1", "--model", "tiny-digits"]) == 0
    assert "note: no labels" not in capsys.readouterr().err


def test_offscreen_window_run_prints_no_qt_size_hint_noise(tmp_path):
    if not SAMPLE.is_file():
        pytest.skip("recordings/sample.aedat4 not built")
    shot = tmp_path / "window.png"
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "ui.launch", "--file", str(SAMPLE), "--exit-after", "0.5", "--screenshot", str(shot)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=PROJECT_ROOT,
    )
    assert proc.returncode == 0 and shot.is_file(), proc.stderr
    assert "propagateSizeHints" not in proc.stderr and proc.stderr.strip() == "", proc.stderr
