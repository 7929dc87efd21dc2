"""Fig. 8 (and Fig. 7's networks) on CIFAR-10: width-, depth-, resolution-only and compound
scaling at equal MACs, phi = 0..2, with the paper's alpha, beta, gamma = 1.2, 1.1, 1.15.

    scaling sweep compound-vs-single --config experiments/cifar10/sweep_compound_vs_single.py --workers 2
    scaling plot cifar10_compound_vs_single
    scaling sweep compound-vs-single --config experiments/cifar10/sweep_compound_vs_single.py --dry-run

Proxy: ``scaling.proxies.cifar10`` (its docstring has the network, data and budget); run from the
repository root. With a GPU, raise ``--limit-train``/``--limit-test``/``--epochs`` under a new ``--study``.
9 networks (the baseline is shared by the four lines). At 32 px the last feature map of the baseline
is 1x1 (stride 32) and that of the resolution-only (59 px) and compound (42 px) networks at phi = 2
is 2x2: the CAMs (``scaling cam``) are that coarse.

Expected wall time: see results/README.md (measured on this run's 2 CPU cores).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="cifar10_compound_vs_single", train=proxies.cifar10()),
        sweep="compound-vs-single",
        phi="0:2",
        alpha=1.2,
        beta=1.1,
        gamma=1.15,
    )
