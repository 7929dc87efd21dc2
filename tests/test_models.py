"""EfficientNet in Flax NNX: exact parameter counts, forward/backward, modes, dtypes, XLA cost."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from test_cost import PARAMS

from scaling import arch, cost
from scaling.models.efficientnet import BN_EPSILON, BN_MOMENTUM, EfficientNet

SMALL = arch.scaled_spec(0.25, 0.5, 1.0, base_resolution=32)  # 7 blocks: cheap to compile


def n_params(model) -> int:
    return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


@pytest.mark.parametrize("variant", list(PARAMS))
def test_param_count_exact(variant):
    spec = arch.preset_spec(variant)
    model = nnx.eval_shape(lambda: EfficientNet(spec, 1000, rngs=nnx.Rngs(0)))
    assert n_params(model) == PARAMS[variant] == cost.count(spec).params


def test_block_structure_follows_tf_reference():
    model = nnx.eval_shape(lambda: EfficientNet(arch.preset_spec("b0"), 10, rngs=nnx.Rngs(0)))
    # Each stage: its first block, and the identical rest stacked on a leading axis (scanned).
    assert [1 + (0 if s.rest is None else s.rest.project.bn.scale.shape[0]) for s in model.stages] == [
        1, 2, 2, 3, 3, 4, 1]
    assert model.stages[5].rest.dw.kernel.shape == (3, 5, 5, 1, 1152)
    first, second = model.stages[0].first, model.stages[1].first
    assert first.expand is None  # MBConv1 has no expansion
    assert first.se.reduce.out_features == 8  # int(32 * 0.25), from the block input
    assert second.se.reduce.out_features == 4  # int(16 * 0.25), not from the expanded 96
    assert not second.residual and model.stages[1].rest.residual
    rates = [r for stage in model.stages for r in stage.rates]
    assert rates == pytest.approx([0.2 * i / 16 for i in range(16)])  # linear over all 16 blocks
    assert not model.stages[6].first.residual  # the last block changes channels: no stochastic depth
    bn = model.stem.bn
    assert (bn.momentum, bn.epsilon) == (BN_MOMENTUM, BN_EPSILON) == (0.99, 1e-3)


def test_tf_initialisers():
    model = EfficientNet(SMALL, 10, rngs=nnx.Rngs(0))
    dense = np.asarray(model.classifier.kernel[...])
    assert np.abs(dense).max() <= 1 / np.sqrt(10) and np.abs(dense).max() > 0.9 / np.sqrt(10)
    dw = np.asarray(model.stages[-1].first.dw.kernel[...])
    k = dw.shape[0]
    assert dw.std() == pytest.approx(np.sqrt(2 / (k * k)), rel=0.05)
    pw = np.asarray(model.head.conv.kernel[...])
    assert pw.std() == pytest.approx(np.sqrt(2 / pw.shape[-1]), rel=0.05)


@pytest.mark.parametrize("variant", [f"b{i}" for i in range(8)])
def test_every_preset_traces_to_logits(variant):
    """Every preset builds and traces at its own resolution (abstractly: compiling B7 takes minutes)."""
    spec = arch.preset_spec(variant)
    model = nnx.eval_shape(lambda: EfficientNet(spec, 7, rngs=nnx.Rngs(0)))
    model.eval()
    out = nnx.eval_shape(lambda m, x: m(x), model, jax.ShapeDtypeStruct((2, spec.resolution, spec.resolution, 3),
                                                                         jnp.float32))
    assert out.shape == (2, 7) and out.dtype == jnp.float32


@pytest.mark.slow
def test_b0_runs_forward_at_224():
    model = EfficientNet(arch.preset_spec("b0"), 7, rngs=nnx.Rngs(0))
    model.eval()
    logits = nnx.jit(lambda m, x: m(x))(model, jnp.ones((2, 224, 224, 3)))
    assert logits.shape == (2, 7) and bool(jnp.isfinite(logits).all())


def test_train_mode_differs_from_eval_and_is_stochastic():
    model = EfficientNet(SMALL, 10, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (4, 32, 32, 3))
    forward = nnx.jit(lambda m, x: m(x))
    model.eval()
    eval_a, eval_b = forward(model, x), forward(model, x)
    np.testing.assert_array_equal(eval_a, eval_b)
    model.train()
    train_a, train_b = forward(model, x), forward(model, x)
    assert not np.allclose(train_a, eval_a)
    assert not np.allclose(train_a, train_b)  # dropout / stochastic depth draw anew


def test_bf16_compute_keeps_fp32_params():
    model = EfficientNet(SMALL, 10, dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    model.eval()
    feats, logits = nnx.jit(lambda m, x: (m.features(x), m(x)))(model, jnp.ones((1, 32, 32, 3)))
    assert feats.dtype == jnp.bfloat16 and feats.shape == (1, 1, 1, SMALL.head_channels)
    assert logits.dtype == jnp.float32
    assert {x.dtype for x in jax.tree.leaves(nnx.state(model, nnx.Param))} == {jnp.dtype(jnp.float32)}


def test_relu6_activation_option_and_bad_activation():
    relu6 = EfficientNet(SMALL, 10, activation="relu6", rngs=nnx.Rngs(0))
    swish = EfficientNet(SMALL, 10, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(0), (1, 32, 32, 3))
    forward = nnx.jit(lambda m, x: m.features(x))
    relu6.eval(), swish.eval()
    a, b = forward(relu6, x), forward(swish, x)
    assert float(a.min()) >= 0 and float(a.max()) <= 6  # relu6 after the head
    assert float(b.min()) < 0  # swish dips below zero
    with pytest.raises(ValueError, match="unknown activation"):
        EfficientNet(SMALL, 10, activation="gelu", rngs=nnx.Rngs(0))


def test_macs_agree_with_xla_cost_analysis():
    """XLA counts a multiply-add as 2 FLOPs and also counts BN, activations, pooling and adds.

    With the grouped-convolution depthwise path, half its FLOPs exceed our MACs by the
    elementwise work only: measured +3.9% for B0 at 64 px; we allow 0-6%.
    """
    res = 64
    spec = arch.preset_spec("b0", resolution=res)
    # Unrolled: XLA's cost analysis counts a while loop's body once, not once per iteration.
    model = EfficientNet(spec, 10, depthwise_impl="xla", scan_unroll=True, rngs=nnx.Rngs(0))
    model.eval()
    graphdef, state = nnx.split(model)
    fn = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x))
    analysis = fn.lower(state, jnp.ones((1, res, res, 3))).compile().cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0]
    xla_macs = analysis["flops"] / 2
    ours = cost.count(spec, num_classes=10).macs
    assert ours <= xla_macs <= ours * 1.06, (ours, xla_macs)


def _loss_and_grads(model, x, y, train: bool):
    model.train() if train else model.eval()
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def loss(p):
        logits = nnx.merge(graphdef, p, rest, copy=True)(x)
        return jnp.mean(jax.nn.logsumexp(logits, -1) - logits[jnp.arange(len(y)), y]), logits

    (value, logits), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(params)
    return logits, jax.tree.leaves(grads)


@pytest.mark.parametrize("spec", [
    pytest.param(arch.preset_spec("b0", resolution=32), id="b0"),
    pytest.param(arch.scaled_spec(2.0, 0.25, base_resolution=32), id="deep-proxy-32-blocks")])
def test_scanned_stages_equal_unrolled_blocks(spec):
    """The scanned stages compute the network an unrolled one does, on the same weights: outputs and
    gradients within fp32 tolerance in eval mode, and in train mode (batch statistics, stochastic
    depth) exactly in float64, where fp32 rounding cannot grow through 32 train-mode BNs."""
    spec = dataclasses.replace(spec, drop_connect_rate=0.2)
    y = jnp.arange(4) % 10
    scanned = EfficientNet(spec, 10, rngs=nnx.Rngs(params=0, dropout=1))
    unrolled = EfficientNet(spec, 10, scan_unroll=True, rngs=nnx.Rngs(params=0, dropout=1))
    x = jax.random.normal(jax.random.key(2), (4, 32, 32, 3))
    a, b = _loss_and_grads(scanned, x, y, train=False), _loss_and_grads(unrolled, x, y, train=False)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-5)
    for ga, gb in zip(a[1], b[1], strict=True):
        np.testing.assert_allclose(ga, gb, rtol=1e-4, atol=1e-6)
    with jax.enable_x64():
        def float64(model):
            state = nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat))
            nnx.update(model, jax.tree.map(lambda v: v.astype(jnp.float64), state))
            return model

        a = _loss_and_grads(float64(scanned), x.astype(jnp.float64), y, train=True)
        b = _loss_and_grads(float64(unrolled), x.astype(jnp.float64), y, train=True)
        np.testing.assert_allclose(a[0], b[0], rtol=1e-12, atol=1e-12)
        scale = max(float(np.abs(g).max()) for g in b[1])  # gradients that are 0 in exact arithmetic: ~1e-12
        for ga, gb in zip(a[1], b[1], strict=True):
            np.testing.assert_allclose(ga, gb, rtol=1e-7, atol=1e-10 * scale)


def test_zero_init_residual_makes_every_residual_block_the_identity():
    """With the last BN scale at 0, a residual block returns its input exactly (a real forward, train mode):
    every stage then computes its first block alone, whatever its depth."""
    spec = arch.scaled_spec(2.0, 0.25, base_resolution=32)
    model = EfficientNet(spec, 10, zero_init_residual=True, rngs=nnx.Rngs(0))
    model.train()
    for stage, s in zip(model.stages, spec.stages, strict=True):
        x = jax.random.normal(jax.random.key(s.out_channels), (2, 8, 8, s.in_channels))
        whole, first = nnx.jit(lambda st, x: (st(x), st.first(x)))(stage, x)
        np.testing.assert_array_equal(whole, first)
        assert (np.asarray(stage.rest.project.bn.scale[...]) == 0).all()
    assert not (np.asarray(model.stages[1].first.project.bn.scale[...]) == 0).any()  # stride 2: not residual
    reference = EfficientNet(spec, 10, rngs=nnx.Rngs(0))
    assert (np.asarray(reference.stages[1].rest.project.bn.scale[...]) == 1).all()  # the default is TF's


@pytest.mark.parametrize("spec", [arch.scaled_spec(0.25, 0.65, base_resolution=32),
                                  arch.resnet_spec(0.25, 0.25, base_resolution=32)], ids=["mbconv", "resnet"])
def test_zero_init_head_starts_every_network_at_the_uniform_prediction(spec):
    """A zero classifier gives logits 0 on any input, so the first loss is ln(classes) at any width;
    the reference initialisation (the default) does not."""
    from scaling.models import build_model

    x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
    model = build_model(spec, 10, zero_init_head=True, rngs=nnx.Rngs(0))
    model.train()
    assert (np.asarray(model.classifier.kernel[...]) == 0).all()
    np.testing.assert_array_equal(model(x), np.zeros((4, 10)))
    reference = build_model(spec, 10, rngs=nnx.Rngs(0))
    reference.train()
    assert float(jnp.abs(reference(x)).max()) > 0.1
