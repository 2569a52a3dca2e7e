"""The Curves tab: loss and accuracy per iteration and per epoch, gradient norms.

Long, growing curves are drawn as a cached body and a short live tail
(:class:`GrowingCurve`), so a frame repaints only the box around the newest points.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QPainterPath

from engine.i18n import tr, tr_noop
from gui.labs.training.arrays import Series, ema, thin
from gui.labs.training.views._common import (
    BACKGROUND,
    LAYER_COLOURS,
    FitsTitles,
    outward_ticks,
)

__all__ = ["LiveTail", "GrowingCurve", "CurvesView", "GradNormView", "TAIL_FRACTION"]

TAIL_FRACTION = 25  # a growing curve's live tail spans up to 1/25 of the x axis


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


def _retranslate_legend(legend: pg.LegendItem, texts: dict) -> None:
    """Re-set the labels of ``legend`` whose items have a text in ``texts`` (msgids)."""
    for sample, label in legend.items:
        text = texts.get(sample.item)
        if text is not None:
            label.setText(tr(text))


class CurvesView(pg.GraphicsLayoutWidget):
    """Loss and accuracy: training per iteration (raw, faint, and smoothed) and
    validation per epoch (dots)."""

    SMOOTHING = 0.05

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        self.loss_plot = self.addPlot(row=0, col=0)
        self.acc_plot = self.addPlot(row=1, col=0)
        self.acc_plot.setXLink(self.loss_plot)
        self.acc_plot.setYRange(0, 1, padding=0.02)
        self._curves: dict[tuple[str, str], GrowingCurve] = {}
        self._val: dict[str, Series] = {}
        self._val_items: dict[str, pg.PlotDataItem] = {}
        self._ema = {"loss": None, "acc": None}
        self._legend_texts: dict[object, str] = {}  # legend item -> its text (a msgid)
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
            outward_ticks(plot)
            # loss falls and accuracy rises: keep each legend where its curves are not
            plot.addLegend(offset=(-10, 10) if key == "loss" else (-10, -10))
            self._curves[key, "raw"] = GrowingCurve(plot, pg.mkPen((31, 119, 180, 70)),
                                                    envelope=True)
            self._curves[key, "smooth"] = GrowingCurve(plot, pg.mkPen((8, 48, 107)),
                                                       "training (smoothed)")
            val = plot.plot(pen=pg.mkPen((214, 39, 40), width=2), symbol="o", symbolSize=7,
                            symbolBrush=(214, 39, 40), name="validation")
            self._legend_texts[val] = tr_noop("validation")
            self._legend_texts[self._curves[key, "smooth"].body] = tr_noop("training (smoothed)")
            for part in (val.curve, val.scatter):
                part.setCacheMode(part.CacheMode.DeviceCoordinateCache)
            self._val_items[key] = val
            self._val[key] = Series(64)
        self.set_planned_iterations(self._planned)
        self.retranslate()

    def retranslate(self) -> None:
        """Set every text in the current language."""
        self.loss_plot.setTitle(tr("Loss (cross-entropy)"))
        self.acc_plot.setTitle(tr("Accuracy"))
        self.acc_plot.setLabel("bottom", tr("iteration"))
        for plot in (self.loss_plot, self.acc_plot):
            _retranslate_legend(plot.legend, self._legend_texts)

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

    def history(self) -> dict[str, np.ndarray]:
        """The curves' numbers, for a session file: iterations and raw loss/accuracy of
        every step shown (float64 (n,)), and the validation points (float64 (m,))."""
        it, loss = self._curves["loss", "raw"].getData()
        _it, acc = self._curves["acc", "raw"].getData()
        val_it, val_loss = self._val["loss"].view()
        _v, val_acc = self._val["acc"].view()
        return {name: np.array(a, dtype=np.float64) for name, a in (
            ("iterations", it), ("loss", loss), ("accuracy", acc), ("val_iterations", val_it),
            ("val_loss", val_loss), ("val_accuracy", val_acc))}

    def restore_history(self, history: dict[str, np.ndarray]) -> bool:
        """Show the curves of :meth:`history` again (after ``clear_data``); False when
        the arrays do not fit together (nothing is drawn then)."""
        try:
            it, loss, acc, val_it, val_loss, val_acc = (
                np.asarray(history[k], dtype=np.float64).reshape(-1) for k in (
                    "iterations", "loss", "accuracy", "val_iterations", "val_loss",
                    "val_accuracy"))
        except (KeyError, TypeError, ValueError):
            return False
        if not (len(it) == len(loss) == len(acc)) or not (len(val_it) == len(val_loss)
                                                         == len(val_acc)):
            return False
        self.clear_data()
        self.add_steps(it, loss, acc)
        for point in zip(val_it, val_loss, val_acc, strict=True):
            self.add_validation(*point)
        return True

    def validation_accuracies(self) -> np.ndarray:
        return self._val["acc"].view()[1].copy()

    def _redraw(self) -> None:
        for curve in self._curves.values():
            curve.redraw(full=True)
        for key, item in self._val_items.items():
            item.setData(*self._val[key].view())


class GradNormView(FitsTitles, pg.PlotWidget):
    """Per-layer gradient norms over the iterations, on a log scale, so that
    vanishing (tiny, falling) or exploding (huge, rising) gradients stand out.

    The curves are bare curve items fed log10 of the norms (the axis is in log
    mode, so its ticks read 0.01, 0.1, 1, 10)."""

    MIN_DECADES = 3

    def __init__(self, parent=None):
        super().__init__(parent, background=BACKGROUND)
        self.plot_item = self.getPlotItem()
        self.plot_item.setLogMode(y=True)
        outward_ticks(self.plot_item)
        # the legend in a row of its own under the plot: over it, it hid the curves
        self.legend = pg.LegendItem(colCount=3, labelTextSize="8pt", verSpacing=-6)
        self.plot_item.layout.addItem(self.legend, 5, 1)
        self.plot_item.legend = self.legend  # curves added with a name get an entry
        self._curves: dict[str, GrowingCurve] = {}  # fed log10 of the norms
        # y spans whole decades and only grows: auto-range moved the axis (and so
        # repainted the whole plot) on nearly every frame
        self.plot_item.enableAutoRange(x=False, y=False)
        self._decades: tuple[int, int] | None = None
        self.plot_item.setYRange(-3, 1, padding=0.02)
        self._planned = 100
        self.set_planned_iterations(self._planned)
        self.retranslate()

    def retranslate(self) -> None:
        """Set every text in the current language (the legend holds layer names)."""
        self.plot_item.setTitle(tr("Gradient norms ‖∂L/∂W‖"))
        self.plot_item.setLabel("bottom", tr("iteration"))
        self.fit_titles()

    def _titles(self):
        return [(self.plot_item.titleLabel, self.plot_item)]

    def _fit_titles(self) -> None:
        super()._fit_titles()
        # as many legend columns (3 at most) as the plot's width holds beside the axis
        room = self.width() - 24 - self.plot_item.getAxis("left").width()
        for columns in range(3, 0, -1):
            if columns != self.legend.columnCount:
                self.legend.setColumnCount(columns)
            self.legend.layout.activate()
            if self.legend.layout.effectiveSizeHint(Qt.SizeHint.MinimumSize).width() <= room:
                break

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
        """The log axis covers every norm so far, from one power of ten to another, and
        at least MIN_DECADES of them (over fewer, the axis labels its minor ticks too,
        0.2 0.3 ... 0.9, and they crowd)."""
        if not logs.size:
            return
        high = math.ceil(logs.max())
        low = min(math.floor(logs.min()), high - self.MIN_DECADES)
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
