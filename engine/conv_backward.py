"""Convolution backward pass (dx, dW, db), in Numba.

Built on the flat phase-plane layout of engine/_flat.py, with the delta of each
filter laid on the same flat grid (zeros in the scratch columns ``j >= WO``):

* ``db[f]`` is the sum of the delta map of filter f;
* ``dW[f, c, u, v]`` is one dot product of that flat delta with the plane slice
  that tap ``(u, v)`` of channel c read in the forward pass;
* ``dx`` is the full correlation of the zero-padded delta with the 180-degree
  rotated kernel: on the flat grid, the gradient of padded-input cell q collects
  ``w[f, c, u, v] * delta_f[q - offset(u, v)]`` over every filter and tap, computed
  per phase plane; cropping the padding away gives dx. Input rows and columns
  that no window reached keep a zero gradient.

The batch runs in parallel with ``prange``; each sample writes its own dx and its
own partial dW/db, summed afterwards in a fixed order, so threads never write
the same memory and the result does not depend on the thread count.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ._arrays import as_float, float_dtype
from ._flat import alloc_planes, correlate, flat_layout, from_planes, tap_dots, to_planes
from ._numba import kernel, prange
from .geometry import GeometryError, check_conv

__all__ = ["conv2d_backward"]


def conv2d_backward(dout, x, w, stride=1, padding=0, *, need_dx=True):
    """Backward pass of :func:`engine.conv2d_forward`.

    Parameters
    ----------
    dout : array (N, F, HO, WO)
        Upstream gradient (the delta maps), cast to the dtype of ``x``.
    x : array (N, C, H, W)
        The forward input; float32 or float64 (other dtypes become float64).
    w : array (F, C, KH, KW)
        The kernels used in the forward pass, cast to the dtype of ``x``.
    stride, padding : int or (h, w) pair
        As in the forward pass.
    need_dx : bool, keyword only
        False skips the input gradient (about a third of the work), e.g. for
        the first layer of a network, whose input is the data; dx is then None.

    Returns
    -------
    dx : array (N, C, H, W), or None when ``need_dx`` is False
    dw : array (F, C, KH, KW)
    db : array (F,)
        All in the dtype of ``x``.

    Raises
    ------
    GeometryError
        Before any work, for an impossible geometry or a ``dout`` whose shape is
        not the forward output shape.
    """
    dout, x, w = np.asarray(dout), np.asarray(x), np.asarray(w)
    g = check_conv(x.shape, w.shape, None, stride, padding)
    if dout.shape != g.output_shape:
        raise GeometryError(
            f"the upstream gradient has shape {dout.shape}, but the convolution output "
            f"has shape {g.output_shape}")
    dtype = float_dtype(x)
    dout, x, w = as_float(dout, dtype), as_float(x, dtype), as_float(w, dtype)
    # without need_dx the kernel gets a 0-sample dx it never touches
    dx = np.empty(g.input_shape if need_dx else (0, g.C, g.H, g.W), dtype=dtype)
    dw = np.zeros(w.shape, dtype=dtype)
    db = np.zeros(g.F, dtype=dtype)
    if g.N == 0:
        return (dx if need_dx else None), dw, db
    lay = flat_layout(g)
    T = g.C * g.KH * g.KW
    planes = alloc_planes(g, lay, dtype)        # (N, SH*SW*C, plane_len) padded input
    d_planes = alloc_planes(g if need_dx else replace(g, N=0), lay, dtype)  # its gradient
    flat_delta = np.zeros((g.N, g.F, lay.delta_len), dtype=dtype)  # zero outside the maps
    dw_parts = np.empty((g.N, g.F, T), dtype=dtype)  # per-sample dW, (C, KH, KW) flattened
    db_parts = np.empty((g.N, g.F), dtype=dtype)
    rot180_weights = w.reshape(-1)[lay.dx_weight_index]  # (C, F*KH*KW) one per dx tap
    _conv_backward_kernel(dout, x, w.reshape(g.F, T), rot180_weights, dx, dw_parts, db_parts,
                          planes, d_planes, flat_delta, lay.tap_plane, lay.tap_off,
                          lay.dx_start, lay.dx_src, lay.dx_off,
                          g.SH, g.SW, g.PH, g.PW, lay.WQ, lay.LP, lay.LD, lay.D,
                          dtype.type(0), bool(need_dx))
    _sum_parts_kernel(dw_parts.reshape(g.N, -1), dw.reshape(-1))  # (N, F*T) -> dw
    _sum_parts_kernel(db_parts, db)
    return (dx if need_dx else None), dw, db


def _conv_backward_impl(dout, x, w, rot180_weights, dx, dw_parts, db_parts, planes, d_planes,
                        flat_delta, tap_plane, tap_off, dx_start, dx_src, dx_off,
                        SH, SW, PH, PW, WQ, LP, LD, D, zero, need_dx):
    """Per-sample gradients; shapes as in :func:`conv2d_backward` with w (F, C*KH*KW).

    dw_parts (N, F, C*KH*KW) and db_parts (N, F) receive one partial sum per
    sample. planes/d_planes (N, SH*SW*C, plane_len) and flat_delta (N, F,
    delta_len) are zeroed scratch; the tables and sizes come from
    engine._flat.flat_layout; zero is 0 in the dtype of x; dx is only written
    (and d_planes only used) when need_dx is True.
    """
    N, C = x.shape[0], x.shape[1]
    F = w.shape[0]
    HO, WO = dout.shape[2], dout.shape[3]
    for n in prange(N):  # each sample writes only its own slices of every array
        pn, delta = planes[n], flat_delta[n]
        to_planes(x[n], pn, SH, SW, PH, PW, WQ)
        for f in range(F):
            for i in range(HO):  # the delta map, D cells to the right on the flat grid
                delta[f, D + i * WQ:D + i * WQ + WO] = dout[n, f, i, :]
            db_parts[n, f] = dout[n, f].sum()
        tap_dots(dw_parts[n], delta, D, LP, pn, tap_plane, tap_off, zero)
        if not need_dx:
            continue
        dpn = d_planes[n]
        for p in range(SH * SW):  # dx, one phase (C planes) at a time
            s, e = dx_start[p], dx_start[p + 1]
            if e > s:
                correlate(dpn[p * C:(p + 1) * C], LD, delta, rot180_weights[:, s:e],
                          dx_src[s:e], dx_off[s:e])
        from_planes(dpn, dx[n], SH, SW, PH, PW, WQ)


_conv_backward_kernel = kernel(_conv_backward_impl, parallel=True, fastmath=True)


def _sum_parts_impl(parts, out):
    """out[k] = sum over n of parts[n, k]; parts (N, K), out (K,) zeroed."""
    N, K = parts.shape
    for n in range(N):  # fixed order: the result does not depend on the thread count
        row = parts[n]
        for k in range(K):
            out[k] += row[k]


_sum_parts_kernel = kernel(_sum_parts_impl)
