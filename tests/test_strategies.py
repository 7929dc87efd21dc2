"""Scaling strategies: each spends a cost multiplier s on (d, w, r) with d w^2 r^2 = s before rounding."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from scaling import strategies
from scaling.scaling_math import ScalingError


@pytest.mark.parametrize("name", list(strategies.STRATEGIES))
@pytest.mark.parametrize("s", [1.0, 2.0, 4.0, 10.0])
def test_every_strategy_spends_exactly_s(name, s):
    d, w, r = strategies.get(name)(s)
    assert math.isclose(d * w * w * r * r, s, rel_tol=1e-12) and min(d, w, r) >= 1


def test_the_rules_published_numbers():
    # the paper's (alpha, beta, gamma) at phi = 1: s = 1.2 * 1.1^2 * 1.15^2 = 1.92027
    assert strategies.get("compound")(1.2 * 1.1 ** 2 * 1.15 ** 2) == pytest.approx((1.2, 1.1, 1.15), rel=1e-12)
    assert strategies.get("compound")(4, alpha=1.4, beta=1.2, gamma=1.0) == pytest.approx(
        (1.4 ** (math.log(4) / math.log(1.4 * 1.44)), 1.2 ** (math.log(4) / math.log(1.4 * 1.44)), 1.0))
    assert strategies.get("width")(4) == (1.0, 2.0, 1.0) and strategies.get("depth")(4) == (4.0, 1.0, 1.0)
    assert strategies.get("resolution")(4) == (1.0, 1.0, 2.0)
    # Dollar et al.'s fast compound scaling (d1_w8_r1): d = s^0.1, w = s^0.4, r = s^0.05
    assert strategies.get("dwr")(4) == pytest.approx((4 ** 0.1, 4 ** 0.4, 4 ** 0.05), rel=1e-12)
    assert strategies.get("dwr")(4, e_d=1 / 3, e_w=1 / 3, e_r=1 / 3) == pytest.approx(
        (4 ** (1 / 3), 4 ** (1 / 6), 4 ** (1 / 6)))


@pytest.mark.parametrize("call, message", [
    (lambda: strategies.get("compund"), "unknown strategy 'compund'; choose from compound, depth, width, "
                                        "resolution, dwr"),
    (lambda: strategies.get("width")(0.5), "a cost multiplier s must be a number >= 1, got 0.5"),
    (lambda: strategies.get("width")(float("nan")), "a cost multiplier s must be a number >= 1, got nan"),
    (lambda: strategies.get("depth")(2, alpha=1.2), "strategy 'depth' takes no parameters, not alpha"),
    (lambda: strategies.get("dwr")(2, e_d=0.5), "dWr exponents must be >= 0 and sum to 1, got 0.5 + 0.8 + 0.1"),
    (lambda: strategies.get("compound")(2, alpha=0.9), "alpha"),
])
def test_bad_input_is_one_line(call, message):
    with pytest.raises(ScalingError) as e:
        call()
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_new_strategy_is_one_function_and_one_registration(monkeypatch):
    monkeypatch.setattr(strategies, "STRATEGIES", dict(strategies.STRATEGIES))

    @strategies.register("depth-width", share=0.5)
    def depth_width(s, share):
        """Depth and width share s."""
        return s ** share, s ** ((1 - share) / 2), 1.0

    assert strategies.get("depth-width").summary == "Depth and width share s."
    assert strategies.get("depth-width")(4) == pytest.approx((2.0, math.sqrt(2), 1.0))
    with pytest.raises(ValueError, match="registered twice"):
        strategies.register("depth-width")(depth_width)


def test_the_maths_imports_no_array_library():
    code = ("import sys, scaling.strategies, scaling.scaling_math; "
            "print(sorted(m for m in ('jax', 'numpy', 'flax', 'optuna', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_cli_lists_strategies_and_builds_a_strategys_network(capsys):
    from scaling import cli, cost
    from scaling.network import Network

    assert cli.main(["strategies", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["strategy"] for r in rows] == list(strategies.STRATEGIES)
    assert rows[-1]["d,w,r at s=4"] == "1.149/1.741/1.072"
    argv = ["models", "--strategy", "dwr", "--s", "4", "--depth", "0.25", "--width", "0.25", "--num-classes", "10",
            "--base-resolution", "32", "--output-stride", "16", "--json"]
    assert cli.main(argv) == 0
    (row,) = json.loads(capsys.readouterr().out)
    proxy = Network(depth=0.25, width=0.25, base_resolution=32, output_stride=16)
    scaled = proxy.scaled(*strategies.get("dwr")(4))
    assert row["macs"] == cost.count(scaled.spec(), 10).macs
    assert row["mac_ratio"] == round(row["macs"] / cost.count(proxy.spec(), 10).macs, 3)
    for bad, message in ((["models", "--strategy", "dwr"], "--strategy needs --s"),
                         (["models", "--s", "2"], "--s is the cost multiplier of a --strategy"),
                         (["models", "--strategy", "nope", "--s", "2"], "unknown strategy 'nope'")):
        assert cli.main(bad) == 2
        assert message in capsys.readouterr().err
