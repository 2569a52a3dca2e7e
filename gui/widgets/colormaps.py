"""Colour maps shared by every panel.

Signed quantities (kernels, convolution results, delta maps, gradients) use a
diverging map centred on 0, so white always means zero, red positive and blue
negative. Unsigned images (digits, photos, activations after ReLU) use greys.
"""

from __future__ import annotations

import functools

import numpy as np
import pyqtgraph as pg

__all__ = ["diverging", "greys", "symmetric_levels", "diverging_lut", "greys_lut"]


def diverging() -> pg.ColorMap:
    """Blue (negative) - white (zero) - red (positive)."""
    return pg.ColorMap(
        pos=np.array([0.0, 0.25, 0.5, 0.75, 1.0]),
        color=np.array([
            [33, 102, 172, 255],
            [146, 197, 222, 255],
            [247, 247, 247, 255],
            [244, 165, 130, 255],
            [178, 24, 43, 255],
        ], dtype=np.ubyte),
    )


def greys() -> pg.ColorMap:
    """Black (0) to white (max)."""
    return pg.ColorMap(pos=np.array([0.0, 1.0]),
                       color=np.array([[0, 0, 0, 255], [255, 255, 255, 255]], dtype=np.ubyte))


@functools.lru_cache(maxsize=8)
def diverging_lut(n: int = 256) -> np.ndarray:
    """Lookup table (n, 4) uint8 for ``ImageItem.setLookupTable``.

    Made once per size and shared, read-only: a lab of 60 matrix views spent 13 ms of
    its construction (on the GUI thread) interpolating the same table 60 times.
    """
    return _read_only(diverging().getLookupTable(0.0, 1.0, n, alpha=True))


@functools.lru_cache(maxsize=8)
def greys_lut(n: int = 256) -> np.ndarray:
    """As :func:`diverging_lut`, black to white."""
    return _read_only(greys().getLookupTable(0.0, 1.0, n, alpha=True))


def _read_only(lut: np.ndarray) -> np.ndarray:
    lut.flags.writeable = False  # shared by every view: nobody may change it in place
    return lut


def symmetric_levels(a: np.ndarray, floor: float = 1e-12) -> tuple[float, float]:
    """Levels (-m, m) with m = max |a|, so that 0 sits in the middle of a diverging map."""
    finite = np.asarray(a)[np.isfinite(a)]
    m = float(np.abs(finite).max()) if finite.size else 0.0
    m = max(m, floor)
    return -m, m
