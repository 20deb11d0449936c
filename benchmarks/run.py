"""Run every benchmark and print the figures as a table (``--json``: one JSON object).

    python benchmarks/run.py            # all, table
    python benchmarks/run.py --quick    # fewer repeats, smaller models
    python benchmarks/run.py --only framing io --json

Figures, not pass/fail: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SUITES = ("framing", "io", "ingest", "replay", "model", "threads", "startup", "cluster", "e2e", "where")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object with every figure")
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    p.add_argument("--only", nargs="+", choices=SUITES, help="run only these suites")
    args = p.parse_args(argv)
    figures: dict[str, float] = {}
    for name in args.only or SUITES:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        t0 = time.perf_counter()
        result = module.collect(quick=args.quick)
        figures.update(result)
        if not args.json:
            print(f"\n## {name}  ({time.perf_counter() - t0:.1f} s)")
            for key, value in result.items():
                print(f"  {key:<46} {value:12.3f}")
    if args.json:
        figures["cpu_count"] = os.cpu_count() or 0
        print(json.dumps({k: round(v, 4) for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
