"""The fast CPU layers equal XLA's generic convolutions: every depthwise_conv implementation
matches the grouped convolution, and Pointwise matches nnx.Conv 1x1 (values, gradients, init)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from scaling.models.initializers import conv_init
from scaling.models.layers import DEPTHWISE_IMPLS, PatchConv, Pointwise, default_depthwise_impl, depthwise_conv

OTHER_IMPLS = [impl for impl in DEPTHWISE_IMPLS if impl != "xla"]


def _inputs(n, h, w, c, k, dtype=jnp.float32, seed=0):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.standard_normal((n, h, w, c)), dtype)
    kernel = jnp.asarray(rng.standard_normal((k, k, 1, c)), dtype)
    return x, kernel


def _value_and_grads(impl, x, kernel, stride, seed=1):
    """(y, dL/dx, dL/dkernel) for L = sum(y * ct) with a fixed random cotangent, all under jit."""
    def loss(x, kernel, ct):
        y = depthwise_conv(x, kernel, stride, impl)
        return jnp.sum(y.astype(jnp.float32) * ct), y

    y_shape = jax.eval_shape(lambda a, b: depthwise_conv(a, b, stride, impl), x, kernel).shape
    ct = jnp.asarray(np.random.default_rng(seed).standard_normal(y_shape), jnp.float32)
    (_, y), (gx, gk) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(x, kernel, ct)
    return y, gx, gk


def _assert_close(actual, expected, tol, what):
    actual, expected = np.asarray(actual, np.float32), np.asarray(expected, np.float32)
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale, err_msg=what)


# (H, W): odd and even in both orders (asymmetric SAME padding), and a 1x1 map (all padding).
SPATIAL = [(1, 1), (7, 8), (16, 15)]


@pytest.mark.parametrize("impl", OTHER_IMPLS)
@pytest.mark.parametrize("kernel_size", [3, 5])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("hw", SPATIAL, ids=lambda hw: f"{hw[0]}x{hw[1]}")
def test_matches_xla_forward_and_grads(impl, kernel_size, stride, hw):
    x, kernel = _inputs(2, *hw, 3, kernel_size)
    expected = _value_and_grads("xla", x, kernel, stride)
    actual = _value_and_grads(impl, x, kernel, stride)
    out_hw = (-(-hw[0] // stride), -(-hw[1] // stride))
    assert actual[0].shape == (2, *out_hw, 3)
    for what, a, e in zip(("y", "grad x", "grad kernel"), actual, expected, strict=True):
        assert a.shape == e.shape and a.dtype == e.dtype, what
        _assert_close(a, e, 1e-5, what)


@pytest.mark.parametrize("impl", DEPTHWISE_IMPLS)
@pytest.mark.parametrize("stride", [1, 2])
def test_bfloat16_in_bfloat16_out(impl, stride):
    x32, k32 = _inputs(2, 9, 8, 4, 3)
    x, kernel = x32.astype(jnp.bfloat16), k32.astype(jnp.bfloat16)
    y, gx, gk = _value_and_grads(impl, x, kernel, stride)
    assert y.dtype == gx.dtype == gk.dtype == jnp.bfloat16
    # Same bf16-rounded inputs through the f32 reference: differences are bf16 rounding only.
    ref = _value_and_grads("xla", x.astype(jnp.float32), kernel.astype(jnp.float32), stride)
    for what, a, e in zip(("y", "grad x", "grad kernel"), (y, gx, gk), ref, strict=True):
        _assert_close(a, e, 3e-2, what)


def test_bfloat16_input_with_float32_kernel():
    x, kernel = _inputs(1, 6, 6, 4, 3)
    for impl in DEPTHWISE_IMPLS:
        y = depthwise_conv(x.astype(jnp.bfloat16), kernel, 1, impl)
        assert y.dtype == jnp.bfloat16, impl


def test_auto_uses_platform_default():
    x, kernel = _inputs(1, 5, 5, 2, 3)
    auto = depthwise_conv(x, kernel, 1)
    explicit = depthwise_conv(x, kernel, 1, default_depthwise_impl())
    np.testing.assert_array_equal(np.asarray(auto), np.asarray(explicit))


def test_default_impl_per_platform():
    for platform in ("cpu", "gpu", "tpu", None):
        assert default_depthwise_impl(platform) in DEPTHWISE_IMPLS
    assert default_depthwise_impl("cpu") == "shifted"
    assert default_depthwise_impl("gpu") == "xla"


def test_unknown_impl_raises():
    x, kernel = _inputs(1, 4, 4, 2, 3)
    with pytest.raises(ValueError, match="unknown depthwise impl 'nope'"):
        depthwise_conv(x, kernel, 1, "nope")


@pytest.mark.parametrize("use_bias", [False, True])
@pytest.mark.parametrize("dtype", [None, jnp.bfloat16])
def test_pointwise_matches_conv_1x1(use_bias, dtype):
    """Same parameters from the same seed (and the same key stream after it), same outputs and grads."""
    conv = nnx.Conv(24, 40, (1, 1), use_bias=use_bias, kernel_init=conv_init, dtype=dtype,
                    bias_init=nnx.initializers.normal(1.0), rngs=(conv_rngs := nnx.Rngs(7)))
    rngs = nnx.Rngs(7)
    pw = Pointwise(24, 40, use_bias=use_bias, kernel_init=conv_init, dtype=dtype, rngs=rngs)
    np.testing.assert_array_equal(pw.kernel[...], conv.kernel[...])
    assert pw.kernel[...].dtype == jnp.float32
    assert rngs.params.count[...] == conv_rngs.params.count[...] == 1 + use_bias  # kernel (+ bias) keys
    if use_bias:
        np.testing.assert_array_equal(pw.bias[...], 0.0)
        pw.bias[...] = conv.bias[...]
    x, _ = _inputs(2, 5, 5, 24, 1)

    def loss(m, x):
        y = m(x)
        return jnp.sum(y.astype(jnp.float32) ** 2), y

    (_, y_conv), (g_conv, gx_conv) = nnx.value_and_grad(loss, argnums=(0, 1), has_aux=True)(conv, x)
    (_, y_pw), (g_pw, gx_pw) = nnx.value_and_grad(loss, argnums=(0, 1), has_aux=True)(pw, x)
    assert y_pw.dtype == y_conv.dtype == (dtype or jnp.float32)
    tol = 2e-2 if dtype else 1e-5
    np.testing.assert_allclose(np.float32(y_pw), np.float32(y_conv), rtol=tol, atol=tol)
    np.testing.assert_allclose(g_pw.kernel[...], g_conv.kernel[...], rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(np.float32(gx_pw), np.float32(gx_conv), rtol=tol, atol=tol * 10)
    if use_bias:
        np.testing.assert_allclose(g_pw.bias[...], g_conv.bias[...], rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("k,stride,hw", [(1, 2, 9), (3, 1, 8), (3, 2, 8), (3, 2, 7), (7, 2, 11)])
@pytest.mark.parametrize("dtype", [None, jnp.bfloat16])
def test_patch_conv_matches_conv(k, stride, hw, dtype):
    """ResNet's convolutions as matmuls of their patches: nnx.Conv's kernel from the same seed, its output
    size under torchvision padding, its outputs and gradients."""
    pad = (k - 1) // 2
    conv = nnx.Conv(6, 10, (k, k), (stride, stride), padding=((pad, pad), (pad, pad)), use_bias=False,
                    kernel_init=conv_init, dtype=dtype, rngs=(conv_rngs := nnx.Rngs(3)))
    rngs = nnx.Rngs(3)
    patch = PatchConv(6, 10, k, stride, kernel_init=conv_init, dtype=dtype, rngs=rngs)
    np.testing.assert_array_equal(patch.kernel[...], conv.kernel[...])
    assert rngs.params.count[...] == conv_rngs.params.count[...] == 1
    x, _ = _inputs(2, hw, hw, 6, 1)

    def loss(m, x):
        y = m(x)
        return jnp.sum(y.astype(jnp.float32) ** 2), y

    (_, y_conv), (g_conv, gx_conv) = nnx.value_and_grad(loss, argnums=(0, 1), has_aux=True)(conv, x)
    (_, y_patch), (g_patch, gx_patch) = nnx.value_and_grad(loss, argnums=(0, 1), has_aux=True)(patch, x)
    assert y_patch.shape == y_conv.shape == (2, (hw + 2 * pad - k) // stride + 1, (hw + 2 * pad - k) // stride + 1, 10)
    assert y_patch.dtype == y_conv.dtype == (dtype or jnp.float32)
    tol = 3e-2 if dtype else 1e-5
    np.testing.assert_allclose(np.float32(y_patch), np.float32(y_conv), rtol=tol, atol=tol)
    np.testing.assert_allclose(g_patch.kernel[...], g_conv.kernel[...], rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(np.float32(gx_patch), np.float32(gx_conv), rtol=tol, atol=tol * 10)
