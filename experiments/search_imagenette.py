"""Step 1 on Imagenette (10 ImageNet classes, research scale): 15 networks at 128 px, 30 epochs.

    scaling search --config experiments/search_imagenette.py --dry-run
    scaling search --config experiments/search_imagenette.py --workers 2      # e.g. two GPUs:
        # give each worker process its own GPU by running one command per GPU with CUDA_VISIBLE_DEVICES
    scaling scale-up --from-study search_imagenette --phi 0:3 --train

Data: ``folder:../shared/datasets/imagenette`` (the offline copy: 9,469 train / 3,925 test JPEGs at
224 px), decoded once at 160 px and kept in memory (``image_size``); ``--dataset tfds:imagenette``
reads TFDS's copy (downloaded on first use).

Expected wall time (estimates, not measured): 30-60 min a run on one modern GPU, so 5-10 h for the
grid on one GPU; not practical on CPU.

Baseline: B0 (depth 1, width 1) at 128 px. Grid: alpha 1-1.4 and beta 1-1.3 by 0.1, gamma in
{1, 1.1, 1.15, 1.2, 1.3}, |alpha beta^2 gamma^2 - 2| <= 0.1, the paper's (1.2, 1.1, 1.15) among them.
"""

from scaling import proxies
from scaling.network import Network
from scaling.search import SearchConfig
from scaling.study import StudyConfig
from scaling.train import TrainConfig


def get_config() -> SearchConfig:
    train = TrainConfig(network=Network(base_resolution=128), dataset=proxies.IMAGENETTE, image_size=160,
                        epochs=30, batch_size=128, recipe="proxy")
    return SearchConfig(study=StudyConfig(name="search_imagenette", results_dir="results", train=train),
                        alpha="1:1.4:0.1", beta="1:1.3:0.1", gamma="1,1.1,1.15,1.2,1.3")
