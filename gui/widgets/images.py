"""Image files as numpy arrays: loading with Qt, greyscale conversion, downscaling.

Every lab that shows a photograph goes through :func:`load_image` /
:func:`load_scaled`, so an unreadable or non-image file always produces the same clear
sentence (an :class:`ImageFileError`) that the lab puts in the status bar, never a
traceback. Any size works: a 1x801 strip, a 3x10000 banner, an 8000x8000 photo (whose
decoding and shrinking take seconds, so :class:`ImageLoader` does them in a worker
thread and the GUI thread only receives the small result).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QImage, QImageReader

from engine.i18n import tr, tr_noop
from gui.workers.threads import Worker, start_worker

__all__ = [
    "ImageFileError",
    "IMAGE_FILE_FILTER",
    "load_image",
    "to_grey",
    "downscale",
    "asset_images",
    "SAMPLE_PICTURE",
    "PHOTO_TITLES",
    "photo_title",
    "asset_name",
    "add_photo_items",
    "title_photo_items",
    "find_photo",
    "ScaledImage",
    "load_scaled",
    "image_size",
    "qimage_pixels",
    "ImageLoader",
    "LARGE_PIXELS",
]

#: For QFileDialog (shown as tr(IMAGE_FILE_FILTER)): the formats the labs promise to open.
IMAGE_FILE_FILTER = tr_noop("Images (*.png *.jpg *.jpeg *.bmp);;All files (*)")
#: Files with more pixels than this are read in a worker thread (decoding takes > 20 ms).
LARGE_PIXELS = 1_000_000

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
    return qimage_to_array(_read_qimage(path))


def _reader(path) -> QImageReader:
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(tr("'{name}' was not found ({path})").format(name=path.name,
                                                                          path=path))
    reader = QImageReader(str(path))
    reader.setAllocationLimit(0)  # Qt's 256 MB default refuses 8000x8000 photos
    return reader


def _read_qimage(path) -> QImage:
    reader = _reader(path)
    qimage = reader.read()
    name = Path(path).name
    if qimage.isNull():
        raise ImageFileError(
            tr("'{name}' could not be read as an image ({reason}); open a PNG, JPEG or BMP "
               "file").format(name=name, reason=reader.errorString()))
    if qimage.width() < 1 or qimage.height() < 1:
        raise ImageFileError(tr("'{name}' is an empty image").format(name=name))
    return qimage


def image_size(path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding it; (0, 0) if unknown.

    Raises
    ------
    ImageFileError
        If the file does not exist.
    """
    size = _reader(path).size()
    return max(size.width(), 0), max(size.height(), 0)


@dataclass(frozen=True)
class ScaledImage:
    """A photo read and shrunk for a lab.

    Attributes
    ----------
    path : str
    image : ndarray, float32, (H, W) or (H, W, 3) in [0, 1]
        The working copy, longer side at most the ``max_side`` asked for.
    factor : int
        Each pixel of ``image`` averages a ``factor x factor`` block of the file (1: as is).
    width, height : int
        The file's own size.
    """

    path: str
    image: np.ndarray
    factor: int
    width: int
    height: int

    @property
    def grey(self) -> bool:
        return self.image.ndim == 2


def load_scaled(path, max_side: int) -> ScaledImage:
    """Read an image file and shrink it (block averaging) so its longer side is at most
    ``max_side``. Memory stays near the decoded file's own size (the float conversion
    runs strip by strip). Any thread.

    Raises
    ------
    ImageFileError
        As :func:`load_image`.
    """
    qimage = _read_qimage(path)
    w, h = qimage.width(), qimage.height()
    grey = qimage.isGrayscale()
    fmt = QImage.Format.Format_Grayscale8 if grey else QImage.Format.Format_RGB888
    img = qimage.convertToFormat(fmt)
    del qimage
    channels = 1 if grey else 3
    stride = img.bytesPerLine()
    bits = img.constBits()
    bits.setsize(stride * h)
    buf = np.frombuffer(bits, dtype=np.uint8)  # the QImage's own memory: no copy
    rows = buf.reshape(h, stride)[:, : w * channels]  # (H, W*channels) uint8
    pixels = rows.reshape(h, w, channels) if channels == 3 else rows.reshape(h, w)
    factor = _factor(h, w, max_side)
    if factor == 1:
        return ScaledImage(str(path), pixels.astype(np.float32) / np.float32(255.0), 1, w, h)
    fh, fw = min(factor, h), min(factor, w)
    strip = max(1, (4 << 20) // max(1, w * channels * fh))  # output rows per ~4 MB strip
    out_rows = []
    for start in range(0, h // fh, strip):
        block = pixels[start * fh:min(h // fh, start + strip) * fh]
        small, _ = _block_mean(block, fh, fw)
        out_rows.append(small)
    image = np.concatenate(out_rows, axis=0) / np.float32(255.0)
    return ScaledImage(str(path), np.ascontiguousarray(image, dtype=np.float32), factor, w, h)


def qimage_pixels(qimage: QImage, grey: bool = False) -> np.ndarray:
    """Copy a QImage into uint8 (H, W, 3) RGB, or (H, W) when ``grey``."""
    fmt = QImage.Format.Format_Grayscale8 if grey else QImage.Format.Format_RGB888
    img = qimage.convertToFormat(fmt)
    h, w = img.height(), img.width()
    channels = 1 if grey else 3
    stride = img.bytesPerLine()  # rows are padded to 4 bytes, so stride >= w * channels
    buf = np.frombuffer(img.constBits().asstring(stride * h), dtype=np.uint8)
    rows = buf.reshape(h, stride)[:, : w * channels]  # (H, W*channels), padding dropped
    return rows.reshape(h, w, channels).copy() if channels == 3 else rows.reshape(h, w).copy()


def qimage_to_array(qimage: QImage) -> np.ndarray:
    """Copy a QImage into float32 (H, W) or (H, W, 3) in [0, 1]."""
    pixels = qimage_pixels(qimage, grey=qimage.isGrayscale())
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
    whole block at the bottom/right edge are dropped. A side shorter than the factor
    (a 1x801 strip) becomes one pixel averaging all of it: the result is never empty.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
    max_side : int, at least 1

    Returns
    -------
    small : ndarray, float32, shape (max(1, H // factor), max(1, W // factor)[, 3])
        The image itself (not a copy) when no shrinking is needed.
    factor : int
        1 when the image already fits.
    """
    image = np.asarray(image, dtype=np.float32)
    h, w = image.shape[:2]
    factor = _factor(h, w, max_side)
    if factor <= 1:
        return image, 1
    small, _ = _block_mean(image, min(factor, h), min(factor, w))
    return small, factor


def _factor(h: int, w: int, max_side: int) -> int:
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, not {max_side}")
    return max(1, math.ceil(max(h, w) / max_side))


def _block_mean(image: np.ndarray, fh: int, fw: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Means of the (fh, fw) blocks of ``image`` (H, W[, 3]) as float32 (H//fh, W//fw[, 3])."""
    h, w = image.shape[:2]
    ho, wo = h // fh, w // fw
    cropped = image[: ho * fh, : wo * fw]
    # (HO*fh, WO*fw, ...) -> (HO, fh, WO, fw, ...): each block gets its own two axes
    blocks = cropped.reshape(ho, fh, wo, fw, *image.shape[2:])
    return np.ascontiguousarray(blocks.mean(axis=(1, 3), dtype=np.float32)), (ho, wo)


#: The course's grey sample picture (a cross; engine.gallery.sample_picture), listed first.
SAMPLE_PICTURE = "cross"
#: asset name -> what the lists show (msgids; shown as ``photo_title(name)``)
PHOTO_TITLES = {
    SAMPLE_PICTURE: tr_noop("Course sample (cross)"),
    "astronaut": tr_noop("Astronaut"),
    "camera": tr_noop("Cameraman"),
    "chelsea": tr_noop("Chelsea the cat"),
    "coffee": tr_noop("Coffee"),
    "coins": tr_noop("Coins"),
}


def asset_images() -> dict[str, Path]:
    """The pictures shipped in assets/images, by name (file stem): the course's sample
    picture first, then the photographs sorted by name."""
    if not _ASSET_DIR.is_dir():
        return {}
    paths = sorted(_ASSET_DIR.glob("*.png"), key=lambda p: (p.stem != SAMPLE_PICTURE, p.stem))
    return {p.stem: p for p in paths}


def photo_title(name: str) -> str:
    """What a list shows for the shipped picture ``name``, in the current language; any
    other name (a file the learner opened) as it is."""
    return tr(PHOTO_TITLES[name]) if name in PHOTO_TITLES else name


def add_photo_items(combo) -> None:
    """Add the shipped pictures to a combo box: their titles, their paths as the data."""
    for name, path in asset_images().items():
        combo.addItem(photo_title(name), str(path))


def asset_name(data) -> str | None:
    """The shipped picture a combo item stands for (its data is the asset's name or its
    path), else None."""
    for name, path in asset_images().items():
        if data in (name, str(path)):
            return name
    return None


def title_photo_items(combo) -> None:
    """Set the texts of a combo box's shipped pictures again (the current language)."""
    for index in range(combo.count()):
        name = asset_name(combo.itemData(index))
        if name is not None:
            combo.setItemText(index, photo_title(name))


def find_photo(combo, name: str) -> int:
    """The index of the item for ``name`` (a shipped picture's name or a title shown, in
    any language, or a file name), or -1."""
    for index in range(combo.count()):
        if name in (asset_name(combo.itemData(index)), combo.itemText(index)):
            return index
    wanted = name.lower()
    for key, msgid in PHOTO_TITLES.items():
        if wanted == msgid.lower():
            return find_photo(combo, key)
    return -1


class _LoadWorker(Worker):
    """Reads one large image file in its own thread (see :class:`ImageLoader`)."""

    loaded = pyqtSignal(object)  # ScaledImage
    failed = pyqtSignal(str, str)  # path, sentence

    def __init__(self, path: str, max_side: int):
        super().__init__()
        self._path, self._max_side = path, max_side

    def run(self) -> None:
        try:
            self.loaded.emit(load_scaled(self._path, self._max_side))
        except ImageFileError as err:
            self.failed.emit(self._path, str(err))
        except MemoryError:
            self.failed.emit(self._path, tr("'{name}' is too large to open here").format(
                name=Path(self._path).name))


class ImageLoader(QObject):
    """Reads image files for one lab: small ones at once, large ones in a worker thread.

    ``load(path, max_side)`` raises ImageFileError at once for a missing file; otherwise
    ``loaded(ScaledImage)`` or ``failed(path, sentence)`` arrives on the GUI thread
    (synchronously, before ``load`` returns, for a small file). While a large file is
    being read, ``busy`` is True; a newer ``load`` wins over an older one.
    """

    loaded = pyqtSignal(object)
    failed = pyqtSignal(str, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._worker: _LoadWorker | None = None

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def load(self, path, max_side: int) -> bool:
        """Start reading ``path``; True when the result has been delivered already."""
        path = str(path)
        width, height = image_size(path)
        if width * height <= LARGE_PIXELS:
            self._worker = None  # an older large file arriving later is dropped
            try:
                self.loaded.emit(load_scaled(path, max_side))
            except ImageFileError as err:
                self.failed.emit(path, str(err))
            return True
        worker = self._worker = _LoadWorker(path, max_side)
        worker.loaded.connect(self._on_loaded)
        worker.failed.connect(self._on_failed)
        start_worker(worker, "image-loader")
        return False

    def _on_loaded(self, result: ScaledImage) -> None:
        if self._worker is not None and self.sender() is self._worker:
            self._worker = None
            self.loaded.emit(result)

    def _on_failed(self, path: str, message: str) -> None:
        if self._worker is not None and self.sender() is self._worker:
            self._worker = None
            self.failed.emit(path, message)

    def stop(self) -> None:
        """Forget the file being read (the thread ends by itself; shutdown waits for it)."""
        if self._worker is not None:
            self._worker.request_stop()
        self._worker = None
