"""The classic named 3x3 kernels, the course's sample picture, and the helpers the Kernel
gallery lab needs.

Every image operation here goes through the engine's functional API
(``conv2d_forward``, ``max_pool2d_forward``, ``avg_pool2d_forward``), so the gallery
shows exactly what a convolution layer computes.

Colour images are converted to grey before filtering (ITU-R BT.601 luma
weights 0.299 R + 0.587 G + 0.114 B). Because convolution is linear this equals
filtering each channel and summing with those weights, and it keeps the result
on the same scale as a grey input, so one colour bar fits both.
"""

from __future__ import annotations

import numpy as np

from ._arrays import as_float, float_dtype, real_array
from .conv_forward import conv2d_forward
from .geometry import GeometryError
from .i18n import tr, tr_noop
from .pooling import avg_pool2d_forward, max_pool2d_forward

__all__ = [
    "KERNELS",
    "COURSE_KERNELS",
    "NAMES",
    "DESCRIPTIONS",
    "kernel_name",
    "kernel_description",
    "SAMPLE_SIDE",
    "sample_picture",
    "ACTIVATIONS",
    "MODES",
    "PADDINGS",
    "LUMA_WEIGHTS",
    "to_grey",
    "apply_kernel",
    "normalise_kernel",
    "activate",
    "pool_image",
]


def _kernel(rows, scale: float = 1.0) -> np.ndarray:
    k = np.array(rows, dtype=np.float64) * scale
    k.setflags(write=False)  # shared by everyone: edit a copy (KERNELS[name].copy())
    return k


#: name -> (3, 3) float64 kernel, read-only, in the order the gallery shows them: first the
#: nine of the course (docs: CURRICULUM.md, "The nine classic kernels"), with the course's
#: values and in the course's order, then the older textbook kernels the app used to show.
KERNELS: dict[str, np.ndarray] = {
    "sharpen": _kernel([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "vertical edge": _kernel([[0, 0, 0], [-1, 2, -1], [0, 0, 0]]),
    "surround": _kernel([[1, 1, 1], [1, -9, 1], [1, 1, 1]]),
    "Sobel-Y": _kernel([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "identity": _kernel([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "horizontal edge": _kernel([[0, -1, 0], [0, 2, 0], [0, -1, 0]]),
    "blur": _kernel(np.ones((3, 3)), 1 / 9),
    "Sobel-X": _kernel([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "emboss": _kernel([[2, 0, 0], [0, -1, 0], [0, 0, -1]]),
    "left minus right": _kernel([[1, 0, -1], [1, 0, -1], [1, 0, -1]]),
    "top minus bottom": _kernel([[1, 1, 1], [0, 0, 0], [-1, -1, -1]]),
    "neighbour sum": _kernel([[1, 1, 1], [1, 0, 1], [1, 1, 1]]),
    "diagonal emboss": _kernel([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
}

#: The nine kernels of the course, in its order (the first entries of KERNELS).
COURSE_KERNELS: tuple[str, ...] = ("sharpen", "vertical edge", "surround", "Sobel-Y",
                                   "identity", "horizontal edge", "blur", "Sobel-X", "emboss")

#: name -> the name shown (a msgid: show it as ``kernel_name(name)``); the course's Chinese
#: names are the catalog's translations.
NAMES: dict[str, str] = {
    "sharpen": tr_noop("Sharpen"),
    "vertical edge": tr_noop("Vertical edge"),
    "surround": tr_noop("Surround"),
    "Sobel-Y": tr_noop("Sobel-Y"),
    "identity": tr_noop("Identity"),
    "horizontal edge": tr_noop("Horizontal edge"),
    "blur": tr_noop("Blur"),
    "Sobel-X": tr_noop("Sobel-X"),
    "emboss": tr_noop("Emboss"),
    "left minus right": tr_noop("Left − right"),
    "top minus bottom": tr_noop("Top − bottom"),
    "neighbour sum": tr_noop("8-neighbour sum"),
    "diagonal emboss": tr_noop("Diagonal emboss"),
}

#: name -> one-line description, what the course says the kernel does (msgids: show them
#: as ``kernel_description(name)``; the GUI's tooltips).
DESCRIPTIONS: dict[str, str] = {
    "sharpen": tr_noop("A pixel brighter than its neighbours becomes brighter still, so edges "
                       "and fine detail stand out."),
    "vertical edge": tr_noop("Finds vertical lines: the left and the right side are checked "
                             "separately, so one line gives two lines of different colours."),
    "surround": tr_noop("Boosts the surroundings and weakens flat regions (the centre weighs "
                        "−9), forming large blocks of colour."),
    "Sobel-Y": tr_noop("The vertical brightness difference (bottom row minus top row, centre "
                       "weighted twice): finds horizontal edges, both lines the same colour, "
                       "like a separator."),
    "identity": tr_noop("A single 1 in the centre: the output equals the input (the original "
                        "picture)."),
    "horizontal edge": tr_noop("Finds horizontal lines: the upper and the lower side are "
                               "checked separately."),
    "blur": tr_noop("The average of the 3×3 neighbourhood (every weight 1/9 ≈ 0.11): take from "
                    "the rich, give to the poor."),
    "Sobel-X": tr_noop("The horizontal brightness difference (right column minus left column, "
                       "centre weighted twice): finds vertical edges."),
    "emboss": tr_noop("Twice the top-left neighbour minus the centre and the bottom-right one: "
                      "the picture looks like a marble relief."),
    "left minus right": tr_noop("The textbook edge kernel (Prewitt): left column minus right "
                                "column, positive where it is brighter on the left (vertical "
                                "edges)."),
    "top minus bottom": tr_noop("Prewitt's other direction: top row minus bottom row, positive "
                                "where it is brighter above (horizontal edges)."),
    "neighbour sum": tr_noop("Adds up the eight neighbours and ignores the pixel itself."),
    "diagonal emboss": tr_noop("Bright on one diagonal side, dark on the other: the picture "
                               "looks raised, lit from the bottom right."),
}


def kernel_name(name: str) -> str:
    """The name of the kernel ``name`` shown in the current language."""
    return tr(NAMES[name]) if name in NAMES else name


def kernel_description(name: str) -> str:
    """What the kernel ``name`` does, in the current language ("" for an unknown name)."""
    return tr(DESCRIPTIONS[name]) if name in DESCRIPTIONS else ""


#: The course's sample picture: grey, a cross of one vertical and one horizontal stroke
#: (dark strokes, 4 pixels wide, on a light grey ground). Shipped as
#: assets/images/cross.png (8-bit grey: 0.6 and 0.2 are exactly 153/255 and 51/255).
SAMPLE_SIDE = 32
SAMPLE_BACKGROUND, SAMPLE_STROKE = 0.6, 0.2


def sample_picture() -> np.ndarray:
    """The course's grey sample picture, (SAMPLE_SIDE, SAMPLE_SIDE) float64 in [0, 1].

    The vertical-edge kernel turns each side of its vertical stroke into two lines of
    different colours (the horizontal stroke fades but for its ends); the horizontal-edge
    kernel does the same for the horizontal stroke.
    """
    side = SAMPLE_SIDE
    picture = np.full((side, side), SAMPLE_BACKGROUND)
    picture[4:side - 4, 14:18] = SAMPLE_STROKE  # the vertical stroke, columns 14-17
    picture[14:18, 4:side - 4] = SAMPLE_STROKE  # the horizontal stroke, rows 14-17
    return picture


MODES = ("cross-correlation", "convolution")
PADDINGS = ("same", "valid")
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])

ACTIVATIONS = {
    "none": lambda a: a.copy(),
    "ReLU": lambda a: np.maximum(a, 0),
    # 0.5 * (1 + tanh(a / 2)) is the logistic function without overflow in exp
    "sigmoid": lambda a: 0.5 * (1 + np.tanh(0.5 * a)),
    "tanh": np.tanh,
}


def to_grey(image) -> np.ndarray:
    """A grey (H, W) float image from a grey (H, W) or colour (H, W, 3|4) one.

    Colour uses the BT.601 luma weights; an alpha channel is ignored. float32
    stays float32, anything else becomes float64.
    """
    image = np.asarray(image)
    image = as_float(image, float_dtype(image, tr_noop("the image")))
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (3, 4):
        # (H, W, 3) @ (3,) -> (H, W)
        return np.ascontiguousarray(image[:, :, :3] @ LUMA_WEIGHTS.astype(image.dtype))
    raise GeometryError(tr("the image must be grey (H, W) or colour (H, W, 3); got shape "
                           "{shape}").format(shape=image.shape))


def apply_kernel(image, kernel, mode: str = "cross-correlation",
                 padding: str = "same") -> np.ndarray:
    """Filter an image with one kernel through ``engine.conv2d_forward``.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) array
        Colour is converted to grey first (see :func:`to_grey`).
    kernel : (KH, KW) array
    mode : {"cross-correlation", "convolution"}
        What CNNs compute (the kernel as it is), or true convolution (the
        kernel rotated 180 degrees first).
    padding : {"same", "valid"}
        "same": zero padding so the output is (H, W), the kernel's centre cell on
        each pixel (for an even size see :func:`_same_padding`); "valid": no
        padding, the output is (H - KH + 1, W - KW + 1).

    Returns
    -------
    (H', W') array, float32 for a float32 image, else float64.

    Raises
    ------
    GeometryError
        For a bad shape, mode or padding, or a kernel larger than a "valid" image.
    """
    grey = to_grey(image)
    kernel = _check_kernel(kernel, mode, padding)
    if padding == "same":
        grey = np.pad(grey, _same_padding(kernel.shape, mode))
    if mode == "convolution":
        kernel = kernel[::-1, ::-1]  # true convolution = cross-correlation with rot180_kernel
    # (H, W) -> (N=1, C=1, H, W); (KH, KW) -> (F=1, C=1, KH, KW)
    x = grey[None, None]
    w = kernel[None, None]
    y = conv2d_forward(x, w, np.zeros(1, dtype=grey.dtype))
    return y[0, 0]


def _same_padding(shape, mode: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Zeros (before, after) per axis so the kernel's centre cell lands on each pixel.

    The centre of an even size is the cell before the middle; true convolution
    rotates the kernel, so its centre and the extra zero row/column swap sides
    (the same convention as scipy.signal's mode="same").
    """
    pads = []
    for k in shape:
        before, after = (k - 1) // 2, k // 2
        pads.append((after, before) if mode == "convolution" else (before, after))
    return tuple(pads)


def _check_kernel(kernel, mode: str, padding: str) -> np.ndarray:
    if mode not in MODES:
        raise GeometryError(tr("mode must be one of {modes}, not {mode!r}").format(
            modes=", ".join(MODES), mode=mode))
    if padding not in PADDINGS:
        raise GeometryError(tr("padding must be one of {paddings}, not {padding!r}").format(
            paddings=", ".join(PADDINGS), padding=padding))
    kernel = real_array(kernel, tr_noop("the kernel")).astype(np.float64)
    if kernel.ndim != 2 or kernel.size == 0:
        raise GeometryError(tr("the kernel must be a 2-D (KH, KW) array; got shape {shape}")
                            .format(shape=kernel.shape))
    if not np.isfinite(kernel).all():
        raise GeometryError(tr("every kernel value must be a finite number"))
    return kernel


def normalise_kernel(kernel) -> np.ndarray:
    """The kernel divided by its sum, or by the sum of its absolute values if that is ~0.

    Dividing by the sum keeps the average brightness (a blur stays a blur); an
    edge kernel sums to zero, so it is scaled by its absolute sum instead. An
    all-zero kernel is returned unchanged (as a new float64 array).
    """
    kernel = np.array(kernel, dtype=np.float64)
    total, absolute = kernel.sum(), np.abs(kernel).sum()
    if abs(total) > 1e-9 * absolute:
        return kernel / total
    if absolute > 0:
        return kernel / absolute
    return kernel


def activate(a, name: str = "ReLU") -> np.ndarray:
    """Apply the activation ``name`` (one of ``ACTIVATIONS``) to an array, element-wise."""
    try:
        fn = ACTIVATIONS[name]
    except KeyError:
        raise ValueError(tr("unknown activation {name!r}; choose one of {names}").format(
            name=name, names=", ".join(ACTIVATIONS))) from None
    return fn(np.asarray(a))


def pool_image(a, kind: str = "max", size=2, stride=None) -> np.ndarray:
    """Max or average pooling of one (H, W) map through the engine's pooling kernels.

    Parameters
    ----------
    a : (H, W) array
    kind : {"max", "avg"}
    size, stride : int or (h, w) pair; ``stride=None`` means the window size.

    Returns
    -------
    (HO, WO) array
    """
    a = np.asarray(a)
    if a.ndim != 2:
        raise GeometryError(tr("pooling here takes one (H, W) map; got shape {shape}").format(
            shape=a.shape))
    stride = size if stride is None else stride
    x = a[None, None]  # (H, W) -> (N=1, C=1, H, W)
    if kind == "max":
        return max_pool2d_forward(x, size, stride)[0][0, 0]
    if kind == "avg":
        return avg_pool2d_forward(x, size, stride)[0, 0]
    raise ValueError(tr("pooling kind must be 'max' or 'avg', not {kind!r}").format(kind=kind))
