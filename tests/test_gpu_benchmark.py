"""benchmarks/gpu.py runs on a CPU (``--device cpu --quick``) and writes every key the GPU run will fill.

No GPU here: these check the script's structure, options and robustness, never a speed. The quick CPU
run puts the small bundled tiny-digits in the place of RN50 and ViT-B-32 and says so in the JSON.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "benchmarks" / "gpu.py"
SECTIONS = ["encoders", "step", "text", "replay_speed0", "replay_speed1", "variants", "ray"]
HAS_RAY = importlib.util.find_spec("ray") is not None


def _run(*args: str, timeout: float = 280) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def _check_rate(fig: dict, unit: str) -> None:
    """ms per item and items per second agree, and there is at least one timed repeat."""
    ms, rate = fig[f"ms_per_{unit[:-1]}"], fig[f"{unit}_s"]
    assert _positive(ms) and _positive(rate) and fig["repeats"] >= 1
    assert rate == pytest.approx(1e3 / ms, rel=1e-6)


def _check_latency(fig: dict) -> None:
    assert _positive(fig["timesteps_s"]) and fig["timesteps"] >= 2
    assert 0 < fig["latency_p50_ms"] <= fig["latency_p95_ms"] <= fig["latency_max_ms"]
    assert 0 <= fig["scored_pct"] <= 100 and fig["drops"] >= 0 and fig["mean_batch"] >= 1


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-bench")
    args = ["--device", "cpu", "--quick", "--backend", "torch", "--out", str(out), "--tag", "test"]
    # The variants' plumbing with torch's debugging backend: inductor would compile C++ for a minute.
    args += ["--variants", "compile,compile_graphs,cuda_graph", "--compile-backend", "eager"]
    proc = _run(str(SCRIPT), *args)
    files = sorted(out.glob("*.json"))
    assert len(files) == 1, proc.stdout + proc.stderr
    return proc, files[0], json.loads(files[0].read_text(encoding="utf-8"))


@pytest.mark.slow
def test_quick_cpu_run_names_the_device_and_ends_cleanly(quick_run):
    proc, path, doc = quick_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert path.name.startswith("cpu-") and path.name.endswith("-quick-test.json")
    assert path.name == doc["device"]["slug"] + "-quick-test.json"
    assert doc["schema"] == "neuroclip-gpu-benchmark/1"
    assert datetime.datetime.fromisoformat(doc["date"]).tzinfo is not None
    dev = doc["device"]
    assert dev["type"] == "cpu" and dev["name"] and dev["torch"] and dev["cpu_count"] >= 1
    for key in ("cuda_runtime", "cudnn", "driver", "capability", "memory_total_mb", "open_clip", "python"):
        assert key in dev
    assert doc["engine"] == "torch fp32 · CPU" and doc["backend"] == "torch" and doc["precision"] == "fp32"
    assert doc["models"] == {"rn50": "tiny-digits", "vit_b_32": "tiny-digits"}
    assert any("tiny-digits stands in" in n for n in doc["notes"])
    assert doc["memory"]["measure"].startswith("peak RSS") and _positive(doc["memory"]["peak_mb"])
    assert 0 < doc["wall_s"] < 280
    assert list(doc["sections"]) == SECTIONS
    for name, entry in doc["sections"].items():
        expected = "skipped" if name == "ray" and not HAS_RAY else "ok"
        assert entry["status"] == expected, (name, entry)
        assert entry["error"] is None and entry["seconds"] >= 0
    assert "ok" in proc.stdout and str(path) in proc.stdout  # the summary table


@pytest.mark.slow
def test_quick_cpu_run_has_every_figure(quick_run):
    sections = {k: v["figures"] for k, v in quick_run[2]["sections"].items()}
    for role in ("rn50", "vit_b_32"):
        enc, step = sections["encoders"][role], sections["step"][role]
        assert enc["model"] == step["model"] == "tiny-digits"
        for b in ("b1", "b32", "b256"):
            _check_rate(enc[b], "images")
        for b in ("b1", "b8", "b32"):
            _check_rate(step[b], "timesteps")
            assert 0 < step[b]["encode_ms_per_timestep"] <= step[b]["ms_per_timestep"]
    text = sections["text"]
    assert text["labels"] == 10 and text["templates_all"] > 1
    assert text["templates_1_ms"] > 0 and text["templates_all_ms"] > 0
    _check_latency(sections["replay_speed0"])
    assert sections["replay_speed0"]["drops"] == 0  # speed 0 waits for the model
    _check_latency(sections["replay_speed1"])
    assert sections["replay_speed1"]["timesteps_s"] < 45  # paced: the recording makes 33 a second


@pytest.mark.slow
def test_quick_cpu_run_measures_one_ray_actor(quick_run):
    if not HAS_RAY:
        pytest.skip("Ray is not installed: pip install 'neuroclip-live[cluster]'")
    ray = quick_run[2]["sections"]["ray"]["figures"]
    assert ray["model"] == "tiny-digits" and ray["gpus"] == 0
    assert _positive(ray["actor"]["encodes_s"]) and ray["actor"]["encodes"] > 0
    assert ray["pipeline"] is None  # the Ray Data run is left out of --quick


@pytest.mark.slow
def test_quick_cpu_run_compares_variants_and_skips_cuda_graphs(quick_run):
    var = quick_run[2]["sections"]["variants"]["figures"]
    assert var["compile_backend"] == "eager"
    assert var["unavailable"] == {
        "compile_graphs": "CUDA graphs need a CUDA device",
        "cuda_graph": "CUDA graphs need a CUDA device",
    }
    assert set(var["step"]) == {"eager", "compile"}
    for fig in var["step"].values():
        for b in ("b1", "b8", "b32"):
            _check_rate(fig[b], "timesteps")
    assert set(var["speedup_vs_eager"]["compile"]) == {"b1", "b8", "b32"}
    for name in ("eager", "compile"):
        _check_latency(var["replay_speed1"][name])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--variants", "compile,warp"], "unknown variant 'warp'"),
        (["--budget", "5"], "give 10 to 3600 seconds"),
        (["--tag", "a/b"], "use letters, digits"),
    ],
)
def test_bad_options_are_one_line(args, message, tmp_path):
    proc = _run(str(SCRIPT), "--out", str(tmp_path), *args, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_failures_are_recorded_and_the_watchdog_writes_what_there_is(tmp_path):
    """A failing section, one cut by its budget, and one stuck past the run's limit."""
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        import torch
        from benchmarks.gpu_report import Report, describe_device

        dev = torch.device("cpu")
        report = Report(Path({str(tmp_path / "r.json")!r}), dev, {{}}, describe_device(dev))

        def fails(figures, budget):
            figures["before"] = 1.0
            raise RuntimeError("out of memory\\nsecond line")

        def cut(figures, budget):
            while budget.allows(0.05):
                time.sleep(0.01)
            figures["done"] = True

        def stuck(figures, budget):
            figures["partial"] = 2.0
            time.sleep(60)

        print(report.run("step", 5, fails), report.run("text", 0.2, cut), flush=True)
        report.start_watchdog(1.0)
        report.run("ray", 100, stuck)
        print("not reached")
        """
    )
    proc = _run("-c", code, timeout=120)
    assert proc.returncode == 1 and proc.stdout.split() == ["failed", "over_budget"]
    assert "partial results in" in proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    step, text, ray = (doc["sections"][n] for n in ("step", "text", "ray"))
    assert step["error"] == "RuntimeError: out of memory" and "Traceback" in step["traceback"]
    assert step["figures"] == {"before": 1.0}
    assert text["figures"] == {"done": True} and "time budget" in text["note"]
    assert ray["status"] == "timed_out" and ray["figures"] == {"partial": 2.0}
    assert doc["sections"]["encoders"]["status"] == "skipped"
    assert any("watchdog" in n for n in doc["notes"])
