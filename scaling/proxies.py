"""The proxy networks and budgets the experiment files share, defined once.

Each function returns the :class:`~scaling.train.TrainConfig` of one dataset's proxy (its baseline
network, data, recipe and budget); an experiment file names its study and its points and may
change any field (``proxies.cifar10(epochs=10)``). :data:`SMOKE` is the tiny budget the notebooks'
and tests' smoke runs use.
"""

from __future__ import annotations

import dataclasses

from scaling.network import Network
from scaling.train import TrainConfig

#: One epoch of two steps on 160 digits images: checks that everything runs, measures nothing.
SMOKE = dict(epochs=1, steps_per_epoch=2, batch_size=16, limit_train=160, limit_test=80, num_devices=1, quiet=True)

#: The shared datasets, relative to the repository root (run the experiments from there).
CIFAR10 = "folder:../shared/datasets/cifar10"
IMAGENETTE = "folder:../shared/datasets/imagenette"

#: Table 3's other baselines at the CIFAR-10 proxy's size (depth 0.25, 32 px, output stride 16):
#: MobileNetV2 at width 0.25 (7 blocks, 171,178 parameters) and ResNet-50 at width 0.125 (5 bottlenecks,
#: 148,754 parameters).
MOBILENETV2_CIFAR10 = Network(baseline="mobilenetv2", depth=0.25, width=0.25, base_resolution=32, output_stride=16)
RESNET50_CIFAR10 = Network(baseline="resnet50", depth=0.25, width=0.125, base_resolution=32, output_stride=16)


def digits(**changes) -> TrainConfig:
    """B0 at depth 0.25, width 0.5 and 16 px on scikit-learn's digits: every (alpha, beta, gamma) of a
    small grid changes the rounded network; a run takes a minute or two on 2 CPU cores."""
    cfg = TrainConfig(network=Network(depth=0.25, width=0.5, base_resolution=16), dataset="digits", epochs=3,
                      batch_size=64, recipe="proxy")
    return dataclasses.replace(cfg, **changes)


def cifar10(**changes) -> TrainConfig:
    """B0 at depth 0.25 and width 0.25 (7 blocks, 8-80 channels, head 320) at CIFAR's own 32 px with
    output stride 16 (the last map 2x2, not 1x1), the calibrated ``proxy`` recipe, 5 epochs at batch
    128 on 9,000 images (a class-balanced 10,000-image subset of the 50,000 training images, 1,000 of
    it held out as minival); top-1 on all 10,000 test images."""
    cfg = TrainConfig(network=Network(depth=0.25, width=0.25, base_resolution=32, output_stride=16),
                      dataset=CIFAR10, limit_train=10_000, limit_test=None, epochs=5, batch_size=128,
                      recipe="proxy", quiet=True)
    return dataclasses.replace(cfg, **changes)


def imagenette(**changes) -> TrainConfig:
    """B0 at depth 0.25 and width 0.25 on Imagenette's real pixels: 64 px base with output stride 16
    (a 4x4 last map, 8x8 at r = 2), decoded once at 128 px (``image_size``: the largest resolution
    its sweeps train at; 13,394 images x 128 x 128 x 3 bytes = 658 MB in memory and on disk) and
    cropped on the device; the calibrated ``proxy`` recipe, 5 epochs at batch 128 on the 8,522
    training images (947 held out as minival); top-1 on all 3,925 test images."""
    cfg = TrainConfig(network=Network(depth=0.25, width=0.25, base_resolution=64, output_stride=16),
                      dataset=IMAGENETTE, image_size=128, epochs=5, batch_size=128, recipe="proxy", quiet=True)
    return dataclasses.replace(cfg, **changes)
