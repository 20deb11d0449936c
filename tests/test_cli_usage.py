"""Command-line mistakes as a user makes them: typos, unknown commands, options that would do nothing.

Each gives one line on stderr and exit status 2, before anything is read or loaded.
"""

from __future__ import annotations

import argparse
import types

import pytest

from conftest import PROJECT_ROOT
from neuroclip_live import cli
from neuroclip_live.cli import main
from neuroclip_live.wording import counted, plural
from test_cli import run_cli

SAMPLE = str(PROJECT_ROOT / "recordings" / "sample.aedat4")


def one_line_error(argv: list[str], capsys) -> str:
    """Run ``argv`` in-process; assert exit 2, nothing on stdout and one line on stderr; return that line."""
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2 and out == "", (rc, out, err)
    assert err.count("\n") == 1 and err.startswith("neuroclip-live"), err
    return err.strip()


def test_headless_screenshot_is_one_line_and_exit_2_as_a_user_runs_it(tmp_path):
    shot = tmp_path / "x.png"
    proc = run_cli("--file", SAMPLE, "--headless", "--screenshot", str(shot), timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "--screenshot" in proc.stderr and "--headless" in proc.stderr
    assert not shot.exists()


def test_a_typo_is_one_line_naming_the_nearest_flag_as_a_user_runs_it():
    proc = run_cli("--verison", timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "neuroclip-live: unknown option --verison: did you mean --version?\n"


@pytest.mark.parametrize(
    ("argv", "nearest"),
    [
        (["--headles"], "--headless"),
        (["--file", SAMPLE, "--headless", "--exit-afer", "1"], "--exit-after"),
        (["--file", SAMPLE, "--lables=cat,dog"], "--labels"),
        (["-t", "5"], "-T"),
        (["train", "--dat", "x", "--out", "a.safetensors"], "--data"),  # named, not "--data is required"
        (["evaluate", "--data", "x", "--shot", "3"], "--shots"),
        (["align", "--fle", "rec.aedat4"], "--file"),
    ],
)
def test_typos_name_the_nearest_option_of_their_command(argv, nearest, capsys):
    line = one_line_error(argv, capsys)
    assert line.endswith(f"did you mean {nearest}?"), line


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["trian", "--data", "x"], "unknown command 'trian': did you mean 'train'?"),
        (["evalute"], "did you mean 'evaluate'?"),
        (["rec.aedat4"], "to replay a recording, --file rec.aedat4"),
        (["frobnicate"], "the commands are train, evaluate, align"),
        (["--data", "x"], "--data is an option of 'neuroclip-live train' and 'neuroclip-live evaluate'"),
        (["--frobnicate"], "unknown option --frobnicate (see neuroclip-live --help)"),
        (["align"], "the following arguments are required: --file, --out"),
        (["--timestep", "fast"], "cannot read timestep 'fast'"),
        (["--exit-after", "nan"], "--exit-after: must be between 0 and 86400"),
    ],
)
def test_unknown_commands_and_other_mistakes_are_one_line(argv, says, capsys):
    assert says in one_line_error(argv, capsys)


def test_the_nearest_command_comes_from_the_subcommands_registered(monkeypatch, capsys):
    """A subcommand added later (``clips``, ``search``...) is suggested and described without more code."""

    def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
        p = sub.add_parser("search", prog="neuroclip-live search", help="search a recording for a label")
        p.add_argument("--query")
        return p

    monkeypatch.setitem(cli.COMMANDS, "search", types.SimpleNamespace(register=register))
    assert "did you mean 'search'?" in one_line_error(["serach", "--query", "cat"], capsys)
    assert "did you mean --query?" in one_line_error(["search", "--qurey", "cat"], capsys)
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "search, to search a recording for a label." in " ".join(capsys.readouterr().out.split())


def test_help_does_not_advertise_the_run_command(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    text = capsys.readouterr().out
    assert stop.value.code == 0 and "{run" not in text and "neuroclip-live run" not in text
    usage = cli.build_parser().format_usage()
    listed = "{" + ",".join(name for name in cli.COMMANDS if name != "run") + "}"
    assert listed in usage and "train" in listed and "run" not in usage


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--file", SAMPLE, "--max-steps", "3"], "--max-steps needs --headless"),
        (["--file", SAMPLE, "--top-k", "2"], "--top-k needs --headless"),
        (["--file", SAMPLE, "--json", "--dump", "d"], "--json and --dump need --headless"),
        (["--camera", "--loop"], "--loop needs a recording (--file)"),
        (["--net", "127.0.0.1:7777", "--speed=1", "--loop"], "--speed and --loop need a recording (--file)"),
        (["evaluate", "--data", "x", "--epochs", "3"], "--epochs needs --shots K"),
        (["evaluate", "--data", "x", "--seed", "3"], "--seed needs --shots K or --alpha-search"),
        (["evaluate", "--data", "x", "--shots", "2", "--adapter", "a"], "it cannot be combined with --adapter"),
        (["evaluate", "--data", "x", "--alpha-search", "--alpha", "a.json"], "cannot be combined with --alpha"),
        (["train", "--data", "x", "--out", "a", "--lambda-tcka", "1"], "--lambda-tcka needs --images"),
        (["train", "--data", "x", "--out", "a", "--ray-workers", "2"], "--ray-workers needs --ray"),
        (["align", "--file", "r", "--out", "a", "--no-ensemble"], "--no-ensemble only shapes the agreement figure"),
    ],
)
def test_options_that_would_be_ignored_are_refused(argv, says, capsys):
    assert says in one_line_error(argv, capsys)


def test_a_short_option_with_its_value_attached_is_known(capsys):
    assert main(["--file", SAMPLE, "--headless", "-T3", "--max-steps", "1"]) == 0
    assert "unknown" not in capsys.readouterr().err


def test_counts_read_in_the_right_number():
    assert [counted(n, "timestep") for n in (0, 1, 2, 1200)] == [
        "0 timesteps",
        "1 timestep",
        "2 timesteps",
        "1,200 timesteps",
    ]
    assert counted(1, "class", "classes") == "1 class" and counted(3, "class", "classes") == "3 classes"
    assert plural(1, "needs", "need") == "needs" and plural(2, "needs", "need") == "need"
