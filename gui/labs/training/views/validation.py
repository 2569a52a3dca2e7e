"""The Validation tab: the confusion matrix and the misclassified digits."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, pyqtSignal
from PyQt6.QtGui import QColor, QFont

from engine.i18n import tr
from gui.labs.training.views._common import (
    BACKGROUND,
    GREYS,
    FitsTitles,
    FollowsClasses,
    image_item,
    picture,
    short_name,
    titled_image,
)

__all__ = ["ConfusionView", "MisclassifiedView"]


class ConfusionView(FitsTitles, FollowsClasses, pg.GraphicsLayoutWidget):
    """The (K, K) confusion matrix on the validation set, counts written in the cells.

    Rows are the true classes, columns the predicted ones; the colour is the
    share of each row, so a perfect classifier is a dark diagonal. K follows the
    network (:meth:`set_classes`)."""

    def __init__(self, classes: int = 10, parent=None):
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        self.plot = self.addPlot(enableMenu=False)  # no context menu is even built
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.setMouseEnabled(False, False)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.item = image_item()
        # white (0) to dark blue (the whole row)
        self.item.setLookupTable(pg.ColorMap([0.0, 1.0], [(255, 255, 255), (8, 48, 107)])
                                 .getLookupTable(0.0, 1.0, 256))
        self.plot.addItem(self.item)
        self._font = QFont()
        self._font.setPointSize(8)
        self._texts: list[pg.TextItem] = []
        self.set_classes(classes)
        self.retranslate()

    def retranslate(self) -> None:
        self.plot.setTitle(tr("Confusion matrix (validation)"))
        self.plot.setLabel("left", tr("true class"))
        self.plot.setLabel("bottom", tr("predicted class"))
        self.fit_titles()

    def _titles(self):
        return [(self.plot.titleLabel, self.plot)]

    def _show_classes(self, classes: int) -> None:
        """A (classes, classes) matrix from now on, empty (its text items made here)."""
        for t in self._texts:
            self.plot.removeItem(t)
        # one tick per class; past 10 every other one, so the names never collide; the
        # true classes (left) are named in full, the predicted ones (bottom) shortly
        # named classes: "name k" on the left, only k below (names side by side collide)
        step = 1 if classes <= 10 else 2
        named = self.class_names != tuple(str(k) for k in range(classes))
        self.plot.getAxis("left").setTicks(
            [[(k + 0.5, f"{self.name(k)} {k}" if named else str(k))
              for k in range(0, classes, step)]])
        self.plot.getAxis("bottom").setTicks(
            [[(k + 0.5, str(k)) for k in range(0, classes, step)]])
        self.item.setImage(np.zeros((classes, classes), np.float32), autoLevels=False,
                           levels=(0, 1))
        self._texts = []
        for r in range(classes):
            for c in range(classes):
                t = pg.TextItem("", anchor=(0.5, 0.5), color="#222")
                t.setFont(self._font)
                t.setPos(c + 0.5, r + 0.5)
                self.plot.addItem(t)
                self._texts.append(t)
        self.plot.setRange(xRange=(0, classes), yRange=(0, classes), padding=0.02)

    def set_confusion(self, confusion: np.ndarray) -> None:
        """confusion : (K, K) counts, rows true, columns predicted (K follows the matrix)."""
        confusion = np.asarray(confusion)
        self.set_classes(confusion.shape[0])
        share = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
        self.item.setImage(share.astype(np.float32), autoLevels=False, levels=(0, 1))
        K = self._classes
        for r in range(K):
            for c in range(K):
                t = self._texts[r * K + c]
                n = int(confusion[r, c])
                t.setText(str(n) if n else "")
                t.setColor(QColor("white") if share[r, c] > 0.5 else QColor("#222"))


class MisclassifiedView(FitsTitles, pg.GraphicsLayoutWidget):
    """Validation images the network gets wrong, labelled "true→predicted" (class names,
    shortened), grey or colour, any size (tiles follow the images).

    Clicking one emits ``picked`` with its index in the validation set."""

    picked = pyqtSignal(int)

    def __init__(self, rows: int = 4, cols: int = 8, parent=None):
        super().__init__(parent)
        self._rows, self._cols = rows, cols
        self.label, self.view, self.item = titled_image(self, GREYS)
        self._texts = []
        for _ in range(rows * cols):
            t = pg.TextItem("", anchor=(0.5, 0.0), color="#b2182b")
            self.view.addItem(t)
            self._texts.append(t)
        self.class_names: tuple = ()
        self.digits = True  # the captions and title speak of digits (else of images)
        self._indices = np.zeros(0, dtype=np.int64)
        self._tile, self._named = (0, 0), False
        self._lay_out((28, 28))
        self.item.setImage(np.full((rows * self._cell, cols * self._pitch), np.nan, np.float32),
                           autoLevels=False, levels=(0, 1))
        self.view.autoRange(padding=0.01)
        self.scene().sigMouseClicked.connect(self._clicked)
        self._counts: tuple[int, int] | None = None  # (wrong, shown) of the last set_digits
        self._caption_px = 0  # the captions' font size in pixels (0: not set yet)
        self.view.sigTransformChanged.connect(self._fit_captions)
        self.retranslate()

    def retranslate(self) -> None:
        if self._counts is None:
            text = tr("Misclassified validation digits<br>(click one to probe it)") \
                if self.digits else tr("Misclassified validation images<br>(click one to "
                                       "probe it)")
        else:
            wrong, shown = self._counts
            text = (tr("Misclassified validation digits: {wrong}<br>(first {shown} shown, "
                       "true→predicted; click one to probe it)") if self.digits else
                    tr("Misclassified validation images: {wrong}<br>(first {shown} shown, "
                       "true→predicted; click one to probe it)")).format(
                           wrong=wrong, shown=shown)
        self.label.setText(text, color="#222")
        self.fit_titles()

    def _titles(self):
        return [(self.label, None)]

    def _lay_out(self, tile: tuple[int, int]) -> None:
        """Tiles of ``tile`` (H, W) pixels, a caption under each (placed in view units)."""
        if (tile, bool(self.class_names)) == (self._tile, self._named):
            return
        self._tile, self._named = tile, bool(self.class_names)
        h, w = tile
        self._pitch = w + 2
        # image, gap and room for the caption (two lines, true over predicted, when the
        # classes have names: side by side they would run into the next tile's)
        room = int(h * 0.9) if self.class_names else max(12, h // 2)
        self._cell = h + 2 + room
        for k, t in enumerate(self._texts):
            r, c = divmod(k, self._cols)
            t.setPos(c * self._pitch + w / 2, r * self._cell + h)

    CAPTION_PX = 12  # the captions' font size in pixels when the tiles leave room

    def _fit_captions(self, *_) -> None:
        """Captions small enough that two neighbours never run into each other: a
        "5→6" is about two font sizes wide (a name caption about three)."""
        per_pixel, _h = self.view.viewPixelSize()  # tile pixels per screen pixel
        if not per_pixel or not math.isfinite(per_pixel):
            return
        pitch = self._pitch / per_pixel  # screen pixels from one tile to the next
        size = int(max(6, min(self.CAPTION_PX, pitch / (3.2 if self.class_names else 2.4))))
        if size != self._caption_px:
            self._caption_px = size
            font = QFont()
            font.setPixelSize(size)
            for t in self._texts:
                t.setFont(font)

    def _caption(self, true: int, pred: int) -> str:
        names = self.class_names
        if not names:
            return f"{true}→{pred}"
        return f"{short_name(names[true])}\n→{short_name(names[pred])}"

    def set_digits(self, images: np.ndarray, true: np.ndarray, pred: np.ndarray,
                   indices: np.ndarray, total_wrong: int) -> None:
        """images (M, C, H, W) (C = 1 or 3) or (M, H, W) of the first M misclassified
        images (M <= rows*cols)."""
        images = np.asarray(images)
        tiles = [picture(im) for im in images[:self._rows * self._cols]]
        shape = tiles[0].shape[:2] if tiles else self._tile
        self._lay_out(shape)
        h, w = self._tile
        colour = bool(tiles) and tiles[0].ndim == 3
        canvas = np.full((self._rows * self._cell, self._cols * self._pitch)
                         + ((3,) if colour else ()), np.nan if not colour else 1.0, np.float32)
        M = len(tiles)
        for k in range(M):
            r, c = divmod(k, self._cols)
            canvas[r * self._cell:r * self._cell + h,
                   c * self._pitch:c * self._pitch + w] = tiles[k]
        self.item.setLookupTable(None if colour else GREYS)
        self.item.setImage(canvas, autoLevels=False, levels=(0, 1))
        self.view.autoRange(padding=0.01)
        for k, t in enumerate(self._texts):
            t.setText(self._caption(int(true[k]), int(pred[k])) if k < M else "")
        self._indices = np.asarray(indices[:M])
        self._counts = (int(total_wrong), M)
        self.retranslate()

    def index_at(self, x: float, y: float) -> int | None:
        """The validation index of the tile at view coordinates (x, y), if any."""
        c, r = int(x // self._pitch), int(y // self._cell)
        if not (0 <= c < self._cols and 0 <= r < self._rows) or x % self._pitch >= self._tile[1]:
            return None
        k = r * self._cols + c
        return int(self._indices[k]) if k < len(self._indices) else None

    def _clicked(self, event) -> None:
        p = self.view.mapSceneToView(event.scenePos())
        self.click_at(p)

    def click_at(self, point: QPointF) -> None:
        index = self.index_at(point.x(), point.y())
        if index is not None:
            self.picked.emit(index)
