"""Calibration of Table 3's MobileNetV2 step, continued below ``calibration_mobilenetv2.py``'s grid.

    scaling calibrate --config experiments/cifar10/calibration_mobilenetv2_lower.py
    scaling calibrate --config experiments/cifar10/calibration_mobilenetv2_lower.py --dry-run
    scaling plot cifar10_calibration_mobilenetv2_lower

``calibration_mobilenetv2.py`` found its lowest factor, 0.125 (0.1 per 256 images), best for both
networks, at the edge of its grid. This is that file's config with other factors: the same two
networks (the proxy-sized MobileNetV2 baseline and its phi = 2 compound network d 1.44, w 1.21,
r 1.3225), the same recipe, budget and 2 seeds, at the recipe's learning rate x {0.03125, 0.0625}:
8 runs. Read the two studies together (results/README.md); the best factor of the pair goes into
``table3_mobilenetv2.py``.

On one GPU, at Table 3's larger budget (its docstring)::

    scaling calibrate --config experiments/cifar10/calibration_mobilenetv2_lower.py \
        --name cifar10_calibration_mobilenetv2_lower_gpu --limit-train 50000 --epochs 30

Expected wall time: measured on 2 CPU cores, see results/README.md.
"""

import dataclasses
import pathlib

from scaling.calibration import CalibrationConfig, load_config


def get_config() -> CalibrationConfig:
    first = load_config(str(pathlib.Path(__file__).with_name("calibration_mobilenetv2.py")))
    study = dataclasses.replace(first.study, name="cifar10_calibration_mobilenetv2_lower")
    return dataclasses.replace(first, study=study, lr_factors="0.03125,0.0625")
