"""In-memory back end: uint8 images on the device; one jitted function gathers, augments, normalises, resizes."""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import device

STATS_MAX_IMAGES = 5000
RRC_SCALE = (0.25, 1.0)        # area fraction of the random-resized crop (natively large images)
RRC_RATIO = (3 / 4, 4 / 3)     # its aspect ratio range
CROP_PADDING = 32              # EfficientNet's eval crop: resolution / (resolution + 32) of the side


@dataclass(frozen=True)
class Pool:
    """A decoded source split: uint8 images (N, H, W, 3), int32 labels (N,) and the source's native image side."""
    images: np.ndarray
    labels: np.ndarray
    source_size: int

    def prefix(self, limit: int | None) -> Pool:
        if limit is None or limit >= len(self.labels):
            return self
        return Pool(self.images[:limit], self.labels[:limit], self.source_size)


def channel_stats(images: np.ndarray, index: np.ndarray, default: tuple) -> tuple[tuple, tuple]:
    """Per-channel mean / std (0..1 units) of the images[index] pixels; `default` (mean, std) when index is empty.

    Uses at most STATS_MAX_IMAGES evenly spaced images (exact integer
    histograms, so the result is platform independent); for CIFAR-sized data
    that is within ~1e-3 of the full-split figures and is quick (benchmarks/RESULTS.md, "Input pipeline").
    """
    if len(index) == 0:
        return default
    if len(index) > STATS_MAX_IMAGES:
        index = index[np.linspace(0, len(index) - 1, STATS_MAX_IMAGES).round().astype(np.int64)]
    pixels = images[index].reshape(-1, images.shape[-1])
    values = np.arange(256, dtype=np.float64)
    mean, std = [], []
    for c in range(pixels.shape[1]):
        hist = np.bincount(pixels[:, c], minlength=256).astype(np.float64)
        m = (hist * values).sum() / hist.sum()
        var = (hist * np.square(values - m)).sum() / hist.sum()
        mean.append(float(m / 255.0))
        std.append(float(max(math.sqrt(var), 1.0) / 255.0))  # guard against constant channels
    return tuple(mean), tuple(std)


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, 0x65706F63]).permutation(n)


def _pad_crop(x, key, h, w):
    """Reflect-pad by side // 8 and crop back to (h, w) at a random offset (the CIFAR recipe)."""
    pad_h, pad_w = h // 8, w // 8
    if not (pad_h or pad_w):
        return x
    batch = x.shape[0]
    x = jnp.pad(x, ((0, 0), (pad_h, pad_h), (pad_w, pad_w), (0, 0)), mode="reflect")
    oy = jax.random.randint(key, (batch,), 0, 2 * pad_h + 1)
    ox = jax.random.randint(jax.random.fold_in(key, 1), (batch,), 0, 2 * pad_w + 1)
    return jax.vmap(lambda im, a, b: lax.dynamic_slice(im, (a, b, 0), (h, w, 3)))(x, oy, ox)


def _random_resized_crop(x, key, resolution, chunk):
    """Inception-style crop (area RRC_SCALE, aspect RRC_RATIO, clipped to the image) resized to the resolution.

    uint8 (B, H, W, 3) -> float32 (B, R, R, 3) in 0..255 units. One `scale_and_translate` per image maps its
    crop window onto the output (antialiased like the eval resize), so variable crop sizes need no dynamic
    shapes. `chunk`: images resampled together (None: the whole batch).
    """
    batch, h, w, c = x.shape
    k_area, k_ratio, k_y, k_x = jax.random.split(key, 4)
    area = h * w * jax.random.uniform(k_area, (batch,), minval=RRC_SCALE[0], maxval=RRC_SCALE[1])
    ratio = jnp.exp(jax.random.uniform(k_ratio, (batch,), minval=math.log(RRC_RATIO[0]),
                                       maxval=math.log(RRC_RATIO[1])))
    crop_h = jnp.minimum(jnp.sqrt(area / ratio), h)
    crop_w = jnp.minimum(jnp.sqrt(area * ratio), w)
    top = jax.random.uniform(k_y, (batch,)) * (h - crop_h)
    left = jax.random.uniform(k_x, (batch,)) * (w - crop_w)
    scale = jnp.stack([resolution / crop_h, resolution / crop_w], axis=1)
    translation = -jnp.stack([top, left], axis=1) * scale

    def one(args):
        image, s, t = args
        return jax.image.scale_and_translate(image.astype(jnp.float32), (resolution, resolution, c), (0, 1), s, t,
                                             method="linear", antialias=True)

    if chunk is None:
        return jax.vmap(lambda *args: one(args))(x, scale, translation)
    return lax.map(one, (x, scale, translation), batch_size=chunk)


def _resample_chunk(sharding) -> int | None:
    """Images per resampling step: XLA:CPU runs the dense resampling matmuls faster in chunks of 8 images
    that stay in cache (benchmarks/RESULTS.md, "Input pipeline"); accelerators take the whole batch at once."""
    platform = jax.default_backend() if sharding is None else next(iter(sharding.device_set)).platform
    return 8 if platform == "cpu" else None


def _centre_crop(x, resolution):
    """EfficientNet's eval crop: the central resolution / (resolution + CROP_PADDING) of the shorter side."""
    h, w = x.shape[1:3]
    side = max(int(min(h, w) * (resolution / (resolution + CROP_PADDING))), 1)
    top, left = (h - side + 1) // 2, (w - side + 1) // 2
    return x[:, top:top + side, left:left + side]


@functools.cache
def _memory_fn(train: bool, batch: int, resolution: int, dtype, sharding, shape: tuple[int, int], flip: bool,
               random_resized_crop: bool):
    """The jitted gather(+augment)+normalise+resize function; shared by all datasets of one image shape."""
    h, w = shape
    finish = functools.partial(device.finish, resolution=resolution, dtype=dtype)
    chunk = _resample_chunk(sharding)

    if train:
        def fn(images, labels, affine, order, seed, epoch, step):
            idx = lax.dynamic_slice_in_dim(order, step * batch, batch)
            x, y = images[idx], labels[idx]
            key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), epoch), step)
            k_crop, k_flip = jax.random.split(key)
            if random_resized_crop:
                x = _random_resized_crop(x, k_crop, resolution, chunk)
            else:
                x = _pad_crop(x, k_crop, h, w)
            if flip:
                f = jax.random.bernoulli(k_flip, 0.5, (batch,))
                x = jnp.where(f[:, None, None, None], x[:, :, ::-1, :], x)
            # The resampling weights sum to 1, so normalising the R x R crop equals normalising the source.
            x = device.normalise(x, affine).astype(dtype) if random_resized_crop else finish(x, affine)
            return x, y, jnp.ones((batch,), jnp.bool_)
    else:
        def fn(images, labels, affine, index, step):
            n = index.shape[0]
            pos = step * batch + jnp.arange(batch)
            mask = pos < n
            idx = index[jnp.minimum(pos, n - 1)]
            x = images[idx]
            x = finish(_centre_crop(x, resolution) if random_resized_crop else x, affine)
            x = jnp.where(mask[:, None, None, None], x, jnp.zeros((), x.dtype))
            y = jnp.where(mask, labels[idx], 0)
            return x, y, mask

    img_sh, vec_sh = device.batch_shardings(sharding)
    return device.jit(fn, sharding, (img_sh, vec_sh, vec_sh))


class MemoryBackend:
    """Images on the device (replicated on the devices of the requested sharding), copied there once.

    Train batches: pad + random crop + flip for small sources, random-resized crop + flip for natively large
    ones (`random_resized_crop`); eval batches: resize only, respectively centre crop + resize.
    """

    in_memory = True

    def __init__(self, *, pools: dict[str, Pool], split_index, mean, std, flip: bool, random_resized_crop: bool):
        self.pools = pools
        self.split_index = split_index
        self.affine = device.affine(mean, std)
        self.flip = flip
        self.random_resized_crop = random_resized_crop
        self._placed: dict = {}
        self._lock = threading.Lock()

    def _device_data(self, pool: str, split: str, placement):
        """(images, labels, affine, split index) on the devices of `placement`, copied once."""
        with self._lock:
            key = (pool, split, placement)
            if key not in self._placed:
                base = self._placed.get((pool, None, placement))
                if base is None:
                    p = self.pools[pool]
                    base = (device.put(p.images, placement), device.put(p.labels, placement),
                            device.put(self.affine, placement))
                    self._placed[(pool, None, placement)] = base
                self._placed[key] = base + (device.put(self.split_index[split][1], placement),)
            return self._placed[key]

    def batches(self, split, batch, *, resolution, train, seed, epoch, sharding, dtype):
        pool, index = self.split_index[split]
        n = len(index)
        placement = device.replicated(sharding)
        images, labels, affine, index_dev = self._device_data(pool, split, placement)
        shape = tuple(self.pools[pool].images.shape[1:3])
        fn = _memory_fn(train, batch, resolution, dtype, sharding, shape, self.flip, self.random_resized_crop)

        def gen_train():
            steps = n // batch
            order = index[epoch_permutation(n, seed, epoch)[: steps * batch]].astype(np.int32)
            order = device.put(order, placement)
            for step in range(steps):
                yield fn(images, labels, affine, order, np.int32(seed), np.int32(epoch), np.int32(step))

        def gen_eval():
            for step in range(-(-n // batch)):
                yield fn(images, labels, affine, index_dev, np.int32(step))

        return gen_train() if train else gen_eval()
