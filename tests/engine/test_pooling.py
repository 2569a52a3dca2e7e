"""Max and average pooling: fast Numba kernels against independent oracles.

Oracles: engine.reference loops, finite differences, and hand-computed windows
(ties, overlapping windows, windows that do not tile the input).
"""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    GeometryError,
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    reference,
)
from engine import pooling as pooling_module
from engine.gradcheck import numerical_gradient, relative_error

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


pytestmark = pytest.mark.usefixtures("always_parallel")





@st.composite
def pool_cases(draw):
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    KH, KW = draw(st.integers(1, min(H, 4))), draw(st.integers(1, min(W, 4)))
    SH, SW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    ties = draw(st.booleans())  # small integers make ties common
    seed = draw(st.integers(0, 2**31 - 1))
    return (N, C, H, W), (KH, KW), (SH, SW), dtype, ties, seed


def _input(shape, dtype, ties, seed):
    rng = np.random.default_rng(seed)
    if ties:
        return rng.integers(-2, 3, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _check_all_against_reference(x, size, stride):
    dtype = x.dtype.type
    y, argmax = max_pool2d_forward(x, size, stride)
    y_ref, argmax_ref = reference.max_pool2d_forward(x, size, stride)
    assert y.dtype == dtype and argmax.dtype == np.int64
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    dout = np.random.default_rng(4).standard_normal(y.shape).astype(dtype)
    dx = max_pool2d_backward(dout, argmax, x.shape)
    assert dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_allclose(dx, reference.max_pool2d_backward(dout, argmax_ref, x.shape),
                               **TOL[dtype])

    a = avg_pool2d_forward(x, size, stride)
    assert a.dtype == dtype
    np.testing.assert_allclose(a, reference.avg_pool2d_forward(x, size, stride), **TOL[dtype])
    da = avg_pool2d_backward(dout, x.shape, size, stride)
    assert da.dtype == dtype
    np.testing.assert_allclose(da, reference.avg_pool2d_backward(dout, x.shape, size, stride),
                               **TOL[dtype])


@settings(max_examples=60, deadline=None)
@given(pool_cases())
def test_matches_reference_on_random_geometry(case):
    shape, size, stride, dtype, ties, seed = case
    _check_all_against_reference(_input(shape, dtype, ties, seed), size, stride)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,size,stride", [
    ((2, 3, 6, 6), 2, 2),          # tiles exactly
    ((1, 2, 7, 5), 2, 2),          # last row/column unreached
    ((1, 1, 7, 7), 3, 2),          # overlapping windows
    ((2, 2, 5, 8), (2, 3), (1, 2)),  # non-square window and stride
    ((1, 1, 4, 4), 4, 1),          # window equals input
    ((1, 1, 5, 5), 1, 1),          # 1x1 window: identity
    ((1, 1, 9, 9), 2, 3),          # stride larger than window: gaps
])
def test_edge_cases_match_reference(shape, size, stride, dtype):
    _check_all_against_reference(_input(shape, dtype, True, 1), size, stride)
    _check_all_against_reference(_input(shape, dtype, False, 2), size, stride)


def test_ties_go_to_the_first_maximum_in_row_major_order():
    x = np.array([[[[1, 5, 5, 0],
                    [5, 5, 0, 0],
                    [2, 2, 3, 3],
                    [2, 2, 3, 3]]]], dtype=np.float32)
    y, argmax = max_pool2d_forward(x, 2, 2)
    np.testing.assert_array_equal(y[0, 0], [[5, 5], [2, 3]])
    # flat index row * 4 + col: (0, 1), (0, 2), (2, 0), (2, 2)
    np.testing.assert_array_equal(argmax[0, 0], [[1, 2], [8, 10]])
    dx = max_pool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), argmax, x.shape)
    expected = np.zeros((4, 4))
    expected[0, 1], expected[0, 2], expected[2, 0], expected[2, 2] = 1, 2, 3, 4
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_overlapping_windows_accumulate_on_a_shared_maximum():
    # the centre 9 wins all four 2x2 windows of stride 1, so it collects every delta
    x = np.array([[[[1, 2, 3], [4, 9, 5], [6, 7, 8]]]], dtype=np.float64)
    y, argmax = max_pool2d_forward(x, 2, 1)
    assert np.all(y == 9) and np.all(argmax == 4)
    dx = max_pool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), argmax, x.shape)
    assert dx[0, 0, 1, 1] == 10 and np.count_nonzero(dx) == 1
    # average pooling: the centre is in 4 windows, each giving a quarter of its delta
    da = avg_pool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), x.shape, 2, 1)
    assert da[0, 0, 1, 1] == pytest.approx((1 + 2 + 3 + 4) / 4)
    assert da[0, 0, 0, 0] == pytest.approx(1 / 4)


def test_unreached_rows_and_columns_get_zero_gradient():
    x = np.random.default_rng(0).standard_normal((1, 1, 5, 5))
    y, argmax = max_pool2d_forward(x, 2, 2)
    dx = max_pool2d_backward(np.ones_like(y), argmax, x.shape)
    da = avg_pool2d_backward(np.ones_like(y), x.shape, 2, 2)
    for d in (dx, da):
        assert np.all(d[0, 0, 4, :] == 0) and np.all(d[0, 0, :, 4] == 0)
    assert np.all(da[0, 0, :4, :4] == 0.25)


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 2), ((2, 3), (1, 2)), (2, 3)])
def test_backward_matches_finite_differences(size, stride):
    rng = np.random.default_rng(8)
    # a permutation scaled far apart: no eps-perturbation can change a window's winner
    x = rng.permutation(2 * 6 * 7).reshape(1, 2, 6, 7).astype(np.float64) * 0.1
    y, argmax = max_pool2d_forward(x, size, stride)
    dout = rng.standard_normal(y.shape)
    num = numerical_gradient(lambda v: max_pool2d_forward(v, size, stride)[0], x, dout)
    assert relative_error(max_pool2d_backward(dout, argmax, x.shape), num) < 1e-8
    num = numerical_gradient(lambda v: avg_pool2d_forward(v, size, stride), x, dout)
    assert relative_error(avg_pool2d_backward(dout, x.shape, size, stride), num) < 1e-8


@pytest.mark.parametrize("shape,size,stride,words", [
    ((1, 1, 3, 3), 4, 1, "does not fit"),
    ((1, 1, 3, 5), (2, 6), 1, "does not fit"),
    ((1, 1, 4, 4), 2, 0, "stride must be at least 1"),
    ((1, 1, 4, 4), 0, 1, "at least 1x1"),
    ((1, 4, 4), 2, 2, "must have 4 dimensions"),
    ((1, 1, 4, 4), 2.5, 2, "whole number"),
])
def test_invalid_geometry_raises_readable_error(shape, size, stride, words):
    x = np.zeros(shape)
    with pytest.raises(GeometryError, match=words):
        max_pool2d_forward(x, size, stride)
    with pytest.raises(GeometryError, match=words):
        avg_pool2d_forward(x, size, stride)
    with pytest.raises(GeometryError, match=words):
        avg_pool2d_backward(np.zeros((1, 1, 1, 1)), shape, size, stride)


def test_backward_rejects_inconsistent_arguments():
    x = np.zeros((1, 2, 4, 4))
    y, argmax = max_pool2d_forward(x, 2, 2)
    with pytest.raises(GeometryError, match="must match"):
        max_pool2d_backward(y, argmax[:, :1], x.shape)
    with pytest.raises(GeometryError, match="channel"):
        max_pool2d_backward(y, argmax, (1, 3, 4, 4))
    with pytest.raises(GeometryError, match="do not point inside"):
        max_pool2d_backward(y, argmax + 16, x.shape)
    with pytest.raises(GeometryError, match="do not point inside"):
        max_pool2d_backward(y, argmax - 1, x.shape)
    with pytest.raises(GeometryError, match="whole numbers"):
        max_pool2d_backward(y, argmax.astype(np.float64), x.shape)
    with pytest.raises(GeometryError, match="never larger than its input"):
        max_pool2d_backward(y, np.zeros_like(argmax), (1, 2, 1, 1))
    with pytest.raises(GeometryError, match="upstream gradient"):
        avg_pool2d_backward(np.zeros((1, 2, 3, 3)), x.shape, 2, 2)


def test_dtypes():
    xi = np.arange(16).reshape(1, 1, 4, 4)
    y, argmax = max_pool2d_forward(xi)
    assert y.dtype == np.float64 and argmax.dtype == np.int64
    assert avg_pool2d_forward(xi.astype(np.float32)).dtype == np.float32
    dx = max_pool2d_backward(y.astype(np.float32), argmax.astype(np.int32), xi.shape)
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(y[0, 0], [[5, 7], [13, 15]])


def test_stride_defaults_to_size_when_none():
    x = np.arange(36, dtype=np.float64).reshape(1, 1, 6, 6)
    y, _ = max_pool2d_forward(x, 3, None)
    np.testing.assert_array_equal(y[0, 0], [[14, 17], [32, 35]])


# Parallel (prange) against serial: the same Python function compiled both ways,
# swapped in behind the public wrapper (cache=False: never overwrite the cache).
_serial = dict(parallel=False, error_model="numpy", cache=False)


def test_parallel_kernels_equal_serial(monkeypatch):
    rng = np.random.default_rng(12)
    # float32: the dtype the kernels run in parallel (float64: serially)
    x = rng.integers(-3, 4, (3, 4, 7, 8)).astype(np.float32)  # ties on purpose
    size, stride = (3, 2), (1, 3)
    y, argmax = max_pool2d_forward(x, size, stride)
    dout = rng.standard_normal(y.shape).astype(np.float32)
    results = [(y, argmax, max_pool2d_backward(dout, argmax, x.shape),
                avg_pool2d_forward(x, size, stride),
                avg_pool2d_backward(dout, x.shape, size, stride))]
    for name in ("_max_pool_forward", "_max_pool_backward", "_avg_pool_forward",
                 "_avg_pool_backward"):
        serial = numba.njit(**_serial)(getattr(pooling_module, name + "_impl"))
        monkeypatch.setattr(pooling_module, name + "_kernel", serial)
    y2, argmax2 = max_pool2d_forward(x, size, stride)
    results.append((y2, argmax2, max_pool2d_backward(dout, argmax2, x.shape),
                    avg_pool2d_forward(x, size, stride),
                    avg_pool2d_backward(dout, x.shape, size, stride)))
    for par, ser in zip(*results, strict=True):
        np.testing.assert_array_equal(par, ser)
