"""Whole-network train-step speed: our EfficientNet-B0 against timm (PyTorch eager) and Keras 3 (JAX).

    python benchmarks/train_step.py                    # B0, 10 classes, 64 px, batch 32, fp32, 6 rounds
    python benchmarks/train_step.py --tiny --no-peers  # about a minute: CI smoke run (ours only)
    python benchmarks/train_step.py --only timm        # one row alone, in this process
    python benchmarks/train_step.py --depth 2 --width 0.25 --resolution 32 --batch 64 --recipe proxy
                                                       # a scaled B0 (benchmarks/proxy.py runs these)
    python benchmarks/train_step.py --classes 1000 --dtype bfloat16 --resolution 224 --batch 256 \
        --rows ours-xla,ours-shifted,timm,timm-compile,keras   # a GPU (benchmarks/gpu.py runs these)

Rows:

* ``ours-auto``  our Trainer's full jitted train step, recipe "paper" (RMSProp, L2 decay, label
  smoothing, dropout 0.2 + stochastic depth 0.2, weight EMA), depthwise impl "auto" ("shifted" on CPU);
* ``ours-xla``   the same with XLA's grouped convolution for the depthwise convs; ``ours-shifted`` (only
  with --rows) with our shifted-slices depthwise conv whatever the platform;
* ``timm``       timm ``efficientnet_b0`` (dropout 0.2, drop path 0.2), PyTorch eager, channels_last:
  forward, label-smoothed CE, backward, ``torch.optim.RMSprop`` step (TF settings), torch's default
  threads; ``timm-1t`` the same on one thread (on a loaded machine OpenMP's spinning threads can make
  the default several times slower, so the ratio is taken against the faster of the two);
  ``timm-compile`` (only with --rows) the same model under ``torch.compile`` (inductor, default mode);
  on CUDA every timm row runs on the GPU with ``cudnn.benchmark`` and, with ``--dtype bfloat16``, bf16
  autocast;
* ``keras``      Keras 3 ``EfficientNetB0(weights=None)`` on the JAX backend: one jitted stateless
  step (``stateless_call`` + ``jax.value_and_grad`` + ``optimizer.stateless_apply``), RMSprop;
  ``--dtype bfloat16``: the ``mixed_bfloat16`` policy;
* ``ours-auto-1t`` (only with --rows) ours with XLA:CPU on one thread.

``--depth``/``--width`` scale B0 (timm's ``_gen_efficientnet(depth_multiplier, channel_multiplier)``
builds the same network: equal parameter counts); ``--recipe proxy`` trains every row with Nesterov SGD and
no dropout or stochastic depth (our ``proxy`` recipe) instead. Keras runs B0 only. ``--classes`` and
``--dtype`` (our rows' compute dtype; bf16 autocast or policy for the peers) default to 10 and fp32;
``--compilation-cache DIR`` gives our rows XLA's persistent compilation cache (default: none).

How: every row lives in its own subprocess (frameworks never share a process or thread pools). The
rows are set up one after the other (model construction, compilation, first step, warm-up: ``first
s`` is construction to the first step's result, compilation included); then rounds of ``--steps``
timed steps run the rows in turn, the order rotating each round, so the machine's load reaches every
row alike. All rows train on one fixed synthetic batch already on the device. ``img/s`` is batch /
median step time; ``x timm`` is a row's img/s over the faster timm row's in the same round, median
over rounds. Peers that are not importable are skipped, never required.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

NUM_CLASSES = 10
#: name -> (description, modules a row needs)
ROWS = {
    "ours-auto": ("scaling B0, jax jit, depthwise auto", ("jax", "flax")),
    "ours-xla": ("scaling B0, jax jit, depthwise xla", ("jax", "flax")),
    "ours-shifted": ("scaling B0, jax jit, depthwise shifted", ("jax", "flax")),
    "ours-auto-1t": ("scaling B0, jax jit, depthwise auto, 1 thread", ("jax", "flax")),
    "timm": ("timm efficientnet_b0, torch eager", ("torch", "timm")),
    "timm-1t": ("timm efficientnet_b0, torch eager, 1 thread", ("torch", "timm")),
    "timm-compile": ("timm efficientnet_b0, torch.compile", ("torch", "timm")),
    "keras": ("keras EfficientNetB0, jax jit", ("keras", "jax")),
}
OURS = ("ours-auto", "ours-xla", "ours-shifted", "ours-auto-1t")
TIMM = ("timm", "timm-1t", "timm-compile")
#: Rows run unless --rows names others (ours-auto-1t: XLA:CPU on one thread, for diagnosis).
DEFAULT_ROWS = ("ours-auto", "ours-xla", "timm", "timm-1t", "keras")
TINY_ROWS = ("ours-auto", "timm", "keras")


# --------------------------------------------------------------------------------------------
# One row, in this process: setup_* build the model and run the first step; they return a Row
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Row:
    first_s: float  # model construction -> first step's result ready (compile included)
    loss: float  # the first step's loss (a sanity value: about ln(classes) + smoothing)
    step: Callable[[], Any]  # one train step on the fixed batch
    sync: Callable[[Any], Any]  # waits for step()'s result
    detail: str
    versions: dict

    def timed(self, steps: int) -> list[float]:
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            self.sync(self.step())
            times.append(time.perf_counter() - t0)
        return times


@dataclasses.dataclass(frozen=True)
class Job:
    """What every row trains: B0 scaled by (depth, width) at ``resolution`` px, batch ``batch``, ``recipe``,
    ``classes`` outputs, computing in ``dtype`` ("float32" or "bfloat16")."""

    resolution: int
    batch: int
    depth: float = 1.0
    width: float = 1.0
    recipe: str = "paper"
    unroll: bool = False
    classes: int = NUM_CLASSES
    dtype: str = "float32"

    @property
    def regularised(self) -> bool:
        return self.recipe == "paper"


def setup_ours(impl: str, job: Job, cache: str | None = None) -> Row:
    sys.path.insert(0, str(REPO))
    from scaling import runtime

    runtime.tune()  # before JAX starts its backend, as the `scaling` command does
    import jax
    import numpy as np

    from scaling import train
    from scaling.models.layers import default_depthwise_impl
    from scaling.network import Network

    runtime.enable_compilation_cache(cache)
    res, batch = job.resolution, job.batch
    network = Network(depth=job.depth, width=job.width, base_resolution=res)
    cfg, spec, _ = train.prepare(train.TrainConfig(network=network, batch_size=batch, recipe=job.recipe,
                                                   dtype=job.dtype, depthwise_impl=impl, unroll=job.unroll,
                                                   compilation_cache=None, quiet=True))
    mesh = jax.make_mesh((1,), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=jax.devices()[:1])
    rng = np.random.default_rng(0)
    t_build = time.perf_counter()
    trainer = train.Trainer(cfg, spec, job.classes, steps_per_epoch=100, total_steps=1000, mesh=mesh)
    images = jax.device_put(rng.standard_normal((batch, res, res, 3)).astype(np.float32), trainer.batch_sharding)
    labels = jax.device_put(rng.integers(0, job.classes, batch).astype(np.int32), trainer.batch_sharding)
    sync = lambda m: jax.block_until_ready(m["loss"])  # noqa: E731
    loss = float(sync(trainer.train_step(images, labels)))
    first = time.perf_counter() - t_build
    resolved_impl = default_depthwise_impl() if impl == "auto" else impl
    detail = f"depthwise={resolved_impl}, malloc tuned={runtime.malloc_tuned()}" + (", unrolled" if job.unroll else "")
    detail += f", {jax.devices()[0].device_kind}" if jax.default_backend() != "cpu" else ""
    return Row(first, loss, lambda: trainer.train_step(images, labels), sync, detail,
               {"jax": jax.__version__, "flax": _version("flax"), "optax": _version("optax"),
                "params": sum(x.size for x in jax.tree.leaves(trainer.state.params))})


def _import_timm():
    """Import timm even when the installed torchvision cannot load its C++ ops.

    timm imports torchvision unconditionally; a torchvision wheel built for another torch (or for
    CUDA, on a CPU-only torch) fails at import with "operator torchvision::nms does not exist",
    because its meta registrations look up ops its missing library would have defined. Defining
    placeholder schemas for those ops first lets the Python side import; nothing here calls them.
    A torchvision that matches torch imports as it is (placeholders would clash with its real ops).
    """
    import torch

    try:
        import timm

        return timm
    except (ImportError, RuntimeError):
        for module in [m for m in sys.modules if m.split(".")[0] in ("timm", "torchvision")]:
            del sys.modules[module]
    spec = importlib.util.find_spec("torchvision")
    if spec is not None and spec.submodule_search_locations:
        import re

        meta = Path(list(spec.submodule_search_locations)[0], "_meta_registrations.py")
        src = meta.read_text() if meta.exists() else ""
        names = sorted(set(re.findall(r'register_meta\("(\w+)"', src)) | set(re.findall(r'"torchvision::(\w+)"', src)))
        missing = []
        for name in names:
            try:
                getattr(torch.ops.torchvision, name)
            except (AttributeError, RuntimeError):
                missing.append(name)
        if missing:
            lib = torch.library.Library("torchvision", "FRAGMENT")
            for name in missing:
                lib.define(f"{name}(Tensor x) -> Tensor")
            _import_timm.keepalive = lib  # a Library removes its definitions when collected
    import timm

    return timm


def setup_timm(job: Job, threads: int | None = None, compiled: bool = False) -> Row:
    import torch

    if threads:
        torch.set_num_threads(threads)
    timm = _import_timm()
    from timm.models.efficientnet import _gen_efficientnet

    res, batch = job.resolution, job.batch
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    torch.backends.cudnn.benchmark = cuda
    torch.manual_seed(0)
    x = torch.randn(batch, 3, res, res, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, job.classes, (batch,), device=device)
    t_build = time.perf_counter()
    drop = 0.2 if job.regularised else 0.0
    model = _gen_efficientnet("efficientnet_b0", channel_multiplier=job.width, depth_multiplier=job.depth,
                              pretrained=False, num_classes=job.classes, drop_rate=drop, drop_path_rate=drop)
    model = model.to(device=device, memory_format=torch.channels_last).train()
    forward = torch.compile(model) if compiled else model
    bf16 = job.dtype == "bfloat16"
    if job.regularised:
        # TF RMSProp settings of the paper recipe (lr 0.016 per 256 images); torch's eps sits outside the sqrt.
        opt = torch.optim.RMSprop(model.parameters(), lr=0.016 * batch / 256, alpha=0.9, eps=1e-3, momentum=0.9,
                                  weight_decay=1e-5)
    else:  # our proxy recipe: Nesterov SGD, 0.2 per 256 images, L2 5e-4, label smoothing 0.1
        opt = torch.optim.SGD(model.parameters(), lr=0.2 * batch / 256, momentum=0.9, nesterov=True,
                              weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(forward(x), y)
        loss.backward()
        opt.step()
        return loss

    def sync(loss):
        if cuda:
            torch.cuda.synchronize()
        return loss.detach()  # eager CPU: the step is done when it returns

    loss = step().item()
    first = time.perf_counter() - t_build
    detail = (f"cuda ({torch.cuda.get_device_name()}), cudnn.benchmark" if cuda
              else f"threads={torch.get_num_threads()}") + ", channels_last"
    detail += (", torch.compile" if compiled else "") + (", bf16 autocast" if bf16 else "")
    return Row(first, loss, step, sync, detail, {"torch": torch.__version__, "timm": timm.__version__,
                                                 "params": sum(p.numel() for p in model.parameters())})


def setup_keras(job: Job) -> Row:
    res, batch = job.resolution, job.batch
    if (job.depth, job.width, job.recipe) != (1.0, 1.0, "paper"):
        raise RuntimeError("the keras row trains B0 with the paper recipe only")
    if os.environ.get("KERAS_BACKEND") != "jax":
        raise RuntimeError("run the keras row with KERAS_BACKEND=jax (the driver does)")
    import jax
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = jax.device_put(rng.standard_normal((batch, res, res, 3)).astype(np.float32))
    y = jax.device_put(rng.integers(0, job.classes, batch).astype(np.int32))
    t_build = time.perf_counter()
    keras.utils.set_random_seed(0)
    if job.dtype == "bfloat16":
        keras.config.set_dtype_policy("mixed_bfloat16")
    model = keras.applications.EfficientNetB0(weights=None, classes=job.classes, input_shape=(res, res, 3),
                                              classifier_activation=None)
    optimizer = keras.optimizers.RMSprop(learning_rate=0.016 * batch / 256, rho=0.9, momentum=0.9, epsilon=1e-3)
    optimizer.build(model.trainable_variables)

    def loss_and_updates(trainable, non_trainable, x, y):
        logits, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        one_hot = jax.nn.one_hot(y, job.classes)
        loss = keras.losses.categorical_crossentropy(one_hot, logits.astype("float32"), from_logits=True,
                                                     label_smoothing=0.1)
        return loss.mean(), non_trainable

    grad_fn = jax.value_and_grad(loss_and_updates, has_aux=True)

    @jax.jit
    def train_step(state, x, y):
        trainable, non_trainable, opt_vars = state
        (loss, non_trainable), grads = grad_fn(trainable, non_trainable, x, y)
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
        return loss, (trainable, non_trainable, opt_vars)

    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in optimizer.variables])

    def step():
        nonlocal state
        loss, state = train_step(state, x, y)
        return loss

    loss = float(jax.block_until_ready(step()))
    first = time.perf_counter() - t_build
    return Row(first, loss, step, jax.block_until_ready,
               "stateless jit step" + (", mixed_bfloat16" if job.dtype == "bfloat16" else ""),
               {"keras": keras.__version__, "jax": jax.__version__})


def setup(name: str, job: Job, fast_compile: bool = False, cache: str | None = None) -> Row:
    if fast_compile and name not in TIMM:
        # Smoke runs only: XLA without most optimisations compiles B0's step several times faster.
        import jax

        jax.config.update("jax_disable_most_optimizations", True)
    if name in OURS:
        return setup_ours(name.split("-")[1], job, cache)
    if name in TIMM:
        return setup_timm(job, threads=1 if name == "timm-1t" else None, compiled=name == "timm-compile")
    if name == "keras":
        return setup_keras(job)
    raise ValueError(name)


def serve(name: str, args) -> int:
    """Child mode: set up, warm up, say READY; then run ``RUN k`` blocks of k timed steps until ``EXIT``."""
    row = setup(name, job_of(args), args.fast_compile, args.compilation_cache)
    row.timed(args.warmup)
    _say("READY", dict(name=name, first_s=row.first_s, loss=row.loss, detail=row.detail, versions=row.versions))
    for line in sys.stdin:
        cmd = line.split()
        if cmd and cmd[0] == "RUN":
            _say("TIMES", row.timed(int(cmd[1])))
        elif cmd and cmd[0] == "EXIT":
            break
    return 0


def job_of(args) -> Job:
    return Job(args.resolution, args.batch, args.depth, args.width, args.recipe, args.unroll, args.classes,
               args.dtype)


def _say(tag: str, obj) -> None:
    print(f"{tag} {json.dumps(obj)}", flush=True)


def _version(dist: str) -> str | None:
    import importlib.metadata as md

    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------------------------
# The driver: one long-lived subprocess per row, timed in short interleaved blocks
# --------------------------------------------------------------------------------------------
def available(name: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ROWS[name][1])


def child_env(name: str) -> dict:
    env = dict(os.environ)
    # A test harness may force 8 fake CPU devices; a benchmark row wants the one real CPU device.
    flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith("--xla_force_host_platform_device_count")]
    env.pop("XLA_FLAGS", None)
    if name == "ours-auto-1t":
        flags += ["--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1"]
    if flags:
        env["XLA_FLAGS"] = " ".join(flags)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if name == "keras":
        env["KERAS_BACKEND"] = "jax"
    return env


class Child:
    """A row's subprocess (``--serve``), read by a thread so every wait can time out."""

    def __init__(self, name: str, job: Job, warmup: int, fast_compile: bool = False, cache: str | None = None):
        self.name, self.error, self.info, self.times = name, None, None, []
        cmd = [sys.executable, str(Path(__file__).resolve()), "--only", name, "--serve",
               "--resolution", str(job.resolution), "--batch", str(job.batch), "--warmup", str(warmup),
               "--depth", str(job.depth), "--width", str(job.width), "--recipe", job.recipe,
               "--classes", str(job.classes), "--dtype", job.dtype]
        if job.unroll:
            cmd.append("--unroll")
        if fast_compile:
            cmd.append("--fast-compile")
        if cache:
            cmd += ["--compilation-cache", cache]
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True, env=child_env(name))
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def expect(self, tag: str, timeout: float):
        """The payload of the next ``tag`` line, or None (and self.error set) on exit or timeout."""
        deadline = time.monotonic() + timeout
        while self.error is None:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.fail(f"timed out after {timeout:.0f}s")
                break
            if line is None:
                self.fail(f"exit {self.proc.wait()}")
                break
            if line.startswith(tag + " "):
                return json.loads(line[len(tag) + 1:])
        return None

    def send(self, text: str) -> None:
        try:
            self.proc.stdin.write(text + "\n")
            self.proc.stdin.flush()
        except OSError as e:
            self.fail(f"lost the child: {e}")

    def fail(self, why: str) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr.seek(0)
        lines = [ln for ln in self.stderr.read().splitlines()
                 if ln.strip() and not ln.startswith(("For simplicity, JAX", "-----"))]
        self.error = f"{why}: {lines[-1][:300] if lines else 'no stderr'}"

    def close(self) -> None:
        if self.error is None:
            self.send("EXIT")
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


def run_round(children: dict[str, Child], live: list[str], r: int, steps: int, timeout: float) -> None:
    """Round ``r``: each live row times ``steps`` steps in turn, rotated by ``r`` so no row always goes first."""
    if not live:
        return
    for name in live[r % len(live):] + live[:r % len(live)]:
        c = children[name]
        if c.error is None:
            c.send(f"RUN {steps}")
            times = c.expect("TIMES", timeout)
            if times is not None:
                c.times.append(times)


def summarize(names: list[str], children: dict[str, Child], batch: int) -> dict[str, dict]:
    """Per row: img/s = batch / median over all timed steps; x timm = median over rounds of the row's
    img/s over the faster timm row's img/s in the same round (each from that round's median step)."""
    rate = lambda ts: batch / statistics.median(ts)  # noqa: E731
    out = {}
    for name in names:
        c = children[name]
        if not c.times:
            out[name] = dict(error=c.error or "no timed steps")
            continue
        ratios = []
        for r, block in enumerate(c.times):
            timm = [rate(children[t].times[r]) for t in TIMM if t in children and len(children[t].times) > r]
            if timm:
                ratios.append(rate(block) / max(timm))
        rounds = [rate(b) for b in c.times]
        out[name] = dict(img_s=rate([t for b in c.times for t in b]), img_s_min=min(rounds), img_s_max=max(rounds),
                         first_s=c.info["first_s"], loss=c.info["loss"], x_timm=statistics.median(ratios) if ratios
                         else None, x_timm_rounds=[round(v, 3) for v in ratios], detail=c.info["detail"],
                         versions=c.info["versions"], error=c.error)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true",
                        help="32 px (Keras' minimum), batch 8, 1 round of 2 steps, ours-auto (+ peers); CI smoke run")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per row per round (default 5; tiny 2)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds over all rows (default 6; tiny 1)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps after the first (default 2; tiny 1)")
    parser.add_argument("--resolution", type=int, default=None, help="image size (default 64; tiny 32)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 32; tiny 8)")
    parser.add_argument("--depth", type=float, default=1.0, help="B0's depth multiplier (default 1)")
    parser.add_argument("--width", type=float, default=1.0, help="B0's width multiplier (default 1)")
    parser.add_argument("--unroll", action="store_true", help="our rows with each stage's scan unrolled")
    parser.add_argument("--classes", type=int, default=NUM_CLASSES, help=f"classifier outputs (default {NUM_CLASSES})")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                        help="our rows' compute dtype; bfloat16: bf16 autocast (timm), mixed_bfloat16 (keras)")
    parser.add_argument("--compilation-cache", default=None, metavar="DIR",
                        help="our rows: XLA's persistent compilation cache in DIR (default: off)")
    parser.add_argument("--recipe", choices=("paper", "proxy"), default="paper",
                        help="paper: RMSProp, dropout, drop path, label smoothing; proxy: Nesterov SGD, no dropout")
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the timm and keras rows when importable (default: yes)")
    parser.add_argument("--rows", default=None, help=f"comma-separated rows from {','.join(ROWS)} "
                        f"(default {','.join(DEFAULT_ROWS)}; tiny {','.join(TINY_ROWS)})")
    parser.add_argument("--only", choices=list(ROWS), default=None, help="run one row in this process and print it")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # child mode for the driver
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds allowed for a row's set-up, and for each timed block (default 900; tiny 300)")
    parser.add_argument("--fast-compile", action=argparse.BooleanOptionalAction, default=None,
                        help="JAX rows with jax_disable_most_optimizations (default: only with --tiny)")
    parser.add_argument("--json", default=None, help="also write every step time and the summary to this file")
    args = parser.parse_args(argv)
    args.steps = args.steps or (2 if args.tiny else 5)
    args.rounds = args.rounds or (1 if args.tiny else 6)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.tiny else 2)
    args.resolution = args.resolution or (32 if args.tiny else 64)
    args.batch = args.batch or (8 if args.tiny else 32)
    timeout = args.timeout or (300 if args.tiny else 900)
    if args.fast_compile is None:
        args.fast_compile = args.tiny

    if args.only and args.serve:
        return serve(args.only, args)
    if args.only:
        row = setup(args.only, job_of(args), args.fast_compile, args.compilation_cache)
        row.timed(args.warmup)
        times = row.timed(args.steps * args.rounds)
        print(f"{args.only}: {args.batch / statistics.median(times):.1f} img/s, first step {row.first_s:.1f} s, "
              f"loss {row.loss:.3f}, {row.detail}")
        return 0

    default = TINY_ROWS if args.tiny else DEFAULT_ROWS
    b0_paper = (args.depth, args.width, args.recipe) == (1.0, 1.0, "paper")
    names = args.rows.split(",") if args.rows else [n for n in default if (n in OURS or args.peers)
                                                    and (n != "keras" or b0_paper)]
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    skipped = [n for n in names if not available(n)]
    names = [n for n in names if n not in skipped]
    net = "B0" if (args.depth, args.width) == (1, 1) else f"B0 at d {args.depth:g}, w {args.width:g}"
    print(f"train step, {net} {args.classes} classes, {args.resolution} px, batch {args.batch}, "
          f"{'fp32' if args.dtype == 'float32' else 'bf16'}, "
          f"{args.recipe} recipe; "
          f"{args.rounds} round(s) of {args.steps} timed steps per row after {1 + args.warmup} warm-up; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
          + ("; XLA optimisations OFF (smoke run)" if args.fast_compile else ""), flush=True)
    if skipped:
        print(f"skipped (not importable): {', '.join(skipped)}", flush=True)

    t_all = time.perf_counter()
    children: dict[str, Child] = {}
    loads = []
    try:
        # Set-up one row at a time, so no compilation competes with another row's.
        for name in names:
            c = children[name] = Child(name, job_of(args), args.warmup, args.fast_compile, args.compilation_cache)
            c.info = c.expect("READY", timeout)
            shown = f"first step {c.info['first_s']:.1f} s, loss {c.info['loss']:.3f}" if c.info else c.error
            print(f"  set-up {name:12s} {shown}", flush=True)
        live = [n for n in names if children[n].error is None]
        for r in range(args.rounds):
            run_round(children, live, r, args.steps, timeout)
            loads.append(os.getloadavg()[0])
            print(f"  round {r + 1}: " + ", ".join(
                f"{n} {args.batch / statistics.median(children[n].times[-1]):.1f}"
                for n in live if len(children[n].times) == r + 1) + f" img/s; load {loads[-1]:.1f}", flush=True)
    finally:
        for c in children.values():
            c.close()
    summary = summarize(names, children, args.batch)

    header = f"{'impl':13s} {'what':45s} {'img/s':>7s} {'(rounds)':>13s} {'first s':>8s} {'x timm':>7s}  detail"
    print()
    print(header)
    print("-" * len(header))
    for name in names:
        s = summary[name]
        if "img_s" not in s:
            print(f"{name:13s} {ROWS[name][0]:45s} {'error':>7s}  {s['error']}")
            continue
        span = f"{s['img_s_min']:.1f}-{s['img_s_max']:.1f}"
        ratio = f"{s['x_timm']:6.2f}x" if s["x_timm"] is not None else f"{'-':>7s}"
        print(f"{name:13s} {ROWS[name][0]:45s} {s['img_s']:7.1f} {span:>13s} {s['first_s']:8.1f} {ratio}  "
              f"{s['detail']}" + (f"; ERROR {s['error']}" if s["error"] else ""))
    print("img/s: batch / median step time over all rounds ((rounds): slowest-fastest round); first s: model "
          "construction to the first result, compilation included;\nx timm: img/s over the faster timm row's "
          f"in the same round, median of {args.rounds} round(s).")
    versions = {}
    for s in summary.values():
        versions.update(s.get("versions", {}))
    print("versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    print(f"load during rounds: {', '.join(f'{v:.1f}' for v in loads)}; total {time.perf_counter() - t_all:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(args=vars(args), loads=loads, summary=summary,
                                                   step_times={n: c.times for n, c in children.items()}), indent=1))
    return 1 if any(summary[n].get("error") for n in names) else 0


if __name__ == "__main__":
    sys.exit(main())
