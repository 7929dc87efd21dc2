"""benchmarks/gpu_study.py's data path on a machine without TensorFlow (the GPU image has none).

The driver unpacks the experiment's JPEGs in a scratch folder, decodes them with Pillow into
scaling's data cache and points ``--data-dir`` at them: the experiment's relative
``folder:../shared/datasets/...`` must then load from that cache and never ask TensorFlow.
"""

import sys

import numpy as np
from conftest import ROOT
from PIL import Image

from scaling import data
from scaling.data import cache, sources

sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_study  # noqa: E402


def _folder(root, rng) -> dict:
    pixels = {}
    for split in ("train", "test"):
        for label in ("cat", "dog"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(5):
                image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(image).save(folder / f"{i}.png")
                pixels[str(folder / f"{i}.png")] = image
    return pixels


def test_pillow_decode_in_the_cache_serves_the_relative_folder_dataset_without_tensorflow(tmp_path, monkeypatch):
    root = tmp_path / "shared" / "datasets" / "pets"
    pixels = _folder(root, np.random.default_rng(0))
    monkeypatch.setenv("SCALING_DATA_CACHE", str(tmp_path / "cache"))
    gpu_study._fill_cache(str(root))
    cache.clear_memory_cache()

    def no_tensorflow(*args, **kwargs):
        raise AssertionError("TensorFlow was asked to read an image")

    monkeypatch.setattr(sources.tf, "decode_split", no_tensorflow)
    monkeypatch.setattr(sources.tf, "image_shape", no_tensorflow)
    data_dir = tmp_path / "data"  # as gpu_study.prepare_data lays it out
    data_dir.mkdir()
    dataset = data.load("folder:../shared/datasets/pets", data_dir=str(data_dir), minival_fraction=0.2)
    source = sources.FolderSource(str(root))
    for pool in ("train", "test"):
        paths, labels = source.files[pool]
        served = dataset.decoded(pool)  # the decoded pixels, before the device's normalisation
        np.testing.assert_array_equal(served.images, np.stack([pixels[p] for p in paths]))
        np.testing.assert_array_equal(served.labels, labels)
    assert dataset.in_memory and dataset.class_names == ("cat", "dog")


def test_the_epoch_count_chosen_is_the_largest_whose_prediction_fits():
    plan = dict(blocks=[7, 32], seeds=3, batch=128, minival_fraction=0.1, limit_train=50_000)
    rows = [dict(blocks=7, **{"ms/step": 2.0, "first step s": 20.0}),
            dict(blocks=32, **{"ms/step": 8.0, "first step s": 40.0})]
    # 351 steps an epoch; the device runs 3 seeds x (2 + 8) ms a step; the host's share: 3 workers
    assert gpu_study.predict(rows, plan, 10) == 3 * 3510 * 0.010 + (6 * (10 + 8) + 2 * 40) / 3
    assert gpu_study.choose_epochs(rows, plan, left=gpu_study.predict(rows, plan, 10) / 0.8) == 10
    assert gpu_study.choose_epochs(rows, plan, left=1.0) == min(gpu_study.EPOCH_CHOICES)
