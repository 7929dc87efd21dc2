"""Paper Table 3 baselines: MobileNetV2 and ResNet-50 under the same d / w / r scaling.

Exact counts come three ways: the Flax model's nnx.Param leaves (nnx.eval_shape, no compute), the
analytic ``cost.count``, and a hand-written per-layer sum below that follows torchvision's code
(its padding formula, its ``_make_divisible``), not ``arch``/``cost``.

MACs at 224 px (convolutions incl. depthwise and shortcuts, plus the classifier):
  * MobileNetV2 1.0: 300,774,272 (torchvision lists 0.301 G "FLOPS", i.e. MACs; the paper 300M).
    Our MBConv network pads 'SAME'; for 3x3 convs that gives the same output sizes as torchvision's
    padding=1, so only where the padding sits differs, not the count.
  * ResNet-50: 4,089,184,256 (torchvision lists 4.089 G). Padded taps are counted, as in torchvision's
    figure. Cross-check, not run here: XLA's cost analysis of our forward at 224 gives flops / 2 =
    3,998,667,264 = the in-bounds taps only (3,948,251,904) + ~50M of BN/ReLU/add/pool work; for
    MobileNetV2 (depthwise_impl="xla") 313,113,024, ours + 4.1% elementwise (B0 shows +3.9%).
"""

import jax
import jax.numpy as jnp
import optax
import pytest
from flax import nnx

from scaling import arch, cost, scaling_math
from scaling.models import build_model
from scaling.models.efficientnet import EfficientNet
from scaling.models.resnet import BN_EPSILON, BN_MOMENTUM, ResNet

MOBILENET_V2_PARAMS, MOBILENET_V2_MACS = 3_504_872, 300_774_272
RESNET50_PARAMS, RESNET50_MACS = 25_557_032, 4_089_184_256


# ------------------------------------------------------------------------------------------------
# Independent per-layer sums, written from torchvision's mobilenetv2.py / resnet.py
# ------------------------------------------------------------------------------------------------
def _torch_out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def _make_divisible(v, divisor=8):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _torchvision_mobilenet_v2(width=1.0, res=224, classes=1000):
    params = macs = 0

    def conv(n, cin, cout, k, s, groups=1):
        nonlocal params, macs
        o = _torch_out(n, k, s, (k - 1) // 2)
        params += k * k * cin // groups * cout + 2 * cout
        macs += o * o * k * k * cin // groups * cout
        return o

    cin = _make_divisible(32 * width)
    n = conv(res, 3, cin, 3, 2)
    for t, c, reps, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                          (6, 160, 3, 2), (6, 320, 1, 1)]:
        cout = _make_divisible(c * width)
        for i in range(reps):
            hidden = cin * t
            if t != 1:
                conv(n, cin, hidden, 1, 1)
            n = conv(n, hidden, hidden, 3, s if i == 0 else 1, groups=hidden)
            conv(n, hidden, cout, 1, 1)
            cin = cout
    last = _make_divisible(1280 * max(1.0, width))
    conv(n, cin, last, 1, 1)
    return params + last * classes + classes, macs + last * classes


def _torchvision_resnet50(res=224, classes=1000):
    params = macs = 0

    def conv(n, cin, cout, k, s):
        nonlocal params, macs
        o = _torch_out(n, k, s, (k - 1) // 2)
        params += k * k * cin * cout + 2 * cout
        macs += o * o * k * k * cin * cout
        return o

    n = conv(res, 3, 64, 7, 2)
    n = _torch_out(n, 3, 2, 1)  # max pool
    cin = 64
    for reps, planes, stride in [(3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)]:
        for i in range(reps):
            s = stride if i == 0 else 1
            if i == 0:
                conv(n, cin, planes * 4, 1, s)  # downsample
            conv(n, cin, planes, 1, 1)
            m = conv(n, planes, planes, 3, s)
            conv(m, planes, planes * 4, 1, 1)
            n, cin = m, planes * 4
    return params + 2048 * classes + classes, macs + 2048 * classes


def n_params(model) -> int:
    return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


def abstract(spec, classes=1000):
    return nnx.eval_shape(lambda: build_model(spec, classes, rngs=nnx.Rngs(0)))


# ------------------------------------------------------------------------------------------------
# Exact counts
# ------------------------------------------------------------------------------------------------
def test_mobilenet_v2_exact_params_and_macs():
    spec = arch.mobilenet_v2_spec()
    model = abstract(spec)
    assert isinstance(model, EfficientNet)
    assert n_params(model) == cost.count(spec).params == MOBILENET_V2_PARAMS
    assert cost.count(spec).macs == MOBILENET_V2_MACS
    assert _torchvision_mobilenet_v2() == (MOBILENET_V2_PARAMS, MOBILENET_V2_MACS)


def test_resnet50_exact_params_and_macs():
    spec = arch.resnet_spec()
    model = abstract(spec)
    assert isinstance(model, ResNet)
    assert n_params(model) == cost.count(spec).params == RESNET50_PARAMS
    assert cost.count(spec).macs == RESNET50_MACS
    assert _torchvision_resnet50() == (RESNET50_PARAMS, RESNET50_MACS)


@pytest.mark.parametrize("width,res", [(0.5, 160), (0.75, 193), (1.4, 224)])
def test_mobilenet_v2_width_and_resolution_match_torchvision_rules(width, res):
    spec = arch.mobilenet_v2_spec(width=width, resolution_scale=res / 224)
    c = cost.count(spec, num_classes=10)
    assert spec.resolution == res
    assert (c.params, c.macs) == _torchvision_mobilenet_v2(width, res, classes=10)


def test_resnet_odd_resolution_macs_match_torchvision_padding():
    spec = arch.resnet_spec(resolution_scale=97 / 224)  # ceil(size / 2) == torch's symmetric padding
    assert spec.resolution == 97
    assert (cost.count(spec).params, cost.count(spec).macs) == _torchvision_resnet50(97)


# ------------------------------------------------------------------------------------------------
# Specs, registry, model structure
# ------------------------------------------------------------------------------------------------
def test_mobilenet_v2_spec_layout():
    spec = arch.mobilenet_v2_spec()
    assert [(s.expand_ratio, s.out_channels, s.repeats, s.stride) for s in spec.stages] == list(
        arch.MOBILENET_V2_TABLE)
    assert {(s.kernel, s.se_ratio) for s in spec.stages} == {(3, None)}
    assert (spec.stem_channels, spec.head_channels, spec.resolution) == (32, 1280, 224)
    assert (spec.dropout_rate, spec.drop_connect_rate, spec.name) == (0.2, 0.0, "mobilenetv2")
    assert spec.activation == "relu6" and arch.mobilenet_v2_spec(name="mnv2").activation == "relu6"  # any name


def test_depth_width_resolution_scaling():
    mb = arch.mobilenet_v2_spec
    assert [s.repeats for s in mb(depth=2).stages] == [2, 4, 6, 8, 6, 6, 2]
    assert [s.repeats for s in mb(depth=1.2).stages] == [2, 3, 4, 5, 4, 4, 2]  # ceil
    wide = mb(width=1.4)
    assert [s.out_channels for s in wide.stages] == [24, 32, 48, 88, 136, 224, 448]
    assert (wide.stem_channels, wide.head_channels) == (48, 1792)
    assert mb(width=0.5).head_channels == 1280  # torchvision keeps 1280 below width 1
    assert mb(resolution_scale=1.3).resolution == 291 and mb(resolution_scale=1.3, base_resolution=32).resolution == 42

    rn = arch.resnet_spec
    assert rn().repeats == (3, 4, 6, 3) and rn().num_blocks == 16
    assert rn(depth=2).repeats == (6, 8, 12, 6) and rn(depth=1.1).repeats == (4, 5, 7, 4)
    assert (rn(width=2).widths, rn(width=2).stem_channels, rn(width=2).head_channels) == (
        (128, 256, 512, 1024), 128, 4096)
    assert rn(width=1.4).widths == (88, 176, 360, 720)  # 179.2 -> 176
    assert rn(resolution_scale=1.3).resolution == 291
    assert rn(resolution_scale=2).architecture != rn().architecture
    for build in (mb, rn):  # each dimension costs more
        base = cost.count(build()).macs
        assert all(cost.count(build(*dwr)).macs > base for dwr in [(2, 1, 1), (1, 2, 1), (1, 1, 2)])
    with pytest.raises(scaling_math.ScalingError):
        rn(width=0)


def test_scaled_models_follow_their_spec():
    mspec = arch.mobilenet_v2_spec(2, 1.4, 1.3)
    m = abstract(mspec)
    assert sum(len(stage.rates) for stage in m.stages) == mspec.num_blocks == 34
    first = m.stages[0].first
    assert m.head.conv.out_features == 1792 and first.expand is None and first.se is None
    assert m.stages[0].rest.residual and not m.stages[1].first.residual  # 2 blocks in stage 1 (d=2)
    assert all(rate == 0 for stage in m.stages for rate in stage.rates)  # no stochastic depth
    assert n_params(m) == cost.count(mspec).params

    rspec = arch.resnet_spec(2, 1.4, 1.3)
    r = abstract(rspec)
    assert [len(stage.rates) for stage in r.stages] == list(rspec.repeats) == [6, 8, 12, 6]
    assert r.stem.conv.out_features == 88 and r.classifier.in_features == 720 * 4
    # The first block of each stage has the projection shortcut and the stride (none off stage 1).
    assert all(stage.first.shortcut is not None and stage.rest.shortcut is None for stage in r.stages)
    assert [stage.first.conv2.conv.stride for stage in r.stages] == [1, 2, 2, 2]
    assert r.stages[1].first.conv1.conv.stride == 1  # v1.5: the 3x3 strides, not the 1x1
    assert n_params(r) == cost.count(rspec).params
    assert (r.stem.bn.momentum, r.stem.bn.epsilon) == (BN_MOMENTUM, BN_EPSILON) == (0.9, 1e-5)


def test_registry_and_build_model():
    assert set(arch.BASELINES) == {"efficientnet-b0", "mobilenetv2", "resnet50"}
    assert arch.baseline_spec("efficientnet-b0") == arch.scaled_spec()
    assert arch.baseline_spec("MobileNetV2", 1, 1, 1.5, base_resolution=32).resolution == 48
    with pytest.raises(scaling_math.ScalingError, match="unknown baseline"):
        arch.baseline_spec("vgg16")
    b0 = abstract(arch.baseline_spec("efficientnet-b0"), 10)
    mnv2 = abstract(arch.baseline_spec("mobilenetv2"), 10)
    assert b0.stem.act is jax.nn.silu and mnv2.stem.act is jax.nn.relu6
    custom = nnx.eval_shape(lambda: build_model(arch.mobilenet_v2_spec(), 10, activation="swish", bn_momentum=0.9,
                                                rngs=nnx.Rngs(0)))
    assert custom.stem.act is jax.nn.silu and custom.stem.bn.momentum == 0.9
    with pytest.raises(TypeError, match="no model"):
        build_model(object(), 10, rngs=nnx.Rngs(0))


def test_describe_and_resolution_override_work_for_resnet():
    spec = arch.resnet_spec()
    row = cost.describe(spec)
    assert (row["network"], row["stem"], row["head"], row["blocks"], row["params"], row["macs"]) == (
        "resnet50", 64, 2048, 16, RESNET50_PARAMS, RESNET50_MACS)
    assert cost.count(spec, resolution=112).macs < RESNET50_MACS
    c10 = cost.count(spec, num_classes=10)
    assert RESNET50_PARAMS - c10.params == 990 * 2049
    assert cost.count(spec, bytes_per_value=2).activation_bytes * 2 == cost.count(spec).activation_bytes


# ------------------------------------------------------------------------------------------------
# One jitted SGD step at a tiny resolution: width 1.4, resolution 1.3 (32 -> 42 px) and depth 0.1
# (one block per stage) so that XLA:CPU compiles in seconds; depth only repeats blocks, whose
# structure the tests above check. Init runs inside the same jit (one compile); MobileNetV2 uses XLA's
# grouped conv (faster to compile here than the CPU "shifted" depthwise, which test_models.py covers).
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("baseline", ["mobilenetv2", "resnet50"])
def test_scaled_variant_trains_one_step(baseline):
    spec = arch.baseline_spec(baseline, 0.1, 1.4, 1.3, base_resolution=32)
    assert spec.resolution == 42 and spec.num_blocks == (7 if baseline == "mobilenetv2" else 4)
    x = jax.random.normal(jax.random.key(0), (2, 42, 42, 3))
    y = jnp.array([1, 2])

    @nnx.jit
    def build_and_step(x, y):
        model = build_model(spec, 10, depthwise_impl="xla", rngs=nnx.Rngs(0))
        model.train()
        optimizer = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
        before = model.classifier.kernel[...]
        init = {"fc_max": jnp.abs(before).max()}
        if isinstance(model, ResNet):
            init["conv_std"] = model.stages[-1].first.conv2.conv.kernel[...].std()

        def loss_fn(m):
            return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss, jnp.abs(model.classifier.kernel[...] - before).max(), init

    loss, step, init = build_and_step(x, y)
    assert bool(jnp.isfinite(loss)) and float(step) > 0
    if baseline == "resnet50":  # He init N(0, sqrt(2 / fan_out)); torch Linear U(+-1/sqrt(fan_in))
        assert float(init["conv_std"]) == pytest.approx((2 / (9 * 720)) ** 0.5, rel=0.05)
        assert 0.9 / 2880**0.5 < float(init["fc_max"]) <= 1 / 2880**0.5


@pytest.mark.parametrize("baseline", ["mobilenetv2", "resnet50"])
def test_features_and_logits_shapes(baseline):
    spec = arch.baseline_spec(baseline, 0.1, 1.4, 1.3, base_resolution=32)
    model = abstract(spec, 10)
    x = jax.ShapeDtypeStruct((2, 42, 42, 3), jnp.float32)
    feats = nnx.eval_shape(lambda m, x: m.features(x), model, x)
    logits = nnx.eval_shape(lambda m, x: m(x), model, x)
    assert feats.shape == (2, 2, 2, spec.head_channels)  # 42 -> 21 -> 11 -> 6 -> 3 -> 2 (ceil at each /2)
    assert logits.shape == (2, 10) and logits.dtype == jnp.float32
    bf16 = nnx.eval_shape(lambda: build_model(spec, 10, dtype=jnp.bfloat16, rngs=nnx.Rngs(0)))
    assert nnx.eval_shape(lambda m, x: m(x), bf16, x).dtype == jnp.float32
    assert nnx.eval_shape(lambda m, x: m.features(x), bf16, x).dtype == jnp.bfloat16
