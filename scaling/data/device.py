"""Device-side helpers shared by both back ends: placement, normalisation and resizing."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec, SingleDeviceSharding


def replicated(sharding):
    """A sharding that replicates an array on the devices of `sharding` (None: default device)."""
    if sharding is None:
        return None
    if isinstance(sharding, NamedSharding):
        return NamedSharding(sharding.mesh, PartitionSpec())
    devices = sorted(sharding.device_set, key=lambda d: d.id)
    if len(devices) == 1:
        return SingleDeviceSharding(devices[0])
    return NamedSharding(Mesh(np.array(devices), ("devices",)), PartitionSpec())


def batch_shardings(sharding):
    """(images sharding, labels/mask sharding) for a user sharding of the batch axis."""
    if sharding is None:
        return None, None
    if isinstance(sharding, NamedSharding):
        spec = tuple(sharding.spec)
        vector = NamedSharding(sharding.mesh, PartitionSpec(spec[0] if spec else None))
        images = sharding if len(spec) <= 4 else vector
        return images, vector
    return sharding, sharding


def put(array, placement):
    return jax.device_put(array) if placement is None else jax.device_put(array, placement)


def jit(fn, sharding, out_shardings):
    """jax.jit, with `out_shardings` only when the user gave a sharding."""
    return jax.jit(fn) if sharding is None else jax.jit(fn, out_shardings=out_shardings)


def affine(mean, std) -> np.ndarray:
    """(2, 3) float32 [scale; shift] with x/255 normalised as x*scale + shift."""
    mean = np.asarray(mean, np.float64)
    std = np.asarray(std, np.float64)
    return np.stack([1.0 / (255.0 * std), -mean / std]).astype(np.float32)


def normalise(x, affine_):
    """(..., 3) pixels in 0..255 units (uint8 or float) -> float32 (x/255 - mean)/std."""
    return x.astype(jnp.float32) * affine_[0] + affine_[1]


def finish(x, affine_, *, resolution, dtype):
    """uint8 (B,H,W,3) -> normalised and resized (B,R,R,3) in dtype (bilinear, antialiased when downsampling)."""
    x = normalise(x, affine_)
    b, h, w, c = x.shape
    if (h, w) != (resolution, resolution):
        x = jax.image.resize(x, (b, resolution, resolution, c), method="bilinear", antialias=True)
    return x.astype(dtype)
