"""What the Training lab's views share: background, colour tables, image boxes, axes."""

from __future__ import annotations

import pyqtgraph as pg

from gui.widgets.colormaps import diverging_lut, greys_lut

__all__ = ["BACKGROUND", "DIVERGING", "GREYS", "LAYER_COLOURS", "image_item", "image_box",
           "outward_ticks"]

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
