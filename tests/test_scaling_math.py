"""The scaling maths (rounding, compound coefficients, the grid) against the official TF rounding."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT

from scaling import scaling_math


def test_round_filters_tf_examples():
    assert scaling_math.round_filters(32, 1.0) == 32
    assert scaling_math.round_filters(32, 1.1) == 32  # 35.2 -> 32 (lost 9%, kept)
    assert scaling_math.round_filters(32, 1.2) == 40  # 38.4 -> 40
    assert scaling_math.round_filters(1280, 1.1) == 1408
    assert scaling_math.round_filters(16, 0.5) == 8  # never below the divisor
    assert scaling_math.round_filters(24, 0.4) == 16  # 9.6 -> 8 lost >10%: +8
    assert scaling_math.round_filters(4, 0.1) == 8


def test_round_repeats_is_ceil():
    assert [scaling_math.round_repeats(r, 1.1) for r in (1, 2, 3, 4)] == [2, 3, 4, 5]
    assert [scaling_math.round_repeats(r, 1.0) for r in (1, 2, 3, 4)] == [1, 2, 3, 4]
    assert scaling_math.round_repeats(3, 3.1) == 10


def test_round_resolution_default_tells_proxy_gamma_steps_apart():
    assert scaling_math.RESOLUTION_MULTIPLE == 1
    steps = [scaling_math.round_resolution(32, g) for g in scaling_math.frange(1.0, 1.4, 0.05)]
    assert steps == sorted(set(steps)) and len(steps) == 9
    assert scaling_math.round_resolution(224, 1.15) == 258  # 257.6
    assert scaling_math.round_resolution(224, 1.15, multiple=8) == 256
    assert scaling_math.round_resolution(224, 1.25) == 280


def test_frange_is_exact():
    values = scaling_math.frange(1.0, 1.4, 0.05)
    assert values == [1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3, 1.35, 1.4]
    assert scaling_math.parse_range("1.2") == [1.2]
    assert scaling_math.parse_range("1,1.1") == [1.0, 1.1]
    with pytest.raises(scaling_math.ScalingError):
        scaling_math.parse_range("1:x:0.1")


def test_compound_coefficients_any_phi():
    d, w, r = scaling_math.compound_coefficients(1.2, 1.1, 1.15, 2)
    assert (d, w, r) == pytest.approx((1.44, 1.21, 1.3225))
    d, w, r = scaling_math.compound_coefficients(1.2, 1.1, 1.15, -1)
    assert d < 1 and w < 1 and r < 1


def test_paper_coefficients_are_feasible():
    assert scaling_math.constraint_value(1.2, 1.1, 1.15) == pytest.approx(1.92, abs=5e-4)
    assert scaling_math.is_feasible(1.2, 1.1, 1.15, target=2, tol=0.1)
    assert not scaling_math.is_feasible(1.2, 1.1, 1.15, target=2, tol=0.05)
    assert not scaling_math.is_feasible(0.9, 1.2, 1.2)


def test_the_cost_band_is_the_same_width_above_and_below():
    assert scaling_math.within_cost(1.0299, 0.03) and scaling_math.within_cost(1 / 1.0299, 0.03)
    assert not scaling_math.within_cost(1.031, 0.03) and not scaling_math.within_cost(0.97, 0.03)  # 1/0.97 = 1.0309
    assert scaling_math.within_cost(1.0, 0.0) and not scaling_math.within_cost(1.001, 0.0)


def test_feasible_grid_contains_paper_point_and_rejects_bad_input():
    grid = scaling_math.feasible_grid(*(scaling_math.frange(1, 1.4, 0.05),) * 3, target=2, tol=0.1)
    assert (1.2, 1.1, 1.15) in grid
    assert all(min(p) >= 1 and abs(scaling_math.constraint_value(*p) - 2) <= 0.1 + 1e-12 for p in grid)
    with pytest.raises(scaling_math.ScalingError, match="tolerance"):
        scaling_math.feasible_grid([1.0], [1.0], [1.0], tol=0)
    with pytest.raises(scaling_math.ScalingError, match="alpha must be >= 1"):
        scaling_math.feasible_grid([0.9], [1.0], [1.0])
    with pytest.raises(scaling_math.ScalingError, match="no \\(alpha"):
        scaling_math.feasible_grid([1.0], [1.0], [1.0], target=2, tol=0.1)


def test_the_maths_imports_nothing_beyond_the_standard_library():
    """``scaling`` and ``scaling.scaling_math`` load no JAX, Flax or numpy (nor any other non-stdlib module)."""
    code = ("import sys\nbefore = set(sys.modules)\nimport scaling, scaling.scaling_math\n"
            "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
            "print(' '.join(sorted(m for m in new - {'scaling'} if m not in sys.stdlib_module_names)))\n"
            "print(' '.join(m for m in ('jax', 'flax', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.split("\n")[:2] == ["", ""], out.stdout
