"""Fig. 4 on CIFAR-10: width scaling of the baselines (d, r) in {(1, 1), (1, 1.3), (2, 1), (2, 1.3)}.

    scaling sweep width-baselines --config experiments/cifar10/sweep_width_baselines.py --workers 2
    scaling plot cifar10_width_baselines
    scaling sweep width-baselines --config experiments/cifar10/sweep_width_baselines.py --dry-run

Proxy (the same in every file of experiments/cifar10/): B0 at depth 0.25 and width 0.25 (7 blocks,
8-80 channels, head 320) at CIFAR's own 32 px, trained from scratch with the ``proxy`` recipe for
4 epochs on 9,000 images (a class-balanced 10,000-image subset of the 50,000 training images, 1,000
of it held out as minival); top-1 on 5,000 test images. Data: the JPEG export at
``../shared/datasets/cifar10`` (run from the repository root; ``--dataset tfds:cifar10`` reads the
TFDS copy). With a GPU, raise ``--limit-train``/``--limit-test``/``--epochs`` under a new ``--study``.
Widths 1 and 2.6 only (two of Fig. 3's six) to fit the CPU budget: 8 networks.

Expected wall time: see results/README.md (measured on this run's 2 CPU cores).
"""

from scaling.sweeps import SweepConfig
from scaling.train import TrainConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study="cifar10_width_baselines",
        sweep="width-baselines",
        values="1,2.6",
        depth0=0.25,
        width0=0.25,
        train=TrainConfig(dataset="folder:../shared/datasets/cifar10", limit_train=10_000, limit_test=5_000,
                          base_resolution=32, epochs=4, batch_size=64, recipe="proxy", quiet=True),
    )
