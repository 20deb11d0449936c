"""Soak: replay a recording in a loop for N minutes, in the window (offscreen) and/or headless, sampling RSS.

    python benchmarks/soak.py --minutes 10 --mode window --model tiny-digits
    python benchmarks/soak.py --minutes 3 --mode both --file recordings/sample.aedat4 --speed 0
    python benchmarks/soak.py --minutes 5 --mode window --where   # relevance maps on

Each run is a child process (this script with ``--child``), so an abort shows as its exit status
and RSS is read from outside (/proc/PID/status every few seconds). It prints, per run: exit
status, RSS at minute 1 and at the end and the growth between them, timesteps/s, frames dropped,
events dropped and the p95 latency. Exit status 0 only when every run exited 0 and kept its RSS
within ``--max-growth`` (10%) of its minute-1 value. Figures, not timings asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE_EVERY_S = 5.0


def _config(args: argparse.Namespace):
    from neuroclip_live.cli.run import config_from_argv

    words = ["--file", args.file, "--loop", "--speed", str(args.speed)]
    if args.model:
        words += ["--model", args.model]
    if args.where:
        words.append("--where")
    return config_from_argv(words)


def _report(seconds: float, stats, latencies: list[float]) -> None:
    import numpy as np

    lat = np.asarray(latencies) if latencies else np.zeros(1)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "steps": stats.steps_total,
                "drops": stats.drops,
                "events_dropped": stats.events_dropped,
                "latency_p95_ms": float(np.percentile(lat, 95)),
            }
        ),
        flush=True,
    )


def _child_headless(args: argparse.Namespace) -> int:
    from neuroclip_live.runtime.pipeline import Pipeline
    from neuroclip_live.stream.sources import open_source

    config = _config(args)
    controls = config.initial_controls()
    loader = config.classifier_loader(controls) if config.wants_model(controls.labels) else None
    pipeline = Pipeline(lambda: open_source(config.source), config, loader).start()
    latencies: list[float] = []  # one float a timestep: 8 bytes, a few MB over an hour
    pipeline.wait_model()
    t0 = time.monotonic()
    for result in pipeline.results(timeout=30):
        latencies.append(result.latency_ms)
        if time.monotonic() - t0 > args.minutes * 60:
            break
    seconds = time.monotonic() - t0
    stats = pipeline.snapshot().stats
    pipeline.stop(timeout=30)
    _report(seconds, stats, latencies)
    return 0


def _child_window(args: argparse.Namespace) -> int:
    from PySide6.QtCore import QTimer

    from ui.app import application, dispose, prepare_window
    from ui.main_window import MainWindow

    app = application()
    config = _config(args)
    window = MainWindow(config)
    prepare_window(window, config)  # opens the source, as the app does
    window.show()
    latencies: list[float] = []
    last = [-1]
    t0 = time.monotonic()

    def sample() -> None:  # the window never drains results(): read the newest scored step, as it does
        pipeline = window.session.pipeline
        result = pipeline.snapshot().result if pipeline is not None else None
        if result is not None and result.step != last[0]:
            last[0] = result.step
            latencies.append(result.latency_ms)

    stats = []

    def finish() -> None:  # the figures before the window closes (closing stops its pipeline)
        pipeline = window.session.pipeline
        stats.append(pipeline.snapshot().stats if pipeline is not None else None)
        window.close()

    timer = QTimer()
    timer.timeout.connect(sample)
    timer.start(50)
    QTimer.singleShot(int(args.minutes * 60_000), finish)
    code = int(app.exec())
    seconds = time.monotonic() - t0
    timer.stop()
    dispose(window)
    if not stats or stats[0] is None:
        print("the window had no pipeline at the end", file=sys.stderr)
        return 1
    _report(seconds, stats[0], latencies)
    return code


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _soak(mode: str, args: argparse.Namespace) -> bool:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    words = (
        [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--minutes",
            str(args.minutes),
            "--file",
            args.file,
            "--speed",
            str(args.speed),
        ]
        + (["--model", args.model] if args.model else [])
        + (["--where"] if args.where else [])
    )
    proc = subprocess.Popen(words, stdout=subprocess.PIPE, text=True, env=env)
    t0 = time.monotonic()
    samples: list[tuple[float, float]] = []
    while proc.poll() is None:
        rss = _rss_mb(proc.pid)
        if rss is not None:
            samples.append((time.monotonic() - t0, rss))
        time.sleep(SAMPLE_EVERY_S)
    out = proc.stdout.read() if proc.stdout else ""
    code = proc.wait()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    figures = json.loads(lines[-1]) if lines else {}
    at_1min = next((rss for t, rss in samples if t >= 60), samples[-1][1] if samples else float("nan"))
    end = samples[-1][1] if samples else float("nan")
    growth = (end - at_1min) / at_1min * 100
    steps_s = figures.get("steps", 0) / max(figures.get("seconds", 1), 1e-9)
    print(
        f"## soak {mode}: {args.minutes:g} min, {Path(args.file).name}, model {args.model or 'none'}, "
        f"speed {args.speed:g}"
    )
    print(f"  exit status            {code}")
    print(
        f"  RSS at 1 min / end     {at_1min:.1f} MB / {end:.1f} MB  (growth {growth:+.1f}%, "
        f"peak {max((r for _, r in samples), default=float('nan')):.1f} MB, {len(samples)} samples)"
    )
    print(f"  timesteps/s            {steps_s:.1f}  ({figures.get('steps', 0)} in {figures.get('seconds', 0):.0f} s)")
    print(f"  frames dropped         {figures.get('drops', 'n/a')}")
    print(f"  events dropped         {figures.get('events_dropped', 'n/a')}")
    print(f"  latency p95            {figures.get('latency_p95_ms', float('nan')):.1f} ms", flush=True)
    return code == 0 and abs(growth) <= args.max_growth


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--mode", choices=("window", "headless", "both"), default="both")
    p.add_argument("--file", default=str(ROOT / "recordings" / "sample.aedat4"))
    p.add_argument("--model", default="tiny-digits", help="model name, or '' for frames only")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed; 0 = as fast as possible")
    p.add_argument("--where", action="store_true", help="relevance maps on, every timestep")
    p.add_argument("--max-growth", type=float, default=10.0, help="allowed RSS growth after minute 1, in percent")
    p.add_argument("--child", choices=("window", "headless"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child == "window":
        return _child_window(args)
    if args.child == "headless":
        return _child_headless(args)
    modes = ("window", "headless") if args.mode == "both" else (args.mode,)
    ok = [_soak(mode, args) for mode in modes]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
