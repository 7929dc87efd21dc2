"""Table 3, MobileNetV2 rows, on CIFAR-10: a proxy-sized MobileNetV2 scaled by width, depth,
resolution and compound (alpha, beta, gamma = 1.2, 1.1, 1.15) at phi = 2, matched on real MACs, 2 seeds.

    scaling sweep compound-vs-single --config experiments/cifar10/table3_mobilenetv2.py --dry-run
    scaling sweep compound-vs-single --config experiments/cifar10/table3_mobilenetv2.py
    scaling plot cifar10_table3_mobilenetv2

MobileNetV2 at depth 0.25 and width 0.25 (7 inverted-residual blocks, 171,178 parameters, 1.86
MMACs at 32 px, output stride 16, ReLU6) on the CIFAR-10 proxy's data, recipe and budget
(``scaling.proxies.cifar10``) at an eighth of the recipe's step (0.1 per 256 images, the best of
the factors 1/32 to 1 in ``calibration_mobilenetv2.py`` and ``calibration_mobilenetv2_lower.py``
for both the baseline and the phi = 2 compound network; at the recipe's own 0.8 the baseline ends
at 23%); 5 networks (the baseline and four at about 3.6x its MACs), 10 runs.
The paper scales MobileNetV2 to about 4x (0.3B -> 1.1-1.3B FLOPs) and gives no (d, w, r) for its
compound row, so the B0 coefficients are used here.

On one GPU: all 50,000 training images, 30 epochs, 5 seeds, as a study of its own (calibrate
the step at that budget first: ``experiments/cifar10/calibration_mobilenetv2.py`` with the same
flags, then set ``lr`` here)::

    scaling sweep compound-vs-single --config experiments/cifar10/table3_mobilenetv2.py \
        --name cifar10_table3_mobilenetv2_gpu --limit-train 50000 --epochs 30 --seeds 5

Expected wall time: see results/RUNS.md (measured on 2 CPU cores).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    train = proxies.cifar10(network=proxies.MOBILENETV2_CIFAR10, lr=0.1)
    return SweepConfig(
        study=StudyConfig(name="cifar10_table3_mobilenetv2", results_dir="results", train=train, seeds=2),
        sweep="compound-vs-single", phi="0,2", alpha=1.2, beta=1.1, gamma=1.15)
