"""One study on a lent GPU: Fig. 3's depth sweep on all of CIFAR-10, sized to the device time left.

    python benchmarks/gpu_study.py --pack                      # here: build/gpu/cifar10.tar.xz, 60,000 JPEGs, 19 MB
    python benchmarks/gpu_study.py --out "$OUT"                # on the GPU machine, through the device tool (below)
    python benchmarks/gpu_study.py --unpack DIR/study.tar.gz   # here: results/cifar10_depth_h200 from what came back
    scaling plot cifar10_depth_h200

The study is ``experiments/cifar10/sweep_depth_h200.py``. On the GPU machine, one command:

1. installs the carried wheels (optuna and its needs, and this project's flax, optax and orbax pins;
   if our pins fail the probe there, the image's own flax, optax and orbax are used instead);
2. unpacks the JPEGs in a scratch folder, where ``--data-dir`` makes the experiment's
   ``folder:../shared/datasets/cifar10`` find them (tar keeps the files' names, sizes and times), and
   decodes them with Pillow into scaling's data cache, since TensorFlow is not installed there
   (Pillow's pixels differ from TensorFlow's by up to 5/255 on 65% of the values);
3. times the train step of the shallowest and the deepest network (``benchmarks/study_step.py``);
4. picks the largest epoch count in ``EPOCH_CHOICES`` whose predicted wall time fits 80% of the
   budget left, counting the device as running one step at a time (the workers overlap only the
   host's work); ``--epochs`` forces one;
5. runs the sweep with ``--epochs E --workers 3``, cut at the deadline, and packs the study's tables
   and per-run results (not the checkpoints) into ``$OUT/study.tar.gz`` beside ``gpu_study.json``.

The committed study's experiment file then names the epoch count the run chose (``EPOCHS``).

Launch (the device tool's ``run``; wheels as ``benchmarks/gpu.py``'s docstring downloads them, for
flax==0.12.8 optax==0.2.8 orbax-checkpoint==0.12.8 optuna==5.1.0 alembic==1.20.1 colorlog==6.12.0
SQLAlchemy==2.1.9 Mako==1.4.3, 7.6 MB)::

    run(carry=[".whl", "build/gpu"], timeout_s=585,
        command="set -o pipefail; nvidia-smi -L; PYTHONUNBUFFERED=1 python3 benchmarks/gpu_study.py --out $OUT "
                "--budget 530 2>&1 | grep --line-buffered -v '^[WI]0000' | tee $OUT/gpu_study.log")

Rehearsed on the 2-core CPU in a virtual environment without TensorFlow or TFDS (Python 3.11,
jax 0.10.2; the wheels with a cp311 SQLAlchemy), whole, in 11 min::

    python benchmarks/gpu_study.py --out /tmp/out --budget 900 --epochs 1 --limit-train 1000 --study rehearsal
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARCHIVE = REPO / "build" / "gpu" / "cifar10.tar.xz"
DATASETS = REPO.parent / "shared" / "datasets"
DATASET = "../shared/datasets/cifar10"  # the experiment's folder: path, relative to the repository root
EXPERIMENT = "experiments/cifar10/sweep_depth_h200.py"
STUDY = "cifar10_depth_h200"
EPOCH_CHOICES = (30, 20, 15, 10, 8, 6, 5)
WORKERS = 3
PINNED = ("flax", "optax", "orbax_checkpoint")  # wheels that the image also has, in its own versions
PROBE = "d1_,d8_"


def pack() -> Path:
    """The CIFAR-10 folder's files as they are, in one .tar.xz (their JPEG headers compress away)."""
    ARCHIVE.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(ARCHIVE, "w:xz", preset=9) as tar:
        tar.add(DATASETS / "cifar10", arcname="cifar10")
    return ARCHIVE


def unpack(archive: Path) -> Path:
    """The study directory that came back, into results/ (the checkpoints stayed on the GPU machine)."""
    with tarfile.open(archive) as tar:
        tar.extractall(REPO / "results", filter="data")
    return REPO / "results" / STUDY


def _install(wheels: list[Path], target: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--no-cache-dir", "--upgrade", "--target", str(target), *map(str, wheels)], check=True)


def _decode(paths: list[str]):
    import numpy as np
    from PIL import Image

    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])


def prepare_data(env: dict, scratch: Path) -> Path:
    """Unpack the JPEGs under ``scratch`` and put Pillow's decode in the data cache. Returns the --data-dir
    under which the experiment's ``folder:../shared/datasets/cifar10`` finds them (nothing is written
    outside ``scratch``)."""
    data_dir = scratch / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(scratch / "shared" / "datasets", filter="data")
    root = os.path.abspath(os.path.join(data_dir, DATASET))
    script = (f"import sys; sys.path.insert(0, {str(REPO)!r}); import benchmarks.gpu_study as g; "
              f"g._fill_cache({root!r})")
    subprocess.run([sys.executable, "-c", script], env=env, check=True, cwd=REPO)
    return data_dir


def _fill_cache(root: str) -> None:
    import numpy as np

    from scaling.data import sources
    from scaling.data.memory import Pool

    source = sources.FolderSource(os.path.abspath(root))
    for pool in ("train", "test"):
        paths, labels = source.files[pool]
        chunks = np.array_split(np.asarray(paths), min(64, len(paths)))
        # spawn, not fork: the caller may hold JAX's threads
        with ProcessPoolExecutor(min(16, os.cpu_count() or 1), mp_context=multiprocessing.get_context("spawn")) as ex:
            images = np.concatenate(list(ex.map(_decode, [list(c) for c in chunks])))
        split = source.split_cache(pool, None)
        split.keep(Pool(images, labels, source.source_size(images.shape[1:3])), complete=True)
        print(f"{pool}: {len(labels)} images decoded with Pillow into {split.path}", flush=True)


def probe(env: dict, data_dir: Path, out: Path) -> list[dict]:
    """ms per step of the shallowest and deepest networks, alone on the device (run from ``data_dir``,
    where the experiment's relative dataset path finds the unpacked images)."""
    cmd = [sys.executable, str(REPO / "benchmarks" / "study_step.py"), str(REPO / EXPERIMENT), "--only", PROBE,
           "--steps", "30", "--json", str(out)]
    subprocess.run(cmd, env=env, check=True, cwd=data_dir)
    return json.loads(out.read_text())


_PLAN = """
import json, sys
from scaling import config, sweeps
cfg = config.load_experiment(sys.argv[1], sweeps.SweepConfig)
train = cfg.study.train
points = [p for p in sweeps.points(cfg, 10) if p.seed == 0]
print(json.dumps(dict(blocks=[p.network.spec().num_blocks for p in points], seeds=cfg.study.seeds,
                      batch=train.batch_size, minival_fraction=train.minival_fraction, limit_train=train.limit_train)))
"""


def plan(env: dict) -> dict:
    """The experiment's networks (their block counts), seeds, batch and training-set size."""
    out = subprocess.run([sys.executable, "-c", _PLAN, EXPERIMENT], env=env, cwd=REPO, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.splitlines()[-1])


def predict(rows: list[dict], plan: dict, epochs: int) -> float:
    """Seconds for the sweep: every step run one at a time on the device (step times interpolated in
    the block count between the probed networks), the rest (set-up, compiling, evaluation, checkpoints)
    shared by the workers."""
    (b0, t0), (b1, t1) = sorted((r["blocks"], r["ms/step"] / 1e3) for r in rows)
    compile_s = max(r["first step s"] for r in rows)
    train_images = round(plan["limit_train"] * (1 - plan["minival_fraction"]))
    steps = epochs * (train_images // plan["batch"])
    blocks = plan["blocks"]
    device = plan["seeds"] * sum(steps * (t0 + (t1 - t0) * (b - b0) / max(b1 - b0, 1)) for b in blocks)
    host = (plan["seeds"] * len(blocks) * (epochs * 1.0 + 8.0) + len(blocks) * compile_s) / WORKERS
    return device + host


def choose_epochs(rows: list[dict], plan: dict, left: float) -> int:
    """The largest of EPOCH_CHOICES predicted to take at most 80% of ``left`` seconds (else the smallest)."""
    fits = [e for e in EPOCH_CHOICES if predict(rows, plan, e) <= 0.8 * left]
    return max(fits) if fits else min(EPOCH_CHOICES)


def run_sweep(env: dict, results: Path, data_dir: Path, epochs: int, limit_train: int | None, study: str,
              deadline: float) -> dict:
    cmd = [sys.executable, "-m", "scaling.cli", "sweep", "depth", "--config", EXPERIMENT, "--workers", str(WORKERS),
           "--results-dir", str(results), "--data-dir", str(data_dir), "--epochs", str(epochs), "--name", study]
    if limit_train is not None:
        cmd += ["--limit-train", str(limit_train)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, start_new_session=True)
    try:
        rc = proc.wait(timeout=max(deadline - time.time(), 1))
        cut = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        rc, cut = proc.returncode, True
    return dict(rc=rc, cut_at_deadline=cut, seconds=time.perf_counter() - start)


def pack_study(results: Path, study: str, out: Path) -> None:
    def keep(info):
        return None if "/ckpt" in info.name or info.name.endswith("/ckpt") else info

    with tarfile.open(out / "study.tar.gz", "w:gz") as tar:
        tar.add(results / study, arcname=study, filter=keep)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pack", action="store_true", help=f"write {ARCHIVE.relative_to(REPO)}")
    parser.add_argument("--unpack", type=Path, help="a study.tar.gz that came back: into results/")
    parser.add_argument("--out", type=Path, help="where gpu_study.json and study.tar.gz go ($OUT)")
    parser.add_argument("--budget", type=float, default=540.0, help="seconds for everything (default 540)")
    parser.add_argument("--epochs", type=int, help="force the epoch count instead of choosing it")
    parser.add_argument("--limit-train", type=int, help="force --limit-train (a rehearsal)")
    parser.add_argument("--study", default=STUDY, help=f"the study's name (default {STUDY})")
    args = parser.parse_args(argv)
    if args.pack:
        print(f"wrote {pack()} ({ARCHIVE.stat().st_size / 1e6:.1f} MB)")
        return 0
    if args.unpack:
        print(f"unpacked {unpack(args.unpack)}")
        return 0
    if args.out is None:
        parser.error("one of --pack, --unpack or --out is needed")
    t0 = time.time()
    deadline = t0 + args.budget
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"budget_s": args.budget}

    def save():
        (args.out / "gpu_study.json").write_text(json.dumps(report, indent=1))

    scratch = Path(tempfile.mkdtemp(prefix="gpu_study-"))
    wheels = sorted((REPO / ".whl").glob("*.whl"))
    pins = [w for w in wheels if w.name.split("-")[0].lower() in PINNED]
    _install(wheels, scratch / "site-pins")
    _install([w for w in wheels if w not in pins], scratch / "site-base")
    base_env = dict(os.environ, SCALING_XLA="default", SCALING_DATA_CACHE=str(scratch / "data-cache"),
                    XLA_PYTHON_CLIENT_PREALLOCATE="false", PYTHONUNBUFFERED="1")

    def env_for(site: str) -> dict:
        return dict(base_env, PYTHONPATH=os.pathsep.join([str(scratch / site), str(REPO)]))

    env = env_for("site-pins")
    start = time.perf_counter()
    data_dir = prepare_data(env, scratch)
    report["data_seconds"] = round(time.perf_counter() - start, 1)
    save()
    for site in ("site-pins", "site-base"):
        env = env_for(site)
        try:
            report["probe"] = probe(env, data_dir, scratch / "probe.json")
            report["site"] = site
            break
        except subprocess.CalledProcessError as e:
            report.setdefault("probe_failures", []).append(f"{site}: {e}")
    else:
        save()
        raise SystemExit("gpu_study.py: the probe failed with our pins and with the image's own packages")
    report["plan"] = plan(env)
    if args.limit_train:
        report["plan"]["limit_train"] = args.limit_train
    versions = subprocess.run([sys.executable, "-c", "import json; from scaling import runtime; "
                               "print(json.dumps(runtime.versions()))"], env=env, cwd=REPO,
                              capture_output=True, text=True)
    report["versions"] = versions.stdout.strip() or versions.stderr.strip()[-500:]
    report["device"] = (subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                                        "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
                        if shutil.which("nvidia-smi") else "no nvidia-smi")
    left = deadline - time.time() - 30  # packing and a margin
    report["predicted_s"] = {e: round(predict(report["probe"], report["plan"], e)) for e in EPOCH_CHOICES}
    report["epochs"] = args.epochs or choose_epochs(report["probe"], report["plan"], left)
    report["left_for_sweep_s"] = round(left)
    print(f"probe {report['probe']}\npredicted {report['predicted_s']}; {left:.0f} s left: {report['epochs']} epochs",
          flush=True)
    save()
    results = scratch / "results"
    report["sweep"] = run_sweep(env, results, data_dir, report["epochs"], args.limit_train, args.study, deadline - 25)
    save()
    if (results / args.study).exists():
        pack_study(results, args.study, args.out)
    report["total_s"] = time.time() - t0
    save()
    print(json.dumps(report, indent=1), flush=True)
    return 0 if report["sweep"]["rc"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
