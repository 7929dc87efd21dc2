"""The benchmark scripts run: their --tiny smoke modes exit 0 and print the expected table rows.

Each script runs as a subprocess (as a user would run it), without the test session's forced
8-device XLA flag. Peers (torch, timm, keras) are never needed: the train-step benchmark runs
with --no-peers and the depthwise one simply leaves out its torch row when torch is missing.
"""

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

from scaling import runtime

BENCH = ROOT / "benchmarks"


def _run(script, *args, timeout):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)
    assert proc.returncode == 0, f"{script} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_train_step_tiny():
    """B0's full train step (the paper recipe at 32 px) compiles, runs and gives a finite loss."""
    out = _run("train_step.py", "--tiny", "--no-peers", timeout=540)
    loss = re.search(r"^\s*set-up ours-auto\s+first step [\d.]+ s, loss ([\d.]+)$", out, re.M)
    assert loss and 0 < float(loss.group(1)) < 20, out
    assert re.search(r"^impl\s+what\s+img/s\s+\(rounds\)\s+first s\s+x timm", out, re.M), out
    row = re.search(r"^ours-auto\s+.*?\s(\d+\.\d)\s+[\d.]+-[\d.]+\s+(\d+\.\d)\s+-\s+"
                    r"depthwise=(\w+), malloc tuned=(True|False)$", out, re.M)
    assert row, out
    img_s, first_s, impl, tuned = float(row.group(1)), float(row.group(2)), row.group(3), row.group(4)
    assert img_s > 0 and first_s > 0
    assert impl in ("shifted", "xla")
    assert tuned == str(runtime.has_glibc()), "importing scaling tunes glibc's malloc"
    assert not re.search(r"^(timm|keras)", out, re.M), "--no-peers must not run peers"


@pytest.mark.timeout(300)
def test_depthwise_tiny():
    out = _run("depthwise.py", "--tiny", timeout=240)
    for impl in ("xla", "shifted"):
        row = rf"^\(2, \d+, \d+, \d+\)\s+\d\s+\d\s+{impl}\s+[\d.]+\s+[\d.]+x\s+[\d.]+\s+[\d.]+x$"
        rows = re.findall(row, out, re.M)
        assert len(rows) == 3, f"expected 3 {impl} rows:\n{out}"


@pytest.mark.timeout(300)
def test_input_pipeline_tiny():
    if not (BENCH / "input_pipeline.py").exists():
        pytest.skip("no input-pipeline benchmark")
    out = _run("input_pipeline.py", "--tiny", "--datasets", "digits", timeout=240)
    rows = re.findall(r"^digits\s+\d+\s+\d+\s+\d+\s+\d+\s+[\d.]+\s+[\d.]+$", out, re.M)
    assert len(rows) == 4, out  # 2 resolutions x 2 batch sizes


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_proxy_tiny():
    """The proxy benchmark's table: the CIFAR proxy's first step and img/s (ours only in CI)."""
    out = _run("proxy.py", "--tiny", timeout=540)
    row = re.search(r"^\| B0 d 0.25 w 0.25, 32 px, batch 64 \(CIFAR proxy\) \| 126,822 \| ([\d.]+) \| - \| ([\d,]+) \|",
                    out, re.M)
    assert row and float(row.group(1)) > 0 and int(row.group(2).replace(",", "")) > 0, out


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_gpu_tiny(tmp_path):
    """The GPU script's CPU form: every part runs and records real figures in gpu.json and gpu.md."""
    import json
    import math

    _run("gpu.py", "--tiny", "--out", str(tmp_path), timeout=840)
    report = json.loads((tmp_path / "gpu.json").read_text())
    parts = report["parts"]
    assert set(parts) == {"correctness", "train_step", "limits", "sweep"}
    assert all(p["error"] is None for p in parts.values()), {k: p["error"] for k, p in parts.items()}
    checks = {c["check"]: c["passed"] for c in parts["correctness"]["checks"]}
    assert checks == dict.fromkeys(["proxy trains and resumes", "paper recipe on 1 device", "bf16 loss finite",
                                    "scanned == unrolled"], True), parts["correctness"]["checks"]
    sizes = parts["train_step"]["sizes"]
    assert len(sizes) == 2
    for size in sizes.values():
        assert size["ours_first_step"]["cold"] > 0 and size["ours_first_step"]["warm"] > 0
        for name in ("ours-xla", "ours-shifted"):
            row = size["rows"][name]
            assert math.isfinite(row["img_s"]) and row["img_s"] > 0 and row["first_s"] > 0, row
    limits = parts["limits"]
    assert limits["step"]["img_s"] > 0 and limits["matmul"]["flops_s"] > 0 and limits["copy"]["bytes_s"] > 0
    assert limits["profile"]["top"] and limits["profile"]["busy_ms_per_step"] > 0
    sweep = parts["sweep"]
    assert len(sweep["candidates"]) == 2
    for mode in sweep["modes"].values():
        assert mode["completed"] == 2 and not mode["failed"] and mode["trials_per_hour"] > 0, mode
    assert sweep["x_one_at_a_time"] > 0
    md = (tmp_path / "gpu.md").read_text()
    for heading in ("## 1. Correctness", "## 2. Train step", "## 3. Limits", "## 4. Sweep throughput", "## Targets"):
        assert heading in md
    assert "| row | img/s (median) |" in md and "| one at a time | 1 | 2/2 |" in md


@pytest.mark.timeout(300)
def test_study_step_times_each_network_of_an_experiment_file():
    """One row per network asked for (seed 0 only), with real figures; a bad file is one line and exit 1."""
    out = _run("study_step.py", "scaling/configs/sweep_depth.py", "--only", "d1_", "--steps", "1", timeout=240)
    rows = re.findall(r"^network (d1_w1_r1) \| blocks (\d+) \| px 16 \| MMACs ([\d.]+) \| first step s ([\d.]+) \| "
                      r"ms/step ([\d.]+) \| img/s ([\d.]+) \| GMACs/s ([\d.]+)$", out, re.M)
    assert len(rows) == 1 and all(float(v) > 0 for v in rows[0][2:]), out
    proc = subprocess.run([sys.executable, str(BENCH / "study_step.py"), "no/such/file.py"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("study_step.py: no experiment file"), lines


@pytest.mark.timeout(300)
def test_cli_help_times_the_top_level_and_every_subcommand():
    out = _run("cli_help.py", "--tiny", timeout=240)
    rows = dict(re.findall(r"^(python -c pass|scaling(?: [a-z-]+)? --help)\s+([\d.]+) \([\d.]+\)$", out, re.M))
    commands = ["models", "strategies", "grid", "train", "search", "scale-up", "sweep", "calibrate", "compare",
                "status", "fidelity", "plot", "cam"]
    assert list(rows) == ["python -c pass", "scaling --help", *(f"scaling {c} --help" for c in commands)], out
    assert all(float(s) > 0 for s in rows.values()), out
