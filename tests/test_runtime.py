"""The entry points tune glibc's allocator so XLA:CPU reuses its scratch memory instead of
page-faulting it in again on every call (see scaling.runtime); importing scaling changes nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scaling import runtime

REPO = Path(__file__).resolve().parents[1]

# A jitted program whose scratch space (over 128 MiB) is far above glibc's mmap threshold; the child
# reports page faults per call once warm, and what scaling.runtime says.
CHILD = """
import json, resource
from scaling import runtime
runtime.tune_malloc()
import jax, jax.numpy as jnp

@jax.jit
def f(x):
    z = jnp.concatenate([x @ (x.T * i) for i in range(1, 9)])  # a 128 MiB intermediate
    return jnp.sum(jnp.tanh(z), axis=0)

x = jnp.ones((2048, 2048), jnp.float32) / 2048
for _ in range(20):  # the heap grows a few times (two calls' scratch can overlap), then holds
    f(x).block_until_ready()
windows = []  # the quietest of three windows: a busy machine can still grow the heap in one of them
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        f(x).block_until_ready()
    windows.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
faults = min(windows)
print(json.dumps({"faults_per_call": faults, "tuned": runtime.malloc_tuned()}))
"""


def _run(malloc: str | None, child: str = CHILD) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "SCALING_MALLOC"}
    if malloc is not None:
        env["SCALING_MALLOC"] = malloc
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=300,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not runtime.has_glibc(), reason="the tuning is glibc's mallopt")
def test_tuning_stops_page_faults():
    tuned, system = _run(None), _run("system")
    assert tuned["tuned"] and not system["tuned"]
    # 128 MiB freshly mmapped is ~32,000 faults of 4 KiB pages; reused heap memory faults not at all.
    assert system["faults_per_call"] > 20_000, system
    assert tuned["faults_per_call"] < 0.05 * system["faults_per_call"], (tuned, system)


# A freed block over 2 GiB (what the Imagenette proxy's step needs at 128 px) stays for reuse; the guard
# gives it back once the process holds more than its slack above where it settled.
BIG_BLOCK_CHILD = """
import json
from scaling import runtime
runtime.tune_malloc()
import numpy as np
GiB = 2**30
guard = runtime.HeapGuard(slack=GiB // 2)
guard.check()
base = runtime.resident_bytes()
block = np.ones(int(2.5 * GiB) // 8)  # malloc'd and touched: 2.5 GiB resident
del block
held = runtime.resident_bytes() - base
trimmed = guard.check()
print(json.dumps({"held": held / GiB, "trimmed": trimmed, "after": (runtime.resident_bytes() - base) / GiB}))
"""


@pytest.mark.skipif(not runtime.has_glibc(), reason="the tuning is glibc's mallopt")
@pytest.mark.parametrize("malloc", [None, "system"])
def test_a_block_over_2_gib_is_kept_for_reuse_until_the_guard_trims(malloc):
    r = _run(malloc, BIG_BLOCK_CHILD)
    if malloc is None:  # trimming off: the freed 2.5 GiB stays resident (2 GiB was the old, int-sized limit)
        assert r["held"] > 2.4 and r["trimmed"] and r["after"] < 0.25, r
    else:  # glibc's defaults: the block was its own mmap and went back at once; the guard does nothing
        assert r["held"] < 0.25 and not r["trimmed"], r


def test_opt_out_leaves_malloc_alone(monkeypatch):
    monkeypatch.setenv("SCALING_MALLOC", "system")
    monkeypatch.setitem(runtime._state, "tuned", False)
    assert runtime.tune_malloc() is False
    assert runtime.malloc_tuned() is False


def test_importing_the_package_has_no_side_effects():
    """``import scaling`` (and the stdlib-only maths, specs and networks) neither tunes malloc nor starts JAX."""
    code = ("import sys, scaling\nfrom scaling import arch, config, cost, network, runtime, scaling_math\n"
            "print(runtime.malloc_tuned(), 'jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.split() == ["False", "False"]


def test_the_command_tunes_malloc_before_jax_starts(tmp_path):
    """The `scaling` command tunes at its entry point: a run records it in result.json."""
    subprocess.run([sys.executable, "-m", "scaling.cli", "train", "--depth", "0.25", "--width", "0.25",
                    "--base-resolution", "16", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "8",
                    "--limit-train", "64", "--limit-test", "16", "--quiet", "--compilation-cache", str(tmp_path / "c"),
                    "--workdir", str(tmp_path / "w")], check=True, capture_output=True, timeout=600, cwd=REPO,
                   env={**os.environ, "JAX_DISABLE_MOST_OPTIMIZATIONS": "1"})
    result = json.loads((tmp_path / "w" / "result.json").read_text())
    assert result["malloc_tuned"] == runtime.has_glibc()
    assert set(runtime.XLA_CPU_FLAGS) <= set(result["xla_flags"].split())
    assert result["cpu"] == runtime.cpu()  # what a run's last digits depend on


def test_the_cpu_is_named_with_its_family_model_and_widest_vector_isa(monkeypatch, tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n"
                    "model name\t: AMD EPYC\nflags\t\t: fpu sse4_2 avx avx2 avx512f\n\nprocessor\t: 1\n")
    real_open = open
    monkeypatch.setattr("builtins.open",
                        lambda path, *a, **k: real_open(info if path == "/proc/cpuinfo" else path, *a, **k))
    assert runtime.cpu() == "AMD EPYC (family 25, model 17, avx512f)"


def test_xla_flags_are_added_unless_the_user_set_them(monkeypatch):
    monkeypatch.delenv("SCALING_XLA", raising=False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    assert runtime.tune_xla()
    assert os.environ["XLA_FLAGS"].split() == ["--xla_dump_to=/tmp/x", *runtime.XLA_CPU_FLAGS]
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true")
    runtime.tune_xla()
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_use_fusion_emitters=true"  # the user's choice stands
    monkeypatch.setenv("SCALING_XLA", "default")
    monkeypatch.setenv("XLA_FLAGS", "")
    assert not runtime.tune_xla() and os.environ["XLA_FLAGS"] == ""


def test_a_study_s_workers_share_one_gpu_unless_the_user_set_its_memory(monkeypatch):
    """`--workers N` gives each process 0.9 / N of a GPU (JAX's default 75% each fails the second)."""
    from scaling import cli

    for name in runtime._GPU_MEMORY_ENV:
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["sweep", "depth", "--workers", "3", "--dry-run"]) == 0
    assert os.environ["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.300"
    monkeypatch.delenv("XLA_PYTHON_CLIENT_MEM_FRACTION")
    assert not runtime.share_device(1) and "XLA_PYTHON_CLIENT_MEM_FRACTION" not in os.environ
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    assert not runtime.share_device(4) and "XLA_PYTHON_CLIENT_MEM_FRACTION" not in os.environ
