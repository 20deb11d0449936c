"""A mutation fuzzer over every recording format the project reads: damaged files, one child process each.

    python benchmarks/fuzz_files.py                  # every input, every mutation, a table
    python benchmarks/fuzz_files.py --quick          # fewer mutations a file
    python benchmarks/fuzz_files.py --big            # also >16 MB files (the streamed read path)
    python benchmarks/fuzz_files.py --tree OTHER     # fuzz another checkout's code (a before/after table)
    python benchmarks/fuzz_files.py --kinds tail     # only some mutations

Inputs: the shared recordings (AEDAT 4 with LZ4, EVT 3.0, DVS .es), the project's sample (AEDAT 4, zstd), and
files written from them by faery (uncompressed AEDAT 4, EVT 2.0, DAT, CSV, an ATIS .es with threshold
crossings), and an N-MNIST sample. Mutations, seeded: cuts, one flipped bit, a zeroed 4 KiB block (one of
them right after the header), random bytes after a good start, and the intact file under wrong extensions.

Each case opens the mutant with ``open_file`` and replays it through the framer (30 ms timesteps) in a child
process with a 4 GB address-space limit and a timeout. A case ends as: replayed, a clean one-line error, a
traceback, a hang, killed for memory, or a crash (another signal); "noise" counts cases that wrote anything
to stderr (a library's panic text, say). For a flip or a zeroed block in the body, the share of the intact
file's timesteps replayed is reported (the check is >= 90%). Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"  # --shared to name another place
MEMORY_LIMIT = 4 << 30
CASE_TIMEOUT_S = 240
BLOCK = 4096
SEED = 2021
EXTENSIONS = (".aedat4", ".raw", ".dat", ".es", ".csv", ".bin")
OUTCOMES = ("replayed", "clean error", "traceback", "hang", "memory", "crash")


@dataclass
class Case:
    name: str  # input/mutation/index
    path: Path
    kind: str  # cut, flip, zero, tail, ext, intact
    intact: str  # the input it came from
    left: float = 1.0  # the share of the body the damage left untouched (a zeroed block in a small file)


def child_main(path: str) -> None:
    """In the child: open and replay ``path``; one JSON line on stdout (a library's own failure escapes)."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    from neuroclip_live.errors import NeuroclipError
    from neuroclip_live.stream.framing import EventFramer, TimestepRule
    from neuroclip_live.stream.sources import open_file

    try:
        source = open_file(path)
        framer = EventFramer(source.size, TimestepRule("time", 30_000), T=10)
        steps = 0
        for packet in source.packets_from(None):
            # One frame at a time, as the app's reader takes them (push's list would hold every frame of a packet).
            steps += sum(1 for frame in framer.frames(packet) if frame.n_events)
        steps += framer.flush() is not None
        result = {"outcome": "replayed", "steps": steps, "notes": source.notes}
    except NeuroclipError as err:
        result = {"outcome": "clean error", "message": str(err)}
    result["peak_mb"] = peak_rss_mb()
    print(json.dumps(result))


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not carried over from the parent by exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(path: Path, tree: Path) -> dict:
    """The outcome of one case, from a fresh child running ``tree``'s code."""
    env = dict(os.environ, PYTHONPATH=str(tree), QT_QPA_PLATFORM="offscreen")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(path)]
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=CASE_TIMEOUT_S, env=env, cwd=tree, check=False
        )
    except subprocess.TimeoutExpired:
        return {"outcome": "hang"}
    err = proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode == 0 and lines:
        result = json.loads(lines[-1])
        message = result.get("message", "")
        if "\n" in message or "Traceback" in message:
            result["outcome"] = "traceback"
    elif "MemoryError" in err or "memory allocation" in err or proc.returncode in (-9, 137):
        result = {"outcome": "memory"}
    elif "Traceback" in err:
        result = {"outcome": "traceback", "message": err.strip().splitlines()[-1][:200]}
    else:
        result = {"outcome": "crash", "message": f"exit {proc.returncode}: {err.strip()[-200:]}"}
    result["noise"] = bool(err.strip())
    return result


# -- inputs ------------------------------------------------------------------------------------


def body_start(path: Path) -> int:
    """Where a file's events start (after its header), by its format."""
    data = path.read_bytes()[: 1 << 20]
    if path.suffix == ".aedat4":
        return 18 + int.from_bytes(data[14:18], "little")
    if path.suffix in (".raw", ".dat"):
        pos = 0
        while data.startswith(b"%", pos):
            pos = data.index(b"\n", pos) + 1
        return pos + 2 * (path.suffix == ".dat")
    if path.suffix == ".es":
        return 20
    if path.suffix == ".csv":
        return data.index(b"\n") + 1
    return 0


def make_inputs(tmp: Path, big: bool, shared: Path) -> list[Path]:
    """The intact files fuzzed: shared recordings, the sample, and faery-written files of every other kind."""
    sys.path.insert(0, str(ROOT / "tests"))
    from neuroclip_live.events import SensorSize
    from neuroclip_live.stream.sources import open_file
    from recording_writers import write_atis_with_faery, write_with_faery

    recordings = shared / "recordings"
    inputs = [recordings / "davis346.aedat4", ROOT / "recordings" / "sample.aedat4", recordings / "evt3.raw"]
    inputs.append(recordings / "dvs.es")
    evt3 = np.concatenate(list(open_file(str(recordings / "evt3.raw")).packets_from(None)))[:400_000]
    dvs = np.concatenate(list(open_file(str(recordings / "dvs.es")).packets_from(None)))[:200_000]
    davis = np.concatenate(list(open_file(str(recordings / "davis346.aedat4")).packets_from(None)))
    inputs.append(write_with_faery(tmp / "flat.aedat4", davis, SensorSize(346, 260), compression=None))
    inputs.append(write_with_faery(tmp / "evt2.raw", evt3, SensorSize(1280, 720), version="evt2"))
    inputs.append(write_with_faery(tmp / "evt3.dat", evt3, SensorSize(1280, 720)))
    inputs.append(write_with_faery(tmp / "dvs.csv", dvs[:40_000], SensorSize(320, 240)))
    inputs.append(write_atis_with_faery(tmp / "atis.es", dvs, SensorSize(320, 240), seed=SEED))
    inputs.append(min((shared / "nmnist-small" / "Train" / "3").glob("*.bin")))
    if big:
        inputs.extend(_big_inputs(tmp, davis, evt3))
    return [p for p in inputs if p.is_file()]


def _big_inputs(tmp: Path, davis: np.ndarray, evt3: np.ndarray) -> list[Path]:
    """Files over the streaming threshold (16 MB): decoded as they play rather than scanned on open."""
    sys.path.insert(0, str(ROOT / "tests"))
    from neuroclip_live.events import SensorSize
    from recording_writers import write_with_faery

    made = []
    for name, events, size in (("big.aedat4", davis, SensorSize(346, 260)), ("big.raw", evt3, SensorSize(1280, 720))):
        copies = 60 if name.endswith("aedat4") else 24
        span = int(events["t"][-1] - events["t"][0]) + 1
        many = np.concatenate([events] * copies)
        many["t"] += np.repeat(np.arange(copies, dtype=np.int64) * span, events.shape[0])
        made.append(write_with_faery(tmp / name, many, size))
    return made


# -- mutations ---------------------------------------------------------------------------------


def mutants(source: Path, out: Path, quick: bool) -> list[Case]:
    """The damaged copies of one intact file, written under ``out``."""
    data = source.read_bytes()
    start = body_start(source)
    rng = np.random.default_rng([SEED, len(source.name), len(data) % 9973])
    stem = f"{source.stem}{source.suffix.replace('.', '_')}"
    cases: list[Case] = []

    def add(kind: str, payload: bytes, suffix: str = source.suffix, left: float = 1.0) -> None:
        path = out / f"{stem}-{kind}{len(cases)}{suffix}"
        path.write_bytes(payload)
        cases.append(Case(path.stem, path, kind, stem, left))

    counts = {"cut": 1, "flip": 3, "zero": 2} if quick else {"cut": 2, "flip": 6, "zero": 4}
    for _ in range(counts["cut"]):
        add("cut", data[: int(rng.integers(start + 1, len(data)))])
    for _ in range(counts["flip"]):
        m = bytearray(data)
        m[int(rng.integers(start, len(m)))] ^= 1 << int(rng.integers(8))
        add("flip", bytes(m))
    for i in range(counts["zero"]):
        at = start if i == 0 else int(rng.integers(start, max(start + 1, len(data) - BLOCK)))
        zeroed = len(data[at : at + BLOCK])
        add("zero", data[:at] + bytes(zeroed) + data[at + BLOCK :], left=1 - zeroed / (len(data) - start))
    keep = min(512 * 1024, len(data) // 2)
    add("tail", data[:keep] + rng.bytes(len(data) - keep))
    add("tail", data[:keep] + rng.bytes(2 << 20))  # the case: an AEDAT 4 table then lies past the end
    add("tail", data[: start + BLOCK] + rng.bytes(max(len(data) - start - BLOCK, BLOCK)))
    others = [e for e in EXTENSIONS if e != source.suffix]
    for suffix in others[:2] if quick else others:
        add("ext", data[: 2 << 20], suffix)
    return cases


# -- the run and the table ---------------------------------------------------------------------


def fuzz(tree: Path, quick: bool, big: bool, shared: Path, log, kinds: tuple[str, ...] = ()) -> dict:
    with tempfile.TemporaryDirectory(prefix="fuzz-files-") as tmp_name:
        tmp = Path(tmp_name)
        inputs = make_inputs(tmp, big, shared)
        intact = {}
        for path in inputs:
            stem = f"{path.stem}{path.suffix.replace('.', '_')}"
            intact[stem] = run_case(path, tree)
            print(f"intact {stem}: {intact[stem]}", file=log, flush=True)
        cases = [case for path in inputs for case in mutants(path, tmp, quick) if not kinds or case.kind in kinds]
        results = {}
        for i, case in enumerate(cases):
            result = run_case(case.path, tree)
            steps, whole = result.get("steps"), intact[case.intact].get("steps")
            if case.kind in ("flip", "zero") and whole:
                result["share"] = (steps or 0) / whole
                result["share_of_left"] = min(result["share"] / case.left, 1.0)
            results[case.name] = {"kind": case.kind, **result}
            print(f"[{i + 1}/{len(cases)}] {case.name}: {_brief(result)}", file=log, flush=True)
            case.path.unlink()
    return {"intact": intact, "cases": results}


def _brief(result: dict) -> str:
    text = result["outcome"]
    if "share" in result:
        text += f" {100 * result['share']:.1f}%"
    if result.get("message"):
        text += f" - {result['message'][:160]}"
    return text + (" [stderr]" if result.get("noise") else "") + f" ({result.get('peak_mb', 0):.0f} MB)"


def table(report: dict) -> str:
    """Counts by outcome and kind, and the body-damage shares."""
    cases = report["cases"].values()
    kinds = sorted({c["kind"] for c in cases})
    rows = ["| outcome | " + " | ".join(kinds) + " | all |", "|---" * (len(kinds) + 2) + "|"]
    for outcome in OUTCOMES:
        per = Counter(c["kind"] for c in cases if c["outcome"] == outcome)
        rows.append(f"| {outcome} | " + " | ".join(str(per[k]) for k in kinds) + f" | {sum(per.values())} |")
    noise = Counter(c["kind"] for c in cases if c.get("noise"))
    rows.append("| stderr noise | " + " | ".join(str(noise[k]) for k in kinds) + f" | {sum(noise.values())} |")
    shares = [c["share"] for c in cases if "share" in c]
    if shares:
        left = [c["share_of_left"] for c in cases if "share_of_left" in c]
        rows.append(
            f"\nflip/zero in the body: {len(shares)} cases; timesteps replayed, of the intact file's: mean "
            f"{100 * np.mean(shares):.1f}%, min {100 * min(shares):.1f}%, {sum(s < 0.9 for s in shares)} below 90%; "
            f"of what the damage left (a zeroed block is 15% of a small file): min {100 * min(left):.1f}%, "
            f"{sum(s < 0.9 for s in left)} below 90%"
        )
    peak = max((c.get("peak_mb", 0) for c in cases), default=0)
    rows.append(f"peak RSS of any case that finished: {peak:.0f} MB")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer mutations a file")
    p.add_argument("--big", action="store_true", help="also fuzz >16 MB files (the streamed read path)")
    p.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose code is fuzzed")
    p.add_argument("--shared", type=Path, default=SHARED, help="the shared data folder (recordings/, nmnist-small/)")
    p.add_argument("--kinds", default="", help="only these mutations, comma-separated (cut,flip,zero,tail,ext)")
    p.add_argument("--json", type=Path, help="also write every case's result here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child_main(args.child)
        return 0
    kinds = tuple(k for k in args.kinds.split(",") if k)
    report = fuzz(args.tree.resolve(), args.quick, args.big, args.shared, sys.stderr, kinds)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
