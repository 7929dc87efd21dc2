"""Flax NNX models, and :func:`build_model` that picks the right one for a spec.

Submodules are imported lazily, so ``import scaling.models.layers`` stays light.
"""

from __future__ import annotations

from scaling.arch import NetworkSpec, ResNetSpec


def build_model(spec: NetworkSpec | ResNetSpec, num_classes: int = 1000, *, dtype=None, depthwise_impl: str = "auto",
                activation: str | None = None, bn_momentum: float | None = None, zero_init_residual: bool | None = None,
                zero_init_head: bool | None = None, scan_unroll: int | bool = 1, rngs):
    """The NNX module for ``spec``: :class:`EfficientNet` for a NetworkSpec, :class:`ResNet` for a ResNetSpec.

    ``activation=None`` means the spec's own ``activation`` field: "swish" for EfficientNet, "relu6" for
    what :func:`scaling.arch.mobilenet_v2_spec` makes, "relu" for a ResNetSpec. ``bn_momentum=None`` means the
    model's default (EfficientNet/MobileNetV2: TF's 0.99; ResNet: torchvision's 0.9). ``depthwise_impl``
    only matters for MBConv networks; a ResNet has no depthwise convolution. ``zero_init_residual``
    starts every residual block as the identity and ``zero_init_head`` the classifier at the uniform
    prediction (None or False: off, the reference initialisation);
    ``scan_unroll`` unrolls each stage's scanned blocks (True: fully, the same function).
    """
    zero_init = dict(zero_init_residual=bool(zero_init_residual), zero_init_head=bool(zero_init_head))
    if isinstance(spec, ResNetSpec):
        from scaling.models import resnet

        return resnet.ResNet(spec, num_classes, activation=activation, dtype=dtype,
                             bn_momentum=resnet.BN_MOMENTUM if bn_momentum is None else bn_momentum,
                             **zero_init, scan_unroll=scan_unroll, rngs=rngs)
    if isinstance(spec, NetworkSpec):
        from scaling.models import efficientnet

        return efficientnet.EfficientNet(
            spec, num_classes, activation=activation, dtype=dtype, depthwise_impl=depthwise_impl,
            bn_momentum=efficientnet.BN_MOMENTUM if bn_momentum is None else bn_momentum,
            **zero_init, scan_unroll=scan_unroll, rngs=rngs)
    raise TypeError(f"no model for a spec of type {type(spec).__name__}")
