"""What the Training lab's views share: background, colour tables, image boxes, axes."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import sip
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QTextOption
from PyQt6.QtWidgets import QBoxLayout

from gui.widgets.colormaps import diverging_lut, greys_lut

__all__ = ["BACKGROUND", "DIVERGING", "GREYS", "LAYER_COLOURS", "image_item", "image_box",
           "titled_image", "outward_ticks", "FollowsClasses", "short_name", "picture",
           "set_picture", "fit_label", "FitsTitles", "flow"]

BACKGROUND = "#f4f4f4"
DIVERGING = diverging_lut()
GREYS = greys_lut()
LAYER_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf"]


def image_item() -> pg.ImageItem:
    return pg.ImageItem(axisOrder="row-major")


def image_box(view: pg.ViewBox) -> None:
    view.setAspectLocked(True)
    view.invertY(True)
    view.setMouseEnabled(False, False)
    view.setMenuEnabled(False)
    view.setDefaultPadding(0.02)


def outward_ticks(plot: pg.PlotItem) -> None:
    for side in ("left", "bottom"):
        plot.getAxis(side).setStyle(tickLength=5)


def titled_image(widget: pg.GraphicsLayoutWidget, lut=None):
    """A title over an image box in ``widget``: (label, view box, image item)."""
    widget.setBackground(BACKGROUND)
    label = widget.addLabel("", row=0, col=0, color="#222")
    view = widget.addViewBox(row=1, col=0, enableMenu=False)  # (no menu: none is built)
    image_box(view)
    item = image_item()
    if lut is not None:
        item.setLookupTable(lut)
    view.addItem(item)
    return label, view, item


def short_name(name: str, limit: int = 5) -> str:
    """A class name short enough for a tick or a tile caption ("automobile" -> "auto…")."""
    return name if len(name) <= limit else name[:limit - 1] + "…"


def picture(image: np.ndarray) -> np.ndarray:
    """An input image for display: (C, H, W) or (H, W) -> (H, W) grey or (H, W, 3) colour."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        return image
    if image.shape[0] == 3:
        return np.ascontiguousarray(np.clip(image.transpose(1, 2, 0), 0.0, 1.0))
    return image[0]  # one channel (or an unusual count: the first channel)


def set_picture(item: pg.ImageItem, image: np.ndarray) -> None:
    """Show ``picture(image)`` in ``item``: greys through its table, colour as RGB."""
    shown = picture(image)
    item.setLookupTable(GREYS if shown.ndim == 2 else None)
    item.setImage(shown, autoLevels=False, levels=(0.0, 1.0))


class FollowsClasses:
    """A view with one part per class (bars, matrix cells): :meth:`set_classes` remakes
    them, through the subclass's ``_show_classes(K)``, only when K (or the names)
    change. ``class_names`` are what the ticks and captions say (default "0", "1", ...)."""

    _classes = 0
    _names: tuple = ()

    @property
    def classes(self) -> int:
        return self._classes

    @property
    def class_names(self) -> tuple:
        return self._names

    def name(self, k: int) -> str:
        return self._names[k] if 0 <= k < len(self._names) else str(k)

    def set_classes(self, classes: int, names=None) -> None:
        classes = max(1, int(classes))
        if names is None:
            names = self._names if len(self._names) == classes else \
                tuple(str(k) for k in range(classes))
        names = tuple(str(n) for n in names)[:classes]
        names += tuple(str(k) for k in range(len(names), classes))
        if classes != self._classes or names != self._names:
            self._names = names
            self._show_classes(classes)
            self._classes = classes

    def _show_classes(self, classes: int) -> None:
        raise NotImplementedError


def flow(box: QBoxLayout, width: int, narrow: int) -> None:
    """Lay ``box`` out left to right, or top to bottom when ``width`` is below ``narrow``
    px (side by side, its parts would be too narrow to read)."""
    box.setDirection(QBoxLayout.Direction.TopToBottom if width < narrow else
                     QBoxLayout.Direction.LeftToRight)


def fit_label(label: pg.LabelItem, width: float, plot: pg.PlotItem | None = None) -> None:
    """Wrap ``label``'s text at ``width`` screen pixels when it is wider (and only then), so
    that a long title never makes its layout wider than its widget, which would cut the
    view beside it (a confusion matrix's last columns, a grid's last tiles).

    ``plot``: the PlotItem whose title ``label`` is; its title row grows to the lines.
    """
    item = label.item
    item.setTextWidth(-1)
    if width > 20 and item.boundingRect().width() > width:
        item.setTextWidth(width)
        option = QTextOption(Qt.AlignmentFlag.AlignHCenter)
        # between words, or inside a word longer than the width (it must not stick out)
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        item.document().setDefaultTextOption(option)
    label.updateMin()
    label.resizeEvent(None)
    if plot is not None and label.maximumHeight() > 0:  # a hidden title has none
        height = max(30.0, label.itemRect().height())
        label.setMaximumHeight(height)
        plot.layout.setRowFixedHeight(0, height)


class FitsTitles:
    """A pyqtgraph widget whose titles wrap at its width (:func:`fit_label`), now and on
    every resize. Subclasses list them in ``_titles()`` and call :meth:`fit_titles` after
    setting a text."""

    def _titles(self) -> list[tuple[pg.LabelItem, pg.PlotItem | None]]:
        """(label, the PlotItem it is the title of, or None) of every title."""
        return []

    def fit_titles(self) -> None:
        """Wrap the titles at the widget's width now and lay the items out again (a
        narrower title lowers the layout's minimum width)."""
        self._fit_titles()
        pg.GraphicsView.resizeEvent(self, None)

    def _fit_titles(self) -> None:
        for label, plot in self._titles():
            # the layout's margins, and a plot title sits right of the left axis
            margin = 24 + (plot.getAxis("left").width() if plot is not None else 0)
            fit_label(label, self.width() - margin, plot)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event is not None:  # pyqtgraph calls it with None while it is being built
            self._fit_titles()  # before the items get their new geometry
        super().resizeEvent(event)
        if event is not None and self._clamped():
            # laid out for the first time (a tab built when first shown): the items kept
            # the minimum width their layout had before this size; it is smaller once the
            # layout has taken the new titles in, at the next turn of the event loop
            QTimer.singleShot(0, self._size_again)

    def _clamped(self) -> bool:
        central = getattr(self, "centralWidget", None)
        return central is not None and central.geometry().width() > self.width() + 0.5

    def _size_again(self) -> None:
        if not sip.isdeleted(self) and self._clamped():
            pg.GraphicsView.resizeEvent(self, None)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self.fit_titles()  # laid out while hidden (another tab): at its size now
