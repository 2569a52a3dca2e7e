"""Traces: replaying every step reproduces the fast kernels and the reference loops.

Oracles: the Numba kernels (engine.conv2d_forward, ...) and the textbook loops
(engine.reference). Each step is also checked against the arrays it claims to
show (windows sliced from the padded input, products, sums), so a trace that
gets the right totals by the wrong route still fails.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine import reference as ref
from engine.trace import (
    AvgPoolBackwardStep,
    ConvForwardStep,
    DbStep,
    DwStep,
    DxStep,
    MaxPoolBackwardStep,
    MaxPoolStep,
    PoolStep,
    avg_pool2d_backward_trace,
    avg_pool2d_forward_trace,
    conv2d_backward_trace,
    conv2d_forward_trace,
    max_pool2d_backward_trace,
    max_pool2d_forward_trace,
)

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def close(a, b, dtype=np.float64):
    rtol, atol = (1e-4, 1e-4) if dtype == np.float32 else (1e-10, 1e-10)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ------------------------------------------------------------------ geometry cases

# (N, C, H, W, F, KH, KW, stride, padding)
CONV_CASES = [
    (1, 1, 5, 5, 1, 3, 3, 1, 0),
    (1, 1, 7, 7, 2, 3, 3, 2, 0),        # stride 2 tiles 7 exactly
    (1, 2, 6, 6, 2, 3, 3, 2, 0),        # stride 2 on 6: the last row/column is never reached
    (2, 3, 7, 5, 3, 2, 3, 2, 1),        # non-square input and kernel, padding
    (1, 2, 5, 8, 2, 3, 2, (2, 3), (1, 0)),
    (1, 1, 4, 4, 2, 4, 4, 3, 2),        # kernel as large as the input, big padding
    (1, 1, 3, 3, 1, 1, 1, 1, 0),        # 1x1 kernel
    (2, 1, 9, 6, 1, 3, 3, 3, 1),
]

# (N, C, H, W, size, stride)
POOL_CASES = [
    (1, 1, 4, 4, 2, 2),
    (1, 2, 5, 5, 2, 2),                 # 5 is not a multiple of 2: last row/column unused
    (2, 3, 6, 7, 3, 1),                 # overlapping windows
    (1, 1, 7, 5, (2, 3), (1, 2)),       # non-square window, mixed strides
    (1, 2, 6, 6, 3, 2),                 # overlapping, stride does not tile
    (1, 1, 3, 3, 3, 3),                 # one window
]


@st.composite
def conv_geometries(draw):
    N, C, F = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    SH, SW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    PH, PW = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    H = draw(st.integers(max(1, KH - 2 * PH), 8))
    W = draw(st.integers(max(1, KW - 2 * PW), 8))
    return N, C, H, W, F, KH, KW, (SH, SW), (PH, PW)


@st.composite
def pool_geometries(draw):
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    SH, SW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(KH, 8)), draw(st.integers(KW, 8))
    return N, C, H, W, (KH, KW), (SH, SW)


def conv_arrays(case, seed=0, dtype=np.float64):
    N, C, H, W, F, KH, KW, stride, padding = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, KH, KW)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    return x, w, b, stride, padding


def pool_input(case, seed=0, ties=False):
    N, C, H, W, size, stride = case
    rng = np.random.default_rng(seed)
    if ties:  # few distinct values: many windows hold their maximum twice or more
        return rng.integers(0, 3, size=(N, C, H, W)).astype(np.float64), size, stride
    return rng.standard_normal((N, C, H, W)), size, stride


# ------------------------------------------------------------------ convolution forward

def check_conv_forward(x, w, b, stride, padding):
    t = conv2d_forward_trace(x, w, b, stride, padding)
    expected_fast = engine.conv2d_forward(x, w, b, stride, padding)
    expected_ref = ref.conv2d_forward(x, w, b, stride, padding)
    SH, SW = pair(stride)
    PH, PW = pair(padding)
    padded = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    F, C, KH, KW = w.shape

    replayed = np.full(expected_fast.shape, np.nan)
    for k, s in enumerate(t):
        assert isinstance(s, ConvForwardStep)
        assert (s.row, s.col) == (s.i * SH, s.j * SW)
        np.testing.assert_array_equal(s.window, padded[s.n, :, s.row:s.row + KH, s.col:s.col + KW])
        np.testing.assert_array_equal(s.kernel, w[s.f])
        np.testing.assert_array_equal(s.products, s.window * s.kernel)
        close(s.channel_sums, s.products.sum(axis=(1, 2)), x.dtype)
        assert s.bias == b[s.f]
        close(s.value, s.channel_sums.sum() + s.bias, x.dtype)
        assert np.isnan(replayed[s.n, s.f, s.i, s.j]), "two steps wrote the same cell"
        replayed[s.n, s.f, s.i, s.j] = s.value
        assert t.step_index(s.n, s.f, s.i, s.j) == k

    close(replayed, expected_fast, x.dtype)
    close(replayed, expected_ref, x.dtype)
    close(t.result(), expected_fast, x.dtype)
    close(t.replay(len(t) - 1), expected_fast, x.dtype)
    np.testing.assert_array_equal(t.padded_input, padded)
    assert t.result().dtype == expected_fast.dtype


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_forward_steps_replay_the_kernels(case):
    check_conv_forward(*conv_arrays(case))


@SETTINGS
@given(conv_geometries(), st.integers(0, 2**16))
def test_conv_forward_steps_replay_the_kernels_random(case, seed):
    check_conv_forward(*conv_arrays(case, seed))


def test_conv_forward_float32_stays_float32():
    x, w, b, stride, padding = conv_arrays(CONV_CASES[3], dtype=np.float32)
    t = conv2d_forward_trace(x, w, b, stride, padding)
    assert t.result().dtype == np.float32 and t.padded_input.dtype == np.float32
    check_conv_forward(x, w, b, stride, padding)


def test_conv_forward_replay_leaves_unwritten_cells_nan():
    x, w, b, stride, padding = conv_arrays(CONV_CASES[3])
    t = conv2d_forward_trace(x, w, b, stride, padding)
    full = t.result().reshape(-1)
    for k in (0, 1, len(t) // 2, len(t) - 2, len(t) - 1):
        partial = t.replay(k).reshape(-1)
        np.testing.assert_array_equal(partial[:k + 1], full[:k + 1])
        assert np.isnan(partial[k + 1:]).all()
    np.testing.assert_array_equal(t.replay(-1), t.replay(len(t) - 1))


def test_conv_forward_step_order_is_row_major():
    t = conv2d_forward_trace(*conv_arrays((2, 1, 4, 5, 3, 2, 2, 1, 0))[:3])
    cells = [(s.n, s.f, s.i, s.j) for s in t]
    assert cells == sorted(cells)
    assert len(cells) == 2 * 3 * 3 * 4


def test_step_index_rejects_cells_outside_the_output():
    t = conv2d_forward_trace(*conv_arrays(CONV_CASES[0])[:3])
    with pytest.raises(IndexError):
        t.step_index(0, 0, 3, 0)
    with pytest.raises(IndexError):
        t.step_index(0, 1, 0, 0)
    with pytest.raises(IndexError):
        t.step_index(0, 0, -1, 0)


# ------------------------------------------------------------------ sequence behaviour

def test_trace_indexes_like_a_list():
    t = conv2d_forward_trace(*conv_arrays(CONV_CASES[1])[:3], stride=2)
    n = len(t)
    assert n == 1 * 2 * 3 * 3
    last = t[-1]
    assert (last.n, last.f, last.i, last.j) == (t[n - 1].n, t[n - 1].f, t[n - 1].i, t[n - 1].j)
    assert t[-n].value == t[0].value
    assert t[np.int64(2)].value == t[2].value
    for bad in (n, -n - 1):
        with pytest.raises(IndexError):
            t[bad]
        with pytest.raises(IndexError):
            t.replay(bad)
    with pytest.raises(TypeError):
        t[1.5]
    assert [s.value for s in t[2:5]] == [t[k].value for k in range(2, 5)]
    assert sum(1 for _ in t) == n


def test_steps_are_frozen():
    s = conv2d_forward_trace(*conv_arrays(CONV_CASES[0])[:3])[0]
    with pytest.raises(AttributeError):
        s.value = 0.0
    with pytest.raises(ValueError):
        s.window[0, 0, 0] = 1.0


def _peak_bytes(build):
    tracemalloc.start()
    try:
        t = build()
        return t, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_traces_are_lazy_on_a_large_input():
    x = np.random.default_rng(0).random((1, 3, 512, 512))
    w, b = np.ones((2, 3, 3, 3)), np.zeros(2)
    # a step costs well over 100 bytes, so precomputing 520 200 steps would need > 50 MB
    budget = 4 * x.nbytes
    t, peak = _peak_bytes(lambda: conv2d_forward_trace(x, w, b, 1, 1))
    assert len(t) == 1 * 2 * 512 * 512 and peak < budget
    assert t[-1].window.shape == (3, 3, 3)

    dout = np.ones((1, 2, 512, 512))
    t, peak = _peak_bytes(lambda: conv2d_backward_trace(dout, x, w, 1, 1))
    assert len(t) == 3 * 514 * 514 + 2 * 3 * 9 + 2 and peak < budget

    t, peak = _peak_bytes(lambda: max_pool2d_forward_trace(x, 2, 2))
    assert len(t) == 3 * 256 * 256 and peak < budget
    t, peak = _peak_bytes(lambda: max_pool2d_backward_trace(np.ones((1, 3, 256, 256)), x, 2, 2))
    assert len(t) == 3 * 256 * 256 and peak < budget


# ------------------------------------------------------------------ invalid geometry

@pytest.mark.parametrize("build", [
    lambda: conv2d_forward_trace(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)), np.zeros(1)),
    lambda: conv2d_forward_trace(np.zeros((1, 2, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1)),
    lambda: conv2d_forward_trace(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(2)),
    lambda: conv2d_forward_trace(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1),
                                 stride=0),
    lambda: conv2d_forward_trace(np.zeros((5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1)),
    lambda: conv2d_backward_trace(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 5, 5)),
                                  np.zeros((1, 1, 3, 3)), padding=-1),
    lambda: conv2d_backward_trace(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 5, 5)),
                                  np.zeros((1, 1, 3, 3))),          # dout of the wrong shape
    lambda: max_pool2d_forward_trace(np.zeros((1, 1, 2, 2)), 3, 1),
    lambda: avg_pool2d_forward_trace(np.zeros((1, 1, 4, 4)), 2, 0),
    lambda: max_pool2d_backward_trace(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 4, 4)), 2, 2),
    lambda: avg_pool2d_backward_trace(np.zeros((1, 1, 2, 2)), (1, 1, 4, 4), 5, 1),
])
def test_invalid_geometry_raises_geometry_error(build):
    with pytest.raises(engine.GeometryError):
        build()


# ------------------------------------------------------------------ pooling forward

def check_pool_forward(x, size, stride):
    y_fast, argmax_fast = engine.max_pool2d_forward(x, size, stride)
    y_ref, argmax_ref = ref.max_pool2d_forward(x, size, stride)
    KH, KW = pair(size)
    SH, SW = pair(stride)
    W = x.shape[3]

    t = max_pool2d_forward_trace(x, size, stride)
    replayed = np.full(y_fast.shape, np.nan)
    for k, s in enumerate(t):
        assert isinstance(s, MaxPoolStep)
        assert (s.row, s.col) == (s.i * SH, s.j * SW)
        np.testing.assert_array_equal(s.window, x[s.n, s.c, s.row:s.row + KH, s.col:s.col + KW])
        assert s.value == s.window.max() == x[s.n, s.c, s.argmax_row, s.argmax_col]
        assert s.row <= s.argmax_row < s.row + KH and s.col <= s.argmax_col < s.col + KW
        assert s.argmax_row * W + s.argmax_col == argmax_fast[s.n, s.c, s.i, s.j]
        assert t.step_index(s.n, s.c, s.i, s.j) == k
        replayed[s.n, s.c, s.i, s.j] = s.value
    np.testing.assert_array_equal(replayed, y_fast)
    np.testing.assert_array_equal(t.result(), y_ref)
    np.testing.assert_array_equal(t.argmax_map, argmax_fast)
    np.testing.assert_array_equal(t.argmax_map, argmax_ref)
    assert t.argmax_map.dtype == np.int64

    t = avg_pool2d_forward_trace(x, size, stride)
    y_fast = engine.avg_pool2d_forward(x, size, stride)
    replayed = np.full(y_fast.shape, np.nan)
    for s in t:
        assert type(s) is PoolStep
        np.testing.assert_array_equal(s.window, x[s.n, s.c, s.row:s.row + KH, s.col:s.col + KW])
        close(s.value, s.window.sum() / (KH * KW))
        replayed[s.n, s.c, s.i, s.j] = s.value
    close(replayed, y_fast)
    close(t.result(), ref.avg_pool2d_forward(x, size, stride))
    close(t.replay(len(t) - 1), y_fast)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_forward_steps_replay_the_kernels(case, ties):
    check_pool_forward(*pool_input(case, ties=ties))


@SETTINGS
@given(pool_geometries(), st.integers(0, 2**16), st.booleans())
def test_pool_forward_steps_replay_the_kernels_random(case, seed, ties):
    check_pool_forward(*pool_input(case, seed, ties))


def test_max_pool_tie_goes_to_the_first_maximum_in_row_major_order():
    x = np.array([[0, 5, 5, 1],
                  [5, 5, 2, 2],
                  [1, 9, 3, 3],
                  [9, 9, 3, 3]], dtype=np.float64)[None, None]
    t = max_pool2d_forward_trace(x, 2, 2)
    assert [(s.argmax_row, s.argmax_col) for s in t] == [(0, 1), (0, 2), (2, 1), (2, 2)]
    np.testing.assert_array_equal(t.argmax_map[0, 0], [[1, 2], [9, 10]])


def test_pool_forward_replay_leaves_unwritten_cells_nan():
    x, size, stride = pool_input(POOL_CASES[2])
    t = max_pool2d_forward_trace(x, size, stride)
    partial = t.replay(4).reshape(-1)
    np.testing.assert_array_equal(partial[:5], t.result().reshape(-1)[:5])
    assert np.isnan(partial[5:]).all()


def test_average_pooling_has_no_argmax_map():
    t = avg_pool2d_forward_trace(np.zeros((1, 1, 4, 4)), 2, 2)
    assert not hasattr(t, "argmax_map")


# ------------------------------------------------------------------ pooling backward

def check_pool_backward(x, size, stride, seed=0):
    KH, KW = pair(size)
    y, argmax = engine.max_pool2d_forward(x, size, stride)
    dout = np.random.default_rng(seed).standard_normal(y.shape)

    t = max_pool2d_backward_trace(dout, x, size, stride)
    dx = np.zeros_like(x)
    for k, s in enumerate(t):
        assert isinstance(s, MaxPoolBackwardStep)
        assert s.delta == dout[s.n, s.c, s.i, s.j]
        assert s.target_row * x.shape[3] + s.target_col == argmax[s.n, s.c, s.i, s.j]
        dx[s.n, s.c, s.target_row, s.target_col] += s.delta
        if k in (0, len(t) // 2):
            close(t.replay(k), dx)
    expected = engine.max_pool2d_backward(dout, argmax, x.shape)
    close(dx, expected)
    close(dx, ref.max_pool2d_backward(dout, argmax, x.shape))
    close(t.result(), expected)
    close(t.replay(-1), expected)

    t = avg_pool2d_backward_trace(dout, x.shape, size, stride)
    dx = np.zeros_like(x)
    for k, s in enumerate(t):
        assert isinstance(s, AvgPoolBackwardStep)
        assert s.delta == dout[s.n, s.c, s.i, s.j]
        close(s.share * KH * KW, s.delta)
        dx[s.n, s.c, s.row:s.row + KH, s.col:s.col + KW] += s.share
        if k in (0, len(t) // 2):
            close(t.replay(k), dx)
    expected = engine.avg_pool2d_backward(dout, x.shape, size, stride)
    close(dx, expected)
    close(dx, ref.avg_pool2d_backward(dout, x.shape, size, stride))
    close(t.result(), expected)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_backward_steps_replay_the_kernels(case, ties):
    check_pool_backward(*pool_input(case, ties=ties))


@SETTINGS
@given(pool_geometries(), st.integers(0, 2**16), st.booleans())
def test_pool_backward_steps_replay_the_kernels_random(case, seed, ties):
    check_pool_backward(*pool_input(case, seed, ties), seed=seed)


def test_max_pool_backward_accumulates_overlapping_windows():
    # one big value inside every 2x2 window of a 3x3 input: all four deltas land on it
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0
    dout = np.array([[1.0, 2.0], [3.0, 4.0]])[None, None]
    dx = max_pool2d_backward_trace(dout, x, 2, 1).result()
    expected = np.zeros((3, 3))
    expected[1, 1] = 10.0
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_avg_pool_backward_accepts_the_input_itself():
    x = np.zeros((1, 2, 4, 4))
    dout = np.ones((1, 2, 2, 2))
    np.testing.assert_array_equal(avg_pool2d_backward_trace(dout, x, 2, 2).result(),
                                  np.full(x.shape, 0.25))


# ------------------------------------------------------------------ convolution backward

def check_conv_backward(x, w, b, stride, padding, seed=0):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    SH, SW = pair(stride)
    PH, PW = pair(padding)
    dout = np.random.default_rng(seed).standard_normal(
        engine.conv2d_forward(x, w, b, stride, padding).shape)
    t = conv2d_backward_trace(dout, x, w, stride, padding)
    dx_fast, dw_fast, db_fast = engine.conv2d_backward(dout, x, w, stride, padding)
    dx_ref, dw_ref, db_ref = ref.conv2d_backward(dout, x, w, stride, padding)
    _, _, HO, WO = dout.shape

    check_backward_stages(t, dout, w, stride)
    hp, wp = H + 2 * PH, W + 2 * PW
    n_dx = N * C * hp * wp
    assert t.stage_start == {"dx": 0, "dw": n_dx, "db": n_dx + F * C * KH * KW}
    assert len(t) == t.stage_start["db"] + F

    padded_dx = np.full((N, C, hp, wp), np.nan)
    dw = np.full(w.shape, np.nan)
    db = np.full(F, np.nan)
    for k, s in enumerate(t):
        if isinstance(s, DxStep):
            np.testing.assert_array_equal(
                s.window, t.padded_delta[s.n, :, s.row:s.row + KH, s.col:s.col + KW])
            np.testing.assert_array_equal(s.kernel, w[:, s.c, ::-1, ::-1])
            np.testing.assert_array_equal(s.products, s.window * s.kernel)
            close(s.filter_sums, s.products.sum(axis=(1, 2)))
            close(s.value, s.filter_sums.sum())
            assert s.cropped == (not (PH <= s.row < PH + H and PW <= s.col < PW + W))
            assert t.dx_step_index(s.n, s.c, s.row, s.col) == k
            padded_dx[s.n, s.c, s.row, s.col] = s.value
        elif isinstance(s, DwStep):
            np.testing.assert_array_equal(
                s.window, t.padded_input[:, s.c, s.u:s.u + SH * HO:SH, s.v:s.v + SW * WO:SW])
            np.testing.assert_array_equal(s.delta, dout[:, s.f])
            np.testing.assert_array_equal(s.products, s.window * s.delta)
            close(s.value, s.products.sum())
            assert t.dw_step_index(s.f, s.c, s.u, s.v) == k
            dw[s.f, s.c, s.u, s.v] = s.value
        else:
            assert isinstance(s, DbStep) and s.stage == "db"
            np.testing.assert_array_equal(s.delta, dout[:, s.f])
            assert t.db_step_index(s.f) == k
            db[s.f] = s.value

    dx = padded_dx[:, :, PH:PH + H, PW:PW + W]
    for got, fast, slow in ((dx, dx_fast, dx_ref), (dw, dw_fast, dw_ref), (db, db_fast, db_ref)):
        close(got, fast)
        close(got, slow)
    close(t.dx(), dx_fast)
    close(t.dw(), dw_fast)
    close(t.db(), db_fast)
    close(t.padded_dx(), padded_dx)
    for got, expected in zip(t.result(), (dx_fast, dw_fast, db_fast), strict=True):
        close(got, expected)
    for got, expected in zip(t.replay(-1), (dx_fast, dw_fast, db_fast), strict=True):
        close(got, expected)


def check_backward_stages(t, dout, w, stride):
    SH, SW = pair(stride)
    _, _, KH, KW = w.shape
    np.testing.assert_array_equal(t.delta, dout)
    np.testing.assert_array_equal(t.rot180_kernel, np.rot90(w, 2, axes=(2, 3)))
    dil = t.dilated_delta
    N, F, HO, WO = dout.shape
    assert dil.shape == (N, F, (HO - 1) * SH + 1, (WO - 1) * SW + 1)
    np.testing.assert_array_equal(dil[:, :, ::SH, ::SW], dout)
    assert np.count_nonzero(dil) == np.count_nonzero(dout)  # only zeros in between
    pd = t.padded_delta
    hp, wp = t.geometry.padded_shape
    assert pd.shape == (N, F, hp + KH - 1, wp + KW - 1)
    np.testing.assert_array_equal(
        pd[:, :, KH - 1:KH - 1 + dil.shape[2], KW - 1:KW - 1 + dil.shape[3]], dil)
    assert np.count_nonzero(pd) == np.count_nonzero(dout)  # the rest is zero padding


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_backward_steps_replay_the_kernels(case):
    check_conv_backward(*conv_arrays(case))


@SETTINGS
@given(conv_geometries(), st.integers(0, 2**16))
def test_conv_backward_steps_replay_the_kernels_random(case, seed):
    check_conv_backward(*conv_arrays(case, seed), seed=seed)


def test_conv_backward_rows_no_window_reaches_get_zero_gradient():
    # stride 2 on a 6x6 input with a 3x3 kernel: windows start at 0 and 2, reach row 4 at most
    x, w, b, _, _ = conv_arrays((1, 1, 6, 6, 1, 3, 3, 2, 0))
    dout = np.ones((1, 1, 2, 2))
    t = conv2d_backward_trace(dout, x, w, 2, 0)
    dx = t.dx()
    assert (dx[0, 0, 5, :] == 0).all() and (dx[0, 0, :, 5] == 0).all()
    assert np.abs(dx[0, 0, :5, :5]).sum() > 0
    close(dx, engine.conv2d_backward(dout, x, w, 2, 0)[0])


def test_conv_backward_partial_results():
    x, w, b, stride, padding = conv_arrays(CONV_CASES[3])
    dout = np.random.default_rng(1).standard_normal(
        engine.conv2d_forward(x, w, b, stride, padding).shape)
    t = conv2d_backward_trace(dout, x, w, stride, padding)
    start_dw, start_db = t.stage_start["dw"], t.stage_start["db"]

    k = start_dw // 3
    built = t.dx_after(k, padded=True).reshape(-1)
    np.testing.assert_array_equal(built[:k + 1], t.padded_dx().reshape(-1)[:k + 1])
    assert np.isnan(built[k + 1:]).all()
    assert np.isnan(t.dw_after(k)).all() and np.isnan(t.db_after(k)).all()
    assert t.dx_after(k).shape == x.shape

    k = start_dw + 4
    close(t.dx_after(k), t.dx())
    dw = t.dw_after(k).reshape(-1)
    np.testing.assert_array_equal(dw[:5], t.dw().reshape(-1)[:5])
    assert np.isnan(dw[5:]).all() and np.isnan(t.db_after(k)).all()

    dx, dw, db = t.replay(start_db)
    close(dw, t.dw())
    assert db[0] == t.db()[0] and np.isnan(db[1:]).all()


def test_conv_backward_float32():
    x, w, b, stride, padding = conv_arrays(CONV_CASES[4], dtype=np.float32)
    dout = np.ones(engine.conv2d_forward(x, w, b, stride, padding).shape, dtype=np.float32)
    t = conv2d_backward_trace(dout, x, w, stride, padding)
    for got, expected in zip(t.result(), engine.conv2d_backward(dout, x, w, stride, padding),
                             strict=True):
        assert got.dtype == np.float32
        close(got, expected, np.float32)


def test_conv_backward_dx_matches_a_finite_difference():
    # an oracle independent of every kernel: L = sum(y * dout), so dL/dx = dx
    x, w, b, stride, padding = conv_arrays((1, 2, 5, 4, 2, 3, 2, 2, 1))
    dout = np.random.default_rng(3).standard_normal(
        ref.conv2d_forward(x, w, b, stride, padding).shape)
    dx = conv2d_backward_trace(dout, x, w, stride, padding).dx()
    eps = 1e-6
    numeric = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        change = (ref.conv2d_forward(plus, w, b, stride, padding)
                  - ref.conv2d_forward(minus, w, b, stride, padding))
        numeric[idx] = np.sum(change * dout) / (2 * eps)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-7)
