"""Tests for scaling.data (no downloads: digits ship with scikit-learn, CIFAR-10
comes from ../shared/datasets/cifar10, TFDS datasets are mocked)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scaling import data
from scaling.data import DatasetError

REPO = Path(__file__).resolve().parents[1]
CIFAR = REPO.parent / "shared" / "datasets" / "cifar10"
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

needs_cifar = pytest.mark.skipif(not (CIFAR / "train").is_dir(), reason=f"{CIFAR} not present")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Never write decode caches outside the test's temporary directory."""
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "data-cache"))


def collect(it):
    xs, ys, ms = [], [], []
    for x, y, m in it:
        xs.append(np.asarray(x.astype(jnp.float32)))
        ys.append(np.asarray(y))
        ms.append(np.asarray(m))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ms)


def unnormalise(ds, x):
    return np.round((x * np.asarray(ds.std) + np.asarray(ds.mean)) * 255.0)


# ---------------------------------------------------------------- digits

def test_digits_shapes_classes_splits():
    ds = data.load("digits")
    assert ds.name == "digits" and ds.num_classes == 10 and ds.source_size == 8 and ds.in_memory
    assert ds.size("train") + ds.size("minival") + ds.size("test") == 1797
    assert abs(ds.size("test") - 0.2 * 1797) < 10
    pool = ds.size("train") + ds.size("minival")
    assert ds.size("minival") == round(0.1 * pool)
    assert ds.steps_per_epoch(64) == ds.size("train") // 64
    x, y, m = next(ds.batches("train", 64, resolution=16, train=True, seed=7, epoch=2))
    assert x.shape == (64, 16, 16, 3) and x.dtype == jnp.float32
    assert y.shape == (64,) and y.dtype == jnp.int32 and m.dtype == jnp.bool_ and bool(m.all())
    assert 0 <= int(y.min()) and int(y.max()) < 10
    xb, _, _ = next(ds.batches("test", 64, resolution=8, train=False, dtype=jnp.bfloat16))
    assert xb.shape == (64, 8, 8, 3) and xb.dtype == jnp.bfloat16
    # Normalised with the train statistics: roughly zero mean / unit variance.
    xe, _, me = collect(ds.batches("train", 64, resolution=8, train=False))
    assert abs(xe[me].mean()) < 0.05 and abs(xe[me].std() - 1) < 0.05
    # Grey digits: the three channels are identical.
    np.testing.assert_allclose(xe[..., 0], xe[..., 2], atol=1e-6)
    # All ten classes are present in every split.
    for split in data.SPLITS:
        _, ys, ms = collect(ds.batches(split, 64, resolution=8, train=False))
        assert set(ys[ms].tolist()) == set(range(10))


def test_minival_disjoint_and_deterministic():
    a = data.load("digits", minival_fraction=0.2, split_seed=3)
    b = data.load("digits", minival_fraction=0.2, split_seed=3)
    c = data.load("digits", minival_fraction=0.2, split_seed=4)
    tr, mv = a.indices("train"), a.indices("minival")
    pool = a.size("train") + a.size("minival")
    assert len(mv) == round(0.2 * pool)
    assert not set(tr.tolist()) & set(mv.tolist())
    assert sorted(np.concatenate([tr, mv]).tolist()) == list(range(pool))
    assert np.array_equal(mv, b.indices("minival")) and np.array_equal(tr, b.indices("train"))
    assert not np.array_equal(mv, c.indices("minival"))
    # The eval streams agree with the indices: no minival image is served by train.
    _, y_mv, m_mv = collect(a.batches("minival", 64, resolution=8, train=False))
    _, y_mv2, m_mv2 = collect(b.batches("minival", 64, resolution=8, train=False))
    assert np.array_equal(y_mv[m_mv], y_mv2[m_mv2])
    pool_labels = a._backend.pools["train"].labels
    assert np.array_equal(y_mv[m_mv], pool_labels[mv])
    z = data.load("digits", minival_fraction=0.0)
    assert z.size("minival") == 0 and list(z.batches("minival", 8, resolution=8, train=False)) == []


def test_augmented_batches_bit_identical():
    kw = dict(resolution=16, train=True, seed=7, epoch=2)
    run1 = collect(data.load("digits").batches("train", 64, **kw))
    data.clear_memory_cache()
    run2 = collect(data.load("digits").batches("train", 64, **kw))
    for a, b in zip(run1, run2, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    ds = data.load("digits")
    other_epoch = collect(ds.batches("train", 64, **{**kw, "epoch": 3}))
    other_seed = collect(ds.batches("train", 64, **{**kw, "seed": 8}))
    assert not np.array_equal(run1[0], other_epoch[0]) and not np.array_equal(run1[1], other_epoch[1])
    assert not np.array_equal(run1[0], other_seed[0])
    # One epoch visits steps * batch distinct train examples (drop remainder).
    steps = ds.steps_per_epoch(64)
    assert len(run1[1]) == steps * 64
    _, y_all, m_all = collect(ds.batches("train", 64, resolution=8, train=False))
    counts = np.bincount(run1[1], minlength=10)
    assert np.all(counts <= np.bincount(y_all[m_all], minlength=10))
    # Augmentation actually changes images, at the source resolution as well.
    aug, _, _ = next(ds.batches("train", 64, resolution=8, train=True, seed=7))
    assert aug.shape[1:] == (8, 8, 3) and np.isfinite(np.asarray(aug)).all()


def test_eval_padding_and_mask_cover_every_example_once():
    ds = data.load("digits")
    n = ds.size("test")
    batch = 64
    batches = list(ds.batches("test", batch, resolution=8, train=False))
    assert len(batches) == -(-n // batch)
    masks = [np.asarray(m) for _, _, m in batches]
    assert all(m.all() for m in masks[:-1])
    assert masks[-1].sum() == n - (len(batches) - 1) * batch and not masks[-1][-1]
    x, y, m = collect(iter(batches))
    assert m.sum() == n
    assert np.all(x[~m] == 0) and np.all(y[~m] == 0)
    pool = ds._backend.pools["test"]
    assert np.array_equal(y[m], pool.labels)
    assert np.array_equal(unnormalise(ds, x[m]), pool.images.astype(np.float64))  # in order, unaugmented
    # The same examples, whatever the batch size or resolution.
    _, y1, m1 = collect(ds.batches("test", 100, resolution=16, train=False))
    assert np.array_equal(y1[m1], y[m])


def test_sharding_single_device():
    ds = data.load("digits")
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    for train in (True, False):
        x, y, m = next(ds.batches("train", 64, resolution=16, train=train, sharding=sharding))
        for arr in (x, y, m):
            assert arr.sharding.is_equivalent_to(sharding, arr.ndim)
    ref = next(ds.batches("train", 64, resolution=16, train=True))
    placed = next(ds.batches("train", 64, resolution=16, train=True, sharding=sharding))
    assert np.array_equal(np.asarray(ref[0]), np.asarray(placed[0]))


@pytest.mark.skipif(len(jax.devices()) < 4, reason="needs 4 devices (tests/conftest.py forces 8 CPU devices)")
def test_sharding_two_devices_away_from_the_default_one():
    ds = data.load("digits")
    mesh = jax.sharding.Mesh(np.array(jax.devices()[2:4]), ("data",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    x, y, m = next(ds.batches("train", 64, resolution=16, train=True, sharding=sharding))
    ref = next(ds.batches("train", 64, resolution=16, train=True))
    for arr in (x, y, m):
        assert arr.sharding.is_equivalent_to(sharding, arr.ndim)
        assert {s.device for s in arr.addressable_shards} == set(jax.devices()[2:4])
    np.testing.assert_allclose(np.asarray(x), np.asarray(ref[0]), atol=1e-6)
    assert np.array_equal(np.asarray(y), np.asarray(ref[1]))
    n = ds.size("test")
    xe, ye, me = list(ds.batches("test", 64, resolution=8, train=False, sharding=sharding))[-1]
    assert int(me.sum()) == n - (-(-n // 64) - 1) * 64
    assert {s.device for s in xe.addressable_shards} == set(jax.devices()[2:4])


# ---------------------------------------------------------------- errors

def test_bad_specs_and_arguments(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset spec"):
        data.load("cifar10")
    with pytest.raises(DatasetError, match="unknown dataset spec"):
        data.load("mnist:foo")
    assert issubclass(DatasetError, ValueError)
    with pytest.raises(DatasetError, match="not a directory"):
        data.load(f"folder:{tmp_path / 'missing'}")
    with pytest.raises(DatasetError, match="no 'train' split"):
        data.load(f"folder:{tmp_path}")
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no 'test' split"):
        data.load(f"folder:{tmp_path}")
    with pytest.raises(DatasetError):
        data.load("folder:")
    with pytest.raises(DatasetError, match="minival_fraction"):
        data.load("digits", minival_fraction=1.0)
    with pytest.raises(DatasetError, match="limit_train"):
        data.load("digits", limit_train=0)
    ds = data.load("digits")
    with pytest.raises(DatasetError, match="resolution"):
        ds.batches("train", 8, resolution=4, train=True)
    with pytest.raises(DatasetError, match="unknown split"):
        ds.size("val")
    with pytest.raises(DatasetError, match="unknown split"):
        ds.batches("validation", 8, resolution=8, train=False)
    with pytest.raises(DatasetError, match="batch_size"):
        ds.batches("train", 0, resolution=8, train=True)
    with pytest.raises(DatasetError, match="exceeds"):
        ds.batches("minival", 1000, resolution=8, train=True)
    for message in (str(e) for e in _errors()):
        assert "\n" not in message


def _errors():
    for spec in ("cifar10", "folder:/nonexistent/path"):
        try:
            data.load(spec)
        except DatasetError as e:
            yield e


def test_unknown_tfds_name():
    with pytest.raises(DatasetError, match="tfds:no_such_dataset_xyz"):
        data.load("tfds:no_such_dataset_xyz")


# ---------------------------------------------------------------- folder

@needs_cifar
def test_folder_cifar10_subset_labels_match_imagefolder():
    import tensorflow_datasets as tfds

    ds = data.load(f"folder:{CIFAR}", limit_train=2000, limit_test=300)
    assert ds.name == "cifar10" and ds.num_classes == 10 and ds.source_size == 32 and ds.in_memory
    assert ds.class_names == CIFAR_CLASSES
    assert (ds.size("train"), ds.size("minival"), ds.size("test")) == (1800, 200, 300)

    builder = tfds.folder_dataset.ImageFolder(str(CIFAR))
    assert tuple(builder.info.features["label"].names) == CIFAR_CLASSES
    examples = list(builder.as_dataset(split="test").take(300).as_numpy_iterator())
    from_dirs = [CIFAR_CLASSES.index(Path(e["image/filename"].decode()).parent.name) for e in examples]
    assert [int(e["label"]) for e in examples] == from_dirs  # ImageFolder's mapping == the known one

    x, y, m = collect(ds.batches("test", 128, resolution=32, train=False))
    assert m.sum() == 300
    assert y[m].tolist() == from_dirs
    assert np.abs(unnormalise(ds, x[m]) - np.stack([e["image"] for e in examples])).max() <= 1
    # A prefix of ImageFolder's shuffled order is roughly class balanced.
    _, yt, mt = collect(ds.batches("train", 500, resolution=32, train=False))
    counts = np.bincount(yt[mt], minlength=10)
    assert counts.min() > 100 and counts.max() < 260
    xa, ya, ma = next(ds.batches("train", 64, resolution=64, train=True, seed=1))
    assert xa.shape == (64, 64, 64, 3) and bool(ma.all())


def _write_image_folder(root: Path, sizes: dict, per_class: dict, fmt=("jpg", "png")):
    """root/<split>/<class>/NNN.<fmt>: deterministic noise images."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for split, n in per_class.items():
        for c in ("ant", "bee", "cat"):
            d = root / split / c
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                h, w = sizes.get((split, c, i), sizes["default"])
                img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                ext = fmt[i % len(fmt)]
                enc = tf.io.encode_jpeg(img) if ext == "jpg" else tf.io.encode_png(img)
                (d / f"{i:03d}.{ext}").write_bytes(enc.numpy())


def test_small_folder_npz_cache_and_mixed_sizes(tmp_path, monkeypatch):
    root = tmp_path / "tiny"
    _write_image_folder(root, {"default": (16, 16), ("train", "bee", 1): (20, 12)}, {"train": 5, "test": 2},
                        fmt=("png",))
    cache = tmp_path / "cache"
    monkeypatch.setenv(data.CACHE_ENV, str(cache))
    first = data.load(f"folder:{root}", minival_fraction=0.2)
    assert first.source_size == 16 and first.in_memory and first.class_names == ("ant", "bee", "cat")
    assert sorted(p.name.split("-")[2] for p in cache.glob("*.npz")) == ["test", "train"]
    data.clear_memory_cache()
    again = data.load(f"folder:{root}", minival_fraction=0.2)
    for split in data.SPLITS:
        a = collect(first.batches(split, 4, resolution=16, train=False))
        b = collect(again.batches(split, 4, resolution=16, train=False))
        assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    # A limit is served from the full cache as a prefix.
    data.clear_memory_cache()
    limited = data.load(f"folder:{root}", limit_train=6, limit_test=3, minival_fraction=0.0)
    assert (limited.size("train"), limited.size("test")) == (6, 3)
    assert np.array_equal(limited._backend.pools["train"].images, again._backend.pools["train"].images[:6])


def test_large_image_folder_streams(tmp_path):
    root = tmp_path / "big"
    _write_image_folder(root, {"default": (80, 96)}, {"train": 6, "test": 2})
    ds = data.load(f"folder:{root}", minival_fraction=0.125)
    assert not ds.in_memory and ds.source_size == 80 and ds.num_classes == 3
    assert (ds.size("train"), ds.size("minival"), ds.size("test")) == (16, 2, 6)
    assert ds.mean == data.IMAGENET_MEAN
    kw = dict(resolution=24, train=True, seed=3, epoch=1)
    a = collect(ds.batches("train", 4, **kw))
    b = collect(ds.batches("train", 4, **kw))
    assert a[0].shape == (16, 24, 24, 3) and a[2].all()
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    c = collect(ds.batches("train", 4, **{**kw, "epoch": 2}))
    assert not np.array_equal(a[0], c[0])
    x, y, m = collect(ds.batches("test", 4, resolution=32, train=False))
    assert x.shape == (8, 32, 32, 3) and m.sum() == 6 and not m[-2:].any() and np.all(x[~m] == 0)
    order = data._imagefolder_order(str(root), "test")
    assert y[m].tolist() == [ds.class_names.index(label) for _, label in order]
    # Train and minival come from disjoint files.
    _, ymv, mmv = collect(ds.batches("minival", 4, resolution=16, train=False))
    assert mmv.sum() == 2


# ---------------------------------------------------------------- tfds (mocked)

def test_tfds_cifar10_mocked():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=40):
        ds = data.load("tfds:cifar10", minival_fraction=0.25, limit_test=30)
    assert ds.name == "cifar10" and ds.num_classes == 10 and ds.source_size == 32 and ds.in_memory
    assert len(ds.class_names) == 10  # (names are not loaded under mock_data)
    assert (ds.size("train"), ds.size("minival"), ds.size("test")) == (30, 10, 30)
    x, y, m = next(ds.batches("train", 8, resolution=40, train=True))
    assert x.shape == (8, 40, 40, 3) and y.dtype == jnp.int32 and bool(m.all())
    _, _, me = collect(ds.batches("test", 8, resolution=32, train=False))
    assert me.sum() == 30


def test_tfds_imagenette_mocked_streams():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=10):
        ds = data.load("tfds:imagenette/160px", minival_fraction=0.2)
        assert not ds.in_memory and ds.source_size == 160 and ds.num_classes == 10
        assert (ds.size("train"), ds.size("minival"), ds.size("test")) == (8, 2, 10)
        a = collect(ds.batches("train", 4, resolution=32, train=True, seed=5))
        b = collect(ds.batches("train", 4, resolution=32, train=True, seed=5))
        _, _, m = collect(ds.batches("test", 4, resolution=32, train=False))
    assert a[0].shape == (8, 32, 32, 3) and all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert m.sum() == 10
