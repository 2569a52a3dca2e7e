"""Convolution forward pass (cross-correlation, as in every CNN library), in Numba.

The fast kernel works on the flat phase-plane layout described in
engine/_flat.py: every kernel tap is a constant offset on a flat grid as wide
as the padded input, so one output map is a few long vectorised loops. The
batch runs in parallel with ``prange``; each sample writes only its own output.
"""

from __future__ import annotations

import numpy as np

from ._arrays import as_float, float_dtype
from ._flat import alloc_planes, correlate, flat_layout, to_planes
from ._numba import kernel, prange
from .geometry import check_conv

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
        Before any work, if the shapes, stride or padding are impossible.
    """
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    g = check_conv(x.shape, w.shape, b.shape, stride, padding)
    dtype = float_dtype(x)
    x, w, b = as_float(x, dtype), as_float(w, dtype), as_float(b, dtype)
    y = np.empty(g.output_shape, dtype=dtype)
    if g.N == 0:
        return y
    lay = flat_layout(g)
    planes = alloc_planes(g, lay, dtype)  # (N, SH*SW*C, plane_len) zeroed
    _conv_forward_kernel(x, w.reshape(g.F, -1), b, y, planes,  # w (F, C*KH*KW)
                         lay.tap_plane, lay.tap_off, g.SH, g.SW, g.PH, g.PW, lay.WQ, lay.LP)
    return y


def _conv_forward_impl(x, w, b, y, planes, tap_plane, tap_off, SH, SW, PH, PW, WQ, LP):
    """x (N,C,H,W), w (F, C*KH*KW), b (F,) -> y (N,F,HO,WO).

    planes (N, SH*SW*C, plane_len) is zeroed scratch; tap_plane/tap_off and the
    sizes come from engine._flat.flat_layout.
    """
    N, F = x.shape[0], w.shape[0]
    HO, WO = y.shape[2], y.shape[3]
    for n in prange(N):  # each sample writes only its own planes[n] and y[n]
        pn = planes[n]
        to_planes(x[n], pn, SH, SW, PH, PW, WQ)
        acc = np.empty((F, LP), dtype=y.dtype)  # the F output maps on the flat grid
        for f in range(F):
            acc[f, :] = b[f]
        correlate(acc, LP, pn, w, tap_plane, tap_off)
        for f in range(F):
            for i in range(HO):
                y[n, f, i, :] = acc[f, i * WQ:i * WQ + WO]


_conv_forward_kernel = kernel(_conv_forward_impl, parallel=True, fastmath=True)
