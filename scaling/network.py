"""The network a user names, and the grid's candidates.

- :class:`Network`: a baseline scaled by (depth, width, resolution_scale) at ``base_resolution`` px,
  or a B0-B7 preset, and its layout; the one type the CLI, training, searches and sweeps pass
  around. ``Network(...).spec()`` rounds it to a spec of :mod:`scaling.arch`.
- :func:`merge_identical`: the one rule that merges points rounding to the same network;
- :class:`Candidate` and :func:`grid_candidates`: the distinct networks of an (alpha, beta, gamma) grid.

Standard library only. ``resolution`` always means pixels; the multiplier r is ``resolution_scale``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import TypeVar

from scaling.arch import B0_RESOLUTION, PRESETS, NetworkSpec, ResNetSpec, baseline_spec, preset_spec, with_output_stride
from scaling.scaling_math import (
    RESOLUTION_MULTIPLE,
    ScalingError,
    check_coefficients,
    compound_coefficients,
    constraint_value,
    scaled_resolution,
)


@dataclasses.dataclass(frozen=True)
class Network:
    """A baseline scaled by (depth, width, resolution_scale) at ``base_resolution`` px, or a B0-B7 preset.

    The one way to name a network: the CLI's network flags, training configs, search candidates and
    sweep points all hold one. ``depth``, ``width``, ``resolution_scale`` are the multipliers d, w, r
    of the baseline's TF-rounded table (``resolution_scale``: of ``base_resolution`` px; its CLI flag
    is ``--resolution-scale``). ``variant`` picks an official preset instead (EfficientNet-B0 only; at
    ``base_resolution * native / 224`` px), and then the multipliers must stay 1. ``output_stride``
    < 32 is the small-image layout (:func:`scaling.arch.with_output_stride`).
    """

    baseline: str = "efficientnet-b0"  # efficientnet-b0, mobilenetv2 or resnet50 (scaling.arch)
    depth: float = 1.0  # d: the multiplier of the baseline's blocks per stage
    width: float = 1.0  # w: the multiplier of the baseline's channels
    resolution_scale: float = 1.0  # r: the multiplier of base_resolution
    base_resolution: int = B0_RESOLUTION  # the baseline's input size in pixels
    output_stride: int = 32  # 32 (B0), 16 or 8: the small-image layout
    variant: str | None = None  # a preset instead of d, w, r: b0..b7 (EfficientNet-B0 only)

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
        check_coefficients(depth=depth, width=width, resolution_scale=resolution_scale)
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
            spec = preset_spec(self.variant, resolution=scaled_resolution(
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
