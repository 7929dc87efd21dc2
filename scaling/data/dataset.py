"""The `Dataset` object, the `Backend` protocol both back ends satisfy, and the split arithmetic."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np

SPLITS = ("train", "minival", "test")
POOLS = ("train", "test")      # the source splits; train and minival both index the train pool
MIN_RESOLUTION = 8
SEED_LIMIT = 2**31
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DatasetError(ValueError):
    """A dataset spec or argument that cannot be served (the message is one line)."""


class Backend(Protocol):
    """Serves the batches of one loaded dataset."""

    split_index: dict[str, tuple[str, np.ndarray]]   # split -> (pool, positions in that pool)

    @property
    def in_memory(self) -> bool:
        """True when the images live on the device, False when they are streamed from the host."""
        ...

    def batches(self, split: str, batch: int, *, resolution: int, train: bool, seed: int, epoch: int,
                sharding, dtype) -> Iterator[tuple]:
        """(images, labels, mask) batches; the arguments are already validated by `Dataset.batches`."""
        ...


def split_train_minival(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, minival) positions partitioning range(n); minival: round(fraction * n) drawn by a seeded permutation."""
    n_minival = int(round(fraction * n))
    perm = np.random.default_rng([seed, 0x6D696E69]).permutation(n)
    return np.sort(perm[n_minival:]).astype(np.int32), np.sort(perm[:n_minival]).astype(np.int32)


def split_index(n_train: int, n_test: int, minival_fraction: float, split_seed: int) -> dict:
    train, minival = split_train_minival(n_train, minival_fraction, split_seed)
    return {"train": ("train", train), "minival": ("train", minival),
            "test": ("test", np.arange(n_test, dtype=np.int32))}


class Dataset:
    """A loaded dataset; see the package docstring for splits and preprocessing.

    Attributes: ``spec``, ``name``, ``num_classes``, ``source_size`` (source
    image side in px; nominal 224 for variable-size sources without a ``NNNpx``
    config), ``class_names``, ``mean`` / ``std`` (per channel, 0..1 units),
    ``image_size`` (the side the images were decoded to, None for native size),
    ``in_memory`` (True for the on-device path, False for tf.data streaming).
    """

    def __init__(self, *, spec, name, num_classes, source_size, class_names, mean, std, backend: Backend,
                 image_size=None):
        self.spec = spec
        self.name = name
        self.num_classes = int(num_classes)
        self.source_size = int(source_size)
        self.class_names = tuple(class_names)
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.image_size = image_size
        self._backend = backend

    @property
    def in_memory(self) -> bool:
        return self._backend.in_memory

    def __repr__(self):
        sizes = ", ".join(f"{s}={self.size(s)}" for s in SPLITS)
        kind = "in-memory" if self.in_memory else "streaming"
        if self.image_size is not None:
            kind += f" at {self.image_size}px"
        return (f"Dataset({self.name!r}, classes={self.num_classes}, source={self.source_size}px, "
                f"{sizes}, {kind})")

    def _check_split(self, split):
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")

    def size(self, split: str) -> int:
        """Number of examples in `split` ('train', 'minival' or 'test')."""
        self._check_split(split)
        return len(self._backend.split_index[split][1])

    def indices(self, split: str) -> np.ndarray:
        """Positions of `split`'s examples in their source split (train pool for train/minival)."""
        self._check_split(split)
        return np.asarray(self._backend.split_index[split][1]).copy()

    def decoded(self, pool: str):
        """The decoded images (uint8, before normalisation) and labels of source split ``pool`` ('train' or
        'test') of an in-memory dataset: the pixels every batch is cut from (a ``memory.Pool``)."""
        if pool not in POOLS:
            raise DatasetError(f"unknown pool {pool!r}: expected one of {', '.join(POOLS)}")
        if not self.in_memory:
            raise DatasetError(f"{self.name} is streamed: its images are decoded batch by batch, not held")
        return self._backend.pools[pool]

    def steps_per_epoch(self, batch_size: int) -> int:
        """Train batches per epoch (the remainder is dropped)."""
        _check_batch_size(batch_size)
        return self.size("train") // batch_size

    def batches(self, split: str, batch_size: int, *, resolution: int, train: bool, seed: int = 0, epoch: int = 0,
                sharding: jax.sharding.Sharding | None = None, dtype=jnp.float32) -> Iterator[tuple]:
        """Yields (images, labels, mask) as jax.Arrays placed with `sharding` (batch axis sharded; None =
        default device).

        images (B, resolution, resolution, 3) normalised in `dtype`, labels int32 (B,), mask bool (B,).
        train=True: shuffled by (seed, epoch), augmented with keys derived from (seed, epoch, step), drops the
        remainder; mask all True.
        train=False: in order, no augmentation, the last batch padded to batch_size with mask False.
        Fully deterministic given its arguments.
        """
        self._check_split(split)
        _check_batch_size(batch_size)
        if not isinstance(resolution, (int, np.integer)) or resolution < MIN_RESOLUTION:
            raise DatasetError(f"resolution must be an int >= {MIN_RESOLUTION}, got {resolution!r}")
        for name, value in (("seed", seed), ("epoch", epoch)):
            if not isinstance(value, (int, np.integer)) or not 0 <= value < SEED_LIMIT:
                raise DatasetError(f"{name} must be an int in [0, 2**31), got {value!r}")
        n = self.size(split)
        if train and n < batch_size:
            raise DatasetError(f"batch_size {batch_size} exceeds the {n} examples of split {split!r} "
                               "(train batches drop the remainder)")
        return self._backend.batches(split, int(batch_size), resolution=int(resolution), train=bool(train),
                                     seed=int(seed), epoch=int(epoch), sharding=sharding,
                                     dtype=jnp.dtype(dtype))


def _check_batch_size(batch_size):
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise DatasetError(f"batch_size must be a positive int, got {batch_size!r}")
