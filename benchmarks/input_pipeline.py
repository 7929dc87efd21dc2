"""Throughput of the input pipeline alone (no model): train batches per second.

For each dataset, resolution and batch size it times `steps` train batches of
`Dataset.batches(..., train=True)` (gather + augmentation + resize +
normalisation), calling `block_until_ready` on every batch as a train loop
would consume it, and prints images/s. The first batch of each configuration
(jit compilation) is timed separately and excluded.

Imagenette (a folder of 224 px JPEGs) is measured both ways: streamed through
tf.data (``image_size=None``, decoded every epoch) and decoded once at
``image_size`` = the resolution into a fresh temporary .npz cache, served from
memory; for the latter it prints the decode + cache-write and cache-read
seconds and the size of the decoded arrays.

    python benchmarks/input_pipeline.py            # digits + CIFAR-10 folder subset + Imagenette
    python benchmarks/input_pipeline.py --tiny     # a few seconds, for CI
    python benchmarks/input_pipeline.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import jax  # noqa: E402

from scaling import data  # noqa: E402

DEFAULT_CIFAR = REPO.parent / "shared" / "datasets" / "cifar10"
DEFAULT_IMAGENETTE = REPO.parent / "shared" / "datasets" / "imagenette"
HEADER = f"{'dataset':<18} {'train':>6} {'res':>4} {'batch':>5} {'images/s':>10} {'ms/batch':>9} {'first(s)':>8}"


def bench(ds, *, resolution: int, batch_size: int, steps: int) -> dict:
    epoch, done = 0, 0
    t0 = time.perf_counter()
    first = next(ds.batches("train", batch_size, resolution=resolution, train=True, seed=0, epoch=0))
    jax.block_until_ready(first)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    while done < steps:
        for batch in ds.batches("train", batch_size, resolution=resolution, train=True, seed=0, epoch=epoch):
            jax.block_until_ready(batch)
            done += 1
            if done >= steps:
                break
        epoch += 1
    elapsed = time.perf_counter() - t0
    return dict(resolution=resolution, batch_size=batch_size, steps=done, seconds=elapsed,
                images_per_s=done * batch_size / elapsed, first_batch_s=compile_s)


def rows(label, ds, spec, resolutions, batch_sizes, steps, **extra) -> list[dict]:
    out = []
    for resolution in resolutions:
        for batch_size in batch_sizes:
            if ds.steps_per_epoch(batch_size) == 0:
                print(f"{label:<18} skipping batch {batch_size}: only {ds.size('train')} train images")
                continue
            r = bench(ds, resolution=resolution, batch_size=batch_size, steps=steps)
            r.update(dataset=label, spec=spec, train_size=ds.size("train"), **extra)
            out.append(r)
            print(f"{label:<18} {ds.size('train'):>6} {resolution:>4} {batch_size:>5} "
                  f"{r['images_per_s']:>10.0f} {1000 * r['seconds'] / r['steps']:>9.2f} {r['first_batch_s']:>8.2f}")
    return out


def imagenette(path, limits, resolutions, batch_sizes, steps) -> list[dict]:
    """Streamed, then decoded once per resolution (image_size = resolution) into a fresh cache."""
    spec = f"folder:{path}"
    results = []
    t0 = time.perf_counter()
    ds = data.load(spec, **limits)
    load_s = time.perf_counter() - t0
    print(f"\nloaded {ds!r} in {load_s:.2f}s")
    print(HEADER)
    results += rows("imagenette:stream", ds, spec, resolutions, batch_sizes, steps, load_s=load_s)
    saved = os.environ.get(data.CACHE_ENV)
    for size in resolutions:
        with tempfile.TemporaryDirectory() as cache:
            os.environ[data.CACHE_ENV] = cache
            try:
                t0 = time.perf_counter()
                data.load(spec, image_size=size, **limits)
                decode_s = time.perf_counter() - t0
                data.clear_memory_cache()
                t0 = time.perf_counter()
                ds = data.load(spec, image_size=size, **limits)
                read_s = time.perf_counter() - t0
                npz_mb = sum(f.stat().st_size for f in Path(cache).glob("*.npz")) / 1e6
            finally:
                if saved is None:
                    del os.environ[data.CACHE_ENV]
                else:
                    os.environ[data.CACHE_ENV] = saved
        memory_mb = sum(ds.size(split) for split in data.SPLITS) * size * size * 3 / 1e6
        print(f"\n{ds!r}: decode + cache write {decode_s:.1f}s, cache read {read_s:.2f}s, "
              f".npz {npz_mb:.0f} MB, {memory_mb:.0f} MB in memory")
        print(HEADER)
        results += rows(f"imagenette@{size}px", ds, spec, [size], batch_sizes, steps, decode_s=decode_s,
                        cache_read_s=read_s, npz_mb=npz_mb, memory_mb=memory_mb)
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="few steps and small subsets (CI smoke run)")
    p.add_argument("--datasets", nargs="+", default=["digits", "cifar", "imagenette"],
                   choices=["digits", "cifar", "imagenette"])
    p.add_argument("--cifar", default=str(DEFAULT_CIFAR), help="CIFAR-10 ImageFolder root (default: %(default)s)")
    p.add_argument("--cifar-limit", type=int, default=None, help="train images to load (default 10000; tiny 1000)")
    p.add_argument("--imagenette", default=str(DEFAULT_IMAGENETTE),
                   help="Imagenette ImageFolder root (default: %(default)s)")
    p.add_argument("--imagenette-resolutions", type=int, nargs="+", default=[64, 128])
    p.add_argument("--resolutions", type=int, nargs="+", default=[32, 64])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    p.add_argument("--steps", type=int, default=None, help="timed batches per configuration (default 40; tiny 3)")
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    steps = args.steps or (3 if args.tiny else 40)
    cifar_limit = args.cifar_limit or (1000 if args.tiny else 10000)

    print(f"jax {jax.__version__} on {jax.devices()[0].platform} ({len(jax.devices())} device(s)); "
          f"{steps} timed train batches per configuration")
    results = []
    for name in args.datasets:
        if name == "imagenette":
            if os.path.isdir(os.path.join(args.imagenette, "train")):
                limits = dict(limit_train=1000, limit_test=200) if args.tiny else {}
                results += imagenette(args.imagenette, limits, args.imagenette_resolutions, args.batch_sizes, steps)
            else:
                print(f"skipping imagenette: {args.imagenette} not found", file=sys.stderr)
            continue
        if name == "digits":
            spec, kwargs = "digits", {}
        elif os.path.isdir(os.path.join(args.cifar, "train")):
            spec, kwargs = f"folder:{args.cifar}", dict(limit_train=cifar_limit, limit_test=min(cifar_limit, 1000))
        else:
            print(f"skipping cifar: {args.cifar} not found", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        ds = data.load(spec, **kwargs)
        load_s = time.perf_counter() - t0
        print(f"\nloaded {ds!r} in {load_s:.2f}s")
        print(HEADER)
        results += rows(ds.name, ds, spec, args.resolutions, args.batch_sizes, steps, load_s=load_s)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
