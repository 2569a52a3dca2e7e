"""The Kernel gallery's computation, without Qt: requests, results, kernel text.

Every change in the lab builds a :class:`GalleryRequest` (copies of the inputs);
:func:`compute_gallery` turns it into a :class:`GalleryResult` with the engine, in the
lab's worker thread (or any thread: nothing here touches Qt). The kernel entries the
learner types are parsed and written back by :func:`parse_value` / :func:`format_value`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

import engine
from engine import gallery as kernel_gallery
from engine.i18n import tr

__all__ = [
    "GalleryRequest",
    "GalleryResult",
    "compute_gallery",
    "display_scale",
    "parse_value",
    "format_value",
    "matrix_text",
    "DISPLAY_PERCENTILE",
]

#: The signed panels' colour scale covers this share of the pixels (the rest saturate).
DISPLAY_PERCENTILE = 99.5


@dataclass(frozen=True)
class GalleryRequest:
    """Everything one update needs, as private copies (safe to hand to another thread).

    Attributes
    ----------
    serial : int
        Increases with every request; results of older requests are dropped.
    grey : ndarray, float32, shape (H, W)
        The working copy of the photo in [0, 1].
    kernel : ndarray, float32, shape (KH, KW)
        The kernel as the learner sees it (after normalisation, before any flip).
    mode : {"cross-correlation", "convolution"}
        "convolution" applies the kernel rotated by 180 degrees.
    padding : {"same", "valid"}
    activation : one of ``engine.gallery.ACTIVATIONS`` ("ReLU", "sigmoid", "tanh", "none")
    pool : {"max", "avg"}
    pool_size, pool_stride : int
    """

    serial: int
    grey: np.ndarray
    kernel: np.ndarray
    mode: str
    padding: str
    activation: str
    pool: str
    pool_size: int
    pool_stride: int

    @property
    def flip(self) -> bool:
        return self.mode == "convolution"


@dataclass(frozen=True)
class GalleryResult:
    """The three computed panels of one request.

    Attributes
    ----------
    request : GalleryRequest
        The settings this result was computed for.
    applied_kernel : ndarray, shape (KH, KW)
        The kernel actually slid over the image (rot180_kernel for true convolution).
    conv : ndarray, float32, shape (HO, WO)
    activated : ndarray, float32, shape (HO, WO)
    pooled : ndarray, float32, shape (PH, PW), or None if the window does not fit
    pool_error : str
        Why ``pooled`` is None, in words ("" otherwise).
    conv_scale : float
        The colour scale of the signed panels: the 99.5th percentile of |conv|, so a
        few extreme pixels do not wash every edge out to white (they saturate instead).
    seconds : float
        Compute time of this request.
    """

    request: GalleryRequest
    applied_kernel: np.ndarray
    conv: np.ndarray
    activated: np.ndarray
    pooled: np.ndarray | None
    pool_error: str
    conv_scale: float
    seconds: float

    @property
    def serial(self) -> int:
        return self.request.serial


def compute_gallery(request: GalleryRequest) -> GalleryResult:
    """Convolve, activate and pool one photo with the engine. No Qt; any thread.

    ``engine.gallery.apply_kernel`` runs engine.conv2d_forward with one input channel
    and one filter; ``engine.gallery.pool_image`` runs engine.max_pool2d_forward or
    engine.avg_pool2d_forward.
    """
    start = time.perf_counter()
    kernel = np.asarray(request.kernel, dtype=np.float32)
    # true convolution = cross-correlation with the kernel rotated by 180 degrees
    applied_kernel = kernel[::-1, ::-1].copy() if request.flip else kernel
    conv = kernel_gallery.apply_kernel(request.grey, kernel, mode=request.mode,
                                       padding=request.padding)
    activated = kernel_gallery.activate(conv, request.activation)
    pooled, pool_error = None, ""
    try:
        pooled = kernel_gallery.pool_image(activated, request.pool, request.pool_size,
                                           request.pool_stride)
    except engine.GeometryError as err:
        pool_error = str(err)
    return GalleryResult(request, applied_kernel, conv, activated, pooled, pool_error,
                         display_scale(conv), time.perf_counter() - start)


def display_scale(a: np.ndarray, percentile: float = DISPLAY_PERCENTILE) -> float:
    """Half-width of a colour scale centred on 0 that covers ``percentile`` % of |a|.

    Falls back to max |a| (and to 1 for an all-zero map) so the scale is never empty.
    """
    magnitude = np.abs(a[np.isfinite(a)])
    if magnitude.size == 0:
        return 1.0
    scale = float(np.percentile(magnitude, percentile))
    if scale <= 0:
        scale = float(magnitude.max())
    return scale if scale > 0 else 1.0


def parse_value(text: str) -> float:
    """A kernel entry typed by the learner: a number or a fraction such as ``1/9``.

    Raises
    ------
    ValueError
        With a short reason.
    """
    text = text.strip().replace("−", "-").replace(",", ".")
    if not text:
        raise ValueError(tr("is empty"))
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            value = float(num) / float(den)
        else:
            value = float(text)
    except ZeroDivisionError:
        raise ValueError(tr("'{text}' divides by zero").format(text=text)) from None
    except ValueError:
        raise ValueError(tr("'{text}' is not a number").format(text=text)) from None
    if not np.isfinite(value):
        raise ValueError(tr("'{text}' is not a finite number").format(text=text))
    return value


def format_value(value: float) -> str:
    """Short text for a kernel entry: ``-1``, ``1/9``, ``0.25`` ..."""
    value = float(value)
    if abs(value - round(value)) < 1e-6:
        return str(int(round(value)))
    frac = Fraction(value).limit_denominator(64)
    if abs(float(frac) - value) < 1e-6 and abs(frac.numerator) < 100:
        return f"{frac.numerator}/{frac.denominator}"
    return f"{value:.3g}"


def matrix_text(kernel: np.ndarray, width: int = 5) -> str:
    """A kernel as aligned rows of text (for buttons and labels in a monospace font)."""
    return "\n".join("".join(format_value(v).rjust(width) for v in row) for row in kernel)
