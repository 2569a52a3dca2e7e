"""The overview canvas: the input, every layer's maps, the vectors, the probabilities.

One RGBA canvas image holds every thumbnail and strip (coloured by ``engine.colour``:
one nogil kernel call per layer, or per map, or one for everything, by the colour
scale), shown 1:1 in a fixed, non-interactive view; lines between the columns, the
receptive field, the selected cell and the cells its delta came from are line items
over it, the layer labels and the class probabilities text items. Every item is made
once per layout (a new network, a new page, a new size) and updated in place.

Where things are is :mod:`gui.labs.network.layout` (Qt-free); a click is turned into a
neuron there and emitted as ``clicked(Neuron)``.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QSize, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QFontMetricsF, QPen
from PyQt6.QtWidgets import QScrollArea, QSizePolicy

from engine.colour import colour_map_into
from engine.i18n import tr
from gui.labs.network.layout import (
    PROBS_WIDTH,
    Layout,
    connection_lines,
    make_layout,
    rect_segments,
)
from gui.labs.network.session import Display, Mode, Scale, class_label
from gui.labs.training.views._common import BACKGROUND, DIVERGING, GREYS

__all__ = ["OverviewView", "OverviewArea"]

FAINT = QColor(150, 150, 150, 90)
PATH = QColor(230, 120, 0, 200)       # the selected neuron's path
FIELD = QColor(0, 170, 80)            # its receptive field (the Convolution lab's window colour)
CURSOR = QColor(230, 120, 0)          # the selected cell
SOURCES = QColor(140, 60, 200)        # the cells its delta came from
BAR = np.array([70, 110, 190, 255], np.uint8)
BAR_TARGET = np.array([40, 150, 70, 255], np.uint8)
MAX_SOURCES = 12                      # delta sources outlined
CLASS_CHARS = 6                       # a class name in the probability column, at most


def _pen(colour: QColor, width: float) -> QPen:
    pen = QPen(colour, width)
    pen.setCosmetic(True)
    return pen


def _segments(item: pg.PlotCurveItem, segs: np.ndarray) -> None:
    """Show (n, 2, 2) segments in a connect="pairs" curve (none: hidden)."""
    if len(segs) == 0:
        item.setData([], [])
        item.setVisible(False)
        return
    points = segs.reshape(-1, 2)
    item.setData(points[:, 0], points[:, 1], connect="pairs")
    item.setVisible(True)


class OverviewView(pg.GraphicsView):
    """The canvas; ``set_layout`` makes the items, ``draw`` fills them.

    Signals
    -------
    clicked(Neuron) : a cell or a unit was clicked
    """

    clicked = pyqtSignal(object)

    def __init__(self, parent=None):
        super().__init__(parent, background=BACKGROUND)
        self.box = pg.ViewBox(lockAspect=True, invertY=True, enableMouse=False,
                              enableMenu=False, defaultPadding=0.0)
        self.setCentralItem(self.box)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.box.addItem(self.image)
        self.faint = pg.PlotCurveItem(pen=_pen(FAINT, 1))
        self.path = pg.PlotCurveItem(pen=_pen(PATH, 1.5))
        self.field = pg.PlotCurveItem(pen=_pen(FIELD, 2))
        self.sources = pg.PlotCurveItem(pen=_pen(SOURCES, 2))
        self.cursor = pg.PlotCurveItem(pen=_pen(CURSOR, 3))
        for z, item in enumerate((self.faint, self.path, self.field, self.sources,
                                  self.cursor), start=1):
            item.setZValue(z)
            self.box.addItem(item)
        self.layout_: Layout | None = None
        self._headers: list[pg.TextItem] = []
        self._classes: list[pg.TextItem] = []
        self._canvas = np.zeros((1, 1, 4), np.uint8)
        self._canvas32 = self._canvas.view(np.uint32)[..., 0]
        self._global: tuple[np.ndarray, list] | None = None
        self._per_map: list = []
        self._outlined = None
        self.levels: dict[int, tuple[float, float]] = {}  # column layer -> levels shown
        #: the model's class names (a data set's); none: the probabilities are numbered
        self.class_names: tuple = ()
        self.scene().sigMouseClicked.connect(self._on_click)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def retranslate(self) -> None:
        if self.layout_ is not None:
            self._write_headers()

    # ------------------------------------------------------------------ layout
    def set_layout(self, layout: Layout) -> None:
        """New columns: a new canvas, index maps, headers, lines (nothing coloured)."""
        self.layout_ = layout
        self.setFixedSize(QSize(layout.width, layout.height))
        self._canvas = np.zeros((layout.height, layout.width, 4), np.uint8)
        self._canvas32 = self._canvas.view(np.uint32)[..., 0]
        self.image.setImage(self._canvas, autoLevels=False, levels=None)
        self.box.setRange(xRange=(0, layout.width), yRange=(0, layout.height), padding=0)
        for item in self._headers + self._classes:
            self.box.removeItem(item)
        self._headers = []
        for _ in layout.columns:
            text = pg.TextItem(anchor=(0.5, 1.0), color="#222")
            self.box.addItem(text)
            self._headers.append(text)
        last = layout.columns[-1]
        self._classes = []
        if last.kind == "vector":
            x0 = last.map_left + last.map_size[1] + 4 + PROBS_WIDTH - 60 + 2  # after the bars
            for d in range(last.shape[0]):
                _x, y, s, _ = last.unit_rect(d)
                text = pg.TextItem(anchor=(0.0, 0.5), color="#222")
                text.setPos(x0, y + s / 2)
                self.box.addItem(text)
                self._classes.append(text)
        self._write_headers()
        self._prepare_scales(layout)
        _segments(self.faint, connection_lines(layout)[0])
        for item in (self.path, self.field, self.sources, self.cursor):
            _segments(item, np.zeros((0, 2, 2)))
        self._outlined = None  # (layout, neuron) the path and field are drawn for
        self.levels = {}

    def _write_headers(self) -> None:
        lay = self.layout_
        for col, text in zip(lay.columns, self._headers, strict=True):
            channels = col.channels if col.kind == "maps" else None
            lines = header_lines(col.layer, col.name, col.shape, col.params, channels)
            text.setHtml(f'<div style="text-align:center; font-size:{HEADER_PT}pt">'
                         + "<br>".join(lines) + "</div>")
            text.setPos(col.centre_x, col.top - 2)

    def _prepare_scales(self, layout: Layout) -> None:
        """Index maps for the per-map and the global colour scales."""
        self._per_map = []
        for col in layout.columns:
            if col.kind != "maps":
                continue
            H, W = col.shape[1:]
            mh, mw = col.map_size
            for c in col.channels:
                x, y, _, _ = col.thumb_rect(c)
                y0, x0 = int(y) - col.top, int(x) - col.left
                local = col.index_map[y0:y0 + mh, x0:x0 + mw] - c * H * W
                self._per_map.append((col.layer, c, int(y), int(x), local))
        offsets, index = [], np.full((layout.height, layout.width), -1, np.int64)
        start = 0
        for col in layout.columns:
            offsets.append(start)
            block = index[col.top:col.top + col.height, col.left:col.left + col.width]
            np.copyto(block, col.index_map + start, where=col.index_map >= 0)
            start += int(np.prod(col.shape))
        self._global = (index, offsets)

    # ------------------------------------------------------------------ drawing
    def draw(self, inspection, display: Display) -> None:
        """Colour every column for ``inspection``; outline its neuron's field."""
        lay = self.layout_
        if lay is None:
            return
        backward = display.mode is Mode.BACKWARD
        signed = "always" if backward else "auto"
        values = {col.layer: inspection.values(col.layer, backward) for col in lay.columns}
        self.levels = {}
        if display.scale is Scale.GLOBAL:
            index, _ = self._global
            flat = np.concatenate([np.ravel(values[col.layer]) for col in lay.columns])
            levels, _ = colour_map_into(self._canvas32, flat, index, DIVERGING, GREYS, signed)
            self.levels = dict.fromkeys(values, levels)
        else:
            for col in lay.columns:
                if display.scale is Scale.MAP and col.kind == "maps":
                    continue
                out = self._canvas32[col.top:col.top + col.height,
                                     col.left:col.left + col.width]
                self.levels[col.layer], _ = colour_map_into(
                    out, values[col.layer], col.index_map, DIVERGING, GREYS, signed)
            if display.scale is Scale.MAP:
                for layer, c, y, x, local in self._per_map:
                    out = self._canvas32[y:y + local.shape[0], x:x + local.shape[1]]
                    self.levels[(layer, c)], _ = colour_map_into(
                        out, values[layer][c], local, DIVERGING, GREYS, signed)
        self._draw_probabilities(inspection)
        self.image.setImage(self._canvas, autoLevels=False, levels=None)
        self._draw_selection(inspection, backward)

    def _draw_probabilities(self, inspection) -> None:
        last = self.layout_.columns[-1]
        if last.kind != "vector" or not self._classes:
            return
        p = inspection.probabilities
        right = last.map_left + last.map_size[1]
        x0 = right + 4
        bar_w = PROBS_WIDTH - 60
        for d, text in enumerate(self._classes):
            x, y, s, _ = last.unit_rect(d)
            rows = slice(int(y) + 1, int(y + s) - 1 if s > 3 else int(y + s))
            self._canvas[rows, x0:x0 + bar_w] = 0
            n = int(round(float(p[d]) * bar_w))
            self._canvas[rows, x0:x0 + n] = BAR_TARGET if d == inspection.target else BAR
            label = f"{class_label(d, self.class_names, CLASS_CHARS)}  {float(p[d]):.0%}"
            if text.textItem.toPlainText() != label:  # a text layout only when it changes
                text.setText(label)

    def _draw_selection(self, inspection, backward: bool) -> None:
        lay = self.layout_
        regions = inspection.receptive_field
        neuron = inspection.neuron
        empty = np.zeros((0, 2, 2))
        if neuron is None or regions is None:
            for item in (self.path, self.field, self.sources, self.cursor):
                _segments(item, empty)
            self._outlined = None
            return
        if self._outlined != (lay, neuron):  # the path and the field follow the geometry only
            self._outlined = (lay, neuron)
            _segments(self.path, connection_lines(lay, regions)[1])
            rects = []
            for region in regions[:-1]:
                rects.extend(_region_rects(lay.column_of_layer(region.layer), region))
            _segments(self.field, rect_segments(rects))
            _segments(self.cursor, rect_segments(_cell_rects(lay.column_of_layer(neuron.layer),
                                                             neuron.index)))
        sources = []
        if backward and inspection.delta_cell is not None:
            for term in inspection.delta_cell.terms[:MAX_SOURCES]:
                sources.extend(_cell_rects(lay.column_of_layer(term.layer), term.index))
        _segments(self.sources, rect_segments(sources))

    # ------------------------------------------------------------------ reading back
    def pixels(self, layer: int, c: int = 0) -> np.ndarray | None:
        """The RGBA pixels drawn for channel ``c`` of ``layer`` (tests), or None."""
        col = self.layout_.column_of_layer(layer)
        if col.kind == "maps":
            rect = col.thumb_rect(c)
            if rect is None:
                return None
            x, y, w, h = (int(v) for v in rect)
        else:
            x, y = col.map_left, col.top
            h, w = col.map_size
        return self._canvas[y:y + h, x:x + w]

    def header_text(self, layer: int) -> str:
        return self._headers[layer + 1].textItem.toPlainText()

    def class_texts(self) -> list[str]:
        return [t.textItem.toPlainText() for t in self._classes]

    def segments(self, which: str) -> np.ndarray:
        """The segments of "faint", "path", "field", "sources" or "cursor" (tests)."""
        item = getattr(self, which)
        if not item.isVisible():
            return np.zeros((0, 2, 2))
        x, y = item.getData()
        return np.stack([x, y], axis=1).reshape(-1, 2, 2)

    def canvas_point(self, x: float, y: float):
        """Widget coordinates of canvas point (x, y) (for clicking in tests)."""
        scene = self.box.mapViewToScene(pg.Point(x, y))
        return self.mapFromScene(scene)

    # ------------------------------------------------------------------ mouse
    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.layout_ is None:
            return
        p = self.box.mapSceneToView(event.scenePos())
        neuron = self.layout_.neuron_at(p.x(), p.y())
        if neuron is not None:
            self.clicked.emit(neuron)


HEADER_PT = 7.0  # the columns' labels


def header_lines(layer: int, name: str, shape: tuple, params: int,
                 channels: tuple | None = None) -> list[str]:
    """A column's label: its name (bold), shape, parameters and the maps on the page."""
    lines = [f"<b>{name if layer >= 0 else tr('input')}</b>", "×".join(map(str, shape))]
    if params:
        lines.append(tr("{n} params").format(n=f"{params:,}"))
    if channels is not None and len(channels) < shape[0]:
        lines.append(tr("{a}–{b} of {n}").format(a=channels[0] + 1, b=channels[-1] + 1,
                                                  n=shape[0]) if channels
                     else tr("(earlier pages)"))
    return lines


def label_width(columns) -> int:
    """Pixels of the widest label line of ``columns`` ((layer, name, type, shape,
    params) rows), with the widest page line any of them can get."""
    font = QFont()
    font.setPointSizeF(HEADER_PT)
    bold = QFont(font)
    bold.setBold(True)
    plain, strong = QFontMetricsF(font), QFontMetricsF(bold)
    widest = 0.0
    for layer, name, _kind, shape, params in columns:
        channels = (0, shape[0] - 1) if len(shape) == 3 else None
        for line in header_lines(layer, name, shape, params, channels):
            if line.startswith("<b>"):
                widest = max(widest, strong.horizontalAdvance(line[3:-4]))
            else:
                widest = max(widest, plain.horizontalAdvance(line))
    return int(math.ceil(widest)) + 4


def _cell_rects(col, index) -> list:
    if col.kind == "maps":
        c, i, j = index
        rect = col.cells_rect(c, i, j, i + 1, j + 1)
        return [] if rect is None else [rect]
    return [col.unit_rect(index[0])]


def _region_rects(col, region) -> list:
    if col.kind == "vector":
        if region.whole:
            x, y = col.map_left, col.top
            h, w = col.map_size
            return [(x, y, w, h)]
        return [col.unit_rect(d) for d in region.rows]
    r0, c0, r1, c1 = region.bbox
    channels = col.channels if region.channels is None else region.channels
    return [rect for c in channels if (rect := col.cells_rect(c, r0, c0, r1, c1))]


class OverviewArea(QScrollArea):
    """The canvas in a scroll area: laid out for the area's size (debounced), scrolled
    sideways when the columns need more width than there is.

    Signals
    -------
    relaid(pages, per_page) : a new layout (the paging may have changed)
    """

    relaid = pyqtSignal(int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = OverviewView()
        self.setWidget(self.view)
        self.setWidgetResizable(False)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumHeight(260)
        self._columns: list = []
        self._label_width = 0
        self._page = 0
        self._size = (0, 0)
        self._timer = QTimer(self, singleShot=True, interval=120)
        self._timer.timeout.connect(self.relayout)

    @property
    def layout_(self) -> Layout | None:
        return self.view.layout_

    def set_columns(self, columns: list, page: int = 0) -> None:
        self._columns, self._page = list(columns), page
        self._label_width = label_width(self._columns)
        self.relayout()

    def set_page(self, page: int) -> None:
        if page != self._page:
            self._page = page
            self.relayout()

    def relayout(self) -> None:
        if not self._columns:
            return
        size = self.viewport().size()
        bar = self.horizontalScrollBar().sizeHint().height()
        layout = make_layout(self._columns, max(size.width(), 200),
                             max(size.height(), 260) - bar, self._page, self._label_width)
        self._size = (size.width(), size.height())
        self.view.set_layout(layout)
        self.relaid.emit(layout.pages, layout.per_page)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        size = self.viewport().size()
        if self._columns and (size.width(), size.height()) != self._size:
            self._timer.start()  # a drag of the splitter relays out once, at the end
