"""Fig. 4 on CIFAR-10: width scaling of the baselines (d, r) in {(1, 1), (1, 1.3), (2, 1), (2, 1.3)}.

    scaling sweep width-baselines --config experiments/cifar10/sweep_width_baselines.py --workers 2
    scaling plot cifar10_width_baselines
    scaling sweep width-baselines --config experiments/cifar10/sweep_width_baselines.py --dry-run

Proxy: ``scaling.proxies.cifar10`` (its docstring has the network, data and budget); run from the
repository root. With a GPU, raise ``--limit-train``/``--limit-test``/``--epochs`` under a new ``--study``.
Widths 1 and 2.6 only (two of Fig. 3's six) to fit the CPU budget: 8 networks.

Expected wall time: see results/README.md (measured on this run's 2 CPU cores).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="cifar10_width_baselines", train=proxies.cifar10()),
        sweep="width-baselines",
        values="1,2.6",
    )
