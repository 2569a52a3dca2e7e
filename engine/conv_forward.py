"""Convolution forward pass (cross-correlation, as in every CNN library), in Numba.

The fast kernel works on the flat phase-plane layout described in
engine/_flat.py: every kernel tap is a constant offset on a flat grid as wide
as the padded input, so one output map is a few long vectorised loops. The
batch runs in parallel with ``prange`` over blocks of consecutive samples; each
block writes only its own samples' planes and outputs.
"""

from __future__ import annotations

import numpy as np

from ._arrays import as_float, float_dtype, threads_for
from ._flat import block_size, correlate, flat_layout, scratch_planes, to_planes
from ._numba import FAST_FP, kernel, prange
from .geometry import check_conv
from .i18n import tr_noop

__all__ = ["conv2d_forward"]


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
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    g = check_conv(x.shape, w.shape, b.shape, stride, padding)
    dtype = float_dtype(x)
    x = as_float(x, dtype)
    w, b = as_float(w, dtype, tr_noop("the kernels")), as_float(b, dtype, tr_noop("the bias"))
    y = np.empty(g.output_shape, dtype=dtype)
    if g.N == 0:
        return y
    lay = flat_layout(g)
    planes = scratch_planes("x", g, lay, dtype)  # (SH*SW*C, N*PL + D) zero borders
    with threads_for(g.N * g.F * g.HO * g.WO * g.C * g.KH * g.KW):
        B = block_size(g.N, lay.PL)
        _conv_forward_kernel(x, w.reshape(g.F, -1), b, y, planes, B,  # w (F, C*KH*KW)
                             lay.tap_plane, lay.tap_off, g.SH, g.SW, g.PH, g.PW, lay.WQ,
                             lay.LP, lay.PL)
    return y


def _conv_forward_impl(x, w, b, y, planes, B, tap_plane, tap_off, SH, SW, PH, PW, WQ, LP, PL):
    """x (N,C,H,W), w (F, C*KH*KW), b (F,) -> y (N,F,HO,WO).

    planes (SH*SW*C, N*PL + D) is scratch with zero borders; B samples per block;
    tap_plane/tap_off and the sizes come from engine._flat.flat_layout.
    """
    N, F = x.shape[0], w.shape[0]
    HO, WO = y.shape[2], y.shape[3]
    for blk in prange(-(-N // B)):  # each block writes only its own samples' cells
        n0 = blk * B
        n1 = min(N, n0 + B)
        for n in range(n0, n1):
            to_planes(x[n], planes, n * PL, SH, SW, PH, PW, WQ)
        run = (n1 - n0 - 1) * PL + LP  # the block's samples end to end on the flat grid
        acc = np.empty((F, run), dtype=y.dtype)  # the F output maps
        for f in range(F):
            bias = b[f]
            for k in range(run):
                acc[f, k] = bias
        correlate(acc, 0, planes, n0 * PL, run, w, tap_plane, tap_off)
        for n in range(n0, n1):
            for f in range(F):
                for i in range(HO):  # row slices: the j loop is a contiguous copy
                    src = acc[f, (n - n0) * PL + i * WQ:]
                    dst = y[n, f, i]
                    for j in range(WO):
                        dst[j] = src[j]


_conv_forward_kernel = kernel(_conv_forward_impl, parallel=True, fastmath=FAST_FP)
