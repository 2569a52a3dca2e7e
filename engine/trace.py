"""Step-by-step traces of convolution and pooling, the data the animations play.

A trace is plain data that is computed lazily: building one only validates the
geometry and keeps the inputs, so a 512x512 photograph costs nothing up front.
``len(t)`` is the number of steps, ``t[k]`` computes step ``k`` on demand and
returns a frozen dataclass (negative indices and ``IndexError`` work as for a
list, slices return a list of steps, iteration works). Steps are ordered
row-major over the output, e.g. (n, f, i, j) for a convolution.

``t.result()`` is the whole output and ``t.replay(k)`` the output after steps
0..k. Both are computed here with numpy, on purpose independently of the Numba
kernels (engine.conv_forward, engine.pooling, engine.conv_backward): the tests
check that replaying every step reproduces what the fast kernels compute.

Builders (arrays NCHW; float32 stays float32, anything else becomes float64, and
the other arrays are cast to the dtype of ``x``)::

    conv2d_forward_trace(x, w, b, stride=1, padding=0)      -> ConvForwardTrace
    max_pool2d_forward_trace(x, size=2, stride=2)           -> PoolForwardTrace
    avg_pool2d_forward_trace(x, size=2, stride=2)           -> PoolForwardTrace
    conv2d_backward_trace(dout, x, w, stride=1, padding=0)  -> ConvBackwardTrace
    max_pool2d_backward_trace(dout, x, size=2, stride=2)    -> PoolBackwardTrace
    avg_pool2d_backward_trace(dout, input_shape, size=2, stride=2) -> PoolBackwardTrace

Invalid geometry raises ``engine.GeometryError`` before anything is computed.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ._arrays import as_float, float_dtype
from .geometry import ConvGeometry, GeometryError, PoolGeometry, check_conv, check_pool
from .i18n import tr

__all__ = [
    "ConvForwardStep",
    "PoolStep",
    "MaxPoolStep",
    "DxStep",
    "DwStep",
    "DbStep",
    "MaxPoolBackwardStep",
    "AvgPoolBackwardStep",
    "ConvForwardTrace",
    "PoolForwardTrace",
    "ConvBackwardTrace",
    "PoolBackwardTrace",
    "conv2d_forward_trace",
    "max_pool2d_forward_trace",
    "avg_pool2d_forward_trace",
    "conv2d_backward_trace",
    "max_pool2d_backward_trace",
    "avg_pool2d_backward_trace",
]


# --------------------------------------------------------------------------- helpers

def _float_array(a, dtype=None) -> np.ndarray:
    """``a`` as a C-contiguous float32/float64 array (``dtype`` forces one), as the kernels do."""
    return as_float(a, float_dtype(a) if dtype is None else dtype)


def _frozen(a: np.ndarray) -> np.ndarray:
    """Make a step's array read-only: a step is a record, not a scratch buffer."""
    a.setflags(write=False)
    return a


def _tap(offset: int, stride: int, count: int) -> slice:
    """The rows (or columns) one kernel tap at ``offset`` touches over all ``count`` outputs."""
    return slice(offset, offset + stride * (count - 1) + 1, stride)


def _unravel(k: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(v) for v in np.unravel_index(k, shape))


def _ravel(index: tuple[int, ...], shape: tuple[int, ...]) -> int:
    """Inverse of :func:`_unravel`, with ``IndexError`` for a cell outside ``shape``."""
    if len(index) != len(shape) or any(not 0 <= v < s for v, s in zip(index, shape, strict=True)):
        raise IndexError(f"cell {tuple(index)} is outside the grid {shape}")
    return int(np.ravel_multi_index(index, shape))


def _nan_after(full: np.ndarray, k: int) -> np.ndarray:
    """A copy of ``full`` with every cell after flat index ``k`` set to NaN (not yet written)."""
    out = full.copy()
    out.reshape(-1)[k + 1:] = np.nan
    return out


class _Trace:
    """A lazy sequence of steps: subclasses set ``_length`` and implement ``_step(k)``."""

    _length: int = 0

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._step(k) for k in range(*index.indices(self._length))]
        return self._step(self._index(index))

    def __iter__(self):
        for k in range(self._length):
            yield self._step(k)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self._length} steps, {self.geometry}>"

    def _index(self, index) -> int:
        """Normalise a step index as a list does (negative counts from the end)."""
        k = operator.index(index)
        if k < 0:
            k += self._length
        if not 0 <= k < self._length:
            raise IndexError(f"step {index} is out of range for a trace of {self._length} steps")
        return k

    def _step(self, k: int):  # pragma: no cover - abstract
        raise NotImplementedError


# --------------------------------------------------------------------------- convolution forward

@dataclass(frozen=True, eq=False)
class ConvForwardStep:
    """One output cell of a convolution: ``value = sum(window * kernel) + bias``.

    Attributes
    ----------
    n, f, i, j : int
        Sample, filter and output cell.
    row, col : int
        Top-left corner of the window on the padded input (``i * SH``, ``j * SW``).
    window : (C, KH, KW) array
        The padded input under the kernel.
    kernel : (C, KH, KW) array
        Filter ``f``.
    products : (C, KH, KW) array
        ``window * kernel``, element by element.
    channel_sums : (C,) array
        The products summed over each input channel.
    bias : float
        ``b[f]``.
    value : float
        ``channel_sums.sum() + bias``, written to ``y[n, f, i, j]``.
    """

    n: int
    f: int
    i: int
    j: int
    row: int
    col: int
    window: np.ndarray
    kernel: np.ndarray
    products: np.ndarray
    channel_sums: np.ndarray
    bias: float
    value: float


class ConvForwardTrace(_Trace):
    """The steps of ``y = conv2d_forward(x, w, b, stride, padding)``, one per output cell.

    Attributes
    ----------
    padded_input : (N, C, H + 2PH, W + 2PW) array
        ``x`` with its zero border.
    w : (F, C, KH, KW) array
    b : (F,) array
    geometry : ConvGeometry
        Every size of this convolution.
    """

    def __init__(self, x, w, b, stride=1, padding=0):
        x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
        self.geometry: ConvGeometry = check_conv(x.shape, w.shape, b.shape, stride, padding)
        g = self.geometry
        x = _float_array(x)
        self.w = _frozen(_float_array(w, x.dtype).copy())
        self.b = _frozen(_float_array(b, x.dtype).copy())
        self.padded_input = _frozen(np.pad(x, ((0, 0), (0, 0), (g.PH, g.PH), (g.PW, g.PW))))
        self._length = g.N * g.F * g.HO * g.WO
        self._y = None

    def _step(self, k: int) -> ConvForwardStep:
        g = self.geometry
        n, f, i, j = _unravel(k, g.output_shape)
        row, col = i * g.SH, j * g.SW
        window = self.padded_input[n, :, row:row + g.KH, col:col + g.KW].copy()
        kernel = self.w[f].copy()
        products = window * kernel
        channel_sums = products.sum(axis=(1, 2))
        bias = float(self.b[f])
        value = float(channel_sums.sum() + self.b[f])
        return ConvForwardStep(n, f, i, j, row, col, _frozen(window), _frozen(kernel),
                               _frozen(products), _frozen(channel_sums), bias, value)

    def step_index(self, n: int, f: int, i: int, j: int) -> int:
        """The step that writes ``y[n, f, i, j]`` (the GUI jumps to a clicked output cell)."""
        return _ravel((n, f, i, j), self.geometry.output_shape)

    def result(self) -> np.ndarray:
        """The whole output y, (N, F, HO, WO), a copy (equal to ``conv2d_forward``)."""
        return self._full().copy()

    def replay(self, k: int) -> np.ndarray:
        """y (N, F, HO, WO) after steps 0..k; cells not yet written are NaN."""
        return _nan_after(self._full(), self._index(k))

    def _full(self) -> np.ndarray:
        if self._y is None:  # computed once, on first use
            self._y = self._compute()
        return self._y

    def _compute(self) -> np.ndarray:
        """Shift and add: each kernel tap (u, v) adds one strided slice of the padded input."""
        g = self.geometry
        y = np.zeros(g.output_shape, dtype=self.padded_input.dtype)
        for u in range(g.KH):
            for v in range(g.KW):
                # taps: (N, C, HO, WO), the input every output cell sees at offset (u, v)
                taps = self.padded_input[:, :, _tap(u, g.SH, g.HO), _tap(v, g.SW, g.WO)]
                y += np.einsum("nchw,fc->nfhw", taps, self.w[:, :, u, v])
        y += self.b[None, :, None, None]
        return y


def conv2d_forward_trace(x, w, b, stride=1, padding=0) -> ConvForwardTrace:
    """Trace of a convolution forward pass, one step per output cell.

    Parameters
    ----------
    x : (N, C, H, W) array
        The input (the GUI passes N = 1).
    w : (F, C, KH, KW) array
    b : (F,) array
    stride, padding : int or (h, w) pair

    Returns
    -------
    ConvForwardTrace
        ``N * F * HO * WO`` steps, ordered (n, f, i, j).
    """
    return ConvForwardTrace(x, w, b, stride, padding)


# --------------------------------------------------------------------------- pooling forward

@dataclass(frozen=True, eq=False)
class PoolStep:
    """One pooling window (average pooling: ``value`` is the mean of ``window``).

    Attributes
    ----------
    n, c, i, j : int
        Sample, channel and output cell.
    row, col : int
        Top-left corner of the window on the input (``i * SH``, ``j * SW``).
    window : (KH, KW) array
        The input values in the window.
    value : float
        The pooled value written to ``y[n, c, i, j]``.
    """

    n: int
    c: int
    i: int
    j: int
    row: int
    col: int
    window: np.ndarray
    value: float


@dataclass(frozen=True, eq=False)
class MaxPoolStep(PoolStep):
    """One max-pooling window; ``value`` is the maximum, found at input cell
    (``argmax_row``, ``argmax_col``) (ties: the first maximum in row-major order)."""

    argmax_row: int
    argmax_col: int


class PoolForwardTrace(_Trace):
    """The steps of max or average pooling, one per output cell, ordered (n, c, i, j).

    Attributes
    ----------
    kind : str
        ``"max"`` or ``"avg"``.
    x : (N, C, H, W) array
    geometry : PoolGeometry
    """

    def __init__(self, kind: str, x, size=2, stride=2):
        if kind not in ("max", "avg"):
            raise ValueError(f"pooling kind must be 'max' or 'avg', not {kind!r}")
        x = np.asarray(x)
        self.geometry: PoolGeometry = check_pool(x.shape, size, stride)
        self.kind = kind
        self.x = _frozen(_float_array(x).copy())
        self._length = int(np.prod(self.geometry.output_shape))
        self._y = None
        self._argmax = None

    def _step(self, k: int) -> PoolStep:
        g = self.geometry
        n, c, i, j = _unravel(k, g.output_shape)
        row, col = i * g.SH, j * g.SW
        window = _frozen(self.x[n, c, row:row + g.KH, col:col + g.KW].copy())
        if self.kind == "avg":
            return PoolStep(n, c, i, j, row, col, window, float(window.mean()))
        u, v = _first_max(window)
        return MaxPoolStep(n, c, i, j, row, col, window, float(window[u, v]), row + u, col + v)

    def step_index(self, n: int, c: int, i: int, j: int) -> int:
        """The step that writes ``y[n, c, i, j]``."""
        return _ravel((n, c, i, j), self.geometry.output_shape)

    @property
    def argmax_map(self) -> np.ndarray:
        """(N, C, HO, WO) int64: flat index ``row * W + col`` of each window's maximum
        in its (H, W) plane, as ``max_pool2d_forward`` returns it (max pooling only)."""
        if self.kind != "max":
            raise AttributeError("average pooling has no argmax map")
        self._compute()
        return self._argmax.copy()

    def result(self) -> np.ndarray:
        """The pooled output y, (N, C, HO, WO), a copy."""
        self._compute()
        return self._y.copy()

    def replay(self, k: int) -> np.ndarray:
        """y (N, C, HO, WO) after steps 0..k; cells not yet written are NaN."""
        k = self._index(k)
        self._compute()
        return _nan_after(self._y, k)

    def _compute(self) -> None:
        if self._y is not None:  # computed once, on first use
            return
        if self.kind == "max":
            self._y, self._argmax = self._max_and_argmax()
        else:
            self._y = self._mean()

    def _mean(self) -> np.ndarray:
        """y (N, C, HO, WO): every window's taps summed, all windows at once, then averaged."""
        g = self.geometry
        total = np.zeros(g.output_shape, dtype=self.x.dtype)
        for u in range(g.KH):
            for v in range(g.KW):
                total += self.x[:, :, _tap(u, g.SH, g.HO), _tap(v, g.SW, g.WO)]
        return total / (g.KH * g.KW)

    def _max_and_argmax(self) -> tuple[np.ndarray, np.ndarray]:
        """y and argmax (N, C, HO, WO), visiting the taps (u, v) in row-major order."""
        g = self.geometry
        rows = np.arange(g.HO)[:, None] * g.SH
        cols = np.arange(g.WO)[None, :] * g.SW
        best = best_idx = None
        for u in range(g.KH):
            for v in range(g.KW):
                # taps: (N, C, HO, WO), the value at offset (u, v) of every window
                taps = self.x[:, :, _tap(u, g.SH, g.HO), _tap(v, g.SW, g.WO)]
                flat = np.broadcast_to((rows + u) * g.W + cols + v, g.output_shape)
                if best is None:
                    best, best_idx = taps.copy(), flat.astype(np.int64)
                    continue
                # strict '>' keeps the first maximum in row-major order, as the kernel does
                wins = taps > best
                best[wins], best_idx[wins] = taps[wins], flat[wins]
        return best, best_idx


def _first_max(window: np.ndarray) -> tuple[int, int]:
    """(u, v) of the first maximum in row-major order; a NaN never wins (as the kernel)."""
    best_u, best_v = 0, 0
    for u in range(window.shape[0]):
        for v in range(window.shape[1]):
            if window[u, v] > window[best_u, best_v]:
                best_u, best_v = u, v
    return best_u, best_v


def max_pool2d_forward_trace(x, size=2, stride=2) -> PoolForwardTrace:
    """Trace of max pooling: each step is one window, its maximum and where it was.

    Parameters
    ----------
    x : (N, C, H, W) array
    size, stride : int or (h, w) pair

    Returns
    -------
    PoolForwardTrace
        ``N * C * HO * WO`` :class:`MaxPoolStep` steps; ``argmax_map`` (N, C, HO, WO).
    """
    return PoolForwardTrace("max", x, size, stride)


def avg_pool2d_forward_trace(x, size=2, stride=2) -> PoolForwardTrace:
    """Trace of average pooling: each step is one window and its mean.

    Parameters
    ----------
    x : (N, C, H, W) array
    size, stride : int or (h, w) pair

    Returns
    -------
    PoolForwardTrace
        ``N * C * HO * WO`` :class:`PoolStep` steps.
    """
    return PoolForwardTrace("avg", x, size, stride)


# --------------------------------------------------------------------------- convolution backward

@dataclass(frozen=True, eq=False)
class DxStep:
    """One cell of the input gradient, by the full convolution of padded_delta with
    rot180_kernel: ``value = sum(window * kernel)`` (summed over filters and taps).

    Attributes
    ----------
    n, c : int
        Sample and input channel.
    row, col : int
        The cell on the padded input; the window of padded_delta starts there too.
    cropped : bool
        True when the cell lies in the zero padding: cropping by P drops it from dx.
    window : (F, KH, KW) array
        ``padded_delta[n, :, row:row + KH, col:col + KW]``.
    kernel : (F, KH, KW) array
        ``rot180_kernel[:, c]``.
    products : (F, KH, KW) array
        ``window * kernel``.
    filter_sums : (F,) array
        The products summed over each filter.
    value : float
        ``filter_sums.sum()``: the gradient at padded-input cell (row, col).
    """

    stage: ClassVar[str] = "dx"
    n: int
    c: int
    row: int
    col: int
    cropped: bool
    window: np.ndarray
    kernel: np.ndarray
    products: np.ndarray
    filter_sums: np.ndarray
    value: float


@dataclass(frozen=True, eq=False)
class DwStep:
    """One kernel weight's gradient: ``value = sum(window * delta)`` over n, i, j.

    Attributes
    ----------
    f, c, u, v : int
        The weight ``w[f, c, u, v]``.
    window : (N, HO, WO) array
        The padded input this weight multiplied in the forward pass:
        ``padded_input[:, c, u + i*SH, v + j*SW]``.
    delta : (N, HO, WO) array
        ``delta[:, f]``.
    products : (N, HO, WO) array
        ``window * delta``.
    value : float
        ``products.sum()``, written to ``dw[f, c, u, v]``.
    """

    stage: ClassVar[str] = "dw"
    f: int
    c: int
    u: int
    v: int
    window: np.ndarray
    delta: np.ndarray
    products: np.ndarray
    value: float


@dataclass(frozen=True, eq=False)
class DbStep:
    """One bias gradient: ``value = delta[:, f].sum()``.

    Attributes
    ----------
    f : int
    delta : (N, HO, WO) array
    value : float
    """

    stage: ClassVar[str] = "db"
    f: int
    delta: np.ndarray
    value: float


class ConvBackwardTrace(_Trace):
    """The stages and steps of ``dx, dw, db = conv2d_backward(dout, x, w, stride, padding)``.

    Steps come in three stages, in this order: the dx steps (one per cell of the
    padded input, ordered (n, c, row, col)), the dW steps (one per weight,
    ordered (f, c, u, v)) and the db steps (one per filter). ``stage_start``
    gives the index of each stage's first step.

    Attributes
    ----------
    delta : (N, F, HO, WO) array
        ``dout``, the error arriving at the output.
    dilated_delta : (N, F, (HO-1)*SH + 1, (WO-1)*SW + 1) array
        delta with SH-1 (SW-1) zeros between neighbouring values (stride > 1).
    padded_delta : (N, F, H + 2PH + KH - 1, W + 2PW + KW - 1) array
        dilated_delta with KH-1 (KW-1) zeros on each side; where the windows do
        not tile the input, extra zeros at the bottom/right cover the rows and
        columns no window reached (their gradient is zero).
    rot180_kernel : (F, C, KH, KW) array
        Each kernel rotated 180 degrees.
    padded_input : (N, C, H + 2PH, W + 2PW) array
    geometry : ConvGeometry
    stage_start : dict
        ``{"dx": 0, "dw": ..., "db": ...}``.
    """

    def __init__(self, dout, x, w, stride=1, padding=0):
        dout, x, w = np.asarray(dout), np.asarray(x), np.asarray(w)
        self.geometry: ConvGeometry = check_conv(x.shape, w.shape, None, stride, padding)
        g = self.geometry
        if dout.shape != g.output_shape:
            raise GeometryError(tr("delta (dout) must have the shape of the output {shape}, "
                                   "not {dout}").format(shape=g.output_shape, dout=dout.shape))
        x = _float_array(x)
        self.w = _frozen(_float_array(w, x.dtype).copy())
        self.delta = _frozen(_float_array(dout, x.dtype).copy())
        self.padded_input = _frozen(np.pad(x, ((0, 0), (0, 0), (g.PH, g.PH), (g.PW, g.PW))))
        self.rot180_kernel = _frozen(np.ascontiguousarray(self.w[:, :, ::-1, ::-1]))
        self.dilated_delta = _frozen(self._dilate())
        self.padded_delta = _frozen(self._pad_delta())
        hp, wp = g.padded_shape
        n_dx, n_dw = g.N * g.C * hp * wp, g.F * g.C * g.KH * g.KW
        self.stage_start = {"dx": 0, "dw": n_dx, "db": n_dx + n_dw}
        self._length = n_dx + n_dw + g.F
        self._grads = None

    def _dilate(self) -> np.ndarray:
        g = self.geometry
        dilated = np.zeros((g.N, g.F, (g.HO - 1) * g.SH + 1, (g.WO - 1) * g.SW + 1),
                           dtype=self.delta.dtype)
        dilated[:, :, ::g.SH, ::g.SW] = self.delta
        return dilated

    def _pad_delta(self) -> np.ndarray:
        g = self.geometry
        hp, wp = g.padded_shape
        dh, dw = self.dilated_delta.shape[2:]
        # the full convolution yields dh + KH - 1 rows; a stride that does not tile the
        # padded input leaves hp - (dh + KH - 1) rows no window reached: pad those with zeros
        extra_h, extra_w = hp - (dh + g.KH - 1), wp - (dw + g.KW - 1)
        return np.pad(self.dilated_delta, ((0, 0), (0, 0), (g.KH - 1, g.KH - 1 + extra_h),
                                           (g.KW - 1, g.KW - 1 + extra_w)))

    # ---- steps
    def _step(self, k: int):
        if k < self.stage_start["dw"]:
            return self._dx_step(k)
        if k < self.stage_start["db"]:
            return self._dw_step(k - self.stage_start["dw"])
        return self._db_step(k - self.stage_start["db"])

    def _dx_step(self, k: int) -> DxStep:
        g = self.geometry
        hp, wp = g.padded_shape
        n, c, row, col = _unravel(k, (g.N, g.C, hp, wp))
        window = self.padded_delta[n, :, row:row + g.KH, col:col + g.KW].copy()
        kernel = self.rot180_kernel[:, c].copy()
        products = window * kernel
        filter_sums = products.sum(axis=(1, 2))
        cropped = not (g.PH <= row < g.PH + g.H and g.PW <= col < g.PW + g.W)
        return DxStep(n, c, row, col, cropped, _frozen(window), _frozen(kernel),
                      _frozen(products), _frozen(filter_sums), float(filter_sums.sum()))

    def _dw_step(self, k: int) -> DwStep:
        g = self.geometry
        f, c, u, v = _unravel(k, (g.F, g.C, g.KH, g.KW))
        window = self.padded_input[:, c, _tap(u, g.SH, g.HO), _tap(v, g.SW, g.WO)].copy()
        delta = self.delta[:, f].copy()
        products = window * delta
        return DwStep(f, c, u, v, _frozen(window), _frozen(delta), _frozen(products),
                      float(products.sum()))

    def _db_step(self, f: int) -> DbStep:
        delta = self.delta[:, f].copy()
        return DbStep(f, _frozen(delta), float(delta.sum()))

    def dx_step_index(self, n: int, c: int, row: int, col: int) -> int:
        """The step that computes the gradient at padded-input cell (row, col)."""
        hp, wp = self.geometry.padded_shape
        return _ravel((n, c, row, col), (self.geometry.N, self.geometry.C, hp, wp))

    def dw_step_index(self, f: int, c: int, u: int, v: int) -> int:
        """The step that computes ``dw[f, c, u, v]``."""
        g = self.geometry
        return self.stage_start["dw"] + _ravel((f, c, u, v), (g.F, g.C, g.KH, g.KW))

    def db_step_index(self, f: int) -> int:
        """The step that computes ``db[f]``."""
        return self.stage_start["db"] + _ravel((f,), (self.geometry.F,))

    # ---- totals
    def padded_dx(self) -> np.ndarray:
        """The gradient of the padded input, (N, C, H + 2PH, W + 2PW), a copy."""
        return self._totals()[0].copy()

    def dx(self) -> np.ndarray:
        """dx (N, C, H, W): the padded input's gradient cropped by the padding P."""
        return self._crop(self._totals()[0]).copy()

    def dw(self) -> np.ndarray:
        """dw (F, C, KH, KW), a copy."""
        return self._totals()[1].copy()

    def db(self) -> np.ndarray:
        """db (F,), a copy."""
        return self._totals()[2].copy()

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dx, dw, db), equal to ``conv2d_backward``."""
        return self.dx(), self.dw(), self.db()

    # ---- partial results
    def dx_after(self, k: int, padded: bool = False) -> np.ndarray:
        """dx after steps 0..k (NaN where not yet computed); ``padded=True`` keeps the border.

        Returns
        -------
        (N, C, H, W) array, or (N, C, H + 2PH, W + 2PW) with ``padded=True``.
        """
        k = min(self._index(k), self.stage_start["dw"] - 1)
        built = _nan_after(self._totals()[0], k)
        return built if padded else self._crop(built).copy()

    def dw_after(self, k: int) -> np.ndarray:
        """dw (F, C, KH, KW) after steps 0..k; NaN where not yet computed."""
        return self._stage_after(self._totals()[1], self._index(k) - self.stage_start["dw"])

    def db_after(self, k: int) -> np.ndarray:
        """db (F,) after steps 0..k; NaN where not yet computed."""
        return self._stage_after(self._totals()[2], self._index(k) - self.stage_start["db"])

    def replay(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dx, dw, db) after steps 0..k, NaN where not yet computed."""
        return self.dx_after(k), self.dw_after(k), self.db_after(k)

    @staticmethod
    def _stage_after(full: np.ndarray, local_k: int) -> np.ndarray:
        """``full`` with the cells after the stage's own step ``local_k`` not yet written."""
        if local_k < 0:  # the stage has not started
            return np.full_like(full, np.nan)
        return _nan_after(full, min(local_k, full.size - 1))

    def _crop(self, padded: np.ndarray) -> np.ndarray:
        g = self.geometry
        return padded[:, :, g.PH:g.PH + g.H, g.PW:g.PW + g.W]

    def _totals(self):
        """(padded dx, dw, db) by the chain rule, scattered tap by tap with numpy."""
        if self._grads is None:
            g = self.geometry
            d_padded = np.zeros_like(self.padded_input)
            dw = np.zeros_like(self.w)
            for u in range(g.KH):
                for v in range(g.KW):
                    rows, cols = _tap(u, g.SH, g.HO), _tap(v, g.SW, g.WO)
                    # each output cell sends delta * w[f, c, u, v] back to the input at (u, v)
                    d_padded[:, :, rows, cols] += np.einsum("nfhw,fc->nchw", self.delta,
                                                            self.w[:, :, u, v])
                    dw[:, :, u, v] = np.einsum("nchw,nfhw->fc",
                                               self.padded_input[:, :, rows, cols], self.delta)
            db = self.delta.sum(axis=(0, 2, 3))
            self._grads = (d_padded, dw, db)
        return self._grads


def conv2d_backward_trace(dout, x, w, stride=1, padding=0) -> ConvBackwardTrace:
    """Trace of a convolution backward pass: the delta stages, then the dx, dW, db steps.

    Parameters
    ----------
    dout : (N, F, HO, WO) array
        delta, the gradient of the loss with respect to the output.
    x : (N, C, H, W) array
    w : (F, C, KH, KW) array
    stride, padding : int or (h, w) pair

    Returns
    -------
    ConvBackwardTrace
        ``N*C*(H+2PH)*(W+2PW)`` dx steps, ``F*C*KH*KW`` dW steps and ``F`` db steps.
    """
    return ConvBackwardTrace(dout, x, w, stride, padding)


# --------------------------------------------------------------------------- pooling backward

@dataclass(frozen=True, eq=False)
class MaxPoolBackwardStep:
    """One delta value routed to the input cell that won its window.

    Attributes
    ----------
    n, c, i, j : int
        Sample, channel and output cell whose delta is routed.
    row, col : int
        Top-left corner of the window on the input.
    delta : float
        ``dout[n, c, i, j]``.
    target_row, target_col : int
        The argmax cell; ``dx[n, c, target_row, target_col] += delta``.
    """

    n: int
    c: int
    i: int
    j: int
    row: int
    col: int
    delta: float
    target_row: int
    target_col: int


@dataclass(frozen=True, eq=False)
class AvgPoolBackwardStep:
    """One delta value spread evenly over its window.

    Attributes
    ----------
    n, c, i, j : int
        Sample, channel and output cell whose delta is spread.
    row, col : int
        Top-left corner of the (KH, KW) window on the input.
    delta : float
        ``dout[n, c, i, j]``.
    share : float
        ``delta / (KH * KW)``, added to every cell of the window.
    """

    n: int
    c: int
    i: int
    j: int
    row: int
    col: int
    delta: float
    share: float


class PoolBackwardTrace(_Trace):
    """The steps of a pooling backward pass, one per delta value, ordered (n, c, i, j).

    ``replay(k)`` is the gradient accumulated after steps 0..k: it starts at zero
    (not NaN) because overlapping windows add to the same cells and cells no
    window reaches stay zero.

    Attributes
    ----------
    kind : str
        ``"max"`` or ``"avg"``.
    delta : (N, C, HO, WO) array
        ``dout``.
    argmax_map : (N, C, HO, WO) int64 array
        The max-pooling routes (flat ``row * W + col``); max pooling only.
    geometry : PoolGeometry
    """

    def __init__(self, kind: str, dout, geometry: PoolGeometry, forward=None, dtype=None):
        self.kind = kind
        self.geometry = geometry
        if np.shape(dout) != geometry.output_shape:
            raise GeometryError(tr("delta (dout) must have the shape of the pooled output "
                                   "{shape}, not {dout}").format(shape=geometry.output_shape,
                                                                 dout=np.shape(dout)))
        self.delta = _frozen(_float_array(dout, dtype).copy())
        self._forward = forward  # the max-pooling forward trace that knows the argmax_map
        self._length = int(np.prod(geometry.output_shape))
        self._dx = None
        self._argmax = None

    @property
    def argmax_map(self) -> np.ndarray:
        """(N, C, HO, WO) int64, found from the forward input on first use (max only)."""
        if self._forward is None:
            raise AttributeError("average pooling has no argmax map")
        if self._argmax is None:
            self._argmax = self._forward.argmax_map
        return self._argmax

    def _step(self, k: int):
        g = self.geometry
        n, c, i, j = _unravel(k, g.output_shape)
        row, col = i * g.SH, j * g.SW
        delta = float(self.delta[n, c, i, j])
        if self.kind == "avg":
            return AvgPoolBackwardStep(n, c, i, j, row, col, delta, delta / (g.KH * g.KW))
        target_row, target_col = divmod(int(self.argmax_map[n, c, i, j]), g.W)
        return MaxPoolBackwardStep(n, c, i, j, row, col, delta, target_row, target_col)

    def step_index(self, n: int, c: int, i: int, j: int) -> int:
        """The step that routes ``dout[n, c, i, j]``."""
        return _ravel((n, c, i, j), self.geometry.output_shape)

    def result(self) -> np.ndarray:
        """dx (N, C, H, W), a copy (equal to the kernel's)."""
        if self._dx is None:
            self._dx = self._accumulate(self._length - 1)
        return self._dx.copy()

    def replay(self, k: int) -> np.ndarray:
        """dx (N, C, H, W) after routing the delta values of steps 0..k."""
        k = self._index(k)
        return self.result() if k == self._length - 1 else self._accumulate(k)

    def _accumulate(self, k: int) -> np.ndarray:
        g = self.geometry
        routed = self.delta.copy()
        routed.reshape(-1)[k + 1:] = 0  # the delta values not yet routed
        if self.kind == "max":
            return _route_to_argmax(routed, self.argmax_map, g)
        dx = np.zeros(g.input_shape, dtype=routed.dtype)
        share = routed / (g.KH * g.KW)
        for u in range(g.KH):
            for v in range(g.KW):
                dx[:, :, _tap(u, g.SH, g.HO), _tap(v, g.SW, g.WO)] += share
        return dx


def _route_to_argmax(delta: np.ndarray, argmax_map: np.ndarray, g: PoolGeometry) -> np.ndarray:
    """dx (N, C, H, W): each delta (N, C, HO, WO) added to its argmax cell."""
    planes = g.N * g.C
    dx = np.zeros((planes, g.H * g.W), dtype=delta.dtype)
    # one flat index into dx per delta value: plane * (H*W) + argmax
    targets = argmax_map.reshape(planes, -1) + (np.arange(planes) * g.H * g.W)[:, None]
    np.add.at(dx.reshape(-1), targets.reshape(-1), delta.reshape(-1))  # overlaps accumulate
    return dx.reshape(g.input_shape)


def max_pool2d_backward_trace(dout, x, size=2, stride=2) -> PoolBackwardTrace:
    """Trace of max-pooling backward: each delta goes to the argmax of its window.

    Parameters
    ----------
    dout : (N, C, HO, WO) array
        delta arriving at the pooled output.
    x : (N, C, H, W) array
        The pooling input (the argmax_map is found from it, ties as the kernel).
    size, stride : int or (h, w) pair

    Returns
    -------
    PoolBackwardTrace
        ``N * C * HO * WO`` :class:`MaxPoolBackwardStep` steps.
    """
    forward = max_pool2d_forward_trace(x, size, stride)
    return PoolBackwardTrace("max", dout, forward.geometry, forward, dtype=forward.x.dtype)


def avg_pool2d_backward_trace(dout, input_shape, size=2, stride=2) -> PoolBackwardTrace:
    """Trace of average-pooling backward: each delta spread evenly over its window.

    Parameters
    ----------
    dout : (N, C, HO, WO) array
    input_shape : (N, C, H, W) tuple, or the pooling input itself
    size, stride : int or (h, w) pair

    Returns
    -------
    PoolBackwardTrace
        ``N * C * HO * WO`` :class:`AvgPoolBackwardStep` steps.
    """
    shape = np.shape(input_shape) if hasattr(input_shape, "shape") else tuple(input_shape)
    return PoolBackwardTrace("avg", dout, check_pool(shape, size, stride))
