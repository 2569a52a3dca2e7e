"""What the Training lab's views share: background, colour tables, image boxes, axes."""

from __future__ import annotations

import pyqtgraph as pg

from gui.widgets.colormaps import diverging_lut, greys_lut

__all__ = ["BACKGROUND", "DIVERGING", "GREYS", "LAYER_COLOURS", "image_item", "image_box",
           "titled_image", "outward_ticks", "FollowsClasses"]

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
    view = widget.addViewBox(row=1, col=0)
    image_box(view)
    item = image_item()
    if lut is not None:
        item.setLookupTable(lut)
    view.addItem(item)
    return label, view, item


class FollowsClasses:
    """A view with one part per class (bars, matrix cells): :meth:`set_classes` remakes
    them, through the subclass's ``_show_classes(K)``, only when K changes."""

    _classes = 0

    @property
    def classes(self) -> int:
        return self._classes

    def set_classes(self, classes: int) -> None:
        classes = max(1, int(classes))
        if classes != self._classes:
            self._show_classes(classes)
            self._classes = classes

    def _show_classes(self, classes: int) -> None:
        raise NotImplementedError
