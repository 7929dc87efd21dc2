"""Fig. 7's networks on Imagenette: the baseline and the width-, depth-, resolution-only and
compound (alpha, beta, gamma = 1.2, 1.1, 1.15) networks at phi = 2, matched on real MACs, one seed
each; then their class activation maps on the same 16 test images.

    scaling sweep compound-vs-single --config experiments/imagenette/cam_networks.py --dry-run
    scaling sweep compound-vs-single --config experiments/imagenette/cam_networks.py
    scaling cam --studies imagenette_cam_networks --images 16

Proxy: ``scaling.proxies.imagenette`` (64 px base, output stride 16: the last map is 4x4 for the
baseline and larger for the higher-resolution networks, so every CAM has at least 4x4 cells); run
from the repository root. A CAM shows where one trained network looks, so one seed per network;
the accuracy comparison at equal MACs with seeds and intervals is Fig. 8 on CIFAR-10
(``experiments/cifar10/sweep_compound_vs_single.py``). With a GPU, add ``--seeds 3 --phi 0:3``
under a new ``--name`` for Fig. 8 on Imagenette as well.

Expected wall time: see results/RUNS.md (measured on 2 CPU cores).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="imagenette_cam_networks", results_dir="results", train=proxies.imagenette(), seeds=1),
        sweep="compound-vs-single",
        phi="0,2",
        alpha=1.2,
        beta=1.1,
        gamma=1.15,
    )
