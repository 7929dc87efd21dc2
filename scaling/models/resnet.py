"""Bottleneck ResNet in Flax NNX, torchvision ``resnet50`` (v1.5) layout, built from a ResNetSpec.

NHWC. Stem conv 7x7/s2 + BN + ReLU + max pool 3x3/s2; bottlenecks 1x1 -> 3x3 (stride here: v1.5)
-> 1x1 (x expansion) with a conv1x1/s + BN projection shortcut where the shape changes; global
average pool; Linear. Convolutions pad symmetrically like torchvision (``(k - 1) // 2`` each side) and run as
matmuls of their patches (:class:`scaling.models.layers.PatchConv`: XLA:CPU's convolutions are slow here),
so the output sizes are ceil(size / stride) as :func:`scaling.cost.count_resnet` assumes.

Defaults are torchvision's: BN decay 0.9 (torch ``momentum=0.1``) and epsilon 1e-5; He init
N(0, sqrt(2 / fan_out)) on convs (torch ``kaiming_normal_(mode="fan_out")``); classifier kernel
U(+-1/sqrt(fan_in)), bias zero; BN scale one, bias zero. Params are fp32; ``dtype`` sets the
compute dtype. ``model.train()`` / ``model.eval()`` switch BN statistics (and dropout / stochastic
depth when the spec asks for them). Each stage's repeated bottlenecks run as one scanned body
(:class:`scaling.models.layers.Stage`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from flax import nnx

from scaling.arch import ResNetSpec
from scaling.models.efficientnet import ACTIVATIONS
from scaling.models.initializers import conv_init, linear_init, ones, zeros
from scaling.models.layers import PatchConv, Stage, drop_path, stage_keys

BN_MOMENTUM = 0.9  # decay of the moving averages; torchvision's momentum=0.1
BN_EPSILON = 1e-5  # torchvision's (and Flax's) default


class ConvBN(nnx.Module):
    """Bias-free conv with torchvision padding, batch norm, optional activation."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, *, act: Callable | None, dtype,
                 bn_momentum: float, zero_scale: bool = False, rngs: nnx.Rngs):
        self.conv = PatchConv(cin, cout, kernel, stride, kernel_init=conv_init, dtype=dtype, rngs=rngs)
        self.bn = nnx.BatchNorm(cout, momentum=bn_momentum, epsilon=BN_EPSILON, dtype=dtype,
                                scale_init=zeros if zero_scale else ones, bias_init=zeros, rngs=rngs)
        self.act = act

    def __call__(self, x):
        x = self.bn(self.conv(x))
        return x if self.act is None else self.act(x)


class Bottleneck(nnx.Module):
    """1x1 -> 3x3 (stride) -> 1x1, plus the identity or a projection shortcut, then the activation."""

    def __init__(self, cin: int, width: int, cout: int, stride: int, *, act: Callable, dtype,
                 bn_momentum: float, zero_init_residual: bool = False, rngs: nnx.Rngs):
        common = dict(dtype=dtype, bn_momentum=bn_momentum, rngs=rngs)
        self.conv1 = ConvBN(cin, width, 1, act=act, **common)
        self.conv2 = ConvBN(width, width, 3, stride, act=act, **common)
        # zero_init_residual: conv3's BN scale starts at 0, so the block starts as act(shortcut).
        self.conv3 = ConvBN(width, cout, 1, act=None, zero_scale=zero_init_residual, **common)
        self.shortcut = ConvBN(cin, cout, 1, stride, act=None, **common) if stride != 1 or cin != cout else None
        self.act = act

    def __call__(self, x, rate=0.0, key=None):
        """``rate``, ``key``: stochastic depth on the residual branch (``key`` None: none)."""
        h = self.conv3(self.conv2(self.conv1(x)))
        if key is not None:
            h = drop_path(h, rate, key)
        skip = x if self.shortcut is None else self.shortcut(x)
        return self.act(h + skip)


class ResNet(nnx.Module):
    """Bottleneck ResNet from a :class:`scaling.arch.ResNetSpec` (ResNet-50 by default layout).

    Args:
      spec: the rounded network (repeats, widths, stem, resolution).
      num_classes: classifier width.
      activation: any name in ``efficientnet.ACTIVATIONS``; None (default): the spec's own ("relu").
      dtype: compute dtype; parameters and BN statistics stay fp32.
      bn_momentum: decay of the BN moving averages (0.9, torchvision's).
      zero_init_residual: the last BN scale of every bottleneck starts at 0 (torchvision's option).
      zero_init_head: the classifier's kernel starts at 0 (big_vision's ``head_zeroinit``).
      scan_unroll: ``nnx.scan``'s ``unroll`` for each stage's repeated bottlenecks (True: unrolled).
    """

    def __init__(self, spec: ResNetSpec, num_classes: int = 1000, *, activation: str | None = None, dtype=None,
                 bn_momentum: float = BN_MOMENTUM, zero_init_residual: bool = False, zero_init_head: bool = False,
                 scan_unroll: int | bool = 1, rngs: nnx.Rngs):
        activation = activation or spec.activation
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
        act = ACTIVATIONS[activation]
        self.spec = spec
        self.dtype = dtype
        common = dict(dtype=dtype, bn_momentum=bn_momentum)
        self.stem = ConvBN(3, spec.stem_channels, 7, spec.stem_stride, act=act, rngs=rngs, **common)
        self.pool_stride = spec.pool_stride
        n = spec.num_blocks
        rates = [spec.drop_connect_rate * i / n for i in range(n)]
        block = dict(act=act, zero_init_residual=zero_init_residual, **common)
        self.stages, start, cin = nnx.List(), 0, spec.stem_channels
        for repeats, width, stride in zip(spec.repeats, spec.widths, spec.strides, strict=True):
            cout = width * spec.expansion
            self.stages.append(Stage(
                lambda rngs, cin=cin, width=width, cout=cout, stride=stride: Bottleneck(
                    cin, width, cout, stride, rngs=rngs, **block),
                lambda rngs, width=width, cout=cout: Bottleneck(cout, width, cout, 1, rngs=rngs, **block),
                repeats, rates[start:start + repeats], scan_unroll=scan_unroll, rngs=rngs))
            start, cin = start + repeats, cout
        # Stochastic depth draws from this stream, reseeded with the dropout stream (nnx.reseed(dropout=...)).
        self.drop_path_rngs = nnx.Rngs(dropout=rngs.dropout())
        self.deterministic = False
        self.dropout = nnx.Dropout(spec.dropout_rate, rngs=rngs)
        self.classifier = nnx.Linear(spec.head_channels, num_classes, bias_init=zeros, dtype=dtype, rngs=rngs,
                                     kernel_init=zeros if zero_init_head else linear_init)

    def features(self, x):
        """The last feature map, (B, h, w, head_channels) (2048 for ResNet-50): the CAM input."""
        if self.dtype is not None:
            x = x.astype(self.dtype)
        x = self.stem(x)
        if self.pool_stride > 1:
            x = nnx.max_pool(x, (3, 3), (self.pool_stride,) * 2, padding=((1, 1), (1, 1)))
        keys = stage_keys(self.drop_path_rngs, self.spec.drop_connect_rate > 0 and not self.deterministic,
                          list(self.spec.repeats))
        for stage, k in zip(self.stages, keys, strict=True):
            x = stage(x, k)
        return x

    def __call__(self, x):
        x = jnp.mean(self.features(x), axis=(1, 2))
        x = self.dropout(x)
        return self.classifier(x).astype(jnp.float32)
