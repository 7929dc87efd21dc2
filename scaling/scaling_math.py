"""Compound-scaling maths: the rounding rules, the (alpha, beta, gamma, phi) maths and the grid.

Standard library only (no JAX, Flax or numpy), so a notebook or a search driver can reason about
coefficients without them. Rounding follows the official TF EfficientNet code
(``efficientnet_model.round_filters`` / ``round_repeats``), which Keras, timm and torchvision copy.
The networks these rules build are in :mod:`scaling.arch`; what a user names, in :mod:`scaling.network`.

Units: ``resolution`` is always pixels; the resolution multiplier r is ``resolution_scale`` (or
``scale`` here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

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


def check_size(blocks: int, channels: int, resolution: int) -> None:
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


def scaled_resolution(base_resolution: int, resolution_scale: float, multiple: int = RESOLUTION_MULTIPLE) -> int:
    """``round_resolution(base_resolution, resolution_scale)`` px; ScalingError below 8 px."""
    res = round_resolution(base_resolution, resolution_scale, multiple)
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


def within_cost(ratio: float, tol: float) -> bool:
    """Whether a cost ``ratio`` (real MACs over target) is within ``tol`` of 1 either way, in log terms:
    from 1 / (1 + tol) to 1 + tol (3% above and below are the same band)."""
    return abs(math.log(ratio)) <= math.log1p(tol)


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
