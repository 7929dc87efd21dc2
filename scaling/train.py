"""Train and evaluate one scaled network: ``train_and_evaluate(config, workdir) -> result``.

One jitted, donated train step over all local devices (``jax.sharding``, a 'data' mesh axis);
Optax optimiser and schedules (:mod:`scaling.recipes`); per-epoch Orbax checkpoints, so rerunning
the same config on the same workdir resumes (and returns the stored result at once when the run
had finished).

Files in ``workdir``: ``config.json``, ``metrics.jsonl`` (one line per epoch: loss, train and
minival top-1; test top-1 on the last line only unless ``test_every_epoch``), ``result.json``
(final; ``status`` "ok" or "diverged"), ``ckpt/``. What reads a finished workdir back (a study's
reuse, notebooks' :func:`~scaling.runs.load_model`) is :mod:`scaling.runs`; the check that a run fits
the devices' memory is :mod:`scaling.memory_estimate`.

``images_per_sec`` (per epoch and in the result) counts the timed steps only, ``timed_steps`` of
them: every train step but each process's first, which compiles the step and is timed alone
(``first_step_seconds``): the result's rate is ``timed_steps * batch_size`` over the seconds of the
"train" phase.

A workdir whose config differs in ``epochs`` alone goes on to the new length only when that leaves
it holding exactly the longer run: when the longer run's learning rate equals this one's at every
step this one trained (the paper recipe: its warm-up and staircase decay do not depend on the run's
length). Otherwise (the proxy recipe's cosine decay spans the whole run, so 5 epochs are not 3 plus 2
more) it is refused, naming a new workdir to train the longer run in from the start. Continuing on
a new schedule was not chosen: the workdir would hold a run that no config describes, and the
tables, and a study reusing the run (:func:`scaling.runs.finished_run`), read a run's ``epochs`` as
the length its schedule spans.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import os
import pathlib
import sys
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from scaling import arch, checkpoint, config, cost, data, files, memory_estimate, recipes, runtime
from scaling.config import ConfigError
from scaling.models import build_model
from scaling.schema import TrainConfig


class TrainingDiverged(RuntimeError):
    """The loss became non-finite at ``step``."""

    def __init__(self, step: int, loss: float):
        super().__init__(f"training diverged at step {step}: loss {loss}")
        self.step, self.loss = step, loss


#: Fields that say how a run executes, not what it computes: a retry may land on another machine.
EXECUTION_FIELDS = ("quiet", "compilation_cache", "num_devices", "data_dir", "depthwise_impl", "unroll")


def network_spec(cfg: TrainConfig) -> arch.NetworkSpec | arch.ResNetSpec:
    """The rounded network of ``cfg``, with the recipe's dropout and stochastic depth where set."""
    spec = cfg.network.spec()
    changes = {k: getattr(cfg, k) for k in ("dropout_rate", "drop_connect_rate") if getattr(cfg, k) is not None}
    return dataclasses.replace(spec, **changes)


def compute_dtype(cfg: TrainConfig):
    if cfg.dtype == "auto":
        return jnp.float32 if jax.default_backend() == "cpu" else jnp.bfloat16
    if cfg.dtype not in ("float32", "bfloat16"):
        raise ConfigError(f"dtype must be auto, float32 or bfloat16, got {cfg.dtype!r}")
    return jnp.dtype(cfg.dtype)


def load_dataset(cfg: TrainConfig) -> data.Dataset:
    """The dataset ``cfg`` trains on (kept in memory by the process, so trials share it)."""
    return data.load(cfg.dataset, data_dir=cfg.data_dir, minival_fraction=cfg.minival_fraction,
                     split_seed=cfg.split_seed, limit_train=cfg.limit_train, limit_test=cfg.limit_test,
                     image_size=cfg.image_size)


def prepare(cfg: TrainConfig) -> tuple[TrainConfig, arch.NetworkSpec | arch.ResNetSpec, list]:
    """Validate a config without touching the disk or the data: (resolved config, spec, devices)."""
    cfg = recipes.resolve(cfg)
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


def _copy(tree):
    """Every leaf in a buffer of its own (a donated state may not hold one buffer twice)."""
    return jax.tree.map(np.array, tree)


class Trainer:
    """Model, optimiser and the jitted steps for one resolved config; holds no data."""

    def __init__(self, cfg: TrainConfig, spec: arch.NetworkSpec | arch.ResNetSpec, num_classes: int,
                 steps_per_epoch: int, total_steps: int, mesh: jax.sharding.Mesh):
        self.cfg, self.mesh = cfg, mesh
        self.schedule = recipes.learning_rate_schedule(cfg, steps_per_epoch, total_steps)
        self.tx = recipes.make_optimizer(cfg, self.schedule)
        self.replicated = NamedSharding(mesh, P())
        self.batch_sharding = NamedSharding(mesh, P("data"))

        # Built eagerly: the initialisers draw on the host (scaling.models.initializers), nothing compiles.
        model = build_model(spec, num_classes, activation=cfg.activation, dtype=compute_dtype(cfg),
                            depthwise_impl=cfg.depthwise_impl, bn_momentum=cfg.bn_momentum,
                            zero_init_residual=cfg.zero_init_residual,
                            zero_init_head=cfg.zero_init_head, scan_unroll=cfg.unroll or 1,
                            rngs=nnx.Rngs(params=cfg.seed, dropout=cfg.seed))
        model.train()
        self.train_def, params, stats, rest = nnx.split(model, nnx.Param, nnx.BatchStat, ...)
        model.eval()
        self.eval_def = nnx.graphdef(model)
        ema = cfg.ema_decay > 0
        # The EMA starts as a copy of the weights: the step donates its whole state, and one array may
        # not be donated twice (on one device, device_put would not copy a shared buffer).
        state = TrainState(jnp.zeros((), jnp.int32), params, stats, self.tx.init(params),
                           _copy(params) if ema else None, _copy(stats) if ema else None)
        self.state = jax.device_put(state, self.replicated)
        self.rng_state = jax.device_put(rest, self.replicated)  # reseeded every step, never saved
        # Dropout and stochastic-depth draws: a key of their own, an argument of the step (not a
        # constant inside it), so that every seed runs the same compiled program.
        self.dropout_key = jax.device_put(jax.random.key_data(jax.random.key(cfg.seed + 1)), self.replicated)
        self._train_step = jax.jit(self._step, donate_argnums=0)
        self._eval_step = jax.jit(self._eval)
        self._eval_compiled: dict[int, concurrent.futures.Future] = {}  # resolution -> compiled eval step

    def abstract_state(self):
        """Shapes, dtypes and shardings of the state: what a checkpoint is restored into."""
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), self.state)

    def train_step(self, images, labels) -> dict:
        self.state, metrics = self._train_step(self.state, self.rng_state, self.dropout_key, images, labels)
        return metrics

    def _step(self, state: TrainState, rest, dropout_key, images, labels):
        cfg = self.cfg

        def loss_fn(params):
            model = nnx.merge(self.train_def, params, state.batch_stats, rest, copy=True)
            # Dropout and stochastic-depth draws depend on the step alone, so a resumed run draws
            # exactly what an uninterrupted one would.
            key = jax.random.fold_in(jax.random.wrap_key_data(dropout_key), state.step)
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

    def compile_eval(self, resolution: int) -> None:
        """Start compiling the eval step for ``resolution`` in a background thread.

        XLA:CPU compiles a program on one core, so started beside the first train step's compile the
        eval program costs no wall time on a machine with two or more cores.
        """
        def batch(*shape, dtype):  # the shapes of Dataset.batches(..., train=False)
            return jax.ShapeDtypeStruct((self.cfg.batch_size, *shape), dtype, sharding=self.batch_sharding)

        weights = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                               (*self.eval_weights(), self.rng_state))
        args = (*weights, batch(resolution, resolution, 3, dtype=compute_dtype(self.cfg)), batch(dtype=jnp.int32),
                batch(dtype=jnp.bool_))
        pool = concurrent.futures.ThreadPoolExecutor(1)
        self._eval_compiled[resolution] = pool.submit(lambda: self._eval_step.lower(*args).compile())
        pool.shutdown(wait=False)

    def evaluate(self, dataset: data.Dataset, split: str, resolution: int) -> float:
        """Top-1 accuracy on a whole split."""
        params, stats = self.eval_weights()
        compiled = self._eval_compiled.get(resolution)
        step = compiled.result() if compiled else self._eval_step
        correct = jnp.zeros((), jnp.int32)
        for images, labels, mask in dataset.batches(split, self.cfg.batch_size, resolution=resolution, train=False,
                                                    sharding=self.batch_sharding, dtype=compute_dtype(self.cfg)):
            correct = correct + step(params, stats, self.rng_state, images, labels, mask)
        return float(correct) / dataset.size(split)

    def model(self) -> nnx.Module:
        """A stand-alone NNX model (eval mode) holding the evaluated weights, for notebooks and CAMs."""
        params, stats = self.eval_weights()
        return nnx.merge(self.eval_def, params, stats, self.rng_state)


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------
def _check_workdir(workdir: pathlib.Path, cfg: TrainConfig, tensorboard: pathlib.Path | None) -> int | None:
    """A workdir is a directory that belongs to one config: resuming it with another would mix two runs.

    Returns the epochs of the run stored there when they differ from ``cfg``'s, which is then the one
    difference allowed (:func:`_check_longer` decides once the data gives an epoch's steps); else None.
    """
    if workdir.exists() and not workdir.is_dir():
        raise ConfigError(f"workdir {workdir} exists and is not a directory")
    for what, directory in (("workdir", workdir), ("TensorBoard directory", tensorboard)):
        why = directory and files.unwritable(directory)
        if why:
            raise ConfigError(f"cannot write {what} {directory}: {why}")
    path = workdir / "config.json"
    if not path.exists():
        return None
    stored = json.loads(path.read_text())
    diff = config.differences(cfg, stored, ignore=EXECUTION_FIELDS)
    if diff and diff != ["epochs"]:
        raise ConfigError(f"{workdir} holds a run with a different config ({', '.join(diff)}); use a new workdir")
    return stored["epochs"] if diff else None


def _check_longer(workdir: pathlib.Path, cfg: TrainConfig, trained: int, steps_per_epoch: int) -> None:
    """ConfigError unless the workdir's run of ``trained`` epochs may go on as ``cfg``'s longer run
    (the module docstring says when); the message names the command that trains ``cfg`` instead."""
    result_path = workdir / "result.json"
    finished = result_path.exists()
    fresh = f"rerun with --workdir {workdir.with_name(f'{workdir.name}-e{cfg.epochs}')}"
    held = f"{workdir} holds {'a finished' if finished else 'an unfinished'} {trained}-epoch run"
    resume = "" if finished else f", or with --epochs {trained} to resume it"
    if finished and json.loads(result_path.read_text())["status"] == "diverged":
        raise ConfigError(f"{held} that diverged; to train {cfg.epochs} epochs from the start, {fresh}")
    if cfg.epochs < trained:
        raise ConfigError(f"{held}; {cfg.epochs} epochs is a shorter run of its own, trained from the start: "
                          f"{fresh}{resume}")
    step = _schedules_differ(cfg, trained, steps_per_epoch)
    if step is not None:
        raise ConfigError(f"{held}; a {cfg.epochs}-epoch run's learning rate differs from it from step {step} "
                          f"(its {cfg.schedule} decay spans the whole run), so it trains from the start: "
                          f"{fresh}{resume}")


def _schedules_differ(cfg: TrainConfig, epochs: int, steps_per_epoch: int) -> int | None:
    """The first of the steps of an ``epochs``-epoch run at which ``cfg``'s learning rate differs
    from that run's (the same config but for the epochs); None where they agree on all of them."""
    steps = epochs * steps_per_epoch
    ours = recipes.learning_rate_schedule(cfg, steps_per_epoch, cfg.epochs * steps_per_epoch)
    theirs = recipes.learning_rate_schedule(cfg, steps_per_epoch, steps)
    at = jnp.arange(steps)
    differ = np.flatnonzero(np.asarray(ours(at)) != np.asarray(theirs(at)))
    return int(differ[0]) if differ.size else None


#: The phases a run's seconds are counted in: ``result["seconds"]`` (:data:`scaling.results.PHASES`).
PHASES = ("data", "setup", "compile", "train", "eval", "checkpoint")


class Phases:
    """Wall seconds a run spends per phase: ``with phases.time("eval"): ...`` adds the block's to "eval".

    A block that raises adds nothing: a diverged run's result counts the phases it finished. The
    seconds go into every checkpoint, and a resumed run starts from those (:meth:`carry`).
    """

    def __init__(self):
        self.seconds = dict.fromkeys(PHASES, 0.0)

    def carry(self, before: dict) -> None:
        """Add the seconds of the run's earlier processes (a resumed run)."""
        for phase, value in before.items():
            self.seconds[phase] += value

    @contextlib.contextmanager
    def time(self, phase: str):
        if phase not in self.seconds:
            raise ValueError(f"unknown phase {phase!r}; one of {', '.join(PHASES)}")
        start = time.perf_counter()
        yield
        self.seconds[phase] += time.perf_counter() - start


def train_and_evaluate(cfg: TrainConfig, workdir: str | os.PathLike, *,
                       tensorboard: str | os.PathLike | None = None) -> dict:
    """Train ``cfg`` in ``workdir`` (resuming what is there) and return the final result dict.

    ``tensorboard``: a directory to write each epoch's scalars to as it ends (:class:`Scalars`).

    Raises TrainingDiverged (after writing a diverged result.json) when the loss becomes non-finite.
    Every bad input (config, data, a network that cannot fit) raises a one-line error before
    anything is written.

    The phases (``result["seconds"]``): "data" loads the data and checks that the run fits; "setup"
    builds the model and restores the checkpoint; "compile" lasts from there to the end of the
    process's first train step, which compiles it (``result["first_step_seconds"]``: that step alone);
    then every epoch "train" (its steps), "eval" (minival, and test at the end) and "checkpoint".
    """
    cfg, spec, devices = prepare(cfg)
    runtime.enable_compilation_cache(cfg.compilation_cache)
    workdir = pathlib.Path(workdir)
    tensorboard = pathlib.Path(tensorboard) if tensorboard else None
    trained = _check_workdir(workdir, cfg, tensorboard)
    result_path = workdir / "result.json"
    if result_path.exists() and trained is None:
        return _stored_result(result_path)

    t_start = time.time()
    phases = Phases()
    with phases.time("data"):
        dataset, steps_per_epoch = _load_data(cfg, spec, devices)  # validated before anything is written
        if trained is not None:
            _check_longer(workdir, cfg, trained, steps_per_epoch)
            _say(cfg, f"{workdir}: its {trained}-epoch run goes on to {cfg.epochs} epochs (a {cfg.epochs}-epoch "
                      f"run's learning rate is the same over the first {trained})")
            result_path.unlink(missing_ok=True)  # first: a result never sits beside another config
        workdir.mkdir(parents=True, exist_ok=True)
        if trained is not None or not (workdir / "config.json").exists():
            files.write_json(workdir / "config.json", config.to_dict(cfg))
        mesh = jax.make_mesh((len(devices),), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)
    with phases.time("setup"):
        trainer = Trainer(cfg, spec, dataset.num_classes, steps_per_epoch, steps_per_epoch * cfg.epochs, mesh)
        history = _restore(trainer, workdir / "ckpt", phases)
        _write_metrics(workdir, history)
        scalars = Scalars(tensorboard) if tensorboard else None
    with phases.time("compile"):
        bar = _progress_bar(cfg, spec, steps_per_epoch * cfg.epochs, done=len(history) * steps_per_epoch)
        trainer.compile_eval(spec.resolution)  # in the background, beside the first train step's compile
        heap = runtime.HeapGuard()
    first_step_seconds = None
    wall_before = history[-1]["wall_time"] if history else 0.0
    t_resume = time.time()
    try:
        start = len(history)
        for epoch in range(start, cfg.epochs):
            this_epoch = _Epoch(cfg, trainer, dataset, spec.resolution, epoch, steps_per_epoch, heap, bar)
            if first_step_seconds is None:
                with phases.time("compile"):
                    this_epoch.first_step()
                    first_step_seconds = time.time() - t_resume
            with phases.time("train"):
                this_epoch.train()
            with phases.time("eval"):
                record = this_epoch.record(wall_before, t_resume)
            with phases.time("checkpoint"):
                history.append(record)
                checkpoint.save(workdir / "ckpt", epoch + 1, trainer.state,
                                {"history": history, "seconds": phases.seconds})
                _write_metrics(workdir, history)
            if scalars:
                scalars.write(record)
            # The epochs' mean wall time in this process, the first step's compile left out.
            per_epoch = (time.time() - t_resume - first_step_seconds) / (epoch + 1 - start)
            _say(cfg, _epoch_line(spec, record, cfg.epochs, per_epoch * (cfg.epochs - epoch - 1)))
    except TrainingDiverged as e:
        files.write_json(result_path, _result(cfg, spec, dataset, history, "diverged", t_start, first_step_seconds,
                                              phases.seconds, diverged_step=e.step, diverged_loss=e.loss,
                                              reason=str(e)))
        raise
    finally:
        bar.close()
        if scalars:
            scalars.close()
    result = _result(cfg, spec, dataset, history, "ok", t_start, first_step_seconds, phases.seconds)
    files.write_json(result_path, result)
    return result


def _say(cfg: TrainConfig, line: str) -> None:
    """One line on stderr unless ``cfg.quiet``; above the progress bar when there is one (tqdm.write)."""
    from tqdm.auto import tqdm

    if not cfg.quiet:
        tqdm.write(line, file=sys.stderr)


def _epoch_line(spec, record: dict, epochs: int, eta_seconds: float) -> str:
    def share(value):
        return "-" if value is None else f"{value:.2%}"

    rate = "-" if record["images_per_sec"] is None else f"{record['images_per_sec']:.0f}"
    return (f"{spec.name} {spec.resolution}px epoch {record['epoch']}/{epochs}: loss {record['loss']:.3f}, "
            f"train top-1 {share(record['train_top1'])}, minival top-1 {share(record['minival_top1'])}, "
            f"{rate} img/s, ETA {eta_seconds:.0f} s")


class Scalars:
    """Each epoch's record as TensorBoard scalars in ``directory``, tagged by its metrics.jsonl keys and
    stepped by its train step; written with ``tf.summary``'s file writer (clu's metric writers, which
    flax's examples use, wrap the same writer). TensorFlow is imported here, when scalars are asked for.

    TensorFlow 2.21 no longer installs TensorBoard, whose ``tf.summary.scalar`` is one
    ``tf.summary.write`` with the scalars plugin's metadata; that call is made here, so that writing
    needs no TensorBoard (viewing does: ``pip install tensorboard``).
    """

    TAGS = ("loss", "train_top1", "minival_top1", "test_top1", "lr", "images_per_sec")

    def __init__(self, directory: pathlib.Path):
        from scaling.data.tf import tensorflow  # the one seam to TensorFlow (GPUs hidden from it)

        self.tf = tensorflow()
        from tensorflow.core.framework import summary_pb2

        self.metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
            data_class=summary_pb2.DATA_CLASS_SCALAR)
        self.writer = self.tf.summary.create_file_writer(str(directory))

    def write(self, record: dict) -> None:
        with self.writer.as_default():
            for tag in self.TAGS:
                if record.get(tag) is not None:
                    self.tf.summary.write(tag, self.tf.constant(record[tag], self.tf.float32), step=record["step"],
                                          metadata=self.metadata)
        self.writer.flush()  # an epoch's scalars show in TensorBoard as soon as it ends

    def close(self) -> None:
        self.writer.close()


def _stored_result(path: pathlib.Path) -> dict:
    """The result of a run that had finished; a diverged one raises its TrainingDiverged again."""
    result = json.loads(path.read_text())
    if result["status"] == "diverged":
        raise TrainingDiverged(result["diverged_step"], result["diverged_loss"])
    return result


def _load_data(cfg: TrainConfig, spec, devices) -> tuple[data.Dataset, int]:
    """(dataset, steps per epoch); ConfigError when the run cannot fit or one batch exceeds the data."""
    dataset = load_dataset(cfg)
    memory_estimate.check_fits(cfg, spec, dataset.num_classes, devices, compute_dtype(cfg))
    steps_per_epoch = dataset.steps_per_epoch(cfg.batch_size)
    if cfg.steps_per_epoch is not None:
        steps_per_epoch = min(steps_per_epoch, cfg.steps_per_epoch)
    if steps_per_epoch < 1:
        raise ConfigError(f"batch size {cfg.batch_size} exceeds the {dataset.size('train')} training images")
    return dataset, steps_per_epoch


def _restore(trainer: Trainer, ckpt_dir: pathlib.Path, phases: Phases) -> list[dict]:
    """Resume ``trainer`` from the latest checkpoint, if any: the finished epochs' records, and their
    seconds added to ``phases``. A new run: []."""
    restored = checkpoint.restore_latest(ckpt_dir, trainer.abstract_state())
    if restored is None:
        return []
    _, trainer.state, meta = restored
    phases.carry(meta.get("seconds", {}))
    return meta["history"]


def _progress_bar(cfg: TrainConfig, spec, total: int, done: int):
    from tqdm.auto import tqdm

    # tqdm's default lock is a multiprocessing RLock, a named semaphore that a process ended at once
    # (scaling.interrupt) leaves behind ("leaked semaphore objects"); one process's bars need a thread lock.
    tqdm.set_lock(threading.RLock())
    quiet = cfg.quiet or not sys.stderr.isatty()
    return tqdm(total=total, initial=done, unit="step", disable=quiet, desc=f"{spec.name} {spec.resolution}px",
                leave=False)


class _Epoch:
    """One epoch: its train steps (:meth:`first_step` runs the first alone, :meth:`train` the rest),
    then :meth:`record`, its line of metrics.jsonl, with the evaluations."""

    def __init__(self, cfg: TrainConfig, trainer: Trainer, dataset: data.Dataset, resolution: int, epoch: int,
                 steps_per_epoch: int, heap: runtime.HeapGuard, bar):
        self.cfg, self.trainer, self.dataset, self.resolution = cfg, trainer, dataset, resolution
        self.epoch, self.steps_per_epoch = epoch, steps_per_epoch
        self.started = time.time()
        self.losses, self.corrects, self.metrics = [], [], None
        self._steps = self._run(heap, bar)

    def _run(self, heap: runtime.HeapGuard, bar):
        """The steps, one per ``next()``: it returns once the step is dispatched; the checks after it
        (a finite loss and the heap, every 25 steps and at the end) and the bar's update come with the
        next ``next()``."""
        cfg = self.cfg
        batches = self.dataset.batches("train", cfg.batch_size, resolution=self.resolution, train=True,
                                       seed=cfg.seed, epoch=self.epoch, sharding=self.trainer.batch_sharding,
                                       dtype=compute_dtype(cfg))
        for step, (images, labels, _) in enumerate(batches):
            if step >= self.steps_per_epoch:
                break
            self.metrics = self.trainer.train_step(images, labels)
            self.losses.append(self.metrics["loss"])
            self.corrects.append(self.metrics["correct"])
            yield
            if (step + 1) % 25 == 0 or step + 1 == self.steps_per_epoch:
                _check_finite(self.losses, self.epoch * self.steps_per_epoch)
                heap.check()
            bar.update(1)

    def first_step(self) -> None:
        """Run the first step and wait for it (a process's first step compiles the train step)."""
        next(self._steps)
        jax.block_until_ready(self.metrics["loss"])

    def train(self) -> None:
        """Run the epoch's remaining steps (TrainingDiverged at a non-finite loss), timed, and sum them up."""
        start, self.timed_steps = time.perf_counter(), 0
        for _ in self._steps:
            self.timed_steps += 1
        self.lr = float(self.metrics["lr"])  # waits for the last step
        self.train_seconds = time.perf_counter() - start
        self.loss = float(np.mean(jax.device_get(self.losses)))
        self.train_top1 = float(np.sum(jax.device_get(self.corrects))) / (len(self.corrects) * self.cfg.batch_size)

    def record(self, wall_before: float, resumed_at: float) -> dict:
        """The epoch's record: minival top-1, test top-1 when due, and the times (``wall_time``: the
        run's, ``wall_before`` seconds before this process resumed it at ``resumed_at``)."""
        cfg, trainer, dataset, res = self.cfg, self.trainer, self.dataset, self.resolution
        # The train step's freed scratch goes back before the eval step allocates its own, and the
        # eval step's before training resumes: otherwise the next train step's block may not fit in
        # the freed heap and the process grows by one (a large Imagenette worker was killed for
        # memory after its first evaluation; benchmarks/RESULTS.md).
        runtime.release_memory(collect=False)
        record = {
            "epoch": self.epoch + 1,
            "step": (self.epoch + 1) * self.steps_per_epoch,
            "loss": self.loss,
            "train_top1": self.train_top1,
            "minival_top1": trainer.evaluate(dataset, "minival", res) if dataset.size("minival") else None,
            # The test split once, after the last epoch, unless asked for every epoch: a full test pass
            # per epoch is a large share of a short proxy run, and a per-epoch test curve invites
            # choosing an epoch by its test score.
            "test_top1": (trainer.evaluate(dataset, "test", res)
                          if cfg.test_every_epoch or self.epoch + 1 == cfg.epochs else None),
            "lr": self.lr,
            "images_per_sec": _rate(self.timed_steps, cfg.batch_size, self.train_seconds),
            "timed_steps": self.timed_steps,
            "train_seconds": self.train_seconds,
            "epoch_seconds": time.time() - self.started,
            "wall_time": wall_before + time.time() - resumed_at,
        }
        runtime.release_memory(collect=False)
        return record


def _rate(steps: int, batch_size: int, seconds: float) -> float | None:
    """Images per second over ``steps`` timed steps; None without any (a process's one-step epoch)."""
    return steps * batch_size / seconds if steps else None


def _write_metrics(workdir: pathlib.Path, history: list[dict]) -> None:
    files.write_text(workdir / "metrics.jsonl", "".join(json.dumps(h, sort_keys=True) + "\n" for h in history))


def _check_finite(losses: list, step0: int) -> None:
    values = np.asarray(jax.device_get(losses), dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise TrainingDiverged(step0 + int(bad[0]) + 1, float(values[bad[0]]))


def _result(cfg, spec, dataset, history, status, t_start, first_step_seconds, seconds, **extra) -> dict:
    c = cost.count(spec, dataset.num_classes)
    last = history[-1] if history else {}
    device = jax.local_devices()[0]
    timed = [h for h in history if "timed_steps" in h]  # a record from before steps were timed apart has none
    return {
        "status": status,
        "epochs": len(history),
        "steps": last.get("step", 0),
        "loss": last.get("loss"),
        "train_top1": last.get("train_top1"),
        "minival_top1": last.get("minival_top1"),
        "test_top1": last.get("test_top1"),
        "images_per_sec": _rate(sum(h["timed_steps"] for h in timed), cfg.batch_size,
                                sum(h["train_seconds"] for h in timed)),
        "timed_steps": sum(h["timed_steps"] for h in timed),
        "wall_time": last.get("wall_time", time.time() - t_start),
        "first_step_seconds": first_step_seconds,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "params": c.params,
        "macs": c.macs,
        "resolution": spec.resolution,
        "depth": spec.depth,
        "width": spec.width,
        "resolution_scale": spec.resolution_scale,
        "blocks": spec.num_blocks,
        "output_stride": spec.output_stride,
        "feature_map": cost.feature_map_size(spec),
        "num_classes": dataset.num_classes,
        "dataset": cfg.dataset,
        "train_size": dataset.size("train"),
        "minival_size": dataset.size("minival"),
        "test_size": dataset.size("test"),
        "seed": cfg.seed,
        "recipe": cfg.recipe,
        "config": config.to_dict(cfg),
        "versions": runtime.versions(),
        "device_kind": device.device_kind,
        "platform": device.platform,
        "cpu": runtime.cpu(),
        "malloc_tuned": runtime.malloc_tuned(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "num_devices": len(jax.local_devices()) if cfg.num_devices is None else cfg.num_devices,
        **extra,
    }
