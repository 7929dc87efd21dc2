"""Test set-up: the machine's own devices, a child process for multi-device tests, shared paths.

The suite runs at the machine's own device count (one CPU device here), the path most users take.
A test marked ``@pytest.mark.devices(8)`` runs in a child pytest process whose XLA is told to make
8 CPU devices (``--xla_force_host_platform_device_count``), so both paths are covered on every run;
in a process that already has 8 devices it simply runs.
"""

import os
import pathlib
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"
CIFAR10 = SHARED / "datasets" / "cifar10"
IMAGENETTE = SHARED / "datasets" / "imagenette"

import jax  # noqa: E402
import pytest  # noqa: E402

from scaling import runtime  # noqa: E402

runtime.tune()  # as the `scaling` command does, before JAX starts its backend

# Tests check mechanics on tiny networks: XLA's optimisations cost more compile time (about 30 s
# against 12 s for a 7-block proxy on 2 cores) than they save in a few steps. Tests that measure
# accuracy opt back in with the `optimized` fixture.
jax.config.update("jax_disable_most_optimizations", True)


def pytest_configure(config):
    config.addinivalue_line("markers", "devices(n): run the test in a child process with n forced CPU devices")


def pytest_pyfunc_call(pyfuncitem):
    """Run a ``devices(n)`` test in a child pytest with n CPU devices, unless this process has them."""
    marker = pyfuncitem.get_closest_marker("devices")
    if marker is None or jax.local_device_count() == marker.args[0]:
        return None
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={marker.args[0]}"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", pyfuncitem.nodeid],
                          cwd=ROOT, env={**os.environ, "XLA_FLAGS": flags.strip()}, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, f"{pyfuncitem.nodeid} with {marker.args[0]} devices:\n{proc.stdout[-6000:]}"
    return True


@pytest.fixture
def optimized():
    jax.config.update("jax_disable_most_optimizations", False)
    yield
    jax.config.update("jax_disable_most_optimizations", True)


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory):
    """One persistent compilation cache for the session: identical programs compile once."""
    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("jax-cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    yield


@pytest.fixture(scope="session")
def compile_cache(tmp_path_factory):
    """A compilation cache for the real runs of ``python -m scaling.cli`` subprocesses (``--compilation-cache``)."""
    return str(tmp_path_factory.mktemp("xla-cache"))


def fake_result(config, score: float) -> dict:
    """What ``train.train_and_evaluate`` returns, with ``score`` as minival top-1 (studies' stand-in for training)."""
    from scaling import cost, results, train

    spec = train.network_spec(config)
    c = cost.count(spec, 10)
    return {"minival_top1": score, "test_top1": score - 0.01, "train_top1": 0.9, "loss": 0.3, "params": c.params,
            "macs": c.macs, "resolution": spec.resolution, "depth": spec.depth, "width": spec.width,
            "resolution_scale": spec.resolution_scale, "blocks": spec.num_blocks, "output_stride": spec.output_stride,
            "feature_map": cost.feature_map_size(spec), "epochs": 1, "steps": 2, "wall_time": 1.0,
            "images_per_sec": 100.0, "first_step_seconds": 0.5, "num_classes": 10, "dataset": "digits",
            "test_size": 80, "device_kind": "cpu", "platform": "cpu", "num_devices": 1,
            "seconds": dict.fromkeys(results.PHASES, 0.1)}
