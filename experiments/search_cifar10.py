"""Step 1 on CIFAR-10 (research scale): the paper's full grid, 2 seeds, 15 epochs a run.

    scaling search --config experiments/search_cifar10.py --dry-run      # 40 networks, 80 runs
    scaling search --config experiments/search_cifar10.py                 # one worker; rerun to resume
    scaling search --config experiments/search_cifar10.py --storage postgresql://user@host/db   # each machine
    scaling scale-up --from-study search_cifar10 --phi 0:4 --train

Data: ``folder:../shared/datasets/cifar10`` (JPEG export, 50k train / 10k test, run from the
repository root); ``--dataset tfds:cifar10`` reads the TFDS copy instead.

Expected wall time (estimates, not measured): 10-20 min a run on one modern GPU, so about a day
for the 80 runs on one GPU (split it across GPUs with one worker process each and a PostgreSQL
storage); impractical on 2 CPU cores (several hours a run).

Baseline: B0 at depth 0.5, width 0.5 and 32 px, output stride 16. The grid is the paper's reading of step 1:
alpha, beta, gamma in 1.00-1.40 by 0.05 with |alpha beta^2 gamma^2 - 2| <= 0.1.
"""

from scaling import proxies
from scaling.network import Network
from scaling.search import SearchConfig
from scaling.study import StudyConfig


def get_config() -> SearchConfig:
    network = Network(depth=0.5, width=0.5, base_resolution=32, output_stride=16)
    train = proxies.cifar10(network=network, limit_train=None, epochs=15, batch_size=128)
    return SearchConfig(study=StudyConfig(name="search_cifar10", results_dir="results", seeds=2, train=train),
                        alpha="1:1.4:0.05", beta="1:1.4:0.05", gamma="1:1.4:0.05")
