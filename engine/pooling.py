"""Max and average pooling, forward and backward, in Numba.

Every (sample, channel) plane is independent, so the kernels run ``prange`` over
the N*C planes of a batch viewed as (N*C, H, W): each iteration writes only its
own plane. Pooling has no padding here; input rows/columns that no window
reaches (when the stride does not tile the input) get a zero gradient.

Max pooling records, for every window, the flat index ``row * W + col`` of the
winning input cell in its (H, W) plane (the *argmax map*, int64). On ties the
first maximum in row-major order wins, as in PyTorch. (A NaN wins its window
only when it is the window's first cell, exactly as in engine.reference.)
Overlapping windows (stride < size) may pick the same cell more than once: the
backward pass then adds up all of its deltas.
"""

from __future__ import annotations

import numpy as np

from ._arrays import POOL_COST, as_float, float_dtype, threads_for
from ._numba import kernel, prange
from .geometry import GeometryError, _check_values, _shape_of, check_pool
from .i18n import tr, tr_noop

__all__ = [
    "max_pool2d_forward",
    "max_pool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
]


# ---------------------------------------------------------------- max pooling

def max_pool2d_forward(x, size=2, stride=2):
    """Max pooling with the argmax map.

    Parameters
    ----------
    x : array (N, C, H, W)
        float32 or float64 (other dtypes become float64).
    size : int or (h, w) pair
        Window size KH x KW.
    stride : int or (h, w) pair, or None
        Window step; None means equal to ``size``.

    Returns
    -------
    y : array (N, C, HO, WO), dtype of ``x``
    argmax : int64 array (N, C, HO, WO)
        Flat index ``row * W + col`` of each window's maximum in the (H, W)
        plane; ties go to the first maximum in row-major order.
    """
    x = np.asarray(x)
    g = check_pool(x.shape, size, stride)
    x = as_float(x, float_dtype(x))
    y = np.empty(g.output_shape, dtype=x.dtype)
    argmax = np.empty(g.output_shape, dtype=np.int64)
    planes = g.N * g.C
    with threads_for(x.size * POOL_COST):
        _max_pool_forward_kernel(x.reshape(planes, g.H, g.W),  # (N*C, H, W)
                                 y.reshape(planes, g.HO, g.WO),
                                 argmax.reshape(planes, g.HO, g.WO), g.SH, g.SW, g.KH, g.KW)
    return y, argmax


def max_pool2d_backward(dout, argmax, input_shape):
    """Route each delta to the input cell that won its window.

    Parameters
    ----------
    dout : array (N, C, HO, WO)
        Upstream gradient; float32 or float64 (other dtypes become float64).
    argmax : int array (N, C, HO, WO)
        The argmax map returned by :func:`max_pool2d_forward`.
    input_shape : tuple (N, C, H, W)
        Shape of the forward input.

    Returns
    -------
    dx : array (N, C, H, W), dtype of ``dout``
        Zero except at winning cells; a cell that won several overlapping
        windows receives the sum of their deltas.
    """
    dout, argmax = np.asarray(dout), np.asarray(argmax)
    N, C, H, W = _shape_of(input_shape, tr_noop("the input shape"), 4, "NCHW")
    _check_values(N * C * H * W, tr_noop("the input"))
    _shape_of(dout, tr_noop("the upstream gradient"), 4, "NCHW")
    if argmax.shape != dout.shape:
        raise GeometryError(tr(
            "the argmax map has shape {argmax} but the upstream gradient has shape {dout}: "
            "they must match").format(argmax=argmax.shape, dout=dout.shape))
    if dout.shape[:2] != (N, C):
        raise GeometryError(tr(
            "the upstream gradient has {dn} sample(s) and {dc} channel(s), but the input "
            "shape {shape} has {n} and {c}").format(dn=dout.shape[0], dc=dout.shape[1],
                                                   shape=tuple(input_shape), n=N, c=C))
    if dout.shape[2] > H or dout.shape[3] > W:
        raise GeometryError(tr(
            "the upstream gradient is {dh}x{dw}, larger than the {h}x{w} input: a pooling "
            "output is never larger than its input").format(dh=dout.shape[2], dw=dout.shape[3],
                                                            h=H, w=W))
    if not np.issubdtype(argmax.dtype, np.integer):
        raise GeometryError(tr("the argmax map must hold whole numbers, not {dtype}").format(
            dtype=argmax.dtype))
    dtype = float_dtype(dout, tr_noop("the upstream gradient"))
    dout, argmax = as_float(dout, dtype), np.ascontiguousarray(argmax, dtype=np.int64)
    dx = np.zeros((N, C, H, W), dtype=dtype)
    HO, WO = dout.shape[2], dout.shape[3]
    with threads_for(dx.size * POOL_COST):
        bad = _max_pool_backward_kernel(dout.reshape(N * C, HO * WO),  # (N*C, HO*WO)
                                        argmax.reshape(N * C, HO * WO),
                                        dx.reshape(N * C, H * W))
    if bad:
        raise GeometryError(tr(
            "{bad} argmax value(s) do not point inside a {h}x{w} input plane (valid flat "
            "indices are 0 to {last})").format(bad=bad, h=H, w=W, last=H * W - 1))
    return dx


@kernel
def _max_pool_2x2_plane(xp, yp, ap):
    """2x2 windows, stride 2, on one plane: xp (H, W) -> yp, ap (HO, WO).

    The common case, written with selects instead of branches (random data
    mispredicts them); same first-maximum rule as the general loop.
    """
    W = xp.shape[1]
    for i in range(yp.shape[0]):
        r0, r1 = xp[2 * i], xp[2 * i + 1]
        yrow, arow = yp[i], ap[i]
        base = 2 * i * W
        for j in range(yrow.shape[0]):
            best, rel = r0[2 * j], 0
            v = r0[2 * j + 1]
            better = v > best
            best, rel = (v, 1) if better else (best, rel)
            v = r1[2 * j]
            better = v > best
            best, rel = (v, W) if better else (best, rel)
            v = r1[2 * j + 1]
            better = v > best
            best, rel = (v, W + 1) if better else (best, rel)
            yrow[j] = best
            arow[j] = base + 2 * j + rel


def _max_pool_forward_impl(x, y, argmax, SH, SW, KH, KW):
    """x (P, H, W) -> y, argmax (P, HO, WO); P = N*C planes."""
    P, W = x.shape[0], x.shape[2]
    HO, WO = y.shape[1], y.shape[2]
    fast = KH == 2 and KW == 2 and SH == 2 and SW == 2
    for p in prange(P):  # each plane writes only y[p] and argmax[p]
        xp = x[p]
        if fast:
            _max_pool_2x2_plane(xp, y[p], argmax[p])
            continue
        for i in range(HO):
            for j in range(WO):
                r0, s0 = i * SH, j * SW
                best = xp[r0, s0]
                best_idx = r0 * W + s0
                for u in range(KH):
                    row = xp[r0 + u, s0:s0 + KW]
                    for v in range(KW):
                        # strict '>' keeps the first maximum (as engine.reference)
                        if row[v] > best:
                            best = row[v]
                            best_idx = (r0 + u) * W + s0 + v
                y[p, i, j] = best
                argmax[p, i, j] = best_idx


_max_pool_forward_kernel = kernel(_max_pool_forward_impl, parallel=True)


def _max_pool_backward_impl(dout, argmax, dx):
    """dout, argmax (P, HO*WO) -> dx (P, H*W) zeroed; returns the count of bad indices."""
    P, M = dout.shape
    HW = dx.shape[1]
    bad = 0
    for p in prange(P):  # each plane writes only dx[p]
        for k in range(M):
            idx = argmax[p, k]
            if 0 <= idx < HW:
                dx[p, idx] += dout[p, k]
            else:
                bad += 1  # a prange reduction
    return bad


_max_pool_backward_kernel = kernel(_max_pool_backward_impl, parallel=True)


# ------------------------------------------------------------ average pooling

def avg_pool2d_forward(x, size=2, stride=2):
    """Average pooling.

    Parameters
    ----------
    x : array (N, C, H, W)
        float32 or float64 (other dtypes become float64).
    size : int or (h, w) pair
        Window size KH x KW.
    stride : int or (h, w) pair, or None
        Window step; None means equal to ``size``.

    Returns
    -------
    y : array (N, C, HO, WO), dtype of ``x``
        The mean of each window.
    """
    x = np.asarray(x)
    g = check_pool(x.shape, size, stride)
    x = as_float(x, float_dtype(x))
    y = np.empty(g.output_shape, dtype=x.dtype)
    share = x.dtype.type(1.0 / (g.KH * g.KW))
    with threads_for(x.size * POOL_COST):
        _avg_pool_forward_kernel(x.reshape(g.N * g.C, g.H, g.W),  # (N*C, H, W)
                                 y.reshape(g.N * g.C, g.HO, g.WO), g.SH, g.SW, g.KH, g.KW,
                                 share)
    return y


def avg_pool2d_backward(dout, input_shape, size=2, stride=2):
    """Spread each delta evenly over the cells of its window.

    Parameters
    ----------
    dout : array (N, C, HO, WO)
        Upstream gradient; float32 or float64 (other dtypes become float64).
    input_shape : tuple (N, C, H, W)
        Shape of the forward input.
    size, stride : int or (h, w) pair
        As in the forward pass.

    Returns
    -------
    dx : array (N, C, H, W), dtype of ``dout``
        Each cell collects ``delta / (KH * KW)`` from every window covering it.
    """
    dout = np.asarray(dout)
    g = check_pool(input_shape, size, stride)
    if dout.shape != g.output_shape:
        raise GeometryError(tr(
            "the upstream gradient has shape {dout}, but this pooling produces shape "
            "{shape}").format(dout=dout.shape, shape=g.output_shape))
    dout = as_float(dout, float_dtype(dout, tr_noop("the upstream gradient")))
    dx = np.zeros(g.input_shape, dtype=dout.dtype)
    share = dout.dtype.type(1.0 / (g.KH * g.KW))
    with threads_for(dx.size * POOL_COST):
        _avg_pool_backward_kernel(dout.reshape(g.N * g.C, g.HO, g.WO),  # (N*C, HO, WO)
                                  dx.reshape(g.N * g.C, g.H, g.W), g.SH, g.SW, g.KH, g.KW,
                                  share)
    return dx


def _avg_pool_forward_impl(x, y, SH, SW, KH, KW, share):
    """x (P, H, W) -> y (P, HO, WO); share = 1 / (KH*KW) in the dtype of x."""
    P = x.shape[0]
    HO, WO = y.shape[1], y.shape[2]
    for p in prange(P):  # each plane writes only y[p]
        xp = x[p]
        for i in range(HO):
            for j in range(WO):
                r0, s0 = i * SH, j * SW
                total = share - share  # a zero of x's dtype (float32 stays float32)
                for u in range(KH):
                    row = xp[r0 + u, s0:s0 + KW]
                    for v in range(KW):
                        total += row[v]
                y[p, i, j] = total * share


_avg_pool_forward_kernel = kernel(_avg_pool_forward_impl, parallel=True)


def _avg_pool_backward_impl(dout, dx, SH, SW, KH, KW, share):
    """dout (P, HO, WO) -> dx (P, H, W) zeroed; overlapping windows accumulate."""
    P = dout.shape[0]
    HO, WO = dout.shape[1], dout.shape[2]
    for p in prange(P):  # each plane writes only dx[p]
        dxp = dx[p]
        for i in range(HO):
            for j in range(WO):
                r0, s0 = i * SH, j * SW
                part = dout[p, i, j] * share
                for u in range(KH):
                    row = dxp[r0 + u, s0:s0 + KW]
                    for v in range(KW):
                        row[v] += part


_avg_pool_backward_kernel = kernel(_avg_pool_backward_impl, parallel=True)
