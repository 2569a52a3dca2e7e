"""Layers: finite-difference gradients (float64), reference-loop oracles, shapes, state."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine import reference
from engine.geometry import GeometryError
from engine.gradcheck import check_layer_gradients, numerical_gradient
from engine.layers import (
    AvgPool2D,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    ReLU,
    Sigmoid,
    SpatialBatchNorm,
    Tanh,
)

TOL = 1e-6  # relative error in float64; correct gradients give ~1e-9


def _rng(seed=0):
    return np.random.default_rng(seed)


def _assert_gradients_ok(layer, x, seed=0):
    errors = check_layer_gradients(layer, x, seed=seed)
    assert set(errors) == {"x", *layer.params}
    assert max(errors.values()) < TOL, errors


# ----------------------------------------------------------------- gradients

def test_conv_gradients_stride2_padding_nonsquare_kernel():
    rng = _rng(1)
    layer = Conv2D(3, 4, kernel=(3, 2), stride=2, padding=1, rng=rng)
    layer.params["b"][:] = rng.standard_normal(4)
    _assert_gradients_ok(layer, rng.standard_normal((2, 3, 7, 6)))


def test_conv_gradients_window_does_not_tile_input():
    # (8 + 0 - 3) / 2 is not whole: the last row/column is never read.
    rng = _rng(2)
    layer = Conv2D(2, 3, kernel=3, stride=(2, 3), padding=(0, 1), rng=rng)
    _assert_gradients_ok(layer, rng.standard_normal((2, 2, 8, 7)))


@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), f=st.integers(1, 3),
       h=st.integers(3, 7), w=st.integers(3, 7), kh=st.integers(1, 3), kw=st.integers(1, 3),
       s=st.integers(1, 3), p=st.integers(0, 2), seed=st.integers(0, 10_000))
def test_conv_gradients_random_geometry(n, c, f, h, w, kh, kw, s, p, seed):
    rng = _rng(seed)
    layer = Conv2D(c, f, kernel=(kh, kw), stride=s, padding=p, rng=rng)
    layer.params["b"][:] = rng.standard_normal(f)
    _assert_gradients_ok(layer, rng.standard_normal((n, c, h, w)), seed)


@settings(max_examples=10, deadline=None)
@given(h=st.integers(2, 7), w=st.integers(2, 7), kh=st.integers(1, 3), kw=st.integers(1, 3),
       sh=st.integers(1, 3), sw=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_pool_gradients_random_geometry(h, w, kh, kw, sh, sw, seed):
    kh, kw = min(kh, h), min(kw, w)
    x = _rng(seed).standard_normal((2, 2, h, w))
    _assert_gradients_ok(MaxPool2D(size=(kh, kw), stride=(sh, sw)), x, seed)
    _assert_gradients_ok(AvgPool2D(size=(kh, kw), stride=(sh, sw)), x, seed)


@settings(max_examples=8, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 4), w=st.integers(1, 4),
       seed=st.integers(0, 10_000))
def test_batchnorm_gradients_random_shapes(n, c, h, w, seed):
    # A relative error is a meaningful measure only where the gradient is not ~0. With
    # M = N*H*W = 2 values per channel, batch norm maps them to -gamma + beta and
    # +gamma + beta whatever x is, so dx is ~eps and the "error" would be pure
    # finite-difference noise (M = 1 maps to beta: dx is 0): those cases are checked
    # with an absolute tolerance against the closed form below.
    assume(n * h * w >= 3)
    data, dout_seed = np.random.SeedSequence(seed).spawn(2)  # dout independent of x
    rng = np.random.default_rng(data)
    layer = SpatialBatchNorm(c)
    layer.params["gamma"][:] = rng.uniform(0.5, 2.0, c)
    layer.params["beta"][:] = rng.standard_normal(c)
    x = rng.standard_normal((n, c, h, w)) * 2 + 1
    _assert_gradients_ok(layer, x, int(dout_seed.generate_state(1)[0]))


@pytest.mark.parametrize("shape", [(2, 3, 1, 1), (1, 2, 1, 2), (1, 1, 2, 1)])
@pytest.mark.parametrize("seed", range(5))
def test_batchnorm_of_two_values_per_channel_against_its_closed_form(shape, seed):
    # M = 2 per channel: x_hat = +-s with s = (d/2) / sqrt(d^2/4 + eps), d = x1 - x2, so
    # y = +-gamma s + beta and, by hand, dx1 = -dx2 = gamma eps (dout1 - dout2) / (2 v^1.5),
    # v = d^2/4 + eps: about 1e-5 of dout, far below the finite-difference noise of a
    # relative check, so finite differences are held to an absolute tolerance.
    rng = np.random.default_rng(seed)
    C = shape[1]
    layer = SpatialBatchNorm(C)
    layer.params["gamma"][:] = rng.uniform(0.5, 2.0, C)
    layer.params["beta"][:] = rng.standard_normal(C)
    gamma, beta = (layer.params[k].astype(np.float64) for k in ("gamma", "beta"))
    x = rng.standard_normal(shape) * 2 + 1
    dout = rng.standard_normal(shape)
    pairs = lambda a: np.moveaxis(a, 1, 0).reshape(C, 2)  # noqa: E731  (C, the 2 values)
    x1, x2 = pairs(x).T
    d, eps = x1 - x2, layer.eps
    v = d * d / 4 + eps
    s = (d / 2) / np.sqrt(v)
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(pairs(y), np.stack([gamma * s + beta, -gamma * s + beta], 1),
                               rtol=1e-12, atol=1e-12)
    dx = layer.backward(dout)
    g1, g2 = pairs(dout).T
    dx1 = gamma * eps * (g1 - g2) / (2 * v ** 1.5)
    np.testing.assert_allclose(pairs(dx), np.stack([dx1, -dx1], 1), rtol=1e-7,
                               atol=1e-15)
    numeric = numerical_gradient(lambda v_: layer.forward(v_, training=True), x.copy(), dout)
    # centred differences of a sum of O(1) terms with a 1e-6 step: noise ~1e-10
    np.testing.assert_allclose(numeric, dx, rtol=0, atol=1e-8)
    # gamma and beta still have full-size gradients: relative errors are meaningful
    errors = check_layer_gradients(layer, x, seed=seed + 1)
    assert errors["gamma"] < TOL and errors["beta"] < TOL, errors


def test_overlapping_max_pool_gradients():
    # size 3, stride 2: neighbouring windows share a row/column, deltas accumulate.
    _assert_gradients_ok(MaxPool2D(size=3, stride=2), _rng(3).standard_normal((2, 2, 7, 8)))


def test_nonsquare_max_pool_gradients_not_tiling():
    _assert_gradients_ok(MaxPool2D(size=(2, 3), stride=(2, 2)),
                         _rng(4).standard_normal((1, 3, 5, 8)))


def test_avg_pool_gradients_overlapping_and_not_tiling():
    _assert_gradients_ok(AvgPool2D(size=3, stride=2), _rng(5).standard_normal((2, 2, 8, 7)))


@pytest.mark.parametrize("layer", [ReLU(), Sigmoid(), Tanh(), Flatten()],
                         ids=["relu", "sigmoid", "tanh", "flatten"])
def test_elementwise_and_flatten_gradients(layer):
    _assert_gradients_ok(layer, _rng(6).standard_normal((2, 3, 4, 5)))


def test_batchnorm_gradients_in_training_mode():
    rng = _rng(7)
    layer = SpatialBatchNorm(3)
    layer.params["gamma"][:] = rng.uniform(0.5, 2.0, 3)
    layer.params["beta"][:] = rng.standard_normal(3)
    _assert_gradients_ok(layer, 2.0 * rng.standard_normal((4, 3, 3, 5)) + 1.0)


def test_batchnorm_gradients_in_evaluation_mode():
    rng = _rng(8)
    layer = SpatialBatchNorm(2)
    layer.buffers["running_mean"][:] = [0.5, -1.0]
    layer.buffers["running_var"][:] = [2.0, 0.25]
    layer.params["gamma"][:] = [1.5, -0.5]
    x = rng.standard_normal((2, 2, 3, 3))
    # check_layer_gradients runs training mode, so check evaluation mode by hand.
    from engine.gradcheck import numerical_gradient, relative_error
    layer64 = SpatialBatchNorm(2)
    for key in layer.params:
        layer64.params[key] = layer.params[key].astype(np.float64)
    layer64.buffers = {k: v.copy() for k, v in layer.buffers.items()}
    dout = rng.standard_normal(x.shape)
    layer64.forward(x, training=False)
    dx = layer64.backward(dout)
    numeric = numerical_gradient(lambda v: layer64.forward(v, training=False), x.copy(), dout)
    assert relative_error(dx, numeric) < TOL


def test_dense_gradients():
    rng = _rng(9)
    layer = Dense(7, 4, rng=rng)
    layer.params["b"][:] = rng.standard_normal(4)
    _assert_gradients_ok(layer, rng.standard_normal((5, 7)))


# ----------------------------------------------------------------- forward oracles

def test_conv_forward_and_backward_match_reference_loops():
    rng = _rng(10)
    layer = Conv2D(2, 3, kernel=(2, 3), stride=2, padding=1, rng=rng)
    x = rng.standard_normal((2, 2, 6, 5)).astype(np.float32)
    y = layer.forward(x)
    w, b = layer.params["w"], layer.params["b"]
    np.testing.assert_allclose(y, reference.conv2d_forward(x, w, b, 2, 1), rtol=1e-5, atol=1e-5)
    dout = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(dout)
    rdx, rdw, rdb = reference.conv2d_backward(dout, x, w, 2, 1)
    np.testing.assert_allclose(dx, rdx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.grads["w"], rdw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.grads["b"], rdb, rtol=1e-4, atol=1e-4)


def test_pool_forward_matches_reference_loops():
    x = _rng(11).standard_normal((2, 3, 7, 6))
    np.testing.assert_array_equal(MaxPool2D(3, 2).forward(x),
                                  reference.max_pool2d_forward(x, 3, 2)[0])
    np.testing.assert_allclose(AvgPool2D(2, 1).forward(x), reference.avg_pool2d_forward(x, 2, 1))


def test_pool_stride_defaults_to_size():
    layer = MaxPool2D(size=3)
    assert layer.stride == (3, 3)
    assert layer.output_shape((2, 9, 7)) == (2, 3, 2)


def test_dense_forward_is_affine_map():
    rng = _rng(12)
    layer = Dense(4, 3, rng=rng)
    layer.params["b"][:] = [1.0, -2.0, 0.5]
    x = rng.standard_normal((2, 4)).astype(np.float32)
    expected = np.einsum("nd,dk->nk", x.astype(np.float64), layer.params["w"]) + layer.params["b"]
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-5, atol=1e-6)


def test_activation_values():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(ReLU().forward(x), [0.0, 0.0, 3.0])
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)), rtol=1e-12)
    np.testing.assert_allclose(Tanh().forward(x), np.tanh(x))


def test_sigmoid_saturates_without_overflow():
    x = np.array([-1000.0, 1000.0], np.float32)
    with np.errstate(all="raise"):
        y = Sigmoid().forward(x)
    np.testing.assert_array_equal(y, [0.0, 1.0])
    assert y.dtype == np.float32


def test_batchnorm_training_normalises_each_channel():
    rng = _rng(13)
    layer = SpatialBatchNorm(2)
    layer.params["gamma"][:] = [2.0, 0.5]
    layer.params["beta"][:] = [1.0, -1.0]
    x = rng.standard_normal((8, 2, 4, 4)) * [[[[3.0]], [[0.1]]]] + 5.0
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), [1.0, -1.0], atol=1e-6)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), [2.0, 0.5], rtol=1e-3)


def test_batchnorm_running_statistics_update_and_evaluation_mode():
    rng = _rng(14)
    layer = SpatialBatchNorm(2, momentum=0.8)
    x = (rng.standard_normal((4, 2, 3, 3)) + 3.0).astype(np.float32)
    layer.forward(x, training=True)
    count = 4 * 3 * 3
    batch_mean = x.astype(np.float64).mean(axis=(0, 2, 3))
    batch_var = x.astype(np.float64).var(axis=(0, 2, 3)) * count / (count - 1)
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.2 * batch_mean, rtol=1e-5)
    np.testing.assert_allclose(layer.buffers["running_var"], 0.8 + 0.2 * batch_var, rtol=1e-5)
    # evaluation mode uses the running statistics and leaves them alone
    before = {k: v.copy() for k, v in layer.buffers.items()}
    y = layer.forward(x, training=False)
    rm, rv = before["running_mean"], before["running_var"]
    expected = (x - rm[None, :, None, None]) / np.sqrt(rv[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    for k in before:
        np.testing.assert_array_equal(layer.buffers[k], before[k])


def test_forward_pure_changes_nothing():
    layer = SpatialBatchNorm(2)
    x = _rng(15).standard_normal((2, 2, 3, 3)).astype(np.float32)
    layer.forward(x, training=True)
    dx_cache = layer._cache
    stats = {k: v.copy() for k, v in layer.buffers.items()}
    layer.forward_pure(x * 3 + 1, training=True)
    assert layer._cache is dx_cache
    for k in stats:
        np.testing.assert_array_equal(layer.buffers[k], stats[k])


# ----------------------------------------------------------------- dtypes, shapes, errors

def test_float32_stays_float32():
    rng = _rng(16)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    layers = [Conv2D(3, 4, 3, padding=1, rng=rng), SpatialBatchNorm(4), ReLU(), MaxPool2D(2),
              AvgPool2D(1), Sigmoid(), Tanh(), Flatten(), Dense(36, 5, rng=rng)]
    for layer in layers:
        x = layer.forward(x, training=True)
        assert x.dtype == np.float32, layer
    d = np.ones_like(x)
    for layer in reversed(layers):
        d = layer.backward(d)
        assert d.dtype == np.float32, layer
        for g in layer.grads.values():
            assert g.dtype == np.float32, layer


def test_conv_param_count_280():
    layer = Conv2D(3, 10, kernel=3)
    assert layer.param_count == 10 * 3 * 3 * 3 + 10 == 280
    assert layer.params["w"].shape == (10, 3, 3, 3)
    assert layer.params["b"].shape == (10,)


def test_param_counts_by_formula():
    assert Dense(784, 10).param_count == 784 * 10 + 10
    assert SpatialBatchNorm(16).param_count == 32
    assert Conv2D(2, 5, kernel=(3, 1)).param_count == 5 * 2 * 3 * 1 + 5
    for layer in (ReLU(), Sigmoid(), Tanh(), Flatten(), MaxPool2D(), AvgPool2D()):
        assert layer.param_count == 0


def test_output_shapes_by_formula():
    conv = Conv2D(3, 4, kernel=(3, 2), stride=2, padding=1)
    # floor((7 + 2 - 3) / 2) + 1 = 4, floor((6 + 2 - 2) / 2) + 1 = 4
    assert conv.output_shape((3, 7, 6)) == (4, 4, 4)
    assert conv.forward(np.zeros((1, 3, 7, 6), np.float32)).shape == (1, 4, 4, 4)
    assert Flatten().output_shape((4, 4, 4)) == (64,)
    assert Dense(64, 10).output_shape((64,)) == (10,)
    assert ReLU().output_shape((2, 3, 4)) == (2, 3, 4)


def test_output_shape_errors_are_readable():
    with pytest.raises(GeometryError, match="a 3x3 kernel does not fit a 2x2 input"):
        Conv2D(1, 2, kernel=3).output_shape((1, 2, 2))
    with pytest.raises(GeometryError, match="channel"):
        Conv2D(3, 2, kernel=3).output_shape((1, 5, 5))
    with pytest.raises(GeometryError, match="before flatten"):
        Conv2D(1, 2, kernel=3).output_shape((25,))
    with pytest.raises(GeometryError, match="flatten"):
        Dense(16, 2).output_shape((1, 4, 4))
    with pytest.raises(GeometryError, match="16 input features"):
        Dense(16, 2).output_shape((15,))
    with pytest.raises(GeometryError, match="pooling window does not fit"):
        MaxPool2D(3).output_shape((1, 2, 5))


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="before forward"):
        ReLU().backward(np.ones(3))


def test_spec_round_trip():
    conv = Conv2D(3, 4, kernel=(3, 2), stride=2, padding=1, name="conv1")
    assert conv.spec == {"type": "conv", "filters": 4, "kernel": [3, 2], "stride": 2,
                         "padding": 1, "init": "he"}
    assert MaxPool2D(3).spec == {"type": "maxpool", "size": 3, "stride": 3}
    assert conv.name == "conv1"


def test_initialisation_is_seeded_and_scaled():
    a = Conv2D(4, 64, kernel=3, rng=_rng(1))
    b = Conv2D(4, 64, kernel=3, rng=_rng(1))
    np.testing.assert_array_equal(a.params["w"], b.params["w"])
    # He: std sqrt(2 / fan_in), fan_in = 4 * 3 * 3
    assert a.params["w"].std() == pytest.approx(np.sqrt(2 / 36), rel=0.1)
    x = Dense(100, 50, rng=_rng(2), init="xavier").params["w"]
    limit = np.sqrt(6 / 150)
    assert np.abs(x).max() <= limit and np.abs(x).max() > 0.9 * limit
