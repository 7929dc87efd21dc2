"""Fig. 4 on `digits`: width scaling of four baselines (d, r) in {(1, 1), (1, 1.3), (2, 1), (2, 1.3)}.

    scaling sweep width-baselines                     # 24 networks: the Fig. 3 widths on each baseline
    scaling sweep width-baselines --dry-run
    scaling sweep width-baselines --values 1,1.8,3.8 --study sweep_width_baselines_3   # 12 networks
    scaling plot sweep_width_baselines

Expected wall time: measured on 2 CPU cores shared 3-4 ways: 2.7 min for the w = 1 run and
3.3 min for w = 5 (20-40 s of each is XLA compilation), so 15-20 min for the 6 runs; about half
on an idle 2-core CPU, and 2-5 min on one GPU (estimates)._baselines

The paper does not list Fig. 4's widths; the default is Fig. 3's (1, 1.4, 1.8, 2.6, 3.8, 5). Baseline:
B0 at depth 0.25, width 0.5 and 16 px, as in experiments/search_digits.py, so (d, r) = (2, 1.3) is
B0 at depth 0.5 and 21 px.
"""

from scaling.sweeps import SweepConfig
from scaling.train import TrainConfig


def get_config() -> SweepConfig:
    return SweepConfig(
        study="sweep_width_baselines",
        sweep="width-baselines",
        baselines="1/1,1/1.3,2/1,2/1.3",
        depth0=0.25,
        width0=0.5,
        train=TrainConfig(dataset="digits", base_resolution=16, epochs=3, batch_size=64, recipe="proxy"),
    )
