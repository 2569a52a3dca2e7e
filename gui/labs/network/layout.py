"""Where everything sits on the Network lab's overview canvas (no Qt).

The canvas shows the input and then every layer's output as a column, left to right:
a map layer (C, H, W) as a column of thumbnails, one per channel; a vector layer (D,)
(flatten, dense) as a strip of small cells; after the last column, room for the class
probabilities. Coordinates are canvas pixels (the widget shows the canvas 1:1, so a
thumbnail never shrinks below :data:`THUMB_MIN` pixels: when the channels do not fit
the height, they are paged; when the columns do not fit the width, the canvas grows
and scrolls).

:func:`make_layout` computes the columns for one page; a :class:`Layout` answers
which neuron a canvas point is (:meth:`Layout.neuron_at`), where a cell or a unit is
drawn, and holds the index maps the colouring uses (canvas pixel -> value).
:func:`connection_lines` gives the lines between columns (which maps feed which, and
the selected neuron's path). Plain numpy: tested headless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from engine.neuron import Neuron
from engine.receptive_field import Region

__all__ = ["Column", "Layout", "make_layout", "connection_lines", "rect_segments",
           "THUMB_MIN", "THUMB_MAX", "HEADER", "MARGIN", "GAP_X", "GAP_Y", "PROBS_WIDTH",
           "MAX_FAINT_PAIRS"]

MARGIN = 8          # around the canvas
HEADER = 52         # the band above the columns for the layer's name, shape, parameters
GAP_X = 30          # between two columns: room for the lines
GAP_Y = 4           # between two thumbnails of a column
THUMB_MIN = 28      # a 28x28 digit at one canvas pixel per cell: never smaller
THUMB_PAGED = 44    # thumbnail size when the channels are paged anyway
THUMB_MAX = 112
PROBS_WIDTH = 132   # right of the last column: the class probabilities
UNIT_MAX = 22       # the largest cell of a vector strip
MAX_FAINT_PAIRS = 160  # more all-to-all conv lines than this are noise, not information


@dataclass(frozen=True)
class Column:
    """One column: the input (``layer`` -1) or one layer's output.

    Attributes
    ----------
    layer : int
    name, type : str
    shape : per-sample output shape
    params : int
    kind : "maps" or "vector"
    left, width : canvas x of the column and its width
    top, height : the band the thumbnails or the strip use
    channels : the channels shown on this page (maps)
    thumb_tops : canvas y of each shown channel's thumbnail (maps)
    scale : canvas pixels per map cell (maps) or per unit (vector)
    map_size : (h, w) pixels of one drawn map (maps); of the strip (vector)
    units_per_row : units in one row of the strip (vector)
    index_map : (height, width) int64: for each canvas pixel of the band, the flat
        index of its value in the layer's output (C-order), -1 where nothing is
    """

    layer: int
    name: str
    type: str
    shape: tuple
    params: int
    kind: str
    left: int
    width: int
    top: int
    height: int
    channels: tuple = ()
    thumb_tops: tuple = ()
    scale: float = 1.0
    map_size: tuple = (0, 0)
    units_per_row: int = 1
    index_map: np.ndarray = field(default=None, repr=False, compare=False)

    @property
    def map_left(self) -> int:
        """x of the drawn maps (centred in the column)."""
        return self.left + (self.width - self.map_size[1]) // 2

    @property
    def centre_x(self) -> float:
        return self.left + self.width / 2

    def thumb_rect(self, c: int) -> tuple[float, float, float, float] | None:
        """(x, y, w, h) of channel ``c``'s drawn map, None when not on this page."""
        if c not in self.channels:
            return None
        top = self.thumb_tops[self.channels.index(c)]
        return (self.map_left, top, self.map_size[1], self.map_size[0])

    def cells_rect(self, c: int, r0: int, c0: int, r1: int, c1: int):
        """(x, y, w, h) of the cells rows r0..r1-1, columns c0..c1-1 of channel ``c``."""
        rect = self.thumb_rect(c)
        if rect is None:
            return None
        x, y, _, _ = rect
        s = self.scale
        return (x + c0 * s, y + r0 * s, (c1 - c0) * s, (r1 - r0) * s)

    def unit_rect(self, d: int) -> tuple[float, float, float, float]:
        """(x, y, w, h) of unit ``d`` of a vector column."""
        row, col = divmod(int(d), self.units_per_row)
        s = self.scale
        return (self.map_left + col * s, self.top + row * s, s, s)

    def units_band(self, start: int, stop: int) -> tuple[float, float]:
        """(y0, y1): the rows of the strip that hold units start..stop-1."""
        s, n = self.scale, self.units_per_row
        return (self.top + (start // n) * s, self.top + ((stop - 1) // n + 1) * s)


@dataclass(frozen=True)
class Layout:
    """The columns of one page, the canvas size and the paging."""

    columns: tuple
    width: int
    height: int
    page: int
    pages: int
    per_page: int
    thumb: int

    def column_of_layer(self, layer: int) -> Column:
        return self.columns[layer + 1]

    def column_at(self, x: float) -> Column | None:
        for col in self.columns:
            if col.left <= x < col.left + col.width:
                return col
        return None

    def neuron_at(self, x: float, y: float) -> Neuron | None:
        """The neuron drawn at canvas point (x, y), or None (a gap, a header)."""
        col = self.column_at(x)
        if col is None or not col.top <= y < col.top + col.height:
            return None
        px, py = int(math.floor(x)) - col.left, int(math.floor(y)) - col.top
        flat = int(col.index_map[py, px]) if 0 <= px < col.width else -1
        if flat < 0:
            return None
        return Neuron(col.layer, np.unravel_index(flat, col.shape))

    def page_of_channel(self, c: int) -> int:
        return min(c // self.per_page, self.pages - 1)


# -------------------------------------------------------------------- computing it

def _vector_strip(D: int, width: int, height: int, output: bool) -> tuple[int, int]:
    """(cell pixels, units per row) for D units in a band ``width`` x ``height``."""
    if output:  # one class per row, as large as the height allows
        return max(1, min(UNIT_MAX, (height + 1) // max(D, 1) - 1)), 1
    for s in range(min(UNIT_MAX, width), 0, -1):
        per_row = max(1, width // s)
        if math.ceil(D / per_row) * s <= height:
            return s, per_row
    return 1, max(width, math.ceil(D / max(height, 1)))  # wider than the column


def _maps_index(shape, channels, scale, map_size, tops, top, width, left_pad, height):
    C, H, W = shape
    index = np.full((height, width), -1, dtype=np.int64)
    mh, mw = map_size
    # each pixel shows the cell under its centre (a cell of a pixel or more has one)
    rows = np.minimum(((np.arange(mh) + 0.5) / scale).astype(np.int64), H - 1)  # (mh,)
    cols = np.minimum(((np.arange(mw) + 0.5) / scale).astype(np.int64), W - 1)  # (mw,)
    cell = rows[:, None] * W + cols[None, :]  # (mh, mw) flat index within one map
    for c, t in zip(channels, tops, strict=True):
        y = t - top
        index[y:y + mh, left_pad:left_pad + mw] = c * H * W + cell
    return index


def _vector_index(D, s, per_row, width, height, left_pad):
    index = np.full((height, width), -1, dtype=np.int64)
    rows = math.ceil(D / per_row)
    units = np.arange(rows * per_row, dtype=np.int64).reshape(rows, per_row)
    units[units >= D] = -1
    block = np.repeat(np.repeat(units, s, axis=0), s, axis=1)  # (rows*s, per_row*s)
    h = min(block.shape[0], height)
    index[:h, left_pad:left_pad + block.shape[1]] = block[:h]
    return index


def make_layout(columns_info, width: int, height: int, page: int = 0,
                label_width: int = 0) -> Layout:
    """Lay out the columns for a canvas of at least ``width`` x ``height`` pixels.

    Parameters
    ----------
    columns_info : list of (layer, name, type, shape, params), the input first
    width, height : the space the widget offers (the canvas may be wider)
    page : which page of channels (clamped to the pages there are)
    label_width : pixels of the widest line of a column's label: no two labels touch
        (a label may reach half a gap into the gaps beside its column)
    """
    n = len(columns_info)
    band_top = MARGIN + HEADER
    band = max(THUMB_MIN, height - band_top - MARGIN)
    # horizontal: as wide a thumbnail as the width allows, never below THUMB_MIN
    usable = width - 2 * MARGIN - PROBS_WIDTH + GAP_X
    thumb_w = max(THUMB_MIN, min(THUMB_MAX, usable // max(n, 1) - GAP_X))
    column_min = max(0, int(label_width) - GAP_X + 6)
    # vertical: every channel of the tallest column at once if they fit at THUMB_MIN
    maps = [info for info in columns_info if len(info[3]) == 3]
    most = max((info[3][0] for info in maps), default=1)
    fit = (band + GAP_Y) // most - GAP_Y
    if fit >= THUMB_MIN:
        thumb, per_page, pages = min(thumb_w, fit), most, 1
    else:
        # as few pages as thumbnails of THUMB_MIN allow, each as large as that leaves
        pages = math.ceil(most / max(1, (band + GAP_Y) // (THUMB_MIN + GAP_Y)))
        per_page = math.ceil(most / pages)
        thumb = max(THUMB_MIN, min(thumb_w, THUMB_PAGED, (band + GAP_Y) // per_page - GAP_Y))
    page = min(max(0, int(page)), pages - 1)
    columns = []
    x = MARGIN
    for k, (layer, name, kind, shape, params) in enumerate(columns_info):
        shape = tuple(shape)
        if len(shape) == 3:
            col = _map_column(layer, name, kind, shape, params, x, thumb, band_top, band,
                              page, per_page, column_min)
        else:
            col = _vector_column(layer, name, kind, shape, params, x, thumb, band_top, band,
                                 k == n - 1, column_min)
        columns.append(col)
        x += col.width + GAP_X
    canvas_w = max(width, x - GAP_X + PROBS_WIDTH + MARGIN)
    return Layout(tuple(columns), int(canvas_w), int(band_top + band + MARGIN), page, pages,
                  per_page, thumb)


def _map_column(layer, name, kind, shape, params, x, thumb, top, band, page, per_page,
                column_min):
    C, H, W = shape
    scale = thumb / max(H, W)
    if scale >= 2:
        scale = float(math.floor(scale))  # whole pixels per cell: even cells, exact outlines
    map_size = (max(1, round(H * scale)), max(1, round(W * scale)))
    channels = tuple(range(page * per_page, min(C, (page + 1) * per_page)))
    pitch = thumb + GAP_Y
    tops = tuple(top + k * pitch + (thumb - map_size[0]) // 2 for k in range(len(channels)))
    width = max(thumb, map_size[1], column_min)
    left_pad = (width - map_size[1]) // 2
    index = _maps_index(shape, channels, scale, map_size, tops, top, width, left_pad, band)
    return Column(layer, name, kind, shape, params, "maps", x, width, top, band, channels,
                  tops, scale, map_size, 1, index)


def _vector_column(layer, name, kind, shape, params, x, thumb, top, band, output,
                   column_min):
    (D,) = shape
    s, per_row = _vector_strip(D, thumb, band, output)
    width = max(thumb, per_row * s, column_min)
    strip = (math.ceil(D / per_row) * s, per_row * s)
    left_pad = (width - strip[1]) // 2
    index = _vector_index(D, s, per_row, width, band, left_pad)
    return Column(layer, name, kind, shape, params, "vector", x, width, top, band, (), (),
                  float(s), strip, per_row, index)


# -------------------------------------------------------------------- lines

def _anchors(col: Column, side: str, channels=None) -> list[tuple[int | None, float, float]]:
    """(channel or None, x, y) points on a column's ``side`` ("left"/"right") edge."""
    x = col.map_left if side == "left" else col.map_left + col.map_size[1]
    if col.kind == "maps":
        shown = col.channels if channels is None else [c for c in channels if c in col.channels]
        return [(c, x, col.thumb_tops[col.channels.index(c)] + col.map_size[0] / 2)
                for c in shown]
    return [(None, x, col.top + col.map_size[0] / 2)]


def _pairs(a, b) -> list:
    return [((xa, ya), (xb, yb)) for _, xa, ya in a for _, xb, yb in b]


def connection_lines(layout: Layout, field_regions=None):
    """Line segments between the columns.

    Returns
    -------
    faint : (n, 2, 2) float array of segments: which maps feed which (one to one
        through pooling, batch norm and activations; every map to every map into a
        conv layer when that is few enough lines; each map to its part of a flatten)
    strong : (m, 2, 2): the selected neuron's path (the channels of its receptive
        field on each layer), empty without a selection
    """
    faint, strong = [], []
    cols = layout.columns
    for prev, col in zip(cols[:-1], cols[1:], strict=True):
        faint.extend(_faint_between(prev, col))
    if field_regions:
        by_layer = {r.layer: r for r in field_regions}
        for prev, col in zip(cols[:-1], cols[1:], strict=True):
            if prev.layer in by_layer and col.layer in by_layer:
                strong.extend(_strong_between(prev, col, by_layer[prev.layer],
                                              by_layer[col.layer]))
    return _as_segments(faint), _as_segments(strong)


def _as_segments(segs) -> np.ndarray:
    return np.asarray(segs, dtype=np.float64).reshape(-1, 2, 2)


def _faint_between(prev: Column, col: Column) -> list:
    right, left = _anchors(prev, "right"), _anchors(col, "left")
    if col.type == "flatten" and prev.kind == "maps":
        C, H, W = prev.shape
        out = []
        for c, x, y in right:
            y0, y1 = col.units_band(c * H * W, (c + 1) * H * W)
            out.append(((x, y), (col.map_left, (y0 + y1) / 2)))
        return out
    if prev.kind == "maps" and col.kind == "maps" and col.type != "conv":
        by_channel = {c: (x, y) for c, x, y in left}
        return [((x, y), by_channel[c]) for c, x, y in right if c in by_channel]
    if len(right) * len(left) <= MAX_FAINT_PAIRS:
        return _pairs(right, left)
    return []


def _strong_between(prev: Column, col: Column, r_prev: Region, r_col: Region) -> list:
    if col.type == "flatten" and prev.kind == "maps" and len(r_col.rows) == 1:
        (d,) = r_col.rows
        x, y, s, _ = col.unit_rect(d)
        return [((x0, y0), (x, y + s / 2))
                for _, x0, y0 in _anchors(prev, "right", r_prev.channels)]
    right = _anchors(prev, "right", r_prev.channels if prev.kind == "maps" else None)
    left = _anchors(col, "left", r_col.channels if col.kind == "maps" else None)
    if col.kind == "vector" and len(r_col.rows) == 1:
        x, y, s, _ = col.unit_rect(r_col.rows[0])
        left = [(None, x, y + s / 2)]
    if prev.kind == "maps" and col.kind == "maps" and col.type != "conv":
        by_channel = {c: (x, y) for c, x, y in left}
        return [((x, y), by_channel[c]) for c, x, y in right if c in by_channel]
    return _pairs(right, left)


def rect_segments(rects) -> np.ndarray:
    """(4n, 2, 2) segments outlining rectangles (x, y, w, h)."""
    segs = []
    for x, y, w, h in rects:
        a, b, c, d = (x, y), (x + w, y), (x + w, y + h), (x, y + h)
        segs.extend([(a, b), (b, c), (c, d), (d, a)])
    return _as_segments(segs)
