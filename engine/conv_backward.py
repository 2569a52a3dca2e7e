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
afterwards in a fixed order, so threads never write the same memory. When one
partial per block would take more than :data:`PART_VALUES` numbers (many blocks
times a large F*C*KH*KW), the kernel runs on consecutive runs of G blocks at a
time (G even, at least 2), summing each run's G partials before the next, so the
partials never take much more memory than the weights themselves; the sums are
added in the same block order either way.

Non-finite inputs: the flat layout multiplies padding, scratch and slack zeros
with inputs and weights (their products are dropped or are zero), and 0 * inf
is NaN. Where that could change the result, the affected gradient is computed
again by direct loops over the cells the windows really reach, as in
engine.reference: dW when the fast dW is not finite (so x, or dout, holds a
non-finite value), dx when a weight is not finite. Finite inputs never take
that path (it costs the fast path one check of w and of the summed dW).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ._arrays import as_float, float_dtype, threads_for
from ._flat import (
    TILE_LANES,
    block_size,
    correlate,
    delta_columns,
    flat_layout,
    from_planes,
    scratch_array,
    scratch_planes,
    tap_dots,
    to_planes,
    unpool_2x2,
    unpool_columns,
)
from ._numba import FAST_FP, kernel, prange
from .geometry import MAX_VALUES, GeometryError, _check_values, check_conv
from .i18n import tr, tr_noop

__all__ = ["conv2d_backward", "conv2d_relu_pool_backward"]


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
        Before any work, for an impossible geometry, a ``dout`` whose shape is
        not the forward output shape, an array that does not hold real numbers,
        or a call that would need more than ``engine.geometry.MAX_MULTIPLY_ADDS``
        multiply-adds or ``engine.geometry.MAX_VALUES`` numbers of scratch.

    Notes
    -----
    NaN and inf give exactly the NaN and inf cells of engine.reference (see the
    module docstring); the dW partial sums take at most about
    ``max(PART_VALUES, 2 * F*C*KH*KW)`` numbers.
    """
    dout, x, w = np.asarray(dout), np.asarray(x), np.asarray(w)
    g = check_conv(x.shape, w.shape, None, stride, padding)
    if dout.shape != g.output_shape:
        raise GeometryError(tr(
            "the upstream gradient has shape {dout}, but the convolution output has shape "
            "{shape}").format(dout=dout.shape, shape=g.output_shape))
    return _gradients(dout, None, x, w, g, need_dx)


def conv2d_relu_pool_backward(dout, winners, x, w, stride=1, padding=0, *, need_dx=True):
    """Backward pass of :func:`engine.conv_forward.conv2d_relu_pool_forward`.

    The gradients of conv2d - ReLU - 2x2 max pooling with respect to the block's
    input and the convolution's weights: each pooled delta goes to its window's
    winning cell when the ReLU let it through (``winners`` >= 0), and the
    convolution's backward pass runs on those deltas, laid straight onto its flat
    grid (the full-size delta maps are never made).

    Parameters
    ----------
    dout : array (N, F, HO // 2, WO // 2)
        Upstream gradient of the pooled output, cast to the dtype of ``x``.
    winners : int8 array, the shape of ``dout``
        As returned by the forward pass.
    x, w, stride, padding, need_dx
        As in :func:`conv2d_backward`.

    Returns
    -------
    dx, dw, db : as :func:`conv2d_backward` (the same values as the three layers'
        backward passes one after another).
    """
    dout, winners = np.asarray(dout), np.asarray(winners)
    x, w = np.asarray(x), np.asarray(w)
    g = check_conv(x.shape, w.shape, None, stride, padding)
    pooled = (g.N, g.F, g.HO // 2, g.WO // 2)
    if dout.shape != pooled or winners.shape != pooled or winners.dtype != np.int8:
        raise GeometryError(tr(
            "the upstream gradient {dout} and the winners {winners} ({dtype}) must both "
            "have the pooled shape {pooled} (winners int8)").format(
                dout=dout.shape, winners=winners.shape, dtype=winners.dtype, pooled=pooled))
    return _gradients(dout, np.ascontiguousarray(winners), x, w, g, need_dx)


def _gradients(dout, winners, x, w, g, need_dx):
    """The checked arrays of both wrappers -> (dx or None, dw, db)."""
    dtype = float_dtype(x)
    dout = as_float(dout, dtype, tr_noop("the upstream gradient"))
    x, w = as_float(x, dtype), as_float(w, dtype, tr_noop("the kernels"))
    # without need_dx the kernel gets a 0-sample dx it never touches
    dx = np.empty(g.input_shape if need_dx else (0, g.C, g.H, g.W), dtype=dtype)
    dw = np.zeros(w.shape, dtype=dtype)
    db = np.zeros(g.F, dtype=dtype)
    if g.N == 0:
        return (dx if need_dx else None), dw, db
    lay = flat_layout(g)
    # the padded input, its gradient and the F delta maps, each laid on the padded grid
    planes = g.SH * g.SW * g.C
    scratch = (planes * (2 if need_dx else 1) + g.F) * (g.N * lay.PL + lay.D)
    if scratch > MAX_VALUES:
        _check_values(scratch, tr_noop("the backward pass's working memory"))
    T = g.C * g.KH * g.KW
    with threads_for(2 * g.N * g.F * g.HO * g.WO * T):
        return _backward(dout, winners, x, w, dx, dw, db, g, lay, T, need_dx, dtype)


# The most numbers the per-block dW partial sums of one kernel call may take: 4 Mi
# numbers, 16 MiB in float32. One partial per block stays below it for every workload of the
# benchmarks (e.g. W3: 16 blocks x 1,152 weights).
PART_VALUES = 2**22


def part_groups(blocks: int, values_per_part: int) -> int:
    """How many blocks (G) one kernel call runs in parallel, one dW partial sum each.

    All of them while their partials fit in :data:`PART_VALUES` numbers; otherwise
    an even number (at least 2), the kernel then being called on consecutive runs
    of G blocks. It depends on the sizes only, never on the thread count, so
    neither do the results.
    """
    if blocks * values_per_part <= PART_VALUES:
        return blocks
    groups = max(2, PART_VALUES // max(values_per_part, 1))
    return min(blocks, groups - groups % 2)


def _backward(dout, winners, x, w, dx, dw, db, g, lay, T, need_dx, dtype):
    """Allocate the scratch and run the kernels; dout is pooled when winners is not None."""
    B = block_size(g.N, lay.PL)
    blocks = -(-g.N // B)
    G = part_groups(blocks, g.F * T)
    planes = scratch_planes("x", g, lay, dtype)       # (SH*SW*C, N*PL + D) padded input
    no_dx = replace(g, N=0)  # the flat delta and dx planes only serve dx
    d_planes = scratch_planes("dx", g if need_dx else no_dx, lay, dtype)  # its grad
    flat_delta = scratch_planes("delta", g if need_dx else no_dx, lay, dtype, rows=g.F)
    deltas = scratch_array("deltas", g, ((g.N * lay.PL + 1) * g.F + TILE_LANES,), dtype)
    dw_parts = np.empty((G, T, g.F), dtype=dtype)  # per-block dW, transposed
    db_parts = np.empty((G, g.F), dtype=dtype)
    rot180_weights = w.reshape(-1)[lay.dx_weight_index]  # (C, F*KH*KW) one per dx tap
    dx_abs = lay.dx_src * flat_delta.shape[1] + lay.dx_off  # where each dx tap starts
    d_planes3 = d_planes.reshape(g.SH * g.SW, g.C, -1)  # (phase, channel, flat)
    dwt = np.zeros((T, g.F), dtype=dtype)  # dW transposed, (C*KH*KW, F)
    for first in range(0, blocks, G):  # one pass unless the partials would be too large
        count = min(G, blocks - first)
        _conv_backward_kernel(dout, _NO_WINNERS if winners is None else winners,
                              x, w.reshape(g.F, T), rot180_weights, dx,
                              dw_parts[:count], db_parts[:count], planes, planes.reshape(-1),
                              d_planes3, flat_delta, flat_delta.reshape(-1), deltas, B, first,
                              lay.tap_plane * planes.shape[1] + lay.tap_off, lay.dx_start,
                              dx_abs, g.SH, g.SW, g.PH, g.PW, lay.WQ, lay.L, lay.LD, lay.D,
                              lay.PL, g.HO, g.WO, dtype.type(0), bool(need_dx))
        # (count, T*F) added in block order; False if a sum is not finite
        dw_finite = _sum_parts_kernel(dw_parts[:count].reshape(count, -1), dwt.reshape(-1))
        _sum_parts_kernel(db_parts[:count], db)
    dw[...] = dwt.T.reshape(dw.shape)
    zero = dtype.type(0)
    if winners is not None and not (dw_finite and _all_finite_kernel(w.reshape(-1))):
        dout = _unpool(dout, winners, g.HO, g.WO)  # the direct loops need the full deltas
    if not dw_finite:  # a non-finite x or dout: zeros of the layout may have met it
        _dw_exact_kernel(dout, x, dw, g.SH, g.SW, g.PH, g.PW, zero)
    if need_dx and not _all_finite_kernel(w.reshape(-1)):  # zeros times a non-finite weight
        dx[...] = 0
        _dx_exact_kernel(dout, w, dx, g.SH, g.SW, g.PH, g.PW)
    return (dx if need_dx else None), dw, db


def _unpool(dout, winners, HO, WO):
    """The (N, F, HO, WO) delta maps of a pooled dout: each value at its winning cell."""
    full = np.zeros(dout.shape[:2] + (HO, WO), dtype=dout.dtype)
    HP, WP = dout.shape[2], dout.shape[3]
    for cell in range(4):
        a, b = divmod(cell, 2)
        full[:, :, a:2 * HP:2, b:2 * WP:2] = np.where(winners == cell, dout, 0)
    return full


# the empty winners of a plain backward pass (one kernel, compiled once, serves both)
_NO_WINNERS = np.empty((0, 0, 0, 0), dtype=np.int8)


def _conv_backward_impl(dout, winners, x, w, rot180_weights, dx, dw_parts, db_parts, planes,
                        flat_planes, d_planes, flat_delta, flat_delta_1d, deltas, B, first,
                        tap_abs, dx_start, dx_abs, SH, SW, PH, PW, WQ, L, LD, D, PL, HO, WO,
                        zero, need_dx):
    """Per-block gradients; shapes as in :func:`conv2d_backward` with w (F, C*KH*KW).

    With a non-empty ``winners`` (int8, the shape of dout) dout is the pooled delta
    of conv2d_relu_pool_backward, laid onto the flat grid at the winning cells;
    HO, WO are the convolution output's size either way.

    Runs the blocks ``first`` to ``first + G - 1`` of B samples each (G =
    dw_parts.shape[0]): dw_parts (G, C*KH*KW, F) (dW transposed) and db_parts (G, F)
    receive one partial sum per block. planes (SH*SW*C, N*PL + D) (flat_planes: the
    same memory flattened, tap_abs (C*KH*KW,) where each tap starts in it) and
    deltas (position-major, engine._flat.tap_dots) are scratch whose unwritten cells
    are zero; for dx, flat_delta (F, N*PL + D) (flat_delta_1d: flattened; dx_abs
    (F*KH*KW,) where each dx tap starts in it) and d_planes (SH*SW, C, N*PL + D),
    overwritten sample by sample, are used only when need_dx is True. The tables
    and sizes come from engine._flat.flat_layout (L the flat length of one output
    map); zero is 0 in the dtype of x.
    """
    N, C = x.shape[0], x.shape[1]
    F = w.shape[0]
    pooled = winners.size > 0  # dout is then pooled: (N, F, HO // 2, WO // 2)
    zeros = np.zeros(C, dtype=x.dtype)  # the dx maps start from 0
    for k in prange(dw_parts.shape[0]):  # each block writes only its own samples' cells
        n0 = (first + k) * B
        n1 = min(N, n0 + B)
        for f in range(F):
            db_parts[k, f] = zero
        for n in range(n0, n1):
            base = n * PL
            to_planes(x[n], planes, base, SH, SW, PH, PW, WQ)
            if pooled:  # the delta maps, position-major (for dW) and on the flat grid
                unpool_columns(deltas, base, F, WQ, HO, WO, dout[n], winners[n], db_parts[k],
                               zero)  # (and D cells right, for dx)
            else:
                delta_columns(deltas, base, F, WQ, dout[n], db_parts[k], zero)
            if not need_dx:
                continue
            for f in range(F):
                if pooled:
                    unpool_2x2(flat_delta[f], base + D, WQ, HO, dout.shape[3],
                               dout[n, f].reshape(-1), winners[n, f].reshape(-1), zero)
                    continue
                for i in range(HO):
                    src = dout[n, f, i]
                    dst = flat_delta[f, base + D + i * WQ:]
                    for j in range(WO):  # row slices indexed from 0: vectorises
                        dst[j] = src[j]
        tap_dots(dw_parts[k], flat_planes, tap_abs, deltas, F, n0, n1, L, PL)
        if not need_dx:
            continue
        # stride 1: only the cells of the input (not its padding), while they stay
        # inside the sample's own part of the planes
        H, W = x.shape[2], x.shape[3]
        first_cell = PH * WQ + PW
        cells = -(-((H - 1) * WQ + W) // TILE_LANES) * TILE_LANES
        if SH * SW > 1 or first_cell + cells > PL:
            first_cell, cells = 0, LD
        for n in range(n0, n1):  # dx: the padded delta correlated with the rot180 kernel
            base = n * PL + first_cell
            for p in range(SH * SW):  # one phase (C planes) at a time; no taps: zeros
                s, e = dx_start[p], dx_start[p + 1]
                correlate(d_planes[p], base, flat_delta_1d, base, cells,
                          rot180_weights[:, s:e], dx_abs[s:e], zeros)
            base = n * PL
            from_planes(d_planes.reshape(-1, d_planes.shape[2]), base, dx[n], SH, SW, PH, PW,
                        WQ)


_conv_backward_kernel = kernel(_conv_backward_impl, parallel=True, fastmath=FAST_FP)


def _sum_parts_impl(parts, out):
    """out[k] += sum over n of parts[n, k]; parts (N, K), out (K,).

    Returns True when every out[k] is finite afterwards.
    """
    N, K = parts.shape
    for n in range(N):  # fixed order: the result does not depend on the thread count
        row = parts[n]
        for k in range(K):
            out[k] += row[k]
    finite = True
    for k in range(K):
        finite &= math.isfinite(out[k])
    return finite


_sum_parts_kernel = kernel(_sum_parts_impl)


def _all_finite_impl(a):
    """True when every value of the 1-D array ``a`` is finite."""
    finite = True
    for k in range(a.shape[0]):
        finite &= math.isfinite(a[k])
    return finite


_all_finite_kernel = kernel(_all_finite_impl)


def _dw_exact_impl(dout, x, dw, SH, SW, PH, PW, zero):
    """dW by direct loops over the cells the windows reach (as engine.reference).

    dout (N, F, HO, WO), x (N, C, H, W) -> dw (F, C, KH, KW), overwritten. A padding
    cell reads as zero (and 0 * inf is NaN there, as in the reference); cells no
    window reaches are never read. For inputs that are not all finite only.
    """
    N, C, H, W = x.shape
    F, KH, KW = dw.shape[0], dw.shape[2], dw.shape[3]
    HO, WO = dout.shape[2], dout.shape[3]
    for f in range(F):
        for c in range(C):
            for u in range(KH):
                for v in range(KW):
                    total = zero
                    for n in range(N):
                        for i in range(HO):
                            r = i * SH + u - PH
                            for j in range(WO):
                                s = j * SW + v - PW
                                cell = x[n, c, r, s] if 0 <= r < H and 0 <= s < W else zero
                                total += cell * dout[n, f, i, j]
                    dw[f, c, u, v] = total


_dw_exact_kernel = kernel(_dw_exact_impl)


def _dx_exact_impl(dout, w, dx, SH, SW, PH, PW):
    """dx by direct loops over the window taps (as engine.reference).

    dout (N, F, HO, WO), w (F, C, KH, KW) -> dx (N, C, H, W) zeroed, accumulated;
    products that land on padding are dropped, so a non-finite weight reaches only
    the cells its tap reads. For weights that are not all finite only.
    """
    N, C, H, W = dx.shape
    F, KH, KW = w.shape[0], w.shape[2], w.shape[3]
    HO, WO = dout.shape[2], dout.shape[3]
    for n in range(N):
        for f in range(F):
            for i in range(HO):
                for j in range(WO):
                    delta = dout[n, f, i, j]
                    for c in range(C):
                        for u in range(KH):
                            r = i * SH + u - PH
                            if r < 0 or r >= H:
                                continue
                            for v in range(KW):
                                s = j * SW + v - PW
                                if 0 <= s < W:
                                    dx[n, c, r, s] += w[f, c, u, v] * delta


_dx_exact_kernel = kernel(_dx_exact_impl)
