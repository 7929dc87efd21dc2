"""Layers the models share: convolutions that XLA:CPU runs slowly in their generic form (depthwise,
with selectable implementations, and pointwise 1x1 as a matmul), stochastic depth, and the scanned
:class:`Stage` that compiles a stage's repeated blocks once.

XLA:CPU lowers a grouped convolution (``feature_group_count=C``) to a slow generic loop: a 3x3
depthwise conv's forward+backward takes many times as long as PyTorch's on the same CPU
(benchmarks/RESULTS.md, "Depthwise convolution"). ``impl="shifted"`` writes the conv as k*k shifted
slices times a per-channel weight and gives it a hand-written VJP whose two gradients are also cheap
on CPU:

* forward: one zero-padded copy of x, then the sum of its k*k strided slices times per-channel
  weights, which XLA fuses into one elementwise loop (stride 2 computes only the kept outputs);
* grad wrt x: the same correlation of g, per output phase, so stride 2 never multiplies the zeros
  of a dilated g;
* grad wrt kernel: one *variadic* ``lax.reduce`` per kernel row: the k tap products of that row
  are reduced over W together in one fused pass (nothing k*k-sized is materialised), then a single
  small reduction finishes the sum. Separate per-tap reductions (``sum(tap * g)``) make XLA copy each
  strided slice first and were several times slower; one variadic reduce over all k*k taps was
  slower too (benchmarks/RESULTS.md, "Depthwise convolution").

A "scatter" form (each tap as ``lax.pad`` of the unpadded input, no padded copy) was faster for a
lone 3x3 conv but slower inside B0 (benchmarks/RESULTS.md, "How the step went from 0.50x to 1.2x
timm"): there XLA fused the preceding BN and swish into each of the k*k pads and wrote every tap
out. Measure kernels in the network, not alone.

On GPU/TPU the vendor grouped convolution is the fast path, so ``"auto"`` picks ``"xla"`` there.
Numbers: ``python benchmarks/depthwise.py`` and ``benchmarks/RESULTS.md``.

:class:`Pointwise` is a stride-1 1x1 convolution written as a matmul over channels: XLA:CPU's
convolution path runs its forward+backward several times slower than the same maths as ``einsum``;
on GPU/TPU both lower to the same matmul. Its matmul has a custom VJP of the very same products:
the boundary stops XLA from fusing the kernel gradient's operand transpose into the BN backward
that produces it (a slow strided write), which makes B0's forward+backward faster
(benchmarks/RESULTS.md, "How the step went from 0.50x to 1.2x timm").

:class:`PatchConv` is any other dense convolution (ResNet's 3x3 and strided 1x1) as the same matmul of
its k*k shifted taps concatenated over channels (im2col). Inside a scanned stage body XLA:CPU keeps
the kernel gradients of its convolutions in a layout its fast convolution path does not take, and
runs them as generic loops: ResNet-50's depth-14 CIFAR proxy trained slower scanned than unrolled.
As matmuls it trains many times faster scanned, faster than unrolled, and every other ResNet proxy
faster too (``benchmarks/RESULTS.md``, "ResNet convolutions as matmuls"). The cost:
the patches, k*k times the input, are the residual the backward pass keeps. EfficientNet's stem, the
one dense convolution outside a scanned body there, stays XLA's: as patches it was no faster.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

DEPTHWISE_IMPLS = ("xla", "shifted")

_DEFAULTS = {"cpu": "shifted"}  # every other platform: "xla"


def default_depthwise_impl(platform: str | None = None) -> str:
    """The fastest implementation measured on ``platform`` (default: the current JAX backend)."""
    platform = jax.default_backend() if platform is None else platform
    return _DEFAULTS.get(platform.lower(), "xla")


def depthwise_conv(x, kernel, stride: int, impl: str = "auto"):
    """Depthwise 'SAME' conv, no bias: x (N,H,W,C) NHWC, kernel (k,k,1,C) HWIO -> (N,ceil(H/s),ceil(W/s),C).

    Padding is TensorFlow/lax 'SAME' (extra pad row/column at the end); output has x's dtype.
    ``impl``: one of DEPTHWISE_IMPLS, or "auto" for default_depthwise_impl().
    """
    if impl == "auto":
        impl = default_depthwise_impl()
    if impl not in DEPTHWISE_IMPLS:
        raise ValueError(f"unknown depthwise impl {impl!r}; expected 'auto' or one of {DEPTHWISE_IMPLS}")
    if x.ndim != 4 or kernel.ndim != 4 or kernel.shape[2] != 1 or kernel.shape[3] != x.shape[3] \
            or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"depthwise_conv expects x (N,H,W,C) and kernel (k,k,1,C); got {x.shape} and {kernel.shape}")
    if int(stride) != stride or stride < 1:
        raise ValueError(f"depthwise_conv stride must be a positive int, got {stride!r}")
    if impl == "xla":
        return _xla(x, kernel, int(stride))
    return _shifted(x, kernel, int(stride))


def _xla(x, kernel, stride):
    """Reference path: XLA's grouped convolution (fast on GPU/TPU, slow on CPU)."""
    return lax.conv_general_dilated(x, kernel.astype(x.dtype), (stride, stride), "SAME",
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=x.shape[-1])


# ----------------------------------------------------------------------------------------------
# "shifted": k*k slices + custom VJP
# ----------------------------------------------------------------------------------------------

def _same(n: int, k: int, s: int):
    """TF 'SAME' along one axis: (output size, pad before, pad after)."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


def _acc_dtype(*xs):
    """Accumulate in at least float32 (bf16 inputs are summed in f32, then cast back)."""
    return jnp.promote_types(jnp.result_type(*xs), jnp.float32)


def _pad_input(x, k, s):
    """Zero-pad x to the SAME grid; return it with the output size."""
    _, h, w, _ = x.shape
    ho, pt, pb = _same(h, k, s)
    wo, pl, pr = _same(w, k, s)
    return jnp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0))), ho, wo


def _tap(xp, i, j, s, ho, wo):
    """The input window seen by kernel tap (i, j): xp[:, i::s, j::s] cut to the output size."""
    n, _, _, c = xp.shape
    return lax.slice(xp, (0, i, j, 0), (n, i + (ho - 1) * s + 1, j + (wo - 1) * s + 1, c), (1, s, s, 1))


def _forward(x, kernel, s):
    """y = sum_ij tap_ij(x) * kernel[i, j]: one padded copy, then one fused elementwise loop."""
    k = kernel.shape[0]
    acc = _acc_dtype(x, kernel)
    w = kernel.astype(acc)
    xp, ho, wo = _pad_input(x, k, s)
    y = None
    for i in range(k):
        for j in range(k):
            t = _tap(xp, i, j, s, ho, wo).astype(acc) * w[i, j, 0]
            y = t if y is None else y + t
    return y.astype(x.dtype)


def _grad_input(g, kernel, s, x_shape, x_dtype):
    """dL/dx, gathered per output phase: padded row a = s*q + p only gets taps i = p (mod s), with
    g[q - (i - p)//s]; each phase is a small correlation of g, then phases are interleaved."""
    k = kernel.shape[0]
    n, h, w, c = x_shape
    ho, pt, _ = _same(h, k, s)
    wo, pl, _ = _same(w, k, s)
    acc = _acc_dtype(g, kernel)
    wk = kernel.astype(acc)
    m = (k - 1) // s  # largest tap offset, in units of g rows
    hq, wq = -(-(pt + h) // s), -(-(pl + w) // s)  # phase grid covering the rows we keep
    gp = jnp.pad(g.astype(acc), ((0, 0), (m, max(hq - ho, 0)), (m, max(wq - wo, 0)), (0, 0)))
    phases = []
    for p in range(s):
        row = []
        for r in range(s):
            out = None
            for i in range(p, k, s):
                for j in range(r, k, s):
                    a, b = m - (i - p) // s, m - (j - r) // s
                    t = lax.slice(gp, (0, a, b, 0), (n, a + hq, b + wq, c)) * wk[i, j, 0]
                    out = t if out is None else out + t
            row.append(jnp.zeros((n, hq, wq, c), acc) if out is None else out)
        phases.append(row)
    if s == 1:
        full = phases[0][0]
    else:  # full[:, s*q + p, s*u + r] = phases[p][r][:, q, u]
        full = jnp.stack([jnp.stack(row, axis=3) for row in phases], axis=2).reshape(n, hq * s, wq * s, c)
    return full[:, pt:pt + h, pl:pl + w].astype(x_dtype)


def _grad_kernel(x, g, k, s, kernel_dtype):
    """dL/dkernel[i,j,c] = sum_{n,h,w} tap_ij(x) * g. Per kernel row i, ONE variadic reduce over W of the
    k tap products (a single fused pass; nothing k*k-sized is materialised), then one small reduction
    of the stacked (k*k, N*Ho, C) partial sums."""
    acc = _acc_dtype(x, g)
    xp, ho, wo = _pad_input(x, k, s)
    gf = g.astype(acc)
    zeros = tuple(jnp.zeros((), acc) for _ in range(k))
    add = lambda a, b: tuple(u + v for u, v in zip(a, b, strict=True))  # noqa: E731
    sums = []  # k*k arrays of shape (N, Ho, C)
    for i in range(k):
        prods = tuple(_tap(xp, i, j, s, ho, wo).astype(acc) * gf for j in range(k))
        sums.extend(lax.reduce(prods, zeros, add, (2,)))
    c = x.shape[-1]
    return jnp.stack([p.reshape(-1, c) for p in sums]).sum(axis=1).reshape(k, k, 1, c).astype(kernel_dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _shifted(x, kernel, stride):
    """Shifted-slice depthwise conv with a CPU-friendly hand-written backward pass."""
    return _forward(x, kernel, stride)


def _shifted_fwd(x, kernel, stride):
    """Forward pass of the custom VJP: keep only the inputs as residuals."""
    return _forward(x, kernel, stride), (x, kernel)


def _shifted_bwd(stride, res, g):
    """Backward pass of the custom VJP: (dL/dx, dL/dkernel) in the primal dtypes."""
    x, kernel = res
    return (_grad_input(g, kernel, stride, x.shape, x.dtype),
            _grad_kernel(x, g, kernel.shape[0], stride, kernel.dtype))


_shifted.defvjp(_shifted_fwd, _shifted_bwd)


@jax.custom_vjp
def _matmul(x, w):
    """x (M, K) @ w (K, N), with autodiff's own products as a hand-written VJP (see the module doc)."""
    return x @ w


def _matmul_fwd(x, w):
    """Forward pass of the custom VJP: keep the operands as residuals."""
    return x @ w, (x, w)


def _matmul_bwd(res, g):
    """Backward pass of the custom VJP: (g @ w.T, x.T @ g)."""
    x, w = res
    return g @ w.T, jnp.einsum("mk,mn->kn", x, g)


_matmul.defvjp(_matmul_fwd, _matmul_bwd)


class Pointwise(nnx.Module):
    """A 1x1, stride-1 convolution (optional bias) computed as a matmul over the channel axis.

    Drop-in for ``nnx.Conv(cin, cout, (1, 1))``: same kernel shape (1, 1, cin, cout), same order of
    RNG draws (kernel, then bias), same dtype promotion, so a model initialises identically.
    """

    def __init__(self, in_features: int, out_features: int, *, use_bias: bool = False, kernel_init,
                 dtype=None, rngs: nnx.Rngs):
        self.in_features, self.out_features, self.dtype = in_features, out_features, dtype
        self.kernel = nnx.Param(kernel_init(rngs.params(), (1, 1, in_features, out_features)))
        self.bias = nnx.data(None)
        if use_bias:
            rngs.params()  # nnx.Conv draws an (unused) key for its zero bias: keep the stream aligned
            self.bias = nnx.Param(np.zeros((out_features,), np.float32))

    def __call__(self, x):
        dtype = self.dtype or jnp.result_type(x, self.kernel[...])
        y = _matmul(x.astype(dtype).reshape(-1, x.shape[-1]), self.kernel[0, 0].astype(dtype))
        y = y.reshape(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias[...].astype(dtype)


class PatchConv(nnx.Module):
    """A dense k x k convolution, no bias, torchvision padding (``(k - 1) // 2`` each side), as one matmul
    of its patches.

    Drop-in for ``nnx.Conv(cin, cout, (k, k), (s, s), padding=((p, p), (p, p)), use_bias=False)``: same
    kernel (k, k, cin, cout), same RNG draw, same output size ``(size + 2p - k) // s + 1``.
    """

    def __init__(self, in_features: int, out_features: int, kernel_size: int, stride: int = 1, *, kernel_init,
                 dtype=None, rngs: nnx.Rngs):
        self.in_features, self.out_features, self.dtype = in_features, out_features, dtype
        self.kernel_size, self.stride = kernel_size, stride
        self.kernel = nnx.Param(kernel_init(rngs.params(), (kernel_size, kernel_size, in_features, out_features)))

    def __call__(self, x):
        k, s, c = self.kernel_size, self.stride, self.in_features
        dtype = self.dtype or jnp.result_type(x, self.kernel[...])
        n, h, w, _ = x.shape
        p = (k - 1) // 2
        ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        xp = jnp.pad(x.astype(dtype), ((0, 0), (p, p), (p, p), (0, 0)))
        # Tap (i, j) fills channels (i * k + j) * cin ...: the row order of the kernel reshaped to (k*k*cin, cout).
        taps = [_tap(xp, i, j, s, ho, wo) for i in range(k) for j in range(k)]
        patches = taps[0] if len(taps) == 1 else jnp.concatenate(taps, axis=-1)
        y = _matmul(patches.reshape(-1, k * k * c), self.kernel[...].astype(dtype).reshape(k * k * c, -1))
        return y.reshape(n, ho, wo, self.out_features)


# ----------------------------------------------------------------------------------------------
# Stochastic depth and scanned stages
# ----------------------------------------------------------------------------------------------
def drop_path(x, rate, key):
    """Stochastic depth (TF's drop_connect): keep a sample's branch with probability 1 - rate, rescaled.

    One Bernoulli draw per sample; ``rate`` and ``key`` may be traced (a scanned block's own).
    """
    keep = 1.0 - rate
    mask = jax.random.bernoulli(key, keep, (x.shape[0],) + (1,) * (x.ndim - 1))
    return jnp.where(mask, x / jnp.maximum(keep, 1e-6).astype(x.dtype), jnp.zeros((), x.dtype))


def stage_keys(rngs: nnx.Rngs, drawing: bool, repeats: list[int]) -> list:
    """Per stage, one stochastic-depth key per block (from ``rngs.dropout``), or None when not drawing."""
    if not drawing:
        return [None] * len(repeats)
    keys = jax.random.split(rngs.dropout(), sum(repeats))
    starts = [sum(repeats[:i]) for i in range(len(repeats))]
    return [keys[i:i + n] for i, n in zip(starts, repeats, strict=True)]


def _stack(*xs):
    """Stack on the host (NumPy: nothing compiles), or with ``jnp`` under a JAX transformation."""
    if any(isinstance(x, jax.core.Tracer) for x in xs):
        return jnp.stack(xs)
    return np.stack([np.asarray(x) for x in xs])


class Stage(nnx.Module):
    """A stage: its first block (which may stride and change channels) and ``repeats - 1`` identical ones.

    The identical blocks have stacked weights (each block initialised as if alone) and run as one
    ``nnx.scan`` body, so XLA compiles one block per stage, not one per block:
    a deeper network compiles in about the time of a shallow one. Each block's stochastic-depth rate
    and key are scanned inputs. ``scan_unroll=True`` unrolls the scan into straight-line code: the
    same function on the same weights (the tests compare the two).

    Blocks are called as ``block(x, rate, key)`` (``key`` None: no stochastic depth).
    """

    def __init__(self, make_first, make_rest, repeats: int, rates, *, scan_unroll: int | bool = 1, rngs: nnx.Rngs):
        self.rates = tuple(rates)  # per block: linear over the whole network's blocks (TF)
        self.scan_unroll = scan_unroll
        self.first = make_first(rngs)
        self.rest = nnx.data(None)
        if repeats > 1:
            # The blocks are built one by one (host-side initialisers, scaling.models.initializers), then
            # their values stacked into one module: what nnx.vmap would build, without tracing the inits.
            blocks = [make_rest(rngs) for _ in range(repeats - 1)]
            graphdef = nnx.graphdef(blocks[0])
            self.rest = nnx.merge(graphdef, jax.tree.map(_stack, *(nnx.state(b) for b in blocks)))

    def __call__(self, x, keys=None):
        """``keys``: one stochastic-depth key per block of the stage (None: no stochastic depth)."""
        x = self.first(x, self.rates[0], None if keys is None else keys[0])
        if self.rest is None:
            return x
        if keys is None:
            @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry, unroll=self.scan_unroll)
            def blocks(h, block):
                return block(h)

            return blocks(x, self.rest)

        @nnx.scan(in_axes=(nnx.Carry, 0, 0, 0), out_axes=nnx.Carry, unroll=self.scan_unroll)
        def blocks_with_drop(h, block, rate, key):
            return block(h, rate, key)

        return blocks_with_drop(x, self.rest, jnp.asarray(self.rates[1:], jnp.float32), keys[1:])
