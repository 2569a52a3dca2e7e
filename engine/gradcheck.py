"""Numerical gradient checking: the independent oracle for every backward pass.

A backward pass is trusted only when it agrees with centred finite differences::

    d/dx_i sum(f(x) * dout)  ~=  (sum(f(x + eps e_i) * dout) - sum(f(x - eps e_i) * dout)) / (2 eps)

Everything here runs in float64: with float32 a perturbation of 1e-6 is lost in
rounding and the "error" measured would be the rounding, not the bug.

The Backprop lab shows :func:`relative_error` to students, so it is one number per
tensor with a fixed, documented definition (see its docstring).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

__all__ = ["numerical_gradient", "relative_error", "check_layer_gradients"]


def numerical_gradient(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout,
                       eps: float = 1e-6) -> np.ndarray:
    """Centred-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``.

    Parameters
    ----------
    f : callable
        ``f(x) -> y``; called twice per element of ``x``. It may ignore its
        argument and read ``x`` through a closure (that is how parameters of a
        layer are checked), because ``x`` is perturbed in place.
    x : ndarray, float64, any shape
        Perturbed one element at a time and restored exactly afterwards.
    dout : ndarray, shape of ``f(x)``
        The upstream gradient that weights the outputs.
    eps : float
        The step of the centred difference.

    Returns
    -------
    grad : ndarray, float64, shape of ``x``

    Raises
    ------
    ValueError
        If ``x`` is not a writable float64 array, or ``dout`` does not match ``f(x)``.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise ValueError("numerical gradients need x as a float64 array "
                         f"(got {getattr(x, 'dtype', type(x).__name__)}): in float32 a step "
                         "of 1e-6 is lost in rounding")
    if not x.flags.writeable:
        raise ValueError("x must be writable: it is perturbed in place and restored")
    dout = np.asarray(dout, dtype=np.float64)
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + eps
        plus = _weighted_sum(f(x), dout)
        x[index] = original - eps
        minus = _weighted_sum(f(x), dout)
        x[index] = original  # restore exactly (not original + eps - eps)
        grad[index] = (plus - minus) / (2.0 * eps)
    return grad


def _weighted_sum(y, dout) -> float:
    y = np.asarray(y, dtype=np.float64)
    if y.shape != dout.shape:
        raise ValueError(f"dout has shape {dout.shape} but f(x) has shape {y.shape}")
    return float(np.sum(y * dout))


def relative_error(a, b, floor: float = 1e-10) -> float:
    """One relative error for a whole tensor: ``max|a - b| / max(max(|a| + |b|), floor)``.

    Both maxima run over all elements. Scaling by the largest magnitude (rather
    than element by element, as in the CS231n notes) keeps tiny entries, whose
    finite differences are pure rounding noise, from dominating the number. The
    ``floor`` handles gradients that are zero in exact arithmetic (a conv bias
    just before batch normalisation): rounding leaves ~1e-18 there, which
    must read as agreement, not as a relative error of 1. Two all-zero tensors
    give 0.0. Rules of thumb in float64: below 1e-7 is a correct gradient,
    above 1e-4 is almost certainly a bug.

    Parameters
    ----------
    a, b : array_like, same shape
    floor : float
        Smallest denominator.

    Returns
    -------
    float
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare gradients of shapes {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(a) + np.abs(b))), floor)
    return float(np.max(np.abs(a - b)) / scale)


def check_layer_gradients(layer, x, seed: int = 0, eps: float = 1e-6) -> dict[str, float]:
    """Compare a layer's backward pass with numerical gradients, in float64.

    The layer itself is left untouched: a float64 copy is checked. The copy runs
    in training mode (so batch normalisation uses the batch statistics) with a
    random upstream gradient ``dout`` drawn from ``seed``.

    Parameters
    ----------
    layer : engine.layers.Layer
    x : ndarray, shape (N, ...) accepted by the layer
    seed : int
        Seeds the random ``dout``.
    eps : float
        Step of the centred differences.

    Returns
    -------
    dict[str, float]
        ``{"x": error of dx, "<param>": error of d<param>, ...}``, one
        :func:`relative_error` per tensor, e.g. ``{"x": 3e-10, "w": 1e-10, "b": 4e-12}``.
    """
    checked = copy.deepcopy(layer)
    for key in checked.params:
        checked.params[key] = np.array(checked.params[key], dtype=np.float64)
    x64 = np.array(x, dtype=np.float64)  # a private copy: it is perturbed in place

    y = checked.forward(x64, training=True)
    dout = np.random.default_rng(seed).standard_normal(y.shape)
    dx = checked.backward(dout)
    analytic = {key: np.array(g, dtype=np.float64) for key, g in checked.grads.items()}

    errors = {"x": relative_error(
        dx, numerical_gradient(lambda v: checked.forward(v, training=True), x64, dout, eps))}
    for key, param in checked.params.items():
        numeric = numerical_gradient(lambda _p: checked.forward(x64, training=True),
                                     param, dout, eps)
        errors[key] = relative_error(analytic[key], numeric)
    return errors
