"""The memory estimate that refuses a run which cannot fit (the refusal itself: tests/test_train.py)."""

import jax
import psutil
import pytest

from scaling import cost, memory_estimate, train
from scaling.network import Network
from scaling.train import TrainConfig


def _prepared(**changes):
    fields = {"network": Network(depth=0.25, width=0.5, base_resolution=16), "batch_size": 16, **changes}
    return train.prepare(TrainConfig(**fields, compilation_cache=None, quiet=True))


def test_memory_estimate_counts_state_and_activations():
    cfg, spec, devices = _prepared()
    c = cost.count(spec, 10)
    dtype = train.compute_dtype(cfg)
    small = memory_estimate.step_memory_bytes(cfg, spec, 10, 1, dtype)
    big = memory_estimate.step_memory_bytes(_prepared(batch_size=64)[0], spec, 10, 1, dtype)
    assert big - small == pytest.approx(memory_estimate.ACTIVATION_OVERHEAD * c.activation_bytes * 48, rel=1e-6)
    assert small > 4 * 4 * c.params  # weights, gradients and AdamW's two slots in fp32
    assert memory_estimate.device_memory_bytes(devices) > big


def test_cpu_memory_limit_is_the_hosts_total_not_what_is_free_now():
    """A sibling worker's run holds memory for a while; only what the host has can refuse a run."""
    devices = jax.devices("cpu")
    assert memory_estimate.device_memory_bytes(devices) == psutil.virtual_memory().total


def test_a_run_over_the_devices_memory_is_refused_in_one_line(monkeypatch):
    cfg, spec, devices = _prepared()
    dtype = train.compute_dtype(cfg)
    need = memory_estimate.step_memory_bytes(cfg, spec, 10, len(devices), dtype)
    monkeypatch.setattr(memory_estimate, "device_memory_bytes", lambda devices: need)
    memory_estimate.check_fits(cfg, spec, 10, devices, dtype)  # exactly what it needs: fits
    monkeypatch.setattr(memory_estimate, "device_memory_bytes", lambda devices: need - 1)
    with pytest.raises(train.ConfigError, match="needs about .* GiB the devices hold") as info:
        memory_estimate.check_fits(cfg, spec, 10, devices, dtype)
    assert "\n" not in str(info.value)
