"""Fig. 3 (middle) on CIFAR-10: B0 scaled by depth alone, d in {1, 2, 4, 6, 8} (1.0-3.8x MACs), 3 seeds.

    scaling sweep depth --config experiments/cifar10/sweep_depth.py
    scaling sweep depth --config experiments/cifar10/sweep_depth.py --dry-run
    scaling plot cifar10_depth

Proxy: ``scaling.proxies.cifar10`` (its docstring has the network, data and budget), calibrated
in ``results/cifar10_calibration``; run from the repository root.

On one GPU: all 50,000 training images, 30 epochs, 5 seeds, as a study of its own (calibrate
the step at that budget first: ``experiments/cifar10/calibration.py`` with the same flags)::

    scaling sweep depth --config experiments/cifar10/sweep_depth.py \
        --name cifar10_depth_gpu --limit-train 50000 --epochs 30 --seeds 5

``sweep_depth_h200.py`` is this study at a budget sized for a lent H200 (``benchmarks/gpu_study.py``).

Expected wall time: see results/RUNS.md (measured on 2 CPU cores).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="cifar10_depth", results_dir="results", train=proxies.cifar10(), seeds=3),
        sweep="depth",
        values="1,2,4,6,8",
    )
