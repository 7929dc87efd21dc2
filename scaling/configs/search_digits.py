"""Step 1 on `digits`, small enough for a laptop: 4 candidate networks, 8 epochs each.

    scaling search                                  # this file is the default
    scaling search --seeds 3                        # 12 runs: winner on the seed mean, noise reported
    scaling search --dry-run                        # the candidate table only

Wall time: benchmarks/RESULTS.md, "Packaged experiments: wall times".
Minival top-1: 97, 92, 91 and 90% for the four candidates at seed 0.

Baseline: B0 at depth 0.25, width 0.5 and 16 px (7 blocks, 0.42 M params, 0.55 M MACs), so that
alpha, beta and gamma all change the rounded network. The grid is small on purpose: the feasible
points of {1, 1.2, 1.4} x {1, 1.1, 1.2} x {1, 1.15, 1.4} under |alpha beta^2 gamma^2 - 2| <= 0.1
are depth+width (1.4, 1.2, 1), width+resolution (1, 1.2, 1.15), resolution only (1, 1, 1.4) and
the paper's (1.2, 1.1, 1.15).
"""

from scaling import proxies
from scaling.search import SearchConfig
from scaling.study import StudyConfig


def get_config() -> SearchConfig:
    return SearchConfig(
        study=StudyConfig(name="search_digits", train=proxies.digits(epochs=8, batch_size=32)),
        alpha="1,1.2,1.4",
        beta="1,1.1,1.2",
        gamma="1,1.15,1.4",
    )
