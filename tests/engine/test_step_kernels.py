"""The training loop's small kernels (engine.step_kernels) against plain numpy."""

import numpy as np
import pytest

from engine.optim import Adam
from engine.step_kernels import adam_update, shift_batch, sum_of_squares


def _shift_reference(x, shifts):
    """What engine.training.shift_images did in numpy: pad, then fancy-index."""
    N, C, H, W = x.shape
    m = int(np.abs(shifts).max()) if shifts.size else 0
    padded = np.pad(x, ((0, 0), (0, 0), (m, m), (m, m)))
    rows = np.arange(H)[None, :] + (m - shifts[0])[:, None]
    cols = np.arange(W)[None, :] + (m - shifts[1])[:, None]
    n = np.arange(N)[:, None, None, None]
    c = np.arange(C)[None, :, None, None]
    return padded[n, c, rows[:, None, :, None], cols[:, None, None, :]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7, 1, 28, 28), (5, 3, 4, 9), (3, 2, 1, 1)])
def test_shift_batch_matches_padding_and_indexing(shape, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    for limit in (0, 1, 2, 5):  # 5: shifts past the image's size leave zeros only
        shifts = rng.integers(-limit, limit + 1, size=(2, shape[0]))
        got = shift_batch(x, shifts)
        assert got.dtype == dtype and got.shape == x.shape
        np.testing.assert_array_equal(got, _shift_reference(x, shifts))


def test_shift_batch_keeps_nan_and_inf_where_they_move():
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 1, 1], x[0, 0, 2, 2] = np.nan, np.inf
    got = shift_batch(x, np.array([[1], [-1]]))
    assert np.isnan(got[0, 0, 2, 0]) and np.isinf(got[0, 0, 3, 1])
    assert np.isfinite(got).sum() == 14


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_update_is_the_formula(dtype):
    rng = np.random.default_rng(1)
    p, g = rng.standard_normal((2, 3, 5, 7)).astype(dtype)
    m, v = rng.standard_normal((2, 3, 5, 7)).astype(dtype)
    v = np.abs(v)
    lr, b1, b2, eps, t = 3e-3, 0.9, 0.999, 1e-8, 4
    m_want = b1 * m + (1 - b1) * g
    v_want = b2 * v + (1 - b2) * g * g
    p_want = p - lr / (1 - b1 ** t) * m_want / (np.sqrt(v_want / (1 - b2 ** t)) + eps)
    adam_update(p, g, m, v, lr / (1 - b1 ** t), b1, b2, eps, 1 / (1 - b2 ** t))
    tol = dict(rtol=1e-5, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-15)
    for got, want in ((m, m_want), (v, v_want), (p, p_want)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **tol)


def test_adam_optimizer_with_and_without_the_kernel_agree():
    rng = np.random.default_rng(2)
    params = [rng.standard_normal((4, 6)).astype(np.float32) for _ in range(2)]
    strided = [p.copy() for p in params]
    # a non-contiguous parameter takes the numpy path
    views = [np.zeros((4, 12), np.float32)[:, ::2] for _ in range(2)]
    for view, p in zip(views, strided, strict=True):
        view[...] = p
    fast, slow = Adam(1e-2), Adam(1e-2)
    for _ in range(3):
        grads = [rng.standard_normal((4, 6)).astype(np.float32) for _ in range(2)]
        fast.step(params, grads)
        slow.step(views, grads)
    for a, b in zip(params, views, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_sum_of_squares_in_float64():
    big = np.full(10, 3e30, np.float32)  # squares overflow float32, not float64
    assert sum_of_squares(big) == pytest.approx(10 * 9e60, rel=1e-6)
    a = np.random.default_rng(3).standard_normal((3, 4, 5))
    assert sum_of_squares(a) == pytest.approx(np.sum(a * a), rel=1e-12)
    assert sum_of_squares(np.zeros(0, np.float32)) == 0.0
    assert np.isnan(sum_of_squares(np.array([1.0, np.nan], np.float32)))
    assert np.isinf(sum_of_squares(np.array([1.0, -np.inf])))
    assert sum_of_squares(np.ones((4, 6))[:, ::2]) == 12.0  # a non-contiguous view
