"""The one seam to TensorFlow and TFDS: lazy imports, TF kept off the GPUs, decoding, tf.data pipelines.

No other module of the package imports TensorFlow, so `digits` and cached folders never load it.
"""

from __future__ import annotations

import difflib
import os
import threading

import numpy as np

from .dataset import DatasetError

STREAM_SHUFFLE_BUFFER = 16384
_LOCK = threading.Lock()
_gpus_hidden = False


def tensorflow():
    """TensorFlow, imported on first use, with the GPUs hidden from it (JAX needs their memory)."""
    global _gpus_hidden
    with _LOCK:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's start-up chatter is not ours to print
        import tensorflow as tf
        if not _gpus_hidden:
            try:
                tf.config.set_visible_devices([], "GPU")
            except (RuntimeError, ValueError):  # TF already initialised its devices
                pass
            _gpus_hidden = True
        return tf


def tfds():
    tensorflow()
    import tensorflow_datasets
    return tensorflow_datasets


def first_line(error: BaseException) -> str:
    """'Type: first line of the message', for one-line reports of foreign errors."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


# ---- TFDS builders --------------------------------------------------------

def builder(name: str, data_dir: str | None):
    """tfds.builder(name, data_dir=data_dir); an unknown name is one line with the closest registered names."""
    lib = tfds()
    try:
        return lib.builder(name, data_dir=data_dir)
    except lib.core.DatasetNotFoundError:
        base = name.split("/")[0].split(":")[0]
        close = difflib.get_close_matches(base, lib.list_builders(with_community_datasets=False))
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise DatasetError(f"tfds:{name}: no such TFDS dataset{hint}") from None  # TFDS's error lists the catalogue
    except Exception as e:  # noqa: BLE001 - report any builder failure the same way
        raise DatasetError(f"tfds:{name}: unusable TFDS dataset ({first_line(e)})") from e


def prepare(tfds_builder, name: str, data_dir: str | None) -> None:
    """download_and_prepare(), as tfds.load would (a no-op when the dataset is already prepared)."""
    try:
        tfds_builder.download_and_prepare()
    except Exception as e:  # noqa: BLE001
        raise DatasetError(f"tfds:{name}: could not prepare the dataset in data_dir={data_dir!r} "
                           f"({first_line(e)})") from e


# ---- records: (encoded image bytes, int32 label) --------------------------

def file_records(paths: np.ndarray, labels: np.ndarray):
    tf = tensorflow()
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(paths).astype(str), np.asarray(labels, np.int32)))
    return ds.map(lambda p, y: (tf.io.read_file(p), y), num_parallel_calls=tf.data.AUTOTUNE)


def tfds_records(tfds_builder, split: str, count: int, keep: np.ndarray | None = None):
    """The first `count` records of `split` in file order, undecoded; only those where `keep` is True."""
    lib, tf = tfds(), tensorflow()
    ds = tfds_builder.as_dataset(split=split, shuffle_files=False, decoders={"image": lib.decode.SkipDecoding()},
                                 read_config=lib.ReadConfig(try_autocache=False))
    ds = ds.map(lambda ex: (ex["image"], tf.cast(ex["label"], tf.int32))).take(count)
    if keep is None:
        return ds
    keep_t = tf.constant(keep)

    def kept(i, example):
        del example
        return tf.gather(keep_t, i)

    def drop_index(i, example):
        del i
        return example

    return ds.enumerate().filter(kept).map(drop_index)


def shuffled(records, size: int, seed: int):
    """A seeded buffer shuffle of `size` records (the buffer holds at most STREAM_SHUFFLE_BUFFER of them)."""
    return records.shuffle(min(max(size, 1), STREAM_SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=False)


def image_shape(path: str) -> tuple[int, int] | None:
    """(height, width) of the image file at `path`; None when it does not decode."""
    tf = tensorflow()
    try:
        shape = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False).shape
    except tf.errors.OpError:
        return None
    return int(shape[0]), int(shape[1])


# ---- decoding a whole split (the in-memory path) ---------------------------

def _to_uint8(tf, img):
    return tf.cast(tf.clip_by_value(tf.round(img), 0.0, 255.0), tf.uint8)


def decode_split(records, count: int, *, shape: tuple[int, int] | None = None, size: int | None = None):
    """Decode `count` records to uint8 (count, H, W, 3) images and int32 labels.

    shape=(h, w): images of another size are resized to it (bilinear, antialiased); size=S: the shorter side is
    resized to S (bilinear, antialiased) and the central S x S kept. Returns (images, labels, bad), `bad` the
    positions that did not decode: each record is decoded on its own and failures are dropped by position, so
    the caller can name the culprits instead of TF raising mid-way.
    """
    tf = tensorflow()
    h, w = shape if size is None else (size, size)

    def fit(data):
        img = tf.ensure_shape(tf.io.decode_image(data, channels=3, expand_animations=False), [None, None, 3])
        if size is None:
            same = tf.reduce_all(tf.equal(tf.shape(img)[:2], [h, w]))
            img = tf.cond(same, lambda: img, lambda: _to_uint8(tf, tf.image.resize(img, [h, w], antialias=True)))
        else:
            hw = tf.cast(tf.shape(img)[:2], tf.float32)
            new = tf.maximum(tf.cast(tf.round(hw * (size / tf.reduce_min(hw))), tf.int32), size)
            img = tf.image.resize(img, new, antialias=True)
            top, left = (new[0] - size) // 2, (new[1] - size) // 2
            img = _to_uint8(tf, img[top:top + size, left:left + size])
        return tf.ensure_shape(img, [h, w, 3])

    ds = records.enumerate().map(lambda i, example: (i, fit(example[0]), example[1]),
                                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)  # placed by position
    ds = ds.ignore_errors(log_warning=False).batch(256).prefetch(2)
    images = np.zeros((count, h, w, 3), np.uint8)
    labels = np.zeros((count,), np.int32)
    decoded = np.zeros((count,), bool)
    for i, x, y in ds.as_numpy_iterator():
        images[i], labels[i], decoded[i] = x, y, True
    return images, labels, np.flatnonzero(~decoded)


# ---- streaming (the tf.data back end) --------------------------------------

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


def _resized(tf, img, resolution):
    img = tf.image.resize(img, [resolution, resolution], method="bilinear", antialias=True)
    return tf.ensure_shape(_to_uint8(tf, img), [resolution, resolution, 3])


def stream_batches(records, *, train: bool, batch: int, resolution: int, augment_seed: int | None):
    """NumPy uint8 (B, R, R, 3) + int32 (B,) batches decoded from `records` on the host (lazily: a generator).

    train: Inception-style random-resized crop (area 8-100%, aspect 3/4-4/3) + flip from TF stateless seeds
    (augment_seed, position); full batches only. Eval: EfficientNet's centre crop (R / (R + 32) of the shorter
    side) + resize; the last batch may be short.
    """
    tf = tensorflow()
    if train:
        def augment(i, example):
            data, label = example
            seeds = tf.random.experimental.stateless_split(
                tf.stack([tf.constant(augment_seed, tf.int64), tf.cast(i, tf.int64)]), 2)

            def window(shape):
                begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
                    shape, bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seeds[0],
                    min_object_covered=0.1, aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0),
                    max_attempts=10, use_image_if_no_bounding_boxes=True)
                return tf.stack([begin[0], begin[1], size[0], size[1]])

            img = _decode_crop(tf, data, window)
            img = tf.image.stateless_random_flip_left_right(img, seed=seeds[1])
            return _resized(tf, img, resolution), label

        ds = records.enumerate().map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.batch(batch, drop_remainder=True)
    else:
        def centre(data, label):
            def window(shape):
                h, w = shape[0], shape[1]
                side = tf.cast(tf.cast(tf.minimum(h, w), tf.float32) * (resolution / (resolution + 32)), tf.int32)
                side = tf.maximum(side, 1)
                return tf.stack([(h - side + 1) // 2, (w - side + 1) // 2, side, side])
            return _resized(tf, _decode_crop(tf, data, window), resolution), label

        ds = records.map(centre, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(batch)
    options = tf.data.Options()
    options.deterministic = True
    yield from ds.with_options(options).prefetch(tf.data.AUTOTUNE).as_numpy_iterator()
