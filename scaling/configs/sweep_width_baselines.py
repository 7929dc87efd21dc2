"""Fig. 4 on `digits`: width scaling of four baselines (d, r) in {(1, 1), (1, 1.3), (2, 1), (2, 1.3)}.

    scaling sweep width-baselines                     # 24 networks: the Fig. 3 widths on each baseline
    scaling sweep width-baselines --dry-run
    scaling sweep width-baselines --values 1,1.8,3.8 --study sweep_width_baselines_3   # 12 networks
    scaling plot sweep_width_baselines

Expected wall time: 350 s (6 min) for the 24 runs, measured on an idle 2-core CPU (Intel Xeon,
2026-12-05, an empty compilation cache): 9-17 s a run on the depth-1 baselines and 13-27 s on the
depth-2 ones, of which XLA compiles 6-7 and 10-12 s. Compilation is most of a run, so an
accelerator would shorten it less than its speed suggests (not measured).

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
