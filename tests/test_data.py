"""Tests for scaling.data on real files (no downloads): digits ship with scikit-learn, CIFAR-10 and Imagenette
come from ../shared/datasets, folders and TFDS datasets are written and prepared here in temporary directories."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scaling import data
from scaling.data import DatasetError, sources
from scaling.data import tf as tf_seam

REPO = Path(__file__).resolve().parents[1]
CIFAR = REPO.parent / "shared" / "datasets" / "cifar10"
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGENETTE = REPO.parent / "shared" / "datasets" / "imagenette"
IMAGENETTE_WNIDS = ("n01440764", "n02102040", "n02979186", "n03000684", "n03028079", "n03394916", "n03417042",
                    "n03425413", "n03445777", "n03888257")

needs_cifar = pytest.mark.skipif(not (CIFAR / "train").is_dir(), reason=f"{CIFAR} not present")
needs_imagenette = pytest.mark.skipif(not (IMAGENETTE / "train").is_dir(), reason=f"{IMAGENETTE} not present")


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
    pool_labels = a.decoded("train").labels
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
    pool = ds.decoded("test")
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


@pytest.mark.devices(8)
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
    with pytest.raises(DatasetError, match=r"\(did you mean 'digits'\?\)$"):
        data.load("digts")
    with pytest.raises(DatasetError, match=r"\(did you mean 'tfds:cifar10'\?\)$"):
        data.load("cifar10")
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
    # One line, not TFDS's catalogue; the closest registered names when there are any.
    with pytest.raises(DatasetError) as e:
        data.load("tfds:nosuchds")
    assert str(e.value) == "tfds:nosuchds: no such TFDS dataset"
    with pytest.raises(DatasetError) as e:
        data.load("tfds:cifar1O")
    assert "\n" not in str(e.value)
    assert re.fullmatch(r"tfds:cifar1O: no such TFDS dataset \(did you mean cifar10, cifar100(, \w+)?\?\)",
                        str(e.value))


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
    assert np.array_equal(limited.decoded("train").images, again.decoded("train").images[:6])


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
    order = sources.imagefolder_order(str(root), "test")
    assert y[m].tolist() == [ds.class_names.index(label) for _, label in order]
    # Train and minival come from disjoint files.
    _, ymv, mmv = collect(ds.batches("minival", 4, resolution=16, train=False))
    assert mmv.sum() == 2




def test_large_folder_decoded_once_at_image_size(tmp_path):
    root = tmp_path / "big"
    _write_image_folder(root, {"default": (80, 96)}, {"train": 6, "test": 2})
    streamed = data.load(f"folder:{root}", minival_fraction=0.125)
    ds = data.load(f"folder:{root}", minival_fraction=0.125, image_size=32)
    assert ds.in_memory and ds.source_size == 80 and ds.image_size == 32 and ds.class_names == ("ant", "bee", "cat")
    assert (ds.size("train"), ds.size("minival"), ds.size("test")) == (16, 2, 6)
    assert ds.decoded("train").images.shape == (18, 32, 32, 3) and ds.mean != data.IMAGENET_MEAN
    kw = dict(resolution=24, train=True, seed=3, epoch=1)
    a = collect(ds.batches("train", 4, **kw))
    b = collect(ds.batches("train", 4, **kw))
    assert a[0].shape == (16, 24, 24, 3) and a[2].all() and np.isfinite(a[0]).all()
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not np.array_equal(a[0], collect(ds.batches("train", 4, **{**kw, "epoch": 2}))[0])
    # Eval: in order (the streamed dataset's order), centre crop + resize, the tail masked.
    x, y, m = collect(ds.batches("test", 4, resolution=32, train=False))
    _, y_streamed, m_streamed = collect(streamed.batches("test", 4, resolution=32, train=False))
    assert x.shape == (8, 32, 32, 3) and m.sum() == 6 and np.all(x[~m] == 0)
    assert y[m].tolist() == y_streamed[m_streamed].tolist()
    assert not np.array_equal(x[m], collect(ds.batches("test", 4, resolution=32, train=True))[0][:6])


def test_random_resized_crops_keep_each_image_with_its_label(tmp_path):
    """Constant-colour 80 px images whose red channel encodes the class: every crop, flip and resize of an image
    is that colour, so each augmented train pixel must match its label."""
    import tensorflow as tf

    root = tmp_path / "colours"
    for split, n in (("train", 4), ("test", 1)):
        for label, name in enumerate(("ant", "bee", "cat")):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                image = np.empty((80, 72, 3), np.uint8)
                image[...] = (40 + 80 * label, 20 * i, 128)
                (root / split / name / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    ds = data.load(f"folder:{root}", minival_fraction=0.0, image_size=40)
    for train in (True, False):
        x, y, m = collect(ds.batches("train", 4, resolution=24, train=train, seed=1))
        pixels = unnormalise(ds, x[m])
        np.testing.assert_array_equal(pixels[..., 0], (40 + 80 * y[m])[:, None, None] * np.ones((1, 24, 24)))
        np.testing.assert_array_equal(pixels[..., 2], 128)


# ---------------------------------------------------------------- bad input

def _cli_train(root, workdir):
    cmd = [sys.executable, "-m", "scaling.cli", "train", "--dataset", f"folder:{root}", "--depth", "0.25",
           "--width", "0.25", "--base-resolution", "16", "--epochs", "1", "--batch-size", "8", "--workdir",
           str(workdir)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)


def test_folder_with_files_that_are_not_images_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "cache"))
    root = tmp_path / "pets"
    _write_image_folder(root, {"default": (16, 16)}, {"train": 2, "test": 1})
    (root / "train" / "cat" / "x.jpg").write_text("not an image\n")
    with pytest.raises(DatasetError) as e:
        data.load(f"folder:{root}")
    assert str(e.value) == f"folder dataset: 1 file is not a decodable image: {root / 'train' / 'cat' / 'x.jpg'}"
    (root / "test" / "ant" / "notes.png").write_text("not an image either\n")
    message = f"folder dataset: 2 files are not decodable images, e.g. {root / 'train' / 'cat' / 'x.jpg'}"
    for image_size in (None, 32):
        with pytest.raises(DatasetError) as e:
            data.load(f"folder:{root}", image_size=image_size)
        assert str(e.value) == message
    assert not (tmp_path / "cache").exists()
    run = _cli_train(root, tmp_path / "w")
    assert run.returncode == 2 and run.stderr.splitlines() == [f"scaling: error: {message}"], run.stderr
    assert not (tmp_path / "w").exists()


def test_image_that_does_not_decode_is_named(tmp_path, monkeypatch):
    """A PNG cut short keeps its signature: the in-memory decode finds it and names it."""
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "cache"))
    root = tmp_path / "cut"
    _write_image_folder(root, {"default": (16, 16)}, {"train": 3, "test": 1}, fmt=("png",))
    broken = Path(sources.imagefolder_order(str(root), "train")[-1][0])  # not the first: that one sets the size
    broken.write_bytes(broken.read_bytes()[:40])
    with pytest.raises(DatasetError) as e:
        data.load(f"folder:{root}")
    assert str(e.value) == f"folder dataset: 1 file is not a decodable image: {broken}"
    assert not list((tmp_path / "cache").glob("*.npz"))


def test_folder_with_one_class_is_refused(tmp_path):
    import tensorflow as tf

    root = tmp_path / "cats"
    for split in ("train", "test"):
        (root / split / "cat").mkdir(parents=True)
        (root / split / "cat" / "0.png").write_bytes(tf.io.encode_png(np.zeros((8, 8, 3), np.uint8)).numpy())
    message = (f"folder dataset: {str(root / 'train')!r} has images of one class only ('cat'); "
               "a classifier needs at least 2")
    with pytest.raises(DatasetError) as e:
        data.load(f"folder:{root}")
    assert str(e.value) == message
    run = _cli_train(root, tmp_path / "w")
    assert run.returncode == 2 and run.stderr.splitlines() == [f"scaling: error: {message}"], run.stderr
    assert not (tmp_path / "w").exists()


def test_image_size_arguments_and_memory_bound(tmp_path):
    root = tmp_path / "tiny"
    _write_image_folder(root, {"default": (16, 16)}, {"train": 2, "test": 1})
    with pytest.raises(DatasetError, match="image_size must be an int >= 8"):
        data.load(f"folder:{root}", image_size=4)
    with pytest.raises(DatasetError, match="not to digits"):
        data.load("digits", image_size=32)
    with pytest.raises(DatasetError) as e:
        data.load(f"folder:{root}", image_size=16384)
    assert str(e.value) == (f"folder:{root}: 9 images at image_size=16384 need 6.8 GiB, above the 4 GiB in-memory "
                            "bound; use a smaller image_size, limit_train / limit_test, or image_size=None to stream")


# ---------------------------------------------------------------- Imagenette (real, offline)

@needs_imagenette
def test_imagenette_decoded_once_cached_and_served_from_memory(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "cache"))
    spec = f"folder:{IMAGENETTE}"
    ds = data.load(spec, image_size=64)
    assert ds.name == "imagenette" and ds.class_names == IMAGENETTE_WNIDS and ds.num_classes == 10
    assert ds.in_memory and ds.source_size == 224 and ds.image_size == 64
    assert ds.size("train") + ds.size("minival") == 9469 and ds.size("minival") == 947 and ds.size("test") == 3925
    assert sorted(p.name.split("-")[2:4] for p in (tmp_path / "cache").glob("*.npz")) == [["test", "64px"],
                                                                                       ["train", "64px"]]
    pools = {pool: ds.decoded(pool) for pool in ("train", "test")}
    assert pools["train"].images.shape == (9469, 64, 64, 3) and pools["test"].images.shape == (3925, 64, 64, 3)
    grey = sum(int(np.all(p.images == p.images[..., :1], axis=(1, 2, 3)).sum()) for p in pools.values())
    assert grey >= 242  # the grayscale JPEGs come out as RGB with three equal channels

    # A later load reads the .npz: no TensorFlow, no decoding.
    def no_tensorflow():
        raise AssertionError("TensorFlow used on a cached load")

    data.clear_memory_cache()
    monkeypatch.setattr(tf_seam, "tensorflow", no_tensorflow)
    again = data.load(spec, image_size=64)
    for pool in ("train", "test"):
        assert np.array_equal(again.decoded(pool).images, pools[pool].images)
        assert np.array_equal(again.decoded(pool).labels, pools[pool].labels)

    kw = dict(resolution=64, train=True, seed=2, epoch=0)
    a = [np.asarray(v) for v in next(again.batches("train", 64, **kw))]
    b = [np.asarray(v) for v in next(ds.batches("train", 64, **kw))]
    assert a[0].shape == (64, 64, 64, 3) and a[0].dtype == np.float32 and a[2].all()
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not np.array_equal(a[0], np.asarray(next(again.batches("train", 64, **{**kw, "epoch": 1}))[0]))
    x, y, m = collect(again.batches("minival", 256, resolution=48, train=False))
    assert x.shape == (1024, 48, 48, 3) and m.sum() == 947
    assert abs(x[m].mean()) < 0.1 and abs(x[m].std() - 1) < 0.1
    order = sources.imagefolder_order(str(IMAGENETTE), "test")
    _, y_test, m_test = collect(again.batches("test", 512, resolution=32, train=False))
    assert y_test[m_test].tolist() == [IMAGENETTE_WNIDS.index(label) for _, label in order]


# ---------------------------------------------------------------- tfds (real datasets prepared here)

@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
    """A data_dir holding two prepared TFDS datasets defined here: 16 px images (served from memory) and 80 px
    images (streamed), each with train and test splits of random images."""
    import tensorflow_datasets as tfds

    def builder(name, shape, counts, class_names):
        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=shape + (3,)),
                "label": tfds.features.ClassLabel(names=class_names)}))

        def _split_generators(self, dl_manager):
            return {split: self._generate_examples(split, n) for split, n in counts.items()}

        def _generate_examples(self, split, n):
            rng = np.random.default_rng(len(split))
            for i in range(n):
                yield i, {"image": rng.integers(0, 256, shape + (3,), dtype=np.uint8), "label": i % len(class_names)}

        return type(name, (tfds.core.GeneratorBasedBuilder,), dict(
            VERSION=tfds.core.Version("1.0.0"), _info=_info, _split_generators=_split_generators,
            _generate_examples=_generate_examples))

    root = tmp_path_factory.mktemp("tfds")
    tfds.disable_progress_bar()
    for cls in (builder("ScalingTestSmall", (16, 16), {"train": 64, "test": 20}, [f"c{i}" for i in range(10)]),
                builder("ScalingTestLarge", (80, 80), {"train": 12, "test": 4}, ["ant", "bee", "cat"])):
        cls(data_dir=str(root)).download_and_prepare(download_dir=str(root / "downloads"))
    return root


def test_tfds_small_dataset_in_memory_and_cached(tfds_dir, tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "cache"))
    ds = data.load("tfds:scaling_test_small", data_dir=str(tfds_dir), minival_fraction=0.25)
    assert ds.name == "scaling_test_small" and ds.num_classes == 10 and ds.source_size == 16 and ds.in_memory
    assert ds.class_names == tuple(f"c{i}" for i in range(10))
    assert (ds.size("train"), ds.size("minival"), ds.size("test")) == (48, 16, 20)
    reference = list(tfds.builder("scaling_test_small", data_dir=str(tfds_dir))
                     .as_dataset(split="test", shuffle_files=False).as_numpy_iterator())
    x, y, m = collect(ds.batches("test", 8, resolution=16, train=False))
    assert m.sum() == 20 and y[m].tolist() == [int(e["label"]) for e in reference]
    assert np.abs(unnormalise(ds, x[m]) - np.stack([e["image"] for e in reference])).max() == 0
    x, y, m = next(ds.batches("train", 8, resolution=40, train=True))
    assert x.shape == (8, 40, 40, 3) and y.dtype == jnp.int32 and bool(m.all())
    # A later process (here: after forgetting the decoded arrays) reads the .npz instead of decoding.
    data.clear_memory_cache()
    monkeypatch.setattr(tf_seam, "decode_split", None)
    again = data.load("tfds:scaling_test_small", data_dir=str(tfds_dir), minival_fraction=0.25)
    assert np.array_equal(again.decoded("test").images, ds.decoded("test").images)


def test_tfds_large_dataset_streams_or_decodes_once_at_image_size(tfds_dir):
    spec = "tfds:scaling_test_large"
    ds = data.load(spec, data_dir=str(tfds_dir), minival_fraction=0.25)
    assert not ds.in_memory and ds.source_size == 80 and ds.num_classes == 3 and ds.mean == data.IMAGENET_MEAN
    assert (ds.size("train"), ds.size("minival"), ds.size("test")) == (9, 3, 4)
    a = collect(ds.batches("train", 4, resolution=32, train=True, seed=5))
    b = collect(ds.batches("train", 4, resolution=32, train=True, seed=5))
    assert a[0].shape == (8, 32, 32, 3) and all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    _, y, m = collect(ds.batches("test", 3, resolution=32, train=False))
    assert m.sum() == 4 and not m[-2:].any()

    mem = data.load(spec, data_dir=str(tfds_dir), minival_fraction=0.25, image_size=40)
    assert mem.in_memory and mem.source_size == 80 and mem.image_size == 40
    assert (mem.size("train"), mem.size("minival"), mem.size("test")) == (9, 3, 4)
    assert np.array_equal(mem.indices("minival"), ds.indices("minival"))
    c = collect(mem.batches("train", 4, resolution=32, train=True, seed=5))
    d = collect(mem.batches("train", 4, resolution=32, train=True, seed=5))
    assert c[0].shape == (8, 32, 32, 3) and all(np.array_equal(u, v) for u, v in zip(c, d, strict=True))
    _, y_mem, m_mem = collect(mem.batches("test", 3, resolution=32, train=False))
    assert y_mem[m_mem].tolist() == y[m].tolist()


def test_train_and_evaluate_on_a_prepared_tfds_dataset(tfds_dir, tmp_path):
    from scaling.network import Network
    from scaling.train import TrainConfig, train_and_evaluate

    cfg = TrainConfig(network=Network(depth=0.25, width=0.5, base_resolution=16), batch_size=16,
                      compilation_cache=None, quiet=True, dataset="tfds:scaling_test_small", data_dir=str(tfds_dir),
                      epochs=1, steps_per_epoch=2, num_devices=1)
    result = train_and_evaluate(cfg, tmp_path / "run")
    assert result["status"] == "ok" and result["steps"] == 2 and result["num_classes"] == 10
