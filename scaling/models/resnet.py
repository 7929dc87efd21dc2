"""Bottleneck ResNet in Flax NNX, torchvision ``resnet50`` (v1.5) layout, built from a ResNetSpec.

NHWC. Stem conv 7x7/s2 + BN + ReLU + max pool 3x3/s2; bottlenecks 1x1 -> 3x3 (stride here: v1.5)
-> 1x1 (x expansion) with a conv1x1/s + BN projection shortcut where the shape changes; global
average pool; Linear. Convolutions pad symmetrically like torchvision (``(k - 1) // 2`` each side),
so the output sizes are ceil(size / stride) as :func:`scaling.cost.count_resnet` assumes.

Defaults are torchvision's: BN decay 0.9 (torch ``momentum=0.1``) and epsilon 1e-5; He init
N(0, sqrt(2 / fan_out)) on convs (torch ``kaiming_normal_(mode="fan_out")``); classifier kernel
U(+-1/sqrt(fan_in)), bias zero; BN scale one, bias zero. Params are fp32; ``dtype`` sets the
compute dtype. ``model.train()`` / ``model.eval()`` switch BN statistics (and dropout / stochastic
depth when the spec asks for them).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from scaling.models.efficientnet import ACTIVATIONS, conv_init
from scaling.rules import ResNetSpec

BN_MOMENTUM = 0.9  # decay of the moving averages; torchvision's momentum=0.1
BN_EPSILON = 1e-5  # torchvision's (and Flax's) default


def linear_init(key, shape, dtype=jnp.float32):
    """torch ``nn.Linear`` weight init: U(-1/sqrt(fan_in), +1/sqrt(fan_in))."""
    limit = 1.0 / math.sqrt(shape[0])
    return jax.random.uniform(key, shape, dtype, -limit, limit)


class ConvBN(nnx.Module):
    """Bias-free conv with torchvision padding, batch norm, optional activation."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, *, act: Callable | None, dtype,
                 bn_momentum: float, zero_scale: bool = False, rngs: nnx.Rngs):
        pad = (kernel - 1) // 2
        self.conv = nnx.Conv(cin, cout, (kernel, kernel), (stride, stride), padding=((pad, pad), (pad, pad)),
                             use_bias=False, kernel_init=conv_init, dtype=dtype, rngs=rngs)
        scale_init = nnx.initializers.zeros_init() if zero_scale else nnx.initializers.ones_init()
        self.bn = nnx.BatchNorm(cout, momentum=bn_momentum, epsilon=BN_EPSILON, dtype=dtype, scale_init=scale_init,
                                rngs=rngs)
        self.act = act

    def __call__(self, x):
        x = self.bn(self.conv(x))
        return x if self.act is None else self.act(x)


class Bottleneck(nnx.Module):
    """1x1 -> 3x3 (stride) -> 1x1, plus the identity or a projection shortcut, then the activation."""

    def __init__(self, cin: int, width: int, cout: int, stride: int, drop_rate: float, *, act: Callable, dtype,
                 bn_momentum: float, zero_init_residual: bool = False, rngs: nnx.Rngs):
        common = dict(dtype=dtype, bn_momentum=bn_momentum, rngs=rngs)
        self.conv1 = ConvBN(cin, width, 1, act=act, **common)
        self.conv2 = ConvBN(width, width, 3, stride, act=act, **common)
        # zero_init_residual: conv3's BN scale starts at 0, so the block starts as act(shortcut).
        self.conv3 = ConvBN(width, cout, 1, act=None, zero_scale=zero_init_residual, **common)
        self.shortcut = ConvBN(cin, cout, 1, stride, act=None, **common) if stride != 1 or cin != cout else None
        # Stochastic depth on the residual branch (off unless the spec sets drop_connect_rate).
        self.drop_path = nnx.Dropout(drop_rate, broadcast_dims=(1, 2, 3), rngs=rngs)
        self.act = act

    def __call__(self, x):
        h = self.conv3(self.conv2(self.conv1(x)))
        skip = x if self.shortcut is None else self.shortcut(x)
        return self.act(self.drop_path(h) + skip)


class ResNet(nnx.Module):
    """Bottleneck ResNet from a :class:`scaling.rules.ResNetSpec` (ResNet-50 by default layout).

    Args:
      spec: the rounded network (repeats, widths, stem, resolution).
      num_classes: classifier width.
      activation: "relu" (default) or any name in ``efficientnet.ACTIVATIONS``.
      dtype: compute dtype; parameters and BN statistics stay fp32.
      bn_momentum: decay of the BN moving averages (0.9, torchvision's).
      zero_init_residual: the last BN scale of every bottleneck starts at 0 (torchvision's option).
    """

    def __init__(self, spec: ResNetSpec, num_classes: int = 1000, *, activation: str = "relu", dtype=None,
                 bn_momentum: float = BN_MOMENTUM, zero_init_residual: bool = False, rngs: nnx.Rngs):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
        act = ACTIVATIONS[activation]
        self.spec = spec
        self.dtype = dtype
        common = dict(dtype=dtype, bn_momentum=bn_momentum, rngs=rngs)
        self.stem = ConvBN(3, spec.stem_channels, 7, spec.stem_stride, act=act, **common)
        self.pool_stride = spec.pool_stride
        blocks = spec.blocks()
        n = len(blocks)
        self.blocks = nnx.List([
            Bottleneck(cin, width, cout, stride, spec.drop_connect_rate * i / n, act=act,
                       zero_init_residual=zero_init_residual, **common)
            for i, (cin, width, cout, stride) in enumerate(blocks)
        ])
        self.dropout = nnx.Dropout(spec.dropout_rate, rngs=rngs)
        self.classifier = nnx.Linear(spec.head_channels, num_classes, kernel_init=linear_init, dtype=dtype, rngs=rngs)

    def features(self, x):
        """The last feature map, (B, h, w, head_channels) (2048 for ResNet-50): the CAM input."""
        if self.dtype is not None:
            x = x.astype(self.dtype)
        x = self.stem(x)
        if self.pool_stride > 1:
            x = nnx.max_pool(x, (3, 3), (self.pool_stride,) * 2, padding=((1, 1), (1, 1)))
        for block in self.blocks:
            x = block(x)
        return x

    def __call__(self, x):
        x = jnp.mean(self.features(x), axis=(1, 2))
        x = self.dropout(x)
        return self.classifier(x).astype(jnp.float32)
