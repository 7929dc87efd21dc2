"""Scaling strategies: how a rule spends a cost multiplier s (of the baseline's MACs) on depth, width and resolution.

A strategy maps s >= 1 to nominal multipliers (d, w, r), with MACs ~ d w^2 r^2 = s before rounding
(the rounded network's real MACs differ; :func:`scaling.sweeps.match_macs` matches them). A new
strategy is one function ``rule(s, **params) -> (d, w, r)`` and one ``@register``:

- ``compound`` (Tan & Le 2019): d, w, r = alpha^phi, beta^phi, gamma^phi with phi such that
  (alpha beta^2 gamma^2)^phi = s; the paper's alpha, beta, gamma = 1.2, 1.1, 1.15 by default;
- ``depth``, ``width``, ``resolution``: one dimension takes all of s (d = s, or w = sqrt(s), or r = sqrt(s));
- ``dwr`` (Dollar, Singh & Girshick 2021, "Fast and accurate model scaling"): d = s^e_d,
  w = s^(e_w / 2), r = s^(e_r / 2) with e_d + e_w + e_r = 1; by default their fast compound scaling
  e_d = e_r = 0.1, e_w = 0.8 (pycls ``scaling_factors``, "d1_w8_r1", without groups).

Pure Python (stdlib only), like the rest of the scaling maths.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from scaling.scaling_math import ScalingError, check_coefficients, compound_coefficients, constraint_value


@dataclasses.dataclass(frozen=True)
class Strategy:
    """A registered strategy: its rule ``(s, **params) -> (d, w, r)`` and the rule's default params."""

    name: str
    rule: Callable[..., tuple[float, float, float]]
    defaults: dict
    summary: str

    def __call__(self, s: float, **params: float) -> tuple[float, float, float]:
        """(d, w, r) for cost multiplier ``s``; ``params`` override the defaults (one-line ScalingError)."""
        if not (isinstance(s, (int, float)) and math.isfinite(s) and s >= 1):
            raise ScalingError(f"a cost multiplier s must be a number >= 1, got {s!r}")
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise ScalingError(f"strategy {self.name!r} takes {', '.join(self.defaults) or 'no parameters'}, "
                               f"not {', '.join(sorted(unknown))}")
        return self.rule(float(s), **{**self.defaults, **params})


#: Every strategy by name, in registration order.
STRATEGIES: dict[str, Strategy] = {}


def register(name: str, **defaults: float):
    """Register ``rule(s, **params) -> (d, w, r)`` as the strategy ``name`` with these default params."""
    if name in STRATEGIES:
        raise ValueError(f"strategy {name!r} is registered twice")

    def add(rule: Callable[..., tuple[float, float, float]]):
        summary = (rule.__doc__ or "").strip().splitlines()[0] if rule.__doc__ else name
        STRATEGIES[name] = Strategy(name, rule, dict(defaults), summary)
        return rule
    return add


def get(name: str) -> Strategy:
    """The strategy ``name`` (ScalingError, one line, naming the others)."""
    if name not in STRATEGIES:
        raise ScalingError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


@register("compound", alpha=1.2, beta=1.1, gamma=1.15)
def compound(s: float, alpha: float, beta: float, gamma: float) -> tuple[float, float, float]:
    """Tan & Le's compound scaling: (alpha, beta, gamma)^phi, phi = log s / log(alpha beta^2 gamma^2)."""
    check_coefficients(at_least=1, alpha=alpha, beta=beta, gamma=gamma)
    base = constraint_value(alpha, beta, gamma)
    if not base > 1:
        raise ScalingError(f"compound scaling needs alpha beta^2 gamma^2 > 1, got {base:g}")
    return compound_coefficients(alpha, beta, gamma, math.log(s) / math.log(base))


@register("depth")
def depth(s: float) -> tuple[float, float, float]:
    """Depth alone: d = s."""
    return s, 1.0, 1.0


@register("width")
def width(s: float) -> tuple[float, float, float]:
    """Width alone: w = sqrt(s)."""
    return 1.0, math.sqrt(s), 1.0


@register("resolution")
def resolution(s: float) -> tuple[float, float, float]:
    """Resolution alone: r = sqrt(s)."""
    return 1.0, 1.0, math.sqrt(s)


@register("dwr", e_d=0.1, e_w=0.8, e_r=0.1)
def dwr(s: float, e_d: float, e_w: float, e_r: float) -> tuple[float, float, float]:
    """Dollar et al.'s dWr: d = s^e_d, w = s^(e_w/2), r = s^(e_r/2), e_d + e_w + e_r = 1 (fast: 0.1/0.8/0.1)."""
    if min(e_d, e_w, e_r) < 0 or not math.isclose(e_d + e_w + e_r, 1.0, abs_tol=1e-9):
        raise ScalingError(f"dWr exponents must be >= 0 and sum to 1, got {e_d:g} + {e_w:g} + {e_r:g}")
    return s ** e_d, s ** (e_w / 2), s ** (e_r / 2)
