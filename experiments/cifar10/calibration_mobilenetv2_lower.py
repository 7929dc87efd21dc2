"""Calibration of Table 3's MobileNetV2 step, continued below ``calibration_mobilenetv2.py``'s grid.

    scaling calibrate --config experiments/cifar10/calibration_mobilenetv2_lower.py
    scaling calibrate --config experiments/cifar10/calibration_mobilenetv2_lower.py --dry-run
    scaling plot cifar10_calibration_mobilenetv2_lower

``calibration_mobilenetv2.py`` found its lowest factor, 0.125 (0.1 per 256 images), best for both
networks, at the edge of its grid. The same two networks (the proxy-sized MobileNetV2 baseline and
its phi = 2 compound network d 1.44, w 1.21, r 1.3225), the same recipe, budget and 2 seeds, at the
recipe's learning rate x {0.03125, 0.0625}: 8 runs. Read the two studies together (results/README.md);
the best factor of the pair goes into ``table3_mobilenetv2.py``.

On one GPU, at Table 3's larger budget (its docstring)::

    scaling calibrate --config experiments/cifar10/calibration_mobilenetv2_lower.py \
        --study cifar10_calibration_mobilenetv2_lower_gpu --limit-train 50000 --epochs 30

Expected wall time: measured on 2 CPU cores, see results/README.md.
"""

from scaling import proxies
from scaling.calibration import CalibrationConfig
from scaling.rules import Network
from scaling.study import StudyConfig


def get_config() -> CalibrationConfig:
    network = Network(baseline="mobilenetv2", depth=0.25, width=0.25, base_resolution=32, output_stride=16)
    return CalibrationConfig(
        study=StudyConfig(name="cifar10_calibration_mobilenetv2_lower", train=proxies.cifar10(network=network),
                          seeds=2),
        networks="1/1/1,1.44/1.21/1.3225",
        lr_factors="0.03125,0.0625",
        tolerance=1.0,
    )
