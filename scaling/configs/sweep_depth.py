"""Fig. 3 (depth) on `digits`: B0 scaled by depth alone over the paper's values, 3 epochs a run.

    scaling sweep depth                               # this file is the default for the name
    scaling sweep depth --dry-run                     # the networks, their MACs and MAC ratios
    scaling sweep depth --seeds 3 --name sweep_depth_s3   # error bars (another definition: its own study)
    scaling sweep depth --baseline resnet50           # Table 3: study sweep_depth-resnet50
    scaling plot sweep_depth                          # redraw the figure from the table

Wall time: benchmarks/RESULTS.md, "Packaged experiments: wall times".

Baseline: B0 at depth 0.25, width 0.5 and 16 px (``scaling.proxies.digits``; pass ``--depth 1
--width 1 --base-resolution 224 --dataset tfds:imagenet2012`` for the paper's setting).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    return SweepConfig(study=StudyConfig(name="sweep_depth", train=proxies.digits()), sweep="depth")
