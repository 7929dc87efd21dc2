"""Fig. 8 on CIFAR-10 with the proxy's own coefficients: the winner of the CIFAR-10 grid search
(``results/cifar10_search``) against width-, depth- and resolution-only scaling at equal MACs,
phi = 0..2, 3 seeds. Run after the search:

    scaling search --config experiments/cifar10/search.py
    scaling sweep compound-vs-single --config experiments/cifar10/sweep_compound_vs_single_searched.py --dry-run
    scaling sweep compound-vs-single --config experiments/cifar10/sweep_compound_vs_single_searched.py
    scaling plot cifar10_compound_vs_single_searched

The paper's coefficients on the same proxy: ``sweep_compound_vs_single.py``; runs both studies share
(the baseline, and any single-dimension network that rounds the same) are copied, not trained again.
Proxy: ``scaling.proxies.cifar10``; run from the repository root.

On one GPU, after the search on the same budget (``search.py``'s docstring), all 50,000 training
images, 30 epochs, 5 seeds::

    scaling sweep compound-vs-single --config experiments/cifar10/sweep_compound_vs_single_searched.py \
        --name cifar10_compound_vs_single_searched_gpu --from-study cifar10_search_gpu \
        --limit-train 50000 --epochs 30 --seeds 5

Expected wall time: see results/RUNS.md (measured on 2 CPU cores).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="cifar10_compound_vs_single_searched", results_dir="results", train=proxies.cifar10(),
                          seeds=3),
        sweep="compound-vs-single",
        phi="0:2",
        from_study="cifar10_search",
    )
