"""Dense layer kernels against numpy's matrix product and finite differences."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import GeometryError, dense_backward, dense_forward
from engine import dense as dense_module
from engine._numba import FAST_FP
from engine.gradcheck import numerical_gradient, relative_error

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}


pytestmark = pytest.mark.usefixtures("always_parallel")





@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 40), st.integers(1, 12),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 2**31 - 1))
def test_matches_numpy_matmul(N, D, K, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D)).astype(dtype)
    w = rng.standard_normal((D, K)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    y = dense_forward(x, w, b)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, x64 @ w64 + b, **TOL[dtype])
    dout = rng.standard_normal((N, K)).astype(dtype)
    dx, dw, db = dense_backward(dout, x, w)
    assert dx.dtype == dw.dtype == db.dtype == dtype
    d64 = dout.astype(np.float64)
    np.testing.assert_allclose(dx, d64 @ w64.T, **TOL[dtype])
    np.testing.assert_allclose(dw, x64.T @ d64, **TOL[dtype])
    np.testing.assert_allclose(db, d64.sum(axis=0), **TOL[dtype])


def test_backward_matches_finite_differences():
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((4, 7)), rng.standard_normal((7, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((4, 3))
    dx, dw, db = dense_backward(dout, x, w)
    assert relative_error(dx, numerical_gradient(lambda v: dense_forward(v, w, b), x, dout)) < 1e-8
    assert relative_error(dw, numerical_gradient(lambda v: dense_forward(x, v, b), w, dout)) < 1e-8
    assert relative_error(db, numerical_gradient(lambda v: dense_forward(x, w, v), b, dout)) < 1e-8


@pytest.mark.parametrize("x_shape,w_shape,b_shape,words", [
    ((2, 3), (4, 2), (2,), "expects 4 input features but got 3"),
    ((2, 3, 1), (3, 2), (2,), "expects inputs"),
    ((2, 3), (3, 2), (3,), "one value per unit"),
    ((2, 3), (3, 0), (0,), "at least one unit"),
])
def test_invalid_shapes_raise_readable_error(x_shape, w_shape, b_shape, words):
    with pytest.raises(GeometryError, match=words):
        dense_forward(np.zeros(x_shape), np.zeros(w_shape), np.zeros(b_shape))


def test_backward_rejects_dout_of_wrong_shape():
    with pytest.raises(GeometryError, match="upstream gradient"):
        dense_backward(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((4, 2)))


def test_dtypes():
    xi = np.arange(6).reshape(2, 3)
    assert dense_forward(xi, np.ones((3, 2)), np.zeros(2)).dtype == np.float64
    y = dense_forward(xi.astype(np.float32), np.ones((3, 2)), np.zeros(2))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[3, 3], [12, 12]])


def test_parallel_equals_serial(monkeypatch):
    rng = np.random.default_rng(1)  # float32: the dtype the kernels run in parallel
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((9, 20), (20, 4), (4,)))
    dout = rng.standard_normal((9, 4)).astype(np.float32)
    y, grads = dense_forward(x, w, b), dense_backward(dout, x, w)
    serial = dict(parallel=False, fastmath=FAST_FP, error_model="numpy", cache=False)
    for name in ("_dense_forward", "_dense_backward"):
        monkeypatch.setattr(dense_module, name + "_kernel",
                            numba.njit(**serial)(getattr(dense_module, name + "_impl")))
    np.testing.assert_allclose(dense_forward(x, w, b), y, rtol=1e-6)
    for par, ser in zip(grads, dense_backward(dout, x, w), strict=True):
        np.testing.assert_allclose(par, ser, rtol=1e-6, atol=1e-6)


def test_empty_batch():
    w = np.ones((3, 2))
    assert dense_forward(np.zeros((0, 3)), w, np.zeros(2)).shape == (0, 2)
    dx, dw, db = dense_backward(np.zeros((0, 2)), np.zeros((0, 3)), w)
    assert dx.shape == (0, 3) and np.all(dw == 0) and np.all(db == 0)
