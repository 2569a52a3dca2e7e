"""The gradient checker is itself checked against gradients known in closed form."""

import numpy as np
import pytest

from engine.gradcheck import check_layer_gradients, numerical_gradient, relative_error
from engine.layers import Dense, ReLU


def test_numerical_gradient_of_elementwise_cube_matches_calculus():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    dout = rng.standard_normal((3, 4))
    numeric = numerical_gradient(lambda v: v ** 3, x, dout)
    np.testing.assert_allclose(numeric, 3 * x ** 2 * dout, rtol=1e-6, atol=1e-8)


def test_numerical_gradient_of_linear_map_is_transpose_times_dout():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 3))
    x = rng.standard_normal((3, 2))
    dout = rng.standard_normal((5, 2))
    numeric = numerical_gradient(lambda v: a @ v, x, dout)
    np.testing.assert_allclose(numeric, a.T @ dout, rtol=1e-6, atol=1e-8)


def test_numerical_gradient_of_scalar_function():
    x = np.array([0.3, -1.2, 2.0])
    numeric = numerical_gradient(lambda v: np.sum(np.sin(v)), x, np.array(1.0))
    np.testing.assert_allclose(numeric, np.cos(x), rtol=1e-7)


def test_numerical_gradient_restores_x_bit_for_bit():
    x = np.random.default_rng(2).standard_normal((2, 3, 4))
    before = x.copy()
    numerical_gradient(lambda v: np.tanh(v), x, np.ones_like(x))
    assert np.array_equal(x, before)


def test_numerical_gradient_refuses_float32():
    with pytest.raises(ValueError, match="float64"):
        numerical_gradient(lambda v: v, np.ones(3, np.float32), np.ones(3))


def test_numerical_gradient_reports_dout_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        numerical_gradient(lambda v: v, np.ones(3), np.ones(4))


def test_relative_error_definition():
    a = np.array([1.0, 2.0])
    b = np.array([1.0, 2.1])
    # max|a-b| = 0.1, max(|a|+|b|) = 4.1
    assert relative_error(a, b) == pytest.approx(0.1 / 4.1)
    assert relative_error(a, a) == 0.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0]), np.array([-1.0])) == pytest.approx(1.0)


def test_relative_error_floor_treats_rounding_noise_around_zero_as_agreement():
    # e.g. a conv bias in front of batch norm: the exact gradient is 0
    assert relative_error(np.array([1.7e-18, -3.5e-18]), np.zeros(2)) < 1e-7
    assert relative_error(np.array([1e-3]), np.array([2e-3])) == pytest.approx(1 / 3)


def test_relative_error_shape_mismatch():
    with pytest.raises(ValueError):
        relative_error(np.zeros(2), np.zeros(3))


class _WrongReLU(ReLU):
    """A ReLU whose backward is off by a factor of 2: the check must catch it."""

    def backward_pure(self, dout, cache, need_dx=True):
        dx, grads = super().backward_pure(dout, cache)
        return 2 * dx, grads


class _WrongDense(Dense):
    """A dense layer that forgets the bias gradient's sum over the batch."""

    def backward_pure(self, dout, cache, need_dx=True):
        dx, grads = super().backward_pure(dout, cache)
        grads["b"] = np.asarray(dout)[0].copy()
        return dx, grads


def test_check_layer_gradients_catches_wrong_dx():
    x = np.random.default_rng(3).standard_normal((2, 5))
    assert check_layer_gradients(ReLU(), x)["x"] < 1e-7
    assert check_layer_gradients(_WrongReLU(), x)["x"] > 0.1


def test_check_layer_gradients_catches_wrong_parameter_gradient():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4))
    good = check_layer_gradients(Dense(4, 2, rng=rng), x)
    bad = check_layer_gradients(_WrongDense(4, 2, rng=np.random.default_rng(4)), x)
    assert set(good) == {"x", "w", "b"}
    assert max(good.values()) < 1e-7
    assert bad["b"] > 0.1 and bad["w"] < 1e-7


def test_check_layer_gradients_leaves_the_layer_untouched():
    layer = Dense(4, 3, rng=np.random.default_rng(5))
    w = layer.params["w"].copy()
    check_layer_gradients(layer, np.ones((2, 4)))
    assert layer.params["w"].dtype == np.float32
    assert np.array_equal(layer.params["w"], w)
