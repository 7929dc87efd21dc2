"""EfficientNet in Flax NNX, exact to the official TF reference (tensorflow/tpu efficientnet_model.py).

NHWC. Built from a frozen :class:`scaling.arch.NetworkSpec` (a preset, (d, w, r), or
(alpha, beta, gamma, phi)). Params are fp32; ``dtype`` sets the compute dtype (bf16 on GPU/TPU).
``model.train()`` / ``model.eval()`` switch BN statistics, dropout and stochastic depth.

Each stage is a :class:`scaling.models.layers.Stage`: its repeated blocks have stacked weights and
run as one scanned body, so XLA compiles one block per stage whatever the depth.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from scaling.arch import NetworkSpec
from scaling.cost import se_width
from scaling.models.initializers import conv_init, dense_init, depthwise_init, ones, zeros
from scaling.models.layers import Pointwise, Stage, depthwise_conv, drop_path, stage_keys

BN_MOMENTUM = 0.99  # TF's moving-average decay; Flax uses the same convention
BN_EPSILON = 1e-3  # TF's; Flax's default is 1e-5

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "swish": jax.nn.silu,
    "relu6": jax.nn.relu6,  # the MobileNetV2 choice, for ablation
    "relu": jax.nn.relu,
}


class ConvBN(nnx.Module):
    """Bias-free SAME conv (dense or depthwise), batch norm, optional activation."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, *, depthwise: bool = False,
                 act: Callable | None, dtype, depthwise_impl: str, bn_momentum: float, zero_scale: bool = False,
                 rngs: nnx.Rngs):
        self.depthwise = depthwise
        self.stride = stride
        self.dtype = dtype
        self.depthwise_impl = depthwise_impl
        if depthwise:
            self.kernel = nnx.Param(depthwise_init(rngs.params(), (kernel, kernel, 1, cout)))
        elif kernel == 1 and stride == 1:
            self.conv = Pointwise(cin, cout, kernel_init=conv_init, dtype=dtype, rngs=rngs)
        else:
            self.conv = nnx.Conv(cin, cout, (kernel, kernel), (stride, stride), padding="SAME", use_bias=False,
                                 kernel_init=conv_init, dtype=dtype, rngs=rngs)
        self.bn = nnx.BatchNorm(cout, momentum=bn_momentum, epsilon=BN_EPSILON, dtype=dtype,
                                scale_init=zeros if zero_scale else ones, bias_init=zeros, rngs=rngs)
        self.act = act

    def __call__(self, x):
        if self.depthwise:
            x = depthwise_conv(x.astype(self.dtype or x.dtype), self.kernel[...].astype(self.dtype or x.dtype),
                               self.stride, self.depthwise_impl)
        else:
            x = self.conv(x)
        x = self.bn(x)
        return x if self.act is None else self.act(x)


class SqueezeExcite(nnx.Module):
    """Global mean, 1x1 conv to the reduced width (bias), act, 1x1 conv back (bias), sigmoid gate."""

    def __init__(self, channels: int, reduced: int, *, act: Callable, dtype, rngs: nnx.Rngs):
        self.reduce = Pointwise(channels, reduced, use_bias=True, kernel_init=conv_init, dtype=dtype, rngs=rngs)
        self.expand = Pointwise(reduced, channels, use_bias=True, kernel_init=conv_init, dtype=dtype, rngs=rngs)
        self.act = act

    def __call__(self, x):
        s = jnp.mean(x, axis=(1, 2), keepdims=True)
        s = self.expand(self.act(self.reduce(s)))
        return x * jax.nn.sigmoid(s)


class MBConv(nnx.Module):
    """Mobile inverted bottleneck: expand 1x1, depthwise kxk, SE, project 1x1, stochastic depth."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, se_ratio: float | None,
                 *, act: Callable, dtype, depthwise_impl: str, bn_momentum: float, zero_init_residual: bool = False,
                 rngs: nnx.Rngs):
        mid = cin * expand
        self.residual = stride == 1 and cin == cout
        common = dict(dtype=dtype, depthwise_impl=depthwise_impl, bn_momentum=bn_momentum, rngs=rngs)
        self.expand = ConvBN(cin, mid, 1, act=act, **common) if expand != 1 else None
        self.dw = ConvBN(mid, mid, kernel, stride, depthwise=True, act=act, **common)
        self.se = SqueezeExcite(mid, se_width(cin, se_ratio), act=act, dtype=dtype, rngs=rngs) if se_ratio else None
        # zero_init_residual: the projection's BN scale starts at 0, so the block starts as the identity.
        self.project = ConvBN(mid, cout, 1, act=None, zero_scale=zero_init_residual and self.residual, **common)

    def __call__(self, x, rate=0.0, key=None):
        """``rate``: this block's stochastic-depth rate; ``key``: its draw (None: no stochastic depth)."""
        h = x if self.expand is None else self.expand(x)
        h = self.dw(h)
        if self.se is not None:
            h = self.se(h)
        h = self.project(h)
        if not self.residual:
            return h
        if key is not None:
            h = drop_path(h, rate, key)
        return h + x


class EfficientNet(nnx.Module):
    """EfficientNet (or any MBConv network) from a spec.

    Args:
      spec: the rounded network (channels, repeats, resolution, dropout).
      num_classes: classifier width.
      activation: "swish", "relu6" or "relu"; None (default): the spec's own ``activation``.
      dtype: compute dtype; parameters and BN statistics stay fp32.
      depthwise_impl: see :func:`scaling.models.layers.depthwise_conv` ("auto" picks per platform).
      bn_momentum: decay of the BN moving averages (TF's 0.99; short proxy runs need less).
      zero_init_residual: start every residual block as the identity (the last BN scale of its
        branch at 0; Goyal et al. 2017, torchvision's ``zero_init_residual``, timm's ``zero_init_last``).
        Off by default: the TF reference initialises it to 1.
      zero_init_head: start the classifier's kernel at 0, so every network starts at the uniform
        prediction (big_vision's ``head_zeroinit``). Off by default: TF draws it from
        U(+-1/sqrt(num_classes)), whose logits grow with the head's width (std 1.5 at 320 channels,
        2.4 at 832 on 10 classes).
      scan_unroll: ``nnx.scan``'s ``unroll`` for the repeated blocks of each stage (True: unrolled).
    """

    def __init__(self, spec: NetworkSpec, num_classes: int = 1000, *, activation: str | None = None,
                 dtype=None, depthwise_impl: str = "auto", bn_momentum: float = BN_MOMENTUM,
                 zero_init_residual: bool = False, zero_init_head: bool = False, scan_unroll: int | bool = 1,
                 rngs: nnx.Rngs):
        activation = activation or spec.activation
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
        act = ACTIVATIONS[activation]
        self.spec = spec
        self.dtype = dtype
        common = dict(dtype=dtype, depthwise_impl=depthwise_impl, bn_momentum=bn_momentum)
        self.stem = ConvBN(3, spec.stem_channels, 3, spec.stem_stride, act=act, rngs=rngs, **common)
        n = spec.num_blocks  # counted after depth scaling, as in TF
        rates = [spec.drop_connect_rate * i / n for i in range(n)]
        block = dict(act=act, zero_init_residual=zero_init_residual, **common)
        self.stages, start = nnx.List(), 0
        for s in spec.stages:
            self.stages.append(Stage(
                lambda rngs, s=s: MBConv(s.in_channels, s.out_channels, s.kernel, s.stride, s.expand_ratio,
                                         s.se_ratio, rngs=rngs, **block),
                lambda rngs, s=s: MBConv(s.out_channels, s.out_channels, s.kernel, 1, s.expand_ratio, s.se_ratio,
                                         rngs=rngs, **block),
                s.repeats, rates[start:start + s.repeats], scan_unroll=scan_unroll, rngs=rngs))
            start += s.repeats
        self.head = ConvBN(spec.stages[-1].out_channels, spec.head_channels, 1, act=act, rngs=rngs, **common)
        # Stochastic depth draws from this stream, reseeded with the dropout stream (nnx.reseed(dropout=...)).
        self.drop_path_rngs = nnx.Rngs(dropout=rngs.dropout())
        self.deterministic = False
        self.dropout = nnx.Dropout(spec.dropout_rate, rngs=rngs)
        self.classifier = nnx.Linear(spec.head_channels, num_classes, bias_init=zeros, dtype=dtype, rngs=rngs,
                                     kernel_init=zeros if zero_init_head else dense_init)

    def features(self, x):
        """The last feature map (after the head conv), (B, h, w, head_channels): the CAM input."""
        if self.dtype is not None:
            x = x.astype(self.dtype)
        x = self.stem(x)
        keys = stage_keys(self.drop_path_rngs, self.spec.drop_connect_rate > 0 and not self.deterministic,
                          [s.repeats for s in self.spec.stages])
        for stage, k in zip(self.stages, keys, strict=True):
            x = stage(x, k)
        return self.head(x)

    def __call__(self, x):
        x = jnp.mean(self.features(x), axis=(1, 2))
        x = self.dropout(x)
        return self.classifier(x).astype(jnp.float32)
