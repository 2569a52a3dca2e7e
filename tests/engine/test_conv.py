"""Convolution forward/backward: fast Numba kernels against independent oracles.

Oracles: the textbook loops of engine.reference, centred finite differences, and
small hand-computed cases. Shapes stay tiny so the file runs in seconds once the
kernels are compiled (or loaded from Numba's cache).
"""

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import engine._arrays
from engine import GeometryError, conv2d_backward, conv2d_forward, reference
from engine import conv_backward as conv_backward_module
from engine import conv_forward as conv_forward_module
from engine._numba import FAST_FP
from engine.conv_backward import conv2d_relu_pool_backward
from engine.conv_forward import conv2d_relu_pool_forward
from engine.gradcheck import numerical_gradient, relative_error

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


pytestmark = pytest.mark.usefixtures("always_parallel")





def _random_case(rng, N, C, H, W, F, KH, KW, dtype):
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, KH, KW)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    return x, w, b


def _check_against_reference(x, w, b, stride, padding, dtype):
    tol = TOL[dtype]
    y = conv2d_forward(x, w, b, stride, padding)
    y_ref = reference.conv2d_forward(x, w, b, stride, padding)
    assert y.dtype == dtype and y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, **tol)

    dout = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    dx, dw, db = conv2d_backward(dout, x, w, stride, padding)
    dx_ref, dw_ref, db_ref = reference.conv2d_backward(dout, x, w, stride, padding)
    for got, want in ((dx, dx_ref), (dw, dw_ref), (db, db_ref)):
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, **tol)


@st.composite
def conv_cases(draw):
    N = draw(st.integers(1, 5))  # N > 2 puts several samples in one parallel block
    C = draw(st.integers(1, 3))
    H = draw(st.integers(1, 8))
    W = draw(st.integers(1, 8))
    F = draw(st.integers(1, 8))  # > 6: several register tiles of filters (TILE_ROWS)
    PH, PW = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    KH = draw(st.integers(1, H + 2 * PH).filter(lambda k: k <= 5))
    KW = draw(st.integers(1, W + 2 * PW).filter(lambda k: k <= 5))
    SH, SW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**31 - 1))
    return (N, C, H, W, F, KH, KW), (SH, SW), (PH, PW), dtype, seed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(conv_cases())
def test_matches_reference_on_random_geometry(case):
    shape, stride, padding, dtype, seed = case
    x, w, b = _random_case(np.random.default_rng(seed), *shape, dtype)
    _check_against_reference(x, w, b, stride, padding, dtype)


EDGE_CASES = {
    # name: (N, C, H, W, F, KH, KW, stride, padding)
    "stride 2 with padding": (2, 2, 7, 7, 3, 3, 3, 2, 1),
    "padding only": (1, 1, 5, 5, 2, 3, 3, 1, 2),
    "non-square kernel and input": (2, 3, 6, 9, 2, 2, 4, 1, 0),
    "stride does not divide": (1, 2, 8, 8, 2, 3, 3, 3, 0),
    "different strides and paddings per axis": (1, 2, 9, 7, 2, 3, 2, (2, 3), (1, 0)),
    "1x1 kernel": (2, 4, 5, 6, 3, 1, 1, 1, 0),
    "1x1 kernel stride 2": (1, 2, 5, 6, 2, 1, 1, 2, 0),
    "kernel equals padded input": (2, 2, 3, 4, 2, 5, 6, 1, 1),
    "kernel larger than stride tiles": (1, 1, 6, 6, 1, 4, 4, 3, 0),
    "single pixel input": (1, 1, 1, 1, 2, 1, 1, 1, 0),
    "padding larger than kernel": (1, 1, 2, 2, 1, 1, 1, 1, 3),
    "W1-like mnist shape": (2, 1, 28, 28, 8, 3, 3, 1, 1),
    "many small samples per block": (9, 2, 5, 4, 3, 3, 3, 1, 1),
    "many samples per block, stride 2": (7, 1, 3, 3, 2, 2, 2, 2, 0),
    "odd filter and channel counts": (5, 3, 6, 6, 5, 3, 3, 1, 1),
    # more filters and channels than one register tile has rows (engine._flat.TILE_ROWS)
    "13 filters, 7 channels": (3, 7, 9, 6, 13, 3, 3, 1, 1),
    "13 filters, stride 2": (2, 7, 9, 10, 13, 3, 3, 2, 1),
    "a map wider than a register tile": (2, 2, 5, 40, 7, 3, 3, 1, 1),
    "default network conv2 shape": (2, 16, 14, 14, 32, 3, 3, 1, 1),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_cases_match_reference(name, dtype):
    N, C, H, W, F, KH, KW, stride, padding = EDGE_CASES[name]
    x, w, b = _random_case(np.random.default_rng(7), N, C, H, W, F, KH, KW, dtype)
    _check_against_reference(x, w, b, stride, padding, dtype)


def test_hand_computed_example():
    # 3x3 input 1..9, 2x2 kernel of ones, bias 10: each output is a 2x2 window sum + 10
    x = np.arange(1, 10, dtype=np.float64).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 2, 2))
    y = conv2d_forward(x, w, np.array([10.0]))
    np.testing.assert_array_equal(y[0, 0], [[1 + 2 + 4 + 5 + 10, 2 + 3 + 5 + 6 + 10],
                                            [4 + 5 + 7 + 8 + 10, 5 + 6 + 8 + 9 + 10]])
    # dout of ones: every input cell gets one per window covering it; corners 1, centre 4
    dx, dw, db = conv2d_backward(np.ones((1, 1, 2, 2)), x, w)
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(dw[0, 0], [[12, 16], [24, 28]])
    np.testing.assert_array_equal(db, [4])


def test_unreached_rows_and_columns_get_zero_gradient():
    # 6x6 input, 2x2 kernel, stride 3 reaches rows/cols 0,1,3,4 only: 2 and 5 stay 0
    rng = np.random.default_rng(3)
    x, w, _ = _random_case(rng, 1, 1, 6, 6, 1, 2, 2, np.float64)
    dx, _, _ = conv2d_backward(np.ones((1, 1, 2, 2)), x, w, stride=3)
    assert np.all(dx[..., [2, 5], :] == 0) and np.all(dx[..., :, [2, 5]] == 0)
    assert np.all(dx[..., [0, 1, 3, 4], :][..., [0, 1, 3, 4]] != 0)


@pytest.mark.parametrize("stride,padding,shape", [
    (1, 1, (2, 2, 5, 4, 3, 3, 3)),
    (2, 1, (2, 2, 6, 5, 2, 3, 2)),
    ((2, 1), (0, 2), (1, 3, 5, 4, 2, 2, 3)),
    (3, 0, (1, 1, 7, 7, 2, 2, 2)),
])
def test_backward_matches_finite_differences(stride, padding, shape):
    rng = np.random.default_rng(11)
    x, w, b = _random_case(rng, *shape, np.float64)
    y = conv2d_forward(x, w, b, stride, padding)
    dout = rng.standard_normal(y.shape)
    dx, dw, db = conv2d_backward(dout, x, w, stride, padding)
    num_dx = numerical_gradient(lambda v: conv2d_forward(v, w, b, stride, padding), x, dout)
    num_dw = numerical_gradient(lambda v: conv2d_forward(x, v, b, stride, padding), w, dout)
    num_db = numerical_gradient(lambda v: conv2d_forward(x, w, v, stride, padding), b, dout)
    assert relative_error(dx, num_dx) < 1e-7
    assert relative_error(dw, num_dw) < 1e-7
    assert relative_error(db, num_db) < 1e-7


@pytest.mark.parametrize("x_shape,w_shape,b_shape,stride,padding,words", [
    ((1, 1, 3, 3), (1, 1, 5, 5), (1,), 1, 0, "does not fit"),
    ((1, 1, 3, 3), (1, 1, 6, 6), (1,), 1, 1, "does not fit"),
    ((1, 1, 5, 5), (1, 1, 3, 3), (1,), 0, 0, "stride must be at least 1"),
    ((1, 1, 5, 5), (1, 1, 3, 3), (1,), (1, -1), 0, "stride must be at least 1"),
    ((1, 1, 5, 5), (1, 1, 3, 3), (1,), 1, -1, "padding cannot be negative"),
    ((1, 2, 5, 5), (1, 3, 3, 3), (1,), 1, 0, "channel"),
    ((1, 5, 5), (1, 1, 3, 3), (1,), 1, 0, "must have 4 dimensions"),
    ((1, 1, 5, 5), (1, 3, 3), (1,), 1, 0, "must have 4 dimensions"),
    ((1, 1, 5, 5), (2, 1, 3, 3), (3,), 1, 0, "one value per filter"),
    ((1, 1, 5, 5), (2, 1, 3, 3), (2, 1), 1, 0, "1 dimensions"),
    ((1, 1, 5, 5), (1, 1, 3, 3), (1,), 1.5, 0, "whole number"),
])
def test_invalid_geometry_raises_readable_error(x_shape, w_shape, b_shape, stride, padding,
                                                words):
    x, w, b = np.zeros(x_shape), np.zeros(w_shape), np.zeros(b_shape)
    with pytest.raises(GeometryError, match=words):
        conv2d_forward(x, w, b, stride, padding)
    if len(b_shape) == 1 and b_shape[0] == w_shape[0]:
        dout = np.zeros((1, 1, 1, 1))
        with pytest.raises(GeometryError, match=words):
            conv2d_backward(dout, x, w, stride, padding)


def test_geometry_error_is_a_value_error():
    with pytest.raises(ValueError):
        conv2d_forward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)), np.zeros(1))


def test_backward_rejects_dout_of_wrong_shape():
    x, w = np.zeros((1, 1, 5, 5)), np.zeros((2, 1, 3, 3))
    with pytest.raises(GeometryError, match="upstream gradient"):
        conv2d_backward(np.zeros((1, 2, 4, 4)), x, w)


def test_dtypes_are_kept_or_promoted():
    rng = np.random.default_rng(0)
    x32, w, b = _random_case(rng, 1, 2, 5, 5, 2, 3, 3, np.float32)
    # float64 weights are cast to float32 because x is float32
    y = conv2d_forward(x32, w.astype(np.float64), b.astype(np.float64))
    assert y.dtype == np.float32
    dx, dw, db = conv2d_backward(y.astype(np.float64), x32, w.astype(np.float64))
    assert dx.dtype == dw.dtype == db.dtype == np.float32
    # integer input is computed in float64 and matches the float64 result
    xi = np.arange(50).reshape(1, 2, 5, 5)
    yi = conv2d_forward(xi, w, b)
    assert yi.dtype == np.float64
    np.testing.assert_allclose(yi, conv2d_forward(xi.astype(np.float64), w, b), rtol=1e-12)


def test_non_contiguous_inputs_give_the_same_result():
    rng = np.random.default_rng(5)
    big = rng.standard_normal((2, 3, 10, 12))
    x = big[:, ::2, 1::2, ::2]  # (2, 2, 5, 6), strided view
    w = rng.standard_normal((2, 3, 2, 2)).transpose(1, 0, 2, 3)  # (3, 2, 2, 2) non-contiguous
    b = rng.standard_normal(3)
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    np.testing.assert_allclose(conv2d_forward(x, w, b, 1, 1),
                               reference.conv2d_forward(x, w, b, 1, 1), rtol=1e-10)


def test_inputs_are_not_modified():
    rng = np.random.default_rng(2)
    x, w, b = _random_case(rng, 2, 2, 6, 6, 2, 3, 3, np.float32)
    copies = [a.copy() for a in (x, w, b)]
    y = conv2d_forward(x, w, b, 2, 1)
    dout = np.ones_like(y)
    conv2d_backward(dout, x, w, 2, 1)
    for a, c in zip((x, w, b), copies, strict=True):
        np.testing.assert_array_equal(a, c)
    assert np.all(dout == 1)


# Parallel (prange) against serial: the same Python function compiled both ways,
# swapped in behind the public wrapper. cache=False: a serial build must never
# overwrite the cached parallel kernel.
_serial = dict(parallel=False, fastmath=FAST_FP, error_model="numpy", cache=False)


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 0), ((2, 3), (1, 2))])
def test_parallel_kernels_equal_serial(stride, padding, monkeypatch):
    rng = np.random.default_rng(9)
    x, w, b = _random_case(rng, 5, 3, 9, 8, 4, 3, 3, np.float64)
    y = conv2d_forward(x, w, b, stride, padding)
    dout = rng.standard_normal(y.shape)
    grads = conv2d_backward(dout, x, w, stride, padding)
    monkeypatch.setattr(conv_forward_module, "_conv_forward_kernel",
                        numba.njit(**_serial)(conv_forward_module._conv_forward_impl))
    monkeypatch.setattr(conv_backward_module, "_conv_backward_kernel",
                        numba.njit(**_serial)(conv_backward_module._conv_backward_impl))
    np.testing.assert_allclose(conv2d_forward(x, w, b, stride, padding), y, rtol=1e-13,
                               atol=1e-13)
    for par, ser in zip(grads, conv2d_backward(dout, x, w, stride, padding), strict=True):
        np.testing.assert_allclose(par, ser, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 1)])
def test_backward_without_dx_gives_the_same_dw_and_db(stride, padding):
    rng = np.random.default_rng(4)
    x, w, _ = _random_case(rng, 3, 2, 7, 6, 3, 3, 3, np.float32)
    dout = rng.standard_normal((3, 3) + conv2d_forward(x, w, np.zeros(3), stride,
                                                       padding).shape[2:]).astype(np.float32)
    dx, dw, db = conv2d_backward(dout, x, w, stride, padding)
    none, dw2, db2 = conv2d_backward(dout, x, w, stride, padding, need_dx=False)
    assert none is None
    np.testing.assert_array_equal(dw, dw2)
    np.testing.assert_array_equal(db, db2)


def test_empty_batch():
    y = conv2d_forward(np.zeros((0, 1, 4, 4)), np.ones((2, 1, 3, 3)), np.zeros(2))
    assert y.shape == (0, 2, 2, 2)
    dx, dw, db = conv2d_backward(np.zeros((0, 2, 2, 2)), np.zeros((0, 1, 4, 4)),
                                 np.ones((2, 1, 3, 3)))
    assert dx.shape == (0, 1, 4, 4) and np.all(dw == 0) and np.all(db == 0)


def test_repeated_calls_with_scratch_reuse_stay_exact():
    # the kernels keep per-geometry scratch between calls: alternate geometries,
    # data and need_dx, and check every call against the reference loops
    rng = np.random.default_rng(21)
    cases = [((2, 2, 6, 5), (3, 2, 3, 3), 1, 1), ((2, 2, 6, 5), (3, 2, 3, 3), 2, 1),
             ((3, 1, 4, 4), (2, 1, 2, 2), 1, 0)]
    for _ in range(2):
        for x_shape, w_shape, stride, padding in cases:
            x = rng.standard_normal(x_shape) * rng.integers(0, 2, x_shape)  # sparse
            w, b = rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
            y = conv2d_forward(x, w, b, stride, padding)
            np.testing.assert_allclose(y, reference.conv2d_forward(x, w, b, stride, padding),
                                       rtol=1e-10, atol=1e-12)
            dout = rng.standard_normal(y.shape)
            want = reference.conv2d_backward(dout, x, w, stride, padding)
            for need_dx in (False, True):
                got = conv2d_backward(dout, x, w, stride, padding, need_dx=need_dx)
                for g_, w_ in zip(got, want, strict=True):
                    if g_ is not None:
                        np.testing.assert_allclose(g_, w_, rtol=1e-10, atol=1e-12)


def test_nan_and_inf_propagate_as_in_the_reference():
    # the kernels allow reordered sums but not a no-NaN assumption: a diverged
    # network must show NaN/inf, exactly where the reference loops do
    x = np.ones((1, 1, 5, 5), dtype=np.float32)
    x[0, 0, 2, 2] = np.nan
    x[0, 0, 0, 4] = np.inf
    w, b = np.ones((1, 1, 3, 3), dtype=np.float32), np.zeros(1, dtype=np.float32)
    y, y_ref = conv2d_forward(x, w, b, 1, 1), reference.conv2d_forward(x, w, b, 1, 1)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(y_ref))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(y_ref))
    assert np.isnan(y).sum() == 9
    with np.errstate(invalid="ignore"):  # (only without the JIT: numpy's scalar warnings)
        _, dw, db = conv2d_backward(np.ones_like(y), x, w, 1, 1)
    assert np.isnan(dw).all() and np.isfinite(db).all()


def test_small_inputs_run_serially_with_the_same_result(monkeypatch):
    rng = np.random.default_rng(30)
    x, w, b = _random_case(rng, 3, 2, 6, 6, 3, 3, 3, np.float32)
    dout = rng.standard_normal((3, 3, 6, 6)).astype(np.float32)
    parallel = (conv2d_forward(x, w, b, 1, 1), *conv2d_backward(dout, x, w, 1, 1))
    monkeypatch.setattr(engine._arrays, "PARALLEL_MIN_WORK", 10**12)  # everything serial
    serial = (conv2d_forward(x, w, b, 1, 1), *conv2d_backward(dout, x, w, 1, 1))
    for p, s in zip(parallel, serial, strict=True):
        np.testing.assert_array_equal(p, s)  # same blocks, same sums: bit-identical


# ----------------------------------------------------------------- non-finite values

def _assert_same_values(got, want, tol):
    """Same NaN cells, same +inf and -inf cells, and close finite values."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], **tol)


@st.composite
def non_finite_cases(draw):
    """A conv case plus where to put inf, -inf or NaN: in x, w and/or dout."""
    case = draw(conv_cases())
    where = draw(st.lists(st.sampled_from(["x", "w", "dout"]), min_size=1, max_size=3,
                          unique=True))
    values = draw(st.lists(st.sampled_from([np.inf, -np.inf, np.nan]), min_size=1,
                           max_size=2))
    positions = draw(st.lists(st.integers(0, 10**6), min_size=len(values),
                              max_size=len(values)))
    return case, where, list(zip(values, positions, strict=True))


def _poke(a, values):
    a = a.copy()
    for value, position in values:
        a.reshape(-1)[position % a.size] = value
    return a


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(non_finite_cases())
def test_non_finite_values_give_exactly_the_reference_nan_and_inf_cells(case):
    # The flat layout multiplies padding, scratch and slack zeros with inputs and weights;
    # 0 * inf is NaN, so an inf must not turn cells the true gradient never touches into NaN.
    (shape, stride, padding, dtype, seed), where, values = case
    rng = np.random.default_rng(seed)
    x, w, b = _random_case(rng, *shape, dtype)
    x = _poke(x, values) if "x" in where else x
    w = _poke(w, values) if "w" in where else w
    with np.errstate(invalid="ignore", over="ignore"):
        y_ref = reference.conv2d_forward(x, w, b, stride, padding)
        dout = rng.standard_normal(y_ref.shape).astype(dtype)
        dout = _poke(dout, values) if "dout" in where else dout
        want = reference.conv2d_backward(dout, x, w, stride, padding)
        y = conv2d_forward(x, w, b, stride, padding)
        got = conv2d_backward(dout, x, w, stride, padding)
        _, dw_only, db_only = conv2d_backward(dout, x, w, stride, padding, need_dx=False)
    _assert_same_values(y, y_ref, TOL[dtype])
    for g_, w_ in zip(got, want, strict=True):
        _assert_same_values(g_, w_, TOL[dtype])
    _assert_same_values(dw_only, want[1], TOL[dtype])
    _assert_same_values(db_only, want[2], TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_inf_in_x_reaches_only_the_weights_whose_taps_read_it(dtype):
    # x[0, 0, 1, 0] sits in the first column: with a 3x3 kernel, no padding and stride 1
    # only the taps of column v = 0 ever read it, so only dW[:, :, :, 0] may be non-finite
    rng = np.random.default_rng(40)
    x, w, _ = _random_case(rng, 2, 2, 6, 7, 3, 3, 3, dtype)
    x[0, 0, 1, 0] = np.inf
    dout = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    with np.errstate(invalid="ignore"):  # (only without the JIT: numpy's scalar warnings)
        dx, dw, db = conv2d_backward(dout, x, w)
    assert not np.isfinite(dw[:, 0, :2, 0]).any()   # taps (0, 0) and (1, 0) of channel 0
    assert np.isfinite(dw[:, 0, 2, :]).all() and np.isfinite(dw[:, 0, :, 1:]).all()
    assert np.isfinite(dw[:, 1]).all() and np.isfinite(dx).all() and np.isfinite(db).all()
    with np.errstate(invalid="ignore"):
        _assert_same_values(dw, reference.conv2d_backward(dout, x, w)[1], TOL[dtype])


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 1), (2, 0)])
def test_one_inf_weight_reaches_only_the_input_cells_its_tap_reads(stride, padding):
    rng = np.random.default_rng(41)
    x, w, _ = _random_case(rng, 2, 1, 6, 6, 2, 3, 3, np.float64)
    w[0, 0, 0, 1] = np.inf
    HO = (6 + 2 * padding - 3) // stride + 1
    dout = rng.standard_normal((2, 2, HO, HO))
    with np.errstate(invalid="ignore"):  # (only without the JIT: numpy's scalar warnings)
        dx, _, _ = conv2d_backward(dout, x, w, stride, padding)
    # tap (0, 1) reads input cell (i*S - P, j*S + 1 - P) of every window (i, j)
    reached = np.zeros((6, 6), bool)
    for i in range(HO):
        for j in range(HO):
            r, s = i * stride - padding, j * stride + 1 - padding
            if 0 <= r < 6 and 0 <= s < 6:
                reached[r, s] = True
    np.testing.assert_array_equal(~np.isfinite(dx), np.broadcast_to(reached, dx.shape))
    with np.errstate(invalid="ignore"):
        _assert_same_values(dx, reference.conv2d_backward(dout, x, w, stride, padding)[0],
                            TOL[np.float64])


# ----------------------------------------------------------------- dW partial sums' memory

@given(blocks=st.integers(1, 5000), values=st.integers(1, 10**7))
def test_part_groups_bound_the_partials(blocks, values):
    cap = conv_backward_module.PART_VALUES
    groups = conv_backward_module.part_groups(blocks, values)
    assert 1 <= groups <= blocks
    if blocks * values <= cap:
        assert groups == blocks  # nothing to save: one partial per block, as before
    else:
        assert groups * values <= max(cap, 2 * values)
        assert groups >= min(blocks, 2)  # both cores still share the work


@pytest.mark.parametrize("cap", [1, 3 * 4 * 18, 7 * 4 * 18])
@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 0)])
def test_capped_partials_stay_exact_and_bounded(monkeypatch, cap, stride, padding):
    # a small cap makes the kernel run on a few blocks at a time (cap=1: 2 at a time)
    rng = np.random.default_rng(42)
    x, w, b = _random_case(rng, 120, 2, 5, 5, 4, 3, 3, np.float64)  # F * C*KH*KW = 72
    dout = rng.standard_normal(conv2d_forward(x, w, b, stride, padding).shape)
    want = reference.conv2d_backward(dout, x, w, stride, padding)
    uncapped = conv2d_backward(dout, x, w, stride, padding)
    seen = []
    real = conv_backward_module._conv_backward_kernel

    def spy(*args):
        seen.append(args[6].shape)  # dw_parts (blocks of this call, C*KH*KW, F)
        return real(*args)

    monkeypatch.setattr(conv_backward_module, "PART_VALUES", cap)
    monkeypatch.setattr(conv_backward_module, "_conv_backward_kernel", spy)
    got = conv2d_backward(dout, x, w, stride, padding)
    assert all((F, T) == (4, 18) and n * F * T <= max(cap, 2 * F * T) for n, T, F in seen)
    if cap < 4 * 18 * 4:  # fewer than 4 blocks' partials: several calls were needed
        assert len(seen) >= 2
    for g_, u_, w_ in zip(got, uncapped, want, strict=True):
        np.testing.assert_allclose(g_, w_, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(g_, u_)  # the same sums in the same block order


# ----------------------------------------------------------------- conv - ReLU - 2x2 max pool

def _block_reference(x, w, b, stride, padding, dout=None):
    """The three layers one after another, in the textbook loops."""
    z = reference.conv2d_forward(x, w, b, stride, padding)
    a = np.where(z > 0, z, 0).astype(z.dtype)  # NaN gives 0, as engine.activations
    y, argmax = reference.max_pool2d_forward(a, 2, 2)
    if dout is None:
        return y
    da = reference.max_pool2d_backward(dout, argmax, a.shape)
    dz = np.where(a > 0, da, 0).astype(z.dtype)
    return y, reference.conv2d_backward(dz, x, w, stride, padding)


@st.composite
def block_cases(draw):
    """conv_cases whose convolution output is at least 2x2 (the pooling needs it)."""
    case = draw(conv_cases())
    (N, C, H, W, F, KH, KW), (SH, SW), (PH, PW), dtype, seed = case
    assume((H + 2 * PH - KH) // SH + 1 >= 2 and (W + 2 * PW - KW) // SW + 1 >= 2)
    return case


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(block_cases(), st.booleans())
def test_conv_relu_pool_matches_the_three_layers(case, need_dx):
    shape, stride, padding, dtype, seed = case
    rng = np.random.default_rng(seed)
    x, w, b = _random_case(rng, *shape, dtype)
    y, winners = conv2d_relu_pool_forward(x, w, b, stride, padding)
    dout = rng.standard_normal(y.shape).astype(dtype)
    y_ref, grads_ref = _block_reference(x, w, b, stride, padding, dout)
    assert y.dtype == dtype and winners.dtype == np.int8 and winners.shape == y.shape
    np.testing.assert_allclose(y, y_ref, **TOL[dtype])
    assert np.all((winners >= 0) == (y > 0)) and winners.min() >= -1 and winners.max() <= 3
    dx, dw, db = conv2d_relu_pool_backward(dout, winners, x, w, stride, padding,
                                           need_dx=need_dx)
    assert (dx is None) == (not need_dx)
    for got, want in zip((dx, dw, db), grads_ref, strict=True):
        if got is not None:
            assert got.dtype == dtype
            np.testing.assert_allclose(got, want, **TOL[dtype])


@pytest.mark.parametrize("name", ["W1-like mnist shape", "default network conv2 shape",
                                  "13 filters, stride 2", "a map wider than a register tile",
                                  "non-square kernel and input"])
def test_conv_relu_pool_edge_cases(name):
    N, C, H, W, F, KH, KW, stride, padding = EDGE_CASES[name]
    x, w, b = _random_case(np.random.default_rng(8), N, C, H, W, F, KH, KW, np.float32)
    y, winners = conv2d_relu_pool_forward(x, w, b, stride, padding)
    dout = np.random.default_rng(9).standard_normal(y.shape).astype(np.float32)
    y_ref, grads_ref = _block_reference(x, w, b, stride, padding, dout)
    np.testing.assert_allclose(y, y_ref, **TOL[np.float32])
    for got, want in zip(conv2d_relu_pool_backward(dout, winners, x, w, stride, padding),
                         grads_ref, strict=True):
        np.testing.assert_allclose(got, want, **TOL[np.float32])


def test_conv_relu_pool_backward_matches_finite_differences():
    # the loss sum(dout * y) through conv, ReLU and the pooling, away from ties and kinks
    rng = np.random.default_rng(12)
    x, w, b = _random_case(rng, 2, 2, 7, 6, 3, 3, 2, np.float64)
    y, winners = conv2d_relu_pool_forward(x, w, b, 1, 1)
    dout = rng.standard_normal(y.shape)
    dx, dw, db = conv2d_relu_pool_backward(dout, winners, x, w, 1, 1)

    def forward(x_, w_, b_):
        return conv2d_relu_pool_forward(x_, w_, b_, 1, 1)[0]

    num = [numerical_gradient(lambda v: forward(v, w, b), x, dout),
           numerical_gradient(lambda v: forward(x, v, b), w, dout),
           numerical_gradient(lambda v: forward(x, w, v), b, dout)]
    for got, want in zip((dx, dw, db), num, strict=True):
        assert relative_error(got, want) < 1e-7


def test_ties_and_nan_in_a_window_go_as_in_the_layers():
    # a NaN cell: the ReLU makes it 0, so it never wins; equal cells: the first one wins;
    # a window of non-positive values: output 0, winner -1, no gradient
    z = np.array([[[[np.nan, 2.0, 1.0, 1.0],
                    [2.0, 0.5, 1.0, 1.0],
                    [-1.0, -2.0, 0.0, -0.0],
                    [-3.0, -1.0, np.inf, np.nan]]]])
    w, b = np.ones((1, 1, 1, 1)), np.zeros(1)  # a 1x1 identity convolution passes z through
    with np.errstate(invalid="ignore"):
        y, winners = conv2d_relu_pool_forward(z, w, b)
        y_ref = _block_reference(z, w, b, 1, 0)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(winners, [[[[1, 0], [-1, 2]]]])
    dx, dw, db = conv2d_relu_pool_backward(np.ones((1, 1, 2, 2)), winners, np.ones_like(z), w)
    np.testing.assert_array_equal(dx[0, 0], [[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0],
                                             [0, 0, 1, 0]])
    assert db[0] == 3


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(non_finite_cases())
def test_conv_relu_pool_non_finite_values_as_the_three_layers(case):
    (shape, stride, padding, dtype, seed), where, values = case
    (_, _, H, W, _, KH, KW), (SH, SW), (PH, PW) = shape, stride, padding
    assume((H + 2 * PH - KH) // SH + 1 >= 2 and (W + 2 * PW - KW) // SW + 1 >= 2)
    rng = np.random.default_rng(seed)
    x, w, b = _random_case(rng, *shape, dtype)
    x = _poke(x, values) if "x" in where else x
    w = _poke(w, values) if "w" in where else w
    with np.errstate(invalid="ignore", over="ignore"):
        y_ref = _block_reference(x, w, b, stride, padding)
        dout = rng.standard_normal(y_ref.shape).astype(dtype)
        dout = _poke(dout, values) if "dout" in where else dout
        y, winners = conv2d_relu_pool_forward(x, w, b, stride, padding)
        _, want = _block_reference(x, w, b, stride, padding, dout)
        got = conv2d_relu_pool_backward(dout, winners, x, w, stride, padding)
    _assert_same_values(y, y_ref, TOL[dtype])
    for g_, w_ in zip(got, want, strict=True):
        _assert_same_values(g_, w_, TOL[dtype])


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 0)])
def test_conv_relu_pool_parallel_equals_serial(stride, padding, monkeypatch):
    rng = np.random.default_rng(13)
    x, w, b = _random_case(rng, 5, 3, 9, 8, 7, 3, 3, np.float64)
    y, winners = conv2d_relu_pool_forward(x, w, b, stride, padding)
    dout = rng.standard_normal(y.shape)
    grads = conv2d_relu_pool_backward(dout, winners, x, w, stride, padding)
    monkeypatch.setattr(conv_forward_module, "_conv_forward_kernel",
                        numba.njit(**_serial)(conv_forward_module._conv_forward_impl))
    monkeypatch.setattr(conv_backward_module, "_conv_backward_kernel",
                        numba.njit(**_serial)(conv_backward_module._conv_backward_impl))
    y2, winners2 = conv2d_relu_pool_forward(x, w, b, stride, padding)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(winners2, winners)
    for par, ser in zip(grads, conv2d_relu_pool_backward(dout, winners, x, w, stride, padding),
                        strict=True):
        np.testing.assert_array_equal(par, ser)


def test_conv_relu_pool_refuses_what_cannot_be_pooled():
    x, w, b = np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), np.zeros(1)
    with pytest.raises(GeometryError, match="at least 2x2"):
        conv2d_relu_pool_forward(x, w, b)  # a 1x1 output
    y, winners = conv2d_relu_pool_forward(np.zeros((1, 1, 4, 4)), w, b)
    with pytest.raises(GeometryError, match="pooled shape"):
        conv2d_relu_pool_backward(np.zeros((1, 1, 2, 2)), winners, np.zeros((1, 1, 4, 4)), w)
    with pytest.raises(GeometryError, match="int8"):
        conv2d_relu_pool_backward(y, winners.astype(np.int64), np.zeros((1, 1, 4, 4)), w)


def test_plain_and_pooled_calls_share_scratch_without_stale_cells():
    # both wrappers use the same per-geometry scratch: alternate them, with an odd output
    # size (a row and a column no pooling window reaches), and check every call
    rng = np.random.default_rng(14)
    for _ in range(2):
        for pooled in (True, False):
            x, w, b = _random_case(rng, 3, 2, 7, 7, 4, 3, 3, np.float64)
            if pooled:
                y, winners = conv2d_relu_pool_forward(x, w, b, 1, 1)
                dout = rng.standard_normal(y.shape)
                got = conv2d_relu_pool_backward(dout, winners, x, w, 1, 1)
                _, want = _block_reference(x, w, b, 1, 1, dout)
            else:
                dout = rng.standard_normal((3, 4, 7, 7))
                got = conv2d_backward(dout, x, w, 1, 1)
                want = reference.conv2d_backward(dout, x, w, 1, 1)
            for g_, w_ in zip(got, want, strict=True):
                np.testing.assert_allclose(g_, w_, **TOL[np.float64])
