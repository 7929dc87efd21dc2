"""Step 1 on the CIFAR-10 proxy, at a size 2 CPU cores can run: a coarse constrained grid, 2 seeds.

    scaling search --config experiments/cifar10/search.py --dry-run
    scaling search --config experiments/cifar10/search.py
    scaling compare cifar10_search WINNER RUNNER_UP           # the margin against the seed noise

Proxy: ``scaling.proxies.cifar10`` (the calibrated recipe and layout; its docstring has the
budget). Grid: alpha, beta, gamma in 1.0-1.4 by 0.1 with |alpha beta^2 gamma^2 - 2| <= 0.1;
candidates that round to the same network are trained once. The paper's (1.2, 1.1, 1.15) is not on
this grid's step; ``--gamma 1,1.1,1.15,1.2,1.3,1.4`` adds it (another definition: give it its own
``--name``).

On one GPU: all 50,000 training images, 30 epochs, 3 seeds, as a study of its own (calibrate the
step at that budget first: ``calibration.py`` with the same flags)::

    scaling search --config experiments/cifar10/search.py --name cifar10_search_gpu --limit-train 50000 \
        --epochs 30 --seeds 3

Expected wall time: see results/RUNS.md (measured on 2 CPU cores).
"""

from scaling import proxies
from scaling.search import SearchConfig
from scaling.study import StudyConfig


def get_config() -> SearchConfig:
    return SearchConfig(
        study=StudyConfig(name="cifar10_search", results_dir="results", seeds=2, train=proxies.cifar10()),
        alpha="1:1.4:0.1", beta="1:1.4:0.1", gamma="1:1.4:0.1", tol=0.1,
    )
