"""An image panel: a title, the picture, an optional colour bar and a caption.

Everything (labels, the pyqtgraph view, the ImageItem, the colour bar) is built once
in ``__init__``; :meth:`ImagePanel.set_image` only pushes new pixels and levels into
the existing items, so updating a panel 20 times a second allocates no widgets.

Modes
-----
``"greys"``      unsigned data (a photo, ReLU output): black = low, white = high.
``"diverging"``  signed data (a convolution result, tanh, deltas): blue < 0 < red,
                 levels symmetric around 0 so that white is exactly zero.
``"rgb"``        an (H, W, 3) colour photo in [0, 1].
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QSize, Qt
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from engine.i18n import tr
from gui.widgets.colormaps import diverging, greys, symmetric_levels
from gui.widgets.form_rows import note_label

__all__ = ["ImagePanel"]

_MODES = ("greys", "diverging", "rgb")


class _Graphics(pg.GraphicsLayoutWidget):
    """The picture's view, asking for the same room whatever it shows: a graphics view's
    size hint is its scene's size, which follows what was shown before (in the Kernel
    gallery's grid the row that had pictures kept most of the height, the other row the
    minimum, while the first start's kernels were being compiled)."""

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(240, 240)


class ImagePanel(QWidget):
    """Titled image view with an optional colour bar, updated in place.

    Its title and caption are given (translated) by the lab that owns it; its own text,
    the value under the pointer, is written in the current language as it changes.

    Parameters
    ----------
    title : str
        Shown in bold above the picture.
    colorbar : bool
        Add a colour bar to the right of the picture (for results whose values matter).
    parent : QWidget, optional
    """

    def __init__(self, title: str = "", colorbar: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self._mode = "greys"
        self._cmaps = {"greys": greys(), "diverging": diverging()}

        self.title_label = QLabel(title)
        self.title_label.setStyleSheet("font-weight: bold;")
        self.title_label.setWordWrap(True)
        # the value under the mouse pointer: "row 12, column 40: −0.83"
        self.hover_label = QLabel("")
        self.hover_label.setStyleSheet("color: #333;")
        self.hover_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.caption_label = note_label()
        # word-wrapped labels get too little height in a layout: reserve two lines
        lines = self.caption_label.fontMetrics().lineSpacing()
        self.caption_label.setMinimumHeight(2 * lines + 4)
        self.caption_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)

        self.graphics = _Graphics()
        self.graphics.setBackground("w")
        self.graphics.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.graphics.setMinimumSize(110, 90)  # four in a row fit a 1024-pixel window
        self.view = self.graphics.addViewBox(row=0, col=0, lockAspect=True, invertY=True,
                                             enableMenu=False)
        self.view.setMouseEnabled(x=True, y=True)  # zoom/pan to inspect single pixels
        # autoDownsample averages pixels when the view is smaller than the image,
        # so thin edges in a large photo do not flicker in and out (aliasing)
        self.image_item = pg.ImageItem(axisOrder="row-major", autoDownsample=True)
        self.view.addItem(self.image_item)

        self.colorbar: pg.ColorBarItem | None = None
        if colorbar:
            self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=self._cmaps["greys"],
                                            interactive=False, width=14)
            # linking makes the bar push its colour map and levels into the image
            self.colorbar.setImageItem(self.image_item)
            self.graphics.addItem(self.colorbar, row=0, col=1)
        else:
            self.image_item.setColorMap(self._cmaps["greys"])

        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.title_label, stretch=1)
        header.addWidget(self.hover_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.graphics, stretch=1)
        layout.addWidget(self.caption_label)

    # ------------------------------------------------------------------ updates
    def set_title(self, text: str) -> None:
        self.title_label.setText(text)

    def set_caption(self, text: str) -> None:
        self.caption_label.setText(text)

    def set_image(self, image: np.ndarray, mode: str = "greys",
                  levels: tuple[float, float] | None = None) -> None:
        """Show ``image`` with the given colour mode and levels.

        Parameters
        ----------
        image : ndarray, shape (H, W), or (H, W, 3) with ``mode="rgb"``
        mode : {"greys", "diverging", "rgb"}
        levels : (low, high), optional
            Values mapped to the ends of the colour map. Defaults: symmetric
            ``(-max|x|, max|x|)`` for "diverging", ``(min, max)`` for "greys",
            ``(0, 1)`` for "rgb".
        """
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, not {mode!r}")
        image = np.asarray(image)
        if mode == "rgb" and not (image.ndim == 3 and image.shape[2] == 3):
            mode = "greys"  # a grey photo in an "original" panel
        if levels is None:
            levels = self._default_levels(image, mode)
        lo, hi = float(levels[0]), float(levels[1])
        if not hi > lo:  # a constant image: widen so Qt does not divide by zero
            lo, hi = lo - 0.5, hi + 0.5
        if mode != self._mode:
            self._apply_mode(mode)
        self.image_item.setImage(image, autoLevels=False, levels=(lo, hi))
        if self.colorbar is not None and mode != "rgb":
            self.colorbar.setLevels((lo, hi))

    def clear(self) -> None:
        self.image_item.clear()

    def image(self) -> np.ndarray | None:
        """The array currently shown (as given to :meth:`set_image`)."""
        return self.image_item.image

    @property
    def mode(self) -> str:
        return self._mode

    def value_at(self, row: int, col: int) -> str:
        """Text for the pixel (row, col) of the image shown, or "" outside it."""
        image = self.image_item.image
        if image is None or not (0 <= row < image.shape[0] and 0 <= col < image.shape[1]):
            return ""
        value = image[row, col]
        if np.ndim(value) == 0:
            shown = f"{float(value):.4g}".replace("-", "−")
        else:  # an RGB pixel
            shown = "(" + ", ".join(f"{float(v):.3g}" for v in value) + ")"
        return tr("row {row}, column {col}: {value}").format(row=row, col=col, value=shown)

    def _on_mouse_moved(self, scene_pos) -> None:
        if not self.view.sceneBoundingRect().contains(scene_pos):
            self.hover_label.setText("")
            return
        point = self.view.mapSceneToView(scene_pos)
        # pixel (row, col) covers x in [col, col+1), y in [row, row+1) (row-major item)
        self.hover_label.setText(self.value_at(int(np.floor(point.y())),
                                               int(np.floor(point.x()))))

    # ----------------------------------------------------------------- helpers
    def _apply_mode(self, mode: str) -> None:
        self._mode = mode
        if mode == "rgb":
            self.image_item.setLookupTable(None)
            if self.colorbar is not None:
                self.colorbar.hide()
            return
        if self.colorbar is not None:
            self.colorbar.show()
            self.colorbar.setColorMap(self._cmaps[mode])
        else:
            self.image_item.setColorMap(self._cmaps[mode])

    @staticmethod
    def _default_levels(image: np.ndarray, mode: str) -> tuple[float, float]:
        if mode == "rgb":
            return 0.0, 1.0
        if mode == "diverging":
            return symmetric_levels(image)
        finite = image[np.isfinite(image)]
        if finite.size == 0:
            return 0.0, 1.0
        return float(finite.min()), float(finite.max())
