"""Architecture specs (B0-B7, scaled and compound specs, the activation field) against ../shared/reference/."""

import csv
import dataclasses
import math

import pytest
from conftest import REFERENCE

from scaling import arch, scaling_math
from scaling.network import Network


def test_compound_spec_at_negative_phi_is_smaller():
    small = arch.compound_spec(1.2, 1.1, 1.15, -2)
    b0 = arch.preset_spec("b0")
    assert small.resolution < b0.resolution and small.head_channels < b0.head_channels


def _variants():
    with open(REFERENCE / "efficientnet_variants.csv") as f:
        return list(csv.DictReader(f))


def test_presets_match_official_table():
    rows = _variants()
    assert [r["variant"] for r in rows] == list(arch.PRESETS)
    for row in rows:
        preset = arch.PRESETS[row["variant"]]
        assert preset.width == float(row["width_coefficient"])
        assert preset.depth == float(row["depth_coefficient"])
        assert preset.resolution == int(row["resolution"])
        assert preset.dropout == float(row["dropout_rate"])
        assert arch.PAPER_TABLE2[row["variant"]][:2] == (float(row["paper_params_M"]), float(row["paper_flops_B"]))


def test_b0_stage_table_matches_reference():
    with open(REFERENCE / "b0_stages.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["stage"].isdigit()]
    assert len(rows) == len(arch.B0_STAGES)
    for row, st in zip(rows, arch.B0_STAGES, strict=True):
        assert (st.repeats, st.kernel, st.stride, st.expand_ratio, st.in_channels, st.out_channels, st.se_ratio) == (
            int(row["repeats"]), int(row["kernel"]), int(row["stride"]), int(row["expand_ratio"]),
            int(row["in_channels"]), int(row["out_channels"]), float(row["se_ratio"]))


@pytest.mark.parametrize(
    "variant,stem,head,blocks",
    [("b0", 32, 1280, 16), ("b1", 32, 1280, 23), ("b2", 32, 1408, 23), ("b3", 40, 1536, 26),
     ("b4", 48, 1792, 32), ("b5", 48, 2048, 39), ("b6", 56, 2304, 45), ("b7", 64, 2560, 55)],
)
def test_preset_stem_head_blocks(variant, stem, head, blocks):
    spec = arch.preset_spec(variant)
    assert (spec.stem_channels, spec.head_channels, spec.num_blocks) == (stem, head, blocks)


def test_presets_are_not_compound_powers():
    b1 = arch.preset_spec("b1")
    c1 = arch.compound_spec(1.2, 1.1, 1.15, 1)
    assert b1.architecture != c1.architecture
    assert math.isclose(b1.depth, 1.1) and b1.resolution == 240


def test_bad_coefficients():
    with pytest.raises(scaling_math.ScalingError, match="unknown variant"):
        arch.preset_spec("b9")
    with pytest.raises(scaling_math.ScalingError, match="resolution must be >= 8"):
        arch.scaled_spec(1, 1, 0.01)
    with pytest.raises(scaling_math.ScalingError, match="alpha must be >= 1"):
        arch.compound_spec(0.5, 1, 1, 1)


def test_absurd_phi_is_refused():
    with pytest.raises(scaling_math.ScalingError, match="at most 1,000 are supported"):
        arch.compound_spec(1.2, 1.1, 1.15, 1000)
    with pytest.raises(scaling_math.ScalingError, match="overflows"):
        arch.compound_spec(1.2, 1.1, 1.15, 1e6)


def test_resolution_is_pixels_and_resolution_scale_the_multiplier():
    spec = arch.scaled_spec(1, 1, resolution_scale=1.5, base_resolution=32)
    assert (spec.resolution, spec.resolution_scale) == (48, 1.5)
    assert arch.baseline_spec("resnet50", resolution_scale=1.5, base_resolution=32).resolution == 48
    assert arch.preset_spec("b3").resolution == 300


def test_activation_is_a_field_of_the_spec():
    """MobileNetV2 is ReLU6 and B0 swish by their specs' field, whatever the name; the layout keeps it."""
    mnv2, b0 = arch.mobilenet_v2_spec(), arch.scaled_spec()
    assert (mnv2.activation, b0.activation, arch.resnet_spec().activation) == ("relu6", "swish", "relu")
    assert arch.mobilenet_v2_spec(name="mnv2").activation == "relu6"
    assert Network(baseline="mobilenetv2", base_resolution=32, output_stride=8).spec().activation == "relu6"
    assert arch.with_output_stride(mnv2, 8).activation == "relu6"
    assert dataclasses.replace(b0, activation="relu6").architecture != b0.architecture  # another network


def test_models_read_the_activation_field():
    import jax
    from flax import nnx

    from scaling.models import build_model

    def stem_act(spec):
        return nnx.eval_shape(lambda: build_model(spec, 10, rngs=nnx.Rngs(0))).stem.act

    small = arch.scaled_spec(0.25, 0.25, base_resolution=32)
    assert stem_act(small) is jax.nn.silu
    assert stem_act(dataclasses.replace(small, activation="relu6")) is jax.nn.relu6  # the field, not the name
    assert stem_act(arch.mobilenet_v2_spec(0.25, 0.25, name="custom")) is jax.nn.relu6
