"""Image-classification input pipelines for the compound-scaling experiments.

``load(spec, ...)`` returns a :class:`Dataset`; ``Dataset.batches(...)`` yields
``(images, labels, mask)`` as ``jax.Array`` s that are already normalised,
resized to the requested network resolution and placed with the requested
sharding.

Dataset specs
-------------
``digits``
    scikit-learn's bundled handwritten digits (1,797 8x8 images, no download),
    scaled from 0..16 to uint8 0..255 and repeated to 3 channels.  A fixed,
    class-stratified 20% test split (seed 0).  No horizontal flips.
``folder:PATH``
    ``PATH/<split>/<class>/*.{jpg,jpeg,png}`` read through
    ``tfds.folder_dataset.ImageFolder``.  Splits ``train`` and ``test`` (``test``
    may also be called ``validation`` or ``val``).  Labels are ImageFolder's:
    the index of the class folder name in the sorted list of all class names.
    A relative PATH is resolved against ``data_dir`` when given, else the
    working directory.
``tfds:NAME[/CONFIG][:VERSION]``
    any TFDS dataset with ``image`` and ``label`` features, read with
    ``tfds.builder(NAME, data_dir=data_dir)`` (``download_and_prepare`` is
    called, as ``tfds.load`` would; for ``imagenet2012`` put the tars in
    ``<data_dir>/downloads/manual``).  ``test`` is the dataset's ``test``
    split, or ``validation`` when there is no test split and always for
    ``imagenet2012*``.

Splits
------
``train`` and ``minival`` partition the source training split (after
``limit_train``): ``minival`` is ``round(minival_fraction * n)`` examples
drawn by a permutation seeded with ``split_seed``; ``train`` is the rest.
``test`` is the source test split (after ``limit_test``).  The limits take the
first N examples of the source order, which is a fixed shuffle for every
supported source (ImageFolder shuffles deterministically, TFDS shuffles when
it writes its files, ``digits`` is shuffled here), so a prefix is roughly
class balanced.

Two back ends
-------------
*In memory* (source images <= 64 px: digits, cifar, imagenet_resized, folders
of small images).  Images are decoded once to a uint8 ``(N, H, W, 3)`` array,
kept per process in memory, and copied to the accelerator once (replicated
on the devices of the requested sharding).  Each batch is gathered by index
and augmented on the device by one jitted function (compiled once per
(train, batch, resolution, dtype, sharding)): pad by ``source_size // 8``
with *reflect* padding, random crop back to the source size, random
horizontal flip (not for ``digits``), normalise, resize to the resolution
with ``jax.image.resize`` (bilinear, antialiased when downsampling).  Eval:
normalise + resize only.  Decoded folders are also cached as an ``.npz`` under
``$SCALING_DATA_CACHE`` (default ``~/.cache/scaling/data``; set it to ``off``
to disable) keyed on the file names, sizes and mtimes, so that a later process
skips both TensorFlow and the JPEG decoding.

*Streaming* (larger sources: imagenette, imagenet2012, folders of large
images).  A ``tf.data`` pipeline (TensorFlow hidden from the GPUs) decodes,
augments and resizes on the host and emits uint8 batches: train uses
Inception-style random-resized-crop (area 8-100%, aspect 3/4-4/3) + flip,
eval uses EfficientNet's centre crop (``res / (res + 32)`` of the shorter
side) + resize.  Batches are copied to the device(s) (two in flight) and
normalised there.

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

import collections
import functools
import hashlib
import math
import os
import random
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec, SingleDeviceSharding

__all__ = ["DatasetError", "Dataset", "load", "SPLITS", "IMAGENET_MEAN", "IMAGENET_STD"]

SPLITS = ("train", "minival", "test")
SMALL_MAX_SIZE = 64            # sources up to this side are kept in memory
MIN_RESOLUTION = 8
NOMINAL_LARGE_SIZE = 224       # source_size reported for variable-size sources
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DIGITS_TEST_FRACTION = 0.2
STATS_MAX_IMAGES = 5000
DIGITS_SPLIT_SEED = 0
CACHE_ENV = "SCALING_DATA_CACHE"
CACHE_FORMAT = 1
CACHE_MAX_BYTES = 8 << 30      # never write a disk cache larger than this
_IMAGE_EXTS = (".jpg", ".jpeg", ".png")   # what ImageFolder reads
_TEST_SPLIT_NAMES = ("test", "validation", "val")
_STREAM_SHUFFLE_BUFFER = 16384
# TFDS datasets whose 'validation' split serves as 'test' (no labelled test split).
_VALIDATION_IS_TEST = ("imagenet2012", "imagenet2012_subset", "imagenet2012_real", "imagenette", "imagewang",
                       "imagenet_resized")
_SEED_LIMIT = 2**31


class DatasetError(ValueError):
    """A dataset spec or argument that cannot be served."""


# --------------------------------------------------------------------------
# Lazy TensorFlow / TFDS imports (digits and cached folders never import TF).

_TF_LOCK = threading.Lock()


def _tf():
    with _TF_LOCK:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's start-up chatter is not ours to print
        import tensorflow as tf
        if not getattr(_tf, "_hidden", False):
            try:  # TF must not grab accelerator memory that JAX needs.
                tf.config.set_visible_devices([], "GPU")
            except (RuntimeError, ValueError):  # already initialised
                pass
            _tf._hidden = True
        return tf


def _tfds():
    _tf()
    import tensorflow_datasets as tfds
    return tfds


# --------------------------------------------------------------------------
# Host-side source data.

@dataclass
class _Pool:
    """A decoded source split: uint8 images (N, H, W, 3) and int32 labels (N,)."""
    images: np.ndarray
    labels: np.ndarray


_MEMORY_CACHE: dict = {}
_MEMORY_LOCK = threading.Lock()


def clear_memory_cache() -> None:
    """Forget the decoded datasets kept by this process."""
    with _MEMORY_LOCK:
        _MEMORY_CACHE.clear()


def _cache_dir() -> str | None:
    value = os.environ.get(CACHE_ENV)
    if value is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "scaling", "data")
    if value.strip().lower() in ("", "0", "off", "none", "false", "no"):
        return None
    return os.path.expanduser(value)


def _split_train_minival(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n_minival = int(round(fraction * n))
    perm = np.random.default_rng([seed, 0x6D696E69]).permutation(n)
    return np.sort(perm[n_minival:]).astype(np.int32), np.sort(perm[:n_minival]).astype(np.int32)


def _epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, 0x65706F63]).permutation(n)


def _channel_stats(images: np.ndarray, index: np.ndarray) -> tuple[tuple, tuple]:
    """Per-channel mean / std (0..1 units) of the images[index] pixels.

    Uses at most STATS_MAX_IMAGES evenly spaced images (exact integer
    histograms, so the result is platform independent); for CIFAR-sized data
    that is within ~1e-3 of the full-split figures and takes ~0.1 s.
    """
    if len(index) == 0:
        return IMAGENET_MEAN, IMAGENET_STD
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


# ---- digits ---------------------------------------------------------------

def _digits_pools() -> tuple[_Pool, _Pool, tuple[str, ...]]:
    key = ("digits",)
    with _MEMORY_LOCK:
        if key in _MEMORY_CACHE:
            return _MEMORY_CACHE[key]
    from sklearn.datasets import load_digits
    bunch = load_digits()
    x = np.round(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    x = np.repeat(x[..., None], 3, axis=-1)
    y = bunch.target.astype(np.int32)
    # Fixed class-stratified test split; both parts shuffled so that a prefix
    # (limit_train / limit_test) is roughly class balanced.
    rng = np.random.default_rng(DIGITS_SPLIT_SEED)
    test_parts, train_parts = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(DIGITS_TEST_FRACTION * len(idx)))
        test_parts.append(idx[:n_test])
        train_parts.append(idx[n_test:])
    train_idx = rng.permutation(np.concatenate(train_parts))
    test_idx = rng.permutation(np.concatenate(test_parts))
    result = (_Pool(x[train_idx], y[train_idx]), _Pool(x[test_idx], y[test_idx]),
              tuple(str(i) for i in range(10)))
    with _MEMORY_LOCK:
        _MEMORY_CACHE[key] = result
    return result


# ---- folder ---------------------------------------------------------------

def _list_dirs(path: str) -> list[str]:
    return sorted(e.name for e in os.scandir(path) if e.is_dir())


def _folder_splits(root: str) -> tuple[str, str]:
    """The (train, test) split folder names of an ImageFolder root."""
    if not os.path.isdir(root):
        raise DatasetError(f"folder dataset: {root!r} is not a directory")
    splits = _list_dirs(root)
    if "train" not in splits:
        raise DatasetError(
            f"folder dataset: {root!r} has no 'train' split folder (found {splits or 'none'}); "
            "expected PATH/train/<class>/*.jpg and PATH/test/<class>/*.jpg")
    test = next((s for s in _TEST_SPLIT_NAMES if s in splits), None)
    if test is None:
        raise DatasetError(
            f"folder dataset: {root!r} has no 'test' split folder (found {splits}); "
            "expected PATH/train/<class>/*.jpg and PATH/test/<class>/*.jpg")
    return "train", test


def _folder_signature(root: str, split: str) -> str:
    """Hash of the file names, sizes and mtimes of one split (no TF needed)."""
    h = hashlib.sha256(f"{CACHE_FORMAT}|{os.path.abspath(root)}|{split}".encode())
    split_dir = os.path.join(root, split)
    for label in _list_dirs(split_dir):
        h.update(f"|{label}/".encode())
        with os.scandir(os.path.join(split_dir, label)) as it:
            entries = sorted(
                (e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in it
                if e.name.lower().endswith(_IMAGE_EXTS))
        for name, size, mtime in entries:
            h.update(f"{name}:{size}:{mtime};".encode())
    return h.hexdigest()[:24]


def _folder_cache_path(root: str, split: str) -> str | None:
    directory = _cache_dir()
    if directory is None:
        return None
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(os.path.normpath(root)))[:40]
    return os.path.join(directory, f"folder-{name}-{split}-{_folder_signature(root, split)}.npz")


def _read_npz(path: str):
    try:
        with np.load(path, allow_pickle=False) as z:
            return _Pool(z["images"], z["labels"].astype(np.int32)), tuple(str(s) for s in z["class_names"])
    except Exception:  # corrupt / partial cache: ignore it
        return None


def _write_npz(path: str, pool: _Pool, class_names) -> None:
    if pool.images.nbytes > CACHE_MAX_BYTES:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, images=pool.images, labels=pool.labels, class_names=np.asarray(class_names))
        os.replace(tmp, path)
    except OSError:
        pass  # the cache is an optimisation only


def _image_folder(root: str):
    tfds = _tfds()
    try:
        return tfds.folder_dataset.ImageFolder(root)
    except Exception as e:  # noqa: BLE001 - report any ImageFolder failure the same way
        raise DatasetError(f"folder dataset: ImageFolder could not read {root!r}: {e}") from e


def _builder_split_size(builder, split: str) -> int | None:
    try:
        splits = builder.info.splits
        if split in splits:
            n = splits[split].num_examples
            return int(n) if n else None
    except Exception:  # noqa: BLE001
        pass
    return None


def _decode_to_pool(make_ds: Callable, shape: tuple[int, int], limit: int | None) -> _Pool:
    """make_ds() -> tf.data of {'image','label'}; returns uint8 (N,H,W,3) + int32 labels.

    Images whose size differs from `shape` are resized to it (a slower second
    pass, taken only when the fast one meets such an image).
    """
    tf = _tf()
    h, w = shape

    def channels(img):
        if img.shape[-1] == 1:
            return tf.image.grayscale_to_rgb(img)
        return img[..., :3] if img.shape[-1] != 3 else img

    def fast(ex):
        return tf.ensure_shape(channels(ex["image"]), [h, w, 3]), tf.cast(ex["label"], tf.int32)

    def resizing(ex):
        img = tf.image.resize(channels(ex["image"]), [h, w], antialias=True)
        img = tf.cast(tf.clip_by_value(tf.round(img), 0, 255), tf.uint8)
        return tf.ensure_shape(img, [h, w, 3]), tf.cast(ex["label"], tf.int32)

    def run(fn):
        ds = make_ds()
        if limit is not None:
            ds = ds.take(limit)
        ds = ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE).batch(1024).prefetch(2)
        xs, ys = [], []
        for x, y in ds.as_numpy_iterator():
            xs.append(x)
            ys.append(y)
        if not xs:
            return _Pool(np.zeros((0, h, w, 3), np.uint8), np.zeros((0,), np.int32))
        return _Pool(np.concatenate(xs), np.concatenate(ys))

    try:
        return run(fast)
    except tf.errors.InvalidArgumentError:
        return run(resizing)


# --------------------------------------------------------------------------
# Public API.

def load(spec: str, *, data_dir: str | None = None, minival_fraction: float = 0.1, split_seed: int = 0,
         limit_train: int | None = None, limit_test: int | None = None) -> Dataset:
    """Open dataset `spec` ('digits', 'folder:PATH' or 'tfds:NAME[/CONFIG]'); see the module doc."""
    if not isinstance(spec, str) or not spec.strip():
        raise DatasetError(f"dataset spec must be a non-empty string, got {spec!r}")
    if not (isinstance(minival_fraction, (int, float)) and 0.0 <= minival_fraction < 1.0):
        raise DatasetError(f"minival_fraction must be in [0, 1), got {minival_fraction!r}")
    if not (isinstance(split_seed, (int, np.integer)) and 0 <= split_seed < _SEED_LIMIT):
        raise DatasetError(f"split_seed must be an int in [0, 2**31), got {split_seed!r}")
    for name, value in (("limit_train", limit_train), ("limit_test", limit_test)):
        if value is not None and not (isinstance(value, (int, np.integer)) and value > 0):
            raise DatasetError(f"{name} must be a positive int or None, got {value!r}")
    spec = spec.strip()
    common = dict(minival_fraction=float(minival_fraction), split_seed=int(split_seed),
                  limit_train=limit_train, limit_test=limit_test)
    if spec == "digits":
        return _load_digits(spec, **common)
    if spec.startswith("folder:"):
        path = spec[len("folder:"):]
        if not path:
            raise DatasetError("folder dataset spec needs a path: 'folder:PATH'")
        path = os.path.expanduser(path)
        if data_dir is not None and not os.path.isabs(path):
            path = os.path.join(os.path.expanduser(data_dir), path)
        return _load_folder(spec, os.path.abspath(path), **common)
    if spec.startswith("tfds:"):
        name = spec[len("tfds:"):]
        if not name:
            raise DatasetError("tfds dataset spec needs a name: 'tfds:NAME[/CONFIG]'")
        return _load_tfds(spec, name, data_dir, **common)
    hint = f" (did you mean 'tfds:{spec}'?)" if re.fullmatch(r"[a-z0-9_]+(/[A-Za-z0-9_.]+)?", spec) else ""
    raise DatasetError(
        f"unknown dataset spec {spec!r}: expected 'digits', 'folder:PATH' or 'tfds:NAME[/CONFIG]'{hint}")


def _limit(pool: _Pool, limit: int | None) -> _Pool:
    if limit is None or limit >= len(pool.labels):
        return pool
    return _Pool(pool.images[:limit], pool.labels[:limit])


def _memory_dataset(spec, name, train_pool, test_pool, class_names, *, flip, minival_fraction, split_seed,
                    limit_train, limit_test) -> Dataset:
    train_pool = _limit(train_pool, limit_train)
    test_pool = _limit(test_pool, limit_test)
    train_idx, minival_idx = _split_train_minival(len(train_pool.labels), minival_fraction, split_seed)
    mean, std = _channel_stats(train_pool.images, train_idx)
    h, w = train_pool.images.shape[1:3]
    backend = _MemoryBackend(
        pools={"train": train_pool, "test": test_pool},
        split_index={"train": ("train", train_idx), "minival": ("train", minival_idx),
                     "test": ("test", np.arange(len(test_pool.labels), dtype=np.int32))},
        mean=mean, std=std, flip=flip)
    return Dataset(spec=spec, name=name, num_classes=len(class_names), source_size=int(max(h, w)),
                   class_names=tuple(class_names), mean=mean, std=std, backend=backend)


def _load_digits(spec, **common) -> Dataset:
    train_pool, test_pool, names = _digits_pools()
    return _memory_dataset(spec, "digits", train_pool, test_pool, names, flip=False, **common)


def _load_folder(spec, root, **common) -> Dataset:
    train_split, test_split = _folder_splits(root)
    name = os.path.basename(os.path.normpath(root))
    limits = {train_split: common["limit_train"], test_split: common["limit_test"]}

    pools, names, builder = {}, None, None
    for split in (train_split, test_split):
        with _MEMORY_LOCK:
            hit = _MEMORY_CACHE.get(("folder", root, split, limits[split]))
            full = _MEMORY_CACHE.get(("folder", root, split, None))
        if hit is None and full is not None:
            hit = (_limit(full[0], limits[split]), full[1])
        if hit is None:
            cache_path = _folder_cache_path(root, split)
            if cache_path and os.path.exists(cache_path):
                hit = _read_npz(cache_path)
                if hit is not None:
                    with _MEMORY_LOCK:
                        _MEMORY_CACHE[("folder", root, split, None)] = hit
                    hit = (_limit(hit[0], limits[split]), hit[1])
        if hit is None:
            break
        pools[split], names = hit
    else:  # both splits cached: no TensorFlow needed
        return _memory_dataset(spec, name, pools[train_split], pools[test_split], names, flip=True, **common)

    builder = _image_folder(root)
    names = tuple(builder.info.features["label"].names)
    if not names:
        raise DatasetError(f"folder dataset: {root!r} has no class folders with images")
    first = next(iter(builder.as_dataset(split=train_split).take(1)), None)
    if first is None:
        raise DatasetError(f"folder dataset: {os.path.join(root, train_split)!r} has no images")
    h, w = (int(v) for v in first["image"].shape[:2])

    if max(h, w) > SMALL_MAX_SIZE:
        # Large images: stream; source_size is the shorter side of the first train image.
        return _stream_folder_dataset(spec, name, builder, train_split, test_split, names, min(h, w), **common)

    for split in (train_split, test_split):
        if split in pools:
            continue
        pool = _decode_to_pool(functools.partial(builder.as_dataset, split=split), (h, w), limits[split])
        if len(pool.labels) == 0:
            raise DatasetError(f"folder dataset: {os.path.join(root, split)!r} has no images")
        if limits[split] is None:
            cache_path = _folder_cache_path(root, split)
            if cache_path:
                _write_npz(cache_path, pool, names)
        with _MEMORY_LOCK:
            _MEMORY_CACHE[("folder", root, split, limits[split])] = (pool, names)
        pools[split] = pool
    return _memory_dataset(spec, name, pools[train_split], pools[test_split], names, flip=True, **common)


def _tfds_test_split(name: str, splits) -> str:
    base = name.split("/")[0].split(":")[0]
    order = ("validation", "test") if base in _VALIDATION_IS_TEST else ("test", "validation")
    for s in order:
        if s in splits:
            return s
    raise DatasetError(f"tfds:{name} has no test or validation split (splits: {sorted(splits)})")


def _load_tfds(spec, name, data_dir, **common) -> Dataset:
    tfds = _tfds()
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # noqa: BLE001
        raise DatasetError(f"tfds:{name}: unknown or unusable TFDS dataset ({type(e).__name__}: {e})") from e
    features = builder.info.features
    if "image" not in features or "label" not in features:
        raise DatasetError(f"tfds:{name} lacks 'image' and 'label' features (has {sorted(features.keys())})")
    try:
        builder.download_and_prepare()
    except Exception as e:  # noqa: BLE001
        raise DatasetError(f"tfds:{name}: could not prepare the dataset in data_dir={data_dir!r} "
                           f"({type(e).__name__}: {e})") from e
    splits = set(builder.info.splits.keys()) or {"train", "test", "validation"}  # empty under mock_data
    if "train" not in splits:
        raise DatasetError(f"tfds:{name} has no train split (splits: {sorted(splits)})")
    if not builder.info.splits.keys():  # under tfds.testing.mock_data: find the test split by trying
        splits = {s for s in ("test", "validation") if _tfds_has_split(builder, s)}
    test_split = _tfds_test_split(name, splits)
    label = features["label"]
    num_classes = int(label.num_classes)
    class_names = tuple(label.names) if label.names else tuple(str(i) for i in range(num_classes))
    shape = tuple(features["image"].shape)
    static = len(shape) == 3 and shape[0] is not None and shape[1] is not None
    display = name.split(":")[0]
    if static and max(shape[0], shape[1]) <= SMALL_MAX_SIZE:
        h, w = int(shape[0]), int(shape[1])
        pools = {}
        for split, limit in (("train", common["limit_train"]), (test_split, common["limit_test"])):
            make_ds = functools.partial(builder.as_dataset, split=split, shuffle_files=False,
                                        read_config=tfds.ReadConfig(try_autocache=False))
            pools[split] = _decode_to_pool(make_ds, (h, w), limit)
            if len(pools[split].labels) == 0:
                raise DatasetError(f"tfds:{name} split {split!r} is empty")
        return _memory_dataset(spec, display, pools["train"], pools[test_split], class_names, flip=True,
                               **common)
    if static:
        source_size = int(max(shape[0], shape[1]))
    else:
        m = re.search(r"(\d+)px", name)
        source_size = int(m.group(1)) if m else NOMINAL_LARGE_SIZE
    source = _TfdsRecords(builder, {"train": "train", "test": test_split},
                          {"train": common["limit_train"], "test": common["limit_test"]})
    return _stream_dataset(spec, display, source, class_names, source_size, **common)


def _tfds_has_split(builder, split) -> bool:
    try:
        next(iter(builder.as_dataset(split=split).take(1)))
        return True
    except Exception:  # noqa: BLE001
        return False


# --------------------------------------------------------------------------
# The Dataset object.

class Dataset:
    """A loaded dataset; see the module docstring for splits and preprocessing.

    Attributes: ``spec``, ``name``, ``num_classes``, ``source_size`` (source
    image side in px; nominal 224 for variable-size sources without a ``NNNpx``
    config), ``class_names``, ``mean`` / ``std`` (per channel, 0..1 units),
    ``in_memory`` (True for the on-device path, False for tf.data streaming).
    """

    def __init__(self, *, spec, name, num_classes, source_size, class_names, mean, std, backend):
        self.spec = spec
        self.name = name
        self.num_classes = int(num_classes)
        self.source_size = int(source_size)
        self.class_names = tuple(class_names)
        self.mean = tuple(mean)
        self.std = tuple(std)
        self._backend = backend
        self.in_memory = isinstance(backend, _MemoryBackend)

    def __repr__(self):
        sizes = ", ".join(f"{s}={self.size(s)}" for s in SPLITS)
        kind = "in-memory" if self.in_memory else "streaming"
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
            if not isinstance(value, (int, np.integer)) or not 0 <= value < _SEED_LIMIT:
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


# --------------------------------------------------------------------------
# Sharding helpers.

def _replicated(sharding):
    """A sharding that replicates an array on the devices of `sharding` (None: default device)."""
    if sharding is None:
        return None
    if isinstance(sharding, NamedSharding):
        return NamedSharding(sharding.mesh, PartitionSpec())
    devices = sorted(sharding.device_set, key=lambda d: d.id)
    if len(devices) == 1:
        return SingleDeviceSharding(devices[0])
    return NamedSharding(Mesh(np.array(devices), ("devices",)), PartitionSpec())


def _batch_shardings(sharding):
    """(images sharding, labels/mask sharding) for a user sharding of the batch axis."""
    if sharding is None:
        return None, None
    if isinstance(sharding, NamedSharding):
        spec = tuple(sharding.spec)
        vector = NamedSharding(sharding.mesh, PartitionSpec(spec[0] if spec else None))
        images = sharding if len(spec) <= 4 else vector
        return images, vector
    return sharding, sharding


def _finish(x, scale, shift, *, resolution, dtype):
    """uint8 (B,H,W,3) -> normalised ((x/255 - mean)/std == x*scale + shift), resized (B,R,R,3) in dtype."""
    x = x.astype(jnp.float32) * scale + shift
    b, h, w, c = x.shape
    if (h, w) != (resolution, resolution):
        x = jax.image.resize(x, (b, resolution, resolution, c), method="bilinear", antialias=True)
    return x.astype(dtype)


def _affine(mean, std) -> np.ndarray:
    """(2, 3) float32 [scale; shift] with x/255 normalised as x*scale + shift."""
    mean = np.asarray(mean, np.float64)
    std = np.asarray(std, np.float64)
    return np.stack([1.0 / (255.0 * std), -mean / std]).astype(np.float32)


@functools.cache
def _memory_fn(train: bool, batch: int, resolution: int, dtype, sharding, shape: tuple[int, int], flip: bool):
    """The jitted gather(+augment)+normalise+resize function; shared by all datasets of one image shape."""
    h, w = shape
    pad_h, pad_w = h // 8, w // 8
    finish = functools.partial(_finish, resolution=resolution, dtype=dtype)

    if train:
        def fn(images, labels, affine, order, seed, epoch, step):
            idx = lax.dynamic_slice_in_dim(order, step * batch, batch)
            x, y = images[idx], labels[idx]
            key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), epoch), step)
            k_crop, k_flip = jax.random.split(key)
            if pad_h or pad_w:
                x = jnp.pad(x, ((0, 0), (pad_h, pad_h), (pad_w, pad_w), (0, 0)), mode="reflect")
                oy = jax.random.randint(k_crop, (batch,), 0, 2 * pad_h + 1)
                ox = jax.random.randint(jax.random.fold_in(k_crop, 1), (batch,), 0, 2 * pad_w + 1)
                x = jax.vmap(lambda im, a, b: lax.dynamic_slice(im, (a, b, 0), (h, w, 3)))(x, oy, ox)
            if flip:
                f = jax.random.bernoulli(k_flip, 0.5, (batch,))
                x = jnp.where(f[:, None, None, None], x[:, :, ::-1, :], x)
            return finish(x, affine[0], affine[1]), y, jnp.ones((batch,), jnp.bool_)
    else:
        def fn(images, labels, affine, index, step):
            n = index.shape[0]
            pos = step * batch + jnp.arange(batch)
            mask = pos < n
            idx = index[jnp.minimum(pos, n - 1)]
            x = finish(images[idx], affine[0], affine[1])
            x = jnp.where(mask[:, None, None, None], x, jnp.zeros((), x.dtype))
            y = jnp.where(mask, labels[idx], 0)
            return x, y, mask

    if sharding is None:
        return jax.jit(fn)
    img_sh, vec_sh = _batch_shardings(sharding)
    return jax.jit(fn, out_shardings=(img_sh, vec_sh, vec_sh))


@functools.cache
def _normalise_fn(resolution: int, dtype, sharding):
    finish = functools.partial(_finish, resolution=resolution, dtype=dtype)

    def fn(x, affine, mask):
        x = finish(x, affine[0], affine[1])
        return jnp.where(mask[:, None, None, None], x, jnp.zeros((), x.dtype))

    if sharding is None:
        return jax.jit(fn)
    return jax.jit(fn, out_shardings=_batch_shardings(sharding)[0])


def _put(array, placement):
    return jax.device_put(array) if placement is None else jax.device_put(array, placement)


# --------------------------------------------------------------------------
# In-memory back end: the dataset lives on the device, batches are gathered
# and augmented by one jitted function.

class _MemoryBackend:
    def __init__(self, *, pools: dict[str, _Pool], split_index, mean, std, flip: bool):
        self.pools = pools
        self.split_index = split_index
        self.affine = _affine(mean, std)
        self.flip = flip
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
                    base = (_put(p.images, placement), _put(p.labels, placement), _put(self.affine, placement))
                    self._placed[(pool, None, placement)] = base
                self._placed[key] = base + (_put(self.split_index[split][1], placement),)
            return self._placed[key]

    def batches(self, split, batch, *, resolution, train, seed, epoch, sharding, dtype):
        pool, index = self.split_index[split]
        n = len(index)
        placement = _replicated(sharding)
        images, labels, affine, index_dev = self._device_data(pool, split, placement)
        shape = tuple(self.pools[pool].images.shape[1:3])
        fn = _memory_fn(train, batch, resolution, dtype, sharding, shape, self.flip)

        def gen_train():
            steps = n // batch
            order = index[_epoch_permutation(n, seed, epoch)[: steps * batch]].astype(np.int32)
            order = _put(order, placement)
            for step in range(steps):
                yield fn(images, labels, affine, order, np.int32(seed), np.int32(epoch), np.int32(step))

        def gen_eval():
            for step in range(-(-n // batch)):
                yield fn(images, labels, affine, index_dev, np.int32(step))

        return gen_train() if train else gen_eval()


# --------------------------------------------------------------------------
# Streaming back end (tf.data on the host, normalisation on the device).

class _FolderFiles:
    """Large-image folder: file paths in ImageFolder's order, read lazily by tf.data."""

    def __init__(self, builder, splits: dict, limits: dict):
        names = builder.info.features["label"].names
        examples = getattr(builder, "_split_examples", None)
        self.files = {}
        for pool, split in splits.items():
            ex = list(examples[split]) if examples is not None else _imagefolder_order(builder.data_dir, split)
            if limits[pool] is not None:
                ex = ex[: limits[pool]]
            paths = np.asarray([e[0] for e in ex], dtype=object)
            labels = np.asarray([names.index(e[1]) for e in ex], dtype=np.int32)
            self.files[pool] = (paths, labels)

    def size(self, pool):
        return len(self.files[pool][1])

    def dataset(self, pool, index, *, shuffle_seed):
        tf = _tf()
        paths, labels = self.files[pool]
        order = np.asarray(index)
        if shuffle_seed is not None:
            order = order[np.random.default_rng(shuffle_seed).permutation(len(order))]
        ds = tf.data.Dataset.from_tensor_slices((paths[order].astype(str), labels[order]))
        return ds.map(lambda p, y: (tf.io.read_file(p), y), num_parallel_calls=tf.data.AUTOTUNE)


def _imagefolder_order(root, split):
    """ImageFolder's example order (sorted, then shuffled with random.Random(split))."""
    examples = []
    split_dir = os.path.join(root, split)
    for label in _list_dirs(split_dir):
        d = os.path.join(split_dir, label)
        files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.lower().endswith(_IMAGE_EXTS))
        examples.extend((f, label) for f in files)
    random.Random(split).shuffle(examples)
    return examples


class _TfdsRecords:
    """TFDS records in file order; shuffling uses a seeded buffer after the split filter."""

    def __init__(self, builder, splits: dict, limits: dict):
        self.builder = builder
        self.splits = splits
        self.limits = limits
        self.sizes = {}
        for pool, split in splits.items():
            n = _builder_split_size(builder, split)
            if n is None:  # e.g. under tfds.testing.mock_data: count
                n = int(self._raw(pool).reduce(np.int64(0), lambda c, _: c + 1).numpy())
            if limits[pool] is not None:
                n = min(n, limits[pool])
            self.sizes[pool] = n

    def _raw(self, pool):
        tfds = _tfds()
        tf = _tf()
        ds = self.builder.as_dataset(split=self.splits[pool], shuffle_files=False,
                                     decoders={"image": tfds.decode.SkipDecoding()},
                                     read_config=tfds.ReadConfig(try_autocache=False))
        ds = ds.map(lambda ex: (ex["image"], tf.cast(ex["label"], tf.int32)))
        if self.limits.get(pool) is not None:
            ds = ds.take(self.limits[pool])
        return ds

    def size(self, pool):
        return self.sizes[pool]

    def dataset(self, pool, index, *, shuffle_seed):
        tf = _tf()
        ds = self._raw(pool)
        n = self.sizes[pool]
        if len(index) != n:
            keep = np.zeros(n, bool)
            keep[np.asarray(index)] = True
            keep_t = tf.constant(keep)

            def kept(i, example):
                del example
                return tf.gather(keep_t, i)

            def drop_index(i, example):
                del i
                return example

            ds = ds.enumerate().filter(kept).map(drop_index)
        if shuffle_seed is not None:
            seed = int(np.random.default_rng(shuffle_seed).integers(0, 2**31 - 1))
            ds = ds.shuffle(min(max(len(index), 1), _STREAM_SHUFFLE_BUFFER), seed=seed,
                            reshuffle_each_iteration=False)
        return ds


def _stream_folder_dataset(spec, name, builder, train_split, test_split, names, source_size, **common):
    source = _FolderFiles(builder, {"train": train_split, "test": test_split},
                          {"train": common["limit_train"], "test": common["limit_test"]})
    return _stream_dataset(spec, name, source, names, source_size, **common)


def _stream_dataset(spec, name, source, class_names, source_size, *, minival_fraction, split_seed,
                    limit_train, limit_test) -> Dataset:
    del limit_train, limit_test  # applied by the source
    train_idx, minival_idx = _split_train_minival(source.size("train"), minival_fraction, split_seed)
    split_index = {"train": ("train", train_idx), "minival": ("train", minival_idx),
                   "test": ("test", np.arange(source.size("test"), dtype=np.int32))}
    if source.size("train") == 0 or source.size("test") == 0:
        raise DatasetError(f"{spec}: empty train or test split")
    backend = _StreamBackend(source, split_index, IMAGENET_MEAN, IMAGENET_STD)
    return Dataset(spec=spec, name=name, num_classes=len(class_names), source_size=source_size,
                   class_names=class_names, mean=IMAGENET_MEAN, std=IMAGENET_STD, backend=backend)


def _decode_crop(tf, data, crop_window_fn):
    """Decode an encoded image cropped to crop_window_fn(shape) -> [y, x, h, w] (fast path for JPEG)."""
    def jpeg():
        window = crop_window_fn(tf.io.extract_jpeg_shape(data))
        return tf.io.decode_and_crop_jpeg(data, window, channels=3)

    def other():
        img = tf.io.decode_image(data, channels=3, expand_animations=False)
        img = tf.ensure_shape(img, [None, None, 3])
        y, x, h, w = tf.unstack(crop_window_fn(tf.shape(img)))
        return img[y:y + h, x:x + w]

    return tf.cond(tf.io.is_jpeg(data), jpeg, other)


def _to_uint8(tf, img, resolution):
    img = tf.image.resize(img, [resolution, resolution], method="bilinear", antialias=True)
    img = tf.cast(tf.clip_by_value(tf.round(img), 0.0, 255.0), tf.uint8)
    return tf.ensure_shape(img, [resolution, resolution, 3])


class _StreamBackend:
    def __init__(self, source, split_index, mean, std):
        self.source = source
        self.split_index = split_index
        self.affine = _affine(mean, std)
        self._affine_placed: dict = {}

    def _tf_dataset(self, split, batch, resolution, train, seed, epoch):
        tf = _tf()
        pool, index = self.split_index[split]
        ds = self.source.dataset(pool, index, shuffle_seed=[seed, epoch, 0x73687566] if train else None)
        if train:
            base = int(np.random.default_rng([seed, epoch, 0x61756720]).integers(0, 2**31 - 1))

            def augment(i, example):
                data, label = example
                seeds = tf.random.experimental.stateless_split(
                    tf.stack([tf.constant(base, tf.int64), tf.cast(i, tf.int64)]), 2)

                def window(shape):
                    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
                        shape, bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seeds[0],
                        min_object_covered=0.1, aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0),
                        max_attempts=10, use_image_if_no_bounding_boxes=True)
                    return tf.stack([begin[0], begin[1], size[0], size[1]])

                img = _decode_crop(tf, data, window)
                img = tf.image.stateless_random_flip_left_right(img, seed=seeds[1])
                return _to_uint8(tf, img, resolution), label

            ds = ds.enumerate().map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            ds = ds.batch(batch, drop_remainder=True)
        else:
            def center(data, label):
                def window(shape):
                    h, w = shape[0], shape[1]
                    side = tf.cast(tf.cast(tf.minimum(h, w), tf.float32) * (resolution / (resolution + 32)),
                                   tf.int32)
                    side = tf.maximum(side, 1)
                    return tf.stack([(h - side + 1) // 2, (w - side + 1) // 2, side, side])
                return _to_uint8(tf, _decode_crop(tf, data, window), resolution), label

            ds = ds.map(center, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(batch)
        options = tf.data.Options()
        options.deterministic = True
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)

    def batches(self, split, batch, *, resolution, train, seed, epoch, sharding, dtype):
        normalise = _normalise_fn(resolution, dtype, sharding)
        img_sh, vec_sh = _batch_shardings(sharding)
        placement = _replicated(sharding)
        if placement not in self._affine_placed:
            self._affine_placed[placement] = _put(self.affine, placement)
        affine = self._affine_placed[placement]
        ds = self._tf_dataset(split, batch, resolution, train, seed, epoch)
        steps = len(self.split_index[split][1]) // batch if train else None

        def host_batches():
            count = 0
            for x, y in ds.as_numpy_iterator():
                mask = np.ones(batch, bool)
                if x.shape[0] < batch:  # eval tail: pad, mask False
                    k = x.shape[0]
                    mask[k:] = False
                    x = np.concatenate([x, np.zeros((batch - k,) + x.shape[1:], x.dtype)])
                    y = np.concatenate([y, np.zeros(batch - k, y.dtype)])
                yield x, y.astype(np.int32), mask
                count += 1
                if steps is not None and count >= steps:
                    return

        def device_batches():
            pending = collections.deque()  # keep two host->device copies in flight
            for x, y, mask in host_batches():
                pending.append((_put(x, img_sh), _put(y, vec_sh), _put(mask, vec_sh)))
                if len(pending) > 2:
                    x_d, y_d, m_d = pending.popleft()
                    yield normalise(x_d, affine, m_d), y_d, m_d
            while pending:
                x_d, y_d, m_d = pending.popleft()
                yield normalise(x_d, affine, m_d), y_d, m_d

        return device_batches()
