"""Array helpers of the Training lab's live views, without Qt.

How a layer's output is laid out as one image (:func:`mosaic` for (C, H, W) maps,
:func:`vector_grid` for (D,) vectors, :func:`index_image` for where each value lands),
and how a growing curve is stored (:class:`Series`), smoothed (:func:`ema`) and thinned
for drawing (:func:`thin`). Plain numpy: tested without a screen.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["grid_shape", "mosaic", "vector_grid", "as_image", "index_image", "Series", "ema",
           "thin", "MAX_CURVE_POINTS"]

def grid_shape(count: int, tile_h: int = 1, tile_w: int = 1) -> tuple[int, int]:
    """(rows, cols) for ``count`` tiles, making the mosaic roughly square."""
    cols = max(1, math.ceil(math.sqrt(count * tile_h / max(tile_w, 1))))
    cols = min(cols, count) if count else 1
    return math.ceil(count / cols) if count else 1, cols


def mosaic(maps: np.ndarray, cols: int | None = None, gap: int = 1, fill=np.nan) -> np.ndarray:
    """Tile maps side by side, ``fill`` in the gaps (NaN: drawn transparent).

    Parameters
    ----------
    maps : (C, H, W) array
    cols : tiles per row; None makes the mosaic roughly square

    Returns
    -------
    (rows*H + (rows-1)*gap, cols*W + (cols-1)*gap) array of the dtype of ``maps``
    """
    C, H, W = maps.shape
    rows, cols = grid_shape(C, H, W) if cols is None else (math.ceil(C / cols), cols)
    # every tile with its gap below and to the right, gap-filled: no Python loop
    tiles = np.full((rows * cols, H + gap, W + gap), fill, dtype=maps.dtype)
    tiles[:C, :H, :W] = maps
    # (rows, cols, H+gap, W+gap) -> (rows, H+gap, cols, W+gap) -> 2-D, then drop the last gaps
    grid = tiles.reshape(rows, cols, H + gap, W + gap).transpose(0, 2, 1, 3)
    grid = grid.reshape(rows * (H + gap), cols * (W + gap))
    return grid[:rows * (H + gap) - gap, :cols * (W + gap) - gap]


def vector_grid(v: np.ndarray, cols: int = 16, fill=np.nan) -> np.ndarray:
    """A (D,) vector as a grid of cells, row by row, ``fill`` after the end.

    Returns (ceil(D/cols), min(D, cols)), the dtype of ``v``.
    """
    D = v.shape[0]
    cols = max(1, min(cols, D))
    out = np.full(math.ceil(D / cols) * cols, fill, dtype=v.dtype)
    out[:D] = v
    return out.reshape(-1, cols)  # (rows, cols)


def _layout(a: np.ndarray, fill) -> np.ndarray:
    if a.ndim == 3:
        return mosaic(a, fill=fill)
    if a.ndim == 1:
        return vector_grid(a, cols=10 if a.shape[0] <= 10 else 16, fill=fill)
    return a.reshape(a.shape[0], -1)


def as_image(a: np.ndarray) -> np.ndarray:
    """A layer output (C,H,W) or (D,) as one 2-D float32 image (mosaic or grid)."""
    return _layout(np.asarray(a, dtype=np.float32), np.nan)


def index_image(shape: tuple[int, ...]) -> np.ndarray:
    """Where :func:`as_image` puts each value of an array of ``shape``: the same
    layout holding flat (C-order) indices, -1 in the gaps. (h, w) int64."""
    return _layout(np.arange(math.prod(shape), dtype=np.int64).reshape(shape), -1)


class Series:
    """Append-only (x, y) storage that grows by doubling; ``view()`` is no copy."""

    def __init__(self, capacity: int = 1024):
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def clear(self) -> None:
        self._n = 0

    def extend(self, x, y) -> None:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        need = self._n + x.shape[0]
        if need > self._x.shape[0]:
            size = max(need, 2 * self._x.shape[0])
            self._x = np.resize(self._x, size)
            self._y = np.resize(self._y, size)
        self._x[self._n:need] = x
        self._y[self._n:need] = y
        self._n = need

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        return self._x[:self._n], self._y[:self._n]


def ema(values: np.ndarray, start: float | None, alpha: float) -> tuple[np.ndarray, float]:
    """Exponential moving average of ``values`` continuing from ``start``."""
    out = np.empty_like(values, dtype=np.float64)
    acc = start
    for k, v in enumerate(values):
        acc = v if acc is None else (1.0 - alpha) * acc + alpha * v
        out[k] = acc
    return out, acc


MAX_CURVE_POINTS = 1000  # about one drawn point per pixel of a wide plot


def thin(x: np.ndarray, y: np.ndarray, max_points: int = MAX_CURVE_POINTS,
         envelope: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``max_points`` of a long curve, for drawing.

    Parameters
    ----------
    x, y : (n,) arrays
    envelope : False keeps every k-th point and the last one (enough for a smooth
        curve); True draws each bin of k points as its minimum then its maximum at
        the bin's first x, so a noisy curve keeps its band (pyqtgraph's "peak"
        downsampling, done here once per redraw instead of in every paint).

    Returns
    -------
    (m,) x and y with m <= max_points + k (the unbinned tail is kept as it is)
    """
    n = x.shape[0]
    if n <= max_points:
        return x, y
    if not envelope:
        k = -(-n // max_points)
        keep = np.arange(0, n, k)
        if keep[-1] != n - 1:
            keep = np.append(keep, n - 1)  # the newest point is always drawn
        return x[keep], y[keep]
    k = -(-2 * n // max_points)  # two drawn points per bin
    m = (n - 1) // k * k  # whole bins; the tail (at least the newest point) stays as it is
    bins = y[:m].reshape(-1, k)  # (n // k, k)
    xs = np.repeat(x[:m:k], 2)
    ys = np.stack([bins.min(axis=1), bins.max(axis=1)], axis=1).reshape(-1)  # min, max, ...
    return np.concatenate([xs, x[m:]]), np.concatenate([ys, y[m:]])
