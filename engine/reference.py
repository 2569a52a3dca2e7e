"""Reference loops: the textbook version of every kernel.

These are the oracle for the tests and the baseline for the benchmarks. They are
written for clarity, one output cell at a time, exactly as a CNN chapter states
them, and are never used by the app's hot paths. Arrays are NCHW; the dtype of
``x`` is kept.
"""

from __future__ import annotations

import numpy as np

from .geometry import check_conv, check_pool

__all__ = [
    "conv2d_forward",
    "conv2d_backward",
    "max_pool2d_forward",
    "max_pool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
]


def _pad(x, ph, pw):
    """Zero-pad the two spatial axes of (N, C, H, W)."""
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def conv2d_forward(x, w, b, stride=1, padding=0):
    """y[n, f, i, j] = sum_{c, u, v} padded_input[n, c, i*S + u, j*S + v] * w[f, c, u, v] + b[f].

    x (N, C, H, W), w (F, C, KH, KW), b (F,) -> y (N, F, HO, WO).
    """
    g = check_conv(x.shape, w.shape, b.shape, stride, padding)
    padded_input = _pad(x, g.PH, g.PW)
    y = np.zeros(g.output_shape, dtype=x.dtype)
    for n in range(g.N):
        for f in range(g.F):
            for i in range(g.HO):
                for j in range(g.WO):
                    total = 0.0
                    for c in range(g.C):
                        for u in range(g.KH):
                            for v in range(g.KW):
                                total += (padded_input[n, c, i * g.SH + u, j * g.SW + v]
                                          * w[f, c, u, v])
                    y[n, f, i, j] = total + b[f]
    return y


def conv2d_backward(dout, x, w, stride=1, padding=0):
    """Gradients of a convolution by the chain rule, one output cell at a time.

    dout (N, F, HO, WO), x (N, C, H, W), w (F, C, KH, KW)
    -> dx (N, C, H, W), dw (F, C, KH, KW), db (F,).
    """
    g = check_conv(x.shape, w.shape, None, stride, padding)
    if dout.shape != g.output_shape:
        raise ValueError(f"dout has shape {dout.shape}, expected {g.output_shape}")
    padded_input = _pad(x, g.PH, g.PW)
    d_padded = np.zeros_like(padded_input)
    dw = np.zeros_like(w)
    db = np.zeros(g.F, dtype=x.dtype)
    for n in range(g.N):
        for f in range(g.F):
            for i in range(g.HO):
                for j in range(g.WO):
                    delta = dout[n, f, i, j]
                    db[f] += delta
                    for c in range(g.C):
                        for u in range(g.KH):
                            for v in range(g.KW):
                                r, s = i * g.SH + u, j * g.SW + v
                                dw[f, c, u, v] += padded_input[n, c, r, s] * delta
                                d_padded[n, c, r, s] += w[f, c, u, v] * delta
    dx = d_padded[:, :, g.PH:g.PH + g.H, g.PW:g.PW + g.W]
    return np.ascontiguousarray(dx), dw, db


def max_pool2d_forward(x, size=2, stride=2):
    """Max pooling with the argmax of each window.

    x (N, C, H, W) -> y (N, C, HO, WO), argmax (N, C, HO, WO) int64 holding the
    flat index ``row * W + col`` of the chosen input cell in its (H, W) plane.
    On ties the first maximum in row-major order wins (as in PyTorch).
    """
    g = check_pool(x.shape, size, stride)
    y = np.zeros(g.output_shape, dtype=x.dtype)
    argmax = np.zeros(g.output_shape, dtype=np.int64)
    for n in range(g.N):
        for c in range(g.C):
            for i in range(g.HO):
                for j in range(g.WO):
                    best, best_idx = -np.inf, -1
                    for u in range(g.KH):
                        for v in range(g.KW):
                            r, s = i * g.SH + u, j * g.SW + v
                            # strict '>' keeps the first maximum on ties; a NaN wins
                            # only as a window's first cell (comparisons with NaN are false)
                            if x[n, c, r, s] > best or best_idx < 0:
                                best, best_idx = x[n, c, r, s], r * g.W + s
                    y[n, c, i, j] = best
                    argmax[n, c, i, j] = best_idx
    return y, argmax


def max_pool2d_backward(dout, argmax, input_shape):
    """Route each delta to the input cell that won its window (overlaps accumulate).

    dout (N, C, HO, WO), argmax (N, C, HO, WO) -> dx of ``input_shape`` (N, C, H, W).
    """
    N, C, H, W = input_shape
    dx = np.zeros((N, C, H * W), dtype=dout.dtype)
    for n in range(dout.shape[0]):
        for c in range(dout.shape[1]):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    dx[n, c, argmax[n, c, i, j]] += dout[n, c, i, j]
    return dx.reshape(N, C, H, W)


def avg_pool2d_forward(x, size=2, stride=2):
    """Average pooling: x (N, C, H, W) -> y (N, C, HO, WO)."""
    g = check_pool(x.shape, size, stride)
    y = np.zeros(g.output_shape, dtype=x.dtype)
    for n in range(g.N):
        for c in range(g.C):
            for i in range(g.HO):
                for j in range(g.WO):
                    total = 0.0
                    for u in range(g.KH):
                        for v in range(g.KW):
                            total += x[n, c, i * g.SH + u, j * g.SW + v]
                    y[n, c, i, j] = total / (g.KH * g.KW)
    return y


def avg_pool2d_backward(dout, input_shape, size=2, stride=2):
    """Spread each delta evenly over its window: dout (N, C, HO, WO) -> dx (N, C, H, W)."""
    g = check_pool(input_shape, size, stride)
    dx = np.zeros(g.input_shape, dtype=dout.dtype)
    share = 1.0 / (g.KH * g.KW)
    for n in range(g.N):
        for c in range(g.C):
            for i in range(g.HO):
                for j in range(g.WO):
                    for u in range(g.KH):
                        for v in range(g.KW):
                            dx[n, c, i * g.SH + u, j * g.SW + v] += dout[n, c, i, j] * share
    return dx
