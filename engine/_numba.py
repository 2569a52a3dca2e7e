"""Numba options, set in one place.

Every hot loop in the engine is compiled through :func:`kernel`, so caching,
threading and error behaviour are the same everywhere. ``cache=True`` writes the
compiled machine code next to the sources (or, when their folder is read-only, in
the user's cache folder), so only the very first start pays for compilation
(about 30 s); later starts load it in a fraction of a second. When neither can be
written, the kernels are compiled without a cache, with a one-line warning.
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
import logging
import shutil
import tempfile
from pathlib import Path

import numba
from numba import njit, prange  # noqa: F401  (prange is re-exported for the kernels)

from .i18n import tr

# ------------------------------------------------------------------ vector width

# LLVM tunes some CPUs with 512-bit vectors (Intel Skylake-X to Sapphire Rapids) to
# *prefer* 256-bit ones, so Numba's loops there used half the vector width (and half
# the multiply-add throughput) of the same CPU's own instructions: the convolution
# ran at 0.6-1x PyTorch on a Xeon where it ran at 1.5-2x on AMD Zen. Lifting that
# preference makes the vectorisers use the full width wherever the CPU has it; on CPUs
# without 512-bit vectors (AVX2, ARM) the flag changes nothing. A feature string the
# user chose (NUMBA_CPU_FEATURES) wins. It must be set before the first compilation
# (the compiler is made once per process), which is why it is set here, on import.
_FULL_WIDTH = "-prefer-256-bit"


def _host_features() -> str:
    """LLVM's feature string of this CPU ("" where LLVM cannot tell)."""
    try:
        import llvmlite.binding as llvm
        return llvm.get_host_cpu_features().flatten()
    except Exception:  # noqa: BLE001 - an unknown CPU: LLVM's own defaults
        return ""


def _use_full_vector_width() -> str:
    """Set Numba's CPU features to the host's without the 256-bit preference; return them."""
    if numba.config.CPU_FEATURES is not None:  # the user's choice
        return numba.config.CPU_FEATURES
    features = _host_features()
    if "+avx512f" in features.split(","):
        features = features + "," + _FULL_WIDTH
        numba.config.CPU_FEATURES = features
    return features


def vector_lanes(features: str) -> int:
    """float32 lanes of the widest vector register the compiled loops use."""
    flags = set(features.split(","))
    if "+avx512f" in flags:
        return 16
    if "+avx" in flags:
        return 8
    return 4  # SSE, ARM NEON, or unknown: 128 bits


FEATURES = _use_full_vector_width()
#: float32 lanes of one vector register (16 with AVX-512, 8 with AVX2, 4 with NEON)
VECTOR_LANES = vector_lanes(FEATURES)

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


def _writable(folder: Path) -> bool:
    """Whether ``folder`` exists (or can be made) and a file can be created in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
        return True
    except (OSError, ValueError):
        return False


def _user_cache_dir() -> Path:
    """The user's cache folder for this app (~/.cache/cnn-explorer on Linux)."""
    try:
        from numba.misc.appdirs import AppDirs
        return Path(AppDirs("cnn-explorer", appauthor=False).user_cache_dir)
    except Exception:  # noqa: BLE001 - any platform oddity: the XDG default
        return Path(os.path.expanduser("~/.cache")) / "cnn-explorer"


def choose_cache_dir(engine_dir: Path, user_cache: Path, chosen: str | None) -> Path | None:
    """Where the compiled kernels are cached, or None when nowhere can be written.

    A writable folder the user chose (``NUMBA_CACHE_DIR``) wins. Otherwise a folder
    named after the kernel sources, next to them (``engine/__pycache__/numba-<digest>``)
    or, when the engine's folder is read-only (an installed package), in the user's
    cache folder. Numba re-validates a cached kernel only against the file that
    defines it, but the conv kernels inline loops from engine/_flat.py: after an edit
    there, stale machine code would keep loading. A folder per version of the sources
    makes any edit start from a clean cache (older ones are removed).
    """
    if chosen and _writable(Path(chosen)):
        return Path(chosen)
    name = f"numba-{_kernel_sources_digest(engine_dir)}"
    for current in (engine_dir / "__pycache__" / name, user_cache / name):
        if _writable(current):
            for old in current.parent.glob("numba-*"):  # caches of earlier sources
                if old != current:
                    shutil.rmtree(old, ignore_errors=True)
            return current
    return None


def _use_versioned_cache() -> bool:
    """Point Numba at the cache folder; False (and one warning line) when there is none."""
    engine_dir = Path(__file__).resolve().parent
    folder = choose_cache_dir(engine_dir, _user_cache_dir(), numba.config.CACHE_DIR or None)
    if folder is None:
        logging.getLogger("engine").warning(tr(
            "warning: the compiled kernels cannot be cached (neither {engine} nor {cache} can "
            "be written), so every start compiles them again").format(
                engine=engine_dir / "__pycache__", cache=_user_cache_dir()))
        return False
    numba.config.CACHE_DIR = str(folder)
    return True


CACHE = _use_versioned_cache()

_OPTIONS = dict(cache=CACHE, nogil=True, error_model="numpy", boundscheck=False)


def kernel(fn=None, *, parallel: bool = False, fastmath: bool = False):
    """Compile ``fn`` with the engine's Numba options.

    ``parallel=True`` only where iterations of a ``prange`` write separate memory.
    """
    def wrap(f):
        return njit(parallel=parallel, fastmath=fastmath, **_OPTIONS)(f)
    return wrap(fn) if fn is not None else wrap


# ------------------------------------------------------------------ registers

def _stack_array_intrinsic():
    """``stack_array(like, rows, cols)``: an uninitialised C-contiguous (rows, cols) array
    of ``like``'s dtype on the calling kernel's stack (rows, cols: constants).

    A register-blocked kernel keeps its accumulators in such an array: LLVM sees
    memory nothing else can point to, indexed only at constant positions once the
    fixed-size loops are unrolled, and promotes it to vector registers for the whole
    loop over the taps, where a heap array (which might alias the inputs) would be
    loaded and stored on every step. It never outlives the kernel that calls it, so
    callers must be compiled with ``inline="always"`` or call it themselves.
    """
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic
    from numba.np.arrayobj import make_array, populate_array

    @intrinsic
    def stack_array(typingctx, like, rows, cols):
        if not (isinstance(rows, types.IntegerLiteral) and isinstance(cols, types.IntegerLiteral)
                and isinstance(like, types.Array)):
            return None
        shape = (rows.literal_value, cols.literal_value)
        array_type = types.Array(like.dtype, 2, "C")

        def codegen(context, builder, signature, args):
            item = context.get_data_type(like.dtype)
            size = context.get_abi_sizeof(item)
            data = cgutils.alloca_once(builder, item, size=shape[0] * shape[1])
            intp = context.get_value_type(types.intp)
            array = make_array(array_type)(context, builder)
            populate_array(array, data=data,
                           shape=[ir.Constant(intp, n) for n in shape],
                           strides=[ir.Constant(intp, shape[1] * size), ir.Constant(intp, size)],
                           itemsize=ir.Constant(intp, size), meminfo=None)
            return array._getvalue()

        return array_type(like, rows, cols), codegen

    return stack_array


if numba.config.DISABLE_JIT:
    def stack_array(like, rows, cols):
        """Without the JIT (coverage runs): a plain numpy array."""
        import numpy as np
        return np.empty((rows, cols), dtype=like.dtype)
else:
    stack_array = _stack_array_intrinsic()
