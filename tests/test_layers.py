"""The core never imports Qt: checked by import-linter and by importing every core module."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys

import pytest

import neuroclip_live
from conftest import PROJECT_ROOT


def test_import_linter_contract_holds():
    exe = shutil.which("lint-imports")
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
