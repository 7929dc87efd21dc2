"""Scaling strategies at equal cost on `digits`: compound (the paper's alpha, beta, gamma), Dollar et
al.'s dWr (fast compound scaling), and depth, width or resolution alone, each at s = 1, 2, 4 times the
baseline's MACs, each network matched on its real (rounded) MACs.

    scaling strategies                                  # the registered strategies
    scaling sweep strategies --dry-run                  # the matched networks and their real MAC ratios
    scaling sweep strategies
    scaling sweep strategies --strategies compound,dwr --costs 1,2 --name sweep_strategies_two
    scaling plot sweep_strategies

Every strategy starts from the baseline (s = 1), trained once: 1 + 5 x 2 = 11 networks. Baseline: B0
at depth 0.25 and width 0.5 as in ``scaling.proxies.digits``.
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(study=StudyConfig(name="sweep_strategies", train=proxies.digits()), sweep="strategies",
                       costs="1,2,4", alpha=1.2, beta=1.1, gamma=1.15)
