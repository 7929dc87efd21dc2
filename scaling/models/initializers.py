"""Weight initialisers (TF's for EfficientNet, torchvision's for ResNet), drawn on the host with NumPy.

Each takes ``(key, shape, dtype)`` like ``jax.nn.initializers`` and returns a NumPy array whose
values come from a NumPy generator seeded by the JAX key, so a seed still fixes the network. Why not
``jax.random``: run eagerly, every initialiser of every distinct weight shape is an XLA program
compiled on first use, so building a network took many seconds, more the deeper it was (a jitted
init program is itself slow to compile); with these it compiles nothing and is quick
(benchmarks/RESULTS.md, "Proxy networks: first step and train img/s against timm eager"). Under a JAX
transformation (``nnx.eval_shape``, ``jax.jit``) the key is traced and the same distribution is drawn
with ``jax.random`` instead.
"""

from __future__ import annotations

import math

import jax
import numpy as np


def _normal(key, shape, std, dtype):
    if isinstance(key, jax.core.Tracer):
        return jax.random.normal(key, shape, dtype) * std
    return (_generator(key).standard_normal(shape) * std).astype(dtype)


def _uniform(key, shape, limit, dtype):
    if isinstance(key, jax.core.Tracer):
        return jax.random.uniform(key, shape, dtype, -limit, limit)
    return _generator(key).uniform(-limit, limit, shape).astype(dtype)


def _generator(key) -> np.random.Generator:
    return np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())


def conv_init(key, shape, dtype=np.float32):
    """TF ``conv_kernel_initializer``: N(0, sqrt(2 / fan_out)), fan_out = k * k * out_filters."""
    k_h, k_w, _, out = shape
    return _normal(key, shape, math.sqrt(2.0 / (k_h * k_w * out)), dtype)


def depthwise_init(key, shape, dtype=np.float32):
    """TF's depthwise kernel is (k, k, C, 1): its fan_out is k * k, not k * k * C."""
    k_h, k_w, _, _ = shape
    return _normal(key, shape, math.sqrt(2.0 / (k_h * k_w)), dtype)


def dense_init(key, shape, dtype=np.float32):
    """TF ``dense_kernel_initializer``: U(-1/sqrt(num_classes), +1/sqrt(num_classes))."""
    return _uniform(key, shape, 1.0 / math.sqrt(shape[1]), dtype)


def linear_init(key, shape, dtype=np.float32):
    """torch ``nn.Linear`` weight init: U(-1/sqrt(fan_in), +1/sqrt(fan_in))."""
    return _uniform(key, shape, 1.0 / math.sqrt(shape[0]), dtype)


def zeros(key, shape, dtype=np.float32):
    del key
    return np.zeros(shape, dtype)


def ones(key, shape, dtype=np.float32):
    del key
    return np.ones(shape, dtype)
