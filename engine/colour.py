"""Colouring arrays through a colour table, for heat maps drawn many times a second.

The Training lab colours the feature and delta maps of every layer on every
frame. Done in numpy that is some thirty small calls per layer, all holding the
interpreter lock that the training thread needs between its kernels; here it is
one call per layer into a kernel that releases the lock. No Qt: the GUI passes
plain arrays (an RGBA canvas viewed as uint32 pixels) and draws the result.

The scaling is pyqtgraph's own (the numpy oracle ``rgba_image`` in
tests/gui/labs/training/test_lab.py checks both):
``index = clip((v - low) * n / (high - low), 0, n - 1)`` in float32, truncated,
NaN transparent.
"""

from __future__ import annotations

import math

import numpy as np

from ._numba import kernel

__all__ = ["colour_map_into", "FLOOR"]

FLOOR = 1e-12  # the smallest level span: an all-zero map still has a colour scale


def colour_map_into(out: np.ndarray, values: np.ndarray, index_map: np.ndarray,
                    signed_lut: np.ndarray, unsigned_lut: np.ndarray,
                    signed: str = "auto") -> tuple[tuple[float, float], bool]:
    """Colour ``values`` into the pixels ``out``, choosing the levels from the values.

    Parameters
    ----------
    out : (OH, OW) uint32 array, written in place
        RGBA pixels (a (OH, OW, 4) uint8 array viewed as uint32); may be a strided
        view into a larger canvas. A pixel whose value is NaN or whose index is -1
        becomes 0 (transparent).
    values : float array of any shape
        Read as float32, flattened in C order.
    index_map : (OH, OW) integer array
        For each pixel, the flat index of its value in ``values``, or -1.
    signed_lut, unsigned_lut : (n, 4) uint8 colour tables
        The first (a diverging map) when the levels are signed, the second otherwise.
    signed : "auto" or "always"
        "always": levels (-m, m) with m = max |finite value|. "auto": the same when
        any value is negative, else (0, max finite value).

    Returns
    -------
    levels : (low, high)
        The values mapped to the first and the last colour.
    signed : bool
        Whether ``signed_lut`` was used.
    """
    if signed not in ("auto", "always"):
        raise ValueError(f'signed must be "auto" or "always", not {signed!r}')
    flat = _read_only(np.ascontiguousarray(values, dtype=np.float32).reshape(-1))
    index_map = np.asarray(index_map)
    if out.dtype != np.uint32 or out.ndim != 2 or out.shape != index_map.shape:
        raise ValueError(f"out must be a 2-D uint32 array of the index map's shape "
                         f"{index_map.shape}, not {out.dtype} {out.shape}")
    if index_map.size and (index_map.min() < -1 or index_map.max() >= flat.size):
        raise ValueError(f"the index map points outside the {flat.size} values")
    luts = []
    for lut in (signed_lut, unsigned_lut):
        if lut.dtype != np.uint8 or lut.ndim != 2 or lut.shape[1] != 4 or lut.shape[0] < 1:
            raise ValueError(f"a colour table must be (n, 4) uint8, not {lut.dtype} {lut.shape}")
        luts.append(_read_only(np.ascontiguousarray(lut).view(np.uint32).reshape(-1)))
    low, high, negative = _finite_range(flat)
    is_signed = signed == "always" or negative
    if is_signed:
        m = max(abs(low), abs(high), FLOOR) if math.isfinite(low) else FLOOR
        levels = (-m, m)
    else:
        levels = (0.0, max(high, FLOOR) if math.isfinite(high) else 1.0)
    lut = luts[0] if is_signed else luts[1]
    # pyqtgraph's scale, rounded to float32 the way numpy rounds it for float32 images
    scale = np.float32(lut.shape[0] / ((levels[1] - levels[0]) or 1.0))
    index_map = _read_only(np.ascontiguousarray(index_map, dtype=np.int64))
    pixels, row_stride = _as_rows(out)
    if pixels is None:  # rows that are not evenly spaced uint32s: colour a copy
        pixels = np.empty(out.shape, np.uint32)
        _colour_kernel(pixels.reshape(-1), out.shape[1], flat, index_map, lut,
                       np.float32(levels[0]), scale)
        out[...] = pixels
    elif out.size:
        _colour_kernel(pixels, row_stride, flat, index_map, lut, np.float32(levels[0]), scale)
    return levels, bool(is_signed)


def _read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view of ``array``: Numba types read-only and writable arrays apart, so
    every input reaches the kernels as the one type the warm-up compiled, whether the
    caller's array was writable or not (the shared colour tables are read-only)."""
    view = array.view()
    view.flags.writeable = False
    return view


def _as_rows(out: np.ndarray) -> tuple[np.ndarray | None, int]:
    """``out`` (OH, OW) as one flat run of pixels and the distance of its rows in pixels.

    The kernel always gets this one array type, a C-contiguous (n,) uint32 array: a strided
    view (a block of a larger canvas, the Network lab's columns) would otherwise be another
    type and a second compilation, on the GUI thread, after the warm-up compiled the first.
    (None, 0) when the columns are not adjacent pixels or the rows run backwards or overlap.
    """
    rows, cols = out.shape
    row_bytes, col_bytes = out.strides
    if rows == 0 or cols == 0:
        return np.empty(0, np.uint32), cols
    if rows > 1 and (row_bytes % 4 or row_bytes < 4 * cols):
        return None, 0
    if cols > 1 and col_bytes != 4:
        return None, 0
    row_stride = row_bytes // 4 if rows > 1 else cols
    length = (rows - 1) * row_stride + cols
    return np.lib.stride_tricks.as_strided(out, shape=(length,), strides=(4,)), row_stride


@kernel
def _finite_range(flat):
    """(min, max) of the finite values (inf, -inf when there are none) and
    whether any value, -inf included, is negative."""
    low, high = math.inf, -math.inf
    negative = False
    for i in range(flat.shape[0]):
        v = flat[i]
        if v < 0:
            negative = True
        if math.isfinite(v):
            if v < low:
                low = v
            if v > high:
                high = v
    return low, high, negative


@kernel
def _colour_kernel(pixels, row_stride, flat, index_map, lut, low, scale):
    """Pixel (r, c) of the (OH, OW) image is ``pixels[r * row_stride + c]``."""
    top = np.float32(lut.shape[0] - 1)
    zero = np.float32(0.0)
    for r in range(index_map.shape[0]):
        row = r * row_stride
        for c in range(index_map.shape[1]):
            k = index_map[r, c]
            if k < 0:
                pixels[row + c] = 0
                continue
            s = (flat[k] - low) * scale
            if s != s:  # NaN: transparent
                pixels[row + c] = 0
                continue
            if s < zero:
                s = zero
            elif s > top:
                s = top
            pixels[row + c] = lut[int(s)]
