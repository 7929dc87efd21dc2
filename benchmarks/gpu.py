"""One GPU run of everything we claim: correctness smoke, train step against peers, limits, sweep throughput.

    python benchmarks/gpu.py --tiny --out /tmp/gpu_tiny     # CPU smoke form (CI): every part, tiny sizes
    python benchmarks/gpu.py --prepare                      # here: the CIFAR-10 array the GPU run trains on
    python benchmarks/gpu.py --out "$OUT"                   # on the H200: all four parts, about 8 minutes

Parts (each in its own process, time-boxed; one that fails or overruns records its error and the
others still run; ``$OUT/gpu.json`` and ``$OUT/gpu.md`` are rewritten after every part):

1. ``correctness``: a proxy (B0 at d 0.25, w 0.5, digits, proxy recipe, bf16) trains, is stopped
   right after epoch 1's checkpoint and resumes to the uninterrupted run's loss; the paper recipe
   trains on one device; both losses are finite in bf16; scanned and unrolled stages give the same
   logits and gradients (fp32, highest matmul precision, train mode).
2. ``train_step``: B0, 1000 classes, batch 256, bf16, the full train step (paper recipe) at 224 and
   128 px through ``benchmarks/train_step.py``'s rows, one process each: ours (depthwise ``xla``,
   the GPU default, and ``shifted``), timm ``efficientnet_b0`` eager and under ``torch.compile``
   (channels_last, bf16 autocast, cudnn.benchmark) and Keras 3 ``EfficientNetB0`` on JAX. Per size,
   ours-xla is first set up alone with an empty persistent compilation cache (first step, cold) and
   again with that cache (warm); the other rows are then set up at once (their first-step times
   include that contention) and all rows run interleaved timed rounds. img/s: batch / median step;
   x best peer: ours over the fastest peer in the same round, median over rounds.
3. ``limits``: measured ceilings (a bf16 matrix product, a large copy) and the datasheet's
   (``/work/.library/device/H200.md``); our 224 px step's MAC/s, XLA's flops and bytes per step and
   the cost model's activation bytes against them; a ``jax.profiler`` trace of a few steps, its top
   kernels by device time (the trace travels back as ``profile.xplane.pb``).
4. ``sweep``: a 9-candidate grid (alpha, beta, gamma in 1:1.4:0.1, |alpha beta^2 gamma^2 - 2| <= 0.05)
   on the CIFAR-10 proxy (B0 at d 0.25, w 0.25, 32 px), the same budget per trial (1 epoch of 30
   steps at batch 128 on 4,500 images, minival and test evaluated), run by ``scaling.search.search``
   twice: one worker, then one worker per candidate on the same GPU (memory fraction 0.9 / workers
   each). trials/hour: completed trials / seconds from launch to the last completion, each run cut
   at its time box.

Prepare (development machine, repository root; ``.whl`` and ``build`` are git-ignored)::

    python benchmarks/gpu.py --prepare      # build/gpu/cifar10.npz: 5,000 train + 1,000 test images, 17 MB
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \\
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl keras==3.15.1 namex==0.1.0 \\
        optree==0.20.0 optuna==5.0.0 alembic==1.20.1 colorlog==6.12.0 SQLAlchemy==2.1.9 Mako==1.4.3   # 8 MB

The GPU image has jax (CUDA), flax, optax, orbax, torch, timm, pandas, pyarrow, scikit-learn, PyYAML,
tqdm and MarkupSafe; Keras (part 2) and Optuna (part 4) travel as those wheels. TensorFlow and TFDS
do not: the sweep's images travel as the array above, written out as a PNG folder on the GPU machine
with its decoded splits placed in ``scaling``'s data cache, so ``folder:`` loads them without TF.

Launch (the device tool's ``run``, one call)::

    run(carry=[".whl", "build/gpu"], timeout_s=600, command=
        "python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "
        ".whl/*.whl && export PYTHONPATH=/tmp/site || exit; PYTHONUNBUFFERED=1 python3 benchmarks/gpu.py --out $OUT")

``$OUT`` then holds ``gpu.json`` (every figure), ``gpu.md`` (the tables, also printed last),
``gpu.log`` (every part's output) and ``profile.xplane.pb``. ``--parts limits,sweep`` reruns some parts
only (``limits`` compiles our step afresh without ``train_step`` before it); ``--budget`` changes the
500 s the parts share.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

PARTS = ("correctness", "train_step", "limits", "sweep")
DATA = REPO / "build" / "gpu" / "cifar10.npz"
CIFAR10 = REPO.parent / "shared" / "datasets" / "cifar10"
#: NVIDIA's datasheet figures as /work/.library/device/H200.md gives them (H200 SXM: dense bf16 about
#: 990 TFLOP/s, 4.8 TB/s HBM3e); KINDS.md beside it measured 769-798 TFLOP/s and about 4.3 TB/s there.
DATASHEET = {"H200": {"bf16_flops": 990e12, "hbm_bytes_s": 4.8e12}}
VERSIONED = ("jax", "jaxlib", "jax-cuda13-plugin", "flax", "optax", "orbax-checkpoint", "numpy", "torch", "timm",
             "keras", "optuna")


@dataclasses.dataclass(frozen=True)
class Plan:
    """Sizes and time boxes of one run (:data:`GPU` or :data:`TINY`)."""

    budget: float  # seconds for all parts; a part's unused time goes to the next
    shares: tuple  # nominal fraction of the budget per part, in PARTS order
    # 1. correctness: the proxy runs (B0 at d 0.25, w 0.5, 16 px, digits) and the scan check's network
    proxy_batch: int
    proxy_steps: int
    scan: tuple  # (depth, width, resolution, batch)
    # 2. train step
    resolutions: tuple
    batch: int
    depth: float
    width: float
    rows: tuple
    not_run: dict  # row -> why this plan leaves it out
    steps: int
    rounds: int
    warmup: int
    fast_compile: bool
    # 3. limits
    matmul_n: int
    copy_mib: int
    limit_steps: int
    profile_steps: int
    # 4. sweep
    grid: tuple  # (alpha, beta, gamma, tol)
    sweep_network: tuple  # (depth, width, base resolution)
    sweep_batch: int
    sweep_steps: int
    sweep_limits: tuple  # (train, test) images
    classes: int = 1000
    dtype: str = "bfloat16"


GPU = Plan(budget=500, shares=(0.09, 0.6, 0.07, 0.24), proxy_batch=64, proxy_steps=3, scan=(0.5, 0.25, 32, 8),
           resolutions=(224, 128), batch=256, depth=1.0, width=1.0,
           rows=("ours-xla", "ours-shifted", "timm", "timm-compile", "keras"), not_run={}, steps=8, rounds=5,
           warmup=3, fast_compile=False, matmul_n=8192, copy_mib=2048, limit_steps=20, profile_steps=3,
           grid=("1:1.4:0.1", "1:1.4:0.1", "1:1.4:0.1", 0.05), sweep_network=(0.25, 0.25, 32), sweep_batch=128,
           sweep_steps=30, sweep_limits=(5000, 1000))
TINY = Plan(budget=420, shares=(0.2, 0.4, 0.1, 0.3), proxy_batch=16, proxy_steps=2, scan=(0.5, 0.25, 32, 4),
            resolutions=(32, 48), batch=8, depth=0.25, width=0.25, rows=("ours-xla", "ours-shifted", "timm"),
            not_run={"keras": "B0 only; ~60 s to compile on 2 CPU cores", "timm-compile": "inductor takes ~160 s "
                     "on 2 CPU cores"}, steps=2, rounds=2, warmup=1, fast_compile=True, matmul_n=256, copy_mib=32,
            limit_steps=3, profile_steps=2, grid=("1,1.4", "1", "1.2,1.4", 0.05), sweep_network=(0.25, 0.5, 16),
            sweep_batch=16, sweep_steps=2, sweep_limits=(200, 100), dtype="float32")


def _one_line(e: BaseException) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())[:500]


def _median_time(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` (which must block until its work is done) after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _start_jax():
    """``runtime.tune()`` (before JAX starts its backend, as the entry points do), then JAX."""
    from scaling import runtime

    runtime.tune()
    import jax

    return jax


# --------------------------------------------------------------------------------------------
# 1. Correctness
# --------------------------------------------------------------------------------------------
def part_correctness(plan: Plan, scratch: Path, deadline: float) -> dict:
    jax = _start_jax()
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    from scaling import checkpoint, train
    from scaling.models import build_model
    from scaling.network import Network

    checks, runs = [], {}

    def check(name, fn):
        t0 = time.perf_counter()
        try:
            detail, passed = fn(), True
        except Exception as e:  # noqa: BLE001 - a failed check is a result, recorded with its reason
            detail, passed = _one_line(e), False
        checks.append(dict(check=name, passed=passed, detail=detail, seconds=round(time.perf_counter() - t0, 1)))

    base = dict(network=Network(depth=0.25, width=0.5, base_resolution=16), dataset="digits",
                limit_train=480, limit_test=160, batch_size=plan.proxy_batch, steps_per_epoch=plan.proxy_steps,
                dtype="bfloat16", num_devices=1,
                compilation_cache=str(scratch / "jax-cache-correctness"), quiet=True)

    def proxy_resumes():
        cfg = train.TrainConfig(recipe="proxy", epochs=2, **base)
        straight = train.train_and_evaluate(cfg, scratch / "proxy-straight")
        save = checkpoint.save

        def save_then_stop(*args, **kwargs):
            save(*args, **kwargs)
            raise KeyboardInterrupt  # stopped right after epoch 1's checkpoint, as a kill would

        checkpoint.save = save_then_stop
        try:
            train.train_and_evaluate(cfg, scratch / "proxy-resumed")
            raise AssertionError("the run was not interrupted")
        except KeyboardInterrupt:
            pass
        finally:
            checkpoint.save = save
        stopped = scratch / "proxy-resumed"
        if (stopped / "result.json").exists() or not (stopped / "ckpt" / "1").is_dir():
            raise AssertionError("the interrupted run wrote its result, or no checkpoint of epoch 1")
        resumed = train.train_and_evaluate(cfg, scratch / "proxy-resumed")
        runs["proxy"] = resumed
        diff = abs(resumed["loss"] - straight["loss"]) / abs(straight["loss"])
        if resumed["epochs"] != 2 or diff > 1e-2:  # GPU reductions are not bitwise reproducible
            raise AssertionError(f"resumed to epoch {resumed['epochs']}, loss {resumed['loss']:.4f} against "
                                 f"{straight['loss']:.4f} uninterrupted")
        return (f"stopped after epoch 1's checkpoint (on disk, no result), resumed to epoch 2: loss "
                f"{resumed['loss']:.4f} vs {straight['loss']:.4f} uninterrupted (rel. diff {diff:.1e}); "
                f"first step {straight['first_step_seconds']:.1f} s")

    def paper_one_device():
        result = train.train_and_evaluate(train.TrainConfig(recipe="paper", epochs=1, **base), scratch / "paper")
        runs["paper"] = result
        if result["status"] != "ok" or result["num_devices"] != 1:
            raise AssertionError(f"status {result['status']}, {result['num_devices']} devices")
        return f"{result['steps']} steps on 1 {result['device_kind']} device, loss {result['loss']:.4f}"

    def bf16_finite():
        losses = {name: r["loss"] for name, r in runs.items() if r["config"]["dtype"] == "bfloat16"}
        if set(losses) != {"proxy", "paper"} or not all(math.isfinite(v) for v in losses.values()):
            raise AssertionError(f"bf16 losses {losses}")
        return ", ".join(f"{name} recipe {v:.4f}" for name, v in losses.items())

    def scanned_equals_unrolled():
        depth, width, res, batch = plan.scan
        spec = Network(depth=depth, width=width, base_resolution=res).spec()
        spec = dataclasses.replace(spec, drop_connect_rate=0.2)
        x = jax.random.normal(jax.random.key(2), (batch, res, res, 3))
        y = jnp.arange(batch) % 10

        def logits_and_grads(unroll):
            model = build_model(spec, 10, dtype=jnp.float32, scan_unroll=unroll, rngs=nnx.Rngs(params=0, dropout=1))
            model.train()
            graphdef, params, rest = nnx.split(model, nnx.Param, ...)

            def loss(p):
                logits = nnx.merge(graphdef, p, rest, copy=True)(x)
                return jnp.mean(jax.nn.logsumexp(logits, -1) - logits[jnp.arange(batch), y]), logits

            (_, logits), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(params)
            return np.asarray(logits), np.concatenate([np.ravel(g) for g in jax.tree.leaves(grads)])

        with jax.default_matmul_precision("highest"):
            (la, ga), (lb, gb) = logits_and_grads(1), logits_and_grads(True)
        rel = [float(np.linalg.norm(a - b) / np.linalg.norm(b)) for a, b in ((la, lb), (ga, gb))]
        if not max(rel) < 1e-3:  # 0 to 5e-6 measured on CPU; a wrong block order or draw is O(1)
            raise AssertionError(f"relative differences: logits {rel[0]:.1e}, gradients {rel[1]:.1e}")
        return (f"{spec.num_blocks} blocks, {res} px, batch {batch}, train mode, fp32: relative difference "
                f"logits {rel[0]:.1e}, gradients {rel[1]:.1e}")

    check("proxy trains and resumes", proxy_resumes)
    check("paper recipe on 1 device", paper_one_device)
    check("bf16 loss finite", bf16_finite)
    check("scanned == unrolled", scanned_equals_unrolled)
    return dict(checks=checks, device=jax.devices()[0].device_kind,
                first_step_seconds={k: r["first_step_seconds"] for k, r in runs.items()})


# --------------------------------------------------------------------------------------------
# 2. Train step against peers (benchmarks/train_step.py's rows)
# --------------------------------------------------------------------------------------------
def part_train_step(plan: Plan, scratch: Path, deadline: float) -> dict:
    import train_step as ts

    os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"  # several JAX rows share the GPU
    rows = [r for r in plan.rows if ts.available(r)]
    skipped = {r: "not importable" for r in plan.rows if r not in rows} | plan.not_run
    out = dict(rows=rows, skipped=skipped, sizes={})
    sizes = list(plan.resolutions)
    for i, res in enumerate(sizes):
        share = (deadline - time.time()) / (len(sizes) - i)
        out["sizes"][str(res)] = _train_step_size(ts, plan, res, rows, scratch, time.time() + share)
    return out


def _train_step_size(ts, plan: Plan, res: int, rows: list, scratch: Path, deadline: float) -> dict:
    job = ts.Job(res, plan.batch, plan.depth, plan.width, "paper", False, plan.classes, plan.dtype)
    """One size: ours-xla cold then warm, alone; the other rows set up at once; interleaved timed rounds.

    Set-up may take four fifths of the time to ``deadline``, the rounds the rest (at least one round).
    """
    cache = str(scratch / f"jax-cache-{res}px")
    setup_by = deadline - 0.2 * (deadline - time.time())
    children: dict = {}
    first = {}

    def start(name, use_cache):
        return ts.Child(name, job, plan.warmup, plan.fast_compile, cache if use_cache else None)

    try:
        # Ours alone, first with an empty persistent compilation cache, then with the one it filled.
        for phase in ("cold", "warm") if "ours-xla" in rows else ():
            c = start("ours-xla", True)
            c.info = c.expect("READY", max(1.0, setup_by - time.time()))
            first[phase] = c.info["first_s"] if c.info else None
            if c.error:
                first[f"{phase}_error"] = c.error
            if phase == "cold" or c.error:
                c.close()
            else:
                children["ours-xla"] = c  # the warm one stays, to be timed with the others
        for name in rows:
            if name != "ours-xla":
                children[name] = start(name, name.startswith("ours"))
        for c in children.values():
            if c.info is None:
                c.info = c.expect("READY", max(1.0, setup_by - time.time()))
        live = [n for n in children if children[n].error is None]
        block_timeout = max(60.0, deadline - time.time())
        for r in range(plan.rounds):
            if r and time.time() > deadline:
                break
            ts.run_round(children, live, r, plan.steps, block_timeout)
    finally:
        for c in children.values():
            c.close()
    names = list(children)
    summary = ts.summarize(names, children, plan.batch)
    peers = [n for n in names if n not in ts.OURS and summary[n].get("img_s")]
    best = max(peers, key=lambda n: summary[n]["img_s"]) if peers else None
    for name in names:
        s = summary[name]
        ratios = []
        for r, block in enumerate(children[name].times):
            rates = [plan.batch / statistics.median(children[p].times[r]) for p in peers
                     if len(children[p].times) > r]
            if rates:
                ratios.append(plan.batch / statistics.median(block) / max(rates))
        s["x_best_peer"] = statistics.median(ratios) if ratios else None
        s["x_best_peer_rounds"] = [round(v, 3) for v in ratios]
        s["step_times"] = children[name].times
    missing = [n for n in rows if n not in children]
    return dict(job=dataclasses.asdict(job), ours_first_step=first, best_peer=best, rows=summary,
                not_started=missing)


# --------------------------------------------------------------------------------------------
# 3. Limits: ceilings, our step against them, a profile
# --------------------------------------------------------------------------------------------
def part_limits(plan: Plan, scratch: Path, deadline: float) -> dict:
    jax = _start_jax()
    import numpy as np

    from scaling import cost, runtime, train
    from scaling.network import Network

    device = jax.devices()[0]
    out = dict(device=device.device_kind, platform=device.platform, matmul=_matmul_rate(plan.matmul_n),
               copy=_copy_rate(plan.copy_mib), datasheet=next((v for k, v in DATASHEET.items()
                                                                if k in device.device_kind), None))

    # Our train step at the first size, with the compilation cache part 2 filled.
    res, batch = plan.resolutions[0], plan.batch
    runtime.enable_compilation_cache(str(scratch / f"jax-cache-{res}px"))
    network = Network(depth=plan.depth, width=plan.width, base_resolution=res)
    cfg, spec, _ = train.prepare(train.TrainConfig(network=network, batch_size=batch, recipe="paper",
                                                   dtype=plan.dtype, depthwise_impl="xla",
                                                   compilation_cache=None, quiet=True))
    mesh = jax.make_mesh((1,), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=[device])
    trainer = train.Trainer(cfg, spec, plan.classes, steps_per_epoch=100, total_steps=1000, mesh=mesh)
    rng = np.random.default_rng(0)
    images = jax.device_put(rng.standard_normal((batch, res, res, 3)).astype(np.float32), trainer.batch_sharding)
    labels = jax.device_put(rng.integers(0, plan.classes, batch).astype(np.int32), trainer.batch_sharding)

    def step():
        jax.block_until_ready(trainer.train_step(images, labels)["loss"])

    for _ in range(plan.warmup):
        step()
    step_s = _median_time(step, plan.limit_steps)
    c = cost.count(spec, plan.classes, bytes_per_value=2 if plan.dtype == "bfloat16" else 4)
    compiled = trainer._train_step.lower(trainer.state, trainer.rng_state, trainer.dropout_key, images,
                                         labels).compile()
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    memory = compiled.memory_analysis()
    out["step"] = dict(
        resolution=res, batch=batch, dtype=plan.dtype, depthwise="xla", seconds=step_s, img_s=batch / step_s,
        macs_per_image=c.macs, train_macs_per_step=3 * c.macs * batch,  # forward + 2x for the backward
        activation_bytes_per_step=c.activation_bytes * batch, xla_flops=analysis.get("flops"),
        xla_bytes_accessed=analysis.get("bytes accessed"),
        xla_temp_bytes=getattr(memory, "temp_size_in_bytes", None))

    trace_dir = scratch / "trace"
    with jax.profiler.trace(str(trace_dir)):
        for _ in range(plan.profile_steps):
            step()
    traces = sorted(trace_dir.rglob("*.xplane.pb"))
    out["trace"] = str(traces[-1]) if traces else None
    try:
        if not traces:
            raise RuntimeError(f"jax.profiler wrote no .xplane.pb under {trace_dir}")
        out["profile"] = top_kernels(traces[-1], plan.profile_steps)
    except Exception as e:  # noqa: BLE001 - an unreadable trace still leaves the HLO listing below
        out["profile"] = dict(error=_one_line(e))
        out["hlo_ops"] = hlo_op_counts(compiled.as_text())
    return out


def _matmul_rate(n: int) -> dict:
    """A bf16 (n, n) x (n, n) product on random data (zeros run faster than real data): median FLOP/s."""
    import jax
    import jax.numpy as jnp

    a, b = (jax.random.normal(k, (n, n), jnp.bfloat16) for k in jax.random.split(jax.random.key(0)))
    dot = jax.jit(jnp.dot)
    seconds = _median_time(lambda: dot(a, b).block_until_ready(), 10)
    return dict(n=n, seconds=seconds, flops_s=2 * n**3 / seconds)


def _copy_rate(mib: int) -> dict:
    """``x + 1`` over ``mib`` MiB of fp32 (several times the L2): bytes read plus written per second."""
    import jax
    import jax.numpy as jnp

    x = jax.random.normal(jax.random.key(1), (mib << 18,), jnp.float32)
    copy = jax.jit(lambda v: v + 1)
    seconds = _median_time(lambda: copy(x).block_until_ready(), 20)
    return dict(bytes=2 * x.nbytes, seconds=seconds, bytes_s=2 * x.nbytes / seconds)


#: Lines of a device plane that profilers derive from the kernel lines (they would count kernels twice).
DERIVED_LINES = ("XLA Modules", "XLA Ops", "Steps", "XLA TraceMe", "Framework Ops", "Source code", "Launch Stats")


def top_kernels(path: Path, steps: int, top: int = 12) -> dict:
    """Kernels by total device time per step, from a ``jax.profiler`` trace (``.xplane.pb``).

    GPU: every event on the ``/device:GPU:*`` planes' stream lines (else every line but the derived
    ones), with the HLO op that launched it when the trace names one. CPU: the XLA ops on XLA:CPU's
    thread lines of the host plane.
    """
    import jax

    data = jax.profiler.ProfileData.from_file(str(path))
    totals: dict[str, list] = {}
    devices = [p for p in data.planes if p.name.startswith("/device:")]
    for plane in devices or [p for p in data.planes if p.name == "/host:CPU"]:
        lines = list(plane.lines)
        if devices:
            streams = [line for line in lines if line.name.startswith("Stream")]
            lines = streams or [line for line in lines if line.name not in DERIVED_LINES]
        else:
            lines = [line for line in lines if line.name.startswith("tf_XLA")]
        for line in lines:
            for event in line.events:
                name = event.name
                if not devices and ("::" in name or name.startswith("end: ")):
                    continue  # thread-pool and executor annotations, not ops
                entry = totals.setdefault(name, [0.0, 0, None])
                entry[0] += event.duration_ns
                entry[1] += 1
                if entry[2] is None:
                    entry[2] = dict(event.stats).get("hlo_op")
    busy = sum(v[0] for v in totals.values())
    ranked = sorted(totals.items(), key=lambda kv: -kv[1][0])[:top]
    return dict(plane="device" if devices else "host", steps=steps, busy_ms_per_step=busy / 1e6 / steps,
                kernels=len(totals), launches_per_step=sum(v[1] for v in totals.values()) / steps,
                top=[dict(name=k[:160], hlo_op=v[2], ms_per_step=v[0] / 1e6 / steps, share=v[0] / busy if busy
                          else None, calls_per_step=v[1] / steps) for k, v in ranked])


def hlo_op_counts(hlo_text: str, top: int = 15) -> list:
    """The optimised HLO's instructions by opcode (custom calls by target): what runs when no trace does."""
    import re

    counts: dict[str, int] = {}
    for line in hlo_text.splitlines():
        op = re.match(r"\s*(?:ROOT\s+)?%?[\w.-]+\s*=.*?\s([a-z][\w-]*)\(", line)
        if op:
            target = re.search(r'custom_call_target="([^"]+)"', line)
            name = target.group(1) if target else op.group(1)
            counts[name] = counts.get(name, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])[:top]


# --------------------------------------------------------------------------------------------
# 4. Sweep throughput: one worker against the device kept full
# --------------------------------------------------------------------------------------------
def prepare_data(out: Path = DATA, root: Path = CIFAR10, limits: tuple = GPU.sweep_limits) -> Path:
    """The first ``limits`` (train, test) CIFAR-10 images in ImageFolder's order, decoded, as one .npz."""
    import numpy as np

    from scaling.data import sources

    source = sources.FolderSource(str(root.resolve()))
    arrays = {}
    for pool, count in zip(("train", "test"), limits, strict=True):
        images, labels = source.decode(pool, count, shape=source.first_shape())
        arrays[f"{pool}_images"], arrays[f"{pool}_labels"] = images, labels
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, class_names=np.array(source.class_names), **arrays)
    return out


def digits_npz(out: Path, limits: tuple) -> Path:
    """The --tiny form's stand-in for CIFAR-10: scikit-learn's digits in the same .npz layout."""
    import numpy as np

    from scaling.data import sources

    train, test, names = sources.digits()
    np.savez_compressed(out, class_names=np.array(names), train_images=train.images[:limits[0]],
                        train_labels=train.labels[:limits[0]], test_images=test.images[:limits[1]],
                        test_labels=test.labels[:limits[1]])
    return out


def folder_from_npz(npz: Path, root: Path) -> str:
    """Write the .npz as a PNG folder dataset and put its decoded splits in scaling's data cache
    ($SCALING_DATA_CACHE), so that ``folder:root`` loads without TensorFlow. Returns the dataset spec."""
    import numpy as np
    from PIL import Image

    from scaling.data import sources
    from scaling.data.memory import Pool

    z = np.load(npz)
    names = [str(n) for n in z["class_names"]]
    for pool in ("train", "test"):
        for i, (image, label) in enumerate(zip(z[f"{pool}_images"], z[f"{pool}_labels"], strict=True)):
            folder = root / pool / names[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{i:05d}.png")
    source = sources.FolderSource(str(root.resolve()))
    for pool in ("train", "test"):
        paths, labels = source.files[pool]
        index = np.array([int(Path(p).stem) for p in paths])
        images = z[f"{pool}_images"][index]
        if not (z[f"{pool}_labels"][index] == labels).all():
            raise RuntimeError(f"{pool}: folder labels differ from the array's")
        source.split_cache(pool, None).keep(Pool(images, labels, source.source_size(images.shape[1:3])), complete=True)
    return f"folder:{root.resolve()}"


def sweep_config(plan: Plan, name: str, results_dir: Path, dataset: str):
    from scaling import proxies, search
    from scaling.network import Network
    from scaling.study import StudyConfig

    depth, width, res = plan.sweep_network
    train_cfg = proxies.cifar10(network=Network(depth=depth, width=width, base_resolution=res), dataset=dataset,
                                limit_train=None, limit_test=None, epochs=1, steps_per_epoch=plan.sweep_steps,
                                batch_size=plan.sweep_batch, compilation_cache=str(results_dir / "jax-cache"))
    alpha, beta, gamma, tol = plan.grid
    return search.SearchConfig(study=StudyConfig(name=name, results_dir=str(results_dir), train=train_cfg),
                               alpha=alpha, beta=beta, gamma=gamma, tol=tol)


def part_sweep(plan: Plan, scratch: Path, deadline: float, data: Path | None) -> dict:
    if importlib.util.find_spec("optuna") is None:
        raise RuntimeError("optuna is not importable: carry its wheels (see this script's docstring)")
    if data is not None and not data.exists():
        raise RuntimeError(f"{data} is missing: run `python benchmarks/gpu.py --prepare` and carry build/gpu")
    from scaling import search

    os.environ["SCALING_DATA_CACHE"] = str(scratch / "data-cache")
    t0 = time.perf_counter()
    npz = data if data is not None else digits_npz(scratch / "digits.npz", plan.sweep_limits)
    dataset = folder_from_npz(npz, scratch / "sweep-data" / npz.stem)
    prep_s = time.perf_counter() - t0
    candidates = search.candidates(sweep_config(plan, "probe", scratch, dataset))
    out = dict(dataset=npz.name, data_seconds=prep_s, candidates=[c.key for c in candidates], grid=plan.grid,
               network=plan.sweep_network, batch=plan.sweep_batch, steps=plan.sweep_steps, modes={})
    workers = len(candidates)
    left = deadline - time.time()
    for mode, n, box in (("one at a time", 1, 0.55 * left), ("device kept full", workers, None)):
        box = box if box is not None else deadline - time.time() - 5
        out["modes"][mode] = _study_run(plan, scratch, dataset, f"sweep-{n}w", n, box)
    serial, full = (out["modes"][m].get("trials_per_hour") for m in ("one at a time", "device kept full"))
    out["x_one_at_a_time"] = full / serial if serial and full else None
    return out


def _study_run(plan: Plan, scratch: Path, dataset: str, name: str, workers: int, box: float) -> dict:
    """One ``search.search`` in its own process group, stopped at ``box`` seconds; its trials from the journal."""
    from optuna.trial import TrialState

    from scaling import study

    env = dict(os.environ)
    if workers > 1:
        env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 / workers:.3f}"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--study", name, "--workers", str(workers),
           "--scratch", str(scratch), "--dataset", dataset] + (["--tiny"] if plan is TINY else [])
    launched = datetime.datetime.now()  # Optuna stamps trials with naive local times
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=sys.stdout, stderr=sys.stderr)
    try:
        proc.wait(timeout=max(1.0, box))
        status = f"finished, exit {proc.returncode}"
    except subprocess.TimeoutExpired:
        status = f"stopped at its {box:.0f} s time box"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    try:
        trials = study.load(sweep_config(plan, name, scratch / name, dataset).study).get_trials(deepcopy=False)
    except study.StudyError as e:  # stopped before it created its study
        trials, status = [], f"{status}; {e}"
    done = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.datetime_complete)
    seconds = (done[-1].datetime_complete - launched).total_seconds() if done else None
    keep = ("wall_time", "first_step_seconds", "compile_seconds", "train_seconds", "minival_top1", "test_top1",
            "images_per_sec", "macs")
    return dict(workers=workers, status=status, box_seconds=box, completed=len(done), seconds=seconds,
                trials_per_hour=3600 * len(done) / seconds if done else None,
                failed=[dict(point=t.user_attrs.get("point"), reason=t.user_attrs.get("fail_reason"))
                        for t in trials if t.state == TrialState.FAIL],
                trials=[dict(point=t.user_attrs["point"], **{k: t.user_attrs.get(k) for k in keep}) for t in done])


def run_study(plan: Plan, scratch: Path, name: str, workers: int, dataset: str) -> int:
    from scaling import runtime, search

    runtime.tune()
    search.search(sweep_config(plan, name, scratch / name, dataset), workers=workers)
    return 0


# --------------------------------------------------------------------------------------------
# The driver: parts in subprocesses, results merged into gpu.json and gpu.md after each
# --------------------------------------------------------------------------------------------
def environment() -> dict:
    """Hardware, library versions, date and commit (read without importing JAX or torch)."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    gpus = None
    if shutil.which("nvidia-smi"):
        q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                            "--format=csv,noheader"], capture_output=True, text=True)
        gpus = [line.strip() for line in q.stdout.splitlines() if line.strip()] or None
    commit = None
    if shutil.which("git"):
        git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
        commit = git.stdout.strip() or None
    return dict(date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"), gpus=gpus,
                cpus=os.cpu_count(), machine=platform.machine(), load=os.getloadavg()[0], versions=versions,
                commit=commit)


def run_part(name: str, plan: Plan, scratch: Path, timeout: float, log, data: Path | None, env: dict) -> dict:
    """Part ``name`` in its own process group; its JSON, or its error (an overrun is killed)."""
    result_file = scratch / f"{name}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--part", name, "--scratch", str(scratch),
           "--deadline", str(time.time() + timeout)] + (["--tiny"] if plan is TINY else [])
    if data is not None:
        cmd += ["--data", str(data)]
    t0 = time.perf_counter()
    log.write(f"\n===== {name} (time box {timeout:.0f} s) =====\n")
    log.flush()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    try:
        proc.wait(timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # the part stops its row and study processes on SIGTERM
        time.sleep(15)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left in its group
        except ProcessLookupError:
            pass
        proc.wait()
    seconds = time.perf_counter() - t0
    if result_file.exists():
        result = json.loads(result_file.read_text())
    else:
        result = dict(error=f"no result: exit {proc.returncode} after {seconds:.0f} s (see gpu.log)")
    result["seconds"] = seconds
    return result


def part_main(name: str, plan: Plan, scratch: Path, deadline: float, data: Path | None) -> int:
    """Child mode: run one part, write ``scratch/<name>.json`` (with its error if it raised)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds, so finally blocks stop children
    try:
        fn = dict(correctness=part_correctness, train_step=part_train_step, limits=part_limits)
        result = part_sweep(plan, scratch, deadline, data) if name == "sweep" else fn[name](plan, scratch, deadline)
        result["error"] = None
    except Exception as e:  # noqa: BLE001 - recorded; the other parts still run
        import traceback

        traceback.print_exc()
        result = dict(error=_one_line(e))
    (scratch / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    return 0


def targets(report: dict) -> list[dict]:
    """The issue's targets against what this run measured (None: not measured)."""
    parts, out = report["parts"], []
    sizes = (parts.get("train_step") or {}).get("sizes", {})
    for res, size in sizes.items():
        for name, row in size["rows"].items():
            if name.startswith("ours"):
                ratio = row.get("x_best_peer")
                out.append(dict(target=f"{name} {res} px: train step >= 1.25x the best peer",
                                measured=f"{ratio:.2f}x ({size['best_peer']})" if ratio else "-",
                                met=ratio >= 1.25 if ratio else None))
        first = size["ours_first_step"]
        for phase, limit in (("cold", 30), ("warm", 5)):
            value = first.get(phase)
            out.append(dict(target=f"ours-xla {res} px: first step <= {limit} s ({phase} compilation cache)",
                            measured=f"{value:.1f} s" if value else "-", met=value <= limit if value else None))
    ratio = (parts.get("sweep") or {}).get("x_one_at_a_time")
    out.append(dict(target="sweep: trials/hour with the device kept full >= 2x one at a time",
                    measured=f"{ratio:.2f}x" if ratio else "-", met=ratio >= 2 if ratio else None))
    return out


def _f(value, fmt=".1f", none="-"):
    return none if value is None else format(value, fmt)


def _si(value, unit: str) -> str:
    """``value`` with a k/M/G/T prefix: 7.9e14 -> '790 TFLOP/s'."""
    if value is None:
        return "-"
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def render(report: dict) -> str:
    """gpu.md: every table, with hardware, versions and date at the top."""
    env, parts = report["environment"], report["parts"]
    v = env["versions"]
    lines = [f"# GPU benchmark ({report['mode']}), {env['date']}", "",
             f"Hardware: {'; '.join(env['gpus'] or ['no NVIDIA GPU'])}; {env['cpus']} CPUs ({env['machine']}), "
             f"load {env['load']:.1f} at the start. Commit {env['commit'] or '?'}; total {report['seconds']:.0f} s.",
             "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + "; not installed: "
             + (", ".join(k for k, val in v.items() if not val) or "none") + ".", ""]

    def error_line(part):
        p = parts.get(part)
        if p is None:
            return ["not run (out of time)", ""]
        return [f"**Part failed** after {p['seconds']:.0f} s: {p['error']}", ""] if p.get("error") else []

    lines += ["## 1. Correctness", ""] + error_line("correctness")
    c = parts.get("correctness") or {}
    if c.get("checks"):
        lines += ["| check | result | detail | s |", "| --- | --- | --- | ---: |"]
        lines += [f"| {k['check']} | {'pass' if k['passed'] else '**FAIL**'} | {k['detail']} | {k['seconds']:.0f} |"
                  for k in c["checks"]]
        lines.append("")

    lines += ["## 2. Train step", ""] + error_line("train_step")
    t = parts.get("train_step") or {}
    if t.get("skipped"):
        lines += ["Not run: " + "; ".join(f"{k} ({why})" for k, why in t["skipped"].items()) + ".", ""]
    for res, size in (t.get("sizes") or {}).items():
        job, first = size["job"], size["ours_first_step"]
        net = "B0" if (job["depth"], job["width"]) == (1.0, 1.0) else f"B0 at d {job['depth']}, w {job['width']}"
        lines += [f"{net}, {job['classes']} classes, {res} px, batch {job['batch']}, {job['dtype']}, paper recipe. "
                  f"ours-xla set up alone: first step {_f(first.get('cold'))} s with an empty compilation cache, "
                  f"{_f(first.get('warm'))} s with it warm" + "".join(f"; {k}: {e}" for k, e in first.items()
                                                                      if k.endswith("error")) + ".", "",
                  "| row | img/s (median) | rounds (min-max) | first step, s | x best peer | detail |",
                  "| --- | ---: | ---: | ---: | ---: | --- |"]
        for name, row in size["rows"].items():
            if "img_s" not in row:
                lines.append(f"| {name} | error | | | | {row.get('error')} |")
                continue
            ratio = f"{row['x_best_peer']:.2f}x" if row.get("x_best_peer") else "-"
            lines.append(f"| {name} | {row['img_s']:,.0f} | {row['img_s_min']:,.0f}-{row['img_s_max']:,.0f} | "
                         f"{row['first_s']:.1f} | {ratio} | {row['detail']}" +
                         (f"; ERROR {row['error']}" if row.get("error") else "") + " |")
        rounds = max((len(r.get("step_times", [])) for r in size["rows"].values()), default=0)
        lines += ["", f"{rounds} round(s) of steps per row; best peer: {size['best_peer'] or 'none ran'}; first "
                  "step of rows other than the cold ours-xla: set up at the same time as each other (ours-xla: "
                  "from the warm cache)." + (f" Not started: {', '.join(size['not_started'])}." if
                                             size["not_started"] else ""), ""]

    lines += ["## 3. Limits", ""] + error_line("limits")
    lim = parts.get("limits") or {}
    if lim.get("step"):
        s, mm, cp, sheet = lim["step"], lim["matmul"], lim["copy"], lim.get("datasheet")
        achieved = s["train_macs_per_step"] / s["seconds"]
        floors = {"matrix (XLA flops at the measured bf16 rate)": (s["xla_flops"] or 0) / mm["flops_s"],
                  "memory (XLA bytes accessed at the measured copy bandwidth)":
                      (s["xla_bytes_accessed"] or 0) / cp["bytes_s"],
                  "activations (written once, read once, at the measured bandwidth)":
                      2 * s["activation_bytes_per_step"] / cp["bytes_s"]}
        bound = max(floors, key=floors.get)
        lines += [f"Our step ({s['resolution']} px, batch {s['batch']}, {s['dtype']}, depthwise xla) on "
                  f"{lim['device']}: {s['seconds'] * 1e3:.1f} ms, {s['img_s']:,.0f} img/s.", "",
                  "| figure | value |", "| --- | ---: |",
                  f"| bf16 matrix product {mm['n']}^3 on random data, measured | {_si(mm['flops_s'], 'FLOP/s')} |",
                  f"| copy of {_si(cp['bytes'] / 2, 'B')} (bytes read + written), measured | "
                  f"{_si(cp['bytes_s'], 'B/s')} |"]
        if sheet:
            lines += [f"| datasheet (H200.md): dense bf16 / HBM | {_si(sheet['bf16_flops'], 'FLOP/s')} / "
                      f"{_si(sheet['hbm_bytes_s'], 'B/s')} |"]
        flops, nbytes = s["xla_flops"], s["xla_bytes_accessed"]

        def rate(per_step):
            return per_step / s["seconds"] if per_step is not None else None

        lines += [f"| MACs per image (cost model, forward) | {_si(s['macs_per_image'], 'MAC')} |",
                  f"| train MAC/s (3x forward MACs per image x img/s) | {_si(achieved, 'MAC/s')}: "
                  f"{100 * 2 * achieved / mm['flops_s']:.1f}% of the measured matrix rate"
                  + (f", {100 * 2 * achieved / sheet['bf16_flops']:.1f}% of the datasheet's" if sheet else "") + " |",
                  f"| XLA flops per step / achieved | {_si(flops, 'FLOP')} / {_si(rate(flops), 'FLOP/s')} |",
                  f"| XLA bytes accessed per step / achieved | {_si(nbytes, 'B')} / {_si(rate(nbytes), 'B/s')} |",
                  f"| activation bytes per step (cost model) | {_si(s['activation_bytes_per_step'], 'B')} |",
                  f"| XLA temporary buffers | {_si(s['xla_temp_bytes'], 'B')} |"]
        lines += [f"| floor: {k} | {val * 1e3:.2f} ms |" for k, val in floors.items()]
        lines += ["", f"What limits us: the largest floor is {bound}, {floors[bound] * 1e3:.2f} ms, "
                  f"{100 * floors[bound] / s['seconds']:.0f}% of the measured step.", ""]
    prof = lim.get("profile") or {}
    if prof.get("top"):
        lines += [f"Profile ({prof['steps']} steps, {prof['plane']} plane): {prof['busy_ms_per_step']:.1f} ms of "
                  f"kernels per step ({prof['launches_per_step']:.0f} launches, {prof['kernels']} distinct) "
                  f"in a {lim['step']['seconds'] * 1e3:.1f} ms step.", "",
                  "| kernel | HLO op | ms/step | share | calls/step |", "| --- | --- | ---: | ---: | ---: |"]
        lines += [f"| `{k['name'][:90]}` | {k['hlo_op'] or ''} | {k['ms_per_step']:.2f} | {100 * k['share']:.1f}% | "
                  f"{k['calls_per_step']:.0f} |" for k in prof["top"]]
        lines.append("")
    if lim.get("trace"):
        lines += [f"Trace: {report.get('trace_file') or 'not copied to $OUT (over 16 MiB)'}.", ""]
    if prof.get("error"):
        lines += [f"Profile not summarised: {prof['error']}; HLO ops by count: "
                  + ", ".join(f"{k} {n}" for k, n in lim.get("hlo_ops", [])), ""]

    lines += ["## 4. Sweep throughput", ""] + error_line("sweep")
    sw = parts.get("sweep") or {}
    if sw.get("modes"):
        d, w, r = sw["network"]
        lines += [f"{len(sw['candidates'])} candidates (alpha, beta, gamma {sw['grid'][0]} / {sw['grid'][1]} / "
                  f"{sw['grid'][2]}, tol {sw['grid'][3]}) on B0 at d {d}, w {w}, {r} px, data {sw['dataset']}; "
                  f"each trial 1 epoch of {sw['steps']} steps at batch {sw['batch']}, minival and test evaluated.",
                  "", "| mode | workers | trials done | seconds to the last | trials/hour | median trial s | status |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
        for mode, m in sw["modes"].items():
            walls = [t["wall_time"] for t in m["trials"] if t.get("wall_time")]
            lines.append(f"| {mode} | {m['workers']} | {m['completed']}/{len(sw['candidates'])} | "
                         f"{_f(m['seconds'], '.0f')} | {_f(m['trials_per_hour'], ',.0f')} | "
                         f"{_f(statistics.median(walls) if walls else None, '.1f')} | {m['status']}"
                         + (f"; {len(m['failed'])} failed: {m['failed'][0]['reason']}" if m["failed"] else "") + " |")
        lines += ["", f"Device kept full over one at a time: **{_f(sw.get('x_one_at_a_time'), '.2f')}x**.", ""]

    lines += ["## Targets", "", "| target | measured | met |", "| --- | --- | --- |"]
    lines += [f"| {t['target']} | {t['measured']} | {'-' if t['met'] is None else 'yes' if t['met'] else '**no**'} |"
              for t in report["targets"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="CPU smoke form: every part at tiny sizes (CI)")
    parser.add_argument("--out", default=os.environ.get("OUT"), help="where gpu.json and gpu.md go (default $OUT)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated parts (default {','.join(PARTS)})")
    parser.add_argument("--budget", type=float, default=None, help="seconds for all parts (default 500; tiny 420)")
    parser.add_argument("--data", type=Path, default=None,
                        help=f"the sweep's .npz (default {DATA.relative_to(REPO)}; tiny: digits)")
    parser.add_argument("--prepare", action="store_true", help=f"write {DATA.relative_to(REPO)} from {CIFAR10}")
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)  # child modes
    parser.add_argument("--study", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    plan = TINY if args.tiny else GPU
    if args.prepare:
        print(f"wrote {prepare_data()}")
        return 0
    if args.part:
        return part_main(args.part, plan, args.scratch, args.deadline, args.data)
    if args.study:
        return run_study(plan, args.scratch, args.study, args.workers, args.dataset)
    if not args.out:
        parser.error("--out DIR or $OUT is required")
    parts = args.parts.split(",")
    if set(parts) - set(PARTS):
        parser.error(f"unknown parts {sorted(set(parts) - set(PARTS))}; choose from {', '.join(PARTS)}")
    data = args.data if args.data is not None else (None if args.tiny else DATA)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    budget = args.budget or plan.budget
    # Smoke run: XLA without most optimisations compiles several times faster.
    env = dict(os.environ, **({"JAX_DISABLE_MOST_OPTIMIZATIONS": "1"} if args.tiny else {}))
    t_all = time.time()
    report = dict(mode="tiny (CPU smoke form)" if args.tiny else "full", plan=dataclasses.asdict(plan),
                  environment=environment(), parts={}, targets=[], seconds=0.0)
    shares = dict(zip(PARTS, plan.shares, strict=True))
    print(f"gpu.py: parts {', '.join(parts)}, budget {budget:.0f} s, scratch {scratch}", flush=True)
    try:
        with open(out / "gpu.log", "w") as log:
            for i, name in enumerate(parts):
                # A part may use its share and whatever earlier parts left, never the later parts' shares.
                later = sum(shares[p] for p in parts[i + 1:]) * budget
                timeout = max(30.0, t_all + budget - time.time() - later)
                result = run_part(name, plan, scratch, timeout, log, data, env)
                report["parts"][name] = result
                report["targets"] = targets(report)
                report["seconds"] = time.time() - t_all
                trace = (result.get("trace") or "") if name == "limits" else ""
                if trace and Path(trace).exists() and Path(trace).stat().st_size < 16 << 20:
                    shutil.copy(trace, out / "profile.xplane.pb")
                    report["trace_file"] = f"profile.xplane.pb ({Path(trace).stat().st_size / 2**20:.1f} MiB)"
                (out / "gpu.json").write_text(json.dumps(report, indent=1, default=str))
                (out / "gpu.md").write_text(render(report))
                print(f"  {name}: {'ERROR ' + result['error'] if result.get('error') else 'done'} "
                      f"({result['seconds']:.0f} s)", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print()
    print((out / "gpu.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
