"""Convolution forward pass (cross-correlation, as in every CNN library), in Numba.

The fast kernel works on the flat phase-plane layout described in
engine/_flat.py: every kernel tap is a constant offset on a flat grid as wide
as the padded input, so each output map is computed in register tiles of a few
filters by a few vector registers of positions (engine._flat.correlate). The
batch runs in parallel with ``prange`` over the samples; each writes only its own
planes and outputs.
"""

from __future__ import annotations

import numpy as np

from ._arrays import as_float, float_dtype, threads_for
from ._flat import (
    copy_rows,
    correlate,
    flat_layout,
    relu_pool_2x2,
    scratch_planes,
    to_planes,
)
from ._numba import FAST_FP, kernel, prange
from .geometry import GeometryError, check_conv
from .i18n import tr, tr_noop

__all__ = ["conv2d_forward", "conv2d_relu_pool_forward"]


def conv2d_forward(x, w, b, stride=1, padding=0):
    """Forward pass of a 2-D convolution layer (cross-correlation).

    ``y[n, f, i, j] = sum_{c, u, v} padded_input[n, c, i*SH + u, j*SW + v] * w[f, c, u, v] + b[f]``

    Parameters
    ----------
    x : array (N, C, H, W)
        Input batch; float32 or float64 (other dtypes are converted to float64).
    w : array (F, C, KH, KW)
        Kernels, cast to the dtype of ``x``.
    b : array (F,)
        One bias per filter, cast to the dtype of ``x``.
    stride, padding : int or (h, w) pair
        Stride >= 1; zero padding >= 0 on each side.

    Returns
    -------
    y : array (N, F, HO, WO), dtype of ``x``
        ``HO = floor((H + 2*PH - KH) / SH) + 1`` and likewise ``WO``.

    Raises
    ------
    GeometryError
        Before any work, if the shapes, stride or padding are impossible, an array
        does not hold real numbers (complex, text, dates, objects), or the call
        would need more than ``engine.geometry.MAX_MULTIPLY_ADDS`` multiply-adds.
    """
    x, w, b, g = _prepare(x, w, b, stride, padding)
    y = np.empty(g.output_shape, dtype=x.dtype)
    _run(x, w, b, g, y, None)
    return y


def conv2d_relu_pool_forward(x, w, b, stride=1, padding=0):
    """``max_pool2d(relu(conv2d(x, w, b)), 2, 2)`` in one pass, with what its backward needs.

    The training step's fast path for a conv - ReLU - 2x2 max-pool block
    (engine.network fuses such blocks): the full-size convolution and ReLU maps
    (the largest arrays of a training step) are never written to memory. Same
    values as the three layers one after another, ties and NaN included: each
    window's cells go through the ReLU first (NaN gives 0), then the first maximum
    in row-major order wins. Output rows and columns that no window reaches (an odd
    HO or WO) are dropped, as by the pooling layer.

    Parameters
    ----------
    x, w, b, stride, padding
        As in :func:`conv2d_forward`; the convolution output must be at least 2x2.

    Returns
    -------
    y : array (N, F, HO // 2, WO // 2), dtype of ``x``
    winners : int8 array (N, F, HO // 2, WO // 2)
        The window cell that won, ``2 * row + column`` within the window (0-3), or -1
        when the window's maximum is not positive: the ReLU then stops the gradient
        (see engine.conv_backward.conv2d_relu_pool_backward).
    """
    x, w, b, g = _prepare(x, w, b, stride, padding)
    if g.HO < 2 or g.WO < 2:
        raise GeometryError(tr(
            "2x2 pooling needs a convolution output of at least 2x2, not {h}x{w}").format(
                h=g.HO, w=g.WO))
    shape = (g.N, g.F, g.HO // 2, g.WO // 2)
    y, winners = np.empty(shape, dtype=x.dtype), np.empty(shape, dtype=np.int8)
    _run(x, w, b, g, y, winners)
    return y, winners


# the empty winners of a plain convolution (one kernel, compiled once, serves both)
_NO_WINNERS = np.empty((0, 0, 0, 0), dtype=np.int8)


def _prepare(x, w, b, stride, padding):
    """The wrappers' checks: (x, w, b) as C-contiguous arrays of x's dtype, and the geometry."""
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    g = check_conv(x.shape, w.shape, b.shape, stride, padding)
    dtype = float_dtype(x)
    x = as_float(x, dtype)
    w, b = as_float(w, dtype, tr_noop("the kernels")), as_float(b, dtype, tr_noop("the bias"))
    return x, w, b, g


def _run(x, w, b, g, y, winners):
    """Run the kernel into y: the convolution output, or with winners (not None) the
    pooled ReLU output."""
    if g.N == 0:
        return
    pool = winners is not None
    winners = _NO_WINNERS if winners is None else winners
    lay = flat_layout(g)
    planes = scratch_planes("x", g, lay, x.dtype)  # (SH*SW*C, N*PL + D) zero borders
    acc = scratch_planes("y", g, lay, x.dtype, rows=g.F)  # the flat output maps
    with threads_for(g.N * g.F * g.HO * g.WO * g.C * g.KH * g.KW):
        empty = y[:0, :0, :0, :0]  # stands in for the output the call does not make
        _conv_forward_kernel(x, w.reshape(g.F, -1), b, empty if pool else y, planes,
                             planes.reshape(-1), acc,
                             lay.tap_plane * planes.shape[1] + lay.tap_off,  # w (F, C*KH*KW)
                             g.SH, g.SW, g.PH, g.PW, lay.WQ, lay.LP, lay.PL, g.HO, g.WO,
                             y if pool else empty, winners, x.dtype.type(0))


def _conv_forward_impl(x, w, b, y, planes, flat_planes, acc, tap_abs, SH, SW, PH, PW, WQ,
                       LP, PL, HO, WO, pooled, winners, zero):
    """x (N,C,H,W), w (F, C*KH*KW), b (F,) -> y (N,F,HO,WO), or -> pooled, winners.

    With an empty ``winners``: the convolution into y. Otherwise (y empty) its ReLU,
    max-pooled 2x2 into pooled (N,F,HO//2,WO//2) and the winning cells into winners
    (int8, as conv2d_relu_pool_forward). planes (SH*SW*C, N*PL + D) is scratch with
    zero borders and flat_planes the same memory flattened; acc (F, N*PL + D)
    scratch for the flat output maps; tap_abs (C*KH*KW,) where each tap starts in
    flat_planes; the sizes come from engine._flat.flat_layout; zero is 0 in x's dtype.
    """
    N, F = x.shape[0], w.shape[0]
    pool = winners.size > 0
    for n in prange(N):  # each sample writes only its own planes, maps and outputs
        base = n * PL
        to_planes(x[n], planes, base, SH, SW, PH, PW, WQ)
        correlate(acc, base, flat_planes, base, LP, w, tap_abs, b)
        if pool:
            HP, WP = pooled.shape[2], pooled.shape[3]
            out, win = pooled[n].reshape(-1), winners[n].reshape(-1)  # spills: next map
            for f in range(F):
                relu_pool_2x2(acc[f], base, WQ, HP, WP, out[f * HP * WP:], win[f * HP * WP:],
                              zero)
        else:
            out = y[n].reshape(-1)  # (F*HO*WO,): each map's spill lands in the next one
            for f in range(F):
                copy_rows(out[f * HO * WO:], acc[f], base, HO, WO, WQ)


_conv_forward_kernel = kernel(_conv_forward_impl, parallel=True, fastmath=FAST_FP)
