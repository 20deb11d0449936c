"""The core never imports Qt: checked by import-linter and by importing every core module."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import neuroclip_live
from conftest import PROJECT_ROOT


def test_import_linter_contract_holds():
    # Beside this interpreter first: a venv's scripts are there even when the venv is not activated.
    beside = Path(sys.executable).parent / "lint-imports"
    exe = str(beside) if beside.is_file() else shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (pip install 'neuroclip-live[test]')")
    proc = subprocess.run([exe], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_importing_every_core_module_loads_no_qt():
    names = [m.name for m in pkgutil.walk_packages(neuroclip_live.__path__, "neuroclip_live.")]
    assert "neuroclip_live.stream.framing" in names
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'ui'))\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"core modules pulled in Qt/UI modules: {proc.stdout.strip()}"


def _python_files() -> list:
    skip = {".venv", "tests", ".git", "build"}
    return [p for p in PROJECT_ROOT.glob("**/*.py") if not skip & set(p.relative_to(PROJECT_ROOT).parts)]


def test_modules_and_functions_stay_small():
    """No module over 400 lines and no function over 60 outside the tests: a newcomer reads one at a time."""
    import ast

    too_big = []
    for path in _python_files():
        source = path.read_text(encoding="utf-8")
        name = str(path.relative_to(PROJECT_ROOT))
        if len(source.splitlines()) > 400:
            too_big.append(f"{name}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > 60:
                    too_big.append(f"{name}:{node.lineno} {node.name}() {length} lines")
    assert not too_big, "\n".join(too_big)
