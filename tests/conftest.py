"""Shared fixtures: where the real data lives, and a skip when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
RECORDINGS = SHARED_DATA / "recordings"
NMNIST = SHARED_DATA / "nmnist-small"

needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"real event data not found at {SHARED_DATA} (../shared/data beside the project)"
)


@pytest.fixture
def recordings_dir() -> Path:
    if not RECORDINGS.is_dir():
        pytest.skip(f"shared recordings not found at {RECORDINGS}")
    return RECORDINGS


@pytest.fixture
def nmnist_root() -> Path:
    if not NMNIST.is_dir():
        pytest.skip(f"N-MNIST samples not found at {NMNIST}")
    return NMNIST


@pytest.fixture
def isolated_qsettings(tmp_path):
    """QSettings() without arguments writes INI files under tmp_path (run_app uses the default)."""
    from PySide6.QtCore import QSettings  # only the window tests use Qt

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    yield
    QSettings.setDefaultFormat(QSettings.Format.NativeFormat)
