"""Shared by the Training lab's tests: the oracle for the views' colouring."""

from __future__ import annotations

import numpy as np
import pytest


def rgba_image(image: np.ndarray, levels: tuple[float, float], lut: np.ndarray) -> np.ndarray:
    """The oracle for the GUI's colouring (engine.colour): a float image through a
    colour table in numpy, as pyqtgraph's ImageItem maps it, NaN transparent.

    Parameters
    ----------
    image : (H, W) float array (NaN: transparent)
    levels : (low, high) values mapped to the first and last colour
    lut : (n, 4) uint8 colour table

    Returns
    -------
    (H, W, 4) uint8 RGBA array (checked against pyqtgraph's makeARGB below).
    """
    low, high = levels
    n = lut.shape[0]
    scaled = (image - low) * (n / ((high - low) or 1.0))  # pyqtgraph's own scaling
    np.clip(scaled, 0, n - 1, out=scaled)  # NaN stays NaN
    np.copyto(scaled, n, where=np.isnan(scaled))  # NaN -> the transparent row below
    transparent = np.zeros((1, lut.shape[1]), lut.dtype)
    return np.concatenate([lut, transparent]).take(scaled.astype(np.intp), axis=0)  # (H, W, 4)


@pytest.fixture
def colour_oracle():
    """:func:`rgba_image`, the numpy oracle for engine.colour's heat-map colouring."""
    return rgba_image
