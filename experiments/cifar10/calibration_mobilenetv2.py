"""Calibration of the ``proxy`` recipe's learning rate for Table 3's MobileNetV2 on CIFAR-10.

    scaling calibrate --config experiments/cifar10/calibration_mobilenetv2.py
    scaling calibrate --config experiments/cifar10/calibration_mobilenetv2.py --dry-run
    scaling plot cifar10_calibration_mobilenetv2

At the recipe's own step (0.8 per 256 images, calibrated on B0) the proxy-sized MobileNetV2 of
``table3_mobilenetv2.py`` does not train (a first run: baseline test top-1 24.7 and 14.3%, epoch 1's
loss above chance's). Here its baseline (depth 0.25, width 0.25, 32 px, output stride 16) and its
phi = 2 compound network (d 1.44, w 1.21, r 1.3225: the largest of Table 3's networks) each train at
the recipe's learning rate x {0.125, 0.25, 0.5, 1}, 2 seeds: 16 runs. The factor that suits both
goes into ``table3_mobilenetv2.py``.

On one GPU, at Table 3's larger budget (its docstring), before running it::

    scaling calibrate --config experiments/cifar10/calibration_mobilenetv2.py \
        --name cifar10_calibration_mobilenetv2_gpu --limit-train 50000 --epochs 30

Expected wall time: measured on 2 CPU cores, see results/README.md.
"""

from scaling import proxies
from scaling.calibration import CalibrationConfig
from scaling.study import StudyConfig


def get_config() -> CalibrationConfig:
    train = proxies.cifar10(network=proxies.MOBILENETV2_CIFAR10)
    return CalibrationConfig(
        study=StudyConfig(name="cifar10_calibration_mobilenetv2", results_dir="results", train=train, seeds=2),
        networks="1/1/1,1.44/1.21/1.3225",
        lr_factors="0.125,0.25,0.5,1",
        tolerance=1.0,
    )
