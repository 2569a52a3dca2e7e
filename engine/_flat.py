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

:func:`correlate` is the one inner kernel: rows of an output accumulate
weighted, shifted rows of a source, two output rows and eight taps per pass,
so each source load feeds two multiply-adds and each accumulator is loaded and
stored once per eight taps. Flat lengths are rounded up to whole vector
registers (their slack is zero) so no scalar remainder loop runs. The forward
pass, dW and dx are all built from it (dx as the correlation of the padded
delta with the 180-degree rotated kernel).

Samples are laid end to end: plane p of sample n starts at ``n * PL`` in row p
of a (planes, N*PL) array, and the flat delta of filter f for sample n starts at
``n * PL + D`` in row f, with zeros everywhere else. A *block* of consecutive
samples is then one long flat run, so each pass of :func:`correlate` covers
several small images at once (a 14x14 map alone is only 14 vector registers
long, too short to amortise starting a pass). Reads that run past one sample
into the next only ever meet zero deltas or scratch outputs.

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

from ._numba import FAST_FP, kernel
from .geometry import ConvGeometry

VECTOR = 16  # float32 lanes of an AVX-512 register: flat lengths are rounded up to it


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
_SCRATCH_ENTRIES = 12  # per thread; one training step of a small CNN uses about 8


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
    cache = getattr(_SCRATCH, "buffers", None)
    if cache is None:
        cache = _SCRATCH.buffers = {}
    key = (kind, g, np.dtype(dtype).str, rows)
    buf = cache.pop(key, None)
    if buf is None:
        buf = alloc_planes(g, lay, dtype, rows)
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
def from_planes(planes, base, dxn, SH, SW, PH, PW, WQ):
    """Gather the unpadded part of the phase planes back into one sample.

    planes (SH*SW*C, len) at columns ``base:`` -> dxn (C, H, W); the padding
    border is dropped.
    """
    C, H, W = dxn.shape
    HQ = -(-(H + 2 * PH) // SH)
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
def _correlate_two(a0, a1, src, base, w0, w1, tap_src, tap_off):
    """a0 += sum_t w0[t] * src[tap_src[t], base + tap_off[t]:][:n]; a1 likewise with w1."""
    T, n = w0.shape[0], a0.shape[0]
    t = 0
    while t + 8 <= T:
        s0 = src[tap_src[t], base + tap_off[t]:base + tap_off[t] + n]
        s1 = src[tap_src[t + 1], base + tap_off[t + 1]:base + tap_off[t + 1] + n]
        s2 = src[tap_src[t + 2], base + tap_off[t + 2]:base + tap_off[t + 2] + n]
        s3 = src[tap_src[t + 3], base + tap_off[t + 3]:base + tap_off[t + 3] + n]
        s4 = src[tap_src[t + 4], base + tap_off[t + 4]:base + tap_off[t + 4] + n]
        s5 = src[tap_src[t + 5], base + tap_off[t + 5]:base + tap_off[t + 5] + n]
        s6 = src[tap_src[t + 6], base + tap_off[t + 6]:base + tap_off[t + 6] + n]
        s7 = src[tap_src[t + 7], base + tap_off[t + 7]:base + tap_off[t + 7] + n]
        u0, u1, u2, u3 = w0[t], w0[t + 1], w0[t + 2], w0[t + 3]
        u4, u5, u6, u7 = w0[t + 4], w0[t + 5], w0[t + 6], w0[t + 7]
        v0, v1, v2, v3 = w1[t], w1[t + 1], w1[t + 2], w1[t + 3]
        v4, v5, v6, v7 = w1[t + 4], w1[t + 5], w1[t + 6], w1[t + 7]
        for k in range(n):
            x0, x1, x2, x3 = s0[k], s1[k], s2[k], s3[k]
            x4, x5, x6, x7 = s4[k], s5[k], s6[k], s7[k]
            a0[k] += (u0 * x0 + u1 * x1 + u2 * x2 + u3 * x3
                      + u4 * x4 + u5 * x5 + u6 * x6 + u7 * x7)
            a1[k] += (v0 * x0 + v1 * x1 + v2 * x2 + v3 * x3
                      + v4 * x4 + v5 * x5 + v6 * x6 + v7 * x7)
        t += 8
    while t < T:
        s0 = src[tap_src[t], base + tap_off[t]:base + tap_off[t] + n]
        u0, v0 = w0[t], w1[t]
        for k in range(n):
            a0[k] += u0 * s0[k]
            a1[k] += v0 * s0[k]
        t += 1


@kernel(fastmath=FAST_FP)
def _correlate_one(a0, src, base, w0, tap_src, tap_off):
    """a0 += sum_t w0[t] * src[tap_src[t], base + tap_off[t]:][:n]."""
    T, n = w0.shape[0], a0.shape[0]
    t = 0
    while t + 8 <= T:
        s0 = src[tap_src[t], base + tap_off[t]:base + tap_off[t] + n]
        s1 = src[tap_src[t + 1], base + tap_off[t + 1]:base + tap_off[t + 1] + n]
        s2 = src[tap_src[t + 2], base + tap_off[t + 2]:base + tap_off[t + 2] + n]
        s3 = src[tap_src[t + 3], base + tap_off[t + 3]:base + tap_off[t + 3] + n]
        s4 = src[tap_src[t + 4], base + tap_off[t + 4]:base + tap_off[t + 4] + n]
        s5 = src[tap_src[t + 5], base + tap_off[t + 5]:base + tap_off[t + 5] + n]
        s6 = src[tap_src[t + 6], base + tap_off[t + 6]:base + tap_off[t + 6] + n]
        s7 = src[tap_src[t + 7], base + tap_off[t + 7]:base + tap_off[t + 7] + n]
        u0, u1, u2, u3 = w0[t], w0[t + 1], w0[t + 2], w0[t + 3]
        u4, u5, u6, u7 = w0[t + 4], w0[t + 5], w0[t + 6], w0[t + 7]
        for k in range(n):
            a0[k] += (u0 * s0[k] + u1 * s1[k] + u2 * s2[k] + u3 * s3[k]
                      + u4 * s4[k] + u5 * s5[k] + u6 * s6[k] + u7 * s7[k])
        t += 8
    while t < T:
        s0 = src[tap_src[t], base + tap_off[t]:base + tap_off[t] + n]
        u0 = w0[t]
        for k in range(n):
            a0[k] += u0 * s0[k]
        t += 1


@kernel
def correlate(out, obase, src, sbase, n, wmat, tap_src, tap_off):
    """out[m, obase:obase + n] += sum_t wmat[m, t] * src[tap_src[t], sbase + tap_off[t]:][:n].

    out (M, len) rows to accumulate into, src (S, len) source rows,
    wmat (M, T) one weight per output row and tap, tap_src/tap_off (T,).
    Output rows go in pairs so that every source load feeds two rows.
    """
    M = out.shape[0]
    m = 0
    while m + 2 <= M:
        _correlate_two(out[m, obase:obase + n], out[m + 1, obase:obase + n], src, sbase,
                       wmat[m], wmat[m + 1], tap_src, tap_off)
        m += 2
    if m < M:
        _correlate_one(out[m, obase:obase + n], src, sbase, wmat[m], tap_src, tap_off)


@kernel(fastmath=FAST_FP)
def _dots_two(o0, o1, d0, d1, src, base, tap_src, tap_off, zero):
    """o0[t] = dot(d0, src[tap_src[t], base + tap_off[t]:][:n]); o1[t] likewise with d1.

    Eight taps per pass: sixteen running sums, each source load feeding two.
    """
    T, n = o0.shape[0], d0.shape[0]
    t = 0
    while t + 8 <= T:
        s0 = src[tap_src[t], base + tap_off[t]:base + tap_off[t] + n]
        s1 = src[tap_src[t + 1], base + tap_off[t + 1]:base + tap_off[t + 1] + n]
        s2 = src[tap_src[t + 2], base + tap_off[t + 2]:base + tap_off[t + 2] + n]
        s3 = src[tap_src[t + 3], base + tap_off[t + 3]:base + tap_off[t + 3] + n]
        s4 = src[tap_src[t + 4], base + tap_off[t + 4]:base + tap_off[t + 4] + n]
        s5 = src[tap_src[t + 5], base + tap_off[t + 5]:base + tap_off[t + 5] + n]
        s6 = src[tap_src[t + 6], base + tap_off[t + 6]:base + tap_off[t + 6] + n]
        s7 = src[tap_src[t + 7], base + tap_off[t + 7]:base + tap_off[t + 7] + n]
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = zero
        b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = zero
        for k in range(n):
            p, q = d0[k], d1[k]
            x0, x1, x2, x3 = s0[k], s1[k], s2[k], s3[k]
            x4, x5, x6, x7 = s4[k], s5[k], s6[k], s7[k]
            a0 += p * x0
            a1 += p * x1
            a2 += p * x2
            a3 += p * x3
            a4 += p * x4
            a5 += p * x5
            a6 += p * x6
            a7 += p * x7
            b0 += q * x0
            b1 += q * x1
            b2 += q * x2
            b3 += q * x3
            b4 += q * x4
            b5 += q * x5
            b6 += q * x6
            b7 += q * x7
        o0[t], o0[t + 1], o0[t + 2], o0[t + 3] = a0, a1, a2, a3
        o0[t + 4], o0[t + 5], o0[t + 6], o0[t + 7] = a4, a5, a6, a7
        o1[t], o1[t + 1], o1[t + 2], o1[t + 3] = b0, b1, b2, b3
        o1[t + 4], o1[t + 5], o1[t + 6], o1[t + 7] = b4, b5, b6, b7
        t += 8
    while t < T:
        s0 = src[tap_src[t], base + tap_off[t]:base + tap_off[t] + n]
        a0 = b0 = zero
        for k in range(n):
            a0 += d0[k] * s0[k]
            b0 += d1[k] * s0[k]
        o0[t], o1[t] = a0, b0
        t += 1


@kernel(fastmath=FAST_FP)
def _dots_one(o0, d0, src, base, tap_src, tap_off, zero):
    """o0[t] = dot(d0, src[tap_src[t], base + tap_off[t]:][:n])."""
    T, n = o0.shape[0], d0.shape[0]
    for t in range(T):
        s0 = src[tap_src[t], base + tap_off[t]:base + tap_off[t] + n]
        a0 = zero
        for k in range(n):
            a0 += d0[k] * s0[k]
        o0[t] = a0


@kernel
def tap_dots(out, delta, dbase, src, sbase, n, tap_src, tap_off, zero):
    """out[m, t] = dot(delta[m, dbase:dbase + n], src[tap_src[t], sbase + tap_off[t]:][:n]).

    out (M, T), delta (M, len) one flat delta row per filter, src (S, len). This
    is dW: each kernel tap's weight gradient is its input slice dotted with the
    delta. zero is 0 in the arrays' dtype (float32 sums stay float32).
    """
    M = out.shape[0]
    m = 0
    while m + 2 <= M:
        _dots_two(out[m], out[m + 1], delta[m, dbase:dbase + n], delta[m + 1, dbase:dbase + n],
                  src, sbase, tap_src, tap_off, zero)
        m += 2
    if m < M:
        _dots_one(out[m], delta[m, dbase:dbase + n], src, sbase, tap_src, tap_off, zero)
