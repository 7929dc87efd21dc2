"""Step 1 on `digits`, small enough for a laptop: 4 candidate networks, 8 epochs each.

    scaling search                                  # this file is the default
    scaling search --seeds 3                        # 12 runs: winner on the seed mean, noise reported
    scaling search --dry-run                        # the candidate table only

Expected wall time: 66 s measured on an idle 2-core CPU (Intel Xeon, 2026-12-05): 14-18 s a run,
7-10 s of it XLA compilation, which the persistent compilation cache saves for the second and third
seeds of a network (1-3 s) and for a later study with the same networks; one GPU about a minute
(estimate). Minival top-1: 97, 92, 91 and 90% for the four candidates at seed 0.

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
