"""Shared fixtures: where the real data lives, and a skip when it is absent; Qt settings kept away from the user's."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Qt's settings (recent files, window geometry) go to a folder of this test session, never to the user's
# ~/.config/neuroclip-live: XDG_CONFIG_HOME before Qt reads it (subprocesses inherit it), and QSettings'
# own paths for the session (settings_home below).
REAL_SETTINGS_DIR = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "neuroclip-live"
SETTINGS_HOME = Path(tempfile.mkdtemp(prefix="neuroclip-live-qsettings-"))
os.environ["XDG_CONFIG_HOME"] = str(SETTINGS_HOME)


@pytest.fixture(scope="session", autouse=True)
def settings_home():
    """Every QSettings() of the session, native or INI, lives under SETTINGS_HOME; removed at the end."""
    from PySide6.QtCore import QSettings

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(SETTINGS_HOME))
    yield SETTINGS_HOME
    shutil.rmtree(SETTINGS_HOME, ignore_errors=True)


PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
RECORDINGS = SHARED_DATA / "recordings"
NMNIST = SHARED_DATA / "nmnist-small"
# The project's sample recording scored headless by the bundled model as fast as it goes, one JSON line a step.
SCORE_SAMPLE = (
    "--file",
    str(PROJECT_ROOT / "recordings" / "sample.aedat4"),
    "--headless",
    "--json",
    "--speed",
    "0",
    "--model",
    "tiny-digits",
)

# A few-shot run quick enough for a test: tiny-digits, 2 epochs of 2 views, 2 validation samples a class.
QUICK_TRAINING = ("--model", "tiny-digits", "--epochs", "2", "--views", "2", "--val-per-class", "2", "--quiet")

needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"real event data not found at {SHARED_DATA} (../shared/data beside the project)"
)


@pytest.fixture(scope="session", autouse=True)
def _session_user_cache(tmp_path_factory):
    """The user's cache folder ($XDG_CACHE_HOME: OpenVINO's converted models) is the session's own, not ~/.cache.

    The CLI tests' subprocesses inherit it, so a model converted once serves the whole session.
    """
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("user-cache")))
    yield
    patch.undo()


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
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    yield
    QSettings.setDefaultFormat(QSettings.Format.NativeFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(SETTINGS_HOME))


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for the whole session (2 CPUs, a small object store, no dashboard), shut down at the end."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'neuroclip-live[cluster]'")
    from neuroclip_live.offline.cluster import connect

    info = connect(num_cpus=2, object_store_mb=256)
    yield info
    ray.shutdown()


@pytest.fixture(scope="session")
def nmnist_slice(tmp_path_factory) -> Path:
    """Digits 0, 1 and 7, eight samples each, copied from the shared N-MNIST samples (Train split)."""
    if not NMNIST.is_dir():
        pytest.skip(f"N-MNIST samples not found at {NMNIST}")
    import shutil

    root = tmp_path_factory.mktemp("nmnist-slice")
    for digit in ("0", "1", "7"):
        (root / "Train" / digit).mkdir(parents=True)
        for f in sorted((NMNIST / "Train" / digit).iterdir())[:8]:
            shutil.copy(f, root / "Train" / digit / f.name)
    return root
