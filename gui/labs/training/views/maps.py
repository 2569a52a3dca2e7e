"""Images: a probe digit, the first layer's kernels, every layer's feature and delta maps.

Images use ``axisOrder="row-major"`` (row, column) like numpy; heat maps are coloured
in ``engine.colour`` (one nogil kernel call per layer) and handed over as RGBA.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from engine.colour import ColourMapper, colour_map_into
from engine.i18n import tr
from gui.labs.training.arrays import as_image, grid_shape, index_image, mosaic
from gui.labs.training.session import TextThrottle
from gui.labs.training.views._common import (
    BACKGROUND,
    DIVERGING,
    GREYS,
    FitsTitles,
    image_box,
    image_item,
    set_picture,
    titled_image,
)

__all__ = ["ImageView", "KernelMosaicView", "LayerMapsView"]


class ImageView(FitsTitles, pg.GraphicsLayoutWidget):
    """One titled image (a probe digit), greys in [0, 1].

    The title is a msgid and its values (``set_title``), so that :meth:`retranslate`
    can show it again in another language."""

    def __init__(self, title: str = "", parent=None, **values):
        super().__init__(parent)
        self.label, self.view, self.item = titled_image(self, GREYS)
        self._title = (title, values)
        self.retranslate()

    def retranslate(self) -> None:
        msgid, values = self._title
        self.label.setText(tr(msgid).format(**values) if msgid else "", color="#222")
        self.fit_titles()

    def _titles(self):
        return [(self.label, None)]

    def title(self) -> str:
        return self.label.text

    def set_title(self, msgid: str, **values) -> None:
        """Show ``tr(msgid).format(**values)`` above the image."""
        if (msgid, values) != self._title:
            self._title = (msgid, values)
            self.retranslate()

    def set_image(self, image: np.ndarray) -> None:
        """image : (H, W) or (C, H, W) in [0, 1]: grey, or colour when C = 3."""
        set_picture(self.item, image)
        self.view.autoRange(padding=0.02)


class KernelMosaicView(FitsTitles, pg.GraphicsLayoutWidget):
    """The first conv layer's kernels, one tile each, in the diverging map
    (red positive, blue negative, white zero, levels +-max|w|).

    The mosaic is coloured by ``engine.colour`` (as the layer maps are) and handed
    over as RGBA, which skips pyqtgraph's per-paint lookup-table pass; a frame that
    changes no colour changes nothing, and while training runs the label's max |w| is
    rewritten on every ``LABEL_EVERY``-th update only (rich-text layout is slow)."""

    LABEL_EVERY = 5

    def __init__(self, parent=None):
        super().__init__(parent)
        self.label, self.view, self.item = titled_image(self)  # fed RGBA: no lookup table
        self.levels = (-1.0, 1.0)
        self._tiles: np.ndarray | None = None  # (F*C, KH, KW) last shown
        self._cols: int | None = None
        self._index: np.ndarray | None = None  # (h, w) flat index of each mosaic pixel, -1 gaps
        self._text = ""
        self._label_throttle = TextThrottle(self.LABEL_EVERY)
        self.retranslate()

    def retranslate(self) -> None:
        """Set the label in the current language (from the kernels last shown)."""
        if self._tiles is None:
            text = tr("First layer kernels")
        else:
            F, C, KH, KW = self._kernel_shape
            text = (tr("First layer: {n} kernels {shape}").format(n=F, shape=f"{C}×{KH}×{KW}")
                    + "<br>" + tr("max |w| = {value}").format(value=f"{self.levels[1]:.2f}"))
        if text != self._text:  # rich-text layout and repaint only when it reads differently
            self._text = text
            self.label.setText(text, color="#222")
            self.fit_titles()

    def _titles(self):
        return [(self.label, None)]

    @property
    def values(self) -> np.ndarray | None:
        """The float mosaic shown, NaN in the gaps."""
        return None if self._tiles is None else mosaic(self._tiles, cols=self._cols)

    def set_kernels(self, kernels: np.ndarray, live: bool = False) -> None:
        """kernels : (F, C, KH, KW); tiles of C channels side by side per filter row.
        ``live``: more frames follow soon (training runs): the label may wait."""
        F, C, KH, KW = kernels.shape
        # (F, C, KH, KW) -> (F*C, KH, KW): each filter's channels next to each other
        tiles = np.asarray(kernels, dtype=np.float32).reshape(F * C, KH, KW)
        cols = C * grid_shape(F)[1] if C > 1 else None
        new_shape = self._tiles is None or self._tiles.shape != tiles.shape
        if new_shape:
            positions = np.arange(tiles.size, dtype=np.int64).reshape(tiles.shape)
            self._index = mosaic(positions, cols=cols, fill=-1)
        self._tiles, self._cols, self._kernel_shape = tiles, cols, (F, C, KH, KW)
        rgba = np.empty(self._index.shape + (4,), np.uint8)  # (h, w, 4)
        self.levels, _ = colour_map_into(rgba.view(np.uint32)[..., 0], tiles, self._index,
                                         DIVERGING, DIVERGING, signed="always")
        shown = self.item.image
        if shown is None or not np.array_equal(shown, rgba):  # late in training most
            self.item.setImage(rgba, autoLevels=False, levels=None)  # frames change no colour
        if self._label_throttle.due(live) or new_shape:
            self.retranslate()
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

    Labels (name, shape, largest value) are text in screen pixels over a canvas that
    is scaled to the widget: when the view is small, the band above a square holds
    fewer lines, so a label keeps only the lines that fit (name, then shape, then the
    value; none at all when not even the name fits) and never covers a square; when
    the labels are wider than a square's pitch on the screen, the row of squares wraps
    into fewer columns (at most ``columns``), and lines go until the labels fit side by
    side, so two labels never run into each other.
    """

    CELL = 96  # canvas pixels per layer square at least (more if a mosaic is larger)
    GAP = 12  # canvas pixels between squares
    LABEL = 40  # canvas pixels of the band above each square for its label, at least
    # the label text (the max value) is rewritten on every 10th update only, twice a second
    # at 21 frames/s: the rich-text layout of seven labels costs as much as colouring them
    LABEL_EVERY = 10
    MAX_LINES = 3

    def __init__(self, signed: str = "auto", columns: int = 8, parent=None):
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        self._signed = signed
        self._max_columns = columns  # the columns asked for; fewer when labels need room
        self._columns = columns
        self.view = self.addViewBox(row=0, col=0, enableMenu=False)
        image_box(self.view)
        self.item = image_item()  # fed the RGBA canvas: no lookup table
        self.view.addItem(self.item)
        self._cells: dict[str, dict] = {}
        self._cell = self.CELL
        self._canvas = np.zeros((1, 1, 4), np.uint8)
        self._canvas32 = self._canvas.view(np.uint32)[..., 0]
        self._label_throttle = TextThrottle(self.LABEL_EVERY)
        self._lines = self.MAX_LINES  # label lines that fit the band at the current scale
        self._band = self.LABEL  # canvas pixels of the label band above each square
        self._fitting = False  # laying out again: ignore the transform changes it makes
        self._line_heights: dict[int, float] = {}  # lines -> label height in pixels
        self._widths: dict[str, float] = {}  # label html -> its width in screen pixels
        self.view.sigTransformChanged.connect(self._fit_labels)

    def retranslate(self) -> None:
        """Re-set every label in the current language."""
        for cell in self._cells.values():
            self._show_label(cell)

    def build(self, layers) -> None:
        """layers : list of (name, per-sample output shape)."""
        for cell in self._cells.values():
            self.view.removeItem(cell["label"])
        self._cells.clear()
        # squares big enough that no layer loses a pixel (only ever scaled up)
        self._cell = max([self.CELL] + [max(as_image(np.zeros(shape, np.float32)).shape)
                                        for _name, shape in layers])
        for name, _shape in layers:
            label = pg.TextItem(anchor=(0.5, 1.0), color="#222")
            # the labels sit inside the canvas, which changes every frame: drawn from a
            # cached pixmap, rich text costs its layout only when it is rewritten
            label.textItem.setCacheMode(label.textItem.CacheMode.DeviceCoordinateCache)
            self.view.addItem(label)
            self._cells[name] = {"name": name, "label": label, "array": None,
                                 "top_value": None, "html": None}
        self._lay_out()

    def _lay_out(self) -> None:
        """Place every square under its label band (``self._band`` canvas pixels) on a new
        canvas, and draw the maps last shown again."""
        count = len(self._cells)
        rows, cols = math.ceil(count / self._columns) if count else 1, min(count, self._columns)
        pitch_y, pitch_x = self._band + self._cell + self.GAP, self._cell + self.GAP
        # (rows*pitch_y, cols*pitch_x, 4) RGBA, transparent where nothing is drawn
        self._canvas = np.zeros((max(rows * pitch_y - self.GAP, 1),
                                 max(cols * pitch_x - self.GAP, 1), 4), np.uint8)
        self._canvas32 = self._canvas.view(np.uint32)[..., 0]  # (rows, cols): the same memory
        for k, cell in enumerate(self._cells.values()):
            row, col = divmod(k, self._columns)
            top, left = row * pitch_y + self._band, col * pitch_x
            cell["label"].setPos(left + self._cell / 2, top - 2)
            cell.update(square=(top, left), top=top, left=left, shape=None, array_shape=None,
                        rows=None, cols=None)
            self._show_label(cell)
        self.item.setImage(self._canvas, autoLevels=False, levels=None)
        shown = [(name, cell["array"]) for name, cell in self._cells.items()
                 if cell["array"] is not None]
        if shown:
            self.update_maps(shown)
        self.view.autoRange(items=[self.item], padding=0.02)  # the labels sit inside it
        self._fit_labels()

    # -- labels -----------------------------------------------------------------
    def _label_lines(self, cell: dict) -> list[str]:
        lines = [f"<b>{cell['name']}</b>"]
        if cell["array_shape"] is not None:
            lines.append("×".join(map(str, cell["array_shape"])))
            if cell["top_value"] is not None:
                lines.append(tr("max {value}").format(value=f"{cell['top_value']:.2g}"))
        return lines

    def _show_label(self, cell: dict) -> None:
        lines = self._label_lines(cell)[:self._lines]
        html = "<br>".join(lines)
        if html != cell["html"]:  # rich-text layout only when the label reads differently
            cell["html"] = html
            label = cell["label"]
            label.setHtml(_label_html(html))
            label.setVisible(bool(lines))

    def _line_height(self, lines: int) -> float:
        """Pixels a label of ``lines`` lines takes (measured once per count)."""
        if lines not in self._line_heights:
            probe = pg.TextItem()
            probe.setHtml(_label_html("<br>".join(["Xg"] * lines)))
            self._line_heights[lines] = probe.textItem.boundingRect().height()
        return self._line_heights[lines]

    def _fit_labels(self, *_) -> None:
        """Keep as many label lines as the band above a square holds at this scale,
        after widening the band when the canvas has room to grow (the view is as
        wide as the canvas and leaves empty rows above and below it)."""
        width, _height = self.view.viewPixelSize()  # canvas pixels per screen pixel
        if not width or not math.isfinite(width) or self._fitting:
            return
        band = self._band_for(width)
        if band != self._band:
            self._band = band
            self._fitting = True  # the new canvas changes the view's transform
            try:
                self._lay_out()
            finally:
                self._fitting = False
            width, _height = self.view.viewPixelSize()
        columns = self._columns_for_labels()
        if columns != self._columns:  # labels side by side need a wider pitch: wrap
            self._columns = columns
            self._fitting = True
            try:
                self._lay_out()
            finally:
                self._fitting = False
            width, _height = self.view.viewPixelSize()
        room = (self._band - 2 + self.GAP) / width  # screen pixels above a square's top
        pitch = (self._cell + self.GAP) / width  # screen pixels between squares' centres
        lines = self.MAX_LINES
        while lines > 0 and (self._line_height(lines) > room or
                             (len(self._cells) > 1 and self._widest(lines) > pitch - 4)):
            lines -= 1
        if lines != self._lines:
            self._lines = lines
            for cell in self._cells.values():
                self._show_label(cell)

    def _widest(self, lines: int) -> float:
        """Screen pixels of the widest label of ``lines`` lines (measured once per text)."""
        widest = 0.0
        for cell in self._cells.values():
            html = "<br>".join(self._label_lines(cell)[:lines])
            if html not in self._widths:
                probe = pg.TextItem()
                probe.setHtml(_label_html(html))
                self._widths[html] = probe.textItem.boundingRect().width()
            widest = max(widest, self._widths[html])
        return widest

    def _columns_for_labels(self) -> int:
        """The most columns (at most those asked for) at which the whole labels fit side
        by side at the scale the canvas would get in the view; else the columns that give
        the widest pitch (the labels then keep fewer lines)."""
        count = len(self._cells)
        view_w, view_h = self.view.width(), self.view.height()
        if count < 2 or view_w <= 0 or view_h <= 0:
            return self._columns
        need = self._widest(self.MAX_LINES) + 4
        best, best_pitch = self._columns, 0.0
        for cols in range(min(self._max_columns, count), 0, -1):
            rows = math.ceil(count / cols)
            canvas_w = (cols * (self._cell + self.GAP) - self.GAP) * 1.04  # autoRange pads
            canvas_h = (rows * (self._band + self._cell + self.GAP) - self.GAP) * 1.04
            pitch = (self._cell + self.GAP) * min(view_w / canvas_w, view_h / canvas_h)
            if pitch >= need:
                return cols
            if pitch > best_pitch + 0.5:
                best, best_pitch = cols, pitch
        return best

    def _band_for(self, width: float) -> int:
        """The band (canvas pixels, at least LABEL) that holds every label line at a scale
        of ``width`` canvas pixels per screen pixel, if the taller canvas still fits the
        view's height at that scale; else the current band."""
        need = math.ceil((self._line_height(self.MAX_LINES) + 2) * width) - self.GAP + 2
        band = max(self.LABEL, need)
        if abs(band - self._band) <= 2:
            return self._band  # no relayout for a pixel or two
        count = len(self._cells)
        rows = math.ceil(count / self._columns) if count else 1
        height = (rows * (band + self._cell + self.GAP) - self.GAP) * 1.04  # autoRange pads
        if band > self._band and height / width > self.view.height():
            return self._band  # a taller canvas would shrink: keep fewer lines instead
        return band

    def label_lines(self) -> int:
        """How many lines the labels show at the current size (0: hidden)."""
        return self._lines

    def square_rect(self, name: str):
        """The drawn mosaic of layer ``name`` in canvas coordinates: (x, y, w, h) or None."""
        cell = self._cells[name]
        if cell["rows"] is None:
            return None
        return (cell["left"], cell["top"], cell["cols"].shape[0], cell["rows"].shape[0])

    def label_item(self, name: str) -> pg.TextItem:
        return self._cells[name]["label"]

    # -- maps -------------------------------------------------------------------
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
        # checked once here, not on every frame
        cell["mapper"] = ColourMapper(
            self._canvas32[cell["top"]:cell["top"] + oh, cell["left"]:cell["left"] + ow],
            cell["index_map"], DIVERGING, GREYS, self._signed)

    def clear_maps(self) -> None:
        """Show no maps (the labels keep only the layer names)."""
        self._canvas[...] = 0
        for cell in self._cells.values():
            cell.update(array=None, array_shape=None, top_value=None, rows=None, cols=None,
                        shape=None)
            self._show_label(cell)
        self.item.setImage(self._canvas, autoLevels=False, levels=None)

    def update_maps(self, named_arrays, live: bool = False) -> None:
        """Colour every layer's values into its square. ``live``: more frames follow
        soon (training runs), so the labels' values may wait for every LABEL_EVERY-th."""
        relabel = self._label_throttle.due(live)
        for name, array in named_arrays:
            cell = self._cells.get(name)
            if cell is None:
                continue
            new_shape = cell["array_shape"] != np.shape(array)
            if new_shape:
                self._place(cell, np.shape(array))
            cell["array"] = array  # the values shown (tests read them)
            # one call per layer into a kernel that does not hold the interpreter lock
            # (thirty small numpy calls per layer did, stalling the training thread)
            levels, _signed = cell["mapper"].colour(array)
            if relabel or new_shape:  # rich-text layout is slow; twice a second is readable
                cell["top_value"] = max(abs(levels[0]), levels[1])
                self._show_label(cell)
        # one image for every layer: one upload and one drawImage per frame
        self.item.setImage(self._canvas, autoLevels=False, levels=None)


def _label_html(html: str) -> str:
    return f'<div style="text-align:center; color:#222; font-size:8pt">{html}</div>'
