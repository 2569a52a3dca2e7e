"""Array preparation shared by the public kernel wrappers.

Every wrapper follows the same contract (docs/ARCHITECTURE.md): float32 or
float64 in, the same dtype out; any other input dtype becomes float64; the
companion arrays (w, b, dout) take the dtype of ``x``; everything handed to a
Numba kernel is C-contiguous, so each kernel compiles for only two signatures.
"""

from __future__ import annotations

import numpy as np

__all__ = ["float_dtype", "as_float"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def float_dtype(a) -> np.dtype:
    """The dtype the engine computes ``a`` in: its own if float32/float64, else float64."""
    dtype = np.asarray(a).dtype
    return dtype if dtype in _FLOATS else np.dtype(np.float64)


def as_float(a, dtype) -> np.ndarray:
    """``a`` as a C-contiguous array of ``dtype`` (no copy when it already is one)."""
    return np.ascontiguousarray(a, dtype=dtype)
