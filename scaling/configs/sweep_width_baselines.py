"""Fig. 4 on `digits`: width scaling of four baselines (d, r) in {(1, 1), (1, 1.3), (2, 1), (2, 1.3)}.

    scaling sweep width-baselines                     # 24 networks: the Fig. 3 widths on each baseline
    scaling sweep width-baselines --dry-run
    scaling sweep width-baselines --values 1,1.8,3.8 --name sweep_width_baselines_3   # 12 networks
    scaling plot sweep_width_baselines

Wall time: benchmarks/RESULTS.md, "Packaged experiments: wall times".

The paper does not list Fig. 4's widths; the default is Fig. 3's (1, 1.4, 1.8, 2.6, 3.8, 5). Baseline:
B0 at depth 0.25, width 0.5 and 16 px (``scaling.proxies.digits``), so (d, r) = (2, 1.3) is B0 at
depth 0.5 and 21 px.
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(study=StudyConfig(name="sweep_width_baselines", train=proxies.digits()),
                       sweep="width-baselines", baselines="1/1,1/1.3,2/1,2/1.3")
