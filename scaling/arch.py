"""Architecture tables as frozen specs: the fully rounded networks models and cost tables are built from.

- :class:`Stage`, the EfficientNet-B0 table (``B0_STAGES``) and :class:`NetworkSpec` (an MBConv
  network: EfficientNet, MobileNetV2), with ``activation`` a field of its own;
- :class:`ResNetSpec` (a bottleneck ResNet, ResNet-50 by default);
- the builders: ``scaled_spec`` / ``compound_spec`` (B0 scaled by d, w, r), ``preset_spec`` (the
  official B0-B7), ``mobilenet_v2_spec``, ``resnet_spec``, and ``BASELINES`` / ``baseline_spec``
  that name them;
- ``with_output_stride``: the small-image layout.

Standard library only; the rounding and compound maths are :mod:`scaling.scaling_math`. A spec's
``resolution`` is pixels and its ``resolution_scale`` the nominal multiplier r it came from.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from scaling.scaling_math import (
    RESOLUTION_MULTIPLE,
    ScalingError,
    check_coefficients,
    check_size,
    compound_coefficients,
    round_filters,
    round_repeats,
    scaled_resolution,
)


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage of MBConv blocks; only its first block strides and changes channels."""

    repeats: int
    kernel: int
    stride: int
    expand_ratio: int
    in_channels: int
    out_channels: int
    se_ratio: float | None = 0.25


#: EfficientNet-B0 (paper Table 1, official block strings; ../shared/reference/b0_stages.csv).
B0_STAGES = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)
B0_STEM, B0_HEAD, B0_RESOLUTION, B0_DROPOUT = 32, 1280, 224, 0.2


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
    """A fully rounded EfficientNet-style network plus the nominal coefficients it came from.

    ``resolution`` is the input size in px; ``depth``, ``width``, ``resolution_scale`` the nominal
    multipliers d, w, r. ``activation`` is the nonlinearity of every block ("swish" for
    EfficientNet, "relu6" for MobileNetV2); :func:`scaling.models.build_model` reads it.
    """

    stages: tuple[Stage, ...]
    stem_channels: int
    head_channels: int
    resolution: int
    dropout_rate: float = B0_DROPOUT
    drop_connect_rate: float = 0.2
    depth: float = 1.0
    width: float = 1.0
    resolution_scale: float = 1.0
    name: str = "custom"
    stem_stride: int = 2
    activation: str = "swish"

    @property
    def num_blocks(self) -> int:
        return sum(s.repeats for s in self.stages)

    @property
    def architecture(self) -> tuple:
        """What makes two specs the same network: channels, repeats, strides, resolution and activation."""
        return (self.stages, self.stem_channels, self.head_channels, self.resolution, self.stem_stride,
                self.activation)

    @property
    def output_stride(self) -> int:
        """Input size / last feature map size (32 for B0; less with :func:`with_output_stride`)."""
        return self.stem_stride * math.prod(s.stride for s in self.stages)

    def blocks(self) -> list[tuple[int, int, int, int, int, float | None]]:
        """Every block as (in, out, kernel, stride, expand_ratio, se_ratio), in order."""
        out = []
        for s in self.stages:
            for i in range(s.repeats):
                cin = s.in_channels if i == 0 else s.out_channels
                out.append((cin, s.out_channels, s.kernel, s.stride if i == 0 else 1, s.expand_ratio, s.se_ratio))
        return out


def _check_spec(spec: NetworkSpec) -> NetworkSpec:
    widest = max(max(s.in_channels, s.out_channels) * s.expand_ratio for s in spec.stages)
    check_size(spec.num_blocks, max(widest, spec.head_channels, spec.stem_channels), spec.resolution)
    return spec


def scaled_spec(
    depth: float = 1.0,
    width: float = 1.0,
    resolution_scale: float = 1.0,
    *,
    base_resolution: int = B0_RESOLUTION,
    resolution_multiple: int = RESOLUTION_MULTIPLE,
    dropout_rate: float = B0_DROPOUT,
    stages: Sequence[Stage] = B0_STAGES,
    stem: int = B0_STEM,
    head: int = B0_HEAD,
    name: str = "custom",
) -> NetworkSpec:
    """B0 (or ``stages``) scaled by depth d, width w and resolution_scale r with TF rounding."""
    check_coefficients(depth=depth, width=width, resolution_scale=resolution_scale)
    res = scaled_resolution(base_resolution, resolution_scale, resolution_multiple)
    repeats = [round_repeats(s.repeats, depth) for s in stages]
    check_size(sum(repeats), round_filters(max(head, stem), width), res)
    new_stages = tuple(
        dataclasses.replace(
            s,
            repeats=n,
            in_channels=round_filters(s.in_channels, width),
            out_channels=round_filters(s.out_channels, width),
        )
        for s, n in zip(stages, repeats, strict=True)
    )
    return _check_spec(NetworkSpec(
        stages=new_stages,
        stem_channels=round_filters(stem, width),
        head_channels=round_filters(head, width),
        resolution=res,
        dropout_rate=dropout_rate,
        depth=depth,
        width=width,
        resolution_scale=resolution_scale,
        name=name,
    ))


def compound_spec(alpha: float, beta: float, gamma: float, phi: float, **kwargs) -> NetworkSpec:
    """B0 scaled by d = alpha^phi, w = beta^phi, r = gamma^phi (any real phi)."""
    check_coefficients(at_least=1, alpha=alpha, beta=beta, gamma=gamma)
    d, w, r = compound_coefficients(alpha, beta, gamma, phi)
    return scaled_spec(d, w, r, **kwargs)


# --------------------------------------------------------------------------------------------
# Presets (official table; ../shared/reference/efficientnet_variants.csv). Hand-picked, NOT
# 1.2^phi / 1.1^phi / 1.15^phi.
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Preset:
    """One row of the official B0-B7 table."""

    depth: float
    width: float
    resolution: int  # px
    dropout: float


PRESETS: dict[str, Preset] = {
    "b0": Preset(depth=1.0, width=1.0, resolution=224, dropout=0.2),
    "b1": Preset(depth=1.1, width=1.0, resolution=240, dropout=0.2),
    "b2": Preset(depth=1.2, width=1.1, resolution=260, dropout=0.3),
    "b3": Preset(depth=1.4, width=1.2, resolution=300, dropout=0.3),
    "b4": Preset(depth=1.8, width=1.4, resolution=380, dropout=0.4),
    "b5": Preset(depth=2.2, width=1.6, resolution=456, dropout=0.4),
    "b6": Preset(depth=2.6, width=1.8, resolution=528, dropout=0.5),
    "b7": Preset(depth=3.1, width=2.0, resolution=600, dropout=0.5),
}


def preset_spec(variant: str, resolution: int | None = None) -> NetworkSpec:
    """The official B0..B7 network, at its native resolution unless ``resolution`` is given."""
    key = variant.lower()
    if key not in PRESETS:
        raise ScalingError(f"unknown variant {variant!r}; choose from {', '.join(PRESETS)}")
    p = PRESETS[key]
    res = p.resolution if resolution is None else resolution
    spec = scaled_spec(p.depth, p.width, res / B0_RESOLUTION, dropout_rate=p.dropout, name=key)
    # The table's resolution is exact, not a rounded product: set it directly.
    return dataclasses.replace(spec, resolution=res, resolution_scale=p.resolution / B0_RESOLUTION)


#: The paper's Table 2 (v5): variant -> (params M, FLOPs B (multiply-adds), top-1 %).
PAPER_TABLE2: dict[str, tuple[float, float, float]] = {
    "b0": (5.3, 0.39, 77.1),
    "b1": (7.8, 0.70, 79.1),
    "b2": (9.2, 1.0, 80.1),
    "b3": (12, 1.8, 81.6),
    "b4": (19, 4.2, 82.9),
    "b5": (30, 9.9, 83.6),
    "b6": (43, 19, 84.0),
    "b7": (66, 37, 84.3),
}


# --------------------------------------------------------------------------------------------
# Other baselines (paper Table 3): MobileNetV2 and ResNet-50 under the same d / w / r rules
# --------------------------------------------------------------------------------------------
#: MobileNetV2 1.0 inverted-residual table (t expand, c out channels, n repeats, s stride), as in
#: torchvision ``mobilenet_v2`` and the MobileNetV2 paper's Table 2.
MOBILENET_V2_TABLE: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
MOBILENET_V2_STEM, MOBILENET_V2_HEAD, MOBILENET_V2_DROPOUT = 32, 1280, 0.2


def mobilenet_v2_spec(
    depth: float = 1.0,
    width: float = 1.0,
    resolution_scale: float = 1.0,
    *,
    base_resolution: int = 224,
    resolution_multiple: int = RESOLUTION_MULTIPLE,
    dropout_rate: float = MOBILENET_V2_DROPOUT,
    name: str = "mobilenetv2",
) -> NetworkSpec:
    """MobileNetV2 (torchvision ``mobilenet_v2`` layout) scaled by depth d, width w, resolution_scale r.

    An MBConv network without squeeze-excitation and with kernel 3 everywhere, so it is a plain
    :class:`NetworkSpec`. Channels: ``round_filters(c, w)`` (= torchvision ``_make_divisible(c * w, 8)``,
    10% rule included) for the stem and every stage; head ``round_filters(1280, max(1, w))`` (torchvision
    keeps 1280 for w < 1); repeats ``ceil(d * n)``; no stochastic depth (drop_connect_rate 0);
    activation ReLU6.
    """
    check_coefficients(depth=depth, width=width, resolution_scale=resolution_scale)
    res = scaled_resolution(base_resolution, resolution_scale, resolution_multiple)
    repeats = [round_repeats(n, depth) for _, _, n, _ in MOBILENET_V2_TABLE]
    check_size(sum(repeats), round_filters(MOBILENET_V2_HEAD, max(1.0, width)), res)
    stem = round_filters(MOBILENET_V2_STEM, width)
    stages, cin = [], stem
    for (t, c, _, s), n in zip(MOBILENET_V2_TABLE, repeats, strict=True):
        cout = round_filters(c, width)
        stages.append(Stage(n, 3, s, t, cin, cout, se_ratio=None))
        cin = cout
    return _check_spec(NetworkSpec(
        stages=tuple(stages),
        stem_channels=stem,
        head_channels=round_filters(MOBILENET_V2_HEAD, max(1.0, width)),
        resolution=res,
        dropout_rate=dropout_rate,
        drop_connect_rate=0.0,
        depth=depth,
        width=width,
        resolution_scale=resolution_scale,
        name=name,
        activation="relu6",
    ))


@dataclasses.dataclass(frozen=True)
class ResNetSpec:
    """A rounded bottleneck ResNet (torchvision v1.5 layout) plus its nominal coefficients.

    Stage i has ``repeats[i]`` bottlenecks 1x1 (``widths[i]``) -> 3x3 (``widths[i]``, stride
    ``strides[i]`` in the first block) -> 1x1 (``widths[i] * expansion``). Field names follow
    :class:`NetworkSpec` where they mean the same thing (``stem_channels``, ``head_channels``,
    ``num_blocks``, ``blocks()``, ``architecture``, ``dropout_rate``, ``drop_connect_rate``,
    ``stem_stride``, ``output_stride``, ``activation``), so cost tables and training code can treat
    both alike.
    ``pool_stride`` is the stride of the 3x3 max pool after the stem (1: no pool).
    ``dropout_rate`` (before the classifier) and ``drop_connect_rate`` (stochastic depth, linear
    over blocks as in EfficientNet) default to 0: torchvision's ResNet has neither.
    """

    repeats: tuple[int, ...]
    widths: tuple[int, ...]
    stem_channels: int
    resolution: int
    strides: tuple[int, ...] = (1, 2, 2, 2)
    expansion: int = 4
    dropout_rate: float = 0.0
    drop_connect_rate: float = 0.0
    depth: float = 1.0
    width: float = 1.0
    resolution_scale: float = 1.0
    name: str = "resnet50"
    stem_stride: int = 2
    pool_stride: int = 2
    activation: str = "relu"

    @property
    def num_blocks(self) -> int:
        return sum(self.repeats)

    @property
    def head_channels(self) -> int:
        """Channels of the last feature map (2048 for ResNet-50): the classifier input."""
        return self.widths[-1] * self.expansion

    @property
    def architecture(self) -> tuple:
        return (self.repeats, self.widths, self.strides, self.expansion, self.stem_channels, self.resolution,
                self.stem_stride, self.pool_stride, self.activation)

    @property
    def output_stride(self) -> int:
        return self.stem_stride * self.pool_stride * math.prod(self.strides)

    def blocks(self) -> list[tuple[int, int, int, int]]:
        """Every bottleneck as (in, width, out, stride), in order; a projection shortcut exists
        where stride != 1 or in != out (the first block of each stage)."""
        out, cin = [], self.stem_channels
        for n, w, s in zip(self.repeats, self.widths, self.strides, strict=True):
            for i in range(n):
                out.append((cin, w, w * self.expansion, s if i == 0 else 1))
                cin = w * self.expansion
        return out


#: ResNet-50 (torchvision ``resnet50``, v1.5: stride on the 3x3 conv).
RESNET50_REPEATS, RESNET50_WIDTHS, RESNET50_STEM = (3, 4, 6, 3), (64, 128, 256, 512), 64


def resnet_spec(
    depth: float = 1.0,
    width: float = 1.0,
    resolution_scale: float = 1.0,
    *,
    base_resolution: int = 224,
    resolution_multiple: int = RESOLUTION_MULTIPLE,
    repeats: Sequence[int] = RESNET50_REPEATS,
    widths: Sequence[int] = RESNET50_WIDTHS,
    stem: int = RESNET50_STEM,
    name: str = "resnet50",
) -> ResNetSpec:
    """ResNet-50 (or ``repeats``/``widths``) scaled by depth d, width w and resolution_scale r.

    Repeats ``ceil(d * n)`` per stage; ``round_filters(c, w)`` on every stage width and the stem (the
    block outputs are ``expansion`` times the rounded width); resolution as :func:`round_resolution`.
    """
    check_coefficients(depth=depth, width=width, resolution_scale=resolution_scale)
    res = scaled_resolution(base_resolution, resolution_scale, resolution_multiple)
    new_repeats = tuple(round_repeats(n, depth) for n in repeats)
    new_widths = tuple(round_filters(w, width) for w in widths)
    check_size(sum(new_repeats), max(new_widths) * 4, res)
    return ResNetSpec(
        repeats=new_repeats,
        widths=new_widths,
        stem_channels=round_filters(stem, width),
        resolution=res,
        depth=depth,
        width=width,
        resolution_scale=resolution_scale,
        name=name,
    )


#: Baseline name -> spec builder ``f(depth, width, resolution_scale, *, base_resolution=..., ...)``, so a sweep
#: can say ``baseline="mobilenetv2"``. Build the model with :func:`scaling.models.build_model`.
BASELINES = {
    "efficientnet-b0": scaled_spec,
    "mobilenetv2": mobilenet_v2_spec,
    "resnet50": resnet_spec,
}


def baseline_spec(baseline: str, depth: float = 1.0, width: float = 1.0, resolution_scale: float = 1.0, **kwargs):
    """``BASELINES[baseline](depth, width, resolution_scale, **kwargs)``; a one-line error for unknown names."""
    key = baseline.lower()
    if key not in BASELINES:
        raise ScalingError(f"unknown baseline {baseline!r}; choose from {', '.join(BASELINES)}")
    return BASELINES[key](depth, width, resolution_scale, **kwargs)


# --------------------------------------------------------------------------------------------
# Layout for small images
# --------------------------------------------------------------------------------------------
OUTPUT_STRIDES = (1, 2, 4, 8, 16, 32)


def with_output_stride(spec: NetworkSpec | ResNetSpec, output_stride: int) -> NetworkSpec | ResNetSpec:
    """``spec`` with its *first* strides set to 1 until input size / last map size = ``output_stride``.

    B0, MobileNetV2 and ResNet-50 downsample by 32, so a 32 px image ends at a 1x1 map. Dropping
    the first strides (the stem's first; for a ResNet the stem's, then the max pool's) keeps every
    later stage's shape as at 224 px on a 7x7 grid: ``output_stride=8`` turns a 32 px input into a
    4x4 last map, the CIFAR-style layout of small-image ResNets (stem stride 1, no pool). Channels,
    repeats and parameters are unchanged; MACs grow with the larger early maps (``scaling.cost``).
    """
    if output_stride not in OUTPUT_STRIDES:
        raise ScalingError(f"output_stride must be one of {', '.join(map(str, OUTPUT_STRIDES))}, got {output_stride}")
    is_resnet = isinstance(spec, ResNetSpec)
    strides = [spec.stem_stride] + ([spec.pool_stride] if is_resnet else []) + \
        [s for s in (spec.strides if is_resnet else (st.stride for st in spec.stages))]
    if math.prod(strides) < output_stride:
        raise ScalingError(f"output_stride {output_stride} exceeds the network's own {math.prod(strides)}")
    total = math.prod(strides)
    for i, s in enumerate(strides):  # drop whole strides from the front while the product is too large
        if total == output_stride:
            break
        strides[i], total = 1, total // s
    if total != output_stride:
        raise ScalingError(f"output_stride {output_stride} is not reachable by dropping the first strides")
    if is_resnet:
        return dataclasses.replace(spec, stem_stride=strides[0], pool_stride=strides[1], strides=tuple(strides[2:]))
    stages = tuple(dataclasses.replace(st, stride=s) for st, s in zip(spec.stages, strides[1:], strict=True))
    return dataclasses.replace(spec, stem_stride=strides[0], stages=stages)
