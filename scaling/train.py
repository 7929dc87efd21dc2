"""Train and evaluate one scaled network: ``train_and_evaluate(config, workdir) -> metrics``.

One jitted, donated train step over all local devices (``jax.sharding``, a 'data' mesh axis);
Optax optimiser and schedules; per-epoch Orbax checkpoints, so rerunning the same config on the
same workdir resumes (and returns the stored result at once when the run had finished).

Files in ``workdir``: ``config.json``, ``metrics.jsonl`` (one line per epoch), ``result.json``
(final; ``status`` "ok" or "failed"), ``ckpt/``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import platform
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from scaling import checkpoint, cost, data, rules, runtime
from scaling.models import build_model


class TrainingDiverged(RuntimeError):
    """The loss became non-finite at ``step``."""

    def __init__(self, step: int, loss: float):
        super().__init__(f"training diverged at step {step}: loss {loss}")
        self.step, self.loss = step, loss


class ConfigError(ValueError):
    """A config that cannot run (one line)."""


# --------------------------------------------------------------------------------------------
# Config and recipes
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run. ``None`` means "the recipe's value" for the recipe knobs."""

    # data
    dataset: str = "digits"
    data_dir: str | None = None
    minival_fraction: float = 0.1
    split_seed: int = 0
    limit_train: int | None = None
    limit_test: int | None = None
    # network: a preset, or a baseline scaled by (depth, width, resolution) or (alpha, beta, gamma, phi)
    variant: str | None = "b0"
    baseline: str = "efficientnet-b0"  # or "mobilenetv2", "resnet50" (rules.BASELINES)
    depth: float | None = None
    width: float | None = None
    resolution: float | None = None
    alpha: float | None = None
    beta: float | None = None
    gamma: float | None = None
    phi: float | None = None
    base_resolution: int = rules.B0_RESOLUTION
    activation: str | None = None  # None: the baseline's own (swish; relu6 for MobileNetV2; relu for ResNet)
    # budget
    epochs: int = 1
    steps_per_epoch: int | None = None  # cap an epoch's length (default: the whole train split)
    batch_size: int = 128
    seed: int = 0
    # recipe ("paper" or "proxy") and its overridable knobs
    recipe: str = "proxy"
    optimizer: str | None = None  # "rmsprop" | "sgd" | "adamw"
    lr: float | None = None  # peak learning rate (per 256 images when lr_scaling is "linear")
    lr_scaling: str | None = None  # "linear" (lr * batch / 256) or "none"
    warmup_epochs: float | None = None
    schedule: str | None = None  # "exponential" (paper) | "cosine"
    decay_rate: float | None = None
    decay_epochs: float | None = None
    weight_decay: float | None = None
    label_smoothing: float | None = None
    ema_decay: float | None = None  # 0 disables the weight EMA
    drop_connect_rate: float | None = None
    dropout_rate: float | None = None  # None: the variant's (paper recipe)
    bn_momentum: float | None = None
    # execution
    dtype: str = "auto"  # "auto": bf16 on GPU/TPU, fp32 on CPU
    depthwise_impl: str = "auto"
    num_devices: int | None = None  # default: all local devices
    compilation_cache: str | None = "default"  # a directory, "default" or None (off)
    quiet: bool = False


#: Recipe "paper": the EfficientNet ImageNet recipe (paper sec. 5.2, tensorflow/tpu main.py); lr is
#: per 256 images and scales linearly with the batch.
#: Recipe "proxy": for budgets of a few epochs, where a network underfits. The paper's 5 warm-up
#: epochs and 0.9999 weight EMA do not fit there (the warm-up would eat the budget, the EMA would
#: barely leave the initialisation), and its regularisers (dropout, stochastic depth, label
#: smoothing) only slow convergence, so they are off; the architecture is unchanged. AdamW at a
#: fixed 0.01 (not scaled with the batch, as Adam's step size does not scale linearly) with one
#: warm-up epoch and cosine decay reached 92% minival on digits in 7 epochs where Nesterov SGD and
#: RMSProp were near 50%. BN momentum 0.9: with 0.99 the moving statistics would still be half
#: their initial values after 70 steps.
RECIPES: dict[str, dict[str, Any]] = {
    "paper": dict(optimizer="rmsprop", lr=0.016, lr_scaling="linear", warmup_epochs=5.0, schedule="exponential",
                  decay_rate=0.97, decay_epochs=2.4, weight_decay=1e-5, label_smoothing=0.1, ema_decay=0.9999,
                  drop_connect_rate=0.2, bn_momentum=0.99),
    "proxy": dict(optimizer="adamw", lr=0.01, lr_scaling="none", warmup_epochs=1.0, schedule="cosine",
                  decay_rate=0.0, decay_epochs=0.0, weight_decay=5e-5, label_smoothing=0.0, ema_decay=0.0,
                  drop_connect_rate=0.0, dropout_rate=0.0, bn_momentum=0.9),
}


def resolved(config: TrainConfig) -> TrainConfig:
    """``config`` with every recipe knob filled in."""
    if config.recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {config.recipe!r}; choose from {', '.join(RECIPES)}")
    fill = {k: v for k, v in RECIPES[config.recipe].items() if getattr(config, k) is None}
    return dataclasses.replace(config, **fill)


def network_spec(config: TrainConfig) -> rules.NetworkSpec | rules.ResNetSpec:
    """The spec a config names: (alpha..phi) > (depth, width, resolution) > variant (at base_resolution * r)."""
    kw = dict(base_resolution=config.base_resolution)
    abgp = (config.alpha, config.beta, config.gamma, config.phi)
    dwr = (config.depth, config.width, config.resolution)
    if any(v is not None for v in abgp):
        if any(v is None for v in abgp):
            raise ConfigError("alpha, beta, gamma and phi go together")
        for name, value in zip(("alpha", "beta", "gamma"), abgp, strict=False):
            if value < 1:
                raise rules.ScalingError(f"{name} must be >= 1, got {value}")
        spec = rules.baseline_spec(config.baseline, *rules.compound_coefficients(*abgp), **kw)
    elif any(v is not None for v in dwr):
        spec = rules.baseline_spec(config.baseline, *(1.0 if v is None else v for v in dwr), **kw)
    else:
        variant = config.variant or "b0"
        native = rules.PRESETS.get(variant.lower(), (0, 0, rules.B0_RESOLUTION, 0))[2]
        res = rules.round_resolution(config.base_resolution, native / rules.B0_RESOLUTION)
        spec = rules.preset_spec(variant, resolution=res)
    changes = {}
    if config.dropout_rate is not None:
        changes["dropout_rate"] = config.dropout_rate
    if config.drop_connect_rate is not None:
        changes["drop_connect_rate"] = config.drop_connect_rate
    return dataclasses.replace(spec, **changes)


def compute_dtype(config: TrainConfig):
    if config.dtype == "auto":
        return jnp.float32 if jax.default_backend() == "cpu" else jnp.bfloat16
    if config.dtype not in ("float32", "bfloat16"):
        raise ConfigError(f"dtype must be auto, float32 or bfloat16, got {config.dtype!r}")
    return jnp.dtype(config.dtype)


def enable_compilation_cache(path: str | None) -> None:
    """XLA's persistent compilation cache, so a rerun does not recompile (trusted, per user)."""
    if path is None:
        return
    if path == "default":
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "scaling", "jax")
    if jax.config.jax_compilation_cache_dir != path:
        from jax.experimental.compilation_cache import compilation_cache

        compilation_cache.reset_cache()  # else a cache already in use keeps its old directory
        jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


# --------------------------------------------------------------------------------------------
# Optimiser
# --------------------------------------------------------------------------------------------
def learning_rate_schedule(cfg: TrainConfig, steps_per_epoch: int, total_steps: int) -> optax.Schedule:
    """Linear warm-up, then exponential staircase (paper) or cosine decay."""
    if cfg.lr_scaling not in ("linear", "none"):
        raise ConfigError(f"lr_scaling must be linear or none, got {cfg.lr_scaling!r}")
    peak = cfg.lr * cfg.batch_size / 256 if cfg.lr_scaling == "linear" else cfg.lr
    warmup = max(1, int(round(cfg.warmup_epochs * steps_per_epoch))) if cfg.warmup_epochs > 0 else 0
    if cfg.schedule == "exponential":
        # TF counts the decay from step 0, not from the end of the warm-up, so optax.join_schedules
        # (which restarts the second schedule's count) would not match it.
        decay = optax.exponential_decay(peak, max(1, int(cfg.decay_epochs * steps_per_epoch)), cfg.decay_rate,
                                        staircase=True)
    elif cfg.schedule == "cosine":
        decay = optax.cosine_decay_schedule(peak, max(1, total_steps - warmup))
        if warmup:
            return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), decay], [warmup])
        return decay
    else:
        raise ConfigError(f"schedule must be exponential or cosine, got {cfg.schedule!r}")
    if not warmup:
        return decay
    return lambda step: jnp.where(step < warmup, peak * step / warmup, decay(step))


def make_optimizer(cfg: TrainConfig, schedule: optax.Schedule) -> optax.GradientTransformation:
    """The recipe's optimiser with L2 weight decay on kernels only (not BN, not biases).

    The optimiser's per-element maths runs on all weights as one flat vector (``optax.flatten``):
    B0 has ~200 weight arrays, each a separate small kernel otherwise; on 2 CPU cores this took
    its train step from 268 to 243 ms. The decay stays outside, where the mask sees the weights' shapes.
    """
    decay_mask = lambda params: jax.tree.map(lambda p: p.ndim > 1, params)  # noqa: E731
    # add_decayed_weights adds wd * w to the gradient: the gradient of TF's wd * l2_loss(w).
    decay = optax.add_decayed_weights(cfg.weight_decay, mask=decay_mask)
    if cfg.optimizer == "rmsprop":
        # TF1 RMSProp: accumulator starts at 1, eps inside the sqrt.
        opt = optax.rmsprop(schedule, decay=0.9, eps=1e-3, initial_scale=1.0, momentum=0.9)
    elif cfg.optimizer == "sgd":
        opt = optax.sgd(schedule, momentum=0.9, nesterov=True)
    elif cfg.optimizer == "adamw":
        # optax.adamw's own chain (Adam, decoupled decay, learning rate) with Adam flattened.
        return optax.chain(optax.flatten(optax.scale_by_adam()), decay, optax.scale_by_learning_rate(schedule))
    else:
        raise ConfigError(f"optimizer must be rmsprop, sgd or adamw, got {cfg.optimizer!r}")
    return optax.chain(decay, optax.flatten(opt))


# --------------------------------------------------------------------------------------------
# State and steps
# --------------------------------------------------------------------------------------------
class TrainState(nnx.Pytree):
    """Everything a checkpoint must hold: step, weights, BN statistics, optimiser and EMA state."""

    def __init__(self, step, params, batch_stats, opt_state, ema_params, ema_stats):
        self.step = nnx.data(step)
        self.params = nnx.data(params)
        self.batch_stats = nnx.data(batch_stats)
        self.opt_state = nnx.data(opt_state)
        self.ema_params = nnx.data(ema_params)
        self.ema_stats = nnx.data(ema_stats)


class Trainer:
    """Model, optimiser and the jitted steps for one config; holds no data."""

    def __init__(self, cfg: TrainConfig, spec: rules.NetworkSpec | rules.ResNetSpec, num_classes: int,
                 steps_per_epoch: int, total_steps: int, mesh: jax.sharding.Mesh):
        self.cfg, self.mesh = cfg, mesh
        model = build_model(spec, num_classes, activation=cfg.activation, dtype=compute_dtype(cfg),
                            depthwise_impl=cfg.depthwise_impl, bn_momentum=cfg.bn_momentum,
                            rngs=nnx.Rngs(params=cfg.seed, dropout=cfg.seed))
        self.schedule = learning_rate_schedule(cfg, steps_per_epoch, total_steps)
        self.tx = make_optimizer(cfg, self.schedule)
        model.train()
        self.train_def, params, stats, rest = nnx.split(model, nnx.Param, nnx.BatchStat, ...)
        model.eval()
        self.eval_def = nnx.split(model, nnx.Param, nnx.BatchStat, ...)[0]
        self.replicated = NamedSharding(mesh, P())
        self.batch_sharding = NamedSharding(mesh, P("data"))
        ema = cfg.ema_decay > 0
        state = TrainState(jnp.zeros((), jnp.int32), params, stats, self.tx.init(params),
                           params if ema else None, stats if ema else None)
        self.state = jax.device_put(state, self.replicated)
        self.rng_state = jax.device_put(rest, self.replicated)  # reseeded every step, never saved
        self.dropout_key = jax.random.key_data(jax.random.key(cfg.seed + 1))
        self._train_step = jax.jit(self._step, donate_argnums=0)
        self._eval_step = jax.jit(self._eval)

    def train_step(self, images, labels) -> dict:
        self.state, metrics = self._train_step(self.state, self.rng_state, images, labels)
        return metrics

    def _step(self, state: TrainState, rest, images, labels):
        cfg = self.cfg

        def loss_fn(params):
            model = nnx.merge(self.train_def, params, state.batch_stats, rest, copy=True)
            # Dropout and stochastic-depth draws depend on the step alone, so a resumed run draws
            # exactly what an uninterrupted one would.
            key = jax.random.fold_in(jax.random.wrap_key_data(self.dropout_key), state.step)
            nnx.reseed(model, dropout=key)
            logits = model(images)
            one_hot = jax.nn.one_hot(labels, logits.shape[-1])
            loss = optax.softmax_cross_entropy(logits, optax.smooth_labels(one_hot, cfg.label_smoothing)).mean()
            return loss, (logits, nnx.state(model, nnx.BatchStat))

        (loss, (logits, new_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        ema_params, ema_stats = state.ema_params, state.ema_stats
        if ema_params is not None:
            # TF's ExponentialMovingAverage(decay, num_updates=step): the decay ramps up early on.
            decay = jnp.minimum(cfg.ema_decay, (1.0 + state.step) / (10.0 + state.step))
            ema_params = optax.incremental_update(params, ema_params, 1.0 - decay)
            ema_stats = optax.incremental_update(new_stats, ema_stats, 1.0 - decay)
        correct = jnp.sum(jnp.argmax(logits, -1) == labels)
        new = TrainState(state.step + 1, params, new_stats, opt_state, ema_params, ema_stats)
        return new, {"loss": loss, "correct": correct, "lr": self.schedule(state.step)}

    def _eval(self, params, stats, rest, images, labels, mask):
        logits = nnx.merge(self.eval_def, params, stats, rest, copy=True)(images)
        return jnp.sum((jnp.argmax(logits, -1) == labels) & mask)

    def eval_weights(self):
        """EMA weights when the recipe keeps an EMA (the paper evaluates those), else the raw ones."""
        s = self.state
        return (s.ema_params, s.ema_stats) if s.ema_params is not None else (s.params, s.batch_stats)

    def evaluate(self, dataset: data.Dataset, split: str, resolution: int) -> float:
        """Top-1 accuracy on a whole split."""
        params, stats = self.eval_weights()
        correct = jnp.zeros((), jnp.int32)
        for images, labels, mask in dataset.batches(split, self.cfg.batch_size, resolution=resolution, train=False,
                                                    sharding=self.batch_sharding, dtype=compute_dtype(self.cfg)):
            correct = correct + self._eval_step(params, stats, self.rng_state, images, labels, mask)
        return float(correct) / dataset.size(split)

    def model(self) -> nnx.Module:
        """A stand-alone NNX model (eval mode) holding the evaluated weights, for notebooks and CAMs."""
        params, stats = self.eval_weights()
        return nnx.merge(self.eval_def, params, stats, self.rng_state)


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------
def _write_json(path: pathlib.Path, obj) -> None:
    """Atomic write: a killed process never leaves a half-written file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _write_metrics(path: pathlib.Path, history: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(h, sort_keys=True) + "\n" for h in history))
    os.replace(tmp, path)


def _versions() -> dict:
    import importlib.metadata as md

    names = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "tensorflow-datasets")
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def _check_workdir_config(workdir: pathlib.Path, cfg: TrainConfig) -> None:
    """A workdir belongs to one config: resuming it with another would mix two runs."""
    path = workdir / "config.json"
    mine = dataclasses.asdict(cfg)
    # How a run executes, not what it computes: a retry may land on another machine.
    ignore = {"quiet", "compilation_cache", "num_devices", "data_dir", "depthwise_impl"}
    if path.exists():
        theirs = json.loads(path.read_text())
        diff = sorted(k for k in mine if k not in ignore and theirs.get(k) != mine[k])
        if diff:
            raise ConfigError(f"{workdir} holds a run with a different config ({', '.join(diff)}); use a new workdir")
    else:
        _write_json(path, mine)


def prepare(config: TrainConfig) -> tuple[TrainConfig, rules.NetworkSpec, list]:
    """Validate a config without touching the disk: (resolved config, spec, devices)."""
    cfg = resolved(config)
    spec = network_spec(cfg)
    devices = jax.local_devices()
    if cfg.num_devices is not None:
        if not 1 <= cfg.num_devices <= len(devices):
            raise ConfigError(f"num_devices must be 1..{len(devices)}, got {cfg.num_devices}")
        devices = devices[: cfg.num_devices]
    if cfg.batch_size <= 0 or cfg.batch_size % len(devices):
        raise ConfigError(f"batch size {cfg.batch_size} is not a positive multiple of the {len(devices)} devices")
    if cfg.epochs < 1:
        raise ConfigError(f"epochs must be >= 1, got {cfg.epochs}")
    compute_dtype(cfg)
    return cfg, spec, devices


def train_and_evaluate(config: TrainConfig, workdir: str | os.PathLike) -> dict:
    """Train ``config`` in ``workdir`` (resuming what is there) and return the final result dict.

    Raises TrainingDiverged (after writing a failed result.json) when the loss becomes non-finite.
    """
    cfg, spec, devices = prepare(config)
    enable_compilation_cache(cfg.compilation_cache)
    workdir = pathlib.Path(workdir)
    result_path = workdir / "result.json"
    if result_path.exists():
        _check_workdir_config(workdir, cfg)
        result = json.loads(result_path.read_text())
        if result["status"] == "diverged":
            raise TrainingDiverged(result["diverged_step"], result["diverged_loss"])
        return result

    t_start = time.time()
    # Load (and so validate) the data before anything is written to the workdir.
    dataset = data.load(cfg.dataset, data_dir=cfg.data_dir, minival_fraction=cfg.minival_fraction,
                        split_seed=cfg.split_seed, limit_train=cfg.limit_train, limit_test=cfg.limit_test)
    workdir.mkdir(parents=True, exist_ok=True)
    _check_workdir_config(workdir, cfg)
    steps_per_epoch = dataset.steps_per_epoch(cfg.batch_size)
    if cfg.steps_per_epoch is not None:
        steps_per_epoch = min(steps_per_epoch, cfg.steps_per_epoch)
    if steps_per_epoch < 1:
        raise ConfigError(f"batch size {cfg.batch_size} exceeds the {dataset.size('train')} training images")
    total_steps = steps_per_epoch * cfg.epochs
    mesh = jax.make_mesh((len(devices),), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)
    trainer = Trainer(cfg, spec, dataset.num_classes, steps_per_epoch, total_steps, mesh)
    res = spec.resolution

    history: list[dict] = []
    ckpt_dir = workdir / "ckpt"
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), trainer.state)
    restored = checkpoint.restore_latest(ckpt_dir, abstract)
    if restored is not None:
        _, trainer.state, meta = restored
        history = meta["history"]
    _write_metrics(workdir / "metrics.jsonl", history)

    from tqdm.auto import tqdm

    quiet = cfg.quiet or not sys.stderr.isatty()
    bar = tqdm(total=total_steps, initial=len(history) * steps_per_epoch, unit="step", disable=quiet,
               desc=f"{spec.name} {res}px", leave=False)
    first_step_seconds = None
    wall_before = history[-1]["wall_time"] if history else 0.0
    t_resume = time.time()
    try:
        for epoch in range(len(history), cfg.epochs):
            t_epoch = time.time()
            losses, corrects = [], []
            batches = dataset.batches("train", cfg.batch_size, resolution=res, train=True, seed=cfg.seed,
                                      epoch=epoch, sharding=trainer.batch_sharding, dtype=compute_dtype(cfg))
            for step, (images, labels, _) in enumerate(batches):
                if step >= steps_per_epoch:
                    break
                metrics = trainer.train_step(images, labels)
                losses.append(metrics["loss"])
                corrects.append(metrics["correct"])
                if first_step_seconds is None:
                    jax.block_until_ready(metrics["loss"])
                    first_step_seconds = time.time() - t_resume
                if (step + 1) % 25 == 0 or step + 1 == steps_per_epoch:
                    _check_finite(losses, epoch * steps_per_epoch)
                bar.update(1)
            lr = float(metrics["lr"])
            train_seconds = time.time() - t_epoch
            loss = float(np.mean(jax.device_get(losses)))
            train_top1 = float(np.sum(jax.device_get(corrects))) / (len(corrects) * cfg.batch_size)
            record = {
                "epoch": epoch + 1,
                "step": (epoch + 1) * steps_per_epoch,
                "loss": loss,
                "train_top1": train_top1,
                "minival_top1": trainer.evaluate(dataset, "minival", res) if dataset.size("minival") else None,
                "test_top1": trainer.evaluate(dataset, "test", res),
                "lr": lr,
                "images_per_sec": len(losses) * cfg.batch_size / train_seconds,
                "epoch_seconds": time.time() - t_epoch,
                "wall_time": wall_before + time.time() - t_resume,
            }
            history.append(record)
            checkpoint.save(ckpt_dir, epoch + 1, trainer.state, {"history": history})
            _write_metrics(workdir / "metrics.jsonl", history)
            bar.set_postfix(loss=f"{loss:.3f}", minival=record["minival_top1"], img_s=f"{record['images_per_sec']:.0f}")
    except TrainingDiverged as e:
        _write_json(result_path, _result(cfg, spec, dataset, history, "diverged", t_start, first_step_seconds,
                                         diverged_step=e.step, diverged_loss=e.loss, reason=str(e)))
        raise
    finally:
        bar.close()
    result = _result(cfg, spec, dataset, history, "ok", t_start, first_step_seconds)
    _write_json(result_path, result)
    return result


def _check_finite(losses: list, step0: int) -> None:
    values = np.asarray(jax.device_get(losses), dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise TrainingDiverged(step0 + int(bad[0]) + 1, float(values[bad[0]]))


def _result(cfg, spec, dataset, history, status, t_start, first_step_seconds, **extra) -> dict:
    c = cost.count(spec, dataset.num_classes)
    last = history[-1] if history else {}
    device = jax.local_devices()[0]
    train_rates = [h["images_per_sec"] for h in history[1:]] or [h["images_per_sec"] for h in history]
    return {
        "status": status,
        "epochs": len(history),
        "steps": last.get("step", 0),
        "loss": last.get("loss"),
        "train_top1": last.get("train_top1"),
        "minival_top1": last.get("minival_top1"),
        "test_top1": last.get("test_top1"),
        "images_per_sec": float(np.median(train_rates)) if train_rates else None,
        "wall_time": last.get("wall_time", time.time() - t_start),
        "first_step_seconds": first_step_seconds,
        "params": c.params,
        "macs": c.macs,
        "resolution": spec.resolution,
        "depth": spec.depth,
        "width": spec.width,
        "resolution_scale": spec.resolution_scale,
        "blocks": spec.num_blocks,
        "num_classes": dataset.num_classes,
        "dataset": cfg.dataset,
        "train_size": dataset.size("train"),
        "minival_size": dataset.size("minival"),
        "test_size": dataset.size("test"),
        "seed": cfg.seed,
        "recipe": cfg.recipe,
        "config": dataclasses.asdict(cfg),
        "versions": _versions(),
        "device_kind": device.device_kind,
        "platform": device.platform,
        "malloc_tuned": runtime.malloc_tuned(),
        "num_devices": len(jax.local_devices()) if cfg.num_devices is None else cfg.num_devices,
        **extra,
    }


def load_model(workdir: str | os.PathLike) -> tuple[nnx.Module, TrainConfig, dict]:
    """(model in eval mode with the evaluated weights, its config, its result) of a finished run."""
    workdir = pathlib.Path(workdir)
    result_path = workdir / "result.json"
    if not result_path.exists():
        raise ConfigError(f"{workdir} holds no finished run (no result.json)")
    result = json.loads(result_path.read_text())
    cfg = TrainConfig(**json.loads((workdir / "config.json").read_text()))
    cfg, spec, devices = prepare(dataclasses.replace(cfg, num_devices=1, quiet=True))
    mesh = jax.make_mesh((1,), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)
    trainer = Trainer(cfg, spec, result["num_classes"], 1, 1, mesh)
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), trainer.state)
    restored = checkpoint.restore_latest(workdir / "ckpt", abstract)
    if restored is None:
        raise ConfigError(f"{workdir} has no checkpoint")
    trainer.state = restored[1]
    return trainer.model(), cfg, result
