"""The small per-step kernels of the training loop, in Numba.

Around the convolutions a training step did about a millisecond of numpy on the
calling thread: the shifted copy of the batch (fancy indexing: 0.4 ms for 64
digits), Adam's update (ten array expressions per parameter, each a temporary),
the gradient norms (a float64 square of every gradient) and the check that every
weight is finite. With two cores training at about 5 ms a step, that serial
millisecond was a fifth of it. These kernels do each in one pass, serially (they
are memory-bound and small: waking the second thread would cost more).
"""

from __future__ import annotations

import math

import numpy as np

from ._numba import FAST_FP, kernel

__all__ = ["shift_batch", "adam_update", "sum_of_squares"]


def shift_batch(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Every image moved by its own whole number of pixels, filling with zeros.

    Parameters
    ----------
    x : (N, C, H, W) float32 or float64, C-contiguous
    shifts : int64 (2, N): the row shift dy and the column shift dx of each image

    Returns
    -------
    (N, C, H, W), a new array: ``out[n, :, i, j] = x[n, :, i - dy_n, j - dx_n]``
    (0 where that is outside the image).
    """
    out = np.empty_like(x)
    _shift_kernel(np.ascontiguousarray(x), np.ascontiguousarray(shifts, dtype=np.int64), out,
                  x.dtype.type(0))
    return out


@kernel
def _shift_kernel(x, shifts, out, zero):
    """x, out (N, C, H, W); shifts (2, N); zero is 0 in x's dtype."""
    N, C, H, W = x.shape
    for n in range(N):
        dy, dx = shifts[0, n], shifts[1, n]
        j0, j1 = max(0, dx), min(W, W + dx)  # the columns that receive a pixel
        for c in range(C):
            for i in range(H):
                dst = out[n, c, i]
                r = i - dy
                if r < 0 or r >= H or j0 >= j1:
                    for j in range(W):
                        dst[j] = zero
                    continue
                src = x[n, c, r, j0 - dx:]
                for j in range(j0):
                    dst[j] = zero
                inside = dst[j0:]
                for j in range(j1 - j0):
                    inside[j] = src[j]
                for j in range(j1, W):
                    dst[j] = zero


def adam_update(p, g, m, v, lr_scaled, beta1, beta2, eps, v_hat_scale) -> None:
    """One Adam step for one parameter, in place, in one pass.

    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
    ``p -= lr_scaled * m / (sqrt(v * v_hat_scale) + eps)``, where lr_scaled is the
    rate times Adam's bias correction of m. p, g, m, v: arrays of one shape and dtype.
    """
    dt = p.dtype.type
    _adam_kernel(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), dt(lr_scaled),
                 dt(beta1), dt(1.0 - beta1), dt(beta2), dt(1.0 - beta2), dt(eps), dt(v_hat_scale))


@kernel(fastmath=FAST_FP)
def _adam_kernel(p, g, m, v, lr_scaled, beta1, one_minus_beta1, beta2, one_minus_beta2, eps,
                 v_hat_scale):
    """p, g, m, v (K,) of one dtype; the scalars in that dtype (float32 stays float32)."""
    for k in range(p.shape[0]):
        gk = g[k]
        mk = beta1 * m[k] + one_minus_beta1 * gk
        vk = beta2 * v[k] + one_minus_beta2 * (gk * gk)
        m[k] = mk
        v[k] = vk
        p[k] -= lr_scaled * mk / (math.sqrt(vk * v_hat_scale) + eps)


def sum_of_squares(a: np.ndarray) -> float:
    """The sum of the squares of ``a``'s values, in float64 (a large but finite float32
    gradient must not read as inf); inf or NaN when a value is not finite."""
    return float(_squares_kernel(np.ascontiguousarray(a).reshape(-1)))


@kernel(fastmath=FAST_FP)
def _squares_kernel(a):
    """a (K,) -> sum of a[k]**2 accumulated in float64."""
    total = 0.0
    for k in range(a.shape[0]):
        value = np.float64(a[k])
        total += value * value
    return total
