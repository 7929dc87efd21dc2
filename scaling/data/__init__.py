"""Image-classification input pipelines for the compound-scaling experiments.

``load(spec, ...)`` returns a :class:`Dataset`; ``Dataset.batches(...)`` yields
``(images, labels, mask)`` as ``jax.Array`` s that are already normalised,
resized to the requested network resolution and placed with the requested
sharding.

Modules: ``sources`` (what to read: digits, folder listing and checks, TFDS
builders), ``cache`` (decoded splits in memory and on disk), ``memory`` and
``stream`` (the two back ends, both satisfying ``dataset.Backend``),
``device`` (placement and normalisation), ``tf`` (every TensorFlow / TFDS use).

Dataset specs
-------------
Each kind of spec is one function registered by its prefix (``register_source``,
``SOURCES``); a new source is one function and one registration.

``digits``
    scikit-learn's bundled handwritten digits (1,797 8x8 images, no download),
    scaled from 0..16 to uint8 0..255 and repeated to 3 channels.  A fixed,
    class-stratified 20% test split (seed 0).  No horizontal flips.
``folder:PATH``
    ``PATH/<split>/<class>/*.{jpg,jpeg,png}`` in the order and with the labels
    of ``tfds.folder_dataset.ImageFolder`` (files sorted, then shuffled with
    ``random.Random(split)``; a label is the index of the class folder name in
    the sorted list of all class names), listed here.  Splits ``train`` and
    ``test`` (``test`` may also be called ``validation`` or ``val``).  A
    relative PATH is resolved against ``data_dir`` when given, else the
    working directory.
``tfds:NAME[/CONFIG][:VERSION]``
    any TFDS dataset with ``image`` and ``label`` features, read with
    ``tfds.builder(NAME, data_dir=data_dir)`` (``download_and_prepare`` is
    called, as ``tfds.load`` would; for ``imagenet2012`` put the tars in
    ``<data_dir>/downloads/manual``).  ``test`` is the dataset's ``test``
    split, or ``validation`` when there is no test split and always for
    ``imagenet2012*``.

Bad input
---------
``load`` raises :class:`DatasetError`, whose message is one line, before
anything is written (the disk cache included): an unknown spec or TFDS name
(with the closest registered names), a missing split folder, an empty split,
a folder whose ``train`` split has images of fewer than 2 classes, an
``image_size`` beyond the memory bound (below), and a folder holding any file
that is not a JPEG or PNG image.  Corrupt images are refused, not
skipped: every file's first bytes are checked at load time (JPEG ``FF D8 FF``,
PNG ``89 50 4E 47 0D 0A 1A 0A``; cheap: benchmarks/RESULTS.md, "Input pipeline"),
and the message names the first culprit and the count, e.g. ``folder dataset:
2 files are not decodable images, e.g. /data/train/cat/x.jpg``.  Where a
whole split is decoded (the in-memory path) a file that passes that check but
does not decode is reported the same way.  Streamed files are decoded during
training, so there only the first-bytes check applies.

Splits
------
``train`` and ``minival`` partition the source training split (after
``limit_train``): ``minival`` is ``round(minival_fraction * n)`` examples
drawn by a permutation seeded with ``split_seed``; ``train`` is the rest.
``test`` is the source test split (after ``limit_test``).  The limits take the
first N examples of the source order, which is a fixed shuffle for every
supported source (ImageFolder's order for folders, TFDS shuffles when it
writes its files, ``digits`` is shuffled here), so a prefix is roughly class
balanced.

Two back ends
-------------
*In memory* (source images <= 64 px: digits, cifar, imagenet_resized, folders
of small images; and any folder or TFDS source loaded with ``image_size``).
Images are decoded once to a uint8 ``(N, H, W, 3)`` array, kept per process
in memory, and copied to the accelerator once (replicated on the devices of
the requested sharding).  Each batch is gathered by index and augmented on
the device by one jitted function (compiled once per (train, batch,
resolution, dtype, sharding)).  Small sources: pad by ``source_size // 8``
with *reflect* padding, random crop back to the source size, random
horizontal flip (not for ``digits``), normalise, resize to the resolution
with ``jax.image.resize`` (bilinear, antialiased when downsampling); eval:
normalise + resize only.  Natively large sources (> 64 px, decoded at
``image_size``): Inception-style random-resized crop (area 25-100% of the
stored image, aspect 3/4-4/3) resized straight to the resolution with
``jax.image.scale_and_translate`` (antialiased) + random flip; eval:
EfficientNet's centre crop (``res / (res + 32)`` of the side) + resize.

``image_size=S`` decodes every image once at S px (shorter side resized to S,
bilinear with antialiasing, then the central S x S), for sources of any size
(not ``digits``).  It is refused (one line) when train + test would exceed
``MEMORY_MAX_BYTES`` (4 GiB: Imagenette's 13,394 images take 2.0 GB at 224
px, 0.66 GB at 128 px, 0.16 GB at 64 px; ImageNet at 64 px would take 16.4
GB), so ImageNet-scale data is streamed with ``image_size=None``.

Decoded folder and TFDS splits are also cached as ``.npz`` under
``$SCALING_DATA_CACHE`` (default ``~/.cache/scaling/data``; set it to ``off``
to disable), keyed on the file list (names, sizes, mtimes; for TFDS the
prepared version's directory and shards) and ``image_size``, never above
``CACHE_MAX_BYTES`` (8 GiB), so that a later process skips the decoding and,
for folders, TensorFlow.

*Streaming* (sources larger than 64 px loaded with ``image_size=None``:
imagenette, imagenet2012, folders of large images).  A ``tf.data`` pipeline
(TensorFlow hidden from the GPUs) decodes, augments and resizes on the host
and emits uint8 batches: train uses Inception-style random-resized-crop (area
8-100%, aspect 3/4-4/3) + flip, eval uses EfficientNet's centre crop (``res /
(res + 32)`` of the shorter side) + resize.  Batches are copied to the
device(s) (two in flight) and normalised there.

Normalisation
-------------
In-memory datasets: per-channel mean / std of the ``train`` split's pixels
(in 0..1 units), computed at load time and exposed as ``Dataset.mean`` /
``Dataset.std``.  Streaming datasets: the usual ImageNet constants
``mean=(0.485, 0.456, 0.406)``, ``std=(0.229, 0.224, 0.225)``.
Images are ``(x / 255 - mean) / std``.

Determinism
-----------
Everything is a function of the arguments: the train order of an epoch is a
NumPy permutation seeded by ``(seed, epoch)``, the augmentation key of step
``s`` is ``fold_in(fold_in(key(seed), epoch), s)`` (in memory) or TF stateless
seeds from ``(seed, epoch, position)`` (streaming), so identical arguments
give bit-identical batches.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Callable

import numpy as np

from . import sources
from .cache import CACHE_ENV, CACHE_MAX_BYTES, clear_memory_cache
from .dataset import IMAGENET_MEAN, IMAGENET_STD, MIN_RESOLUTION, POOLS, SEED_LIMIT, SPLITS, Dataset, DatasetError
from .dataset import split_index as _split_index
from .memory import MemoryBackend, Pool, channel_stats
from .stream import StreamBackend

__all__ = ["DatasetError", "Dataset", "load", "register_source", "SOURCES", "SPLITS", "IMAGENET_MEAN", "IMAGENET_STD",
           "CACHE_ENV", "CACHE_MAX_BYTES", "MEMORY_MAX_BYTES", "clear_memory_cache"]

MEMORY_MAX_BYTES = 4 << 30     # bound on the train + test arrays decoded at image_size


def load(spec: str, *, data_dir: str | None = None, minival_fraction: float = 0.1, split_seed: int = 0,
         limit_train: int | None = None, limit_test: int | None = None, image_size: int | None = None) -> Dataset:
    """Open dataset `spec` ('digits', 'folder:PATH' or 'tfds:NAME[/CONFIG]'); see the package docstring.

    image_size: decode every image once at this side (px) and serve it from memory; None keeps small sources
    in memory at their native size and streams large ones.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise DatasetError(f"dataset spec must be a non-empty string, got {spec!r}")
    if not (isinstance(minival_fraction, (int, float)) and 0.0 <= minival_fraction < 1.0):
        raise DatasetError(f"minival_fraction must be in [0, 1), got {minival_fraction!r}")
    if not (isinstance(split_seed, (int, np.integer)) and 0 <= split_seed < SEED_LIMIT):
        raise DatasetError(f"split_seed must be an int in [0, 2**31), got {split_seed!r}")
    for name, value in (("limit_train", limit_train), ("limit_test", limit_test)):
        if value is not None and not (isinstance(value, (int, np.integer)) and value > 0):
            raise DatasetError(f"{name} must be a positive int or None, got {value!r}")
    if image_size is not None and not (isinstance(image_size, (int, np.integer)) and image_size >= MIN_RESOLUTION):
        raise DatasetError(f"image_size must be an int >= {MIN_RESOLUTION} or None, got {image_size!r}")
    spec = spec.strip()
    common = dict(minival_fraction=float(minival_fraction), split_seed=int(split_seed))
    limits = {"train": limit_train, "test": limit_test}
    prefix, _, argument = spec.partition(":")
    if prefix not in SOURCES:
        raise DatasetError(f"unknown dataset spec {spec!r}: expected {_usages()}{_hint(spec)}")
    return SOURCES[prefix].open(spec, argument, data_dir, limits, image_size, common)


@dataclasses.dataclass(frozen=True)
class Source:
    """A kind of dataset spec: ``usage`` as the help shows it, and ``open(spec, argument, data_dir,
    limits, image_size, common) -> Dataset`` (``argument``: the spec after its ``prefix:``)."""

    prefix: str
    usage: str
    open: Callable[..., Dataset]


#: The dataset specs by prefix; a new source is one function and one ``@register_source``.
SOURCES: dict[str, Source] = {}


def register_source(prefix: str, usage: str):
    """Register ``open`` as the dataset spec ``prefix[:ARGUMENT]`` (shown as ``usage``)."""
    if prefix in SOURCES:
        raise ValueError(f"dataset source {prefix!r} is registered twice")

    def add(open_: Callable[..., Dataset]):
        SOURCES[prefix] = Source(prefix, usage, open_)
        return open_
    return add


def _usages() -> str:
    usages = [f"'{s.usage}'" for s in SOURCES.values()]
    return ", ".join(usages[:-1]) + f" or {usages[-1]}" if len(usages) > 1 else usages[0]


def _hint(spec: str) -> str:
    """A did-you-mean for a misspelt source (``digts``), else the TFDS name it may be."""
    close = difflib.get_close_matches(spec.partition(":")[0], list(SOURCES), n=1)
    if close:
        return f" (did you mean {SOURCES[close[0]].usage!r}?)"
    return f" (did you mean 'tfds:{spec}'?)" if re.fullmatch(r"[a-z0-9_]+(/[A-Za-z0-9_.]+)?", spec) else ""


@register_source("digits", "digits")
def _open_digits(spec, argument, data_dir, limits, image_size, common) -> Dataset:
    if spec != "digits":
        raise DatasetError(f"'digits' takes no argument, got {spec!r}")
    if image_size is not None:
        raise DatasetError("image_size applies to 'folder:' and 'tfds:' datasets, not to digits (8x8 px)")
    train, test, names = sources.digits()
    pools = {"train": train.prefix(limits["train"]), "test": test.prefix(limits["test"])}
    return _in_memory(spec, "digits", pools, names, flip=False, image_size=None, **common)


@register_source("folder", "folder:PATH")
def _open_folder(spec, path, data_dir, limits, image_size, common) -> Dataset:
    if not path:
        raise DatasetError("folder dataset spec needs a path: 'folder:PATH'")
    path = os.path.expanduser(path)
    if data_dir is not None and not os.path.isabs(path):
        path = os.path.join(os.path.expanduser(data_dir), path)
    return _from_source(spec, sources.FolderSource(os.path.abspath(path)), limits, image_size, **common)


@register_source("tfds", "tfds:NAME[/CONFIG]")
def _open_tfds(spec, name, data_dir, limits, image_size, common) -> Dataset:
    if not name:
        raise DatasetError("tfds dataset spec needs a name: 'tfds:NAME[/CONFIG]'")
    return _from_source(spec, sources.TfdsSource(name, data_dir), limits, image_size, **common)


def _from_source(spec, source, limits, image_size, **common) -> Dataset:
    """Decoded pools (cache, else decode) served in memory, or a stream for large sources without image_size."""
    counts = {pool: min(source.size(pool), limits[pool] or source.size(pool)) for pool in POOLS}
    if image_size is not None:
        nbytes = sum(counts.values()) * image_size * image_size * 3
        if nbytes > MEMORY_MAX_BYTES:
            raise DatasetError(
                f"{spec}: {sum(counts.values())} images at image_size={image_size} need {nbytes / 2**30:.1f} GiB, "
                f"above the {MEMORY_MAX_BYTES / 2**30:.0f} GiB in-memory bound; use a smaller image_size, "
                "limit_train / limit_test, or image_size=None to stream")
    caches = {pool: source.split_cache(pool, image_size) for pool in POOLS}
    pools = {pool: caches[pool].find(limits[pool]) for pool in POOLS}
    if any(p is None for p in pools.values()):
        shape = source.first_shape()
        if image_size is None and (shape is None or max(shape) > sources.SMALL_MAX_SIZE):
            return _streaming(spec, source, counts, source.source_size(shape), **common)
        for pool in POOLS:
            if pools[pool] is None:
                images, labels = source.decode(pool, counts[pool], shape=None if image_size else shape,
                                               size=image_size)
                pools[pool] = Pool(images, labels, source.source_size(shape))
                caches[pool].keep(pools[pool], complete=counts[pool] == source.size(pool))
    return _in_memory(spec, source.name, pools, source.class_names, flip=True, image_size=image_size, **common)


def _in_memory(spec, name, pools: dict[str, Pool], class_names, *, flip, image_size, minival_fraction,
               split_seed) -> Dataset:
    index = _split_index(len(pools["train"].labels), len(pools["test"].labels), minival_fraction, split_seed)
    mean, std = channel_stats(pools["train"].images, index["train"][1], (IMAGENET_MEAN, IMAGENET_STD))
    size = pools["train"].source_size
    backend = MemoryBackend(pools=pools, split_index=index, mean=mean, std=std, flip=flip,
                            random_resized_crop=size > sources.SMALL_MAX_SIZE)
    return Dataset(spec=spec, name=name, num_classes=len(class_names), source_size=size, class_names=class_names,
                   mean=mean, std=std, backend=backend, image_size=image_size)


def _streaming(spec, source, counts, size, *, minival_fraction, split_seed) -> Dataset:
    index = _split_index(counts["train"], counts["test"], minival_fraction, split_seed)
    return Dataset(spec=spec, name=source.name, num_classes=len(source.class_names), source_size=size,
                   class_names=source.class_names,
                   mean=IMAGENET_MEAN, std=IMAGENET_STD, backend=StreamBackend(source.records, index))
