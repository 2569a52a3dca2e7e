"""Fully connected (dense) layer kernels, in Numba.

The whole training step stays inside Numba: calling numpy's BLAS between Numba
parallel regions starves BLAS of threads on small machines (see docs/PERFORMANCE.md),
so the dense layer has its own loops instead of ``x @ w``. Every ``prange``
iteration writes its own row of the output, so threads never share memory.
"""

from __future__ import annotations

import numpy as np

from ._arrays import as_float, float_dtype, threads_for
from ._numba import FAST_FP, kernel, prange
from .geometry import GeometryError
from .i18n import tr, tr_noop

__all__ = ["dense_forward", "dense_backward"]


def _check(x_shape, w_shape, b_shape=None):
    """Validate the shapes of a dense layer; raise GeometryError in words."""
    if len(x_shape) != 2 or len(w_shape) != 2:
        raise GeometryError(tr(
            "the dense layer expects inputs (N, D) and weights (D, K); got shapes {x} and "
            "{w}").format(x=tuple(x_shape), w=tuple(w_shape)))
    if x_shape[1] != w_shape[0]:
        raise GeometryError(tr("the dense layer expects {d} input features but got {got}")
                            .format(d=w_shape[0], got=x_shape[1]))
    if w_shape[1] < 1:
        raise GeometryError(tr("the dense layer needs at least one unit"))
    if b_shape is not None and tuple(b_shape) != (w_shape[1],):
        raise GeometryError(tr("the bias needs one value per unit ({units}), but it has shape "
                               "{shape}").format(units=w_shape[1], shape=tuple(b_shape)))


def dense_forward(x, w, b):
    """y = x @ w + b.

    Parameters
    ----------
    x : array (N, D)
        float32 or float64 (other dtypes become float64).
    w : array (D, K)
        Weights, cast to the dtype of ``x``.
    b : array (K,)
        Bias, cast to the dtype of ``x``.

    Returns
    -------
    y : array (N, K), dtype of ``x``
    """
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    _check(x.shape, w.shape, b.shape)
    dtype = float_dtype(x)
    x = as_float(x, dtype)
    w, b = as_float(w, dtype, tr_noop("the weights")), as_float(b, dtype, tr_noop("the bias"))
    y = np.empty((x.shape[0], w.shape[1]), dtype=dtype)
    with threads_for(x.size * w.shape[1]):
        _dense_forward_kernel(x, w, b, y)
    return y


def dense_backward(dout, x, w):
    """Gradients of y = x @ w + b.

    Parameters
    ----------
    dout : array (N, K)
        Upstream gradient, cast to the dtype of ``x``.
    x : array (N, D)
        The forward input.
    w : array (D, K)
        The forward weights.

    Returns
    -------
    dx : array (N, D)
    dw : array (D, K)
    db : array (K,)
        All in the dtype of ``x``.
    """
    dout, x, w = np.asarray(dout), np.asarray(x), np.asarray(w)
    _check(x.shape, w.shape)
    if dout.shape != (x.shape[0], w.shape[1]):
        raise GeometryError(tr(
            "the upstream gradient has shape {dout}, but the dense output has shape "
            "{shape}").format(dout=dout.shape, shape=(x.shape[0], w.shape[1])))
    dtype = float_dtype(x)
    dout = as_float(dout, dtype, tr_noop("the upstream gradient"))
    x, w = as_float(x, dtype), as_float(w, dtype, tr_noop("the weights"))
    dx = np.empty_like(x)
    dwt = np.empty((w.shape[1], w.shape[0]), dtype=dtype)  # dw transposed, (K, D)
    db = np.empty(w.shape[1], dtype=dtype)
    if x.shape[0] == 0:
        return dx, np.zeros_like(w), np.zeros_like(db)
    with threads_for(2 * x.size * w.shape[1]):
        _dense_backward_kernel(dout, x, w, dx, dwt, db)
    return dx, np.ascontiguousarray(dwt.T), db


def _dense_forward_impl(x, w, b, y):
    """x (N, D), w (D, K), b (K,) -> y (N, K).

    y[n, k] is a dot product of length D; with w transposed to (K, D) both of its
    operands are contiguous, so the long D loop vectorises.
    """
    N = x.shape[0]
    K = w.shape[1]
    wt = np.ascontiguousarray(w.T)  # (K, D)
    for n in prange(N):  # each sample writes its own row of y
        xrow = x[n]
        for k in range(K):
            wrow = wt[k]
            total = b[k]
            for d in range(xrow.shape[0]):
                total += xrow[d] * wrow[d]
            y[n, k] = total


_dense_forward_kernel = kernel(_dense_forward_impl, parallel=True, fastmath=FAST_FP)


def _dense_backward_impl(dout, x, w, dx, dwt, db):
    """dout (N, K), x (N, D), w (D, K) -> dx (N, D), dwt = dw^T (K, D), db (K,).

    dx[n] = sum_k dout[n, k] * w[:, k] and dw^T[k] = sum_n dout[n, k] * x[n] are
    both sums of long contiguous rows (w and dw handled transposed, (K, D)).
    Only explicit loops here: in a parallel kernel every array expression
    (``a[:] = 0``, ``db += row``) becomes a parallel region of its own, and
    launching one per sample cost 30x the arithmetic.
    """
    N, D = x.shape
    K = w.shape[1]
    wt = np.ascontiguousarray(w.T)  # (K, D)
    for n in prange(N):  # each sample writes its own row of dx
        dxrow = dx[n]
        for d in range(D):
            dxrow[d] = 0
        for k in range(K):
            g = dout[n, k]
            wrow = wt[k]
            for d in range(D):
                dxrow[d] += g * wrow[d]
    for k in prange(K):  # each unit writes its own row of dw^T and its db
        dwrow = dwt[k]
        for d in range(D):
            dwrow[d] = 0
        total = dout[0, k] - dout[0, k]  # a zero of the dtype
        for n in range(N):
            g = dout[n, k]
            total += g
            xrow = x[n]
            for d in range(D):
                dwrow[d] += g * xrow[d]
        db[k] = total


_dense_backward_kernel = kernel(_dense_backward_impl, parallel=True, fastmath=FAST_FP)
