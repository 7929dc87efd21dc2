"""Depthwise conv speed per implementation: median ms of forward and forward+backward (grads wrt x and kernel).

    python benchmarks/depthwise.py            # EfficientNet-like shapes
    python benchmarks/depthwise.py --tiny     # seconds-long smoke run for CI

Each row also gives the ratio to "xla" measured in the same run, and PyTorch's Conv2d(groups=C)
in channels_last as a peer when torch is importable.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scaling import runtime  # noqa: E402

runtime.tune()  # before JAX starts its backend, as the `scaling` command does
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from scaling.models.layers import DEPTHWISE_IMPLS, depthwise_conv  # noqa: E402

SHAPES = [((32, 32, 32, 96), 3, 1), ((32, 32, 32, 96), 3, 2), ((32, 16, 16, 240), 5, 1)]
TINY_SHAPES = [((2, 8, 8, 16), 3, 1), ((2, 8, 8, 16), 3, 2), ((2, 7, 7, 24), 5, 1)]


def median_ms(fn, *args, repeats: int) -> float:
    """Median wall time of fn(*args) after two warm-up calls (compile + first run)."""
    for _ in range(2):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def jax_fns(impl: str, stride: int):
    """Jitted forward, and forward+backward returning (grad x, grad kernel) of sum(y * ct)."""
    fwd = jax.jit(lambda x, w: depthwise_conv(x, w, stride, impl))

    def loss(x, w, ct):
        return jnp.sum(depthwise_conv(x, w, stride, impl) * ct)

    return fwd, jax.jit(jax.grad(loss, argnums=(0, 1)))


def torch_times(shape, k, stride, repeats):
    """(fwd ms, fwd+bwd ms) for torch Conv2d(groups=C) channels_last, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    n, h, w, c = shape
    conv = torch.nn.Conv2d(c, c, k, stride, padding=k // 2, groups=c, bias=False).to(memory_format=torch.channels_last)
    x = torch.randn(n, c, h, w).to(memory_format=torch.channels_last).requires_grad_(True)

    def fwd():
        with torch.no_grad():
            return conv(x)

    def fwd_bwd():
        x.grad = None
        conv.zero_grad(set_to_none=True)
        conv(x).sum().backward()

    def timed(fn):
        fn(), fn()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return 1e3 * statistics.median(ts)

    return timed(fwd), timed(fwd_bwd)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="small shapes, few repeats (CI smoke run)")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per measurement (default 20, tiny 3)")
    args = parser.parse_args(argv)
    shapes = TINY_SHAPES if args.tiny else SHAPES
    repeats = args.repeats or (3 if args.tiny else 20)

    print(f"jax {jax.__version__} on {jax.default_backend()} ({jax.devices()[0].device_kind}); median of {repeats}")
    header = (f"{'shape (N,H,W,C)':20s} {'k':>2s} {'s':>2s}  {'impl':8s} "
              f"{'fwd ms':>9s} {'x xla':>7s} {'fwd+bwd ms':>11s} {'x xla':>7s}")
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for shape, k, s in shapes:
        x = jnp.asarray(rng.standard_normal(shape), jnp.float32)
        w = jnp.asarray(rng.standard_normal((k, k, 1, shape[-1])) * 0.1, jnp.float32)
        rows = {}
        for impl in DEPTHWISE_IMPLS:
            fwd, grad = jax_fns(impl, s)
            ct = jnp.ones_like(fwd(x, w))
            rows[impl] = (median_ms(fwd, x, w, repeats=repeats), median_ms(grad, x, w, ct, repeats=repeats))
        peer = torch_times(shape, k, s, repeats)
        if peer is not None:
            rows["torch"] = peer
        ref_f, ref_b = rows["xla"]
        for name, (f, b) in rows.items():
            print(f"{str(shape):20s} {k:2d} {s:2d}  {name:8s} {f:9.2f} {ref_f / f:6.1f}x {b:11.2f} {ref_b / b:6.1f}x")
    print("'x xla' = speed-up over xla in this run (higher is faster).")


if __name__ == "__main__":
    main()
