"""Numba options, set in one place.

Every hot loop in the engine is compiled through :func:`kernel`, so caching,
threading and error behaviour are the same everywhere. ``cache=True`` writes the
compiled machine code next to the sources, so only the very first start pays for
compilation (about 10 s); later starts load it in a fraction of a second.
"""

from __future__ import annotations

import os

# Numba's OpenMP worker threads spin between parallel loops by default. On a busy
# two-core machine the spinning threads starve the one doing the work (the default
# training run took 40 s instead of 10-15 s), so they sleep instead. OpenMP reads
# this once, when its runtime starts at the first parallel loop; a value the user
# set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from numba import njit, prange  # noqa: F401  (prange is re-exported for the kernels)

_OPTIONS = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False)


def kernel(fn=None, *, parallel: bool = False, fastmath: bool = False):
    """Compile ``fn`` with the engine's Numba options.

    ``parallel=True`` only where iterations of a ``prange`` write separate memory.
    """
    def wrap(f):
        return njit(parallel=parallel, fastmath=fastmath, **_OPTIONS)(f)
    return wrap(fn) if fn is not None else wrap
