"""The config dataclasses of the commands: what an experiment file's ``get_config()`` returns.

:class:`TrainConfig` (one run), :class:`StudyConfig` (a study of runs), and the studies that hold
one: :class:`SearchConfig`, :class:`SweepConfig`, :class:`CalibrationConfig`. Each is re-exported
by the module that runs it (``scaling.train.TrainConfig``, ``scaling.study.StudyConfig``, ...).

Plain data on the standard library, apart from JAX, Optuna and TensorFlow, so that the ``scaling``
command builds its flags from these fields without starting them. The comment after a field is
its flag's help (:func:`scaling.config.field_help`).
"""

from __future__ import annotations

import dataclasses
import pathlib

from scaling import config, scaling_math
from scaling.network import Network


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run. ``None`` means "the recipe's value" for the recipe knobs."""

    network: Network = Network()
    # data
    dataset: str = "digits"  # digits, folder:PATH or tfds:NAME[/CONFIG][:VERSION] (scaling.data)
    data_dir: str | None = None  # TFDS's data directory; a relative folder:PATH is read from here
    minival_fraction: float = 0.1  # the part of the train split held out to score the runs
    split_seed: int = 0  # the seed of the train/minival split
    limit_train: int | None = None  # use only this many train images
    limit_test: int | None = None  # use only this many test images
    image_size: int | None = None  # natively large images: decode once at this size, keep in memory
    # budget
    epochs: int = 1  # passes over the train split
    steps_per_epoch: int | None = None  # cap an epoch's length (default: the whole train split)
    test_every_epoch: bool = False  # top-1 on the test split after every epoch (default: after the last only)
    batch_size: int = 128  # images a step, over all devices
    seed: int = 0  # the seed of the initial weights and of the data order
    # recipe ("paper" or "proxy", scaling.recipes) and its overridable knobs
    recipe: str = "proxy"  # "paper" or "proxy" (scaling.recipes): fills every knob left unset
    optimizer: str | None = None  # "rmsprop" | "sgd" | "adamw"
    lr: float | None = None  # peak learning rate (per 256 images when lr_scaling is "linear")
    lr_scaling: str | None = None  # "linear" (lr * batch / 256) or "none"
    warmup_epochs: float | None = None  # epochs of linear learning-rate warm-up
    schedule: str | None = None  # "exponential" (paper) | "cosine"
    decay_rate: float | None = None  # exponential schedule: the factor every decay_epochs
    decay_epochs: float | None = None  # exponential schedule: epochs between decays
    weight_decay: float | None = None  # L2 on the kernels
    label_smoothing: float | None = None  # of the cross-entropy's targets
    ema_decay: float | None = None  # the weight EMA's decay (0: no EMA)
    drop_connect_rate: float | None = None  # stochastic depth: the last block's drop rate
    dropout_rate: float | None = None  # before the classifier (default: the network's own; B0-B7: 0.2-0.5)
    bn_momentum: float | None = None  # of the batch norms' moving statistics
    zero_init_residual: bool | None = None  # every residual block starts as the identity
    zero_init_head: bool | None = None  # the classifier starts at 0: the uniform prediction
    activation: str | None = None  # default: the spec's own (swish; relu6 for MobileNetV2; relu for ResNet)
    # execution
    dtype: str = "auto"  # "auto": bf16 on GPU/TPU, fp32 on CPU
    depthwise_impl: str = "auto"  # how depthwise convolutions run ("auto": per platform; scaling.models.layers)
    unroll: bool = False  # unroll each stage's scanned blocks: slower to compile, faster to run (long runs)
    num_devices: int | None = None  # devices to train on (default: all local devices)
    compilation_cache: str | None = "default"  # XLA's compilation cache: a directory, "default" or None (off)
    quiet: bool = False  # no progress bar or per-epoch lines


#: Where a study's directory goes unless its config says otherwise: ignored by git, so nothing a user
#: runs writes into tracked files. The committed experiments (``experiments/``) set ``COMMITTED_DIR``.
RUNS_DIR = "runs"
COMMITTED_DIR = "results"


@dataclasses.dataclass
class StudyConfig(config.Lists):
    """Where a study lives, how its runs are shared, and the training config every run starts from.

    ``train.network`` is the study's baseline; each point scales it.
    """

    name: str = "study"  # the study's name: its directory in results_dir, its Optuna study
    results_dir: str = RUNS_DIR  # where the study's directory is (runs/ is ignored by git; experiments/ use results/)
    storage: str | None = None  # an RDB URL (postgresql://...) (default: a journal file in <results-dir>/<name>/)
    seeds: int = 1  # runs of each network, seeds 0..seeds-1
    max_retries: int = 2  # retries of a point whose worker died or raised
    heartbeat: float = 10.0  # seconds between heartbeats of a running trial
    grace: float = 120.0  # a heartbeat older than this marks the trial's worker as lost
    reuse: bool = True  # copy a finished run of the same config from another study in results_dir
    retry_failed: bool = False  # queue again the points that failed (diverged, out of memory, retries used up)
    budgets: tuple[str, ...] = ()  # every point at each: "2" x the epochs, "1@all" all images (default: one)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    @property
    def dir(self) -> pathlib.Path:
        return pathlib.Path(self.results_dir) / self.name


@dataclasses.dataclass
class SearchConfig(config.Lists):
    """Step 1: ``study.train.network`` (the baseline) scaled by d = alpha, w = beta, r = gamma for every
    (alpha, beta, gamma) of the grid with |alpha beta^2 gamma^2 - target| <= tol."""

    study: StudyConfig = dataclasses.field(default_factory=lambda: StudyConfig(name="search"))
    alpha: tuple[float, ...] = tuple(scaling_math.frange(1, 1.4, 0.05))  # as text a,b,c or start:stop:step
    beta: tuple[float, ...] = tuple(scaling_math.frange(1, 1.4, 0.05))  # as text a,b,c or start:stop:step
    gamma: tuple[float, ...] = tuple(scaling_math.frange(1, 1.4, 0.05))  # as text a,b,c or start:stop:step
    target: float = 2.0  # alpha * beta^2 * gamma^2
    tol: float = 0.1  # allowed |alpha * beta^2 * gamma^2 - target|
    match_macs: float = 0.0  # > 0: each candidate's real MACs within this fraction of target x the baseline's


@dataclasses.dataclass
class SweepConfig(config.Lists):
    """A sweep study: which sweep, its coefficients, and the study (storage, seeds, baseline, training)."""

    study: StudyConfig = dataclasses.field(default_factory=lambda: StudyConfig(name="sweep"))
    sweep: str = "width"  # the kind of sweep (scaling.sweeps.SWEEPS)
    values: tuple[float, ...] = ()  # the swept coefficient (width-baselines: the widths); default: the paper's Fig. 3
    baselines: tuple[tuple[float, ...], ...] = ((1, 1), (1, 1.3), (2, 1), (2, 1.3))  # width-baselines: (d, r) (Fig. 4)
    phi: tuple[float, ...] = (0, 1, 2, 3)  # compound-vs-single: the compound exponents (>= 0); as text 0:3 is 0..3
    alpha: float = 1.2  # compound-vs-single, strategies: the compound coefficients
    beta: float = 1.1  # compound-vs-single, strategies: the compound coefficients
    gamma: float = 1.15  # compound-vs-single, strategies: the compound coefficients
    from_study: str | None = None  # compound-vs-single, strategies: alpha, beta, gamma of this finished search
    strategies: tuple[str, ...] = ()  # strategies: names (scaling.strategies); default: every registered one
    costs: tuple[float, ...] = ()  # strategies: the cost multipliers s (of the baseline's MACs); default: 1, 2, 4
    match_macs: float = 0.0  # strategies, > 0: pixels (then width) moved to real MACs within this fraction of s x base


@dataclasses.dataclass
class CalibrationConfig(config.Lists):
    """Networks (``d/w/r`` multipliers of ``study.train.network``) times learning-rate factors."""

    study: StudyConfig = dataclasses.field(default_factory=lambda: StudyConfig(name="calibration"))
    networks: tuple[tuple[float, ...], ...] = ((1.0, 1.0, 1.0),)  # (d, w, r); as text 1/1/1,2/1/1
    lr_factors: tuple[float, ...] = (0.5, 1.0, 2.0)  # multiples of the recipe's learning rate
    tolerance: float = 1.0  # points of test top-1: "the recipe's choice is within this of the best"
