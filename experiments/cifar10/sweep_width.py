"""Fig. 3 (left) on CIFAR-10: B0 scaled by width alone, w in {1, 1.4, 1.8, 2.6, 3.8, 5}.

    scaling sweep width --config experiments/cifar10/sweep_width.py --workers 2
    scaling plot cifar10_width
    scaling sweep width --config experiments/cifar10/sweep_width.py --dry-run

Proxy: ``scaling.proxies.cifar10`` (its docstring has the network, data and budget); run from the
repository root. With a GPU, raise ``--limit-train``/``--limit-test``/``--epochs`` under a new ``--study``.

Expected wall time: see results/README.md (measured on this run's 2 CPU cores).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="cifar10_width", train=proxies.cifar10()),
        sweep="width",
    )
