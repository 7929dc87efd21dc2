"""Test set-up: 8 CPU devices for the multi-device tests, paths to the shared references."""

import os
import pathlib

# Must happen before JAX initialises its backends.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"
CIFAR10 = SHARED / "datasets" / "cifar10"

import jax  # noqa: E402  (after XLA_FLAGS)
import pytest  # noqa: E402

# Tests check mechanics on tiny networks: XLA's optimisations cost more compile time (about 30 s
# against 12 s for a 7-block proxy on 2 cores) than they save in a few steps. Tests that measure
# accuracy opt back in with the `optimized` fixture.
jax.config.update("jax_disable_most_optimizations", True)


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
