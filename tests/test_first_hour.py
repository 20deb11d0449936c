"""What a new user hits in the first hour (issue 10), through the real command line."""

from __future__ import annotations

import json
import stat

import pytest

from conftest import PROJECT_ROOT, QUICK_TRAINING
from neuroclip_live.cli import main

SAMPLE = PROJECT_ROOT / "recordings" / "sample.aedat4"


@pytest.fixture(scope="module")
def digits_adapter(nmnist_slice, tmp_path_factory):
    """An adapter trained by ``train`` on real N-MNIST shots of 0, 1 and 7 with tiny-digits."""
    root = nmnist_slice  # shared by the session: the adapter is written beside it, not into it
    out = tmp_path_factory.mktemp("digits-adapter") / "digits.safetensors"
    rc = main(
        [
            "train",
            "--data",
            str(root),
            "--shots",
            "3",
            "--out",
            str(out),
            *QUICK_TRAINING,
            "--no-flip",
        ]
    )
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
    rc = main(
        [
            "--file",
            str(SAMPLE),
            "--headless",
            "--json",
            "--max-steps",
            "1",
            "--adapter",
            str(digits_adapter),
            "--labels",
            "cat, dog",
        ]
    )
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


_IMPORTED = """
import json, sys
from ui import launch
try:
    code = launch.main(sys.argv[1:])
except SystemExit as stop:  # --help and --version end through argparse
    code = stop.code
heavy = ("torch", "open_clip", "snntorch", "PySide6", "pyqtgraph", "numba", "dv_processing", "faery")
print(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}), file=sys.stderr)
"""


def _modules_loaded(*argv: str) -> dict:
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _IMPORTED, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
        env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT)),
    )
    return json.loads(proc.stderr.strip().splitlines()[-1])


def test_a_frames_only_run_imports_no_torch():
    seen = _modules_loaded("--file", str(SAMPLE), "--headless", "--max-steps", "1")
    assert seen["code"] == 0
    assert not {"torch", "open_clip", "snntorch", "PySide6", "pyqtgraph"} & set(seen["loaded"])
    # It does frame the events: the framer's numba kernels are in.
    assert "numba" in seen["loaded"]


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["train", "--help"], ["evaluate", "--help"]])
def test_help_and_version_import_nothing_heavy(argv):
    seen = _modules_loaded(*argv)
    assert seen["code"] == 0 and seen["loaded"] == []


# --------------------------------------------------------------------------- outputs checked first (item 4)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["train", "--data", "no-such-data", "--out", "nodir/a.safetensors"], "--out nodir/a.safetensors: folder"),
        (
            ["train", "--data", "no-such-data", "--out", "/proc/a.safetensors"],
            "--out /proc/a.safetensors: cannot write",
        ),
        (["evaluate", "--data", "no-such-data", "--save-alpha", "nodir/x.json"], "--save-alpha nodir/x.json"),
        (["evaluate", "--data", "no-such-data", "--json", "/sys/x.json"], "--json /sys/x.json: cannot write"),
        (["--file", str(SAMPLE), "--headless", "--dump", "/sys"], "--dump /sys: cannot write"),
        (["--file", str(SAMPLE), "--headless", "--dump", "/proc"], "--dump /proc: cannot"),
        (["--file", str(SAMPLE), "--headless", "--dump", str(SAMPLE)], "exists and is not a directory"),
    ],
)
def test_a_bad_output_path_gives_one_line_before_any_work(argv, says, capsys):
    # The data root does not exist and the sample would give frames: the message is about the
    # output, so nothing was read, trained or replayed before it.
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("neuroclip-live: ") and says in err, err


# --------------------------------------------------------------------------- messages and help (item 8)


def _parsers():
    from neuroclip_live.cli import build_parser

    top = build_parser()
    sub = next(a for a in top._actions if a.choices and "run" in a.choices)
    return sub.choices


@pytest.mark.parametrize("command", ["run", "train", "evaluate"])
def test_help_names_only_options_that_exist_and_shows_every_default(command, capsys):
    import re

    parser = _parsers()[command]
    argv = ["--help"] if command == "run" else [command, "--help"]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 0
    text = capsys.readouterr().out
    actions = parser._actions  # argparse lists a parser's options nowhere public
    known = {s for a in actions for s in a.option_strings}
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
    assert named and named <= known, named - known
    options = text[text.index("options:") :]
    for action in actions:
        if action.option_strings and action.default not in (None, False, "==SUPPRESS==") and action.help:
            block = options[options.index(f"  {action.option_strings[0]}") :].split("\n  -")[0]
            assert "default" in block.lower(), action.option_strings
    if command == "train":
        assert "--adapter" not in known and "--alpha" not in known
    for word in ("--seed", "--val-per-class", "--batch-size", "--cut", "--epochs", "--views", "--model"):
        if word in known:
            block = text[text.index(f"  {word}") :].split("\n  -")[0]
            assert "default" in block, word


def test_list_templates_exists_and_lists_the_sets(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--list-templates"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and "event (default):" in out and "nmnist:" in out and "{}" in out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--file", str(SAMPLE), "--json"], "--json needs --headless"),
        (["--file", str(SAMPLE), "--json", "--dump", "d"], "--json and --dump need --headless"),
        (["--file", str(SAMPLE), "--headles"], "unknown option --headles: did you mean --headless?"),
        (["train", "--data", "x", "--out", "a", "--epoch", "3"], "unknown option --epoch: did you mean --epochs?"),
    ],
)
def test_json_without_headless_and_abbreviations_are_errors(argv, says, capsys):
    try:
        rc = main(argv)
    except SystemExit as stop:
        rc = stop.code
    err = capsys.readouterr().err
    assert rc == 2 and says in err
