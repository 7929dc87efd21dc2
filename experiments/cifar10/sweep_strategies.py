"""Scaling strategies at equal cost on CIFAR-10: compound (the paper's 1.2/1.1/1.15), Dollar et al.'s
fast dWr (e_d = e_r = 0.1, e_w = 0.8), width, depth and resolution alone, each at s = 2 and 4 times
the baseline's MACs, 3 seeds. Real MACs matched (``match_macs``): where a strategy's path jumps over
s, the pixels and then the width move, so the depth line at s = 4 is d 8 at w 1.09 and the compound
and dWr s = 2 networks gain pixels; width at s = 2 cannot be matched (1.935x, channels round to 8).

    scaling sweep strategies --config experiments/cifar10/sweep_strategies.py
    scaling sweep strategies --config experiments/cifar10/sweep_strategies.py --dry-run
    scaling plot cifar10_strategies
    scaling compare cifar10_strategies --margin 2.5 compound_s2 dwr_s2 ...

11 networks (the baseline, s = 1, is shared by the five lines). No compound arm with the
response-surface estimate: neither committed search's surface has an interior optimum
(``results/cifar10_search``, ``results/cifar10_search_matched``: saddles), so there is no estimate
to scale with. Proxy: ``scaling.proxies.cifar10`` (its docstring has the network, data and budget).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="cifar10_strategies", results_dir="results", train=proxies.cifar10(), seeds=3),
        sweep="strategies",
        strategies=("compound", "dwr", "width", "depth", "resolution"),
        costs="1,2,4",
        match_macs=0.03,
        alpha=1.2,
        beta=1.1,
        gamma=1.15,
    )
