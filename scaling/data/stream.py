"""Streaming back end: tf.data decodes, augments and resizes on the host; the device normalises."""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from . import device, tf
from .dataset import IMAGENET_MEAN, IMAGENET_STD

IN_FLIGHT = 2                  # host -> device copies queued ahead of the consumer


@functools.cache
def _normalise_fn(resolution: int, dtype, sharding):
    def fn(x, affine, mask):
        x = device.finish(x, affine, resolution=resolution, dtype=dtype)
        return jnp.where(mask[:, None, None, None], x, jnp.zeros((), x.dtype))

    return device.jit(fn, sharding, device.batch_shardings(sharding)[0])


class StreamBackend:
    """Batches decoded from `records(pool, index, shuffle_seed)` (a source's encoded images) every epoch.

    Normalised with the ImageNet constants; train shuffles and augments from seeds of (seed, epoch).
    """

    in_memory = False

    def __init__(self, records: Callable, split_index):
        self.records = records
        self.split_index = split_index
        self.affine = device.affine(IMAGENET_MEAN, IMAGENET_STD)
        self._affine_placed: dict = {}

    def batches(self, split, batch, *, resolution, train, seed, epoch, sharding, dtype):
        normalise = _normalise_fn(resolution, dtype, sharding)
        img_sh, vec_sh = device.batch_shardings(sharding)
        placement = device.replicated(sharding)
        if placement not in self._affine_placed:
            self._affine_placed[placement] = device.put(self.affine, placement)
        affine = self._affine_placed[placement]
        pool, index = self.split_index[split]
        records = self.records(pool, index, [seed, epoch, 0x73687566] if train else None)
        augment_seed = int(np.random.default_rng([seed, epoch, 0x61756720]).integers(0, 2**31 - 1)) if train else None
        host = tf.stream_batches(records, train=train, batch=batch, resolution=resolution, augment_seed=augment_seed)
        steps = len(index) // batch if train else None

        def host_batches():
            for count, (x, y) in enumerate(host):
                if steps is not None and count >= steps:
                    return
                mask = np.ones(batch, bool)
                if x.shape[0] < batch:  # eval tail: pad, mask False
                    k = x.shape[0]
                    mask[k:] = False
                    x = np.concatenate([x, np.zeros((batch - k,) + x.shape[1:], x.dtype)])
                    y = np.concatenate([y, np.zeros(batch - k, y.dtype)])
                yield x, y.astype(np.int32), mask

        def device_batches():
            pending = collections.deque()
            for x, y, mask in host_batches():
                pending.append((device.put(x, img_sh), device.put(y, vec_sh), device.put(mask, vec_sh)))
                if len(pending) > IN_FLIGHT:
                    x_d, y_d, m_d = pending.popleft()
                    yield normalise(x_d, affine, m_d), y_d, m_d
            while pending:
                x_d, y_d, m_d = pending.popleft()
                yield normalise(x_d, affine, m_d), y_d, m_d

        return device_batches()
