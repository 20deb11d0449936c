"""The README's two newcomer commands: CI runs exactly the test one, and both set up the pinned torch first."""

from __future__ import annotations

import re

from conftest import PROJECT_ROOT

TORCH = "pip install torch==2.14.1 torchvision==0.29.1"


def readme_commands() -> list[str]:
    """The one-line commands of the README's first two code blocks (start the app; run the tests)."""
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    return [block.strip() for block in re.findall(r"```\n(.*?)```", text, flags=re.S)[:2]]


def test_ci_runs_the_readmes_test_command_exactly():
    start, tests = readme_commands()
    ci = (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci == tests
    assert tests.endswith("ruff check . && ruff format --check . && python -m pytest")
    for command in (start, tests):
        assert "\n" not in command and TORCH in command and command.index(TORCH) < command.index("pip install -e")
    assert start.endswith("neuroclip-live --file recordings/sample.aedat4 --model tiny-digits")
