"""Array preparation shared by the public kernel wrappers.

Every wrapper follows the same contract (docs/ARCHITECTURE.md): float32 or
float64 in, the same dtype out; any other real dtype (bool, integers, float16)
becomes float64; the companion arrays (w, b, dout) take the dtype of ``x``;
everything handed to a Numba kernel is C-contiguous, so each kernel compiles for
only two signatures. Arrays that do not hold real numbers (complex numbers, text,
dates, Python objects) are refused with a sentence instead of being converted
(a complex array would silently lose its imaginary part).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from numba import get_num_threads, set_num_threads

from .geometry import GeometryError
from .i18n import tr, tr_noop

__all__ = ["real_array", "float_dtype", "as_float", "threads_for", "PARALLEL_MIN_WORK",
           "POOL_COST"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_REAL_KINDS = "biuf"  # bool, signed and unsigned integers, floats
# what an array of another kind holds, for the sentence
_KIND_WORDS = {
    "c": tr_noop("complex numbers"),
    "U": tr_noop("text"),
    "S": tr_noop("text (bytes)"),
    "M": tr_noop("dates"),
    "m": tr_noop("time spans"),
    "O": tr_noop("Python objects"),
    "V": tr_noop("raw records"),
}


def real_array(a, what: str = tr_noop("an input")) -> np.ndarray:
    """``np.asarray(a)``, refused with a GeometryError unless it holds real numbers.

    ``what`` names the array in the sentence, e.g. "the kernels" (a msgid: callers mark
    it with tr_noop; it is translated only when the sentence is needed).
    """
    arr = np.asarray(a)
    if arr.dtype.kind not in _REAL_KINDS:
        kind = tr(_KIND_WORDS.get(arr.dtype.kind, tr_noop("values that are not numbers")))
        raise GeometryError(
            tr("{what} holds {kind} ({dtype}); the engine computes with real numbers only "
               "(float32 or float64)").format(what=tr(what), kind=kind, dtype=arr.dtype))
    return arr


def float_dtype(a, what: str = tr_noop("the input")) -> np.dtype:
    """The dtype the engine computes ``a`` in: its own if float32/float64, else float64.

    Raises GeometryError if ``a`` does not hold real numbers (see :func:`real_array`).
    """
    dtype = real_array(a, what).dtype
    return dtype if dtype in _FLOATS else np.dtype(np.float64)


def as_float(a, dtype, what: str = tr_noop("an input")) -> np.ndarray:
    """``a`` as a C-contiguous array of ``dtype`` (no copy when it already is one).

    Raises GeometryError if ``a`` does not hold real numbers (see :func:`real_array`).
    """
    return np.ascontiguousarray(real_array(a, what), dtype=dtype)


# Below this many multiply-adds a kernel runs on the calling thread only (callers
# count a pooled or copied element as POOL_COST multiply-adds): waking the second
# thread costs 5-30 us on an idle machine, and on a busy one a parallel region
# waits for a free core (measured 0.1-0.6 ms for a 4x4 image), more than the
# work itself. Measured: the dense layer of W6 (0.5M multiply-adds) ran in 16 us
# on one thread and 44 us on two.
PARALLEL_MIN_WORK = 2_000_000
POOL_COST = 16


@contextmanager
def threads_for(work: int):
    """Run the enclosed Numba kernels serially when ``work`` is small.

    ``numba.set_num_threads`` is per calling thread, so this never changes the
    thread count another Python thread's kernels use.
    """
    if work >= PARALLEL_MIN_WORK:
        yield
        return
    previous = get_num_threads()
    set_num_threads(1)
    try:
        yield
    finally:
        set_num_threads(previous)
