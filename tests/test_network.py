"""``Network`` (what a user names), the one merging rule and the grid's candidates."""

import json

import pytest

from scaling import arch, scaling_math
from scaling.network import Network, grid_candidates, merge_identical


def test_merged_candidates_are_identical_networks():
    points = scaling_math.feasible_grid(*(scaling_math.frange(1, 1.4, 0.05),) * 3)
    cands = grid_candidates(points)
    assert len(cands) < len(points)
    assert sum(len(c.merged) for c in cands) == len(points)
    assert len({c.spec.architecture for c in cands}) == len(cands)
    for cand in cands:
        archs = {arch.compound_spec(*p, 1.0).architecture for p in cand.merged}
        assert archs == {cand.spec.architecture}
    # ceil repeats: every alpha in (1.0, 1.25] gives B0 the same depth.
    depths = {arch.compound_spec(a, 1.1, 1.15, 1).stages for a in (1.05, 1.1, 1.15, 1.2, 1.25)}
    assert len(depths) == 1
    paper = next(c for c in cands if (1.2, 1.1, 1.15) in c.merged)
    assert paper.spec.architecture == arch.compound_spec(1.2, 1.1, 1.15, 1).architecture


def test_merge_identical_is_the_one_grouping_rule():
    """The generic merge keeps first-seen order and lets the caller choose each group's representative."""
    items = [(1.05, 1.0, 1.0), (1.1, 1.0, 1.0), (1.0, 1.0, 1.4)]  # alpha 1.05 and 1.1: one depth (ceil)
    groups = merge_identical(items, lambda p: arch.compound_spec(*p, 1.0))
    assert [(rep, members) for rep, _, members in groups] == [(items[0], items[:2]), (items[2], [items[2]])]
    last = merge_identical(items, lambda p: arch.compound_spec(*p, 1.0), choose=lambda m: m[-1])
    assert last[0][0] == items[1] and last[0][1] == arch.compound_spec(*items[1], 1.0)


def test_network_names_every_kind_of_network():
    assert Network().spec() == arch.scaled_spec()
    proxy = Network(depth=0.25, width=0.5, base_resolution=16)
    assert proxy.spec() == arch.scaled_spec(0.25, 0.5, base_resolution=16)
    assert proxy.scaled(2, 1, 1.5) == Network(depth=0.5, width=0.5, resolution_scale=1.5, base_resolution=16)
    compound = Network.compound(1.2, 1.1, 1.15, 2, base_resolution=32)
    assert compound.spec().architecture == arch.compound_spec(1.2, 1.1, 1.15, 2, base_resolution=32).architecture
    b3 = Network(variant="b3", base_resolution=32)
    assert b3.spec().resolution == scaling_math.round_resolution(32, 300 / 224) and b3.spec().name == "b3"
    assert Network(baseline="resnet50", width=0.5).spec() == arch.resnet_spec(width=0.5)
    with pytest.raises(scaling_math.ScalingError, match="either a variant or depth"):
        Network(variant="b1", depth=2).spec()
    with pytest.raises(scaling_math.ScalingError, match="cannot be scaled"):
        b3.scaled(2)
    with pytest.raises(scaling_math.ScalingError, match="alpha must be >= 1"):
        Network.compound(0.9, 1, 1, 1)


def test_resolution_scale_is_the_multiplier_and_resolution_the_pixels():
    network = Network(resolution_scale=1.5, base_resolution=32).scaled(resolution_scale=2)
    assert network.resolution_scale == 3.0 and not hasattr(network, "resolution")
    assert (network.spec().resolution, network.spec().resolution_scale) == (96, 3.0)
    assert "r3 at 32 px" in network.describe()


@pytest.mark.parametrize("output_stride,stem,strides,last_map", [
    (32, 2, (1, 2, 2, 2, 1, 2, 1), 1), (16, 1, (1, 2, 2, 2, 1, 2, 1), 2), (8, 1, (1, 1, 2, 2, 1, 2, 1), 4)])
def test_small_image_layout_drops_the_first_strides(output_stride, stem, strides, last_map):
    from scaling import cost

    spec = Network(depth=0.25, width=0.25, base_resolution=32, output_stride=output_stride).spec()
    assert spec.stem_stride == stem and tuple(s.stride for s in spec.stages) == strides
    assert spec.output_stride == output_stride and cost.feature_map_size(spec) == last_map
    base = arch.scaled_spec(0.25, 0.25, base_resolution=32)
    assert cost.count(spec, 10).params == cost.count(base, 10).params  # the layout adds no weights
    assert spec.architecture != base.architecture or output_stride == 32


def test_small_image_layout_of_resnet_drops_stem_then_pool():
    spec = Network(baseline="resnet50", base_resolution=32, output_stride=8).spec()
    assert (spec.stem_stride, spec.pool_stride, spec.strides) == (1, 1, (1, 2, 2, 2))
    with pytest.raises(scaling_math.ScalingError, match="output_stride must be one of"):
        Network(output_stride=12).spec()


@pytest.mark.parametrize("kwargs", [dict(depth=1e9), dict(width=1e6), dict(resolution_scale=100),
                                    dict(depth=float("inf")), dict(depth=float("nan"))])
def test_absurd_networks_are_refused_without_building_them(kwargs):
    with pytest.raises(scaling_math.ScalingError) as info:
        Network(**kwargs).spec()
    assert "\n" not in str(info.value)


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

    cfg = train.TrainConfig(network=Network(depth=0.25, width=0.25, resolution_scale=1.3, base_resolution=32))
    old = _stored_before_the_rename(json.loads(json.dumps(config.to_dict(cfg))))
    assert old["network"]["resolution"] == 1.3 and "resolution_scale" not in old["network"]
    assert list(config.upgrade(old)["network"]) == list(config.to_dict(cfg)["network"])  # the field order too
    assert config.upgrade(old) == config.to_dict(cfg) and config.from_dict(train.TrainConfig, old) == cfg
    assert config.differences(cfg, old, ignore=train.EXECUTION_FIELDS) == []  # an older workdir resumes
    assert config.differences(cfg, {**old, "network": {**old["network"], "resolution": 1.4}}) == ["network"]


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
    stored_config = _stored_before_the_rename(study.config_dict(cfg))  # as summary.json holds it
    assert study.definition("sweep:resolution", stored_config, points) == mine
    study.Study.open(cfg.study, "sweep:resolution", points, study.config_dict(cfg))  # the same study: resumes
    other = SweepConfig(study=study.StudyConfig(name="renamed", results_dir=str(tmp_path),
                                                train=TrainConfig(network=Network(resolution_scale=1.1))),
                        sweep="resolution")
    with pytest.raises(study.StudyError, match=r"differs in study\.train\.network"):
        study.Study.open(other.study, "sweep:resolution", points, study.config_dict(other))
