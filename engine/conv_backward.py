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

The batch runs in parallel with ``prange`` over blocks of consecutive samples;
each block writes its own samples' dx and its own partial dW/db, summed
afterwards in a fixed order, so threads never write the same memory.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ._arrays import as_float, float_dtype, threads_for
from ._flat import (
    block_size,
    correlate,
    flat_layout,
    from_planes,
    scratch_planes,
    tap_dots,
    to_planes,
)
from ._numba import FAST_FP, kernel, prange
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
    with threads_for(2 * g.N * g.F * g.HO * g.WO * T):
        return _backward(dout, x, w, dx, dw, db, g, lay, T, need_dx, dtype)


def _backward(dout, x, w, dx, dw, db, g, lay, T, need_dx, dtype):
    """Allocate the scratch and run the kernels of :func:`conv2d_backward`."""
    B = block_size(g.N, lay.PL)
    blocks = -(-g.N // B)
    planes = scratch_planes("x", g, lay, dtype)       # (SH*SW*C, N*PL + D) padded input
    d_planes = scratch_planes("dx", g if need_dx else replace(g, N=0), lay, dtype)  # its grad
    flat_delta = scratch_planes("delta", g, lay, dtype, rows=g.F)  # (F, N*PL + D)
    dw_parts = np.empty((blocks, g.F, T), dtype=dtype)  # per-block dW, (C, KH, KW) flat
    db_parts = np.empty((blocks, g.F), dtype=dtype)
    rot180_weights = w.reshape(-1)[lay.dx_weight_index]  # (C, F*KH*KW) one per dx tap
    _conv_backward_kernel(dout, x, w.reshape(g.F, T), rot180_weights, dx, dw_parts, db_parts,
                          planes, d_planes, flat_delta, B, lay.tap_plane, lay.tap_off,
                          lay.dx_start, lay.dx_src, lay.dx_off,
                          g.SH, g.SW, g.PH, g.PW, lay.WQ, lay.LP, lay.LD, lay.D, lay.PL,
                          dtype.type(0), bool(need_dx))
    _sum_parts_kernel(dw_parts.reshape(blocks, -1), dw.reshape(-1))  # (blocks, F*T) -> dw
    _sum_parts_kernel(db_parts, db)
    return (dx if need_dx else None), dw, db


def _conv_backward_impl(dout, x, w, rot180_weights, dx, dw_parts, db_parts, planes, d_planes,
                        flat_delta, B, tap_plane, tap_off, dx_start, dx_src, dx_off,
                        SH, SW, PH, PW, WQ, LP, LD, D, PL, zero, need_dx):
    """Per-block gradients; shapes as in :func:`conv2d_backward` with w (F, C*KH*KW).

    dw_parts (blocks, F, C*KH*KW) and db_parts (blocks, F) receive one partial
    sum per block of B samples. planes/d_planes (SH*SW*C, N*PL + D) and
    flat_delta (F, N*PL + D) are scratch whose unwritten cells are zero
    (d_planes is cleared here, block by block); the tables and sizes come from
    engine._flat.flat_layout; zero is 0 in the dtype of x; dx is only written
    (and d_planes only used) when need_dx is True.
    """
    N, C = x.shape[0], x.shape[1]
    F = w.shape[0]
    HO, WO = dout.shape[2], dout.shape[3]
    for blk in prange(-(-N // B)):  # each block writes only its own samples' cells
        n0 = blk * B
        n1 = min(N, n0 + B)
        for f in range(F):
            db_parts[blk, f] = zero
        for n in range(n0, n1):
            to_planes(x[n], planes, n * PL, SH, SW, PH, PW, WQ)
            for f in range(F):
                total = zero
                for i in range(HO):  # the delta map, D cells right of the sample's start
                    src = dout[n, f, i]
                    dst = flat_delta[f, n * PL + D + i * WQ:]
                    for j in range(WO):  # row slices indexed from 0: vectorises
                        dst[j] = src[j]
                        total += src[j]
                db_parts[blk, f] += total
        base = n0 * PL
        run = (n1 - n0 - 1) * PL + LP
        tap_dots(dw_parts[blk], flat_delta, base + D, planes, base, run, tap_plane, tap_off,
                 zero)
        if not need_dx:
            continue
        run = (n1 - n0 - 1) * PL + LD
        for r in range(d_planes.shape[0]):  # clear this block's gradient cells
            for k in range(base, base + run):
                d_planes[r, k] = zero
        for p in range(SH * SW):  # dx, one phase (C planes) at a time
            s, e = dx_start[p], dx_start[p + 1]
            if e > s:
                correlate(d_planes[p * C:(p + 1) * C], base, flat_delta, base, run,
                          rot180_weights[:, s:e], dx_src[s:e], dx_off[s:e])
        for n in range(n0, n1):
            from_planes(d_planes, n * PL, dx[n], SH, SW, PH, PW, WQ)


_conv_backward_kernel = kernel(_conv_backward_impl, parallel=True, fastmath=FAST_FP)


def _sum_parts_impl(parts, out):
    """out[k] = sum over n of parts[n, k]; parts (N, K), out (K,) zeroed."""
    N, K = parts.shape
    for n in range(N):  # fixed order: the result does not depend on the thread count
        row = parts[n]
        for k in range(K):
            out[k] += row[k]


_sum_parts_kernel = kernel(_sum_parts_impl)
