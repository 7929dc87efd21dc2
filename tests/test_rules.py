"""Scaling rules against the official TF rounding and ../shared/reference/."""

import csv
import dataclasses
import json
import math

import pytest
from conftest import REFERENCE

from scaling import rules


def test_round_filters_tf_examples():
    assert rules.round_filters(32, 1.0) == 32
    assert rules.round_filters(32, 1.1) == 32  # 35.2 -> 32 (lost 9%, kept)
    assert rules.round_filters(32, 1.2) == 40  # 38.4 -> 40
    assert rules.round_filters(1280, 1.1) == 1408
    assert rules.round_filters(16, 0.5) == 8  # never below the divisor
    assert rules.round_filters(24, 0.4) == 16  # 9.6 -> 8 lost >10%: +8
    assert rules.round_filters(4, 0.1) == 8


def test_round_repeats_is_ceil():
    assert [rules.round_repeats(r, 1.1) for r in (1, 2, 3, 4)] == [2, 3, 4, 5]
    assert [rules.round_repeats(r, 1.0) for r in (1, 2, 3, 4)] == [1, 2, 3, 4]
    assert rules.round_repeats(3, 3.1) == 10


def test_round_resolution_default_tells_proxy_gamma_steps_apart():
    assert rules.RESOLUTION_MULTIPLE == 1
    steps = [rules.round_resolution(32, g) for g in rules.frange(1.0, 1.4, 0.05)]
    assert steps == sorted(set(steps)) and len(steps) == 9
    assert rules.round_resolution(224, 1.15) == 258  # 257.6
    assert rules.round_resolution(224, 1.15, multiple=8) == 256
    assert rules.round_resolution(224, 1.25) == 280


def test_frange_is_exact():
    values = rules.frange(1.0, 1.4, 0.05)
    assert values == [1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3, 1.35, 1.4]
    assert rules.parse_range("1.2") == [1.2]
    assert rules.parse_range("1,1.1") == [1.0, 1.1]
    with pytest.raises(rules.ScalingError):
        rules.parse_range("1:x:0.1")


def test_compound_coefficients_any_phi():
    d, w, r = rules.compound_coefficients(1.2, 1.1, 1.15, 2)
    assert (d, w, r) == pytest.approx((1.44, 1.21, 1.3225))
    d, w, r = rules.compound_coefficients(1.2, 1.1, 1.15, -1)
    assert d < 1 and w < 1 and r < 1
    small = rules.compound_spec(1.2, 1.1, 1.15, -2)
    b0 = rules.preset_spec("b0")
    assert small.resolution < b0.resolution and small.head_channels < b0.head_channels


def test_paper_coefficients_are_feasible():
    assert rules.constraint_value(1.2, 1.1, 1.15) == pytest.approx(1.92, abs=5e-4)
    assert rules.is_feasible(1.2, 1.1, 1.15, target=2, tol=0.1)
    assert not rules.is_feasible(1.2, 1.1, 1.15, target=2, tol=0.05)
    assert not rules.is_feasible(0.9, 1.2, 1.2)


def test_feasible_grid_contains_paper_point_and_rejects_bad_input():
    grid = rules.feasible_grid(*(rules.frange(1, 1.4, 0.05),) * 3, target=2, tol=0.1)
    assert (1.2, 1.1, 1.15) in grid
    assert all(min(p) >= 1 and abs(rules.constraint_value(*p) - 2) <= 0.1 + 1e-12 for p in grid)
    with pytest.raises(rules.ScalingError, match="tolerance"):
        rules.feasible_grid([1.0], [1.0], [1.0], tol=0)
    with pytest.raises(rules.ScalingError, match="alpha must be >= 1"):
        rules.feasible_grid([0.9], [1.0], [1.0])
    with pytest.raises(rules.ScalingError, match="no \\(alpha"):
        rules.feasible_grid([1.0], [1.0], [1.0], target=2, tol=0.1)


def test_merged_candidates_are_identical_networks():
    points = rules.feasible_grid(*(rules.frange(1, 1.4, 0.05),) * 3)
    cands = rules.grid_candidates(points)
    assert len(cands) < len(points)
    assert sum(len(c.merged) for c in cands) == len(points)
    assert len({c.spec.architecture for c in cands}) == len(cands)
    for cand in cands:
        archs = {rules.compound_spec(*p, 1.0).architecture for p in cand.merged}
        assert archs == {cand.spec.architecture}
    # ceil repeats: every alpha in (1.0, 1.25] gives B0 the same depth.
    depths = {rules.compound_spec(a, 1.1, 1.15, 1).stages for a in (1.05, 1.1, 1.15, 1.2, 1.25)}
    assert len(depths) == 1
    paper = next(c for c in cands if (1.2, 1.1, 1.15) in c.merged)
    assert paper.spec.architecture == rules.compound_spec(1.2, 1.1, 1.15, 1).architecture


def _variants():
    with open(REFERENCE / "efficientnet_variants.csv") as f:
        return list(csv.DictReader(f))


def test_presets_match_official_table():
    rows = _variants()
    assert [r["variant"] for r in rows] == list(rules.PRESETS)
    for row in rows:
        preset = rules.PRESETS[row["variant"]]
        assert preset.width == float(row["width_coefficient"])
        assert preset.depth == float(row["depth_coefficient"])
        assert preset.resolution == int(row["resolution"])
        assert preset.dropout == float(row["dropout_rate"])
        assert rules.PAPER_TABLE2[row["variant"]][:2] == (float(row["paper_params_M"]), float(row["paper_flops_B"]))


def test_b0_stage_table_matches_reference():
    with open(REFERENCE / "b0_stages.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["stage"].isdigit()]
    assert len(rows) == len(rules.B0_STAGES)
    for row, st in zip(rows, rules.B0_STAGES, strict=True):
        assert (st.repeats, st.kernel, st.stride, st.expand_ratio, st.in_channels, st.out_channels, st.se_ratio) == (
            int(row["repeats"]), int(row["kernel"]), int(row["stride"]), int(row["expand_ratio"]),
            int(row["in_channels"]), int(row["out_channels"]), float(row["se_ratio"]))


@pytest.mark.parametrize(
    "variant,stem,head,blocks",
    [("b0", 32, 1280, 16), ("b1", 32, 1280, 23), ("b2", 32, 1408, 23), ("b3", 40, 1536, 26),
     ("b4", 48, 1792, 32), ("b5", 48, 2048, 39), ("b6", 56, 2304, 45), ("b7", 64, 2560, 55)],
)
def test_preset_stem_head_blocks(variant, stem, head, blocks):
    spec = rules.preset_spec(variant)
    assert (spec.stem_channels, spec.head_channels, spec.num_blocks) == (stem, head, blocks)


def test_presets_are_not_compound_powers():
    b1 = rules.preset_spec("b1")
    c1 = rules.compound_spec(1.2, 1.1, 1.15, 1)
    assert b1.architecture != c1.architecture
    assert math.isclose(b1.depth, 1.1) and b1.resolution == 240


def test_bad_coefficients():
    with pytest.raises(rules.ScalingError, match="unknown variant"):
        rules.preset_spec("b9")
    with pytest.raises(rules.ScalingError, match="resolution must be >= 8"):
        rules.scaled_spec(1, 1, 0.01)
    with pytest.raises(rules.ScalingError, match="alpha must be >= 1"):
        rules.compound_spec(0.5, 1, 1, 1)


def test_merge_identical_is_the_one_grouping_rule():
    """The generic merge keeps first-seen order and lets the caller choose each group's representative."""
    items = [(1.05, 1.0, 1.0), (1.1, 1.0, 1.0), (1.0, 1.0, 1.4)]  # alpha 1.05 and 1.1: one depth (ceil)
    groups = rules.merge_identical(items, lambda p: rules.compound_spec(*p, 1.0))
    assert [(rep, members) for rep, _, members in groups] == [(items[0], items[:2]), (items[2], [items[2]])]
    last = rules.merge_identical(items, lambda p: rules.compound_spec(*p, 1.0), choose=lambda m: m[-1])
    assert last[0][0] == items[1] and last[0][1] == rules.compound_spec(*items[1], 1.0)


def test_network_names_every_kind_of_network():
    assert rules.Network().spec() == rules.scaled_spec()
    proxy = rules.Network(depth=0.25, width=0.5, base_resolution=16)
    assert proxy.spec() == rules.scaled_spec(0.25, 0.5, base_resolution=16)
    assert proxy.scaled(2, 1, 1.5) == rules.Network(depth=0.5, width=0.5, resolution_scale=1.5, base_resolution=16)
    compound = rules.Network.compound(1.2, 1.1, 1.15, 2, base_resolution=32)
    assert compound.spec().architecture == rules.compound_spec(1.2, 1.1, 1.15, 2, base_resolution=32).architecture
    b3 = rules.Network(variant="b3", base_resolution=32)
    assert b3.spec().resolution == rules.round_resolution(32, 300 / 224) and b3.spec().name == "b3"
    assert rules.Network(baseline="resnet50", width=0.5).spec() == rules.resnet_spec(width=0.5)
    with pytest.raises(rules.ScalingError, match="either a variant or depth"):
        rules.Network(variant="b1", depth=2).spec()
    with pytest.raises(rules.ScalingError, match="cannot be scaled"):
        b3.scaled(2)
    with pytest.raises(rules.ScalingError, match="alpha must be >= 1"):
        rules.Network.compound(0.9, 1, 1, 1)


@pytest.mark.parametrize("output_stride,stem,strides,last_map", [
    (32, 2, (1, 2, 2, 2, 1, 2, 1), 1), (16, 1, (1, 2, 2, 2, 1, 2, 1), 2), (8, 1, (1, 1, 2, 2, 1, 2, 1), 4)])
def test_small_image_layout_drops_the_first_strides(output_stride, stem, strides, last_map):
    from scaling import cost

    spec = rules.Network(depth=0.25, width=0.25, base_resolution=32, output_stride=output_stride).spec()
    assert spec.stem_stride == stem and tuple(s.stride for s in spec.stages) == strides
    assert spec.output_stride == output_stride and cost.feature_map_size(spec) == last_map
    base = rules.scaled_spec(0.25, 0.25, base_resolution=32)
    assert cost.count(spec, 10).params == cost.count(base, 10).params  # the layout adds no weights
    assert spec.architecture != base.architecture or output_stride == 32


def test_small_image_layout_of_resnet_drops_stem_then_pool():
    spec = rules.Network(baseline="resnet50", base_resolution=32, output_stride=8).spec()
    assert (spec.stem_stride, spec.pool_stride, spec.strides) == (1, 1, (1, 2, 2, 2))
    with pytest.raises(rules.ScalingError, match="output_stride must be one of"):
        rules.Network(output_stride=12).spec()


@pytest.mark.parametrize("kwargs", [dict(depth=1e9), dict(width=1e6), dict(resolution_scale=100),
                                    dict(depth=float("inf")), dict(depth=float("nan"))])
def test_absurd_networks_are_refused_without_building_them(kwargs):
    with pytest.raises(rules.ScalingError) as info:
        rules.Network(**kwargs).spec()
    assert "\n" not in str(info.value)


def test_absurd_phi_is_refused():
    with pytest.raises(rules.ScalingError, match="at most 1,000 are supported"):
        rules.compound_spec(1.2, 1.1, 1.15, 1000)
    with pytest.raises(rules.ScalingError, match="overflows"):
        rules.compound_spec(1.2, 1.1, 1.15, 1e6)


def test_activation_is_a_field_of_the_spec():
    """MobileNetV2 is ReLU6 and B0 swish by their specs' field, whatever the name; the layout keeps it."""
    mnv2, b0 = rules.mobilenet_v2_spec(), rules.scaled_spec()
    assert (mnv2.activation, b0.activation, rules.resnet_spec().activation) == ("relu6", "swish", "relu")
    assert rules.mobilenet_v2_spec(name="mnv2").activation == "relu6"
    assert rules.Network(baseline="mobilenetv2", base_resolution=32, output_stride=8).spec().activation == "relu6"
    assert rules.with_output_stride(mnv2, 8).activation == "relu6"
    assert dataclasses.replace(b0, activation="relu6").architecture != b0.architecture  # another network


def test_models_read_the_activation_field():
    import jax
    from flax import nnx

    from scaling.models import build_model

    def stem_act(spec):
        return nnx.eval_shape(lambda: build_model(spec, 10, rngs=nnx.Rngs(0))).stem.act

    small = rules.scaled_spec(0.25, 0.25, base_resolution=32)
    assert stem_act(small) is jax.nn.silu
    assert stem_act(dataclasses.replace(small, activation="relu6")) is jax.nn.relu6  # the field, not the name
    assert stem_act(rules.mobilenet_v2_spec(0.25, 0.25, name="custom")) is jax.nn.relu6


def test_resolution_is_pixels_and_resolution_scale_the_multiplier():
    spec = rules.scaled_spec(1, 1, resolution_scale=1.5, base_resolution=32)
    assert (spec.resolution, spec.resolution_scale) == (48, 1.5)
    assert rules.baseline_spec("resnet50", resolution_scale=1.5, base_resolution=32).resolution == 48
    assert rules.preset_spec("b3").resolution == 300



def test_resolution_scale_is_the_multiplier_and_resolution_the_pixels():
    network = rules.Network(resolution_scale=1.5, base_resolution=32).scaled(resolution_scale=2)
    assert network.resolution_scale == 3.0 and not hasattr(network, "resolution")
    assert (network.spec().resolution, network.spec().resolution_scale) == (96, 3.0)
    assert "r3 at 32 px" in network.describe()



# ------------------------------------------------------------------------------------------------
# Configs stored before Network.resolution became Network.resolution_scale
# ------------------------------------------------------------------------------------------------
def _stored_before_the_rename(tree):
    """``tree`` as the code before the rename wrote it: each network's multiplier under ``resolution``."""
    if isinstance(tree, dict):
        return {k: (_stored_before_the_rename(v) if k != "network" else
                    {("resolution" if kk == "resolution_scale" else kk): vv for kk, vv in v.items()})
                for k, v in tree.items()}
    return tree


def test_a_stored_config_with_the_old_name_reads_as_the_new():
    from scaling import config, train

    cfg = train.TrainConfig(network=rules.Network(depth=0.25, width=0.25, resolution_scale=1.3, base_resolution=32))
    old = _stored_before_the_rename(json.loads(json.dumps(config.to_dict(cfg))))
    assert old["network"]["resolution"] == 1.3 and "resolution_scale" not in old["network"]
    assert list(config.upgrade(old)["network"]) == list(config.to_dict(cfg)["network"])  # the field order too
    assert config.upgrade(old) == config.to_dict(cfg) and config.from_dict(train.TrainConfig, old) == cfg
    assert train._differences(cfg, old) == []  # a run's workdir written before the rename resumes
    assert train._differences(cfg, {**old, "network": {**old["network"], "resolution": 1.4}}) == ["network"]


def test_a_study_defined_before_the_rename_resumes(tmp_path):
    from scaling import study
    from scaling.sweeps import SweepConfig
    from scaling.train import TrainConfig

    cfg = SweepConfig(study=study.StudyConfig(name="renamed", results_dir=str(tmp_path)), sweep="resolution")
    points = [study.Point(f"r{r:g}", 0, cfg.study.train.network.scaled(1, 1, r), {"r": r}) for r in (1.0, 1.3)]
    assert study.RENAMED_FIELDS == {"network": {"resolution": "resolution_scale"}}
    run = study.Study.open(cfg.study, "sweep:resolution", points, study.config_dict(cfg))
    mine = run.optuna.user_attrs["definition"]
    old = _stored_before_the_rename(mine)
    assert old != mine and old["config"]["study"]["train"]["network"]["resolution"] == 1.0
    run.optuna.set_user_attr("definition", old)  # as the code before the rename stored it
    study.Study.open(cfg.study, "sweep:resolution", points, study.config_dict(cfg))  # the same study: resumes
    other = SweepConfig(study=study.StudyConfig(name="renamed", results_dir=str(tmp_path),
                                                train=TrainConfig(network=rules.Network(resolution_scale=1.1))),
                        sweep="resolution")
    with pytest.raises(study.StudyError, match=r"differs in study\.train\.network"):
        study.Study.open(other.study, "sweep:resolution", points, study.config_dict(other))
