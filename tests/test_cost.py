"""Analytic parameter and MAC counts against ../shared/reference/efficientnet_variants.csv."""

import csv

import pytest
from conftest import REFERENCE

from scaling import arch, cost
from scaling.network import Network, grid_candidates

PARAMS = {"b0": 5288548, "b1": 7794184, "b2": 9109994, "b3": 12233232, "b4": 19341616, "b5": 30389784,
          "b6": 43040704, "b7": 66347960}


def _reference():
    with open(REFERENCE / "efficientnet_variants.csv") as f:
        return {r["variant"]: r for r in csv.DictReader(f)}


@pytest.mark.parametrize("variant", list(PARAMS))
def test_params_exact(variant):
    assert cost.count(arch.preset_spec(variant)).params == PARAMS[variant]
    assert int(_reference()[variant]["params_trainable_1000cls"]) == PARAMS[variant]


@pytest.mark.parametrize("variant", list(PARAMS))
def test_macs_match_reference(variant):
    ref = float(_reference()[variant]["macs_at_resolution"])
    macs = cost.count(arch.preset_spec(variant)).macs
    if variant in ("b0", "b1", "b2", "b3"):
        assert macs == int(ref)
    else:
        assert macs == pytest.approx(ref, rel=1e-3)
    if variant == "b0":
        assert macs == 385_814_752


def test_num_classes_and_resolution_change_cost():
    spec = arch.preset_spec("b0")
    c10 = cost.count(spec, num_classes=10)
    assert cost.count(spec).params - c10.params == 990 * (1280 + 1)
    assert cost.count(spec, resolution=112).macs < c10.macs
    assert cost.count(spec, bytes_per_value=2).activation_bytes * 2 == cost.count(spec).activation_bytes


def test_se_width_uses_block_input():
    assert cost.se_width(16, 0.25) == 4
    assert cost.se_width(2, 0.25) == 1


def test_candidate_rows_report_real_mac_ratio():
    cands = grid_candidates([(1.2, 1.1, 1.15), (1.25, 1.1, 1.15), (1.0, 1.0, 1.4)])
    rows = cost.candidate_rows(cands, arch.scaled_spec())
    assert len(rows) == 2  # alpha 1.2 and 1.25 round to the same network
    for row in rows:
        assert row["mac_ratio"] == pytest.approx(row["macs"] / 385_814_752, rel=1e-3)


def test_small_image_layout_costs_follow_the_larger_maps():
    base = Network(depth=0.25, width=0.25, base_resolution=32)
    small = Network(depth=0.25, width=0.25, base_resolution=32, output_stride=8)
    assert cost.count(small.spec(), 10).macs > 4 * cost.count(base.spec(), 10).macs
    assert cost.feature_map_size(small.spec()) == 4 and cost.feature_map_size(base.spec()) == 1
    row = cost.describe(small.spec(), 10)
    assert (row["output_stride"], row["feature_map"]) == (8, 4)
