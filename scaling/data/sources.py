"""What to read: the digits, folder and TFDS sources, their class names and their train / test examples.

A folder or TFDS source offers the same few methods to `load`: `size(pool)`, `first_shape()` (None for
variable-size images), `decode(pool, count, shape=, size=)` (the in-memory path), `records(pool, index,
shuffle_seed)` (encoded images for the streaming path) and `split_cache(pool, image_size)`.
"""

from __future__ import annotations

import os
import random
import re

import numpy as np

from . import cache, tf
from .dataset import DatasetError
from .memory import Pool

SMALL_MAX_SIZE = 64            # sources up to this side are kept in memory at native size
NOMINAL_LARGE_SIZE = 224       # source_size reported for variable-size sources
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0
IMAGE_EXTS = (".jpg", ".jpeg", ".png")                  # what ImageFolder reads
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")   # the first bytes of every JPEG and PNG file
TEST_SPLIT_NAMES = ("test", "validation", "val")
# TFDS datasets whose 'validation' split serves as 'test' (no labelled test split).
VALIDATION_IS_TEST = ("imagenet2012", "imagenet2012_subset", "imagenet2012_real", "imagenette", "imagewang",
                      "imagenet_resized")


def source_size(shape: tuple[int, int] | None, nominal: int = NOMINAL_LARGE_SIZE) -> int:
    """The reported source side: the longer side of small images, the shorter of large ones, else `nominal`."""
    if shape is None:
        return nominal
    return max(shape) if max(shape) <= SMALL_MAX_SIZE else min(shape)


def _undecodable(label: str, noun: str, culprits: list[str]) -> DatasetError:
    if len(culprits) == 1:
        return DatasetError(f"{label}: 1 {noun} is not a decodable image: {culprits[0]}")
    return DatasetError(f"{label}: {len(culprits)} {noun}s are not decodable images, e.g. {culprits[0]}")


# ---- digits ---------------------------------------------------------------

def digits() -> tuple[Pool, Pool, tuple[str, ...]]:
    """scikit-learn's 8x8 digits as (train, test) pools and class names, kept per process."""
    return cache.remember(("digits",), _digits)


def _digits():
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
    return (Pool(x[train_idx], y[train_idx], 8), Pool(x[test_idx], y[test_idx], 8),
            tuple(str(i) for i in range(10)))


# ---- folder ---------------------------------------------------------------

def _list_dirs(path: str) -> list[str]:
    return sorted(e.name for e in os.scandir(path) if e.is_dir())


def _split_files(root: str, split: str) -> list[tuple[str, str]]:
    """(path, class name) of the images of one split, sorted by class, then file name."""
    files = []
    split_dir = os.path.join(root, split)
    for label in _list_dirs(split_dir):
        with os.scandir(os.path.join(split_dir, label)) as it:
            names = sorted(e.name for e in it if e.is_file() and e.name.lower().endswith(IMAGE_EXTS))
        files.extend((os.path.join(split_dir, label, name), label) for name in names)
    return files


def imagefolder_order(root: str, split: str) -> list[tuple[str, str]]:
    """ImageFolder's example order: sorted, then shuffled with random.Random(split)."""
    return _imagefolder_shuffle(_split_files(root, split), split)


def _imagefolder_shuffle(files: list, split: str) -> list:
    files = list(files)
    random.Random(split).shuffle(files)
    return files


def _scan(paths: list[str]) -> tuple[list[str], list[str]]:
    """('size:mtime' of each file, the files that do not start with a JPEG or PNG signature or cannot be read)."""
    stats, bad = [], []
    for path in paths:
        try:
            with open(path, "rb") as f:
                head = f.read(len(IMAGE_MAGIC[1]))
                st = os.fstat(f.fileno())
        except OSError:
            stats.append("unreadable")
            bad.append(path)
            continue
        stats.append(f"{st.st_size}:{st.st_mtime_ns}")
        if not head.startswith(IMAGE_MAGIC):
            bad.append(path)
    return stats, bad


class FolderSource:
    """``PATH/<split>/<class>/*.{jpg,jpeg,png}`` in ImageFolder's order, with ImageFolder's labels.

    The listing is our own (ImageFolder keeps its listing private) and reproduces ImageFolder's: files sorted,
    then shuffled with random.Random(split); a label is the index of the class folder name in the sorted
    union of the class folders of every split. Every file's first bytes are checked here, so a folder holding
    a file that is not a JPEG or PNG image is refused before anything is decoded or written.
    """

    label = "folder dataset"

    def __init__(self, root: str):
        self.root = root
        self.name = os.path.basename(os.path.normpath(root))
        train, test = _folder_splits(root)
        self.splits = {"train": train, "test": test}
        self.class_names = tuple(sorted({c for s in _list_dirs(root) for c in _list_dirs(os.path.join(root, s))}))
        listed = {pool: _split_files(root, split) for pool, split in self.splits.items()}
        for pool, files in listed.items():
            if not files:
                raise DatasetError(f"folder dataset: {os.path.join(root, self.splits[pool])!r} has no images")
        train_classes = sorted({label for _, label in listed["train"]})
        if len(train_classes) < 2:
            raise DatasetError(f"folder dataset: {os.path.join(root, train)!r} has images of one class only "
                               f"({train_classes[0]!r}); a classifier needs at least 2")
        scans = {pool: _scan([path for path, _ in files]) for pool, files in listed.items()}
        bad = [path for _, culprits in scans.values() for path in culprits]
        if bad:
            raise _undecodable(self.label, "file", bad)
        # What a decoded split depends on: every file's name, size and mtime, and the class list (labels index it).
        self._signature_parts = {}
        for pool, files in listed.items():
            names = (f"{os.path.relpath(path, root)}:{stat}" for (path, _), stat in zip(files, scans[pool][0],
                                                                                      strict=True))
            self._signature_parts[pool] = [root, self.splits[pool], *self.class_names, *names]
        index = {name: i for i, name in enumerate(self.class_names)}
        self.files = {}
        for pool, split in self.splits.items():
            order = _imagefolder_shuffle(listed[pool], split)
            self.files[pool] = (np.asarray([path for path, _ in order], dtype=object),
                                np.asarray([index[label] for _, label in order], dtype=np.int32))

    def size(self, pool: str) -> int:
        return len(self.files[pool][1])

    def first_shape(self) -> tuple[int, int]:
        """(height, width) of the first train image in ImageFolder's order (decoded with TF)."""
        path = self.files["train"][0][0]
        shape = tf.image_shape(path)
        if shape is None:
            raise _undecodable(self.label, "file", [path])
        return shape

    def source_size(self, shape) -> int:
        return source_size(shape)

    def split_cache(self, pool: str, image_size: int | None) -> cache.SplitCache:
        suffix = "" if image_size is None else f"-{image_size}px"
        return cache.SplitCache(("folder", self.root, pool, image_size),
                                f"folder-{self.name}-{self.splits[pool]}{suffix}",
                                cache.signature([*self._signature_parts[pool], f"image_size {image_size}"]))

    def decode(self, pool: str, count: int, *, shape=None, size=None) -> tuple[np.ndarray, np.ndarray]:
        paths, labels = self.files[pool]
        images, _, bad = tf.decode_split(tf.file_records(paths[:count], labels[:count]), count, shape=shape,
                                         size=size)
        if len(bad):
            raise _undecodable(self.label, "file", sorted(paths[bad]))
        return images, labels[:count]

    def records(self, pool: str, index: np.ndarray, shuffle_seed):
        """The files at positions `index`, in that order or shuffled by `shuffle_seed`."""
        paths, labels = self.files[pool]
        order = np.asarray(index)
        if shuffle_seed is not None:
            order = order[np.random.default_rng(shuffle_seed).permutation(len(order))]
        return tf.file_records(paths[order], labels[order])


def _folder_splits(root: str) -> tuple[str, str]:
    """The (train, test) split folder names of an ImageFolder root."""
    if not os.path.isdir(root):
        raise DatasetError(f"folder dataset: {root!r} is not a directory")
    splits = _list_dirs(root)
    if "train" not in splits:
        raise DatasetError(
            f"folder dataset: {root!r} has no 'train' split folder (found {splits or 'none'}); "
            "expected PATH/train/<class>/*.jpg and PATH/test/<class>/*.jpg")
    test = next((s for s in TEST_SPLIT_NAMES if s in splits), None)
    if test is None:
        raise DatasetError(
            f"folder dataset: {root!r} has no 'test' split folder (found {splits}); "
            "expected PATH/train/<class>/*.jpg and PATH/test/<class>/*.jpg")
    return "train", test


# ---- TFDS -----------------------------------------------------------------

class TfdsSource:
    """A prepared TFDS dataset with ``image`` and ``label`` features; records in file order."""

    def __init__(self, name: str, data_dir: str | None):
        self.label = f"tfds:{name}"
        self.name = name.split(":")[0]
        self.builder = tf.builder(name, data_dir)
        features = self.builder.info.features
        if "image" not in features or "label" not in features:
            raise DatasetError(f"tfds:{name} lacks 'image' and 'label' features (has {sorted(features.keys())})")
        tf.prepare(self.builder, name, data_dir)
        splits = self.builder.info.splits
        if "train" not in splits:
            raise DatasetError(f"tfds:{name} has no train split (splits: {sorted(splits.keys())})")
        self.splits = {"train": "train", "test": _tfds_test_split(name, splits.keys())}
        self.sizes = {pool: int(splits[split].num_examples) for pool, split in self.splits.items()}
        for pool, split in self.splits.items():
            if self.sizes[pool] == 0:
                raise DatasetError(f"tfds:{name} split {split!r} is empty")
        label = features["label"]
        num_classes = int(label.num_classes)
        self.class_names = tuple(label.names) if label.names else tuple(str(i) for i in range(num_classes))
        shape = tuple(features["image"].shape)
        static = len(shape) == 3 and shape[0] is not None and shape[1] is not None
        self.shape = (int(shape[0]), int(shape[1])) if static else None
        m = re.search(r"(\d+)px", name)
        self.nominal_size = int(m.group(1)) if m else NOMINAL_LARGE_SIZE

    def size(self, pool: str) -> int:
        return self.sizes[pool]

    def first_shape(self) -> tuple[int, int] | None:
        return self.shape

    def source_size(self, shape) -> int:
        return source_size(shape, self.nominal_size)

    def split_cache(self, pool: str, image_size: int | None) -> cache.SplitCache:
        # A prepared TFDS version is immutable: its directory, shard names and sizes identify the records.
        info = self.builder.info.splits[self.splits[pool]]
        parts = [str(self.builder.data_dir), info.name, str(info.num_bytes), *map(str, info.shard_lengths),
                 *(os.path.basename(str(p)) for p in info.filepaths), f"image_size {image_size}"]
        suffix = "" if image_size is None else f"-{image_size}px"
        return cache.SplitCache(("tfds", str(self.builder.data_dir), pool, image_size),
                                f"tfds-{self.name}-{info.name}{suffix}", cache.signature(parts))

    def decode(self, pool: str, count: int, *, shape=None, size=None) -> tuple[np.ndarray, np.ndarray]:
        records = tf.tfds_records(self.builder, self.splits[pool], count)
        images, labels, bad = tf.decode_split(records, count, shape=shape, size=size)
        if len(bad):
            raise _undecodable(self.label, "record", [f"{self.splits[pool]}[{i}]" for i in bad])
        return images, labels

    def records(self, pool: str, index: np.ndarray, shuffle_seed):
        """The records at positions `index` (file order), shuffled by a seeded buffer when `shuffle_seed` is given."""
        index = np.asarray(index)
        n = int(index.max()) + 1 if len(index) else 0
        keep = None
        if len(index) != n:
            keep = np.zeros(n, bool)
            keep[index] = True
        ds = tf.tfds_records(self.builder, self.splits[pool], n, keep)
        if shuffle_seed is not None:
            ds = tf.shuffled(ds, len(index), int(np.random.default_rng(shuffle_seed).integers(0, 2**31 - 1)))
        return ds


def _tfds_test_split(name: str, splits) -> str:
    base = name.split("/")[0].split(":")[0]
    order = ("validation", "test") if base in VALIDATION_IS_TEST else ("test", "validation")
    for s in order:
        if s in splits:
            return s
    raise DatasetError(f"tfds:{name} has no test or validation split (splits: {sorted(splits)})")
