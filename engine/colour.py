"""Colouring arrays through a colour table, for heat maps drawn many times a second.

The Training lab colours the feature and delta maps of every layer on every
frame. Done in numpy that is some thirty small calls per layer, all holding the
interpreter lock that the training thread needs between its kernels; here it is
one call per layer into a kernel that releases the lock, through a
:class:`ColourMapper` that checked the pixels and the index map once. No Qt: the GUI passes
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

__all__ = ["ColourMapper", "colour_map_into", "FLOOR"]

FLOOR = 1e-12  # the smallest level span: an all-zero map still has a colour scale
_INT32_MAX, _INT32_MIN = 2**31 - 1, -(2**31)


class ColourMapper:
    """Colours one index map's pixels from values, many times (a heat map drawn every frame).

    Everything but the values is checked and converted once, here; :meth:`colour` then
    costs one kernel call and a few numpy views (the Training lab colours some ten
    layers a frame, and every microsecond of the GUI thread is one of training's).

    Parameters
    ----------
    out : (OH, OW) uint32 array, written in place by :meth:`colour`
        RGBA pixels (a (OH, OW, 4) uint8 array viewed as uint32); may be a strided
        view into a larger canvas. A pixel whose value is NaN or whose index is -1
        becomes 0 (transparent).
    index_map : (OH, OW) integer array
        For each pixel, the flat index of its value in the values, or -1.
    signed_lut, unsigned_lut : (n, 4) uint8 colour tables
        The first (a diverging map) when the levels are signed, the second otherwise.
    signed : "auto" or "always"
        "always": levels (-m, m) with m = max |finite value|. "auto": the same when
        any value is negative, else (0, max finite value).
    """

    def __init__(self, out: np.ndarray, index_map: np.ndarray, signed_lut: np.ndarray,
                 unsigned_lut: np.ndarray, signed: str = "auto"):
        if signed not in ("auto", "always"):
            raise ValueError(f'signed must be "auto" or "always", not {signed!r}')
        index_map = np.asarray(index_map)
        if out.dtype != np.uint32 or out.ndim != 2 or out.shape != index_map.shape:
            raise ValueError(f"out must be a 2-D uint32 array of the index map's shape "
                             f"{index_map.shape}, not {out.dtype} {out.shape}")
        if index_map.size and index_map.min() < -1:
            raise ValueError("the index map points outside the values (an index below -1)")
        # the values needed: one past the largest index
        self.size = int(index_map.max()) + 1 if index_map.size else 0
        if self.size > _INT32_MAX:
            raise ValueError(f"the index map points beyond {_INT32_MAX} values")
        self._luts = []
        for lut in (signed_lut, unsigned_lut):
            if lut.dtype != np.uint8 or lut.ndim != 2 or lut.shape[1] != 4 or lut.shape[0] < 1:
                raise ValueError(f"a colour table must be (n, 4) uint8, not {lut.dtype} "
                                 f"{lut.shape}")
            self._luts.append(_read_only(np.ascontiguousarray(lut).view(np.uint32).reshape(-1)))
        self._always = signed == "always"
        self._index_map = _read_only(np.ascontiguousarray(index_map, dtype=np.int32))
        # (OH,) whether a row indexes the same values as the one above: a map scaled up
        # to its square repeats most rows, which are then copied, not coloured again
        repeats = np.zeros(index_map.shape[0], np.bool_)
        repeats[1:] = (self._index_map[1:] == self._index_map[:-1]).all(axis=1)
        self._repeats = _read_only(repeats)
        self._out = out
        self._copy = None
        self._pixels, self._row_stride = _as_rows(out)
        if self._pixels is None:  # rows that are not evenly spaced uint32s: colour a copy
            self._copy = np.empty(out.shape, np.uint32)
            self._pixels, self._row_stride = self._copy.reshape(-1), out.shape[1]

    def colour(self, values: np.ndarray) -> tuple[tuple[float, float], bool]:
        """Colour the pixels from ``values``, choosing the levels from the values.

        Parameters
        ----------
        values : float array of any shape
            Read as float32, flattened in C order; at least :attr:`size` of them.

        Returns
        -------
        levels : (low, high)
            The values mapped to the first and the last colour.
        signed : bool
            Whether the signed colour table was used.
        """
        flat = _read_only(np.ascontiguousarray(values, dtype=np.float32).reshape(-1))
        if flat.size < self.size:
            raise ValueError(f"the index map points outside the {flat.size} values")
        low, high, is_signed = _colour_kernel(
            self._pixels, self._row_stride, flat, flat.view(np.int32), self._index_map,
            self._repeats, self._luts[0], self._luts[1], self._always)
        if self._copy is not None:
            self._out[...] = self._copy
        return (low, high), bool(is_signed)


def colour_map_into(out: np.ndarray, values: np.ndarray, index_map: np.ndarray,
                    signed_lut: np.ndarray, unsigned_lut: np.ndarray,
                    signed: str = "auto") -> tuple[tuple[float, float], bool]:
    """Colour ``values`` into the pixels ``out`` once (:class:`ColourMapper` for the
    parameters; a view drawn every frame keeps its mapper).

    Returns
    -------
    levels : (low, high)
        The values mapped to the first and the last colour.
    signed : bool
        Whether ``signed_lut`` was used.
    """
    return ColourMapper(out, index_map, signed_lut, unsigned_lut, signed).colour(values)


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
def _float_of_key(key):
    """The float32 whose order key (see _colour_kernel) is ``key``."""
    bits = np.empty(1, np.int32)
    bits[0] = key ^ ((key >> np.int32(31)) & np.int32(0x7FFFFFFF))
    return bits.view(np.float32)[0]


@kernel
def _colour_kernel(pixels, row_stride, flat, bits, index_map, repeats, signed_lut,
                   unsigned_lut, always):
    """Levels from the finite values, then pixel (r, c) of the (OH, OW) image, which is
    ``pixels[r * row_stride + c]``, coloured from ``flat[index_map[r, c]]``; a row whose
    ``repeats[r]`` is set indexes what the row above does and is copied from it.

    ``bits`` is ``flat`` read as int32. The range is found on those bit patterns:
    ``b ^ ((b >> 31) & 0x7FFFFFFF)`` orders float32s as signed integers, and integer
    min/max loops vectorise where float ones with a finiteness test do not (about 3x
    faster).
    Returns (low level, high level, whether the signed table was used).
    """
    low_key, high_key = np.int32(_INT32_MAX), np.int32(_INT32_MIN)
    negative = 0
    for i in range(bits.shape[0]):
        b = bits[i]
        magnitude = b & np.int32(0x7FFFFFFF)
        finite = magnitude < np.int32(0x7F800000)
        key = b ^ ((b >> np.int32(31)) & np.int32(0x7FFFFFFF))
        low_key = min(low_key, key if finite else np.int32(_INT32_MAX))
        high_key = max(high_key, key if finite else np.int32(_INT32_MIN))
        # v < 0: the sign bit, not -0.0, not NaN (-inf is negative)
        negative |= (b < 0) & (magnitude > 0) & (magnitude <= np.int32(0x7F800000))
    any_finite = low_key <= high_key
    low = np.float64(_float_of_key(low_key)) if any_finite else math.inf
    high = np.float64(_float_of_key(high_key)) if any_finite else -math.inf
    is_signed = always or negative != 0
    if is_signed:
        m = max(abs(low), abs(high), FLOOR) if any_finite else FLOOR
        low_level, high_level = -m, m
        lut = signed_lut
    else:
        low_level, high_level = 0.0, (max(high, FLOOR) if any_finite else 1.0)
        lut = unsigned_lut
    span = high_level - low_level
    # pyqtgraph's scale, rounded to float32 the way numpy rounds it for float32 images
    scale = np.float32(lut.shape[0] / (span if span != 0.0 else 1.0))
    start = np.float32(low_level)
    top = np.float32(lut.shape[0] - 1)
    zero = np.float32(0.0)
    for r in range(index_map.shape[0]):
        row = r * row_stride
        if repeats[r]:
            for c in range(index_map.shape[1]):  # (a slice assignment compiles 3 s longer)
                pixels[row + c] = pixels[row - row_stride + c]
            continue
        for c in range(index_map.shape[1]):
            k = index_map[r, c]
            if k < 0:
                pixels[row + c] = 0
                continue
            s = (flat[k] - start) * scale
            if s != s:  # NaN: transparent
                pixels[row + c] = 0
                continue
            if s < zero:
                s = zero
            elif s > top:
                s = top
            pixels[row + c] = lut[int(s)]
    return low_level, high_level, is_signed
