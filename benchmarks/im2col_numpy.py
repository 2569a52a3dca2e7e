"""A straightforward numpy im2col implementation: the "vectorise it with numpy" baseline.

This is what a student who knows numpy well would write after the CS231n
assignment: unfold every receptive field into a column (a strided view, then one
copy), and let BLAS do a single matrix product. It is a benchmark baseline only;
the app never uses it. Same signatures as the engine's functional API, but no
validation beyond what numpy itself does.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "conv2d_forward",
    "conv2d_backward",
    "max_pool2d_forward",
    "max_pool2d_backward",
    "relu_forward",
    "relu_backward",
    "dense_forward",
    "dense_backward",
]


def _pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


def _im2col(x, KH, KW, SH, SW, PH, PW):
    """x (N, C, H, W) -> cols (N, C*KH*KW, HO*WO), HO, WO."""
    padded_input = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    windows = sliding_window_view(padded_input, (KH, KW), axis=(2, 3))[:, :, ::SH, ::SW]
    N, C, HO, WO = windows.shape[:4]
    # (N, C, HO, WO, KH, KW) -> (N, C, KH, KW, HO, WO) -> (N, C*KH*KW, HO*WO)
    cols = windows.transpose(0, 1, 4, 5, 2, 3).reshape(N, C * KH * KW, HO * WO)
    return cols, HO, WO


def conv2d_forward(x, w, b, stride=1, padding=0):
    """x (N, C, H, W), w (F, C, KH, KW), b (F,) -> y (N, F, HO, WO)."""
    (SH, SW), (PH, PW) = _pair(stride), _pair(padding)
    F, C, KH, KW = w.shape
    cols, HO, WO = _im2col(x, KH, KW, SH, SW, PH, PW)
    y = np.matmul(w.reshape(F, -1), cols)  # (F, CKK) @ (N, CKK, HO*WO) -> (N, F, HO*WO)
    y += b[None, :, None]
    return y.reshape(x.shape[0], F, HO, WO)


def conv2d_backward(dout, x, w, stride=1, padding=0):
    """-> dx (N, C, H, W), dw (F, C, KH, KW), db (F,); the columns are recomputed."""
    (SH, SW), (PH, PW) = _pair(stride), _pair(padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    cols, HO, WO = _im2col(x, KH, KW, SH, SW, PH, PW)
    delta = dout.reshape(N, F, HO * WO)
    db = delta.sum(axis=(0, 2))
    # sum_n delta_n (F, HO*WO) @ cols_n^T (HO*WO, CKK) -> (F, CKK)
    dw = np.einsum("nfp,nkp->fk", delta, cols, optimize=True).reshape(w.shape)
    dcols = np.matmul(w.reshape(F, -1).T, delta)  # (N, CKK, HO*WO)
    dcols = dcols.reshape(N, C, KH, KW, HO, WO)
    d_padded = np.zeros((N, C, H + 2 * PH, W + 2 * PW), dtype=x.dtype)
    for u in range(KH):  # col2im: add each tap's columns back onto the padded input
        for v in range(KW):
            d_padded[:, :, u:u + SH * HO:SH, v:v + SW * WO:SW] += dcols[:, :, u, v]
    return d_padded[:, :, PH:PH + H, PW:PW + W], dw, db


def max_pool2d_forward(x, size=2, stride=2):
    """x (N, C, H, W) -> y, argmax (N, C, HO, WO); argmax is the flat index row*W+col."""
    (KH, KW), (SH, SW) = _pair(size), _pair(stride)
    N, C, H, W = x.shape
    windows = sliding_window_view(x, (KH, KW), axis=(2, 3))[:, :, ::SH, ::SW]
    HO, WO = windows.shape[2:4]
    flat = windows.reshape(N, C, HO, WO, KH * KW)
    k = flat.argmax(axis=-1)  # first maximum on ties
    y = np.take_along_axis(flat, k[..., None], axis=-1)[..., 0]
    rows = np.arange(HO)[:, None] * SH + k // KW
    cols = np.arange(WO)[None, :] * SW + k % KW
    return y, rows * W + cols


def max_pool2d_backward(dout, argmax, input_shape):
    """Scatter-add each delta to its argmax: -> dx of ``input_shape``."""
    N, C, H, W = input_shape
    plane = (np.arange(N * C) * (H * W)).reshape(N, C, 1, 1)
    dx = np.bincount((argmax + plane).ravel(), weights=dout.ravel(), minlength=N * C * H * W)
    return dx.astype(dout.dtype, copy=False).reshape(input_shape)


def relu_forward(x):
    return np.maximum(x, 0)


def relu_backward(dout, x):
    return dout * (x > 0)


def dense_forward(x, w, b):
    return x @ w + b


def dense_backward(dout, x, w):
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)
