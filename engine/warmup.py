"""Compile (first run) or load from Numba's on-disk cache every kernel the app uses.

The first start of the app compiles the Numba kernels (several seconds); later
starts load them from the cache written next to the sources (``cache=True`` in
engine/_numba.py). :func:`warmup` runs each kernel once on tiny inputs so that
this cost is paid up front, behind a progress bar, instead of on the first
click. No Qt here: the GUI's warm-up worker calls this function in a thread.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

import numpy as np

from .i18n import tr_noop

__all__ = ["warmup", "kernel_count", "warmup_tasks", "warmup_costs", "warmup_parts",
           "compile_processes", "child_command", "serialize_cache_writes"]

Progress = Callable[[int, int, str], None]


def _conv(dtype):
    from .conv_forward import conv2d_forward
    x = np.ones((1, 1, 4, 4), dtype=dtype)
    w = np.ones((1, 1, 3, 3), dtype=dtype)
    conv2d_forward(x, w, np.zeros(1, dtype=dtype), stride=1, padding=1)


def _conv_backward(dtype):
    from .conv_backward import conv2d_backward
    x = np.ones((1, 1, 4, 4), dtype=dtype)
    w = np.ones((1, 1, 3, 3), dtype=dtype)
    dout = np.ones((1, 1, 4, 4), dtype=dtype)
    conv2d_backward(dout, x, w, stride=1, padding=1)
    # the direct loops for inputs and weights that are not finite (a diverging run)
    x[0, 0, 0, 0], w[0, 0, 0, 0] = np.inf, np.inf
    with np.errstate(invalid="ignore"):
        conv2d_backward(dout, x, w, stride=1, padding=1)


def _max_pool(dtype):
    from .pooling import max_pool2d_backward, max_pool2d_forward
    x = np.arange(16, dtype=dtype).reshape(1, 1, 4, 4)
    y, argmax = max_pool2d_forward(x, 2, 2)
    max_pool2d_backward(np.ones_like(y), argmax, x.shape)


def _avg_pool(dtype):
    from .pooling import avg_pool2d_backward, avg_pool2d_forward
    x = np.ones((1, 1, 4, 4), dtype=dtype)
    y = avg_pool2d_forward(x, 2, 2)
    avg_pool2d_backward(np.ones_like(y), x.shape, 2, 2)


def _dense(dtype):
    from .dense import dense_backward, dense_forward
    x = np.ones((2, 3), dtype=dtype)
    w = np.ones((3, 2), dtype=dtype)
    y = dense_forward(x, w, np.zeros(2, dtype=dtype))
    dense_backward(np.ones_like(y), x, w)


def _activations(dtype):
    from . import activations
    activations.warmup_activations(dtype)


def _colour(dtype):
    from .colour import colour_map_into
    lut = np.zeros((2, 4), np.uint8)
    out = np.zeros((1, 2), np.uint32)
    colour_map_into(out, np.array([-1.0, 1.0], dtype=dtype), np.array([[0, 1]]), lut, lut)


# (name, warm-up call, compile cost in seconds for float32 and for float64): the first start's
# compile times (benchmarks/cold_start.py on an AMD EPYC, Zen 5). Only their proportions
# matter: they share the groups out between compiling processes and weight the progress bar.
# The names are message ids: the GUI shows them translated.
_TASKS: list[tuple[str, Callable, tuple[float, float]]] = [
    (tr_noop("convolution forward"), _conv, (7.4, 0.5)),
    (tr_noop("convolution backward"), _conv_backward, (14.0, 0.6)),
    (tr_noop("max pooling"), _max_pool, (2.8, 1.1)),
    (tr_noop("average pooling"), _avg_pool, (2.8, 0.7)),
    (tr_noop("dense layer"), _dense, (2.4, 1.0)),
    (tr_noop("activations"), _activations, (0.3, 0.4)),
    (tr_noop("heat-map colouring"), _colour, (0.8, 0.05)),
]


def _cost(index: int, dtype) -> float:
    """The compile cost of group ``index`` for ``dtype`` (float64's for any other)."""
    return _TASKS[index][2][0 if np.dtype(dtype) == np.float32 else 1]


def warmup_parts(parts: int) -> list[list[int]]:
    """Share the kernel groups (indices into the task list) out between ``parts`` processes.

    Longest first, each to the part with the least work so far; a group keeps all its
    dtypes in one part, because the parallel float32 and serial float64 kernels of a
    group share one cache file (engine._numba.ParallelFloat32).
    """
    shares: list[list[int]] = [[] for _ in range(max(1, parts))]
    loads = [0.0] * len(shares)
    for index in sorted(range(len(_TASKS)), key=lambda i: -sum(_TASKS[i][2])):
        least = loads.index(min(loads))
        shares[least].append(index)
        loads[least] += sum(_TASKS[index][2])
    return [sorted(share) for share in shares]


def _share(dtypes: Sequence, part: int, parts: int) -> list[tuple[int, np.dtype]]:
    """(group index, dtype) of every step of share ``part``, in the order warmup runs them."""
    groups = warmup_parts(parts)[part]
    return [(index, np.dtype(dtype)) for dtype in dtypes for index in groups]


def warmup_tasks(dtypes: Sequence = (np.float32,), part: int = 0,
                 parts: int = 1) -> list[tuple[str, Callable[[], None]]]:
    """(name, call) pairs, one per kernel group and dtype, in the order warmup runs them;
    with ``parts`` > 1 only those of share ``part`` (see :func:`warmup_parts`). A name is
    the group's message id, with `` (float32)`` etc. when there are several dtypes."""
    tasks = []
    for index, dt in _share(dtypes, part, parts):
        name, fn, _ = _TASKS[index]
        suffix = "" if len(dtypes) == 1 else f" ({dt.name})"
        tasks.append((name + suffix, lambda fn=fn, dt=dt: fn(dt)))
    return tasks


def warmup_costs(dtypes: Sequence = (np.float32,), part: int = 0,
                 parts: int = 1) -> list[float]:
    """The relative compile cost of each step of :func:`warmup_tasks` (same arguments):
    what a progress bar of a first start should advance by when the step is done."""
    return [_cost(index, dt) for index, dt in _share(dtypes, part, parts)]


def kernel_count(dtypes: Sequence = (np.float32,)) -> int:
    """How many steps :func:`warmup` reports (the ``total`` it passes to progress)."""
    return len(warmup_tasks(dtypes))


def warmup(progress: Progress | None = None, dtypes: Sequence = (np.float32,), part: int = 0,
           parts: int = 1) -> int:
    """Compile or load every engine kernel the app uses, for each dtype.

    Parameters
    ----------
    progress : callable(done, total, name) or None
        Called after each step with the number of steps done so far, the total
        and the name of the step just finished.
    dtypes : sequence of numpy dtypes
        float32 is what the app trains in; add float64 for gradient checks.
    part, parts : int
        Run only share ``part`` of ``parts`` (:func:`warmup_parts`): the first start
        compiles the shares in that many processes at once (:func:`child_command`).

    Returns
    -------
    int
        The number of steps run (:func:`kernel_count` when ``parts`` is 1).
    """
    tasks = warmup_tasks(dtypes, part, parts)
    for done, (name, call) in enumerate(tasks, start=1):
        call()
        if progress is not None:
            progress(done, len(tasks), name)
    return len(tasks)


# ---------------------------------------------------------------- compiling processes
# A first start compiles for about 35 s of one core (Numba's compiler is Python code under
# one interpreter lock): in one process on two cores, half the machine waits. Each share of
# warmup_parts() is compiled in a process of its own instead; they all write the one
# on-disk cache, which the app then loads (gui/workers/warmup.py).

#: What each compiling process runs: ``python -c CHILD_CODE part parts``. One progress
#: line per kernel group ("done<TAB>total<TAB>name", counting within its share). No Qt.
CHILD_CODE = """\
import sys
import numpy as np
from engine.warmup import serialize_cache_writes, warmup

def progress(done, total, name):
    print(done, total, name, sep="\\t", flush=True)

serialize_cache_writes()
warmup(progress, dtypes=(np.float32, np.float64), part=int(sys.argv[1]), parts=int(sys.argv[2]))
"""


def child_command(part: int, parts: int) -> list[str]:
    """The command line of the process that compiles share ``part`` of ``parts``."""
    return [sys.executable, "-c", CHILD_CODE, str(part), str(parts)]


def compile_processes() -> int:
    """How many processes compile a first start at once: one per core, at most three
    (the largest group, the convolution's backward pass, is then the whole share of
    one), and one where cache writes cannot be serialized (no ``fcntl``: Windows)."""
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return 1
    return max(1, min(3, os.cpu_count() or 1))


def serialize_cache_writes() -> bool:
    """Make this process's writes of Numba's cache exclusive of other processes' (POSIX).

    Numba saves a compiled kernel by reading the function's index file, picking the
    first free data-file number and writing both back: two processes saving different
    signatures of one function at once would pick the same number and one would
    overwrite the other's machine code under its index entry. An advisory lock on a
    file of the cache folder around each save makes the read-modify-write one step.
    Returns False (nothing changed) where that is not possible.
    """
    try:
        import fcntl

        from numba.core.caching import IndexDataCacheFile
    except ImportError:
        return False
    save = getattr(IndexDataCacheFile, "save", None)
    if save is None or getattr(save, "serialized", False):
        return save is not None

    def locked_save(self, key, data):
        with open(os.path.join(self._cache_path, "cnn-explorer-save.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            save(self, key, data)

    locked_save.serialized = True
    IndexDataCacheFile.save = locked_save
    return True
