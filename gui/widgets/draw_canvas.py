"""A canvas to draw a digit with the mouse, and the MNIST-style preprocessing.

MNIST digits were prepared in a particular way (LeCun et al.): the digit's
bounding box is scaled, keeping its aspect ratio, to fit a 20x20 box
(anti-aliased, so edges become grey), and that box is placed in a 28x28 image
so that the centre of mass of the ink sits at the centre. A network trained on
MNIST expects exactly this, so :func:`mnist_preprocess` repeats it for a drawing.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPointF, QRect, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QImage, QPainter, QPen
from PyQt6.QtWidgets import QSizePolicy, QWidget

from engine.i18n import tr

__all__ = ["DrawCanvas", "mnist_preprocess", "resize_area"]

MNIST_SIZE = 28
MNIST_BOX = 20


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix: how much of each input cell falls in each output cell.

    Rows sum to 1, so multiplying by it averages the covered input cells (area
    resampling, which anti-aliases when shrinking).
    """
    edges_in = np.arange(n_in + 1, dtype=np.float64)
    edges_out = np.linspace(0.0, n_in, n_out + 1)
    lo = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
    hi = np.minimum(edges_out[1:, None], edges_in[None, 1:])
    overlap = np.clip(hi - lo, 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def resize_area(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Resize an (H, W) image to (out_h, out_w) by area averaging.

    Parameters
    ----------
    image : (H, W) array
    out_h, out_w : int, at least 1

    Returns
    -------
    (out_h, out_w) float64 array
    """
    image = np.asarray(image, dtype=np.float64)
    rows = _area_weights(image.shape[0], out_h)  # (out_h, H)
    cols = _area_weights(image.shape[1], out_w)  # (out_w, W)
    return rows @ image @ cols.T


def _centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    total = image.sum()
    rows = np.arange(image.shape[0])
    cols = np.arange(image.shape[1])
    return (float((image.sum(axis=1) * rows).sum() / total),
            float((image.sum(axis=0) * cols).sum() / total))


def mnist_preprocess(drawing: np.ndarray, threshold: float = 0.05) -> np.ndarray:
    """Turn a drawing into a network input prepared the way MNIST digits are.

    The bounding box of the ink (pixels above ``threshold``) is scaled, keeping
    its aspect ratio, so that its longer side is 20 pixels; it is then placed
    in a 28x28 image with its centre of mass at pixel (14, 14), where MNIST
    puts it (rounded to whole pixels, shifted back inside the image if the box would leave it).

    Parameters
    ----------
    drawing : (H, W) array in [0, 1], ink bright on a dark background
    threshold : float
        Pixels at or below this count as background for the bounding box.

    Returns
    -------
    (1, 28, 28) float32 array in [0, 1]; all zeros for an empty drawing.
    """
    drawing = np.clip(np.asarray(drawing, dtype=np.float64), 0.0, 1.0)
    out = np.zeros((1, MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    ink_rows = np.flatnonzero((drawing > threshold).any(axis=1))
    ink_cols = np.flatnonzero((drawing > threshold).any(axis=0))
    if ink_rows.size == 0:
        return out
    box = drawing[ink_rows[0]:ink_rows[-1] + 1, ink_cols[0]:ink_cols[-1] + 1]
    scale = MNIST_BOX / max(box.shape)
    box_h = max(1, round(box.shape[0] * scale))
    box_w = max(1, round(box.shape[1] * scale))
    small = np.clip(resize_area(box, box_h, box_w), 0.0, 1.0)  # (box_h, box_w)
    if small.sum() <= 0:
        return out
    com_r, com_c = _centre_of_mass(small)
    centre = MNIST_SIZE / 2.0  # MNIST digits have their centre of mass at pixel (14, 14)
    top = int(np.clip(round(centre - com_r), 0, MNIST_SIZE - box_h))
    left = int(np.clip(round(centre - com_c), 0, MNIST_SIZE - box_w))
    out[0, top:top + box_h, left:left + box_w] = small
    return out


class DrawCanvas(QWidget):
    """Draw with the left mouse button; right click or :meth:`clear` erases.

    The drawing is kept in a square greyscale QImage of ``resolution`` pixels
    (white ink on black, like MNIST), shown scaled to the widget.

    Signals
    -------
    changed : emitted after every stroke segment and on clear.
    stroke_finished : emitted when the mouse button is released.
    """

    changed = pyqtSignal()
    stroke_finished = pyqtSignal()

    def __init__(self, resolution: int = 280, pen_width: float = 22.0, parent=None):
        super().__init__(parent)
        self._image = QImage(resolution, resolution, QImage.Format.Format_Grayscale8)
        self._image.fill(0)
        self._pen_width = pen_width
        self._last: QPointF | None = None
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.retranslate()

    def retranslate(self) -> None:
        self.setToolTip(tr("Draw a digit with the left mouse button; right click clears"))
        self.update()  # the "draw a digit here" hint is painted in the current language

    # -- data ------------------------------------------------------------------
    @property
    def resolution(self) -> int:
        return self._image.width()

    def drawing(self) -> np.ndarray:
        """The drawing as an (R, R) float32 array in [0, 1] (R = resolution)."""
        img = self._image
        ptr = img.constBits()
        ptr.setsize(img.sizeInBytes())
        # rows are padded to 4-byte boundaries: reshape by bytesPerLine, then crop
        raw = np.frombuffer(ptr, dtype=np.uint8).reshape(img.height(), img.bytesPerLine())
        return raw[:, :img.width()].astype(np.float32) / np.float32(255.0)

    def network_input(self) -> np.ndarray:
        """The drawing prepared like an MNIST digit: (1, 28, 28) float32 in [0, 1]."""
        return mnist_preprocess(self.drawing())

    def is_empty(self) -> bool:
        return not bool(self.drawing().any())

    def set_drawing(self, drawing: np.ndarray) -> None:
        """Put a drawing back: (R, R) values in [0, 1] (:meth:`drawing`'s; R = resolution).

        Raises ValueError for another shape."""
        drawing = np.asarray(drawing, dtype=np.float32)
        r = self.resolution
        if drawing.shape != (r, r):
            raise ValueError(f"a drawing is {r}×{r}, not {drawing.shape}")
        ptr = self._image.bits()
        ptr.setsize(self._image.sizeInBytes())
        raw = np.frombuffer(ptr, dtype=np.uint8).reshape(r, self._image.bytesPerLine())
        raw[:, :r] = np.round(np.clip(drawing, 0.0, 1.0) * 255.0).astype(np.uint8)
        self.update()
        self.changed.emit()

    def clear(self) -> None:
        self._image.fill(0)
        self.update()
        self.changed.emit()

    def draw_stroke(self, points) -> None:
        """Draw a polyline through ``points`` given in image pixels (for tests and demos)."""
        points = [QPointF(float(x), float(y)) for x, y in points]
        for a, b in zip(points[:-1], points[1:], strict=False):
            self._segment(a, b)
        if len(points) == 1:
            self._segment(points[0], points[0])
        self.changed.emit()

    # -- painting --------------------------------------------------------------
    def _segment(self, a: QPointF, b: QPointF) -> None:
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(QColor(255, 255, 255), self._pen_width, Qt.PenStyle.SolidLine,
                   Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.drawLine(a, b)
        painter.end()
        self.update()

    def _to_image(self, pos: QPointF) -> QPointF:
        side = self._side()
        ox, oy = (self.width() - side) / 2, (self.height() - side) / 2
        k = self.resolution / max(side, 1)
        return QPointF((pos.x() - ox) * k, (pos.y() - oy) * k)

    def _side(self) -> int:
        return min(self.width(), self.height())

    def paintEvent(self, event):  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(60, 60, 60))
        side = self._side()
        target = QRect(0, 0, side, side)
        target.moveCenter(self.rect().center())
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(target, self._image)
        if self.is_empty():
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(target, Qt.AlignmentFlag.AlignCenter, tr("draw a digit here"))
        painter.end()

    def mousePressEvent(self, event):  # noqa: N802
        if event.button() == Qt.MouseButton.RightButton:
            self.clear()
            return
        if event.button() == Qt.MouseButton.LeftButton:
            self._last = self._to_image(event.position())
            self._segment(self._last, self._last)
            self.changed.emit()

    def mouseMoveEvent(self, event):  # noqa: N802
        if self._last is None:
            return
        point = self._to_image(event.position())
        self._segment(self._last, point)
        self._last = point
        self.changed.emit()

    def mouseReleaseEvent(self, event):  # noqa: N802
        if self._last is not None:
            self._last = None
            self.stroke_finished.emit()
