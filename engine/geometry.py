"""Output-size formulas for convolution and pooling, and their validation.

Every public kernel calls one of the ``check_*`` functions before it computes
anything, so a learner who asks for an impossible geometry gets a sentence that
says what is wrong instead of an index error deep inside a loop.

Output size along one axis (the formula the labs display)::

    H_out = floor((H + 2P - K) / S) + 1

Limits (each refused with a sentence before any work): a size, stride or padding
of at most :data:`MAX_SIZE`; arrays of at most :data:`MAX_VALUES` numbers; and a
cost of at most :data:`MAX_MULTIPLY_ADDS` multiply-adds per convolution call (window
cells read, for pooling). Sizes must be whole numbers: ``True``, ``np.True_``, 2.5
and "2" are refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .i18n import tr, tr_noop

__all__ = [
    "GeometryError",
    "ConvGeometry",
    "PoolGeometry",
    "as_pair",
    "output_size",
    "output_size_formula",
    "check_conv",
    "check_pool",
]


# No image, kernel, stride or padding in this app comes near this; it keeps a typo
# such as padding=10**6 from asking for terabytes instead of getting a sentence.
MAX_SIZE = 100_000
# The largest array (in numbers) a single convolution or pooling may need.
MAX_VALUES = 2**28
# The most multiply-adds (convolution) or window reads (pooling) one call may ask for:
# about 2-10 s of work for the engine on two cores, 30x more than the largest network
# the Training lab builds needs per batch, but far below a 4000x4000 kernel on an
# 8000x8000 image (2.6e14), which would keep the machine busy for hours.
MAX_MULTIPLY_ADDS = 2 * 10**11


class GeometryError(ValueError):
    """An impossible shape, kernel, stride or padding, a size that is not a whole number,
    an array that does not hold real numbers, or a runaway cost, explained in words."""


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _whole_number(value, name: str) -> int:
    """``value`` as an int if it is a whole number (an int, or a float such as 2.0)."""
    if _is_bool(value):
        raise GeometryError(tr("{name} must be a whole number, not {value!r} (a yes/no value)")
                            .format(name=tr(name), value=value))
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value):
        return int(value)
    raise GeometryError(tr("{name} must be a whole number, not {value!r}")
                        .format(name=tr(name), value=value))


def as_pair(value, name: str) -> tuple[int, int]:
    """Return ``value`` as an ``(h, w)`` pair of ints.

    Accepts a whole number (used for both axes) or a sequence of two. ``True``,
    ``np.True_``, 2.5, "2" and the like are refused with a sentence. ``name`` says what
    the value is in that sentence (a msgid, marked with ``tr_noop`` by the caller).
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise GeometryError(
                tr("{name} must be one number or a pair (h, w); got {count} numbers").format(
                    name=tr(name), count=len(value)))
        pair = value
    else:
        pair = (value, value)
    out = []
    for v in pair:
        iv = _whole_number(v, name)
        if abs(iv) > MAX_SIZE:
            raise GeometryError(tr("{name} {value} is far too large (at most {limit})").format(
                name=tr(name), value=iv, limit=f"{MAX_SIZE:,}"))
        out.append(iv)
    return out[0], out[1]


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """floor((size + 2 * padding - kernel) / stride) + 1, without validation."""
    return (size + 2 * padding - kernel) // stride + 1


def output_size_formula(size: int, kernel: int, stride: int = 1, padding: int = 0,
                        axis: str = "H") -> str:
    """The output-size formula with the numbers filled in, as the labs show it.

    Example: ``"H_out = floor((28 + 2·1 − 3) / 1) + 1 = 28"``. An impossible
    combination ends in the reason instead of a number.
    """
    head = f"{axis}_out = floor(({size} + 2·{padding} − {kernel}) / {stride}) + 1"
    try:
        _check_axis(size, kernel, stride, padding, axis_name=_AXIS_WORD.get(axis, axis),
                    what=tr_noop("kernel"))
    except GeometryError as err:
        return f"{head}: {err}"
    return f"{head} = {output_size(size, kernel, stride, padding)}"


_AXIS_WORD = {"H": tr_noop("height"), "W": tr_noop("width")}


def _check_axis(size: int, kernel: int, stride: int, padding: int, axis_name: str,
                what: str) -> None:
    """``axis_name`` and ``what`` are msgids (``tr_noop``), translated in the sentence."""
    axis_name, what = tr(axis_name), tr(what)
    if kernel < 1:
        raise GeometryError(tr("the {what} {axis} must be at least 1, not {value}").format(
            what=what, axis=axis_name, value=kernel))
    if stride < 1:
        raise GeometryError(_stride_too_small(stride))
    if padding < 0:
        raise GeometryError(_negative_padding(padding))
    if size < 1:
        raise GeometryError(tr("the input {axis} must be at least 1, not {value}").format(
            axis=axis_name, value=size))
    if kernel > size + 2 * padding:
        raise GeometryError(tr(
            "a {what} of {axis} {kernel} does not fit an input of {axis} {size} with padding "
            "{padding} (padded {axis} is {padded})").format(
                what=what, axis=axis_name, kernel=kernel, size=size, padding=padding,
                padded=size + 2 * padding))


def _stride_too_small(stride: int) -> str:
    return tr("the stride must be at least 1, not {value}").format(value=stride)


def _negative_padding(padding: int) -> str:
    return tr("the padding cannot be negative (got {value})").format(value=padding)


@dataclass(frozen=True)
class ConvGeometry:
    """Every size a convolution needs, validated. Axis letters as in the docs."""

    N: int
    C: int
    H: int
    W: int
    F: int
    KH: int
    KW: int
    SH: int
    SW: int
    PH: int
    PW: int
    HO: int
    WO: int

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.C, self.H, self.W)

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.F, self.HO, self.WO)

    @property
    def padded_shape(self) -> tuple[int, int]:
        return (self.H + 2 * self.PH, self.W + 2 * self.PW)


@dataclass(frozen=True)
class PoolGeometry:
    """Every size a pooling layer needs, validated."""

    N: int
    C: int
    H: int
    W: int
    KH: int
    KW: int
    SH: int
    SW: int
    HO: int
    WO: int

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.C, self.H, self.W)

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.C, self.HO, self.WO)


def _shape_of(a, name: str, ndim: int, letters: str) -> tuple[int, ...]:
    """The shape of an array (or a shape itself) as ints, checked: ``ndim`` sizes, each a
    whole number >= 0 (``(2, 3, 7.5, 9)``, ``True`` or ``"3"`` are refused)."""
    raw = getattr(a, "shape", a)
    try:
        raw = tuple(raw)
    except TypeError:
        raise GeometryError(tr("{name} must be a shape such as (N, C, H, W), not {value!r}")
                            .format(name=tr(name), value=raw)) from None
    if all(type(s) is int for s in raw):  # numpy shapes: the common case, checked fast
        shape = raw
    else:
        shape = tuple(_whole_number(s, tr("every size of {name}").format(name=tr(name)))
                      for s in raw)
    if len(shape) != ndim:
        raise GeometryError(tr("{name} must have {ndim} dimensions ({letters}), but it has "
                               "{count}: shape {shape}").format(
            name=tr(name), ndim=ndim, letters=", ".join(letters), count=len(shape), shape=shape))
    if min(shape) < 0:
        raise GeometryError(tr("the sizes of {name} cannot be negative: shape {shape}")
                            .format(name=tr(name), shape=shape))
    return shape


def check_conv(x_shape, w_shape, b_shape=None, stride=1, padding=0) -> ConvGeometry:
    """Validate a convolution and return its sizes.

    Parameters
    ----------
    x_shape : shape (N, C, H, W) or an array of that shape
    w_shape : shape (F, C, KH, KW) or an array of that shape
    b_shape : shape (F,) or an array of that shape, or None to skip the bias check
    stride, padding : int or (h, w) pair

    Raises
    ------
    GeometryError
        With a sentence that names the problem.
    """
    N, C, H, W = _shape_of(x_shape, tr_noop("the input"), 4, "NCHW")
    F, CW, KH, KW = _shape_of(w_shape, tr_noop("the kernel array"), 4, ("F", "C", "KH", "KW"))
    SH, SW = as_pair(stride, tr_noop("stride"))
    PH, PW = as_pair(padding, tr_noop("padding"))
    if CW != C:
        raise GeometryError(tr("the kernels have {kernel_channels} channel(s) but the input has "
                               "{channels}: they must match").format(kernel_channels=CW,
                                                                    channels=C))
    if F < 1:
        raise GeometryError(tr("there must be at least one filter"))
    if b_shape is not None:
        b = _shape_of(b_shape, tr_noop("the bias"), 1, "F")
        if b[0] != F:
            raise GeometryError(tr("the bias needs one value per filter ({filters}), but it "
                                   "has {count}").format(filters=F, count=b[0]))
    if SH < 1 or SW < 1:
        raise GeometryError(_stride_too_small(min(SH, SW)))
    if PH < 0 or PW < 0:
        raise GeometryError(_negative_padding(min(PH, PW)))
    if KH < 1 or KW < 1:
        raise GeometryError(tr("the kernel must be at least 1x1"))
    if KH > H + 2 * PH or KW > W + 2 * PW:
        pad = f"{PH}" if PH == PW else f"({PH}, {PW})"
        raise GeometryError(tr("a {kh}x{kw} kernel does not fit a {h}x{w} input with padding "
                               "{padding}").format(kh=KH, kw=KW, h=H, w=W, padding=pad))
    HO = output_size(H, KH, SH, PH)
    WO = output_size(W, KW, SW, PW)
    _check_values(N * C * (H + 2 * PH) * (W + 2 * PW), tr_noop("the padded input"))
    _check_values(N * F * HO * WO, tr_noop("the output"))
    cost = N * F * HO * WO * C * KH * KW
    if cost > MAX_MULTIPLY_ADDS:
        raise GeometryError(tr(
            "this convolution needs about {cost} multiply-adds ({n} x {f} x {ho}x{wo} outputs, "
            "each a sum of {c} x {kh}x{kw} products), more than this app computes in one call "
            "({limit}); use a smaller kernel, input or batch").format(
                cost=_about(cost), n=N, f=F, ho=HO, wo=WO, c=C, kh=KH, kw=KW,
                limit=_about(MAX_MULTIPLY_ADDS)))
    return ConvGeometry(N, C, H, W, F, KH, KW, SH, SW, PH, PW, HO, WO)


def _about(count: int) -> str:
    """A count for a sentence: 2.6e14 rather than 256,064,016,000,000."""
    return f"{count:,}" if count < 10**7 else f"{count:.1e}".replace("e+", "e")


def _check_values(count: int, what: str) -> None:
    """Refuse an array of more than MAX_VALUES numbers; ``what`` names it (a msgid, marked
    with tr_noop by the caller and translated only when the sentence is needed)."""
    if count > MAX_VALUES:
        raise GeometryError(tr("{what} would hold {count} numbers, more than this app handles "
                               "at once ({limit}); use a smaller input or padding")
                            .format(what=tr(what), count=f"{count:,}", limit=f"{MAX_VALUES:,}"))


def check_pool(x_shape, size=2, stride=None) -> PoolGeometry:
    """Validate a pooling layer (no padding) and return its sizes.

    ``stride=None`` means the stride equals the window size.
    """
    N, C, H, W = _shape_of(x_shape, tr_noop("the input"), 4, "NCHW")
    KH, KW = as_pair(size, tr_noop("pool size"))
    SH, SW = as_pair(size if stride is None else stride, tr_noop("stride"))
    if KH < 1 or KW < 1:
        raise GeometryError(tr("the pooling window must be at least 1x1"))
    if SH < 1 or SW < 1:
        raise GeometryError(_stride_too_small(min(SH, SW)))
    if KH > H or KW > W:
        raise GeometryError(tr("a {kh}x{kw} pooling window does not fit a {h}x{w} input")
                            .format(kh=KH, kw=KW, h=H, w=W))
    HO = output_size(H, KH, SH, 0)
    WO = output_size(W, KW, SW, 0)
    _check_values(N * C * H * W, tr_noop("the input"))
    _check_values(N * C * HO * WO, tr_noop("the output"))
    cost = N * C * HO * WO * KH * KW
    if cost > MAX_MULTIPLY_ADDS:
        raise GeometryError(tr(
            "this pooling needs about {cost} steps ({n} x {c} x {ho}x{wo} windows of {kh}x{kw} "
            "cells), more than this app computes in one call ({limit}); use a smaller window, "
            "input or batch").format(cost=_about(cost), n=N, c=C, ho=HO, wo=WO, kh=KH, kw=KW,
                                     limit=_about(MAX_MULTIPLY_ADDS)))
    return PoolGeometry(N, C, H, W, KH, KW, SH, SW, HO, WO)
