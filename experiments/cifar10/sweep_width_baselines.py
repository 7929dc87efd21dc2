"""Fig. 4 on CIFAR-10: widths {1, 1.4, 1.8, 2.6} of the baselines (d, r) in {(1, 1), (1, 1.3), (2, 1),
(2, 1.3)}, 3 seeds: 16 networks.

    scaling sweep width-baselines --config experiments/cifar10/sweep_width_baselines.py
    scaling sweep width-baselines --config experiments/cifar10/sweep_width_baselines.py --dry-run
    scaling plot cifar10_width_baselines

Proxy: ``scaling.proxies.cifar10`` (its docstring has the network, data and budget), calibrated
in ``results/cifar10_calibration``; run from the repository root.

On one GPU: all 50,000 training images, 30 epochs, 5 seeds, as a study of its own (calibrate
the step at that budget first: ``experiments/cifar10/calibration.py`` with the same flags)::

    scaling sweep width-baselines --config experiments/cifar10/sweep_width_baselines.py \
        --name cifar10_width_baselines_gpu --limit-train 50000 --epochs 30 --seeds 5

Expected wall time: see results/RUNS.md (measured on 2 CPU cores).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="cifar10_width_baselines", results_dir="results", train=proxies.cifar10(), seeds=3),
        sweep="width-baselines",
        values="1,1.4,1.8,2.6",
    )
