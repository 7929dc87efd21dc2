"""Compound-scaling rules: rounding, (alpha, beta, gamma, phi) maths, candidate grids, network specs.

Pure Python (stdlib only), so a notebook or a search driver can reason about networks without JAX.
Rounding follows the official TF EfficientNet code (``efficientnet_model.round_filters`` /
``round_repeats``), which Keras, timm and torchvision copy.

Three levels, each built from the one below:

- rounding and compound maths (``round_filters``, ``compound_coefficients``, ``feasible_grid``);
- frozen *specs* (:class:`NetworkSpec`, :class:`ResNetSpec`): the fully rounded network a model
  and the cost model are built from (``scaled_spec``, ``preset_spec``, ``mobilenet_v2_spec``, ...);
- :class:`Network`: what a user names (a baseline scaled by depth, width, resolution at a base
  resolution, or a B0-B7 preset, and its layout), the one type the CLI, training, searches and
  sweeps pass around. ``Network(...).spec()`` rounds it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import TypeVar

#: Default rounding multiple for resolutions. One pixel: the network pads every stride-2 layer
#: "SAME", so any size runs, and a coarser multiple would merge gamma steps at proxy sizes
#: (at 32 px, gamma 1.05 -> 33.6 and 1.10 -> 35.2 differ by under 2 px).
RESOLUTION_MULTIPLE = 1

#: The largest network a spec may describe: far beyond every published one (B7 has 55 blocks, at
#: most 3,840 channels and 600 px), and small enough that building or counting a network never
#: takes memory or time in proportion to an absurd coefficient (``--phi 1000``, ``--depth 1e9``).
MAX_BLOCKS = 1000
MAX_CHANNELS = 1 << 16
MAX_RESOLUTION = 4096


class ScalingError(ValueError):
    """Invalid scaling input (a coefficient < 1, an empty grid, ...); its message is one line."""


def check_coefficients(*, at_least: float | None = None, **values: float) -> None:
    """Each value a finite number > 0 (or >= ``at_least``); else one ScalingError naming it."""
    for name, value in values.items():
        finite = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if at_least is None and not (finite and value > 0):
            raise ScalingError(f"{name} coefficient must be a positive number, got {value}")
        if at_least is not None and not (finite and value >= at_least):
            raise ScalingError(f"{name} must be >= {at_least:g}, got {value}")


def _check_size(blocks: int, channels: int, resolution: int) -> None:
    """Refuse a rounded network beyond MAX_BLOCKS / MAX_CHANNELS / MAX_RESOLUTION (one line)."""
    for what, value, bound in (("MBConv or bottleneck blocks", blocks, MAX_BLOCKS),
                               ("channels in a layer", channels, MAX_CHANNELS),
                               ("px of resolution", resolution, MAX_RESOLUTION)):
        if value > bound:
            amount = f"{value:,}" if value < 10**12 else f"about {float(value):.1e}"
            raise ScalingError(f"the network would have {amount} {what}; at most {bound:,} are supported "
                               "(EfficientNet-B7 has 55 blocks, 3,840 channels, 600 px)")


# --------------------------------------------------------------------------------------------
# Rounding rules
# --------------------------------------------------------------------------------------------
def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by ``width``: nearest multiple of ``divisor`` (never below it), plus one
    ``divisor`` when rounding lost more than 10% (TF ``round_filters``)."""
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


def round_repeats(repeats: int, depth: float) -> int:
    """Layers in a stage scaled by ``depth``: ceil, as in TF ``round_repeats``."""
    return int(math.ceil(depth * repeats))


def round_resolution(base: int, scale: float, multiple: int = RESOLUTION_MULTIPLE) -> int:
    """``base * scale`` rounded half-up to a multiple of ``multiple`` (at least ``multiple``)."""
    # The 1e-9 keeps 224 * 1.25 = 280.0000000001 style float noise from flipping a tie.
    steps = math.floor(base * scale / multiple + 0.5 - 1e-9)
    return max(multiple, steps * multiple)


def _scaled_resolution(base_resolution: int, resolution: float, multiple: int) -> int:
    res = round_resolution(base_resolution, resolution, multiple)
    if res < 8:
        raise ScalingError(f"resolution must be >= 8 px, got {res}")
    return res


# --------------------------------------------------------------------------------------------
# Compound maths
# --------------------------------------------------------------------------------------------
def compound_coefficients(alpha: float, beta: float, gamma: float, phi: float) -> tuple[float, float, float]:
    """The multipliers (depth d, width w, resolution_scale r) = (alpha^phi, beta^phi, gamma^phi)."""
    if not (isinstance(phi, (int, float)) and math.isfinite(phi)):
        raise ScalingError(f"phi must be a finite number, got {phi}")
    try:
        return alpha**phi, beta**phi, gamma**phi
    except OverflowError:
        raise ScalingError(f"phi {phi:g} overflows alpha^phi, beta^phi, gamma^phi: far beyond any network") from None


def constraint_value(alpha: float, beta: float, gamma: float) -> float:
    """alpha * beta^2 * gamma^2: the MACs factor of one compound step (2 in the paper)."""
    return alpha * beta**2 * gamma**2


def is_feasible(alpha: float, beta: float, gamma: float, target: float = 2.0, tol: float = 0.1) -> bool:
    """All coefficients >= 1 and |alpha beta^2 gamma^2 - target| <= tol."""
    if min(alpha, beta, gamma) < 1:
        return False
    return abs(constraint_value(alpha, beta, gamma) - target) <= tol + 1e-12


def frange(start: float, stop: float, step: float) -> list[float]:
    """Inclusive decimal range: ``frange(1, 1.4, 0.05)`` has exactly 9 values, no float drift."""
    if step <= 0:
        raise ScalingError(f"step must be > 0, got {step}")
    if stop < start:
        raise ScalingError(f"range end {stop} is below its start {start}")
    lo, hi, st = Decimal(str(start)), Decimal(str(stop)), Decimal(str(step))
    count = int((hi - lo) / st)
    if count > 100_000:
        raise ScalingError(f"range {start}:{stop}:{step} has {count + 1:,} values; at most 100,001 are supported")
    return [float(lo + i * st) for i in range(count + 1)]


def parse_range(text: str) -> list[float]:
    """``"1.2"`` -> [1.2]; ``"1:1.4:0.05"`` -> frange; ``"1,1.1,1.3"`` -> list."""
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) != 3:
                raise ValueError
            return frange(*parts)
        return [float(p) for p in text.split(",")]
    except ValueError:
        raise ScalingError(f"not a number, list or start:stop:step range: {text!r}") from None


def parse_phis(text: str) -> list[float]:
    """``"0:7"`` -> 0..7; ``"0:3:0.5"`` -> a range; ``"0,1,3"`` -> a list."""
    parts = text.split(":")
    if len(parts) == 2:
        try:
            lo, hi = (float(p) for p in parts)
        except ValueError:
            raise ScalingError(f"not a phi range start:stop: {text!r}") from None
        return frange(lo, hi, 1.0)
    return parse_range(text)


def feasible_grid(
    alphas: Sequence[float],
    betas: Sequence[float],
    gammas: Sequence[float],
    target: float = 2.0,
    tol: float = 0.1,
) -> list[tuple[float, float, float]]:
    """Every (alpha, beta, gamma) of the product grid that satisfies ``is_feasible``."""
    if tol <= 0:
        raise ScalingError(f"tolerance must be > 0, got {tol}")
    for name, values in (("alpha", alphas), ("beta", betas), ("gamma", gammas)):
        if not values:
            raise ScalingError(f"{name} range is empty")
        check_coefficients(at_least=1, **{name: min(values)})
    grid = [
        (a, b, g)
        for a in alphas
        for b in betas
        for g in gammas
        if is_feasible(a, b, g, target, tol)
    ]
    if not grid:
        raise ScalingError(f"no (alpha, beta, gamma) on the grid has alpha*beta^2*gamma^2 within {tol} of {target}")
    return grid


# --------------------------------------------------------------------------------------------
# Network specs
# --------------------------------------------------------------------------------------------
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
    _check_size(spec.num_blocks, max(widest, spec.head_channels, spec.stem_channels), spec.resolution)
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
    check_coefficients(depth=depth, width=width, resolution=resolution_scale)
    res = _scaled_resolution(base_resolution, resolution_scale, resolution_multiple)
    repeats = [round_repeats(s.repeats, depth) for s in stages]
    _check_size(sum(repeats), round_filters(max(head, stem), width), res)
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
    check_coefficients(depth=depth, width=width, resolution=resolution_scale)
    res = _scaled_resolution(base_resolution, resolution_scale, resolution_multiple)
    repeats = [round_repeats(n, depth) for _, _, n, _ in MOBILENET_V2_TABLE]
    _check_size(sum(repeats), round_filters(MOBILENET_V2_HEAD, max(1.0, width)), res)
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
    check_coefficients(depth=depth, width=width, resolution=resolution_scale)
    res = _scaled_resolution(base_resolution, resolution_scale, resolution_multiple)
    new_repeats = tuple(round_repeats(n, depth) for n in repeats)
    new_widths = tuple(round_filters(w, width) for w in widths)
    _check_size(sum(new_repeats), max(new_widths) * 4, res)
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


# --------------------------------------------------------------------------------------------
# The network a user names
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Network:
    """A baseline scaled by (depth, width, resolution_scale) at ``base_resolution`` px, or a B0-B7 preset.

    The one way to name a network: the CLI's network flags, training configs, search candidates and
    sweep points all hold one. ``depth``, ``width``, ``resolution_scale`` are the multipliers d, w, r
    of the baseline's TF-rounded table (``resolution_scale``: of ``base_resolution`` px; its CLI flag
    is ``--resolution``). ``variant`` picks an official preset instead (EfficientNet-B0 only; at
    ``base_resolution * native / 224`` px), and then the multipliers must stay 1. ``output_stride``
    < 32 is the small-image layout (:func:`with_output_stride`).
    """

    baseline: str = "efficientnet-b0"
    depth: float = 1.0
    width: float = 1.0
    resolution_scale: float = 1.0
    base_resolution: int = B0_RESOLUTION
    output_stride: int = 32
    variant: str | None = None

    @classmethod
    def compound(cls, alpha: float, beta: float, gamma: float, phi: float, **kwargs) -> Network:
        """The baseline scaled by d = alpha^phi, w = beta^phi, r = gamma^phi (each coefficient >= 1)."""
        check_coefficients(at_least=1, alpha=alpha, beta=beta, gamma=gamma)
        d, w, r = compound_coefficients(alpha, beta, gamma, phi)
        return cls(depth=d, width=w, resolution_scale=r, **kwargs)

    def scaled(self, depth: float = 1.0, width: float = 1.0, resolution_scale: float = 1.0) -> Network:
        """This network scaled again: multipliers multiply (the baseline of a study, scaled by a point)."""
        if self.variant is not None:
            raise ScalingError(f"a preset ({self.variant}) cannot be scaled further; name its (d, w, r) instead")
        check_coefficients(depth=depth, width=width, resolution=resolution_scale)
        return dataclasses.replace(self, depth=self.depth * depth, width=self.width * width,
                                   resolution_scale=self.resolution_scale * resolution_scale)

    def spec(self) -> NetworkSpec | ResNetSpec:
        """The rounded network (raises ScalingError, one line, for anything that cannot be built)."""
        if self.variant is not None:
            if self.baseline.lower() != "efficientnet-b0":
                raise ScalingError(f"variant {self.variant!r} is an EfficientNet preset, not a {self.baseline}")
            if (self.depth, self.width, self.resolution_scale) != (1.0, 1.0, 1.0):
                raise ScalingError("give either a variant or depth/width/resolution multipliers, not both")
            native = PRESETS.get(self.variant.lower(), PRESETS["b0"]).resolution
            spec = preset_spec(self.variant, resolution=_scaled_resolution(
                self.base_resolution, native / B0_RESOLUTION, RESOLUTION_MULTIPLE))
        else:
            spec = baseline_spec(self.baseline, self.depth, self.width, self.resolution_scale,
                                 base_resolution=self.base_resolution)
        return spec if self.output_stride == 32 else with_output_stride(spec, self.output_stride)

    def describe(self) -> str:
        """A short human name, e.g. ``efficientnet-b0 d0.25 w0.5 r1 at 16 px``."""
        what = self.variant or f"{self.baseline} d{self.depth:.4g} w{self.width:.4g} r{self.resolution_scale:.4g}"
        stride = "" if self.output_stride == 32 else f", output stride {self.output_stride}"
        return f"{what} at {self.base_resolution} px{stride}"


# --------------------------------------------------------------------------------------------
# Merging points that round to the same network; the grid's candidates (step 1, phi = 1)
# --------------------------------------------------------------------------------------------
T = TypeVar("T")


def merge_identical(items: Iterable[T], spec_of: Callable[[T], NetworkSpec | ResNetSpec],
                    choose: Callable[[list[T]], T] | None = None) -> list[tuple[T, NetworkSpec | ResNetSpec, list[T]]]:
    """Group ``items`` whose rounded networks (``spec_of(item).architecture``) are identical.

    Returns (representative, its spec, members) per group, in first-seen order; the representative
    is ``choose(members)`` (default: the first member). The one merging rule of the package: the
    search's candidates, ``scaling grid`` and the sweeps' points all use it.
    """
    groups: dict[tuple, list[T]] = {}
    for item in items:
        groups.setdefault(spec_of(item).architecture, []).append(item)
    out = []
    for members in groups.values():
        rep = choose(members) if choose else members[0]
        out.append((rep, spec_of(rep), members))
    return out


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One distinct network of the grid and every (alpha, beta, gamma) that rounds to it."""

    alpha: float
    beta: float
    gamma: float
    network: Network
    spec: NetworkSpec | ResNetSpec
    merged: tuple[tuple[float, float, float], ...] = ()
    matched: tuple[float, float, bool] | None = None  # cost-matched (width, resolution_scale, within the band)

    @property
    def product(self) -> float:
        return constraint_value(self.alpha, self.beta, self.gamma)

    @property
    def key(self) -> str:
        """Stable identifier, e.g. ``a1.20_b1.10_g1.15``."""
        return f"a{self.alpha:.2f}_b{self.beta:.2f}_g{self.gamma:.2f}"


def grid_candidates(points: Iterable[tuple[float, float, float]], baseline: Network = Network(),
                    target: float = 2.0, phi: float = 1.0) -> list[Candidate]:
    """``baseline`` scaled by each (alpha, beta, gamma)^phi, merged where the rounded networks are identical.

    Each group is represented by the member whose product is closest to ``target`` (ties: the
    first in input order). At 224 px the paper's (1.2, 1.1, 1.15) shares its network with
    (1.25, 1.1, 1.15), whose product 2.0003 is closer to 2 and so names the group.
    """
    def network(point):
        check_coefficients(at_least=1, alpha=point[0], beta=point[1], gamma=point[2])
        return baseline.scaled(*compound_coefficients(*point, phi))

    groups = merge_identical(list(points), lambda p: network(p).spec(),
                             lambda members: min(members, key=lambda p: abs(constraint_value(*p) - target)))
    return [Candidate(*rep, network=network(rep), spec=spec, merged=tuple(members)) for rep, spec, members in groups]
