"""Training recipes: named sets of optimiser, schedule and regularisation knobs, and their Optax pieces.

A recipe fills every knob of a :class:`scaling.train.TrainConfig` left at ``None``; a config can
override any of them. The learning-rate schedule and the optimiser are built here from a resolved
config, so the training loop never decides a hyper-parameter.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

from scaling.config import ConfigError

#: Recipe "paper": the EfficientNet ImageNet recipe (paper sec. 5.2, tensorflow/tpu main.py); lr is
#: per 256 images and scales linearly with the batch.
#: Recipe "proxy": for budgets of a few epochs. Nesterov SGD at 0.8 per 256 images, scaled
#: linearly with the batch, half an epoch of linear warm-up and cosine decay (Goyal et al. 2017;
#: He et al. 2019, "Bag of tricks"); every residual block starts as the identity (zero-init of its
#: last BN scale, Goyal et al.; torchvision ``zero_init_residual``), so a deeper network starts as a
#: shallower one; the classifier starts at zero (big_vision's ``head_zeroinit``), so every network
#: starts at the uniform prediction (TF's U(+-1/sqrt(classes)) gives 10-class logits that grow with
#: the head's width, and cost width 2.6 its first epoch); label smoothing 0.1 and L2 5e-4 as in fast
#: CIFAR recipes (Page 2018, Jordan's airbench). No EMA, dropout or stochastic depth (they only slow
#: a short run); BN momentum 0.9, since 0.99 leaves the moving statistics half at their initial
#: values after 70 steps. The architecture is unchanged. Calibrated on the CIFAR-10 proxy
#: (results/cifar10_calibration, results/README.md): 0.8 is the best of 0.4/0.8/1.6 for the
#: baseline and for the width 2.6, depth 8 and resolution 2 networks (2 seeds each); at 1.6 seeds
#: spread by up to 12 points.
RECIPES: dict[str, dict[str, Any]] = {
    "paper": dict(optimizer="rmsprop", lr=0.016, lr_scaling="linear", warmup_epochs=5.0, schedule="exponential",
                  decay_rate=0.97, decay_epochs=2.4, weight_decay=1e-5, label_smoothing=0.1, ema_decay=0.9999,
                  drop_connect_rate=0.2, bn_momentum=0.99, zero_init_residual=False, zero_init_head=False),
    "proxy": dict(optimizer="sgd", lr=0.8, lr_scaling="linear", warmup_epochs=0.5, schedule="cosine",
                  decay_rate=0.0, decay_epochs=0.0, weight_decay=5e-4, label_smoothing=0.1, ema_decay=0.0,
                  drop_connect_rate=0.0, dropout_rate=0.0, bn_momentum=0.9, zero_init_residual=True,
                  zero_init_head=True),
}
OPTIMIZERS = ("rmsprop", "sgd", "adamw")
SCHEDULES = ("exponential", "cosine")


def resolve(config):
    """``config`` (a TrainConfig) with every recipe knob left at None filled in from its recipe."""
    if config.recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {config.recipe!r}; choose from {', '.join(RECIPES)}")
    fill = {k: v for k, v in RECIPES[config.recipe].items() if getattr(config, k) is None}
    cfg = dataclasses.replace(config, **fill)
    if cfg.optimizer not in OPTIMIZERS:
        raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {cfg.optimizer!r}")
    if cfg.schedule not in SCHEDULES:
        raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, got {cfg.schedule!r}")
    if cfg.lr_scaling not in ("linear", "none"):
        raise ConfigError(f"lr_scaling must be linear or none, got {cfg.lr_scaling!r}")
    return cfg


def knobs(config) -> dict[str, Any]:
    """The resolved value of every knob of ``config``'s recipe (what ``summary.json`` records: a
    recipe is code, and a study's results are only reproducible by the knobs it really trained with)."""
    cfg = resolve(config)
    return {k: getattr(cfg, k) for k in RECIPES[cfg.recipe]}


def learning_rate_schedule(cfg, steps_per_epoch: int, total_steps: int) -> optax.Schedule:
    """Linear warm-up, then exponential staircase (paper) or cosine decay."""
    peak = cfg.lr * cfg.batch_size / 256 if cfg.lr_scaling == "linear" else cfg.lr
    warmup = max(1, int(round(cfg.warmup_epochs * steps_per_epoch))) if cfg.warmup_epochs > 0 else 0
    if cfg.schedule == "cosine":
        decay = optax.cosine_decay_schedule(peak, max(1, total_steps - warmup))
        if warmup:
            return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), decay], [warmup])
        return decay
    # TF counts the exponential decay from step 0, not from the end of the warm-up, so
    # optax.join_schedules (which restarts the second schedule's count) would not match it.
    decay = optax.exponential_decay(peak, max(1, int(cfg.decay_epochs * steps_per_epoch)), cfg.decay_rate,
                                    staircase=True)
    if not warmup:
        return decay
    return lambda step: jnp.where(step < warmup, peak * step / warmup, decay(step))


def make_optimizer(cfg, schedule: optax.Schedule) -> optax.GradientTransformation:
    """The recipe's optimiser with L2 weight decay on kernels only (not BN, not biases).

    The optimiser's per-element maths runs on all weights as one flat vector (``optax.flatten``):
    B0 has ~200 weight arrays, each a separate small kernel otherwise (the step time it saves is in
    benchmarks/RESULTS.md). The decay stays outside, where the mask sees the weights' shapes.
    """
    decay_mask = lambda params: jax.tree.map(lambda p: p.ndim > 1, params)  # noqa: E731
    # add_decayed_weights adds wd * w to the gradient: the gradient of TF's wd * l2_loss(w).
    decay = optax.add_decayed_weights(cfg.weight_decay, mask=decay_mask)
    if cfg.optimizer == "adamw":
        # optax.adamw's own chain (Adam, decoupled decay, learning rate) with Adam flattened.
        return optax.chain(optax.flatten(optax.scale_by_adam()), decay, optax.scale_by_learning_rate(schedule))
    if cfg.optimizer == "rmsprop":
        # TF1 RMSProp: accumulator starts at 1, eps inside the sqrt.
        opt = optax.rmsprop(schedule, decay=0.9, eps=1e-3, initial_scale=1.0, momentum=0.9)
    else:
        opt = optax.sgd(schedule, momentum=0.9, nesterov=True)
    return optax.chain(decay, optax.flatten(opt))


#: Optimiser state per weight, in weights (the memory estimate): Adam's mu and nu, RMSProp's
#: accumulator and momentum, SGD's momentum.
OPTIMIZER_SLOTS = {"adamw": 2, "rmsprop": 2, "sgd": 1}
