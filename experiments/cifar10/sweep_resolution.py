"""Fig. 3 (right) on CIFAR-10: B0 scaled by resolution alone, r in {1, 1.3, ..., 2.5} (32-80 px).

    scaling sweep resolution --config experiments/cifar10/sweep_resolution.py --workers 2
    scaling plot cifar10_resolution
    scaling sweep resolution --config experiments/cifar10/sweep_resolution.py --dry-run

Proxy: ``scaling.proxies.cifar10`` (its docstring has the network, data and budget); run from the
repository root. With a GPU, raise ``--limit-train``/``--limit-test``/``--epochs`` under a new ``--study``.

Expected wall time: see results/README.md (measured on this run's 2 CPU cores).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="cifar10_resolution", train=proxies.cifar10()),
        sweep="resolution",
    )
