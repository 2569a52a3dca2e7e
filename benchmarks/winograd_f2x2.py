"""An experiment: Winograd F(2x2, 3x3) for the float32 3x3 stride-1 convolution.

Not used by the app. Issue 14 asks for every conv layer shape of the default network at
1.5x PyTorch CPU; the direct flat-layout kernels (engine/_flat.py) reach 0.6x on D2
(16 -> 32 channels, 14x14) on AMD Zen 5, and 1.5x would need about 90 % of the fp32
peak with direct convolution. Winograd's F(2x2, 3x3) does 2.25x fewer
multiplications; this is a complete, tested-against-the-reference implementation of
the forward pass and the gradients (dx, dW, db) in the engine's style, kept with its
measurements so that the next attempt starts from numbers, not from scratch.
``python -m benchmarks.winograd_f2x2`` checks it against engine.reference (float64) and
times it against the engine's direct kernels and PyTorch, interleaved.

Result (benchmarks/README.md, "Winograd"): about as fast as the direct kernels, not
faster. The 16 products are fast (a dedicated register tile, :func:`_gemm_tile`:
175-195 GFLOP/s on one Zen 5 core, where engine._flat.correlate with only C "taps"
ran at 67), but on 14x14 maps everything around them costs as much again: the
stride-2 phase split of the input (rows of 7 values, scalar), the input and output
transforms (16 values written and read per tile and channel or filter), the output
rows copied out, and the tile grid's scratch column and rounding (1/8 and more of the
products). One Zen 5 core, D2 forward: phase split 0.13 ms, input transform 0.08,
products 0.29, output transform 0.10, output rows 0.13 (direct kernel: 0.84 in all).

The algorithm
-------------
A 2x2 output tile comes from a 4x4 input tile d: ``V = B^T d B`` and ``U = G g G^T``
(kernel g), ``M = sum_c U * V`` cell by cell, ``Y = A^T M A``. Over a batch the sums
over the channels are 16 independent matrix products, one per tile cell p:
``M[p] (F, T) = U[p] (F, C) @ V[p] (C, T)`` with T tiles.

* dx is a stride-1 3x3 convolution of the delta with the rotated kernels (channels
  and filters swapped), padded by ``2 - P``: the forward kernel computes it.
* dW: the delta's 2x2 tiles transformed, ``dM = A dY A^T``, give
  ``dU[p]^T (C, F) = V[p] (C, T) @ dM[p]^T`` (engine._flat.tap_dots on position-major
  deltas), and ``dW = G^T dU G``. db is the delta's sum.

Layout: the padded input of one sample is split into its four phase planes (rows and
columns even or odd: engine._flat.to_planes with stride 2), of row width
``WQ2 = TW + 1``. Tile (ty, tx) then starts at the flat position ``t = ty * WQ2 + tx``
of every plane and its 16 cells are the four planes at the offsets 0, 1, WQ2 and
WQ2 + 1: each transform is one long loop, in passes of one vector through a stack
tile (one loop per stored row: a loop storing 16 rows stayed scalar, 5-10x slower).
The samples of a block lie end to end on the tile axis (``LT = TH * WQ2`` positions
each); each thread keeps its own scratch.

Numerics: fp32 errors about 2.5x the direct kernels' (6.1e-7 against 2.4e-7 relative to
the sums of absolute values, :func:`check`'s shapes; the transforms add up to nine
values). Non-finite inputs would spread into cells the true convolution never reaches
(a tile transform mixes 16 cells), so a real integration must fall back to the direct
kernels for them (engine.conv_backward's _all_finite_kernel).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

# PyTorch's OpenMP runtime reads OMP_WAIT_POLICY when torch is imported; the engine sets
# it for Numba's (engine/_numba.py): torch first, as in bench.py.
try:
    import torch
except Exception:  # noqa: BLE001 - no torch: its column is left out
    torch = None

import numba  # noqa: E402
import numpy as np  # noqa: E402

from engine._arrays import threads_for  # noqa: E402
from engine._flat import TILE_LANES, scratch_array, tap_dots, to_planes  # noqa: E402
from engine._numba import FAST_FP, VECTOR_LANES, kernel, prange, stack_array  # noqa: E402
from engine.geometry import ConvGeometry  # noqa: E402

__all__ = ["winograd_forward", "winograd_backward", "layout"]

#: The most numbers of one block's working set (V and M, 16 tile cells): 768 KiB, inside
#: the L2 cache of one core (1 MiB on Zen 5, 2 MiB on Sapphire Rapids).
BLOCK_VALUES = 192 * 1024


@dataclass(frozen=True)
class WinogradLayout:
    """Sizes of the tile grid of one Winograd convolution (see the module docstring).

    Attributes
    ----------
    TH, TW : tile rows and columns (ceil(HO / 2), ceil(WO / 2))
    WQ2 : row width of the phase planes and of the flat tile grid (TW + 1)
    PS : per-sample length of one phase plane ((TH + 1) * WQ2)
    LT : flat tile positions per sample (TH * WQ2)
    B : samples per block
    TB : tile positions of a block, B * LT rounded up to whole register tiles
    VL : row length of the transformed tiles (TB and one vector of slack)
    YL : length of one output parity plane (2 * LT and two vectors of slack)
    """

    TH: int
    TW: int
    WQ2: int
    PS: int
    LT: int
    B: int
    TB: int
    VL: int
    YL: int


def layout(HO: int, WO: int, C: int, F: int, N: int) -> WinogradLayout:
    """The (cached) tile layout for an output of HO x WO, C inputs and F outputs."""
    return _layout(HO, WO, C, F, N)


@lru_cache(maxsize=128)
def _layout(HO, WO, C, F, N) -> WinogradLayout:
    TH, TW = -(-HO // 2), -(-WO // 2)
    WQ2 = TW + 1
    LT = TH * WQ2
    most = max(1, min(N, BLOCK_VALUES // (16 * (C + F) * LT)))
    # the block whose tiles fill their register tiles best (the product runs over whole
    # tiles of TILE_LANES positions), then the larger one
    B = min(range(1, most + 1), key=lambda n: (-(-(n * LT) // TILE_LANES) * TILE_LANES
                                               / (n * LT), -n))
    TB = -(-(B * LT) // TILE_LANES) * TILE_LANES
    return WinogradLayout(TH, TW, WQ2, (TH + 1) * WQ2, LT, B, TB, TB + VECTOR_LANES,
                          2 * (LT + VECTOR_LANES))


def _threads() -> int:
    """How many per-thread scratch slots the parallel kernels may use."""
    return numba.config.NUMBA_NUM_THREADS


# ------------------------------------------------------------------ weight transforms

@kernel(fastmath=FAST_FP)
def _weights_impl(w, u, flip):
    """U = G g G^T of every kernel, transposed for the products: w (F, C, 3, 3) ->
    u (16, C, F) (``u[p, c, f]``), or with ``flip`` that of the rotated kernels with
    channels and filters swapped (dx, whose inputs are the F delta maps): -> u (16, F, C)."""
    F, C = w.shape[0], w.shape[1]
    half = np.float32(0.5)
    g = np.empty((3, 3), dtype=w.dtype)
    t = np.empty((4, 3), dtype=w.dtype)
    for f in range(F):
        for c in range(C):
            for i in range(3):
                for j in range(3):
                    g[i, j] = w[f, c, 2 - i, 2 - j] if flip else w[f, c, i, j]
            for j in range(3):  # t = G g (4, 3)
                t[0, j] = g[0, j]
                t[1, j] = half * (g[0, j] + g[1, j] + g[2, j])
                t[2, j] = half * (g[0, j] - g[1, j] + g[2, j])
                t[3, j] = g[2, j]
            for i in range(4):  # U = t G^T (4, 4)
                a, b, d = t[i, 0], t[i, 1], t[i, 2]
                vals = (a, half * (a + b + d), half * (a - b + d), d)
                for j in range(4):
                    if flip:
                        u[4 * i + j, f, c] = vals[j]
                    else:
                        u[4 * i + j, c, f] = vals[j]


@kernel(fastmath=FAST_FP)
def _dw_from_du_impl(du, dw):
    """dW = G^T dU G: du (16, C, F) (dU transposed) -> dw (F, C, 3, 3)."""
    C, F = du.shape[1], du.shape[2]
    half = np.float32(0.5)
    m = np.empty((4, 4), dtype=du.dtype)
    t = np.empty((3, 4), dtype=du.dtype)
    for f in range(F):
        for c in range(C):
            for p in range(16):
                m[p // 4, p % 4] = du[p, c, f]
            for j in range(4):  # t = G^T m (3, 4)
                t[0, j] = m[0, j] + half * (m[1, j] + m[2, j])
                t[1, j] = half * (m[1, j] - m[2, j])
                t[2, j] = half * (m[1, j] + m[2, j]) + m[3, j]
            for i in range(3):  # dw = t G (3, 3)
                dw[f, c, i, 0] = t[i, 0] + half * (t[i, 1] + t[i, 2])
                dw[f, c, i, 1] = half * (t[i, 1] - t[i, 2])
                dw[f, c, i, 2] = half * (t[i, 1] + t[i, 2]) + t[i, 3]


# ------------------------------------------------------------------ tile transforms

_NONNEG = (1 << 62) - 1


L = VECTOR_LANES


@kernel(fastmath=FAST_FP)
def _input_transform(planes, base, c, C, v, off, LT, WQ2):
    """V = B^T d B of every tile of one sample's channel c.

    planes (4*C, len): the four phase planes of the padded sample from ``base``
    (row ``phase * C + c``, phase = 2 * row parity + column parity, row width WQ2);
    v (16, C, len_v) gets the 16 cells of each tile at ``v[p, c, off + t]``, t < LT.

    In passes of one vector of tiles (VECTOR_LANES): the 16 input vectors are loaded
    into a stack tile, transformed there, and each of the 16 results stored by a loop
    of its own (one loop storing all of them would need run-time overlap checks of
    16 pointers, which LLVM does not do: it stayed scalar, 5x slower). A pass reads
    up to VECTOR_LANES - 1 tiles past LT (the planes need that slack) and writes them
    (into the next sample's tiles, written afterwards, or the block's slack).
    """
    x00, x01 = planes[c, base:], planes[C + c, base:]
    x10, x11 = planes[2 * C + c, base:], planes[3 * C + c, base:]
    d = stack_array(v, 16, L)
    r = stack_array(v, 16, L)
    for t0 in range(0, LT, L):
        # the 16 cells of each tile: d[4 i + j] = padded[2 ty + i, 2 tx + j]
        s00, s01 = x00[t0:], x01[t0:]
        s10, s11 = x10[t0:], x11[t0:]
        s20, s21 = x00[t0 + WQ2:], x01[t0 + WQ2:]
        s30, s31 = x10[t0 + WQ2:], x11[t0 + WQ2:]
        for k in range(L):
            d[0, k] = s00[k]
        for k in range(L):
            d[1, k] = s01[k]
        for k in range(L):
            d[2, k] = s00[k + 1]
        for k in range(L):
            d[3, k] = s01[k + 1]
        for k in range(L):
            d[4, k] = s10[k]
        for k in range(L):
            d[5, k] = s11[k]
        for k in range(L):
            d[6, k] = s10[k + 1]
        for k in range(L):
            d[7, k] = s11[k + 1]
        for k in range(L):
            d[8, k] = s20[k]
        for k in range(L):
            d[9, k] = s21[k]
        for k in range(L):
            d[10, k] = s20[k + 1]
        for k in range(L):
            d[11, k] = s21[k + 1]
        for k in range(L):
            d[12, k] = s30[k]
        for k in range(L):
            d[13, k] = s31[k]
        for k in range(L):
            d[14, k] = s30[k + 1]
        for k in range(L):
            d[15, k] = s31[k + 1]
        for k in range(L):
            # rows: B^T d
            r00, r01, r02, r03 = d[0, k] - d[8, k], d[1, k] - d[9, k], d[2, k] - d[10, k], \
                d[3, k] - d[11, k]
            r10, r11, r12, r13 = d[4, k] + d[8, k], d[5, k] + d[9, k], d[6, k] + d[10, k], \
                d[7, k] + d[11, k]
            r20, r21, r22, r23 = d[8, k] - d[4, k], d[9, k] - d[5, k], d[10, k] - d[6, k], \
                d[11, k] - d[7, k]
            r30, r31, r32, r33 = d[4, k] - d[12, k], d[5, k] - d[13, k], d[6, k] - d[14, k], \
                d[7, k] - d[15, k]
            # columns: (B^T d) B
            r[0, k], r[1, k], r[2, k], r[3, k] = r00 - r02, r01 + r02, r02 - r01, r01 - r03
            r[4, k], r[5, k], r[6, k], r[7, k] = r10 - r12, r11 + r12, r12 - r11, r11 - r13
            r[8, k], r[9, k], r[10, k], r[11, k] = r20 - r22, r21 + r22, r22 - r21, r21 - r23
            r[12, k], r[13, k], r[14, k], r[15, k] = r30 - r32, r31 + r32, r32 - r31, \
                r31 - r33
        o = (off + t0) & _NONNEG
        _store_row(v[0, c], o, r, 0)
        _store_row(v[1, c], o, r, 1)
        _store_row(v[2, c], o, r, 2)
        _store_row(v[3, c], o, r, 3)
        _store_row(v[4, c], o, r, 4)
        _store_row(v[5, c], o, r, 5)
        _store_row(v[6, c], o, r, 6)
        _store_row(v[7, c], o, r, 7)
        _store_row(v[8, c], o, r, 8)
        _store_row(v[9, c], o, r, 9)
        _store_row(v[10, c], o, r, 10)
        _store_row(v[11, c], o, r, 11)
        _store_row(v[12, c], o, r, 12)
        _store_row(v[13, c], o, r, 13)
        _store_row(v[14, c], o, r, 14)
        _store_row(v[15, c], o, r, 15)


@kernel
def _store_row(dst_row, o, r, p):
    """dst_row[o:o + VECTOR_LANES] = r[p]."""
    dst = dst_row[o:]
    for k in range(L):
        dst[k] = r[p, k]


@kernel(fastmath=FAST_FP)
def _output_transform(m, f, off, LT, bias, y0, y1):
    """Y = A^T M A + bias of every tile of one sample's filter f.

    m (16, F, len) from position ``off``; y0, y1 (2*LT + 2*VECTOR_LANES,) get the
    output rows of even and odd parity: tile t's cell (a, b) at ``y_a[2*t + b]``.
    In passes of VECTOR_LANES tiles, through a stack tile (see _input_transform).
    """
    d = stack_array(y0, 16, L)
    r = stack_array(y0, 4, L)
    m0, m1, m2, m3 = m[0, f], m[1, f], m[2, f], m[3, f]
    m4, m5, m6, m7 = m[4, f], m[5, f], m[6, f], m[7, f]
    m8, m9, m10, m11 = m[8, f], m[9, f], m[10, f], m[11, f]
    m12, m13, m14, m15 = m[12, f], m[13, f], m[14, f], m[15, f]
    for t0 in range(0, LT, L):
        o = (off + t0) & _NONNEG
        src = m0[o:]
        for k in range(L):
            d[0, k] = src[k]
        src = m1[o:]
        for k in range(L):
            d[1, k] = src[k]
        src = m2[o:]
        for k in range(L):
            d[2, k] = src[k]
        src = m3[o:]
        for k in range(L):
            d[3, k] = src[k]
        src = m4[o:]
        for k in range(L):
            d[4, k] = src[k]
        src = m5[o:]
        for k in range(L):
            d[5, k] = src[k]
        src = m6[o:]
        for k in range(L):
            d[6, k] = src[k]
        src = m7[o:]
        for k in range(L):
            d[7, k] = src[k]
        src = m8[o:]
        for k in range(L):
            d[8, k] = src[k]
        src = m9[o:]
        for k in range(L):
            d[9, k] = src[k]
        src = m10[o:]
        for k in range(L):
            d[10, k] = src[k]
        src = m11[o:]
        for k in range(L):
            d[11, k] = src[k]
        src = m12[o:]
        for k in range(L):
            d[12, k] = src[k]
        src = m13[o:]
        for k in range(L):
            d[13, k] = src[k]
        src = m14[o:]
        for k in range(L):
            d[14, k] = src[k]
        src = m15[o:]
        for k in range(L):
            d[15, k] = src[k]
        for k in range(L):
            # rows: A^T M (2, 4), then columns
            s0 = d[0, k] + d[4, k] + d[8, k]
            s1 = d[1, k] + d[5, k] + d[9, k]
            s2 = d[2, k] + d[6, k] + d[10, k]
            s3 = d[3, k] + d[7, k] + d[11, k]
            q0 = d[4, k] - d[8, k] - d[12, k]
            q1 = d[5, k] - d[9, k] - d[13, k]
            q2 = d[6, k] - d[10, k] - d[14, k]
            q3 = d[7, k] - d[11, k] - d[15, k]
            r[0, k] = s0 + s1 + s2 + bias
            r[1, k] = s1 - s2 - s3 + bias
            r[2, k] = q0 + q1 + q2 + bias
            r[3, k] = q1 - q2 - q3 + bias
        q = (2 * t0) & _NONNEG
        e0, e1 = y0[q:], y1[q:]
        for k in range(L):  # one pointer per loop: interleaved stores, no overlap checks
            e0[2 * k] = r[0, k]
            e0[2 * k + 1] = r[1, k]
        for k in range(L):
            e1[2 * k] = r[2, k]
            e1[2 * k + 1] = r[3, k]


@kernel
def _rows_out(out, y0, y1, HO, WO, WQ2):
    """Copy the output parity planes y0, y1 into one (HO, WO) map, the start of out (flat)."""
    for i in range(HO):
        src = (y0 if i % 2 == 0 else y1)[(i // 2) * 2 * WQ2:]
        dst = out[(i * WO) & _NONNEG:]
        for j in range(WO):
            dst[j] = src[j]


@kernel
def _delta_columns(doutn, dpt, base, WQ2, sums):
    """Lay one sample's (F, HO, WO) delta maps position-major on the tile grid.

    dpt (4, len) gets cell (i, j) of map f in row ``2 * (i % 2) + j % 2`` (its place in
    its 2x2 tile) at ``(base + (i // 2) * WQ2 + j // 2) * F + f``: the F deltas of one
    tile cell are one contiguous run. Cells of the grid no delta reaches keep their
    zeros. ``sums[f]`` += the sum of map f (the bias gradient).
    """
    F, HO, WO = doutn.shape
    for i in range(HO):
        even, odd = dpt[2 * (i % 2)], dpt[2 * (i % 2) + 1]
        start = (base + (i // 2) * WQ2) * F
        for j in range(WO):
            dst = (even if j % 2 == 0 else odd)[(start + (j // 2) * F) & _NONNEG:]
            for f in range(F):
                dst[f] = doutn[f, i, j]
    for f in range(F):
        flat = doutn[f].reshape(-1)
        total = np.float32(0)
        for q in range(flat.shape[0]):
            total += flat[q]
        sums[f] += total


@kernel(fastmath=FAST_FP)
def _delta_transform(dpt, base, dm, count):
    """dM = A dY A^T of every 2x2 delta tile, position-major.

    dpt (4, len) the position-major delta tiles (:func:`_delta_columns`); dm (16, len_m)
    gets cell p of every tile at the same index: ``dm[p, q]`` from ``dpt[:, q]`` for
    ``base <= q < base + count`` (each index is one tile and filter). In passes of
    VECTOR_LANES through a stack tile (see _input_transform), up to one vector past
    the end (dm and dpt need that slack).
    """
    y00, y01, y10, y11 = dpt[0, base:], dpt[1, base:], dpt[2, base:], dpt[3, base:]
    d = stack_array(dm, 4, L)
    r = stack_array(dm, 16, L)
    for t0 in range(0, count, L):
        s0, s1, s2, s3 = y00[t0:], y01[t0:], y10[t0:], y11[t0:]
        for k in range(L):
            d[0, k] = s0[k]
        for k in range(L):
            d[1, k] = s1[k]
        for k in range(L):
            d[2, k] = s2[k]
        for k in range(L):
            d[3, k] = s3[k]
        for k in range(L):
            a, b, c, e = d[0, k], d[1, k], d[2, k], d[3, k]
            # rows of A dY (4, 2): (a, b), (a + c, b + e), (a - c, b - e), (-c, -e)
            # then each row (u, w) times A^T: (u, u + w, u - w, -w)
            g, h = a + c, b + e
            n, q = a - c, b - e
            r[0, k], r[1, k], r[2, k], r[3, k] = a, a + b, a - b, -b
            r[4, k], r[5, k], r[6, k], r[7, k] = g, g + h, g - h, -h
            r[8, k], r[9, k], r[10, k], r[11, k] = n, n + q, n - q, -q
            r[12, k], r[13, k], r[14, k], r[15, k] = -c, -c - e, e - c, e
        o = (base + t0) & _NONNEG
        _store_row(dm[0], o, r, 0)
        _store_row(dm[1], o, r, 1)
        _store_row(dm[2], o, r, 2)
        _store_row(dm[3], o, r, 3)
        _store_row(dm[4], o, r, 4)
        _store_row(dm[5], o, r, 5)
        _store_row(dm[6], o, r, 6)
        _store_row(dm[7], o, r, 7)
        _store_row(dm[8], o, r, 8)
        _store_row(dm[9], o, r, 9)
        _store_row(dm[10], o, r, 10)
        _store_row(dm[11], o, r, 11)
        _store_row(dm[12], o, r, 12)
        _store_row(dm[13], o, r, 13)
        _store_row(dm[14], o, r, 14)
        _store_row(dm[15], o, r, 15)


# ------------------------------------------------------------------ the products

#: Output rows of one register tile of :func:`_gemm_tile`: 8 rows x 2 vectors (16 sums)
#: with AVX-512's 32 registers, 4 with AVX2's 16 (as engine._flat.CORRELATE_ROWS).
GEMM_ROWS = 8 if VECTOR_LANES >= 16 else 4


@kernel(fastmath=FAST_FP)
def _gemm_tile(out, f0, v, ut, n):
    """out[f, t] = sum_c ut[c, f] * v[c, t] for the GEMM_ROWS rows f0, f0 + 1, ... and t < n.

    out (F, len), v (C, len), ut (C, F); n a whole number of tiles (TILE_LANES). Rows
    past the last one repeat it (and store the same values). Each tile's GEMM_ROWS x
    TILE_LANES sums stay in vector registers over the loop over the channels, each
    step loading two vectors of v and GEMM_ROWS contiguous weights. (The direct
    convolution's engine._flat.correlate computes the same product with the channels
    as taps, but with as few as 16 taps its tiles ran at a third of this speed: 67
    against 175-195 GFLOP/s on one Zen 5 core, C=16, F=32.)
    """
    wide = GEMM_ROWS == 8
    C = v.shape[0]
    last = out.shape[0] - 1
    r0, r1, r2, r3 = min(f0, last), min(f0 + 1, last), min(f0 + 2, last), min(f0 + 3, last)
    r4, r5, r6, r7 = min(f0 + 4, last), min(f0 + 5, last), min(f0 + 6, last), \
        min(f0 + 7, last)
    acc = stack_array(out, 8, TILE_LANES)
    for t0 in range(0, n, TILE_LANES):
        for k in range(TILE_LANES):
            acc[0, k] = acc[1, k] = acc[2, k] = acc[3, k] = 0
            if wide:
                acc[4, k] = acc[5, k] = acc[6, k] = acc[7, k] = 0
        for c in range(C):
            s = v[c, t0:]
            w = ut[c]
            u0, u1, u2, u3 = w[r0], w[r1], w[r2], w[r3]
            u4, u5, u6, u7 = (w[r4], w[r5], w[r6], w[r7]) if wide else (u0, u0, u0, u0)
            for k in range(TILE_LANES):
                x = s[k]
                acc[0, k] += u0 * x
                acc[1, k] += u1 * x
                acc[2, k] += u2 * x
                acc[3, k] += u3 * x
                if wide:
                    acc[4, k] += u4 * x
                    acc[5, k] += u5 * x
                    acc[6, k] += u6 * x
                    acc[7, k] += u7 * x
        # one loop per row: rows may repeat (see engine._flat._correlate_rows)
        o0, o1, o2, o3 = out[r0, t0:], out[r1, t0:], out[r2, t0:], out[r3, t0:]
        for k in range(TILE_LANES):
            o0[k] = acc[0, k]
        for k in range(TILE_LANES):
            o1[k] = acc[1, k]
        for k in range(TILE_LANES):
            o2[k] = acc[2, k]
        for k in range(TILE_LANES):
            o3[k] = acc[3, k]
        if wide:
            o4, o5, o6, o7 = out[r4, t0:], out[r5, t0:], out[r6, t0:], out[r7, t0:]
            for k in range(TILE_LANES):
                o4[k] = acc[4, k]
            for k in range(TILE_LANES):
                o5[k] = acc[5, k]
            for k in range(TILE_LANES):
                o6[k] = acc[6, k]
            for k in range(TILE_LANES):
                o7[k] = acc[7, k]


# ------------------------------------------------------------------ the kernels

@kernel(parallel=True, fastmath=FAST_FP)
def _forward_kernel(x, u, bias, y, planes, v, m, yp, PH, PW, WQ2, PS, LT, B):
    """The Winograd convolution of x (N, C, H, W) with u (16, C, F) -> y (N, F, HO, WO).

    planes (threads, 4*C, B*PS + VECTOR_LANES), v (threads, 16, C, VL), m (threads,
    16, F, VL) and yp (threads, 2, YL) per-thread scratch (WinogradLayout); the cells of planes that
    must read as zero are never written. bias (F,).
    """
    N, C = x.shape[0], x.shape[1]
    F, HO, WO = y.shape[1], y.shape[2], y.shape[3]
    blocks = -(-N // B)
    for k in prange(blocks):  # each block writes only its own samples and thread's scratch
        th = numba.get_thread_id()
        pl, vt, mt = planes[th], v[th], m[th]
        n0 = k * B
        n1 = min(N, n0 + B)
        for n in range(n0, n1):
            base = (n - n0) * PS
            to_planes(x[n], pl, base, 2, 2, PH, PW, WQ2)
            for c in range(C):
                _input_transform(pl, base, c, C, vt, (n - n0) * LT, LT, WQ2)
        cells = -(-((n1 - n0) * LT) // TILE_LANES) * TILE_LANES
        for p in range(16):
            for f0 in range(0, F, GEMM_ROWS):
                _gemm_tile(mt[p], f0, vt[p], u[p], cells)
        y0, y1 = yp[th, 0], yp[th, 1]
        for n in range(n0, n1):
            out = y[n].reshape(-1)  # (F*HO*WO,): each map's spill lands in the next one
            for f in range(F):
                _output_transform(mt, f, (n - n0) * LT, LT, bias[f], y0, y1)
                _rows_out(out[f * HO * WO:], y0, y1, HO, WO, WQ2)


@kernel(parallel=True, fastmath=FAST_FP)
def _dw_kernel(dout, x, planes, dpt, v, dm, du_parts, db_parts, tap_abs, PH, PW, WQ2, PS,
               LT, B):
    """Per-block dU^T = V dM^T (du_parts (blocks, 16, C, F)) and db (db_parts (blocks, F)).

    dout (N, F, HO, WO), x (N, C, H, W); per-thread scratch: planes (threads, 4*C,
    B*PS + VECTOR_LANES) the phase planes of x, v (threads, 16, C, VL) its transformed
    tiles, dpt (threads, 4, (B*LT + VECTOR_LANES)*F + TILE_LANES) the position-major
    delta tiles and dm (threads, 16, same) their transforms; tap_abs (C,) where row c
    of a cell's v starts (c * VL). Positions of dm past the block's tiles are cleared
    so they add nothing. The products are engine._flat.tap_dots (the direct backward
    pass's dW tiles: the F filters as vector lanes).
    """
    N, C = x.shape[0], x.shape[1]
    F = dout.shape[1]
    blocks = du_parts.shape[0]
    for k in prange(blocks):
        th = numba.get_thread_id()
        pl, dpl, vt, dmt = planes[th], dpt[th], v[th], dm[th]
        n0 = k * B
        n1 = min(N, n0 + B)
        for f in range(F):
            db_parts[k, f] = 0
        for n in range(n0, n1):
            base = (n - n0) * PS
            to_planes(x[n], pl, base, 2, 2, PH, PW, WQ2)
            for c in range(C):
                _input_transform(pl, base, c, C, vt, (n - n0) * LT, LT, WQ2)
            _delta_columns(dout[n], dpl, (n - n0) * LT, WQ2, db_parts[k])
        used = (n1 - n0) * LT
        cells = -(-used // VECTOR_LANES) * VECTOR_LANES
        _delta_transform(dpl, 0, dmt, used * F)
        for p in range(16):
            row = dmt[p]
            for q in range(used * F, (cells + 1) * F + TILE_LANES):
                row[q] = 0
        for p in range(16):
            tap_dots(du_parts[k, p], vt[p].reshape(-1), tap_abs, dmt[p], F, 0, 1, cells, 0)


@kernel
def _sum_blocks(parts, out):
    """out = the sum of parts (G, K) over G, in block order."""
    G, K = parts.shape
    for k in range(K):
        out[k] = 0
    for gi in range(G):
        row = parts[gi]
        for k in range(K):
            out[k] += row[k]


# ------------------------------------------------------------------ public entry points

def _scratch(kind, g, shape):
    return scratch_array("winograd-" + kind, g, shape, np.float32)


def _convolve(x, u, bias, y, g, PH, PW):
    """y = the Winograd convolution of x (float32, C-contiguous) with transformed u."""
    N, C, _, _ = x.shape
    F, HO, WO = y.shape[1], y.shape[2], y.shape[3]
    lay = layout(HO, WO, C, F, N)
    T = _threads()
    planes = _scratch("planes", g, (T, 4 * C, lay.B * lay.PS + VECTOR_LANES))
    v = _scratch("v", g, (T, 16, C, lay.VL))
    m = _scratch("m", g, (T, 16, F, lay.VL))
    yp = _scratch("y", g, (T, 2, lay.YL))
    _forward_kernel(x, u, bias, y, planes, v, m, yp, PH, PW, lay.WQ2, lay.PS, lay.LT, lay.B)


def winograd_forward(x, w, b, g: ConvGeometry):
    """The convolution of :func:`engine.conv2d_forward` by Winograd F(2x2, 3x3).

    Parameters
    ----------
    x : float32 array (N, C, H, W), C-contiguous, finite
    w : float32 array (F, C, 3, 3), C-contiguous, finite
    b : float32 array (F,)
    g : the checked geometry (3x3 kernels, stride 1)

    Returns
    -------
    y : float32 array (N, F, HO, WO)
    """
    u = np.empty((16, g.C, g.F), dtype=np.float32)
    _weights_impl(w, u, False)
    y = np.empty(g.output_shape, dtype=np.float32)
    with threads_for(g.N * g.F * g.HO * g.WO * g.C * 4):
        _convolve(x, u, b, y, g, g.PH, g.PW)
    return y


def winograd_backward(dout, x, w, g: ConvGeometry, need_dx=True):
    """The gradients of :func:`engine.conv2d_backward` by Winograd F(2x2, 3x3).

    Parameters
    ----------
    dout : float32 array (N, F, HO, WO), C-contiguous, finite
    x : float32 array (N, C, H, W), C-contiguous, finite
    w : float32 array (F, C, 3, 3), C-contiguous, finite
    g : the checked geometry (3x3 kernels, stride 1)
    need_dx : bool
        False: dx is None.

    Returns
    -------
    dx : float32 array (N, C, H, W) or None
    dw : float32 array (F, C, 3, 3)
    db : float32 array (F,)
    """
    N, C, F = g.N, g.C, g.F
    lay = layout(g.HO, g.WO, C, F, N)
    T = _threads()
    blocks = -(-N // lay.B)
    planes = _scratch("planes", g, (T, 4 * C, lay.B * lay.PS + VECTOR_LANES))
    flat = (lay.B * lay.LT + VECTOR_LANES + 1) * F + TILE_LANES
    dpt = _scratch("dpt", g, (T, 4, flat))
    v = _scratch("v", g, (T, 16, C, lay.VL))
    dm = _scratch("dm", g, (T, 16, flat))
    du_parts = np.empty((blocks, 16, C, F), dtype=np.float32)
    db_parts = np.empty((blocks, F), dtype=np.float32)
    work = N * F * g.HO * g.WO * C * 4
    with threads_for(work):
        _dw_kernel(dout, x, planes, dpt, v, dm, du_parts, db_parts,
                   np.arange(C, dtype=np.int64) * lay.VL, g.PH, g.PW, lay.WQ2, lay.PS,
                   lay.LT, lay.B)
    du = np.empty((16, C, F), dtype=np.float32)
    _sum_blocks(du_parts.reshape(blocks, -1), du.reshape(-1))
    db = np.empty(F, dtype=np.float32)
    _sum_blocks(db_parts, db)
    dw = np.empty((F, C, 3, 3), dtype=np.float32)
    _dw_from_du_impl(du, dw)
    if not need_dx:
        return None, dw, db
    # dx: the delta convolved with the rotated kernels, channels and filters swapped
    ut = np.empty((16, F, C), dtype=np.float32)
    _weights_impl(w, ut, True)
    dx = np.empty(g.input_shape, dtype=np.float32)
    gx = _dx_geometry(g)
    with threads_for(work):
        _convolve(dout, ut, np.zeros(C, dtype=np.float32), dx, gx, gx.PH, gx.PW)
    return dx, dw, db


@lru_cache(maxsize=64)
def _dx_geometry_cached(g: ConvGeometry) -> ConvGeometry:
    return ConvGeometry(N=g.N, C=g.F, H=g.HO, W=g.WO, F=g.C, KH=3, KW=3, SH=1, SW=1,
                        PH=2 - g.PH, PW=2 - g.PW, HO=g.H, WO=g.W)


def _dx_geometry(g: ConvGeometry) -> ConvGeometry:
    """The geometry of dx as a convolution: the delta padded by 2 - P, C and F swapped."""
    return _dx_geometry_cached(g)


# ------------------------------------------------------------------ the experiment

#: (name, N, C, H, W, F): W3 and D2 of docs/PERFORMANCE.md, and CIFAR_SPEC's second
#: convolution (engine/recipe.py: 32 -> 64 channels, 16x16), all 3x3 with padding 1.
SHAPES = [("W3", 64, 8, 14, 14, 16), ("D2", 64, 16, 14, 14, 32),
          ("CIFAR conv2", 64, 32, 16, 16, 64)]

#: Shapes of the correctness check: padding 0-3, odd, even and non-square maps, N = 1,
#: F not a multiple of the register tiles, outputs the 2x2 tiles do not tile.
CHECKS = [(2, 4, 6, 6, 5, 1), (3, 5, 7, 9, 6, 0), (2, 4, 5, 8, 7, 2), (1, 16, 14, 14, 32, 1),
          (4, 8, 14, 14, 16, 1), (2, 4, 9, 7, 4, 3), (1, 1, 3, 3, 1, 0), (2, 3, 11, 4, 9, 1)]


def check(shapes=CHECKS, seed=0) -> float:
    """Compare the forward pass and the gradients with engine.reference (float64); return
    the largest error relative to the reference's own scale, raise AssertionError past 1e-5.

    The scale of a result is the same computation on the absolute values (``|x| * |w|``
    for y and so on): an fp32 sum of K products has an error of a few K-th ulps of that.
    """
    from engine import reference
    from engine.geometry import check_conv
    rng = np.random.default_rng(seed)
    worst = 0.0
    for N, C, H, W, F, P in shapes:
        x = rng.standard_normal((N, C, H, W)).astype(np.float32)
        w = rng.standard_normal((F, C, 3, 3)).astype(np.float32)
        b = rng.standard_normal(F).astype(np.float32)
        g = check_conv(x.shape, w.shape, b.shape, 1, P)
        y = winograd_forward(x, w, b, g)
        dout = rng.standard_normal(y.shape).astype(np.float32)
        got = (y,) + winograd_backward(dout, x, w, g)
        x64, w64, d64 = (a.astype(np.float64) for a in (x, w, dout))
        want = (reference.conv2d_forward(x64, w64, b.astype(np.float64), 1, P),) + \
            reference.conv2d_backward(d64, x64, w64, 1, P)
        scale = (reference.conv2d_forward(abs(x64), abs(w64), abs(b).astype(np.float64), 1, P),) \
            + reference.conv2d_backward(abs(d64), abs(x64), abs(w64), 1, P)
        for a, e, s in zip(got, want, scale, strict=True):
            worst = max(worst, float(np.max(np.abs(a - e) / (s + 1e-30))))
    assert worst < 1e-5, worst
    return worst


def _time(fn, samples, pause=0.05, settle=0.1):
    """ms per call of ``samples`` timed samples of about 10 ms each, after a pause and
    ``settle`` seconds of untimed calls (bench.py's visit: the other implementation's
    spinning threads asleep, this one's awake)."""
    import time

    from .bench import _calls_per_sample
    calls = _calls_per_sample(fn)
    time.sleep(pause)
    until = time.perf_counter() + settle
    while time.perf_counter() < until:
        fn()
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls * 1e3)
    return times


def _calls(N, C, H, W, F):
    """The timed calls of one shape (padding 1), same inputs for every implementation."""
    from engine import conv2d_backward, conv2d_forward
    from engine.geometry import check_conv
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    w = (rng.standard_normal((F, C, 3, 3), dtype=np.float32) * 0.3).astype(np.float32)
    b = rng.standard_normal(F, dtype=np.float32)
    dout = rng.standard_normal((N, F, H, W), dtype=np.float32)
    g = check_conv(x.shape, w.shape, b.shape, 1, 1)
    calls = {
        "direct fwd": lambda: conv2d_forward(x, w, b, 1, 1),
        "winograd fwd": lambda: winograd_forward(x, w, b, g),
        "direct bwd": lambda: conv2d_backward(dout, x, w, 1, 1),
        "winograd bwd": lambda: winograd_backward(dout, x, w, g),
    }
    if torch is not None:
        import torch.nn.functional as tfn
        tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_(True) for a in (x, w, b))
        td = torch.from_numpy(dout)

        def torch_step():
            for t in (tx, tw, tb):
                t.grad = None
            tfn.conv2d(tx, tw, tb, 1, 1).backward(td)
        calls["torch fwd+bwd"] = torch_step
    return calls


def main(rounds: int = 8, samples: int = 5) -> None:
    """Print the check and, per shape, the medians (ms) of interleaved rounds."""
    from .bench import cpu_model
    if torch is not None:
        torch.set_num_threads(2)
    print(f"check against engine.reference: largest relative error {check():.1e}")
    for name, N, C, H, W, F in SHAPES:
        calls = _calls(N, C, H, W, F)
        results = {key: [] for key in calls}
        for call in calls.values():
            call()  # compile, warm the caches
        for r in range(rounds):
            keys = list(calls)
            for key in keys[r % len(keys):] + keys[:r % len(keys)]:  # a rotating order
                results[key] += _time(calls[key], samples)
        ms = {key: float(np.median(v)) for key, v in results.items()}
        direct, wino = ms["direct fwd"] + ms["direct bwd"], ms["winograd fwd"] + ms["winograd bwd"]
        line = ", ".join(f"{key} {v:.3f}" for key, v in ms.items())
        print(f"{name}: {line} ms; fwd+bwd direct {direct:.3f}, winograd {wino:.3f}"
              + (f"; x vs torch: direct {ms['torch fwd+bwd'] / direct:.2f}, winograd "
                 f"{ms['torch fwd+bwd'] / wino:.2f}" if torch is not None else ""))
    print(f"numba {numba.__version__} ({numba.get_num_threads()} threads), {cpu_model()}; "
          "medians of interleaved samples; 'x vs torch' = torch ms / ms (> 1: faster)")


if __name__ == "__main__":
    main()
