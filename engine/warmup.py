"""Compile (first run) or load from Numba's on-disk cache every kernel the app uses.

The first start of the app compiles the Numba kernels (several seconds); later
starts load them from the cache written next to the sources (``cache=True`` in
engine/_numba.py). :func:`warmup` runs each kernel once on tiny inputs so that
this cost is paid up front, behind a progress bar, instead of on the first
click. No Qt here: the GUI's warm-up worker calls this function in a thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["warmup", "kernel_count", "warmup_tasks"]

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


_TASKS: list[tuple[str, Callable]] = [
    ("convolution forward", _conv),
    ("convolution backward", _conv_backward),
    ("max pooling", _max_pool),
    ("average pooling", _avg_pool),
    ("dense layer", _dense),
    ("activations", _activations),
    ("heat-map colouring", _colour),
]


def warmup_tasks(dtypes: Sequence = (np.float32,)) -> list[tuple[str, Callable[[], None]]]:
    """(name, call) pairs, one per kernel group and dtype, in the order warmup runs them."""
    tasks = []
    for dtype in dtypes:
        dt = np.dtype(dtype)
        suffix = "" if len(dtypes) == 1 else f" ({dt.name})"
        for name, fn in _TASKS:
            tasks.append((name + suffix, lambda fn=fn, dt=dt: fn(dt)))
    return tasks


def kernel_count(dtypes: Sequence = (np.float32,)) -> int:
    """How many steps :func:`warmup` reports (the ``total`` it passes to progress)."""
    return len(warmup_tasks(dtypes))


def warmup(progress: Progress | None = None, dtypes: Sequence = (np.float32,)) -> int:
    """Compile or load every engine kernel the app uses, for each dtype.

    Parameters
    ----------
    progress : callable(done, total, name) or None
        Called after each step with the number of steps done so far, the total
        and the name of the step just finished.
    dtypes : sequence of numpy dtypes
        float32 is what the app trains in; add float64 for gradient checks.

    Returns
    -------
    int
        The number of steps run (equal to :func:`kernel_count`).
    """
    tasks = warmup_tasks(dtypes)
    for done, (name, call) in enumerate(tasks, start=1):
        call()
        if progress is not None:
            progress(done, len(tasks), name)
    return len(tasks)
