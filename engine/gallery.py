"""The classic named 3x3 kernels, and the helpers the Kernel gallery lab needs.

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
from .i18n import tr_noop
from .pooling import avg_pool2d_forward, max_pool2d_forward

__all__ = [
    "KERNELS",
    "DESCRIPTIONS",
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


#: name -> (3, 3) float64 kernel, read-only, in the order the gallery shows them.
KERNELS: dict[str, np.ndarray] = {
    "sharpen": _kernel([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "vertical edge": _kernel([[1, 0, -1], [1, 0, -1], [1, 0, -1]]),
    "surround": _kernel([[1, 1, 1], [1, 0, 1], [1, 1, 1]]),
    "Sobel-Y": _kernel([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "identity": _kernel([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "horizontal edge": _kernel([[1, 1, 1], [0, 0, 0], [-1, -1, -1]]),
    "blur": _kernel(np.ones((3, 3)), 1 / 9),
    "Sobel-X": _kernel([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "emboss": _kernel([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
}

#: name -> one-line description (the GUI's tooltips).
DESCRIPTIONS: dict[str, str] = {
    "sharpen": "Boosts each pixel against its four neighbours, so edges and fine detail stand out.",
    "vertical edge": "Left column minus right column: responds to vertical edges, "
                     "positive where it is brighter on the left.",
    "surround": "Adds up the eight neighbours and ignores the pixel itself.",
    "Sobel-Y": "Bottom row minus top row, centre weighted twice: "
               "the vertical brightness gradient, so it finds horizontal edges.",
    "identity": "A single 1 in the centre: the output is the input, unchanged.",
    "horizontal edge": "Top row minus bottom row: responds to horizontal edges, "
                       "positive where it is brighter above.",
    "blur": "Box blur: each pixel becomes the average of its 3x3 neighbourhood (all weights 1/9).",
    "Sobel-X": "Right column minus left column, centre weighted twice: "
               "the horizontal brightness gradient, so it finds vertical edges.",
    "emboss": "Bright on one diagonal side, dark on the other: "
              "the picture looks raised, lit from the bottom right.",
}

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
    raise GeometryError(
        f"the image must be grey (H, W) or colour (H, W, 3); got shape {image.shape}")


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
        raise GeometryError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if padding not in PADDINGS:
        raise GeometryError(f"padding must be one of {', '.join(PADDINGS)}, not {padding!r}")
    kernel = real_array(kernel, tr_noop("the kernel")).astype(np.float64)
    if kernel.ndim != 2 or kernel.size == 0:
        raise GeometryError(f"the kernel must be a 2-D (KH, KW) array; got shape {kernel.shape}")
    if not np.isfinite(kernel).all():
        raise GeometryError("every kernel value must be a finite number")
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
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}") from None
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
        raise GeometryError(f"pooling here takes one (H, W) map; got shape {a.shape}")
    stride = size if stride is None else stride
    x = a[None, None]  # (H, W) -> (N=1, C=1, H, W)
    if kind == "max":
        return max_pool2d_forward(x, size, stride)[0][0, 0]
    if kind == "avg":
        return avg_pool2d_forward(x, size, stride)[0, 0]
    raise ValueError(f"pooling kind must be 'max' or 'avg', not {kind!r}")
