"""Image files as numpy arrays: loading with Qt, greyscale conversion, downscaling.

Every lab that shows a photograph goes through :func:`load_image`, so an unreadable
or non-image file always produces the same clear sentence (an :class:`ImageFileError`)
that the lab puts in the status bar, never a traceback.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PyQt6.QtGui import QImage, QImageReader

__all__ = [
    "ImageFileError",
    "IMAGE_FILE_FILTER",
    "load_image",
    "to_grey",
    "downscale",
    "asset_images",
]

#: For QFileDialog: the formats the labs promise to open.
IMAGE_FILE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp);;All files (*)"

#: ITU-R BT.601 luma weights, the usual "greyscale" of a colour photograph.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

_ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "images"


class ImageFileError(ValueError):
    """A file that is missing or that Qt cannot decode as an image, explained in words."""


def load_image(path) -> np.ndarray:
    """Read an image file into a float array in [0, 1].

    Parameters
    ----------
    path : str or Path
        A PNG, JPEG or BMP file (any format Qt can read works).

    Returns
    -------
    image : ndarray, float32, shape (H, W) for a greyscale file or (H, W, 3) for colour
        Alpha is dropped.

    Raises
    ------
    ImageFileError
        If the file does not exist or is not an image Qt can decode.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"'{path.name}' was not found ({path})")
    reader = QImageReader(str(path))
    qimage = reader.read()
    if qimage.isNull():
        raise ImageFileError(
            f"'{path.name}' could not be read as an image ({reader.errorString()}); "
            "open a PNG, JPEG or BMP file")
    if qimage.width() < 1 or qimage.height() < 1:
        raise ImageFileError(f"'{path.name}' is an empty image")
    return qimage_to_array(qimage)


def qimage_to_array(qimage: QImage) -> np.ndarray:
    """Copy a QImage into float32 (H, W) or (H, W, 3) in [0, 1]."""
    grey = qimage.isGrayscale()
    fmt = QImage.Format.Format_Grayscale8 if grey else QImage.Format.Format_RGB888
    img = qimage.convertToFormat(fmt)
    h, w = img.height(), img.width()
    channels = 1 if grey else 3
    stride = img.bytesPerLine()  # rows are padded to 4 bytes, so stride >= w * channels
    buf = np.frombuffer(img.constBits().asstring(stride * h), dtype=np.uint8)
    rows = buf.reshape(h, stride)[:, : w * channels]  # (H, W*channels), padding dropped
    pixels = rows.reshape(h, w, channels) if channels == 3 else rows.reshape(h, w)
    return pixels.astype(np.float32) / np.float32(255.0)


def to_grey(image: np.ndarray) -> np.ndarray:
    """Luminance of a colour image, or the image itself if it is already grey.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)

    Returns
    -------
    grey : ndarray, float32, shape (H, W), C-contiguous
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image @ _LUMA)
    raise ValueError(f"expected an image of shape (H, W) or (H, W, 3), got {image.shape}")


def downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, int]:
    """Shrink an image by an integer factor so that its longer side is at most ``max_side``.

    Each output pixel is the mean of a ``factor x factor`` block (area averaging, so
    fine detail is smoothed rather than aliased). Rows/columns that do not fill a
    whole block at the bottom/right edge are dropped.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
    max_side : int, at least 1

    Returns
    -------
    small : ndarray, float32, shape (H // factor, W // factor[, 3])
        The image itself (not a copy) when no shrinking is needed.
    factor : int
        1 when the image already fits.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, not {max_side}")
    image = np.asarray(image, dtype=np.float32)
    h, w = image.shape[:2]
    factor = math.ceil(max(h, w) / max_side)
    if factor <= 1:
        return image, 1
    ho, wo = h // factor, w // factor
    cropped = image[: ho * factor, : wo * factor]
    # (HO*f, WO*f, ...) -> (HO, f, WO, f, ...): each block gets its own two axes
    blocks = cropped.reshape(ho, factor, wo, factor, *image.shape[2:])
    return np.ascontiguousarray(blocks.mean(axis=(1, 3), dtype=np.float32)), factor


def asset_images() -> dict[str, Path]:
    """The sample photographs shipped in assets/images, by name (file stem), sorted."""
    if not _ASSET_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(_ASSET_DIR.glob("*.png"))}
