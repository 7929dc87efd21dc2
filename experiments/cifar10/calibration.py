"""Calibration of the ``proxy`` recipe on CIFAR-10: does its learning rate suit every network?

    scaling calibrate --config experiments/cifar10/calibration.py
    scaling calibrate --config experiments/cifar10/calibration.py --dry-run
    scaling plot cifar10_calibration

The baseline (``scaling.proxies.cifar10``: B0 at d 0.25, w 0.25, 32 px, output stride 16) and the
largest width-, depth- and resolution-scaled networks of the CIFAR-10 sweeps (w 2.6, d 8, r 2:
4.0x, 3.8x and 4.0x the baseline's MACs), each at the recipe's learning rate x {0.5, 1, 2}, 2 seeds: 24 runs.
The verdict (``results/cifar10_calibration/summary.json``, ``results/README.md``): per network,
the factor with the best mean test top-1 and whether factor 1 is within 1 point of it.

On one GPU, at the sweeps' larger budget (their docstrings), before running them::

    scaling calibrate --config experiments/cifar10/calibration.py --name cifar10_calibration_gpu \
        --limit-train 50000 --epochs 30

Expected wall time: measured on 2 CPU cores, see results/README.md (about 1.6 h of runs; the
baseline alone takes about 80 s a run, depth 8 about 300-400 s).
"""

from scaling import proxies
from scaling.calibration import CalibrationConfig
from scaling.study import StudyConfig


def get_config() -> CalibrationConfig:
    return CalibrationConfig(
        study=StudyConfig(name="cifar10_calibration", results_dir="results", train=proxies.cifar10(), seeds=2),
        networks="1/1/1,1/2.6/1,8/1/1,1/1/2",
        lr_factors="0.5,1,2",
        tolerance=1.0,
    )
