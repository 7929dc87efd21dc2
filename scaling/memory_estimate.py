"""Will a run fit? A train step's peak memory, estimated from the cost model, against the devices'.

:func:`check_fits` refuses a run in one line before anything is allocated: :func:`scaling.train.train_and_evaluate`
calls it once the data is loaded (the data gives the number of classes), and a study calls it for
every point before its first trial. The estimate is a margin, not a model of XLA's allocator; its
constant is checked against measured peaks in benchmarks/RESULTS.md ("Memory estimate").

(:mod:`scaling.data.memory` is something else: the data pipeline's in-memory back end.)
"""

from __future__ import annotations

import jax.numpy as jnp
import psutil

from scaling import cost, recipes
from scaling.config import ConfigError

#: A train step's peak memory over the cost model's activation bytes (what autodiff keeps for the
#: backward pass): XLA also holds the backward's own temporaries and its scratch. 2.5 is a margin, not
#: a fitted ratio; benchmarks/RESULTS.md, "Memory estimate", lists the scratch sizes measured beside it.
ACTIVATION_OVERHEAD = 2.5


def step_memory_bytes(cfg, spec, num_classes: int, num_devices: int, dtype) -> int:
    """Estimated peak memory of training the resolved ``cfg`` (a :class:`scaling.train.TrainConfig`)
    in ``dtype`` (its compute dtype) on ``num_devices`` devices, all of them together.

    Weights, gradients, optimiser slots and EMA (fp32, replicated on every device) plus the
    activations of the whole batch at the compute dtype, times :data:`ACTIVATION_OVERHEAD`.
    """
    c = cost.count(spec, num_classes, bytes_per_value=jnp.dtype(dtype).itemsize)
    copies = 2 + recipes.OPTIMIZER_SLOTS[cfg.optimizer] + (2 if cfg.ema_decay > 0 else 0)
    return int(c.params * 4 * copies * num_devices + ACTIVATION_OVERHEAD * c.activation_bytes * cfg.batch_size)


def device_memory_bytes(devices) -> int:
    """Memory the devices hold: their ``bytes_limit`` (GPU/TPU), or the host's total RAM (CPU).

    Not the host's free RAM: that counts what a sibling worker's run holds for a while as a limit,
    and refusing a run for it can end a whole study whose runs would each have fit.
    """
    limits = [(d.memory_stats() or {}).get("bytes_limit") for d in devices]
    if all(limits):
        return int(sum(limits))
    return psutil.virtual_memory().total


def check_fits(cfg, spec, num_classes: int, devices, dtype) -> None:
    """ConfigError (one line, before anything is allocated) when the run cannot fit the devices' memory."""
    need, have = step_memory_bytes(cfg, spec, num_classes, len(devices), dtype), device_memory_bytes(devices)
    if need > have:
        raise ConfigError(f"{spec.name} at {spec.resolution} px, batch {cfg.batch_size}: a train step needs about "
                          f"{need / 2**30:.1f} GiB (weights, optimiser and activations), more than the "
                          f"{have / 2**30:.1f} GiB the devices hold; lower --batch-size or the resolution")
