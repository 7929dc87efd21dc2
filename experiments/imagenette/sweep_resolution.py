"""Fig. 3 (right) on Imagenette's real pixels: B0 scaled by resolution alone, r in {1, 1.25, 1.5,
1.75, 2} (64-128 px from images decoded once at 128 px: every point crops the same pixels), 3 seeds.

    scaling sweep resolution --config experiments/imagenette/sweep_resolution.py
    scaling sweep resolution --config experiments/imagenette/sweep_resolution.py --dry-run
    scaling plot imagenette_resolution

Proxy: ``scaling.proxies.imagenette`` (its docstring has the network, data, memory and budget);
run from the repository root.

On one GPU: 30 epochs and 5 seeds, as a study of its own::

    scaling sweep resolution --config experiments/imagenette/sweep_resolution.py \
        --name imagenette_resolution_gpu --epochs 30 --seeds 5

Expected wall time: see results/RUNS.md (measured on 2 CPU cores).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="imagenette_resolution", results_dir="results", train=proxies.imagenette(), seeds=3),
        sweep="resolution",
        values="1,1.25,1.5,1.75,2",
    )
