"""The GPU benchmark's record: what ran where, one entry per section, written after every section.

A section that raises is recorded as failed (one line and the traceback's tail) and the run goes on;
a watchdog writes what is there and ends the process when the run overruns its hard limit, so one
short session on a borrowed GPU always leaves a JSON file behind.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import resource
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks.gpu_names import SECTIONS

SCHEMA = "neuroclip-gpu-benchmark/1"


class SectionSkipped(Exception):
    """Raised by a section that cannot run here (Ray not installed, CUDA graphs on a CPU): recorded as skipped."""


def slug(text: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def _nvidia_driver() -> str | None:
    """The driver's version from nvidia-smi; torch reports the CUDA runtime it was built with, not the driver."""
    try:
        proc = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else None


def describe_device(device: torch.device) -> dict[str, Any]:
    """The machine: GPU name, driver, CUDA, cuDNN, torch; the CPU's model in every case."""
    import open_clip

    info: dict[str, Any] = {
        "type": device.type,
        "name": cpu_model(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count() or 0,
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
        "python": platform.python_version(),
        "cuda_runtime": torch.version.cuda,  # what this torch was built with; the driver is below on a GPU
        "cudnn": None,
        "driver": None,
        "capability": None,
        "memory_total_mb": None,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            name=torch.cuda.get_device_name(device),
            cudnn=torch.backends.cudnn.version(),
            driver=_nvidia_driver(),
            capability=f"{props.major}.{props.minor}",
            memory_total_mb=props.total_memory / 2**20,
        )
    info["slug"] = ("gpu-" if device.type == "cuda" else "cpu-") + slug(info["name"])
    return info


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated by torch (since the last reset) on a GPU; the process's peak RSS on a CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mb()


def memory_measure(device: torch.device) -> str:
    if device.type == "cuda":
        return "torch.cuda.max_memory_allocated"
    return "peak RSS of the process (getrusage ru_maxrss): no GPU"


class Budget:
    """A section's time: loops ask ``left()`` between runs; ``cut`` says one stopped early for it."""

    def __init__(self, seconds: float, parent: Budget | None = None) -> None:
        self.seconds = seconds
        self.deadline = time.perf_counter() + seconds
        self.parent = parent
        self.cut = False

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def allows(self, seconds: float = 0.0) -> bool:
        """True while ``seconds`` more fit; records the cut (here and above) otherwise."""
        if self.left() > seconds:
            return True
        budget: Budget | None = self
        while budget is not None:
            budget.cut = True
            budget = budget.parent
        return False

    def part(self, shares: int) -> Budget:
        """A budget of 1/``shares`` of the time left: what one of ``shares`` remaining pieces may use."""
        return Budget(max(0.0, self.left()) / max(1, shares), parent=self)


def sync(device: torch.device) -> None:
    """Wait for the GPU's queued work, so that a wall-clock time is the work's and not its queueing."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Report:
    """The JSON document: header, one entry per section (in ``SECTIONS`` order), the memory peak."""

    def __init__(self, path: Path, device: torch.device, options: dict[str, Any], info: dict[str, Any]) -> None:
        self.path = path
        self.device = device
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()
        self.current: str | None = None
        now = datetime.datetime.now(datetime.UTC)
        self.doc: dict[str, Any] = {
            "schema": SCHEMA,
            "date": now.isoformat(timespec="seconds"),
            "device": info,  # describe_device's
            "options": options,
            "argv": sys.argv[1:],
            "engine": None,  # where RN50's frames were encoded: 'torch fp16 · CUDA' (set by the first section)
            "backend": None,
            "precision": None,
            "models": {},  # role -> the model that measured it (a stand-in on a quick CPU run)
            "notes": [],
            "memory": {"measure": memory_measure(device), "peak_mb": 0.0, "peak_rss_mb": 0.0},
            "load_average_1min": {"start": os.getloadavg()[0], "end": None},
            "wall_s": 0.0,
            "sections": {name: _entry("skipped", "not run") for name in SECTIONS},
        }

    def set_engine(self, engine: str, backend: str, precision: str) -> None:
        if self.doc["engine"] is None:
            self.doc.update(engine=engine, backend=backend, precision=precision)

    def skip(self, name: str, why: str) -> None:
        self.doc["sections"][name] = _entry("skipped", why)
        self.write()

    def run(self, name: str, seconds: float, fn: Callable[[dict[str, Any], Budget], str | None]) -> str:
        """``fn(figures, budget)`` as section ``name``; its failure is recorded, not raised. Returns the status."""
        figures: dict[str, Any] = {}
        entry = _entry("timed_out", "the run passed its hard time limit in this section")
        entry.update(budget_s=round(seconds, 1), figures=figures)
        with self._lock:
            self.doc["sections"][name] = entry  # partial figures survive a watchdog exit
            self.current = name
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        budget = Budget(seconds)
        t0 = time.perf_counter()
        try:
            note = fn(figures, budget)
            entry.update(status="over_budget" if budget.cut else "ok", note=note or "")
            if budget.cut:
                entry["note"] = ("stopped early for its time budget; " + entry["note"]).rstrip("; ")
        except SectionSkipped as why:
            entry.update(status="skipped", note=str(why))
        except Exception as err:  # any failure of one section is recorded and the next one runs
            lines = traceback.format_exception(err)
            entry.update(status="failed", note="", error=first_line(err), traceback="".join(lines)[-3000:])
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
        entry["seconds"] = round(time.perf_counter() - t0, 2)
        entry["peak_memory_mb"] = peak_memory_mb(self.device)
        with self._lock:
            self.current = None
        self.write()
        return entry["status"]

    def write(self) -> None:
        """The document as it is now, written whole (temporary file, then rename)."""
        with self._lock:
            doc = self.doc
            sections = [s for s in doc["sections"].values() if "peak_memory_mb" in s]
            doc["memory"]["peak_rss_mb"] = peak_rss_mb()
            # A GPU's peak is reset at each section; a CPU's (the process's RSS) only grows.
            doc["memory"]["peak_mb"] = max([0.0, *(s["peak_memory_mb"] for s in sections)])
            if self.device.type != "cuda":
                doc["memory"]["peak_mb"] = doc["memory"]["peak_rss_mb"]
            doc["load_average_1min"]["end"] = os.getloadavg()[0]
            doc["wall_s"] = round(time.perf_counter() - self._t0, 1)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(doc, indent=1, default=_plain) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)

    def start_watchdog(self, seconds: float) -> threading.Timer:
        """After ``seconds``: write what there is (the running section stays 'timed_out') and end the process."""

        def fire() -> None:
            self.doc["notes"].append(f"ended by the watchdog after {seconds:.0f} s in section {self.current}")
            self.write()
            print(f"gpu benchmark: over {seconds:.0f} s, stopped; partial results in {self.path}", file=sys.stderr)
            os._exit(1)  # a section stuck in a GPU call cannot be interrupted from here

        timer = threading.Timer(seconds, fire)
        timer.daemon = True
        timer.start()
        return timer


def _entry(status: str, note: str) -> dict[str, Any]:
    return {"status": status, "note": note, "error": None, "seconds": 0.0, "figures": {}}


def first_line(err: BaseException) -> str:
    text = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _plain(value: Any) -> Any:
    """numpy scalars and the like, as JSON numbers or text."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)
