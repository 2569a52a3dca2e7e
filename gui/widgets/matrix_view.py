"""A matrix shown as a heatmap with its numbers written in the cells.

``MatrixView`` is the building block of the step-by-step labs: the padded input
with the sliding window outlined on it, the kernel, the element-wise products,
the output filling in. Every graphics item is created once in ``__init__``;
``set_matrix``/``set_window`` only change their data, so a view can be updated
30+ times a second.

Numbers are drawn by one overlay item in device (pixel) coordinates, so the text
keeps a constant, readable size whatever the zoom, and is left out when the
cells are too small to hold it (a 28x28 digit shows only its heatmap).
Padding cells are painted in their own colour with a hatch and a dashed line
around the real input, so they never look like data.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, QVariantAnimation, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QCursor, QFont, QFontMetricsF, QPainter, QPen
from PyQt6.QtWidgets import (
    QGraphicsRectItem,
    QLabel,
    QSizePolicy,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.colormaps import diverging_lut, greys_lut, symmetric_levels

__all__ = ["MatrixView", "format_cell", "number_font_px", "WINDOW_COLOR", "PADDING_COLOR",
           "EMPTY_COLOR"]

WINDOW_COLOR = QColor(0, 170, 80)  # the sliding-window outline: visible on greys and on red/blue
PADDING_COLOR = np.array([236, 226, 198, 255], dtype=np.uint8)  # sand: clearly not a data colour
EMPTY_COLOR = np.array([226, 226, 226, 255], dtype=np.uint8)  # a cell not written yet (NaN)
_MIN_FONT_PX = 8.0  # below this the numbers are unreadable, so they are not drawn at all
_MAX_FONT_PX = 15.0


def format_cell(value: float, integers: bool) -> str:
    """The text written in one cell: whole numbers without decimals, others with two."""
    if not math.isfinite(value):
        return ""
    if integers:
        return f"{int(round(value))}"
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def number_font_px(text: str, cell_w: float, cell_h: float) -> int | None:
    """Pixel size of the cell numbers so that ``text`` (the widest) fits a cell, or None.

    None means the cells are too small for readable numbers (then only colours show).
    """
    if not text:
        return None
    font = QFont()
    font.setPixelSize(100)
    em_ratio = QFontMetricsF(font).horizontalAdvance(text) / 100.0  # width per pixel of size
    size = min(cell_h * 0.45, cell_w * 0.85 / max(em_ratio, 1e-6), _MAX_FONT_PX)
    return int(size) if size >= _MIN_FONT_PX else None


def _lut(name: str) -> np.ndarray:
    return diverging_lut(256) if name == "diverging" else greys_lut(256)


class _CellOverlay(pg.GraphicsObject):
    """Padding hatch, grid lines and the numbers, painted in pixel coordinates."""

    def __init__(self):
        super().__init__()
        self._shape = (0, 0)
        self._texts: list[list[str]] | None = None  # row-major strings, or None for no numbers
        self._dark: np.ndarray | None = None  # (H, W) bool: cell colour is dark -> white text
        self._pad_mask: np.ndarray | None = None  # (H, W) bool
        self._inner: tuple[int, int, int, int] | None = None  # real input (r0, c0, r1, c1)
        self.show_numbers = True

    def set_content(self, shape, texts, dark, pad_mask, inner):
        if shape != self._shape:
            self.prepareGeometryChange()
        self._shape, self._texts, self._dark = shape, texts, dark
        self._pad_mask, self._inner = pad_mask, inner
        self.update()

    def boundingRect(self) -> QRectF:
        h, w = self._shape
        return QRectF(0.0, 0.0, float(w), float(h))

    def paint(self, p: QPainter, *args):
        h, w = self._shape
        if h == 0 or w == 0:
            return
        t = p.transform()
        origin = t.map(QPointF(0.0, 0.0))
        corner = t.map(QPointF(float(w), float(h)))
        cell_w = abs(corner.x() - origin.x()) / w
        cell_h = abs(corner.y() - origin.y()) / h
        x0, y0 = min(origin.x(), corner.x()), min(origin.y(), corner.y())
        p.save()
        p.resetTransform()  # from here on, pixels: text and hatching keep their size
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)

        def cell_rect(r, c, nr=1, nc=1):
            return QRectF(x0 + c * cell_w, y0 + r * cell_h, nc * cell_w, nr * cell_h)

        if self._pad_mask is not None and self._pad_mask.any():
            hatch = QBrush(QColor(150, 130, 90, 150), Qt.BrushStyle.BDiagPattern)
            p.setPen(Qt.PenStyle.NoPen)
            for r, c in zip(*np.nonzero(self._pad_mask), strict=True):
                p.fillRect(cell_rect(r, c), hatch)
        if cell_w >= 7 and cell_h >= 7:
            p.setPen(QPen(QColor(120, 120, 120, 90), 1))
            for c in range(1, w):
                x = x0 + c * cell_w
                p.drawLine(QPointF(x, y0), QPointF(x, y0 + h * cell_h))
            for r in range(1, h):
                y = y0 + r * cell_h
                p.drawLine(QPointF(x0, y), QPointF(x0 + w * cell_w, y))
        if self._inner is not None:
            r0, c0, r1, c1 = self._inner
            pen = QPen(QColor(110, 85, 40), 2, Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(cell_rect(r0, c0, r1 - r0, c1 - c0))
        if self.show_numbers and self._texts is not None:
            self._paint_numbers(p, cell_rect, cell_w, cell_h)
        p.restore()

    def _paint_numbers(self, p, cell_rect, cell_w, cell_h):
        longest = max((s for row in self._texts for s in row), key=len, default="")
        size = number_font_px(longest, cell_w, cell_h)
        if size is None:
            return
        font = QFont()
        font.setPixelSize(size)
        p.setFont(font)
        light, dark_pen = QPen(QColor(255, 255, 255)), QPen(QColor(20, 20, 20))
        align = Qt.AlignmentFlag.AlignCenter
        for r, row in enumerate(self._texts):
            for c, text in enumerate(row):
                if text:
                    p.setPen(light if self._dark[r, c] else dark_pen)
                    p.drawText(cell_rect(r, c), align, text)


class _MatrixGraphicsView(pg.GraphicsView):
    """A GraphicsView whose only item is a fixed, non-interactive ViewBox."""

    def __init__(self, parent=None):
        super().__init__(parent, background=None)  # the panel's own colour around the cells
        self.view_box = pg.ViewBox(lockAspect=True, invertY=True, enableMouse=False,
                                   enableMenu=False, defaultPadding=0.0)
        self.setCentralItem(self.view_box)


class MatrixView(QWidget):
    """A titled heatmap of a 2-D matrix (or an RGB image) with numbers in the cells.

    Parameters
    ----------
    title : str
        Text above the matrix (rich text allowed).
    cmap : {"diverging", "greys"}
        Colour map for 2-D matrices: diverging for signed values (0 is white),
        greys for images.
    show_numbers : bool
        Write each value in its cell when the cell is large enough to hold it.

    Signals
    -------
    cell_clicked(row, col)
        The user clicked the cell at (row, col) of the matrix as last set.
    """

    cell_clicked = pyqtSignal(int, int)

    def __init__(self, title: str = "", cmap: str = "diverging", show_numbers: bool = True,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._cmap = cmap
        self._lut = _lut(cmap)
        self._values = np.zeros((0, 0))
        self._shape = (0, 0)
        self._window_anim: QVariantAnimation | None = None

        self.title_label = QLabel(title)
        self.title_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        self.title_label.setWordWrap(True)  # a narrow window wraps a long title, never cuts it
        self.title_label.setVisible(bool(title))
        self.graphics = _MatrixGraphicsView(self)
        self.graphics.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.graphics.setMinimumSize(40, 40)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title_label)
        layout.addWidget(self.graphics, 1)

        vb = self.graphics.view_box
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.overlay = _CellOverlay()
        self.overlay.show_numbers = show_numbers
        self.window_item = QGraphicsRectItem()
        pen = QPen(WINDOW_COLOR, 3)
        pen.setCosmetic(True)  # 3 pixels wide at any zoom
        pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
        self.window_item.setPen(pen)
        self.window_item.setBrush(QBrush(QColor(0, 170, 80, 28)))
        self.window_item.setVisible(False)
        vb.addItem(self.image_item)
        vb.addItem(self.overlay)
        vb.addItem(self.window_item)
        self.overlay.setZValue(1)
        self.window_item.setZValue(2)
        self.graphics.scene().sigMouseClicked.connect(self._on_scene_click)

    # ----------------------------------------------------------------- data
    def set_title(self, title: str) -> None:
        self.title_label.setText(title)
        self.title_label.setVisible(bool(title))

    def set_used(self, used: bool) -> None:
        """Show or hide the view; a hidden one forgets its title, which is set again when
        the view is used again (a language switch meanwhile leaves no stale text)."""
        self.setVisible(used)
        if not used:
            self.set_title("")

    def set_cmap(self, cmap: str) -> None:
        self._cmap = cmap
        self._lut = _lut(cmap)

    @property
    def values(self) -> np.ndarray:
        """The matrix as last set, (H, W) or (H, W, 3)."""
        return self._values

    def set_matrix(self, values: np.ndarray, levels: tuple[float, float] | None = None,
                   padding_mask: np.ndarray | None = None,
                   inner: tuple[int, int, int, int] | None = None) -> None:
        """Show ``values`` in place.

        Parameters
        ----------
        values : ndarray (H, W) or (H, W, 3)
            The matrix; NaN cells are drawn empty (not written yet). A (H, W, 3)
            array is an RGB image: no colour map, no numbers.
        levels : (low, high), optional
            Values mapped to the two ends of the colour map; default: symmetric
            around 0 for the diverging map, min..max for greys.
        padding_mask : ndarray (H, W) of bool, optional
            Cells that are padding (drawn sand-coloured and hatched).
        inner : (r0, c0, r1, c1), optional
            The real input inside the padding, outlined with a dashed line.
        """
        values = np.asarray(values, dtype=np.float64)
        rgb = values.ndim == 3
        shape = values.shape[:2]
        self._values = values
        lo, hi = levels if levels is not None else self._default_levels(values)
        scale = 1.0 / (hi - lo) if hi > lo else 0.0
        finite = np.isfinite(values) if not rgb else np.isfinite(values).all(axis=2)
        unit = np.clip((np.nan_to_num(values) - lo) * scale, 0.0, 1.0)
        if rgb:
            rgba = np.empty(shape + (4,), dtype=np.uint8)
            rgba[..., :3] = np.round(unit * 255.0)
            rgba[..., 3] = 255
        else:
            rgba = self._lut[np.round(unit * 255.0).astype(np.intp)]  # (H, W, 4)
        rgba[~finite] = EMPTY_COLOR
        if padding_mask is not None:
            rgba[padding_mask] = PADDING_COLOR
        self.image_item.setImage(rgba, autoLevels=False)
        self.overlay.set_content(shape, None if rgb else self._texts(values),
                                 self._is_dark(rgba), padding_mask, inner)
        if shape != self._shape:
            self._shape = shape
            self.graphics.view_box.setRange(xRange=(0, shape[1]), yRange=(0, shape[0]),
                                            padding=0.02)

    def _default_levels(self, values):
        if self._cmap == "diverging" and values.ndim == 2:
            return symmetric_levels(values)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return 0.0, 1.0
        return float(finite.min()), float(finite.max())

    @staticmethod
    def _texts(values: np.ndarray) -> list[list[str]]:
        finite = values[np.isfinite(values)]
        integers = bool(finite.size) and bool(np.all(finite == np.round(finite))) \
            and float(np.abs(finite).max()) < 1e5
        return [[format_cell(v, integers) for v in row] for row in values.tolist()]

    @staticmethod
    def _is_dark(rgba: np.ndarray) -> np.ndarray:
        luma = rgba[..., 0] * 0.299 + rgba[..., 1] * 0.587 + rgba[..., 2] * 0.114
        return luma < 120

    # --------------------------------------------------------------- window
    def set_window(self, row: int, col: int, height: int, width: int,
                   animate_ms: int = 0) -> None:
        """Outline the window whose top-left cell is (row, col), optionally sliding to it."""
        target = QRectF(float(col), float(row), float(width), float(height))
        if self._window_anim is not None:
            self._window_anim.stop()
            self._window_anim = None
        start = self.window_item.rect()
        if animate_ms > 0 and self.window_item.isVisible() and start.size() == target.size():
            anim = QVariantAnimation(self)
            anim.setStartValue(start)
            anim.setEndValue(target)
            anim.setDuration(animate_ms)
            anim.valueChanged.connect(self.window_item.setRect)
            anim.start()
            self._window_anim = anim
        else:
            self.window_item.setRect(target)
        self.window_item.setVisible(True)

    def clear_window(self) -> None:
        if self._window_anim is not None:
            self._window_anim.stop()
            self._window_anim = None
        self.window_item.setVisible(False)

    def window_rect(self) -> tuple[int, int, int, int] | None:
        """(row, col, height, width) of the outlined window as finally placed, or None."""
        if not self.window_item.isVisible():
            return None
        r = self._window_anim.endValue() if self._window_anim is not None \
            else self.window_item.rect()
        return int(round(r.top())), int(round(r.left())), int(round(r.height())), \
            int(round(r.width()))

    # ---------------------------------------------------------------- mouse
    def enable_value_tips(self) -> None:
        """Hovering a cell shows its value in a tooltip: a heat map too small for its
        numbers still gives every number (row and column counted from 1)."""
        self.graphics.scene().sigMouseMoved.connect(self._on_hover)

    def value_tip(self, row: int, col: int) -> str:
        """The tooltip of cell (row, col): ``[row, col] = value`` (from 1), "" if empty."""
        value = float(self._values[row, col]) if self._values.ndim == 2 else math.nan
        text = MatrixView._texts(np.array([[value]]))[0][0]
        return f"[{row + 1}, {col + 1}] = {text}" if text else ""

    def _on_hover(self, scene_pos) -> None:
        cell = self.cell_at(scene_pos)
        tip = self.value_tip(*cell) if cell is not None else ""
        if tip:
            QToolTip.showText(QCursor.pos(), tip, self.graphics)
        else:
            QToolTip.hideText()

    def cell_at(self, scene_pos) -> tuple[int, int] | None:
        """The (row, col) under a scene position, or None outside the matrix."""
        p = self.graphics.view_box.mapSceneToView(scene_pos)
        r, c = math.floor(p.y()), math.floor(p.x())
        h, w = self._shape
        if 0 <= r < h and 0 <= c < w:
            return r, c
        return None

    def _on_scene_click(self, event):
        if event.button() != Qt.MouseButton.LeftButton:
            return
        cell = self.cell_at(event.scenePos())
        if cell is not None:
            self.cell_clicked.emit(*cell)
