"""Fully connected (dense) layer kernels, in Numba.

The whole training step stays inside Numba: calling numpy's BLAS between Numba
parallel regions starves BLAS of threads on small machines (see PERFORMANCE.md),
so the dense layer has its own loops instead of ``x @ w``.
"""

from __future__ import annotations

import numpy as np

from ._numba import kernel, prange

__all__ = ["dense_forward", "dense_backward"]


def _check(x, w, b=None):
    if x.ndim != 2 or w.ndim != 2:
        raise ValueError(f"dense layer expects x (N, D) and w (D, K); got {x.shape} and {w.shape}")
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"the dense layer expects {w.shape[0]} input features but got {x.shape[1]}")
    if b is not None and b.shape != (w.shape[1],):
        raise ValueError(f"the bias needs {w.shape[1]} values, but it has shape {b.shape}")


def _float(a, dtype=None):
    a = np.asarray(a)
    if dtype is None:
        dtype = a.dtype if a.dtype in (np.float32, np.float64) else np.float64
    return np.ascontiguousarray(a, dtype=dtype)


def dense_forward(x, w, b):
    """y = x @ w + b.

    Parameters
    ----------
    x : (N, D) array
    w : (D, K) array
    b : (K,) array

    Returns
    -------
    y : (N, K) array, dtype of x
    """
    x = _float(x)
    w, b = _float(w, x.dtype), _float(b, x.dtype)
    _check(x, w, b)
    y = np.empty((x.shape[0], w.shape[1]), dtype=x.dtype)
    _dense_forward_kernel(x, w, b, y)
    return y


def dense_backward(dout, x, w):
    """Gradients of y = x @ w + b.

    Parameters
    ----------
    dout : (N, K) array
    x : (N, D) array
    w : (D, K) array

    Returns
    -------
    dx : (N, D), dw : (D, K), db : (K,)
    """
    x = _float(x)
    w, dout = _float(w, x.dtype), _float(dout, x.dtype)
    _check(x, w)
    if dout.shape != (x.shape[0], w.shape[1]):
        raise ValueError(f"dout has shape {dout.shape}, expected {(x.shape[0], w.shape[1])}")
    dx = np.empty_like(x)
    dw = np.empty_like(w)
    db = np.empty(w.shape[1], dtype=x.dtype)
    _dense_backward_kernel(dout, x, w, dx, dw, db)
    return dx, dw, db


@kernel(parallel=True)
def _dense_forward_kernel(x, w, b, y):
    N, D = x.shape
    K = w.shape[1]
    for n in prange(N):  # each sample writes its own row of y
        for k in range(K):
            y[n, k] = b[k]
        for d in range(D):
            xv = x[n, d]
            wrow = w[d]
            yrow = y[n]
            for k in range(K):
                yrow[k] += xv * wrow[k]


@kernel
def _dense_backward_kernel(dout, x, w, dx, dw, db):
    N, D = x.shape
    K = w.shape[1]
    dw[:] = 0
    db[:] = 0
    for n in range(N):
        drow = dout[n]
        for k in range(K):
            db[k] += drow[k]
        for d in range(D):
            xv = x[n, d]
            wrow = w[d]
            dwrow = dw[d]
            acc = drow[0] * wrow[0] * 0  # zero of the array's dtype
            for k in range(K):
                dwrow[k] += xv * drow[k]
                acc += drow[k] * wrow[k]
            dx[n, d] = acc
