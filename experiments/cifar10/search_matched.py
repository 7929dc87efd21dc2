"""Step 1 on the CIFAR-10 proxy with every candidate at the same real cost: the grid of
``search.py`` (alpha, beta, gamma in 1:1.4:0.1, |alpha beta^2 gamma^2 - 2| <= 0.1), each candidate's
resolution (and, where that cannot, its width) set so its real MACs lie within 3% of 2x the
baseline's (``SearchConfig.match_macs``), 3 seeds.

    scaling search --config experiments/cifar10/search_matched.py --dry-run
    scaling search --config experiments/cifar10/search_matched.py --workers 2

Depth and width rounding leave the unmatched grid at 1.41-2.11x the baseline's MACs, and its
minival tracks the cost (``results/cifar10_search``): this study asks which shape wins at one cost.
Proxy: ``scaling.proxies.cifar10``; run from the repository root.
"""

from scaling import proxies
from scaling.search import SearchConfig
from scaling.study import StudyConfig


def get_config() -> SearchConfig:
    return SearchConfig(
        study=StudyConfig(name="cifar10_search_matched", results_dir="results", seeds=3, train=proxies.cifar10()),
        alpha="1:1.4:0.1", beta="1:1.4:0.1", gamma="1:1.4:0.1", tol=0.1, match_macs=0.03,
    )
