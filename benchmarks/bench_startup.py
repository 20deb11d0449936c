"""Start-up: wall time of whole ``neuroclip-live`` processes, as a user starts them.

``startup_frames_only_s``: ``--file recordings/sample.aedat4 --headless --max-steps 1`` (no model,
so no torch); beside it ``--version`` and ``--help``, and what a bare Python with numpy costs on
the same machine at the same moment (the floor). Medians of alternating runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "recordings" / "sample.aedat4"
COMMANDS = {
    "startup_frames_only_s": ["-m", "ui.launch", "--file", str(SAMPLE), "--headless", "--max-steps", "1"],
    "startup_version_s": ["-m", "ui.launch", "--version"],
    "startup_help_s": ["-m", "ui.launch", "--help"],
    "startup_python_numpy_s": ["-c", "import numpy"],
}


def _wall(args: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def collect(quick: bool = False) -> dict[str, float]:
    runs: dict[str, list[float]] = {k: [] for k in COMMANDS}
    for _ in range(3 if quick else 7):
        for key, args in COMMANDS.items():
            runs[key].append(_wall(args))
    return {k: float(np.median(v)) for k, v in runs.items()}


if __name__ == "__main__":
    for key, value in collect().items():
        print(f"{key:<30} {value:8.3f}")
