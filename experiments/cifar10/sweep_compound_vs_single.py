"""Fig. 8 (and Fig. 7's networks) on CIFAR-10: width-, depth-, resolution-only and compound
scaling at equal MACs, phi = 0..2, with the paper's alpha, beta, gamma = 1.2, 1.1, 1.15.

    scaling sweep compound-vs-single --config experiments/cifar10/sweep_compound_vs_single.py --workers 2
    scaling plot cifar10_compound_vs_single
    scaling sweep compound-vs-single --config experiments/cifar10/sweep_compound_vs_single.py --dry-run

Proxy (the same in every file of experiments/cifar10/): B0 at depth 0.25 and width 0.25 (7 blocks,
8-80 channels, head 320) at CIFAR's own 32 px, trained from scratch with the ``proxy`` recipe for
4 epochs on 9,000 images (a class-balanced 10,000-image subset of the 50,000 training images, 1,000
of it held out as minival); top-1 on 5,000 test images. Data: the JPEG export at
``../shared/datasets/cifar10`` (run from the repository root; ``--dataset tfds:cifar10`` reads the
TFDS copy). With a GPU, raise ``--limit-train``/``--limit-test``/``--epochs`` under a new ``--study``.
9 networks (the baseline is shared by the four lines). At 32 px the last feature map of the
baseline is 1x1 (stride 32) and that of the resolution-only (59 px) and compound (42 px) networks
at phi = 2 is 2x2: the CAMs (``scaling cam``) are that coarse.

Expected wall time: see results/README.md (measured on this run's 2 CPU cores).
"""

from scaling.sweeps import SweepConfig
from scaling.train import TrainConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study="cifar10_compound_vs_single",
        sweep="compound-vs-single",
        phi="0:2",
        alpha="1.2",
        beta="1.1",
        gamma="1.15",
        depth0=0.25,
        width0=0.25,
        train=TrainConfig(dataset="folder:../shared/datasets/cifar10", limit_train=10_000, limit_test=5_000,
                          base_resolution=32, epochs=4, batch_size=64, recipe="proxy", quiet=True),
    )
