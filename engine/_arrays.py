"""Array preparation shared by the public kernel wrappers.

Every wrapper follows the same contract (docs/ARCHITECTURE.md): float32 or
float64 in, the same dtype out; any other input dtype becomes float64; the
companion arrays (w, b, dout) take the dtype of ``x``; everything handed to a
Numba kernel is C-contiguous, so each kernel compiles for only two signatures.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from numba import get_num_threads, set_num_threads

__all__ = ["float_dtype", "as_float", "threads_for", "PARALLEL_MIN_WORK", "POOL_COST"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def float_dtype(a) -> np.dtype:
    """The dtype the engine computes ``a`` in: its own if float32/float64, else float64."""
    dtype = np.asarray(a).dtype
    return dtype if dtype in _FLOATS else np.dtype(np.float64)


def as_float(a, dtype) -> np.ndarray:
    """``a`` as a C-contiguous array of ``dtype`` (no copy when it already is one)."""
    return np.ascontiguousarray(a, dtype=dtype)


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
