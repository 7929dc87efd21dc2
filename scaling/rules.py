"""Compound-scaling rules: rounding, (alpha, beta, gamma, phi) maths, candidate grids, network specs.

Pure Python (stdlib only), so a notebook or a search driver can reason about networks without JAX.
Rounding follows the official TF EfficientNet code (``efficientnet_model.round_filters`` /
``round_repeats``), which Keras, timm and torchvision copy.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal

#: Default rounding multiple for resolutions. One pixel: the network pads every stride-2 layer
#: "SAME", so any size runs, and a coarser multiple would merge gamma steps at proxy sizes
#: (at 32 px, gamma 1.05 -> 33.6 and 1.10 -> 35.2 differ by under 2 px).
RESOLUTION_MULTIPLE = 1


class ScalingError(ValueError):
    """Invalid scaling input (a coefficient < 1, an empty grid, ...); its message is one line."""


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


# --------------------------------------------------------------------------------------------
# Compound maths
# --------------------------------------------------------------------------------------------
def compound_coefficients(alpha: float, beta: float, gamma: float, phi: float) -> tuple[float, float, float]:
    """(depth, width, resolution) multipliers d = alpha^phi, w = beta^phi, r = gamma^phi."""
    return alpha**phi, beta**phi, gamma**phi


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
        if min(values) < 1:
            raise ScalingError(f"{name} must be >= 1, got {min(values)}")
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
    """A fully rounded EfficientNet-style network plus the nominal coefficients it came from."""

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

    @property
    def num_blocks(self) -> int:
        return sum(s.repeats for s in self.stages)

    @property
    def architecture(self) -> tuple:
        """What makes two specs the same network: channels, repeats and resolution."""
        return (self.stages, self.stem_channels, self.head_channels, self.resolution)

    def blocks(self) -> list[tuple[int, int, int, int, int, float | None]]:
        """Every block as (in, out, kernel, stride, expand_ratio, se_ratio), in order."""
        out = []
        for s in self.stages:
            for i in range(s.repeats):
                cin = s.in_channels if i == 0 else s.out_channels
                out.append((cin, s.out_channels, s.kernel, s.stride if i == 0 else 1, s.expand_ratio, s.se_ratio))
        return out


def scaled_spec(
    depth: float = 1.0,
    width: float = 1.0,
    resolution: float = 1.0,
    *,
    base_resolution: int = B0_RESOLUTION,
    resolution_multiple: int = RESOLUTION_MULTIPLE,
    dropout_rate: float = B0_DROPOUT,
    stages: Sequence[Stage] = B0_STAGES,
    stem: int = B0_STEM,
    head: int = B0_HEAD,
    name: str = "custom",
) -> NetworkSpec:
    """B0 (or ``stages``) scaled by depth d, width w and resolution r with TF rounding."""
    for label, value in (("depth", depth), ("width", width), ("resolution", resolution)):
        if not value > 0 or not math.isfinite(value):
            raise ScalingError(f"{label} coefficient must be a positive number, got {value}")
    res = round_resolution(base_resolution, resolution, resolution_multiple)
    if res < 8:
        raise ScalingError(f"resolution must be >= 8 px, got {res}")
    new_stages = tuple(
        dataclasses.replace(
            s,
            repeats=round_repeats(s.repeats, depth),
            in_channels=round_filters(s.in_channels, width),
            out_channels=round_filters(s.out_channels, width),
        )
        for s in stages
    )
    return NetworkSpec(
        stages=new_stages,
        stem_channels=round_filters(stem, width),
        head_channels=round_filters(head, width),
        resolution=res,
        dropout_rate=dropout_rate,
        depth=depth,
        width=width,
        resolution_scale=resolution,
        name=name,
    )


def compound_spec(alpha: float, beta: float, gamma: float, phi: float, **kwargs) -> NetworkSpec:
    """B0 scaled by d = alpha^phi, w = beta^phi, r = gamma^phi (any real phi)."""
    for label, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if value < 1:
            raise ScalingError(f"{label} must be >= 1, got {value}")
    d, w, r = compound_coefficients(alpha, beta, gamma, phi)
    return scaled_spec(d, w, r, **kwargs)


# --------------------------------------------------------------------------------------------
# Presets (official table; ../shared/reference/efficientnet_variants.csv). Hand-picked, NOT
# 1.2^phi / 1.1^phi / 1.15^phi.
# --------------------------------------------------------------------------------------------
#: variant -> (width, depth, resolution px, dropout)
PRESETS: dict[str, tuple[float, float, int, float]] = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
}


def preset_spec(variant: str, resolution: int | None = None) -> NetworkSpec:
    """The official B0..B7 network, at its native resolution unless ``resolution`` is given."""
    key = variant.lower()
    if key not in PRESETS:
        raise ScalingError(f"unknown variant {variant!r}; choose from {', '.join(PRESETS)}")
    width, depth, native, dropout = PRESETS[key]
    res = native if resolution is None else resolution
    spec = scaled_spec(depth, width, res / B0_RESOLUTION, dropout_rate=dropout, name=key)
    # The table's resolution is exact, not a rounded product: set it directly.
    return dataclasses.replace(spec, resolution=res, resolution_scale=native / B0_RESOLUTION)


# --------------------------------------------------------------------------------------------
# Candidates of the grid search (step 1, phi = 1)
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Candidate:
    """One distinct network of the grid and every (alpha, beta, gamma) that rounds to it."""

    alpha: float
    beta: float
    gamma: float
    spec: NetworkSpec
    merged: tuple[tuple[float, float, float], ...] = ()

    @property
    def product(self) -> float:
        return constraint_value(self.alpha, self.beta, self.gamma)

    @property
    def key(self) -> str:
        """Stable identifier, e.g. ``a1.20_b1.10_g1.15``."""
        return f"a{self.alpha:.2f}_b{self.beta:.2f}_g{self.gamma:.2f}"


def merge_identical(
    points: Iterable[tuple[float, float, float]],
    target: float = 2.0,
    phi: float = 1.0,
    **spec_kwargs,
) -> list[Candidate]:
    """Group (alpha, beta, gamma) points whose rounded networks are identical.

    Each group is represented by the member whose product is closest to ``target`` (ties: the
    first in input order). At 224 px the paper's (1.2, 1.1, 1.15) shares its network with
    (1.25, 1.1, 1.15), whose product 2.0003 is closer to 2 and so names the group.
    """
    groups: dict[tuple, list[tuple[float, float, float]]] = {}
    for point in points:
        spec = compound_spec(*point, phi, **spec_kwargs)
        groups.setdefault(spec.architecture, []).append(point)
    out = []
    for members in groups.values():
        rep = min(members, key=lambda p: abs(constraint_value(*p) - target))
        out.append(Candidate(*rep, spec=compound_spec(*rep, phi, **spec_kwargs), merged=tuple(members)))
    return out


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
def _check_coefficients(depth: float, width: float, resolution: float) -> None:
    for label, value in (("depth", depth), ("width", width), ("resolution", resolution)):
        if not value > 0 or not math.isfinite(value):
            raise ScalingError(f"{label} coefficient must be a positive number, got {value}")


def _scaled_resolution(base_resolution: int, resolution: float, multiple: int) -> int:
    res = round_resolution(base_resolution, resolution, multiple)
    if res < 8:
        raise ScalingError(f"resolution must be >= 8 px, got {res}")
    return res


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
    resolution: float = 1.0,
    *,
    base_resolution: int = 224,
    resolution_multiple: int = RESOLUTION_MULTIPLE,
    dropout_rate: float = MOBILENET_V2_DROPOUT,
    name: str = "mobilenetv2",
) -> NetworkSpec:
    """MobileNetV2 (torchvision ``mobilenet_v2`` layout) scaled by depth d, width w, resolution r.

    An MBConv network without squeeze-excitation and with kernel 3 everywhere, so it is a plain
    :class:`NetworkSpec`. Channels: ``round_filters(c, w)`` (= torchvision ``_make_divisible(c * w, 8)``,
    10% rule included) for the stem and every stage; head ``round_filters(1280, max(1, w))`` (torchvision
    keeps 1280 for w < 1); repeats ``ceil(d * n)``; no stochastic depth (drop_connect_rate 0).

    ``name`` must start with "mobilenetv2": :func:`scaling.models.build_model` picks ReLU6 from it
    (NetworkSpec has no activation field).
    """
    _check_coefficients(depth, width, resolution)
    if not name.startswith("mobilenetv2"):
        raise ScalingError(f"a MobileNetV2 spec name must start with 'mobilenetv2', got {name!r}")
    stem = round_filters(MOBILENET_V2_STEM, width)
    stages, cin = [], stem
    for t, c, n, s in MOBILENET_V2_TABLE:
        cout = round_filters(c, width)
        stages.append(Stage(round_repeats(n, depth), 3, s, t, cin, cout, se_ratio=None))
        cin = cout
    return NetworkSpec(
        stages=tuple(stages),
        stem_channels=stem,
        head_channels=round_filters(MOBILENET_V2_HEAD, max(1.0, width)),
        resolution=_scaled_resolution(base_resolution, resolution, resolution_multiple),
        dropout_rate=dropout_rate,
        drop_connect_rate=0.0,
        depth=depth,
        width=width,
        resolution_scale=resolution,
        name=name,
    )


@dataclasses.dataclass(frozen=True)
class ResNetSpec:
    """A rounded bottleneck ResNet (torchvision v1.5 layout) plus its nominal coefficients.

    Stage i has ``repeats[i]`` bottlenecks 1x1 (``widths[i]``) -> 3x3 (``widths[i]``, stride
    ``strides[i]`` in the first block) -> 1x1 (``widths[i] * expansion``). Field names follow
    :class:`NetworkSpec` where they mean the same thing (``stem_channels``, ``head_channels``,
    ``num_blocks``, ``blocks()``, ``architecture``, ``dropout_rate``, ``drop_connect_rate``), so cost
    tables and training code can treat both alike. ``dropout_rate`` (before the classifier) and
    ``drop_connect_rate`` (stochastic depth, linear over blocks as in EfficientNet) default to 0:
    torchvision's ResNet has neither.
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

    @property
    def num_blocks(self) -> int:
        return sum(self.repeats)

    @property
    def head_channels(self) -> int:
        """Channels of the last feature map (2048 for ResNet-50): the classifier input."""
        return self.widths[-1] * self.expansion

    @property
    def architecture(self) -> tuple:
        return (self.repeats, self.widths, self.strides, self.expansion, self.stem_channels, self.resolution)

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
    resolution: float = 1.0,
    *,
    base_resolution: int = 224,
    resolution_multiple: int = RESOLUTION_MULTIPLE,
    repeats: Sequence[int] = RESNET50_REPEATS,
    widths: Sequence[int] = RESNET50_WIDTHS,
    stem: int = RESNET50_STEM,
    name: str = "resnet50",
) -> ResNetSpec:
    """ResNet-50 (or ``repeats``/``widths``) scaled by depth d, width w and resolution r.

    Repeats ``ceil(d * n)`` per stage; ``round_filters(c, w)`` on every stage width and the stem (the
    block outputs are ``expansion`` times the rounded width); resolution as :func:`round_resolution`.
    """
    _check_coefficients(depth, width, resolution)
    return ResNetSpec(
        repeats=tuple(round_repeats(n, depth) for n in repeats),
        widths=tuple(round_filters(w, width) for w in widths),
        stem_channels=round_filters(stem, width),
        resolution=_scaled_resolution(base_resolution, resolution, resolution_multiple),
        depth=depth,
        width=width,
        resolution_scale=resolution,
        name=name,
    )


#: Baseline name -> spec builder ``f(depth, width, resolution, *, base_resolution=..., ...)``, so a sweep
#: can say ``baseline="mobilenetv2"``. Build the model with :func:`scaling.models.build_model`.
BASELINES = {
    "efficientnet-b0": scaled_spec,
    "mobilenetv2": mobilenet_v2_spec,
    "resnet50": resnet_spec,
}


def baseline_spec(baseline: str, depth: float = 1.0, width: float = 1.0, resolution: float = 1.0, **kwargs):
    """``BASELINES[baseline](depth, width, resolution, **kwargs)`` with a one-line error for unknown names."""
    key = baseline.lower()
    if key not in BASELINES:
        raise ScalingError(f"unknown baseline {baseline!r}; choose from {', '.join(BASELINES)}")
    return BASELINES[key](depth, width, resolution, **kwargs)
