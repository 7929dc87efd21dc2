"""Analytic cost of a network spec: trainable parameters, multiply-adds (MACs), activation bytes.

Counts follow the convention of the paper and ``../shared/reference/efficientnet_variants.csv``:
MACs of every convolution (depthwise and the squeeze-excitation 1x1s included) and of the
classifier; batch norm, activations, pooling and the residual adds are not counted. Parameters:
convolutions without bias, BN scale and bias, SE convolutions and classifier with bias. BN moving
statistics are not trainable and not counted.
"""

from __future__ import annotations

import dataclasses
import math

from scaling.arch import NetworkSpec, ResNetSpec


@dataclasses.dataclass(frozen=True)
class Cost:
    params: int
    macs: int
    activation_bytes: int  # per image, forward tensors kept for the backward pass

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9


def se_width(in_channels: int, se_ratio: float) -> int:
    """Squeeze-excitation width, from the block *input* channels as in the TF reference."""
    return max(1, int(in_channels * se_ratio))


def _out(size: int, stride: int) -> int:
    """Spatial size after a SAME-padded convolution."""
    return math.ceil(size / stride)


def count(spec: NetworkSpec | ResNetSpec, num_classes: int = 1000, resolution: int | None = None,
          bytes_per_value: int = 4) -> Cost:
    """Parameters, MACs and activation bytes of ``spec`` at ``resolution`` (default: its own).

    Activation bytes sum, per image, every conv / BN / activation output and SE gate product that
    autodiff keeps for the backward pass, at ``bytes_per_value`` (4 for fp32, 2 for bf16). It is an
    estimate for batch sizing and bandwidth limits, not an allocator measurement.
    A :class:`ResNetSpec` is counted by :func:`count_resnet`.
    """
    if isinstance(spec, ResNetSpec):
        return count_resnet(spec, num_classes, resolution, bytes_per_value)
    res = spec.resolution if resolution is None else resolution
    params = macs = acts = 0

    def conv(cin: int, cout: int, k: int, size: int, stride: int, groups: int = 1, bn: bool = True,
             act: bool = True) -> int:
        nonlocal params, macs, acts
        out = _out(size, stride)
        params += k * k * (cin // groups) * cout + (2 * cout if bn else 0)
        macs += out * out * k * k * (cin // groups) * cout
        acts += out * out * cout * (1 + bn + act)
        return out

    size = conv(3, spec.stem_channels, 3, res, spec.stem_stride)
    for cin, cout, k, stride, expand, se_ratio in spec.blocks():
        mid = cin * expand
        if expand != 1:
            size = conv(cin, mid, 1, size, 1)
        size = conv(mid, mid, k, size, stride, groups=mid)
        if se_ratio:
            red = se_width(cin, se_ratio)
            params += mid * red + red + red * mid + mid
            macs += mid * red + red * mid
            acts += size * size * mid  # the gated feature map
        size = conv(mid, cout, 1, size, 1, act=False)
    last = spec.stages[-1].out_channels
    conv(last, spec.head_channels, 1, size, 1)
    params += spec.head_channels * num_classes + num_classes
    macs += spec.head_channels * num_classes
    return Cost(params=params, macs=macs, activation_bytes=acts * bytes_per_value)


def feature_map_size(spec: NetworkSpec | ResNetSpec, resolution: int | None = None) -> int:
    """Side of the last feature map (the CAM's grid): ceil(resolution / stride) at every strided layer."""
    size = spec.resolution if resolution is None else resolution
    strides = [spec.stem_stride] + ([spec.pool_stride, *spec.strides] if isinstance(spec, ResNetSpec)
                                    else [s.stride for s in spec.stages])
    for s in strides:
        size = _out(size, s)
    return size


def describe(spec: NetworkSpec | ResNetSpec, num_classes: int = 1000) -> dict:
    """One table row: coefficients, rounded shape and cost of ``spec``."""
    c = count(spec, num_classes)
    return {
        "network": spec.name,
        "depth": round(spec.depth, 4),
        "width": round(spec.width, 4),
        "resolution_scale": round(spec.resolution_scale, 4),
        "resolution": spec.resolution,
        "output_stride": spec.output_stride,
        "feature_map": feature_map_size(spec),
        "stem": spec.stem_channels,
        "head": spec.head_channels,
        "blocks": spec.num_blocks,
        "params": c.params,
        "macs": c.macs,
        "gmacs": round(c.gmacs, 4),
        "activation_mib": round(c.activation_bytes / 2**20, 2),
    }


def candidate_rows(candidates, baseline: NetworkSpec | ResNetSpec, num_classes: int = 1000) -> list[dict]:
    """The grid's merged candidates with their real cost and MAC ratio to ``baseline``."""
    base = count(baseline, num_classes).macs
    rows = []
    for cand in candidates:
        row = {"candidate": cand.key, "alpha": cand.alpha, "beta": cand.beta, "gamma": cand.gamma,
               "product": round(cand.product, 4)}
        row |= describe(cand.spec, num_classes)
        row["mac_ratio"] = round(row["macs"] / base, 4)
        others = [p for p in cand.merged if p != (cand.alpha, cand.beta, cand.gamma)]
        row["merged"] = " ".join(f"({a:g},{b:g},{g:g})" for a, b, g in others)
        del row["network"]
        rows.append(row)
    return rows


def count_resnet(spec: ResNetSpec, num_classes: int = 1000, resolution: int | None = None,
                 bytes_per_value: int = 4) -> Cost:
    """:func:`count` for a bottleneck ResNet (stem conv + BN + ReLU + max pool, bottlenecks, pool, FC).

    Same conventions: MACs of every convolution (projection shortcuts included) and of the
    classifier; parameters of bias-free convs, BN scale and bias, and the classifier with bias.
    Spatial sizes are ceil(size / stride) everywhere, which equals torchvision's symmetric padding
    for the 7x7/s2 stem, the 3x3/s2 max pool, the 3x3 convs and the 1x1/s2 shortcuts. Activation
    bytes: conv / BN / ReLU outputs, the max-pool output and each block's ReLU(sum) output.
    """
    res = spec.resolution if resolution is None else resolution
    params = macs = acts = 0

    def conv(cin: int, cout: int, k: int, size: int, stride: int, act: bool = True) -> int:
        nonlocal params, macs, acts
        out = _out(size, stride)
        params += k * k * cin * cout + 2 * cout
        macs += out * out * k * k * cin * cout
        acts += out * out * cout * (2 + act)
        return out

    size = conv(3, spec.stem_channels, 7, res, spec.stem_stride)
    if spec.pool_stride > 1:  # 3x3 max pool
        size = _out(size, spec.pool_stride)
        acts += size * size * spec.stem_channels
    for cin, width, cout, stride in spec.blocks():
        if stride != 1 or cin != cout:
            conv(cin, cout, 1, size, stride, act=False)
        conv(cin, width, 1, size, 1)
        size = conv(width, width, 3, size, stride)
        conv(width, cout, 1, size, 1, act=False)
        acts += size * size * cout  # ReLU(residual + shortcut)
    params += spec.head_channels * num_classes + num_classes
    macs += spec.head_channels * num_classes
    return Cost(params=params, macs=macs, activation_bytes=acts * bytes_per_value)
