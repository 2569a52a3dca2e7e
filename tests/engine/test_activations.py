"""ReLU kernels against numpy's definition and finite differences."""

import numpy as np
import pytest

from engine import GeometryError
from engine.activations import relu_backward, relu_forward


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 2, 5, 4), (4, 7), (6,), (1, 1, 1, 1)])
def test_matches_numpy(shape, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    y = relu_forward(x)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_array_equal(y, np.where(x > 0, x, 0))
    dx = relu_backward(dout, x)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, np.where(x > 0, dout, 0))
    # the forward output marks the same cells as the input
    np.testing.assert_array_equal(relu_backward(dout, y), dx)


def test_special_values():
    x = np.array([[-np.inf, -1.0, -0.0, 0.0, 2.0, np.inf, np.nan]], dtype=np.float32)
    y = relu_forward(x)
    np.testing.assert_array_equal(y, [[0, 0, 0, 0, 2, np.inf, 0]])
    assert not np.signbit(y).any()  # -0.0 becomes +0.0, as np.where(x > 0, x, 0)
    dx = relu_backward(np.ones_like(x), x)
    np.testing.assert_array_equal(dx, [[0, 0, 0, 0, 1, 1, 0]])


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink at 0
    dout = rng.standard_normal((3, 5))
    eps = 1e-6
    num = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        plus = np.sum(relu_forward(x) * dout)
        x[idx] = old - eps
        minus = np.sum(relu_forward(x) * dout)
        x[idx] = old
        num[idx] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(relu_backward(dout, x), num, rtol=1e-7, atol=1e-9)


def test_dtypes_and_errors():
    assert relu_forward(np.arange(-2, 3)).dtype == np.float64
    assert relu_backward(np.ones(3), np.ones(3, np.float32)).dtype == np.float32
    with pytest.raises(GeometryError, match="upstream gradient"):
        relu_backward(np.ones((2, 3)), np.ones((3, 2)))
    x = np.arange(12.0).reshape(3, 4)[:, ::2]  # non-contiguous
    np.testing.assert_array_equal(relu_forward(x), x)
