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

import hashlib
import shutil
from pathlib import Path

import numba
from numba import njit, prange  # noqa: F401  (prange is re-exported for the kernels)

# Let LLVM reorder sums (to vectorise the dot products) and fuse multiply-adds, but
# keep IEEE NaN/inf semantics (no 'nnan'/'ninf'), so a diverging training run still
# shows NaN instead of whatever a no-NaN assumption would produce.
FAST_FP = {"reassoc", "contract"}


def _kernel_sources_digest(folder: Path) -> str:
    """A digest of every engine module that compiles kernels (and of this one)."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        text = path.read_bytes()
        if path.name == "_numba.py" or b"from ._numba import" in text:
            digest.update(path.name.encode() + b"\0" + text)
    return digest.hexdigest()[:16]


def _use_versioned_cache() -> None:
    """Keep compiled kernels in a cache folder named after the kernel sources.

    Numba re-validates a cached kernel only against the file that defines it, but
    the conv kernels inline loops from engine/_flat.py: after an edit there, the
    stale machine code would keep loading. A folder per version of the sources
    makes any edit start from a clean cache. A cache folder the user chose wins.
    """
    if numba.config.CACHE_DIR:
        return
    engine_dir = Path(__file__).resolve().parent
    current = engine_dir / "__pycache__" / f"numba-{_kernel_sources_digest(engine_dir)}"
    for old in current.parent.glob("numba-*"):  # caches of earlier sources: never valid again
        if old != current:
            shutil.rmtree(old, ignore_errors=True)
    numba.config.CACHE_DIR = str(current)


_use_versioned_cache()

_OPTIONS = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False)


def kernel(fn=None, *, parallel: bool = False, fastmath: bool = False):
    """Compile ``fn`` with the engine's Numba options.

    ``parallel=True`` only where iterations of a ``prange`` write separate memory.
    """
    def wrap(f):
        return njit(parallel=parallel, fastmath=fastmath, **_OPTIONS)(f)
    return wrap(fn) if fn is not None else wrap
