"""Elementwise activations as Numba kernels, so a training step stays inside Numba.

numpy's ``np.where(x > 0, x, 0)`` makes a boolean mask, then a new array, in
two passes; these kernels do one pass. They are memory-bound and take tens of
microseconds, less than waking a second thread costs, so they run serially
(``prange`` is kept so the loop structure says the rows are independent).
"""

from __future__ import annotations

import numpy as np

from ._arrays import as_float, float_dtype
from ._numba import kernel, prange
from .geometry import GeometryError
from .i18n import tr, tr_noop

__all__ = ["relu_forward", "relu_backward", "warmup_activations"]


def relu_forward(x):
    """``y = max(x, 0)`` elementwise.

    Parameters
    ----------
    x : array (N, ...) of any shape with at least one axis
        float32 or float64 (other dtypes become float64).

    Returns
    -------
    y : array, shape and dtype of ``x``
    """
    x = np.asarray(x)
    x = as_float(x, float_dtype(x))
    y = np.empty_like(x)
    _relu_forward_kernel(_rows(x), _rows(y), x.dtype.type(0))
    return y


def relu_backward(dout, x):
    """``dx = dout`` where ``x > 0``, else 0.

    Parameters
    ----------
    dout : array, the shape of ``x``
        Upstream gradient, cast to the dtype of ``x``.
    x : array (N, ...)
        The forward input, or equally the forward output ``y`` (``y > 0``
        exactly where ``x > 0``), so a layer may keep either.

    Returns
    -------
    dx : array, shape and dtype of ``x``
    """
    dout, x = np.asarray(dout), np.asarray(x)
    if dout.shape != x.shape:
        raise GeometryError(
            tr("the upstream gradient has shape {dout} but the ReLU input has shape {x}")
            .format(dout=dout.shape, x=x.shape))
    dtype = float_dtype(x)
    x, dout = as_float(x, dtype), as_float(dout, dtype, tr_noop("the upstream gradient"))
    dx = np.empty_like(x)
    _relu_backward_kernel(_rows(dout), _rows(x), _rows(dx), dtype.type(0))
    return dx


def _rows(a):
    """View a C-contiguous array as (N, rest); 1-D and 0-D arrays become one row."""
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a.reshape(1, -1)
    return a.reshape(a.shape[0], -1)  # (N, C*H*W) or (N, D)


def _relu_forward_impl(x, y, zero):
    """x, y (N, M); zero is 0 in their dtype. NaN gives 0, as np.where(x > 0, x, 0)."""
    for n in prange(x.shape[0]):  # each sample writes its own row
        xr, yr = x[n], y[n]
        for k in range(xr.shape[0]):
            v = xr[k]
            yr[k] = v if v > zero else zero


def _relu_backward_impl(dout, x, dx, zero):
    """dout, x, dx (N, M); zero is 0 in their dtype."""
    for n in prange(x.shape[0]):  # each sample writes its own row
        dr, xr, dxr = dout[n], x[n], dx[n]
        for k in range(xr.shape[0]):
            dxr[k] = dr[k] if xr[k] > zero else zero


_relu_forward_kernel = kernel(_relu_forward_impl)
_relu_backward_kernel = kernel(_relu_backward_impl)


def warmup_activations(dtype=np.float32) -> None:
    """Compile (or load from cache) the activation kernels for ``dtype``."""
    x = np.ones((2, 3), dtype=dtype)
    relu_backward(x, relu_forward(x))
