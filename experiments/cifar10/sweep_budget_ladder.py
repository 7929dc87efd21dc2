"""Does Fig. 8's answer hold at a bigger budget? Its five phi = 2 networks at equal MACs (baseline,
d 5.34, w 2.23, r 1.67, compound 1.44 / 1.21 / 1.32), seeds 0-2, at 1x, 2x and 4x the proxy's 5 epochs
on its 9,000 images, and one arm at 1x on all 45,000 training images (5x the steps).

    scaling sweep compound-vs-single --config experiments/cifar10/sweep_budget_ladder.py --workers 2
    scaling sweep compound-vs-single --config experiments/cifar10/sweep_budget_ladder.py --dry-run
    scaling fidelity cifar10_budget_ladder

Every run has its own full schedule (warm-up, then cosine over its own epochs). The queue runs seed
by seed, the 45,000-image arm last: a study cut short holds whole seeds at every epoch budget.
The 1x runs have the config of ``results/cifar10_compound_vs_single``'s and repeat its numbers.
Proxy: ``scaling.proxies.cifar10``; run from the repository root.
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="cifar10_budget_ladder", results_dir="results", train=proxies.cifar10(), seeds=3,
                          budgets="1,2,4,1@all"),
        sweep="compound-vs-single",
        phi="0,2",
        alpha=1.2,
        beta=1.1,
        gamma=1.15,
    )
