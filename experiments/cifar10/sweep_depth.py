"""Fig. 3 (middle) on CIFAR-10: B0 scaled by depth alone, d in {1, 2, 3, 4, 6, 8}.

    scaling sweep depth --config experiments/cifar10/sweep_depth.py --workers 2
    scaling plot cifar10_depth
    scaling sweep depth --config experiments/cifar10/sweep_depth.py --dry-run

Proxy: ``scaling.proxies.cifar10`` (its docstring has the network, data and budget); run from the
repository root. With a GPU, raise ``--limit-train``/``--limit-test``/``--epochs`` under a new ``--study``.

Expected wall time: see results/README.md (measured on this run's 2 CPU cores).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="cifar10_depth", train=proxies.cifar10()),
        sweep="depth",
    )
