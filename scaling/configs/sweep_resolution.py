"""Fig. 3 (resolution) on `digits`: B0 scaled by resolution alone over the paper's values, 3 epochs a run.

    scaling sweep resolution                               # this file is the default for the name
    scaling sweep resolution --dry-run                     # the networks, their MACs and MAC ratios
    scaling sweep resolution --seeds 3 --name sweep_resolution_s3   # error bars (another definition: its own study)
    scaling sweep resolution --baseline resnet50           # Table 3: study sweep_resolution-resnet50
    scaling plot sweep_resolution                          # redraw the figure from the table

Wall time: benchmarks/RESULTS.md, "Packaged experiments: wall times".

Baseline: B0 at depth 0.25, width 0.5 and 16 px (``scaling.proxies.digits``; pass ``--depth 1
--width 1 --base-resolution 224 --dataset tfds:imagenet2012`` for the paper's setting).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(study=StudyConfig(name="sweep_resolution", train=proxies.digits()), sweep="resolution")
