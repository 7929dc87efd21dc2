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
    first in input order), so the paper's (1.2, 1.1, 1.15) represents its own group when present.
    """
    groups: dict[tuple, list[tuple[float, float, float]]] = {}
    specs: dict[tuple, NetworkSpec] = {}
    for point in points:
        spec = compound_spec(*point, phi, **spec_kwargs)
        groups.setdefault(spec.architecture, []).append(point)
        specs.setdefault(spec.architecture, spec)
    out = []
    for arch, members in groups.items():
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
