"""The live views of the Training lab.

Every view creates its plot and image items once (``build`` when the network
changes) and afterwards only updates them in place (``setData``,
``setImage(..., autoLevels=False)``, ``setText``), so a frame costs little on
the GUI thread. Images use ``axisOrder="row-major"`` (row, column) like numpy.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QPainterPath

from engine.colour import colour_map_into
from gui.widgets.colormaps import diverging_lut, greys_lut

__all__ = ["mosaic", "vector_grid", "Series", "thin", "CurvesView", "GradNormView",
           "KernelMosaicView", "LayerMapsView", "ConfusionView", "MisclassifiedView",
           "ProbabilityView", "ImageView"]

BACKGROUND = "#f4f4f4"
_DIVERGING = diverging_lut()
_GREYS = greys_lut()
LAYER_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf"]


# -- array layout --------------------------------------------------------------
def grid_shape(count: int, tile_h: int = 1, tile_w: int = 1) -> tuple[int, int]:
    """(rows, cols) for ``count`` tiles, making the mosaic roughly square."""
    cols = max(1, math.ceil(math.sqrt(count * tile_h / max(tile_w, 1))))
    cols = min(cols, count) if count else 1
    return math.ceil(count / cols) if count else 1, cols


def mosaic(maps: np.ndarray, cols: int | None = None, gap: int = 1, fill=np.nan) -> np.ndarray:
    """Tile maps side by side, ``fill`` in the gaps (NaN: drawn transparent).

    Parameters
    ----------
    maps : (C, H, W) array
    cols : tiles per row; None makes the mosaic roughly square

    Returns
    -------
    (rows*H + (rows-1)*gap, cols*W + (cols-1)*gap) array of the dtype of ``maps``
    """
    C, H, W = maps.shape
    rows, cols = grid_shape(C, H, W) if cols is None else (math.ceil(C / cols), cols)
    # every tile with its gap below and to the right, gap-filled: no Python loop
    tiles = np.full((rows * cols, H + gap, W + gap), fill, dtype=maps.dtype)
    tiles[:C, :H, :W] = maps
    # (rows, cols, H+gap, W+gap) -> (rows, H+gap, cols, W+gap) -> 2-D, then drop the last gaps
    grid = tiles.reshape(rows, cols, H + gap, W + gap).transpose(0, 2, 1, 3)
    grid = grid.reshape(rows * (H + gap), cols * (W + gap))
    return grid[:rows * (H + gap) - gap, :cols * (W + gap) - gap]


def vector_grid(v: np.ndarray, cols: int = 16, fill=np.nan) -> np.ndarray:
    """A (D,) vector as a grid of cells, row by row, ``fill`` after the end.

    Returns (ceil(D/cols), min(D, cols)), the dtype of ``v``.
    """
    D = v.shape[0]
    cols = max(1, min(cols, D))
    out = np.full(math.ceil(D / cols) * cols, fill, dtype=v.dtype)
    out[:D] = v
    return out.reshape(-1, cols)  # (rows, cols)


def _layout(a: np.ndarray, fill) -> np.ndarray:
    if a.ndim == 3:
        return mosaic(a, fill=fill)
    if a.ndim == 1:
        return vector_grid(a, cols=10 if a.shape[0] <= 10 else 16, fill=fill)
    return a.reshape(a.shape[0], -1)


def as_image(a: np.ndarray) -> np.ndarray:
    """A layer output (C,H,W) or (D,) as one 2-D float32 image (mosaic or grid)."""
    return _layout(np.asarray(a, dtype=np.float32), np.nan)


def index_image(shape: tuple[int, ...]) -> np.ndarray:
    """Where :func:`as_image` puts each value of an array of ``shape``: the same
    layout holding flat (C-order) indices, -1 in the gaps. (h, w) int64."""
    return _layout(np.arange(math.prod(shape), dtype=np.int64).reshape(shape), -1)


def _image_item() -> pg.ImageItem:
    return pg.ImageItem(axisOrder="row-major")


def _image_box(view: pg.ViewBox) -> None:
    view.setAspectLocked(True)
    view.invertY(True)
    view.setMouseEnabled(False, False)
    view.setMenuEnabled(False)
    view.setDefaultPadding(0.02)


# -- growing data for curves ----------------------------------------------------
class Series:
    """Append-only (x, y) storage that grows by doubling; ``view()`` is no copy."""

    def __init__(self, capacity: int = 1024):
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def clear(self) -> None:
        self._n = 0

    def extend(self, x, y) -> None:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        need = self._n + x.shape[0]
        if need > self._x.shape[0]:
            size = max(need, 2 * self._x.shape[0])
            self._x = np.resize(self._x, size)
            self._y = np.resize(self._y, size)
        self._x[self._n:need] = x
        self._y[self._n:need] = y
        self._n = need

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        return self._x[:self._n], self._y[:self._n]


def ema(values: np.ndarray, start: float | None, alpha: float) -> tuple[np.ndarray, float]:
    """Exponential moving average of ``values`` continuing from ``start``."""
    out = np.empty_like(values, dtype=np.float64)
    acc = start
    for k, v in enumerate(values):
        acc = v if acc is None else (1.0 - alpha) * acc + alpha * v
        out[k] = acc
    return out, acc


# -- curves ------------------------------------------------------------------------
MAX_CURVE_POINTS = 1000  # about one drawn point per pixel of a wide plot
TAIL_FRACTION = 25  # a growing curve's live tail spans up to 1/25 of the x axis


def thin(x: np.ndarray, y: np.ndarray, max_points: int = MAX_CURVE_POINTS,
         envelope: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``max_points`` of a long curve, for drawing.

    Parameters
    ----------
    x, y : (n,) arrays
    envelope : False keeps every k-th point and the last one (enough for a smooth
        curve); True draws each bin of k points as its minimum then its maximum at
        the bin's first x, so a noisy curve keeps its band (pyqtgraph's "peak"
        downsampling, done here once per redraw instead of in every paint).

    Returns
    -------
    (m,) x and y with m <= max_points + k (the unbinned tail is kept as it is)
    """
    n = x.shape[0]
    if n <= max_points:
        return x, y
    if not envelope:
        k = -(-n // max_points)
        keep = np.arange(0, n, k)
        if keep[-1] != n - 1:
            keep = np.append(keep, n - 1)  # the newest point is always drawn
        return x[keep], y[keep]
    k = -(-2 * n // max_points)  # two drawn points per bin
    m = (n - 1) // k * k  # whole bins; the tail (at least the newest point) stays as it is
    bins = y[:m].reshape(-1, k)  # (n // k, k)
    xs = np.repeat(x[:m:k], 2)
    ys = np.stack([bins.min(axis=1), bins.max(axis=1)], axis=1).reshape(-1)  # min, max, ...
    return np.concatenate([xs, x[m:]]), np.concatenate([ys, y[m:]])


def _curve(plot: pg.PlotItem, pen, name: str | None = None) -> pg.PlotCurveItem:
    """A bare curve item: 4-5x cheaper per ``setData`` than ``PlotItem.plot``'s
    PlotDataItem wrapper (the thinning is done by :func:`thin` instead)."""
    item = pg.PlotCurveItem(pen=pen, name=name)
    plot.addItem(item)
    return item


class LiveTail(pg.GraphicsObject):
    """The short, changing end of a :class:`GrowingCurve`: one path, drawn with one pen.

    Its bounding box is computed once per ``setData`` (and the pixel padding once
    per view change); ``PlotCurveItem`` recomputes data bounds and pixel sizes in
    Python whenever Qt asks for the box, some twenty times a frame, which made up
    most of a frame's painting cost on the Curves tab.
    """

    PAD = 2  # pixels around the data for the pen

    def __init__(self, pen):
        super().__init__()
        self._pen = pen
        self._x = self._y = np.zeros(0)
        self._path = QPainterPath()
        self._data_rect = QRectF()
        self._rect: QRectF | None = None  # padded; None: to be computed

    def setData(self, x, y) -> None:  # noqa: N802 - pyqtgraph's name
        self.prepareGeometryChange()
        self._x, self._y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if self._x.size:
            self._path = pg.arrayToQPath(self._x, self._y, connect="finite")
            self._data_rect = self._path.boundingRect()
        else:
            self._path, self._data_rect = QPainterPath(), QRectF()
        self._rect = None
        self.update()

    def getData(self) -> tuple[np.ndarray, np.ndarray]:  # noqa: N802
        return self._x, self._y

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):  # noqa: N802
        values = self._x if ax == 0 else self._y
        finite = values[np.isfinite(values)]
        return (float(finite.min()), float(finite.max())) if finite.size else (None, None)

    def viewTransformChanged(self) -> None:  # noqa: N802
        super().viewTransformChanged()
        self.prepareGeometryChange()
        self._rect = None

    def boundingRect(self) -> QRectF:  # noqa: N802
        if self._rect is None:
            if not self._x.size:
                return QRectF()
            pw, ph = self.pixelWidth(), self.pixelHeight()  # data units per pixel
            self._rect = self._data_rect.adjusted(-self.PAD * pw, -self.PAD * ph,
                                                  self.PAD * pw, self.PAD * ph)
        return self._rect

    def paint(self, painter, *args) -> None:
        painter.setPen(self._pen)
        painter.drawPath(self._path)


class GrowingCurve:
    """A curve that only grows at its end, drawn as two items: a body that is
    redrawn rarely (and painted from a pixmap in between) and a short live tail.

    A frame then repaints only the small box around the newest points instead of
    the whole plot. The body takes over the tail whenever the tail spans more
    than ``tail_span`` along x (its own :func:`thin` keeps it at ~1 point per pixel).
    """

    def __init__(self, plot: pg.PlotItem, pen, name: str | None = None,
                 envelope: bool = False, tail_span: float = 4.0, capacity: int = 1024):
        self.series = Series(capacity)
        self.body = _curve(plot, pen, name)
        self.body.setCacheMode(self.body.CacheMode.DeviceCoordinateCache)
        self.tail = LiveTail(pen)
        plot.addItem(self.tail)
        self.envelope = envelope
        self.tail_span = tail_span
        self._start = 0  # the tail draws points [_start, n); the body [0, _start]

    def extend(self, x, y) -> None:
        self.series.extend(x, y)

    def clear(self) -> None:
        self.series.clear()
        self._start = 0
        self.redraw(full=True)

    def getData(self) -> tuple[np.ndarray, np.ndarray]:  # noqa: N802 - like pyqtgraph's items
        """Every point of the curve (drawn thinned)."""
        return self.series.view()

    def redraw(self, full: bool = False) -> None:
        x, y = self.series.view()
        n = x.shape[0]
        if full or self._start >= n or x[-1] - x[self._start] > self.tail_span:
            self._start = max(n - 1, 0)  # the body takes every point; the tail restarts
            self.body.setData(*thin(x[:self._start + 1], y[:self._start + 1],
                                    envelope=self.envelope))
        self.tail.setData(x[self._start:], y[self._start:])


class CurvesView(pg.GraphicsLayoutWidget):
    """Loss and accuracy: training per iteration (raw, faint, and smoothed) and
    validation per epoch (dots)."""

    SMOOTHING = 0.05

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        self.loss_plot = self.addPlot(row=0, col=0, title="Loss (cross-entropy)")
        self.acc_plot = self.addPlot(row=1, col=0, title="Accuracy")
        self.acc_plot.setXLink(self.loss_plot)
        self.acc_plot.setYRange(0, 1, padding=0.02)
        self.acc_plot.setLabel("bottom", "iteration")
        self._curves: dict[tuple[str, str], GrowingCurve] = {}
        self._val: dict[str, Series] = {}
        self._val_items: dict[str, pg.PlotDataItem] = {}
        self._ema = {"loss": None, "acc": None}
        # Cost per frame matters (every millisecond the GUI thread computes is, on
        # two cores, about a millisecond the training threads wait): no grid (its
        # lines are re-rendered on every repaint), 1-pixel pens for the long curves
        # (thick lines are several times slower to rasterise), bare curve items with
        # at most ~1 drawn point per pixel, long curves as a cached body and a short
        # live tail (GrowingCurve), ticks outside the plot area (inward ticks put the
        # axes inside the region a new point repaints), validation dots cached as
        # pixmaps (they change once an epoch), and x and y ranges that change only
        # when the planned run does or a loss goes above the top (y auto-range moved
        # the axis, and so repainted the whole plot, on nearly every frame).
        self.loss_plot.enableAutoRange(x=False, y=False)
        self._loss_top = 0.0
        self._grow_loss_range(np.array([1.0]))
        self._planned = 100
        for key, plot in (("loss", self.loss_plot), ("acc", self.acc_plot)):
            _outward_ticks(plot)
            # loss falls and accuracy rises: keep each legend where its curves are not
            plot.addLegend(offset=(-10, 10) if key == "loss" else (-10, -10))
            self._curves[key, "raw"] = GrowingCurve(plot, pg.mkPen((31, 119, 180, 70)),
                                                    envelope=True)
            self._curves[key, "smooth"] = GrowingCurve(plot, pg.mkPen((8, 48, 107)),
                                                       "training (smoothed)")
            val = plot.plot(pen=pg.mkPen((214, 39, 40), width=2), symbol="o", symbolSize=7,
                            symbolBrush=(214, 39, 40), name="validation")
            for part in (val.curve, val.scatter):
                part.setCacheMode(part.CacheMode.DeviceCoordinateCache)
            self._val_items[key] = val
            self._val[key] = Series(64)
        self.set_planned_iterations(self._planned)

    def set_planned_iterations(self, total: int) -> None:
        """The x axis spans the planned run (it grows if training goes further)."""
        self._planned = max(1, int(total))
        self.loss_plot.setXRange(0, self._planned, padding=0.02)
        for curve in self._curves.values():
            curve.tail_span = self._planned / TAIL_FRACTION

    def clear_data(self) -> None:
        for curve in self._curves.values():
            curve.clear()
        for series in self._val.values():
            series.clear()
        self._ema = {"loss": None, "acc": None}
        self._loss_top = 0.0
        self._grow_loss_range(np.array([1.0]))
        self._redraw()

    def _grow_loss_range(self, losses: np.ndarray) -> None:
        """Loss axis from 0 to a little above the largest finite loss so far."""
        finite = losses[np.isfinite(losses)]
        if finite.size and finite.max() > self._loss_top:
            self._loss_top = float(finite.max())
            self.loss_plot.setYRange(0, 1.05 * self._loss_top, padding=0.02)

    def add_steps(self, iterations, losses, accuracies, redraw: bool = True) -> None:
        """Append steps; ``redraw=False`` (the tab is hidden) only stores them, and
        :meth:`refresh` draws everything when the curves are shown again."""
        if len(iterations) == 0:
            return
        for key, values in (("loss", losses), ("acc", accuracies)):
            values = np.asarray(values, dtype=np.float64)
            smooth, self._ema[key] = ema(values, self._ema[key], self.SMOOTHING)
            self._curves[key, "raw"].extend(iterations, values)
            self._curves[key, "smooth"].extend(iterations, smooth)
            if key == "loss":
                self._grow_loss_range(values)
        if iterations[-1] > self._planned:  # past the plan: extend by a quarter at a time
            self.set_planned_iterations(int(iterations[-1] * 1.25))
        if redraw:
            for curve in self._curves.values():
                curve.redraw()

    def add_validation(self, iteration: int, loss: float, accuracy: float) -> None:
        self._val["loss"].extend([iteration], [loss])
        self._val["acc"].extend([iteration], [accuracy])
        self._grow_loss_range(np.array([loss], dtype=np.float64))
        for key, item in self._val_items.items():
            item.setData(*self._val[key].view())

    def refresh(self) -> None:
        """Redraw every curve (after a pause, so that nothing lags behind)."""
        self._redraw()

    def curve(self, key: str, kind: str) -> GrowingCurve:
        """key "loss" or "acc"; kind "raw" (every batch) or "smooth"."""
        return self._curves[key, kind]

    def validation_accuracies(self) -> np.ndarray:
        return self._val["acc"].view()[1].copy()

    def _redraw(self) -> None:
        for curve in self._curves.values():
            curve.redraw(full=True)
        for key, item in self._val_items.items():
            item.setData(*self._val[key].view())


def _outward_ticks(plot: pg.PlotItem) -> None:
    for side in ("left", "bottom"):
        plot.getAxis(side).setStyle(tickLength=5)


class GradNormView(pg.PlotWidget):
    """Per-layer gradient norms over the iterations, on a log scale, so that
    vanishing (tiny, falling) or exploding (huge, rising) gradients stand out.

    The curves are bare curve items fed log10 of the norms (the axis is in log
    mode, so its ticks read 0.01, 0.1, 1, 10)."""

    def __init__(self, parent=None):
        super().__init__(parent, background=BACKGROUND)
        self.plot_item = self.getPlotItem()
        self.plot_item.setTitle("Gradient norms ‖∂L/∂W‖")
        self.plot_item.setLogMode(y=True)
        self.plot_item.setLabel("bottom", "iteration")
        _outward_ticks(self.plot_item)
        self.legend = self.plot_item.addLegend(offset=(-10, 10), colCount=2)
        self._curves: dict[str, GrowingCurve] = {}  # fed log10 of the norms
        # y spans whole decades and only grows: auto-range moved the axis (and so
        # repainted the whole plot) on nearly every frame
        self.plot_item.enableAutoRange(x=False, y=False)
        self._decades: tuple[int, int] | None = None
        self.plot_item.setYRange(-3, 1, padding=0.02)
        self._planned = 100
        self.set_planned_iterations(self._planned)

    def set_planned_iterations(self, total: int) -> None:
        self._planned = max(1, int(total))
        self.plot_item.setXRange(0, self._planned, padding=0.02)
        for curve in self._curves.values():
            curve.tail_span = self._planned / TAIL_FRACTION

    def build(self, names) -> None:
        """One curve per layer with parameters (created here, updated in place later)."""
        for curve in self._curves.values():
            self.plot_item.removeItem(curve.body)
            self.plot_item.removeItem(curve.tail)
        self.legend.clear()
        self._curves.clear()
        for name in names:
            self._add_curve(name)

    def _add_curve(self, name: str) -> None:
        colour = LAYER_COLOURS[len(self._curves) % len(LAYER_COLOURS)]
        self._curves[name] = GrowingCurve(self.plot_item, pg.mkPen(colour), name,
                                          envelope=True, tail_span=self._planned / TAIL_FRACTION,
                                          capacity=256)

    def clear_data(self) -> None:
        for curve in self._curves.values():
            curve.clear()
        self._decades = None

    def _grow_decades(self, logs: np.ndarray) -> None:
        """The log axis covers every norm so far, from one power of ten to another."""
        if not logs.size:
            return
        low, high = math.floor(logs.min()), max(math.ceil(logs.max()), math.floor(logs.min()) + 1)
        if self._decades is not None:
            low, high = min(low, self._decades[0]), max(high, self._decades[1])
        if (low, high) != self._decades:
            self._decades = (low, high)
            self.plot_item.setYRange(low, high, padding=0.02)  # log10 units in log mode

    def add(self, iteration: int, norms: dict, redraw: bool = True) -> None:
        """Append one sample per layer; ``redraw=False`` (the tab is hidden) only
        stores it, and :meth:`refresh` draws when the plot is shown again."""
        logs = []
        for name, value in norms.items():
            if name not in self._curves:
                self._add_curve(name)  # a layer the summary did not list: still shown
            if math.isfinite(value) and value > 0:
                logs.append(math.log10(value))
                self._curves[name].extend([iteration], logs[-1:])
        self._grow_decades(np.array(logs))
        if iteration > self._planned:
            self.set_planned_iterations(int(iteration * 1.25))
        if redraw:
            for curve in self._curves.values():
                curve.redraw()

    def refresh(self) -> None:
        """Redraw every curve whole (after the tab was hidden)."""
        for curve in self._curves.values():
            curve.redraw(full=True)


# -- image views ---------------------------------------------------------------------
class ImageView(pg.GraphicsLayoutWidget):
    """One titled image (a probe digit), greys in [0, 1]."""

    def __init__(self, title: str = "", parent=None):
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        self.label = self.addLabel(title, row=0, col=0, color="#222")
        self.view = self.addViewBox(row=1, col=0)
        _image_box(self.view)
        self.item = _image_item()
        self.item.setLookupTable(_GREYS)
        self.view.addItem(self.item)

    def set_image(self, image: np.ndarray, title: str | None = None) -> None:
        self.item.setImage(np.asarray(image, dtype=np.float32), autoLevels=False,
                           levels=(0.0, 1.0))
        if title is not None:
            self.label.setText(title, color="#222")
        self.view.autoRange(padding=0.02)


class KernelMosaicView(pg.GraphicsLayoutWidget):
    """The first conv layer's kernels, one tile each, in the diverging map
    (red positive, blue negative, white zero, levels +-max|w|).

    The mosaic is coloured by ``engine.colour`` (as the layer maps are) and handed
    over as RGBA, which skips pyqtgraph's per-paint lookup-table pass; a frame that
    changes no colour changes nothing, and the label's max |w| is rewritten on every
    ``LABEL_EVERY``-th update only (rich-text layout is slow)."""

    LABEL_EVERY = 5

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        self.label = self.addLabel("First layer kernels", row=0, col=0, color="#222")
        self.view = self.addViewBox(row=1, col=0)
        _image_box(self.view)
        self.item = _image_item()
        self.view.addItem(self.item)
        self.levels = (-1.0, 1.0)
        self._tiles: np.ndarray | None = None  # (F*C, KH, KW) last shown
        self._cols: int | None = None
        self._index: np.ndarray | None = None  # (h, w) flat index of each mosaic pixel, -1 gaps
        self._text = ""
        self._updates = 0

    @property
    def values(self) -> np.ndarray | None:
        """The float mosaic shown, NaN in the gaps."""
        return None if self._tiles is None else mosaic(self._tiles, cols=self._cols)

    def set_kernels(self, kernels: np.ndarray) -> None:
        """kernels : (F, C, KH, KW); tiles of C channels side by side per filter row."""
        F, C, KH, KW = kernels.shape
        # (F, C, KH, KW) -> (F*C, KH, KW): each filter's channels next to each other
        tiles = np.asarray(kernels, dtype=np.float32).reshape(F * C, KH, KW)
        cols = C * grid_shape(F)[1] if C > 1 else None
        new_shape = self._tiles is None or self._tiles.shape != tiles.shape
        if new_shape:
            positions = np.arange(tiles.size, dtype=np.int64).reshape(tiles.shape)
            self._index = mosaic(positions, cols=cols, fill=-1)
        self._tiles, self._cols = tiles, cols
        rgba = np.empty(self._index.shape + (4,), np.uint8)  # (h, w, 4)
        self.levels, _ = colour_map_into(rgba.view(np.uint32)[..., 0], tiles, self._index,
                                         _DIVERGING, _DIVERGING, signed="always")
        shown = self.item.image
        if shown is None or not np.array_equal(shown, rgba):  # late in training most
            self.item.setImage(rgba, autoLevels=False, levels=None)  # frames change no colour
        self._updates += 1
        if self._updates % self.LABEL_EVERY == 1 or new_shape:
            text = f"First layer: {F} kernels {C}×{KH}×{KW}<br>max |w| = {self.levels[1]:.2f}"
            if text != self._text:  # rich-text layout and repaint only when it reads differently
                self._text = text
                self.label.setText(text, color="#222")
        if new_shape:
            self.view.autoRange(padding=0.02)


class LayerMapsView(pg.GraphicsLayoutWidget):
    """One mosaic per layer (feature maps or delta maps) in a row of cells, all drawn
    as ONE RGBA image in ONE view.

    Each layer's mosaic is coloured (``engine.colour``) and scaled (nearest pixel) into its own
    ``CELL``-sized square of a shared canvas, under a band where its label sits, so a
    frame costs one ``setImage`` and one image to paint however many layers there
    are (16 image items in 16 view boxes cost ~3 ms per frame to update and paint).
    ``build`` creates the fixed items for a network; ``update_maps`` only fills the
    canvas. ``signed="auto"`` uses the diverging map when a layer has negative values
    (symmetric levels) and greys otherwise; "always" is for delta maps.
    """

    CELL = 96  # canvas pixels per layer square at least (more if a mosaic is larger)
    GAP = 12  # canvas pixels between squares
    LABEL = 40  # canvas pixels of the band above each square for its label
    LABEL_EVERY = 5  # label text (the max value) is rewritten on every 5th update only

    def __init__(self, signed: str = "auto", columns: int = 8, parent=None):
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        self._signed = signed
        self._columns = columns
        self.view = self.addViewBox(row=0, col=0)
        _image_box(self.view)
        self.item = _image_item()  # fed the RGBA canvas: no lookup table
        self.view.addItem(self.item)
        self._cells: dict[str, dict] = {}
        self._cell = self.CELL
        self._canvas = np.zeros((1, 1, 4), np.uint8)
        self._canvas32 = self._canvas.view(np.uint32)[..., 0]
        self._updates = 0

    def build(self, layers) -> None:
        """layers : list of (name, per-sample output shape)."""
        for cell in self._cells.values():
            self.view.removeItem(cell["label"])
        self._cells.clear()
        count = len(layers)
        rows, cols = math.ceil(count / self._columns) if count else 1, min(count, self._columns)
        # squares big enough that no layer loses a pixel (only ever scaled up)
        self._cell = max([self.CELL] + [max(as_image(np.zeros(shape, np.float32)).shape)
                                        for _name, shape in layers])
        pitch_y, pitch_x = self.LABEL + self._cell + self.GAP, self._cell + self.GAP
        # (rows*pitch_y, cols*pitch_x, 4) RGBA, transparent where nothing is drawn
        self._canvas = np.zeros((max(rows * pitch_y - self.GAP, 1),
                                 max(cols * pitch_x - self.GAP, 1), 4), np.uint8)
        self._canvas32 = self._canvas.view(np.uint32)[..., 0]  # (rows, cols): the same memory
        for k, (name, _shape) in enumerate(layers):
            row, col = divmod(k, self._columns)
            top, left = row * pitch_y + self.LABEL, col * pitch_x
            label = pg.TextItem(anchor=(0.5, 1.0), color="#222")
            # the labels sit inside the canvas, which changes every frame: drawn from a
            # cached pixmap, rich text costs its layout only when it is rewritten
            label.textItem.setCacheMode(label.textItem.CacheMode.DeviceCoordinateCache)
            label.setPos(left + self._cell / 2, top - 2)
            self._set_label(label, f"<b>{name}</b>")
            self.view.addItem(label)
            self._cells[name] = {"label": label, "square": (top, left), "top": top,
                                 "left": left, "shape": None, "array_shape": None,
                                 "rows": None, "cols": None, "array": None}
        self.item.setImage(self._canvas, autoLevels=False, levels=None)
        self.view.autoRange(items=[self.item], padding=0.02)  # the labels sit inside it

    @staticmethod
    def _set_label(label: pg.TextItem, html: str) -> None:
        label.setHtml(f'<div style="text-align:center; color:#222; font-size:8pt">{html}</div>')

    def names(self) -> list[str]:
        return list(self._cells)

    def values(self, name: str) -> np.ndarray | None:
        """The float image (mosaic or grid) last shown for layer ``name``."""
        array = self._cells[name]["array"]
        return None if array is None else as_image(array)

    def displayed(self, name: str) -> np.ndarray:
        """The RGBA pixels shown for layer ``name``, one per value (the canvas square
        sampled back at the first canvas pixel of every image pixel): (H, W, 4)."""
        cell = self._cells[name]
        r, c = cell["rows"], cell["cols"]
        h, w = cell["shape"]
        first_r, first_c = np.searchsorted(r, np.arange(h)), np.searchsorted(c, np.arange(w))
        block = self.item.image[cell["top"]:cell["top"] + r.shape[0],
                                cell["left"]:cell["left"] + c.shape[0]]
        return block[first_r][:, first_c]

    def _place(self, cell: dict, array_shape: tuple[int, ...]) -> None:
        """Lay a layer's output out (mosaic or grid) and scale it (nearest pixel) to
        fit its square, centred: one index map from canvas pixel to value."""
        layout = index_image(array_shape)  # (h, w) flat index of each image pixel
        h, w = layout.shape
        scale = self._cell / max(h, w, 1)
        oh, ow = max(1, round(h * scale)), max(1, round(w * scale))
        cell["rows"] = np.arange(oh) * h // oh  # (oh,) source row of each canvas row
        cell["cols"] = np.arange(ow) * w // ow  # (ow,)
        cell["index_map"] = layout[cell["rows"][:, None], cell["cols"][None, :]]  # (oh, ow)
        cell["shape"], cell["array_shape"] = (h, w), tuple(array_shape)
        top, left = cell["square"]
        self._canvas[top:top + self._cell, left:left + self._cell] = 0  # clear the old image
        cell["top"], cell["left"] = top + (self._cell - oh) // 2, left + (self._cell - ow) // 2

    def update_maps(self, named_arrays) -> None:
        self._updates += 1
        relabel = self._updates % self.LABEL_EVERY == 1
        for name, array in named_arrays:
            cell = self._cells.get(name)
            if cell is None:
                continue
            new_shape = cell["array_shape"] != np.shape(array)
            if new_shape:
                self._place(cell, np.shape(array))
            cell["array"] = array  # the values shown (tests read them)
            index_map = cell["index_map"]  # (oh, ow)
            # one call per layer into a kernel that does not hold the interpreter lock
            # (thirty small numpy calls per layer did, stalling the training thread)
            levels, _signed = colour_map_into(
                self._canvas32[cell["top"]:cell["top"] + index_map.shape[0],
                               cell["left"]:cell["left"] + index_map.shape[1]],
                array, index_map, _DIVERGING, _GREYS, self._signed)
            if relabel or new_shape:  # rich-text layout is slow; 5 Hz is readable anyway
                shape = "×".join(map(str, np.shape(array)))
                top = max(abs(levels[0]), levels[1])
                self._set_label(cell["label"], f"<b>{name}</b><br>{shape}<br>max {top:.2g}")
        # one image for every layer: one upload and one drawImage per frame
        self.item.setImage(self._canvas, autoLevels=False, levels=None)


class ConfusionView(pg.GraphicsLayoutWidget):
    """The (K, K) confusion matrix on the validation set, counts written in the cells.

    Rows are the true digits, columns the predicted ones; the colour is the
    share of each row, so a perfect classifier is a dark diagonal."""

    def __init__(self, classes: int = 10, parent=None):
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        self.plot = self.addPlot(title="Confusion matrix (validation)")
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.setMouseEnabled(False, False)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setLabel("left", "true digit")
        self.plot.setLabel("bottom", "predicted digit")
        ticks = [[(k + 0.5, str(k)) for k in range(classes)]]
        self.plot.getAxis("left").setTicks(ticks)
        self.plot.getAxis("bottom").setTicks(ticks)
        self.item = _image_item()
        # white (0) to dark blue (the whole row)
        self.item.setLookupTable(pg.ColorMap([0.0, 1.0], [(255, 255, 255), (8, 48, 107)])
                                 .getLookupTable(0.0, 1.0, 256))
        self.item.setImage(np.zeros((classes, classes), np.float32), autoLevels=False,
                           levels=(0, 1))
        self.plot.addItem(self.item)
        font = QFont()
        font.setPointSize(8)
        self._texts = []
        for r in range(classes):
            for c in range(classes):
                t = pg.TextItem("", anchor=(0.5, 0.5), color="#222")
                t.setFont(font)
                t.setPos(c + 0.5, r + 0.5)
                self.plot.addItem(t)
                self._texts.append(t)
        self.plot.setRange(xRange=(0, classes), yRange=(0, classes), padding=0.02)
        self._classes = classes

    def set_confusion(self, confusion: np.ndarray) -> None:
        confusion = np.asarray(confusion)
        share = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
        self.item.setImage(share.astype(np.float32), autoLevels=False, levels=(0, 1))
        K = self._classes
        for r in range(K):
            for c in range(K):
                t = self._texts[r * K + c]
                n = int(confusion[r, c])
                t.setText(str(n) if n else "")
                t.setColor(QColor("white") if share[r, c] > 0.5 else QColor("#222"))


class MisclassifiedView(pg.GraphicsLayoutWidget):
    """Validation digits the network gets wrong, labelled "true→predicted".

    Clicking one emits ``picked`` with its index in the validation set."""

    picked = pyqtSignal(int)

    def __init__(self, rows: int = 4, cols: int = 8, parent=None):
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        self._rows, self._cols = rows, cols
        self.label = self.addLabel("Misclassified validation digits<br>(click one to probe it)",
                                   row=0, col=0, color="#222")
        self.view = self.addViewBox(row=1, col=0)
        _image_box(self.view)
        self.item = _image_item()
        self.item.setLookupTable(_GREYS)
        self.view.addItem(self.item)
        self._cell = 28 + 2 + 10  # image, gap and room for the caption
        self._texts = []
        for k in range(rows * cols):
            r, c = divmod(k, cols)
            t = pg.TextItem("", anchor=(0.5, 0.0), color="#b2182b")
            t.setPos(c * 30 + 14, r * self._cell + 28)
            self.view.addItem(t)
            self._texts.append(t)
        self._indices = np.zeros(0, dtype=np.int64)
        self.item.setImage(np.full((rows * self._cell, cols * 30), np.nan, np.float32),
                           autoLevels=False, levels=(0, 1))
        self.view.autoRange(padding=0.01)
        self.scene().sigMouseClicked.connect(self._clicked)

    def set_digits(self, images: np.ndarray, true: np.ndarray, pred: np.ndarray,
                   indices: np.ndarray, total_wrong: int) -> None:
        """images (M, 28, 28) of the first M misclassified digits (M <= rows*cols)."""
        rows, cols, cell = self._rows, self._cols, self._cell
        canvas = np.full((rows * cell, cols * 30), np.nan, np.float32)
        M = min(len(images), rows * cols)
        for k in range(M):
            r, c = divmod(k, cols)
            canvas[r * cell:r * cell + 28, c * 30:c * 30 + 28] = images[k]
        self.item.setImage(canvas, autoLevels=False, levels=(0, 1))
        for k, t in enumerate(self._texts):
            t.setText(f"{true[k]}→{pred[k]}" if k < M else "")
        self._indices = np.asarray(indices[:M])
        self.label.setText(f"Misclassified validation digits: {total_wrong}<br>"
                           f"(first {M} shown, true→predicted; click one to probe it)",
                           color="#222")

    def index_at(self, x: float, y: float) -> int | None:
        """The validation index of the tile at view coordinates (x, y), if any."""
        c, r = int(x // 30), int(y // self._cell)
        if not (0 <= c < self._cols and 0 <= r < self._rows) or x % 30 >= 28:
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


class ProbabilityView(pg.PlotWidget):
    """The network's probability for each class, the predicted bar highlighted."""

    def __init__(self, classes: int = 10, parent=None):
        super().__init__(parent, background=BACKGROUND)
        self.plot_item = self.getPlotItem()
        self.plot_item.setTitle("Prediction")
        self.plot_item.setYRange(0, 1, padding=0)
        self.plot_item.setXRange(-0.6, classes - 0.4, padding=0)
        self.plot_item.setMouseEnabled(False, False)
        self.plot_item.setMenuEnabled(False)
        self.plot_item.hideButtons()
        self.plot_item.getAxis("bottom").setTicks([[(k, str(k)) for k in range(classes)]])
        self._x = np.arange(classes)
        self.bars = pg.BarGraphItem(x=self._x, height=np.zeros(classes), width=0.7,
                                    brush=(146, 197, 222))
        self._title = "Prediction"
        self._shown: np.ndarray | None = None  # the heights drawn
        self.plot_item.addItem(self.bars)

    _BEST = pg.mkBrush((178, 24, 43))
    _OTHER = pg.mkBrush((146, 197, 222))
    # a thousandth of the axis is under a pixel on any screen: smaller changes are not
    # redrawn (a trained network's probe probabilities barely move from frame to frame,
    # and rebuilding and painting the bars cost ~0.4 ms of every frame)
    VISIBLE_CHANGE = 1e-3

    def set_probabilities(self, probabilities: np.ndarray, label: int | None = None) -> None:
        p = np.asarray(probabilities, dtype=np.float64)
        best = int(np.argmax(p))
        shown = self._shown
        if (shown is None or shown.shape != p.shape or best != int(np.argmax(shown))
                or np.max(np.abs(p - shown)) >= self.VISIBLE_CHANGE):
            brushes = [self._BEST if k == best else self._OTHER for k in range(p.shape[0])]
            self.bars.setOpts(height=p, brushes=brushes)
            self._shown = p
        truth = "" if label is None else f", true {label}"
        title = f"Prediction: {best} ({p[best]:.0%}){truth}"
        if title != self._title:  # the title's rich-text layout only when it reads differently
            self._title = title
            self.plot_item.setTitle(title)
