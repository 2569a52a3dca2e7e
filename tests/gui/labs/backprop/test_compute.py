"""The Backprop lab's channel and influence numbers (gui/labs/backprop/compute.py) against
independent oracles: engine.conv2d_backward (Numba) and engine.reference (textbook loops), on
random shapes over the lab's ranges (1-3 channels, 1-3 filters, stride 1-3, padding 0..K-1,
kernel 1-5, non-square)."""

import numpy as np
from hypothesis import assume, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

import engine
from engine import GeometryError, reference
from gui.labs.backprop.compute import ChannelsBackward, channel_frames


@st.composite
def examples(draw):
    C, F = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(2, 7)), draw(st.integers(2, 7))
    KH, KW = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    SH, SW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    PH, PW = draw(st.integers(0, KH - 1)), draw(st.integers(0, KW - 1))
    try:
        g = engine.check_conv((1, C, H, W), (F, C, KH, KW), None, (SH, SW), (PH, PW))
    except GeometryError:
        assume(False)
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 10, size=(1, C, H, W)).astype(float)
    w = rng.integers(-2, 3, size=(F, C, KH, KW)).astype(float)
    dout = rng.integers(-3, 4, size=(1, F, g.HO, g.WO)).astype(float)
    return dout, x, w, (SH, SW), (PH, PW)


def pair(dout, x, w, m, k):
    """The slices of filter m and input channel k alone."""
    return dout[:, m:m + 1], x[:, k:k + 1], w[m:m + 1, k:k + 1]


@given(examples())
@hyp_settings(max_examples=60, deadline=None)
def test_terms_sums_and_weight_gradients_equal_the_engine(example):
    dout, x, w, s, p = example
    cb = ChannelsBackward(dout, x, w, s, p)
    dx, dw, db = engine.conv2d_backward(dout, x, w, s, p)
    rdx, rdw, rdb = reference.conv2d_backward(dout, x, w, s, p)
    np.testing.assert_allclose(dx, rdx, atol=1e-9)
    np.testing.assert_allclose(cb.dx, dx[0], atol=1e-9)
    np.testing.assert_allclose(cb.dw, rdw, atol=1e-9)
    np.testing.assert_allclose(cb.db, rdb, atol=1e-9)
    F, C = w.shape[:2]
    for m in range(F):
        for k in range(C):
            # filter m's term of channel k: the backward pass of that (filter, channel) pair
            term = reference.conv2d_backward(*pair(dout, x, w, m, k), s, p)[0][0, 0]
            np.testing.assert_allclose(cb.terms[m, k], term, atol=1e-9)


@given(examples())
@hyp_settings(max_examples=40, deadline=None)
def test_influence_sum_equals_gather_for_every_cell(example):
    dout, x, w, s, p = example
    cb = ChannelsBackward(dout, x, w, s, p)
    dx = reference.conv2d_backward(dout, x, w, s, p)[0][0]
    C, H, W = cb.x.shape
    for k in range(C):
        for r in range(H):
            for c in range(W):
                links = cb.input_links(k, r, c)
                assert abs(cb.influence_sum(links) - dx[k, r, c]) < 1e-9
                # every link is a real forward connection: output (i, j) read this cell at (u, v)
                for link in links:
                    g = cb.geometry
                    assert link.i * g.SH + link.u - g.PH == r
                    assert link.j * g.SW + link.v - g.PW == c
                    assert link.factor == w[link.m, k, link.u, link.v]


@given(examples())
@hyp_settings(max_examples=40, deadline=None)
def test_weight_influence_sum_equals_dw(example):
    dout, x, w, s, p = example
    cb = ChannelsBackward(dout, x, w, s, p)
    dw = reference.conv2d_backward(dout, x, w, s, p)[1]
    F, C, KH, KW = w.shape
    for m in range(F):
        for k in range(C):
            for u in range(KH):
                for v in range(KW):
                    assert abs(cb.influence_sum(cb.weight_links(m, k, u, v)) - dw[m, k, u, v]) \
                        < 1e-9


@given(examples())
@hyp_settings(max_examples=40, deadline=None)
def test_scatter_and_gather_replays_end_at_the_same_dx(example):
    dout, x, w, s, p = example
    cb = ChannelsBackward(dout, x, w, s, p)
    dx = engine.conv2d_backward(dout, x, w, s, p)[0][0]
    np.testing.assert_allclose(cb.gather_after(cb.dx.size - 1), dx, atol=1e-9)
    np.testing.assert_allclose(cb.scatter_after(cb.delta.size - 1), dx, atol=1e-9)
    # halfway the gather replay has written exactly its first cells, the rest are empty
    half = cb.dx.size // 2
    built = cb.gather_after(half - 1).ravel()
    assert np.all(np.isfinite(built[:half])) and np.all(np.isnan(built[half:]))
    assert np.all(cb.scatter_after(-1) == 0)


@given(examples())
@hyp_settings(max_examples=30, deadline=None)
def test_frames_build_every_map_once_and_end_complete(example):
    dout, x, w, s, p = example
    cb = ChannelsBackward(dout, x, w, s, p)
    F, C = w.shape[:2]
    frames = channel_frames(C, F)
    assert len(frames) == C * (F + 1) + F * C + F
    terms, dw, db = cb.frame_maps(frames[-1])
    np.testing.assert_array_equal(terms, cb.terms)
    np.testing.assert_array_equal(dw, cb.dw)
    np.testing.assert_array_equal(db, cb.db)
    np.testing.assert_array_equal(cb.dx_done(frames[-1]), cb.dx)
    terms0, dw0, _ = cb.frame_maps(frames[0])
    assert np.isfinite(terms0[0, 0]).all() and np.isnan(dw0).all()


def test_the_texts_are_the_course_formulas():
    """One filter, one channel, a 3x3 input and a 2x2 kernel: dJ/dF11 and a dx cell, written
    by hand."""
    x = np.array([[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]], dtype=float)
    w = np.array([[[[1, -1], [0, 1]]]], dtype=float)
    dout = np.array([[[[1, 0], [-1, 2]]]], dtype=float)
    cb = ChannelsBackward(dout, x, w, (1, 1), (0, 0))
    # dW11 = 1·1 + 2·0 + 4·(−1) + 5·2 = 7
    assert cb.dw_text(0, 0, 0, 0) == (
        "∂J/∂F11 = X11·δ11 + X12·δ12 + X21·δ21 + X22·δ22 = 1·1 + 2·0 + 4·(−1) + 5·2 = 7")
    # x22 fed all four outputs, each through another weight
    assert cb.input_influence_text(0, 1, 1) == (
        "∂J/∂X22 = δ11·w22 + δ12·w21 + δ21·w12 + δ22·w11 = "
        "1·1 + 0·0 + (−1)·(−1) + 2·1 = 4; the rotated-kernel convolution gives 4")
    assert cb.db_text(0) == "db1 = Σ δ1 = 1 + 0 + (−1) + 2 = 2"
    # a corner fed one output only
    assert cb.input_influence_text(0, 0, 0) == (
        "∂J/∂X11 = δ11·w11 = 1·1 = 1; the rotated-kernel convolution gives 1")


def test_texts_name_channels_and_filters_when_there_are_several():
    x = np.arange(2 * 2 * 2, dtype=float).reshape(1, 2, 2, 2)
    w = np.ones((2, 2, 1, 1))
    dout = np.ones((1, 2, 2, 2))
    cb = ChannelsBackward(dout, x, w, (1, 1), (0, 0))
    assert cb.input_influence_text(1, 0, 0) == (
        "∂J/∂X(2)11 = δ(1)11·w(1,2)11 + δ(2)11·w(2,2)11 = 1·1 + 1·1 = 2; the rotated-kernel "
        "convolution gives 2")
    assert cb.dw_text(1, 0, 0, 0).startswith("∂J/∂F(2,1)11 = X(1)11·δ(2)11 + X(1)12·δ(2)12")
