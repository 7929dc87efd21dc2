"""Fig. 3 (right) on CIFAR-10, for comparison with Imagenette's: B0 scaled by resolution alone,
r in {1, 1.25, 1.5, 1.75, 2} (32-64 px, 1.0-4.0x MACs), 3 seeds. The 32 px images are upsampled:
no new pixels (``experiments/imagenette/sweep_resolution.py`` has real ones).

    scaling sweep resolution --config experiments/cifar10/sweep_resolution.py
    scaling sweep resolution --config experiments/cifar10/sweep_resolution.py --dry-run
    scaling plot cifar10_resolution

Proxy: ``scaling.proxies.cifar10`` (its docstring has the network, data and budget), calibrated
in ``results/cifar10_calibration``; run from the repository root.

On one GPU: all 50,000 training images, 30 epochs, 5 seeds, as a study of its own (calibrate
the step at that budget first: ``experiments/cifar10/calibration.py`` with the same flags)::

    scaling sweep resolution --config experiments/cifar10/sweep_resolution.py \
        --name cifar10_resolution_gpu --limit-train 50000 --epochs 30 --seeds 5

Expected wall time: see results/RUNS.md (measured on 2 CPU cores).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="cifar10_resolution", results_dir="results", train=proxies.cifar10(), seeds=3),
        sweep="resolution",
        values="1,1.25,1.5,1.75,2",
    )
