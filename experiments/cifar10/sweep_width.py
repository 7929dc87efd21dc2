"""Fig. 3 (left) on CIFAR-10: B0 scaled by width alone, w in {1, 1.4, 1.8, 2.2, 2.6} (1.0-4.0x MACs), 3 seeds.

    scaling sweep width --config experiments/cifar10/sweep_width.py
    scaling sweep width --config experiments/cifar10/sweep_width.py --dry-run
    scaling plot cifar10_width

Proxy: ``scaling.proxies.cifar10`` (its docstring has the network, data and budget), calibrated
in ``results/cifar10_calibration``; run from the repository root.

On one GPU: all 50,000 training images, 30 epochs, 5 seeds, as a study of its own (calibrate
the step at that budget first: ``experiments/cifar10/calibration.py`` with the same flags)::

    scaling sweep width --config experiments/cifar10/sweep_width.py \
        --name cifar10_width_gpu --limit-train 50000 --epochs 30 --seeds 5

Expected wall time: see results/RUNS.md (measured on 2 CPU cores).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="cifar10_width", results_dir="results", train=proxies.cifar10(), seeds=3),
        sweep="width",
        values="1,1.4,1.8,2.2,2.6",
    )
