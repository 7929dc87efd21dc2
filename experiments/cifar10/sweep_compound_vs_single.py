"""Fig. 8 (and Fig. 7's networks) on CIFAR-10: width-, depth-, resolution-only and compound
scaling at equal MACs, phi = 0..2, with the paper's alpha, beta, gamma = 1.2, 1.1, 1.15, 3 seeds.

    scaling sweep compound-vs-single --config experiments/cifar10/sweep_compound_vs_single.py
    scaling sweep compound-vs-single --config experiments/cifar10/sweep_compound_vs_single.py --dry-run
    scaling plot cifar10_compound_vs_single

9 networks (the baseline is shared by the four lines). ``--from-study STUDY`` takes alpha, beta,
gamma from a finished grid search instead (the proxy's own coefficients).
Proxy: ``scaling.proxies.cifar10`` (its docstring has the network, data and budget), calibrated
in ``results/cifar10_calibration``; run from the repository root.

On one GPU: all 50,000 training images, 30 epochs, 5 seeds, as a study of its own (calibrate
the step at that budget first: ``experiments/cifar10/calibration.py`` with the same flags)::

    scaling sweep compound-vs-single --config experiments/cifar10/sweep_compound_vs_single.py \
        --name cifar10_compound_vs_single_gpu --limit-train 50000 --epochs 30 --seeds 5

Expected wall time: see results/RUNS.md (measured on 2 CPU cores).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="cifar10_compound_vs_single", results_dir="results", train=proxies.cifar10(), seeds=3),
        sweep="compound-vs-single",
        phi="0:2",
        alpha=1.2,
        beta=1.1,
        gamma=1.15,
    )
