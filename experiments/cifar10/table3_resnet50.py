"""Table 3, ResNet-50 rows, on CIFAR-10: a proxy-sized ResNet-50 scaled by width, depth, resolution
and compound (alpha, beta, gamma = 1.2, 1.1, 1.15) at phi = 2, matched on real MACs, 2 seeds.

    scaling sweep compound-vs-single --config experiments/cifar10/table3_resnet50.py --dry-run
    scaling sweep compound-vs-single --config experiments/cifar10/table3_resnet50.py
    scaling plot cifar10_table3_resnet50

ResNet-50 at depth 0.25 and width 0.125 (5 bottlenecks, 148,754 parameters, 3.21 MMACs at 32 px,
output stride 16) on the CIFAR-10 proxy's data, recipe and budget (``scaling.proxies.cifar10``);
5 networks (the baseline and four at about 5.6x its MACs), 10 runs. The paper scales ResNet-50 to
about 4x (4.1B -> 14.7-16.7B FLOPs) and gives no (d, w, r) for its compound row, so the B0
coefficients are used here.

On one GPU: all 50,000 training images, 30 epochs, 5 seeds, as a study of its own (calibrate
the step at that budget first: ``experiments/cifar10/calibration.py`` with the same flags)::

    scaling sweep compound-vs-single --config experiments/cifar10/table3_resnet50.py \
        --name cifar10_table3_resnet50_gpu --limit-train 50000 --epochs 30 --seeds 5

Expected wall time: see results/RUNS.md (measured on 2 CPU cores).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    train = proxies.cifar10(network=proxies.RESNET50_CIFAR10)
    return SweepConfig(
        study=StudyConfig(name="cifar10_table3_resnet50", results_dir="results", train=train, seeds=2),
        sweep="compound-vs-single", phi="0,2", alpha=1.2, beta=1.1, gamma=1.15)
