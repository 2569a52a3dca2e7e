"""The flat phase-plane layout shared by the convolution kernels.

Why a flat layout (see docs/PERFORMANCE.md)
---------------------------------------------------
The padded input of one sample is stored as flat *planes* as wide as the padded
input (WQ columns). On such a flat grid the input cell under kernel tap
``(u, v)`` for output ``(i, j)`` sits at ``(i * WQ + j) + (u * WQ + v)``: every
tap is a constant offset, so a whole output map is a handful of long, contiguous
loops ``acc[k] += w * src[off + k]`` that vectorise. The columns ``j >= WO`` of
the flat output are scratch, dropped when the result is copied out.

A stride S > 1 becomes stride 1 by splitting the padded input into its
SH x SW *phases* (rows ``a, a + SH, ...`` and columns ``b, b + SW, ...``): tap
``(u, v)`` reads phase ``(u % SH, v % SW)`` at offset ``(u // SH, v // SW)``.
Stride 1 is the special case of one phase, which is just the padded input.
Planes are ordered (phase, channel), so the C planes of one phase are
consecutive rows.

:func:`correlate` is the inner kernel of the forward pass and of dx: rows of an
output are weighted sums of shifted rows of a source, computed in *register
tiles* of TILE_ROWS rows by TILE_LANES positions (two vector registers) whose
sums stay in registers for the whole loop over the taps, so each step loads one
source vector pair and TILE_ROWS weights for 2 * TILE_ROWS vector multiply-adds.
Flat lengths are rounded up to whole tiles (their slack is zero) so no scalar
remainder loop runs. dW (:func:`tap_dots`) is a dot product of the flat delta
with each tap's source slice; dx is the correlation of the padded delta with the
180-degree rotated kernel.

Samples are laid end to end: plane p of sample n starts at ``n * PL`` in row p
of a (planes, N*PL) array, and the flat delta of filter f for sample n starts at
``n * PL + D`` in row f, with zeros everywhere else. The forward pass and dx go
sample by sample (a 14x14 map is 7 tiles); dW runs over a *block* of consecutive
samples as one long flat run. Reads that run past one sample into the next only
ever meet zero deltas or scratch outputs.

The ReLU and 2x2 max pooling that follow a convolution in a network can be done
on the flat output directly (:func:`relu_pool_2x2`), and their backward pass lays
the pooled deltas straight onto the flat delta grid (:func:`unpool_2x2`), so the
full-size maps between the three layers are never written (conv2d_relu_pool_*).

Caching: Numba re-validates a cached kernel only against its *own* source file,
and the conv kernels compile these helpers into themselves; engine/_numba.py
therefore names the cache folder after a digest of all kernel sources, so an
edit here starts from a clean cache.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ._numba import FAST_FP, VECTOR_LANES, kernel, stack_array
from .geometry import ConvGeometry

#: Output rows (filters, or channels for dx) of one register tile of :func:`correlate`.
TILE_ROWS = 6
#: Flat positions of one register tile: two vector registers (32 with AVX-512, 16 with
#: AVX2). A tile's TILE_ROWS x 2 sums are 12 vector registers: with the two source
#: vectors and the broadcast weights they fit the 16 registers of AVX2 as well as
#: the 32 of AVX-512, and 12 independent chains hide the multiply-add latency.
TILE_LANES = 2 * VECTOR_LANES
VECTOR = TILE_LANES  # flat lengths are rounded up to whole tiles
#: Taps of a dW tile when all the filters fit one vector register (_dw_rows_narrow).
NARROW_ROWS = 2 * TILE_ROWS


# Slice starts that are known to be >= 0 are masked with this: LLVM then drops the
# negative-index wrap-around Numba emits for a signed start (three instructions and a
# branch per tap, in the innermost loop of a tile).
_NONNEG = (1 << 62) - 1


def _round_up(n: int) -> int:
    return -(-n // VECTOR) * VECTOR


@dataclass(frozen=True)
class FlatLayout:
    """Sizes and tap tables of the flat layout of one convolution geometry.

    Attributes
    ----------
    HQ, WQ : rows and columns of one phase plane (WQ is the flat row width)
    L : flat output length ``(HO - 1) * WQ + WO``
    LP : L rounded up to whole vectors
    LD : HQ * WQ (one plane) rounded up to whole vectors, the length dx is built on
    D : the largest tap offset; the flat delta is stored D cells to the right
    PL : the per-sample stride of planes and deltas (all reads of one sample
        stay below it: ``PL >= HQ*WQ + LP - L``, ``PL >= LD``)
    tap_plane, tap_off : int64 (C*KH*KW,), for tap (c, u, v) in ``w`` order:
        the plane it reads and its flat offset
    dx_start : int64 (SH*SW + 1,), the dx taps of phase ``p`` are
        ``dx_start[p]:dx_start[p + 1]``
    dx_src, dx_off : int64 (F*KH*KW,) for each dx tap: the delta row (filter)
        and where its slice starts in the stored delta row
    dx_weight_index : int64 (C, F*KH*KW), flat indices into ``w`` giving the
        (rot180) weight of each dx tap for each channel
    """

    HQ: int
    WQ: int
    L: int
    LP: int
    LD: int
    D: int
    PL: int
    tap_plane: np.ndarray
    tap_off: np.ndarray
    dx_start: np.ndarray
    dx_src: np.ndarray
    dx_off: np.ndarray
    dx_weight_index: np.ndarray


def flat_layout(g: ConvGeometry) -> FlatLayout:
    """The (cached) flat layout of geometry ``g``; the batch size does not matter."""
    return _flat_layout(g.C, g.H, g.W, g.F, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.HO, g.WO)


@lru_cache(maxsize=128)
def _flat_layout(C, H, W, F, KH, KW, SH, SW, PH, PW, HO, WO) -> FlatLayout:
    HQ = -(-(H + 2 * PH) // SH)  # ceil division
    WQ = -(-(W + 2 * PW) // SW)
    L = (HO - 1) * WQ + WO
    LP, LD = _round_up(L), _round_up(HQ * WQ)
    u, v = np.meshgrid(np.arange(KH), np.arange(KW), indexing="ij")
    u, v = u.ravel(), v.ravel()                       # (KH*KW,) taps in w order
    phase = (u % SH) * SW + v % SW                    # (KH*KW,)
    off = (u // SH) * WQ + v // SW                    # (KH*KW,)
    D = int(off.max())
    # forward / dW taps, (c, u, v) order as in w[f].ravel()
    tap_plane = (phase[None, :] * C + np.arange(C)[:, None]).ravel()   # (C*KH*KW,)
    tap_off = np.broadcast_to(off, (C, KH * KW)).ravel()               # (C*KH*KW,)
    # dx taps grouped by phase, then filter, then (u, v): d_plane[p] += w * delta[p - off]
    order = np.argsort(phase, kind="stable")          # (KH*KW,) taps sorted by phase
    counts = np.bincount(phase, minlength=SH * SW)    # taps per phase
    dx_start = np.concatenate([[0], np.cumsum(counts * F)])
    dx_src, dx_off, uv_index = [], [], []
    for p in range(SH * SW):
        taps = order[phase[order] == p]
        for f in range(F):
            dx_src.extend([f] * len(taps))
            dx_off.extend(D - off[taps])
            uv_index.extend(f * C * KH * KW + taps)   # flat index of w[f, 0, u, v]
    uv_index = np.asarray(uv_index, dtype=np.int64)
    dx_weight_index = uv_index[None, :] + (np.arange(C) * KH * KW)[:, None]  # (C, F*KH*KW)
    PL = _round_up(max(HQ * WQ + LP - L, LD))
    return FlatLayout(
        HQ, WQ, L, LP, LD, D, PL,
        tap_plane.astype(np.int64), np.ascontiguousarray(tap_off, dtype=np.int64),
        dx_start.astype(np.int64), np.asarray(dx_src, dtype=np.int64),
        np.asarray(dx_off, dtype=np.int64), np.ascontiguousarray(dx_weight_index))


def alloc_planes(g: ConvGeometry, lay: FlatLayout, dtype, rows: int | None = None) -> np.ndarray:
    """Zeroed (rows, N*PL + D) scratch; rows defaults to SH*SW*C phase planes."""
    rows = g.SH * g.SW * g.C if rows is None else rows
    return np.zeros((rows, g.N * lay.PL + lay.D), dtype=dtype)


_SCRATCH = threading.local()
_SCRATCH_ENTRIES = 24  # per thread; one training step of the default CNN uses 9


def scratch_planes(kind: str, g: ConvGeometry, lay: FlatLayout, dtype,
                   rows: int | None = None) -> np.ndarray:
    """Like :func:`alloc_planes`, but kept per thread and geometry for the next call.

    Freshly zeroed megabytes cost page faults on every call (as much as a small
    convolution itself). Reuse is safe because, for one geometry, the kernels
    write exactly the same cells every call: the cells that must read as zero
    (padding, scratch columns, slack) are never written, and the ones written
    are all overwritten before they are read. A buffer that is accumulated into
    (the gradient planes) is cleared by its kernel. Thread-local, so two
    threads never share a buffer.
    """
    rows = g.SH * g.SW * g.C if rows is None else rows
    return scratch_array(kind, g, (rows, g.N * lay.PL + lay.D), dtype)


def scratch_array(kind: str, g: ConvGeometry, shape: tuple, dtype) -> np.ndarray:
    """A zeroed array of ``shape`` kept per thread, kind and geometry (see scratch_planes)."""
    cache = getattr(_SCRATCH, "buffers", None)
    if cache is None:
        cache = _SCRATCH.buffers = {}
    key = (kind, g, np.dtype(dtype).str, shape)
    buf = cache.pop(key, None)
    if buf is None:
        buf = np.zeros(shape, dtype=dtype)
        while len(cache) >= _SCRATCH_ENTRIES:
            cache.pop(next(iter(cache)))  # forget the least recently used
    cache[key] = buf  # (re)insert as the most recently used
    return buf


def block_size(N: int, PL: int) -> int:
    """Samples per parallel block: passes of about TARGET_RUN cells, and an even
    number of blocks so that two threads get the same work. It does not depend on
    the thread count, so the partial sums, hence the results, do not either."""
    blocks = max(2, -(-N * PL // TARGET_RUN))
    blocks += blocks % 2
    return max(1, -(-N // blocks))


TARGET_RUN = 1024  # cells per pass: long enough to amortise a pass, short enough for L1


@kernel
def to_planes(xn, planes, base, SH, SW, PH, PW, WQ):
    """Scatter one zero-padded sample into its phase planes.

    xn (C, H, W) -> planes (SH*SW*C, len) at columns ``base:``; plane
    ``(a*SW + b)*C + c`` holds ``padded_input[c, a::SH, b::SW]`` row-major with
    row width WQ. Only cells of the input are written; the rest keep their zeros.
    """
    C, H, W = xn.shape
    HQ = -(-(H + 2 * PH) // SH)
    for a in range(SH):
        for b in range(SW):
            # phase columns j with 0 <= b + j*SW - PW < W
            j0 = max(0, -(-(PW - b) // SW))
            j1 = min(WQ, (W - 1 + PW - b) // SW + 1)
            for c in range(C):
                plane = planes[(a * SW + b) * C + c]
                for q in range(HQ):
                    r = a + q * SH - PH
                    if r < 0 or r >= H:
                        continue
                    # row slices indexed from 0: contiguous (SW == 1) copies vectorise
                    dst = plane[base + q * WQ + j0:]
                    src = xn[c, r, b + j0 * SW - PW:]
                    if SW == 1:
                        for k in range(j1 - j0):
                            dst[k] = src[k]
                    else:
                        for k in range(j1 - j0):
                            dst[k] = src[k * SW]


@kernel
def copy_rows(dst, src, sbase, rows, cols, stride):
    """dst[i*cols:(i + 1)*cols] = src[sbase + i*stride:][:cols] for i < rows.

    dst and src are 1-D. Short rows (a 14- or 28-wide map) copied exactly are mostly
    scalar remainder loops; here a row goes in whole tiles of TILE_LANES values
    whenever dst and src have room for them, which writes past the row's end into
    dst[(i + 1)*cols:], the rows copied next (or, past the last row, cells the caller
    writes afterwards: dst must end where the caller's own cells end). The last
    rows, without that room, are copied exactly.
    """
    span = -(-cols // TILE_LANES) * TILE_LANES
    for i in range(rows):
        d0, s0 = i * cols, sbase + i * stride
        if d0 + span <= dst.shape[0] and s0 + span <= src.shape[0]:
            for j0 in range(0, cols, TILE_LANES):
                d = dst[(d0 + j0) & _NONNEG:]
                s = src[(s0 + j0) & _NONNEG:]
                for j in range(TILE_LANES):
                    d[j] = s[j]
        else:
            d = dst[d0 & _NONNEG:]
            s = src[s0 & _NONNEG:]
            for j in range(cols):
                d[j] = s[j]


HALF_TILE = TILE_LANES // 2  # pooled cells per pass of relu_pool_2x2: one tile of map cells


@kernel
def relu_pool_2x2(flat, base, WQ, HP, WP, pooled, winners, zero):
    """ReLU, then 2x2 max pooling, of one flat output map.

    flat (len,) holds the map from ``base`` with row width WQ. pooled (len_p,) gets
    the (HP, WP) window maxima row by row from its start and winners (len_p,) int8
    each window's cell (``2 * row + column``), or -1 when that maximum is not
    positive. Each cell goes through the ReLU first (NaN gives 0), then the first
    maximum in row-major order wins: the values and winners of ReLU then max pooling
    as separate layers. zero is 0 in flat's dtype.

    A row of windows goes in passes of HALF_TILE windows (a short row alone would be
    a scalar loop), each writing past the row's end into the cells written next
    while pooled has room for them (pooled must end where the caller's own cells
    end); the last rows are done window by window.
    """
    for i in range(HP):
        top = flat[(base + 2 * i * WQ) & _NONNEG:]
        bottom = top[WQ:]
        for j0 in range(0, WP, HALF_TILE):
            out = pooled[(i * WP + j0) & _NONNEG:]
            win = winners[(i * WP + j0) & _NONNEG:]
            t = top[2 * j0:]
            u = bottom[2 * j0:]
            if out.shape[0] >= HALF_TILE and t.shape[0] >= TILE_LANES + WQ:
                for j in range(HALF_TILE):  # selects, no branches: vectorises
                    best, cell = _relu_max4(t[2 * j], t[2 * j + 1], u[2 * j], u[2 * j + 1],
                                            zero)
                    out[j] = best
                    win[j] = cell
            else:
                for j in range(min(WP - j0, HALF_TILE)):
                    best, cell = _relu_max4(t[2 * j], t[2 * j + 1], u[2 * j], u[2 * j + 1],
                                            zero)
                    out[j] = best
                    win[j] = cell


@kernel
def _relu_max4(a, b, c, d, zero):
    """(max, cell) of the ReLU of a window (a b / c d): first maximum wins, -1 if it is 0."""
    best = a if a > zero else zero
    cell = 0
    b = b if b > zero else zero
    cell, best = (1, b) if b > best else (cell, best)
    c = c if c > zero else zero
    cell, best = (2, c) if c > best else (cell, best)
    d = d if d > zero else zero
    cell, best = (3, d) if d > best else (cell, best)
    return best, cell if best > zero else -1


@kernel(fastmath=FAST_FP)
def unpool_2x2(flat, base, WQ, HO, WP, dpooled, winners, zero):
    """The delta of a map under ReLU and 2x2 max pooling, laid on its flat grid.

    flat (len,) gets, from ``base`` with row width WQ, the (HO, WO) delta map:
    ``dpooled[i // 2, j // 2]`` where ``winners`` names cell (i, j) of its window, 0
    everywhere else (rows and columns no window reaches, windows whose maximum the
    ReLU stopped: winner -1, and the flat grid's scratch columns). dpooled and
    winners (HP*WP,) are the pooled map row by row. Returns the map's sum (the bias
    gradient). zero is 0 in flat's dtype.
    """
    region = flat[base & _NONNEG:]
    for q in range(HO * WQ):  # one long loop of zeros (scratch columns included)
        region[q] = zero
    HP = dpooled.shape[0] // max(WP, 1)
    for i in range(HP):  # then each delta at its cell: a scatter, no branches
        row = region[2 * i * WQ:]
        for j in range(WP):
            k = i * WP + j
            cell = max(np.int64(winners[k]), 0)  # -1 (stopped by the ReLU): a 0 to cell 0
            value = dpooled[k] if winners[k] >= 0 else zero
            row[2 * j + (cell >> 1) * WQ + (cell & 1)] = value
    total = zero
    for k in range(dpooled.shape[0]):  # a loop of its own, so that it vectorises
        total += dpooled[k] if winners[k] >= 0 else zero
    return total


@kernel
def from_planes(planes, base, dxn, SH, SW, PH, PW, WQ):
    """Gather the unpadded part of the phase planes back into one sample.

    planes (SH*SW*C, len) at columns ``base:`` -> dxn (C, H, W); the padding
    border is dropped.
    """
    C, H, W = dxn.shape
    HQ = -(-(H + 2 * PH) // SH)
    if SH == 1 and SW == 1:  # whole tiles; each channel's spill lands in the next one
        flat = dxn.reshape(-1)
        for c in range(C):
            copy_rows(flat[c * H * W:], planes[c], base + PH * WQ + PW, H, W, WQ)
        return
    for a in range(SH):
        for b in range(SW):
            j0 = max(0, -(-(PW - b) // SW))
            j1 = min(WQ, (W - 1 + PW - b) // SW + 1)
            for c in range(C):
                plane = planes[(a * SW + b) * C + c]
                for q in range(HQ):
                    r = a + q * SH - PH
                    if r < 0 or r >= H:
                        continue
                    src = plane[base + q * WQ + j0:]
                    dst = dxn[c, r, b + j0 * SW - PW:]
                    if SW == 1:
                        for k in range(j1 - j0):
                            dst[k] = src[k]
                    else:
                        for k in range(j1 - j0):
                            dst[k * SW] = src[k]


@kernel(fastmath=FAST_FP)
def _correlate_rows(out, m0, obase, src, sbase, n, wmat, tap_abs, init):
    """:func:`correlate` for the TILE_ROWS rows m0, m0 + 1, ... (past the last row: the last row).

    Rows past the last one compute and store exactly the last row's values, so no
    caller needs arrays padded to whole tiles. The run goes in register tiles of
    TILE_LANES positions: the TILE_ROWS x TILE_LANES sums of a tile stay in vector
    registers (a stack array that LLVM promotes, engine._numba.stack_array) for the
    whole loop over the taps, so each step loads TILE_LANES source values and
    TILE_ROWS weights for TILE_ROWS * TILE_LANES multiply-adds; accumulating in
    memory would also load and store every sum on every step.
    """
    last = out.shape[0] - 1
    r0, r1, r2 = min(m0, last), min(m0 + 1, last), min(m0 + 2, last)
    r3, r4, r5 = min(m0 + 3, last), min(m0 + 4, last), min(m0 + 5, last)
    o0, o1, o2, o3, o4, o5 = out[r0], out[r1], out[r2], out[r3], out[r4], out[r5]
    w0, w1, w2, w3, w4, w5 = wmat[r0], wmat[r1], wmat[r2], wmat[r3], wmat[r4], wmat[r5]
    i0, i1, i2, i3, i4, i5 = init[r0], init[r1], init[r2], init[r3], init[r4], init[r5]
    acc = stack_array(out, TILE_ROWS, TILE_LANES)
    for k0 in range(0, n, TILE_LANES):
        for k in range(TILE_LANES):
            acc[0, k], acc[1, k], acc[2, k] = i0, i1, i2
            acc[3, k], acc[4, k], acc[5, k] = i3, i4, i5
        for t in range(tap_abs.shape[0]):
            s = src[(sbase + k0 + tap_abs[t]) & _NONNEG:]
            u0, u1, u2, u3, u4, u5 = w0[t], w1[t], w2[t], w3[t], w4[t], w5[t]
            for k in range(TILE_LANES):
                v = s[k]
                acc[0, k] += u0 * v
                acc[1, k] += u1 * v
                acc[2, k] += u2 * v
                acc[3, k] += u3 * v
                acc[4, k] += u4 * v
                acc[5, k] += u5 * v
        q = (obase + k0) & _NONNEG
        # one loop per row: rows may repeat (the last row), so one loop writing all six
        # would need run-time overlap checks and fall back to scalar stores
        for k in range(TILE_LANES):
            o0[q + k] = acc[0, k]
        for k in range(TILE_LANES):
            o1[q + k] = acc[1, k]
        for k in range(TILE_LANES):
            o2[q + k] = acc[2, k]
        for k in range(TILE_LANES):
            o3[q + k] = acc[3, k]
        for k in range(TILE_LANES):
            o4[q + k] = acc[4, k]
        for k in range(TILE_LANES):
            o5[q + k] = acc[5, k]


@kernel(fastmath=FAST_FP)
def _correlate_row(out, m, obase, src, sbase, n, wmat, tap_abs, init):
    """:func:`correlate` for the one row m, in register tiles of 6 x TILE_LANES positions.

    For the rows a TILE_ROWS tile would mostly repeat (an output of 1 or 2 rows: dx
    of a one-channel input, the last 1 or 2 of 8 filters): its sums are six
    position blocks of one row instead, each step loading six source vector pairs
    and one weight. Blocks past the run's end repeat its last block.
    """
    o, w, i0 = out[m], wmat[m], init[m]
    last = n - TILE_LANES
    acc = stack_array(out, 6, TILE_LANES)
    for k0 in range(0, n, 6 * TILE_LANES):
        p0 = k0 & _NONNEG
        p1 = min(k0 + TILE_LANES, last) & _NONNEG
        p2 = min(k0 + 2 * TILE_LANES, last) & _NONNEG
        p3 = min(k0 + 3 * TILE_LANES, last) & _NONNEG
        p4 = min(k0 + 4 * TILE_LANES, last) & _NONNEG
        p5 = min(k0 + 5 * TILE_LANES, last) & _NONNEG
        for k in range(TILE_LANES):
            acc[0, k] = acc[1, k] = acc[2, k] = acc[3, k] = acc[4, k] = acc[5, k] = i0
        for t in range(tap_abs.shape[0]):
            s = src[(sbase + tap_abs[t]) & _NONNEG:]
            u = w[t]
            for k in range(TILE_LANES):
                acc[0, k] += u * s[p0 + k]
                acc[1, k] += u * s[p1 + k]
                acc[2, k] += u * s[p2 + k]
                acc[3, k] += u * s[p3 + k]
                acc[4, k] += u * s[p4 + k]
                acc[5, k] += u * s[p5 + k]
        q = obase & _NONNEG
        for k in range(TILE_LANES):
            o[q + p0 + k] = acc[0, k]
        for k in range(TILE_LANES):
            o[q + p1 + k] = acc[1, k]
        for k in range(TILE_LANES):
            o[q + p2 + k] = acc[2, k]
        for k in range(TILE_LANES):
            o[q + p3 + k] = acc[3, k]
        for k in range(TILE_LANES):
            o[q + p4 + k] = acc[4, k]
        for k in range(TILE_LANES):
            o[q + p5 + k] = acc[5, k]


@kernel
def correlate(out, obase, src, sbase, n, wmat, tap_abs, init):
    """out[m, obase:obase + n] = init[m] + sum_t wmat[m, t] * src[sbase + tap_abs[t]:][:n].

    out (M, len) rows to write (with no taps: init[m] everywhere); init (M,); src
    (S*len_s,) the source rows flattened (row r of a (S, len_s) array starts at
    r * len_s); wmat (M, T) one weight per output row and tap; tap_abs (T,) where
    each tap starts in the flat source (``tap_row * len_s + tap_offset``). n is a
    whole number of tiles (TILE_LANES), and every read stays inside src.

    Rows go TILE_ROWS at a time; the last 1 or 2 rows (a tile would repeat them
    four or five times) one at a time (:func:`_correlate_row`).
    """
    M = out.shape[0]
    full = M - M % TILE_ROWS if M % TILE_ROWS <= 2 else M
    for m0 in range(0, full, TILE_ROWS):
        _correlate_rows(out, m0, obase, src, sbase, n, wmat, tap_abs, init)
    for m in range(full, M):
        _correlate_row(out, m, obase, src, sbase, n, wmat, tap_abs, init)


@kernel(fastmath=FAST_FP)
def _dw_rows(out, t0, src, tap_abs, deltas, F, f0, n0, n1, L, PL):
    """One register tile of :func:`tap_dots`: TILE_ROWS taps from t0, TILE_LANES filters from f0.

    ``out[t, f0 + l] = sum over samples n0 <= n < n1 and flat positions p < L of
    src[n*PL + tap_abs[t] + p] * deltas[(n*PL + p)*F + f0 + l]`` for l < min(F - f0,
    TILE_LANES). Taps past the last one repeat the last (they store its values).

    The filters are the vector lanes: each step broadcasts TILE_ROWS input values
    and loads the deltas of one position for all the tile's filters (one contiguous
    row), for 2 * TILE_ROWS vector multiply-adds into sums that stay in registers
    over the whole block; there is no horizontal sum at the end. Lanes past F read
    the next position's deltas and are dropped.
    """
    last = out.shape[0] - 1
    r0, r1, r2 = min(t0, last), min(t0 + 1, last), min(t0 + 2, last)
    r3, r4, r5 = min(t0 + 3, last), min(t0 + 4, last), min(t0 + 5, last)
    a0, a1, a2 = tap_abs[r0], tap_abs[r1], tap_abs[r2]
    a3, a4, a5 = tap_abs[r3], tap_abs[r4], tap_abs[r5]
    acc = stack_array(out, TILE_ROWS, TILE_LANES)
    for k in range(TILE_LANES):
        acc[0, k] = acc[1, k] = acc[2, k] = acc[3, k] = acc[4, k] = acc[5, k] = 0
    for n in range(n0, n1):
        base = n * PL
        s0, s1, s2 = src[(base + a0) & _NONNEG:], src[(base + a1) & _NONNEG:], \
            src[(base + a2) & _NONNEG:]
        s3, s4, s5 = src[(base + a3) & _NONNEG:], src[(base + a4) & _NONNEG:], \
            src[(base + a5) & _NONNEG:]
        d = deltas[(base * F + f0) & _NONNEG:]
        for p in range(L):
            x0, x1, x2, x3, x4, x5 = s0[p], s1[p], s2[p], s3[p], s4[p], s5[p]
            q = (p * F) & _NONNEG
            for k in range(TILE_LANES):
                v = d[q + k]
                acc[0, k] += x0 * v
                acc[1, k] += x1 * v
                acc[2, k] += x2 * v
                acc[3, k] += x3 * v
                acc[4, k] += x4 * v
                acc[5, k] += x5 * v
    width = min(F - f0, TILE_LANES)
    o0, o1, o2 = out[r0, f0:], out[r1, f0:], out[r2, f0:]
    o3, o4, o5 = out[r3, f0:], out[r4, f0:], out[r5, f0:]
    for k in range(width):  # one loop per row: rows may repeat (see _correlate_rows)
        o0[k] = acc[0, k]
    for k in range(width):
        o1[k] = acc[1, k]
    for k in range(width):
        o2[k] = acc[2, k]
    for k in range(width):
        o3[k] = acc[3, k]
    for k in range(width):
        o4[k] = acc[4, k]
    for k in range(width):
        o5[k] = acc[5, k]


@kernel(fastmath=FAST_FP)
def _dw_rows_narrow(out, t0, src, tap_abs, deltas, F, n0, n1, L, PL):
    """:func:`_dw_rows` for F <= VECTOR_LANES: NARROW_ROWS taps by one vector of filters.

    Half of a TILE_LANES tile would hold nothing (16 filters and 512-bit vectors):
    twelve taps of one vector keep twelve sums in registers, each step broadcasting
    twelve input values for one contiguous load of the position's deltas.
    """
    last = out.shape[0] - 1
    r0 = min(t0 + 0, last)
    r1 = min(t0 + 1, last)
    r2 = min(t0 + 2, last)
    r3 = min(t0 + 3, last)
    r4 = min(t0 + 4, last)
    r5 = min(t0 + 5, last)
    r6 = min(t0 + 6, last)
    r7 = min(t0 + 7, last)
    r8 = min(t0 + 8, last)
    r9 = min(t0 + 9, last)
    r10 = min(t0 + 10, last)
    r11 = min(t0 + 11, last)
    a0, a1, a2, a3 = tap_abs[r0], tap_abs[r1], tap_abs[r2], tap_abs[r3]
    a4, a5, a6, a7 = tap_abs[r4], tap_abs[r5], tap_abs[r6], tap_abs[r7]
    a8, a9, a10, a11 = tap_abs[r8], tap_abs[r9], tap_abs[r10], tap_abs[r11]
    acc = stack_array(out, NARROW_ROWS, VECTOR_LANES)
    for k in range(VECTOR_LANES):
        for r in range(NARROW_ROWS):
            acc[r, k] = 0
    for n in range(n0, n1):
        base = n * PL
        s0 = src[(base + a0) & _NONNEG:]
        s1 = src[(base + a1) & _NONNEG:]
        s2 = src[(base + a2) & _NONNEG:]
        s3 = src[(base + a3) & _NONNEG:]
        s4 = src[(base + a4) & _NONNEG:]
        s5 = src[(base + a5) & _NONNEG:]
        s6 = src[(base + a6) & _NONNEG:]
        s7 = src[(base + a7) & _NONNEG:]
        s8 = src[(base + a8) & _NONNEG:]
        s9 = src[(base + a9) & _NONNEG:]
        s10 = src[(base + a10) & _NONNEG:]
        s11 = src[(base + a11) & _NONNEG:]
        d = deltas[(base * F) & _NONNEG:]
        for p in range(L):
            x0, x1, x2, x3, x4, x5 = s0[p], s1[p], s2[p], s3[p], s4[p], s5[p]
            x6, x7, x8, x9, x10, x11 = s6[p], s7[p], s8[p], s9[p], s10[p], s11[p]
            q = (p * F) & _NONNEG
            for k in range(VECTOR_LANES):
                v = d[q + k]
                acc[0, k] += x0 * v
                acc[1, k] += x1 * v
                acc[2, k] += x2 * v
                acc[3, k] += x3 * v
                acc[4, k] += x4 * v
                acc[5, k] += x5 * v
                acc[6, k] += x6 * v
                acc[7, k] += x7 * v
                acc[8, k] += x8 * v
                acc[9, k] += x9 * v
                acc[10, k] += x10 * v
                acc[11, k] += x11 * v
    width = min(F, VECTOR_LANES)
    # one loop per row: rows may repeat (see _correlate_rows)
    o = out[r0]
    for k in range(width):
        o[k] = acc[0, k]
    o = out[r1]
    for k in range(width):
        o[k] = acc[1, k]
    o = out[r2]
    for k in range(width):
        o[k] = acc[2, k]
    o = out[r3]
    for k in range(width):
        o[k] = acc[3, k]
    o = out[r4]
    for k in range(width):
        o[k] = acc[4, k]
    o = out[r5]
    for k in range(width):
        o[k] = acc[5, k]
    o = out[r6]
    for k in range(width):
        o[k] = acc[6, k]
    o = out[r7]
    for k in range(width):
        o[k] = acc[7, k]
    o = out[r8]
    for k in range(width):
        o[k] = acc[8, k]
    o = out[r9]
    for k in range(width):
        o[k] = acc[9, k]
    o = out[r10]
    for k in range(width):
        o[k] = acc[10, k]
    o = out[r11]
    for k in range(width):
        o[k] = acc[11, k]


@kernel
def tap_dots(out, src, tap_abs, deltas, F, n0, n1, L, PL):
    """dW of a block of samples: ``out[t, f]`` = the dot product of tap t's input with
    filter f's delta over the samples n0 <= n < n1.

    out (T, F), tap by tap (the transpose of dW's (F, C*KH*KW)); src the flat
    planes (one flat array) and tap_abs (T,) where each tap starts in it; deltas
    ((N*PL + 1)*F + slack,) the delta maps *position-major*: position p of sample n
    (flat grid, row width WQ) holds the F filters' deltas at ``(n*PL + p)*F``; L the
    flat length of one output map. Each kernel tap's weight gradient is its input
    slice dotted with the delta.
    """
    T = out.shape[0]
    if F <= VECTOR_LANES:
        for t0 in range(0, T, NARROW_ROWS):
            _dw_rows_narrow(out, t0, src, tap_abs, deltas, F, n0, n1, L, PL)
        return
    for t0 in range(0, T, TILE_ROWS):
        for f0 in range(0, F, TILE_LANES):
            _dw_rows(out, t0, src, tap_abs, deltas, F, f0, n0, n1, L, PL)


@kernel
def delta_columns(deltas, base, F, WQ, dmaps, sums, zero):
    """Lay one sample's (F, HO, WO) delta maps into the position-major deltas of tap_dots.

    ``deltas[(base + i*WQ + j)*F + f] = dmaps[f, i, j]``, position by position (the F
    values of a position are one contiguous run); ``sums[f]`` += the sum of map f.
    zero is 0 in the deltas' dtype.
    """
    HO, WO = dmaps.shape[1], dmaps.shape[2]
    for i in range(HO):
        for j in range(WO):
            cell = deltas[((base + i * WQ + j) * F) & _NONNEG:]
            for f in range(F):
                cell[f] = dmaps[f, i, j]
    for f in range(F):
        flat = dmaps[f].reshape(-1)
        total = zero
        for q in range(flat.shape[0]):
            total += flat[q]
        sums[f] += total


@kernel(fastmath=FAST_FP)
def unpool_columns(deltas, base, F, WQ, HO, WO, dpooled, winners, sums, zero):
    """:func:`unpool_2x2` for one sample into the position-major deltas of tap_dots.

    dpooled and winners (F, HP, WP): each delta goes to its window's winning cell of
    the (HO, WO) map, 0 everywhere else (the flat grid's scratch columns included);
    ``sums[f]`` += the sum of filter f's deltas that pass. Two rows at a time: they
    are cleared, then written, while they are in L1.
    """
    HP, WP = dpooled.shape[1], dpooled.shape[2]
    for i in range(HP):
        rows = deltas[((base + 2 * i * WQ) * F) & _NONNEG:]
        for q in range(2 * WQ * F):
            rows[q] = zero
        for j in range(WP):
            for f in range(F):
                c = np.int64(winners[f, i, j])  # int8 arithmetic would overflow
                cell = max(c, 0)  # -1 (stopped by the ReLU) writes a 0 to cell 0
                value = dpooled[f, i, j] if c >= 0 else zero
                rows[((((cell >> 1) * WQ + 2 * j + (cell & 1)) * F) + f) & _NONNEG] = value
    if HO > 2 * HP:  # the row no window reaches
        row = deltas[((base + 2 * HP * WQ) * F) & _NONNEG:]
        for q in range(WO * F):
            row[q] = zero
    for f in range(F):
        d, w = dpooled[f].reshape(-1), winners[f].reshape(-1)
        total = zero
        for k in range(d.shape[0]):
            total += d[k] if w[k] >= 0 else zero
        sums[f] += total
