"""The views' array helpers (gui.labs.training.arrays): layouts, series, thinning."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("C,H,W", [(1, 5, 5), (8, 28, 28), (16, 14, 14), (10, 3, 7), (3, 1, 1)])
def test_mosaic_places_every_map_once(C, H, W):
    from gui.labs.training.arrays import mosaic

    maps = np.random.default_rng(C).random((C, H, W)).astype(np.float32)
    image = mosaic(maps)
    rows, cols = (image.shape[0] + 1) // (H + 1), (image.shape[1] + 1) // (W + 1)
    assert rows * cols >= C and (rows - 1) * cols < C  # no empty row of tiles
    for c in range(C):
        r, q = divmod(c, cols)
        np.testing.assert_array_equal(image[r * (H + 1):r * (H + 1) + H,
                                            q * (W + 1):q * (W + 1) + W], maps[c])
    # everything else is gap (NaN): exactly C*H*W finite values
    assert np.isfinite(image).sum() == C * H * W


def test_vector_grid_and_smoothing():
    from gui.labs.training.arrays import ema, vector_grid

    grid = vector_grid(np.arange(35, dtype=np.float32), cols=16)
    assert grid.shape == (3, 16)
    np.testing.assert_array_equal(grid.ravel()[:35], np.arange(35))
    assert np.isnan(grid.ravel()[35:]).all()
    values = np.array([1.0, 3.0, 2.0, 5.0])
    first, state = ema(values[:2], None, 0.5)
    second, _ = ema(values[2:], state, 0.5)
    expected, acc = [], None
    for v in values:  # the textbook recursion
        acc = v if acc is None else 0.5 * acc + 0.5 * v
        expected.append(acc)
    np.testing.assert_allclose(np.concatenate([first, second]), expected)


def test_index_image_is_the_layout_of_as_image():
    from gui.labs.training.arrays import as_image, index_image

    for shape in [(3, 4, 5), (16, 14, 14), (35,), (7,), (2, 9)]:
        values = np.random.default_rng(len(shape)).normal(size=shape).astype(np.float32)
        image, where = as_image(values), index_image(shape)
        assert where.shape == image.shape and where.dtype == np.int64
        gaps = where < 0
        np.testing.assert_array_equal(np.isnan(image), gaps)
        np.testing.assert_array_equal(image[~gaps], values.reshape(-1)[where[~gaps]])
        assert sorted(where[~gaps]) == list(range(values.size))  # every value exactly once


@pytest.mark.parametrize("n", [1, 999, 1000, 1001, 4321, 100_000])
def test_thin_keeps_the_newest_point_and_the_band_of_a_noisy_curve(n):
    from gui.labs.training.arrays import thin

    rng = np.random.default_rng(n)
    x = np.arange(n, dtype=np.float64)
    y = rng.normal(size=n)
    for envelope in (False, True):
        tx, ty = thin(x, y, max_points=1000, envelope=envelope)
        if n <= 1000:
            assert tx is x and ty is y  # short curves are drawn as they are
            continue
        k = -(-2 * n // 1000) if envelope else -(-n // 1000)
        assert len(tx) <= 1000 + k
        assert np.all(np.diff(tx) >= 0) and tx[0] == 0
        assert tx[-1] == n - 1 and ty[-1] == y[-1]  # the newest point is always drawn
        if envelope:  # every bin drawn as its own minimum and maximum
            m = (n - 1) // k * k
            bins = y[:m].reshape(-1, k)
            np.testing.assert_array_equal(ty[0:2 * len(bins):2], bins.min(axis=1))
            np.testing.assert_array_equal(ty[1:2 * len(bins):2], bins.max(axis=1))
            assert ty.min() == y.min() and ty.max() == y.max()
        else:  # a subset of the points, evenly spaced
            np.testing.assert_array_equal(ty, y[tx.astype(int)])
