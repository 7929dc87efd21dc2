"""Fig. 3 (middle) on one GPU: B0 scaled by depth alone, d in {1, 2, 4, 6, 8}, 3 seeds, trained on all
45,000 CIFAR-10 training images (5,000 held out as minival) for EPOCHS epochs: the CPU study
``sweep_depth.py`` with 5x the images and EPOCHS / 5 x the epochs, to test its verdict ("depth gives
no gain at this budget") at a larger one. Run by hand it trains EPOCHS epochs;
``benchmarks/gpu_study.py`` runs the largest of its ``EPOCH_CHOICES`` that its probe predicts to fit
the device time lent, and EPOCHS names that count once the study is committed.

    scaling sweep depth --config experiments/cifar10/sweep_depth_h200.py --workers 3
    scaling plot cifar10_depth_h200

Made for an NVIDIA H200 and ``benchmarks/gpu_study.py`` (its docstring has the preparation and the
launch; not run yet: the one session lent a GPU found loans paused): bf16 (the ``auto`` dtype on a
GPU), the ``proxy`` recipe at its CPU-calibrated step (not recalibrated at this budget), images
decoded with Pillow (no TensorFlow on that machine).
"""

from scaling import proxies
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig

EPOCHS = 10


def get_config() -> SweepConfig:
    return SweepConfig(
        study=StudyConfig(name="cifar10_depth_h200", results_dir="results",
                          train=proxies.cifar10(limit_train=50_000, epochs=EPOCHS), seeds=3),
        sweep="depth",
        values="1,2,4,6,8",
    )
