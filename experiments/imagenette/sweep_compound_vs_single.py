"""Fig. 8 and Fig. 7's networks on Imagenette: width-, depth-, resolution-only and compound scaling
at equal MACs, phi = 0..2, alpha, beta, gamma = 1.2, 1.1, 1.15, 3 seeds; then the CAMs.

    scaling sweep compound-vs-single --config experiments/imagenette/sweep_compound_vs_single.py
    scaling cam --studies imagenette_compound_vs_single --images 16
    scaling plot imagenette_compound_vs_single

Proxy: ``scaling.proxies.imagenette`` (64 px base, output stride 16: the last map is 4x4 for the
baseline and larger for the higher-resolution networks, so the CAMs have at least 4x4 cells);
run from the repository root.

Expected wall time: see results/README.md (measured on 2 CPU cores).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="imagenette_compound_vs_single", train=proxies.imagenette(), seeds=3),
        sweep="compound-vs-single",
        phi="0:2",
        alpha=1.2,
        beta=1.1,
        gamma=1.15,
    )
