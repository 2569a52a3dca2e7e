"""The settings column of the Convolution lab: the input, the filters, the geometry.

``ConvSettings`` owns the numbers and says ``changed()`` whenever one of them
moves; ``setup()`` returns the arrays to convolve. It never computes a
convolution. Typed values that are not numbers, or outside a control's range, are
refused in place (the cell goes back to its old value) and explained there and
through ``message(str)``. A photo of any size can be cropped (a 1x801 strip gives a
1x1 crop); a large photo file is read in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QSignalBlocker
from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QWidget,
)

from engine.i18n import tr, tr_noop
from gui.labs._base import SteppingSettings, digit_name, geometry_rows, title_kernel_items
from gui.labs.convolution import inputs
from gui.labs.convolution.presets import PRESETS
from gui.widgets import images as photos
from gui.widgets.form_rows import (
    TypedGridPage,
    double_spin,
    int_spin,
    pair_row,
)
from gui.widgets.images import ImageLoader, ScaledImage
from gui.widgets.number_grid import NumberGrid
from gui.widgets.texts import Texts

__all__ = ["ConvSetup", "ConvSettings", "NumberGrid", "CHANNEL_NAMES"]

CHANNEL_NAMES = ("R", "G", "B")
SOURCES = (("typed", tr_noop("Typed numbers")), ("digit", tr_noop("MNIST digit")),
           ("photo", tr_noop("Photo crop")))
CHANNEL_CHOICES = ((1, tr_noop("1 (grey)")), (3, tr_noop("3 (RGB)")))


@dataclass(frozen=True)
class ConvSetup:
    """Everything one convolution needs, as the settings stand.

    Attributes
    ----------
    x : ndarray (1, C, H, W) float64
    w : ndarray (F, C, KH, KW) float64
    b : ndarray (F,) float64
    stride, padding : (h, w) pairs
    kind : {"typed", "digit", "photo"}
    description : str
        One line naming the input, e.g. "MNIST digit #12 (a 3)" (translated).
    """

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]
    kind: str
    description: str




class ConvSettings(SteppingSettings):
    """Input, filter and geometry settings of the Convolution lab.

    Signals
    -------
    changed()
        Some number changed; call ``setup()`` for the new arrays.
    message(str)
        A sentence for the status bar (a refused value, a missing file).
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._grid_store = inputs.default_grid()
        self._w_store, self._b_store = inputs.default_kernels()
        self._rng = np.random.default_rng(0)
        self._photos: dict[str, np.ndarray] = {}
        self._loader = ImageLoader(self)
        self._loader.loaded.connect(self._on_photo_loaded)
        self._loader.failed.connect(lambda _path, text: self.message.emit(text))
        self._after_load: Callable[[], None] | None = None
        self.texts = Texts()
        self._stack(self._build_input_group(), self._build_filter_group())
        self._sync_all()
        self.retranslate()

    # ------------------------------------------------------------ building
    def _build_input_group(self) -> QGroupBox:
        t = self.texts
        box = t.group(tr_noop("Input"))
        form = QFormLayout(box)
        self.source_box = t.combo(SOURCES, tr_noop("What the kernel slides over"))
        self.channels_box = t.combo(CHANNEL_CHOICES, tr_noop(
            "With 3 channels every filter has one kernel slice per channel and the three "
            "partial sums are added"))
        form.addRow(t.label(tr_noop("Source")), self.source_box)
        form.addRow(t.label(tr_noop("Channels")), self.channels_box)
        # the course's worked examples: typed numbers, filters and geometry in one go
        self.preset_box = t.combo([(p.key, p.title) for p in PRESETS], tr_noop(
            "The course's worked examples: input, filters, stride and padding together"))
        self.preset_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.preset_box.setMinimumContentsLength(12)
        self.preset_button = QPushButton()
        t(self.preset_button.setText, tr_noop("Load"))
        form.addRow(t.label(tr_noop("Course example")),
                    pair_row(self.preset_box, self.preset_button, ""))

        # one page per source, only the current one visible (a QStackedWidget would keep
        # the tallest page's height and leave a hole under the short ones)
        self.source_pages = [self._build_typed_page(), self._build_digit_page(),
                             self._build_photo_page()]
        for page in self.source_pages:
            form.addRow(page)
        form.addRow(self.photo_note)  # "Reading big.png…", whatever page is shown
        self._show_page(0)

        self.source_box.currentIndexChanged.connect(self._on_source)
        self.channels_box.currentIndexChanged.connect(self._on_channels)
        return box

    def _build_typed_page(self) -> QWidget:
        page = TypedGridPage(inputs.GRID_MIN, inputs.GRID_MAX, 7,
                             tr_noop("Fill this channel with random whole numbers"))
        self.typed_page = page
        self.rows_spin, self.cols_spin = page.rows_spin, page.cols_spin
        self.grid_table = page.grid_table
        self.grid_random_button, self.grid_reset_button = page.random_button, page.reset_button
        self.grid_channel_box = QComboBox()
        self.grid_channel_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.texts(self.grid_channel_box.setToolTip, tr_noop("The channel the grid below edits"))
        page.size_row.addWidget(self.grid_channel_box)

        self.rows_spin.valueChanged.connect(self._on_grid_size)
        self.cols_spin.valueChanged.connect(self._on_grid_size)
        self.grid_channel_box.currentIndexChanged.connect(self._show_grid)
        self.grid_table.values_edited.connect(self._on_grid_edited)
        self.grid_table.rejected.connect(self.message)
        self.grid_random_button.clicked.connect(self._on_grid_random)
        self.grid_reset_button.clicked.connect(self._on_grid_reset)
        return page

    def _build_digit_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        self.digit_spin = int_spin(0, 8999, 0)
        self.texts(self.digit_spin.setToolTip, tr_noop("Which of the embedded MNIST digits"))
        self.digit_label = QLabel("")
        form.addRow(self.texts.label(tr_noop("Digit #")), self.digit_spin)
        form.addRow("", self.digit_label)
        self.digit_spin.valueChanged.connect(self._emit_changed)
        return page

    def _build_photo_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        t = self.texts
        self.photo_box = QComboBox()
        photos.add_photo_items(self.photo_box)
        self.crop_spin = int_spin(8, 32, 16)
        t(self.crop_spin.setToolTip, tr_noop(
            "Side of the square crop, in pixels of the photo shrunk to {side} pixels"),
          side=inputs.PHOTO_SIDE)
        self.top_spin = int_spin(0, inputs.PHOTO_SIDE, 24)
        self.left_spin = int_spin(0, inputs.PHOTO_SIDE, 40)
        t(self.top_spin.setToolTip, tr_noop("Top row of the crop"))
        t(self.left_spin.setToolTip, tr_noop("Left column of the crop"))
        for spin in (self.top_spin, self.left_spin):
            t(spin.set_range_reason, tr_noop("the crop stays inside the photo"))
        self.photo_note = QLabel("")  # "Reading big.png …" while a large file loads
        self.photo_note.setWordWrap(True)
        self.photo_note.hide()
        form.addRow(t.label(tr_noop("Photo")), self.photo_box)
        form.addRow(t.label(tr_noop("Crop size")), self.crop_spin)
        form.addRow(t.label(tr_noop("Top, left")), pair_row(self.top_spin, self.left_spin, ","))
        for w in (self.crop_spin, self.top_spin, self.left_spin):
            w.valueChanged.connect(self._emit_changed)
        self.photo_box.currentIndexChanged.connect(self._on_photo_chosen)
        return page

    def _build_filter_group(self) -> QGroupBox:
        t = self.texts
        box = t.group(tr_noop("Filters"))
        form = QFormLayout(box)
        self.filters_spin = int_spin(1, inputs.MAX_FILTERS, 1)
        t(self.filters_spin.setToolTip, tr_noop("How many filters (output maps)"))
        form.addRow(t.label(tr_noop("Filters")), self.filters_spin)
        (self.kh_spin, self.kw_spin, self.sh_spin, self.sw_spin, self.ph_spin,
         self.pw_spin) = geometry_rows(form, t, kernel=(inputs.MAX_KERNEL, 3), stride=(4, 1))
        t(self.kh_spin.set_range_reason, tr_noop("the lab shows kernels up to 7×7"))
        t(self.kw_spin.set_range_reason, tr_noop("the lab shows kernels up to 7×7"))

        self.edit_filter_box = QComboBox()
        t(self.edit_filter_box.setToolTip, tr_noop("The filter the grid below edits"))
        self.edit_channel_box = QComboBox()
        self.edit_channel_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        t(self.edit_channel_box.setToolTip, tr_noop("The channel slice of that filter"))
        form.addRow(t.label(tr_noop("Edit")),
                    pair_row(self.edit_filter_box, self.edit_channel_box, ""))
        self.kernel_table = self._number_grid(self._on_kernel_edited)
        t(self.kernel_table.setToolTip, tr_noop("Type the kernel values cell by cell"))
        form.addRow(self.kernel_table)
        self.bias_spin = double_spin(-99.0, 99.0, 0.0, 2, 0.1)
        t(self.bias_spin.setToolTip, tr_noop("Added to every output value of this filter"))
        form.addRow(t.label(tr_noop("Bias")), self.bias_spin)
        self.gallery_box = QComboBox()
        self.gallery_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.gallery_box.setMinimumContentsLength(10)
        t(self.gallery_box.setToolTip, tr_noop(
            "A classic named kernel for the filter being edited (all its channels); sets the "
            "kernel size to the gallery's"))
        self._gallery = inputs.gallery_kernels()
        for name in self._gallery:
            self.gallery_box.addItem(name, name)
        t.call(lambda: title_kernel_items(self.gallery_box))
        self.gallery_button = QPushButton()
        t(self.gallery_button.setText, tr_noop("Use"))
        self.random_button = QPushButton()
        t(self.random_button.setText, tr_noop("Randomise all filters"))
        form.addRow(t.label(tr_noop("Gallery")),
                    pair_row(self.gallery_box, self.gallery_button, ""))
        form.addRow(self.random_button)

        for s in (self.filters_spin, self.kh_spin, self.kw_spin):
            s.valueChanged.connect(self._on_filter_shape)
        for s in (self.sh_spin, self.sw_spin, self.ph_spin, self.pw_spin):
            s.valueChanged.connect(self._emit_changed)
        self.edit_filter_box.currentIndexChanged.connect(self._show_kernel)
        self.edit_channel_box.currentIndexChanged.connect(self._show_kernel)
        self.bias_spin.valueChanged.connect(self._on_bias)
        self.gallery_button.clicked.connect(self._on_gallery)
        self.random_button.clicked.connect(self._on_random)
        return box

    # ------------------------------------------------------------- reading
    @property
    def source(self) -> str:
        return self.source_box.currentData()

    @property
    def channels(self) -> int:
        return int(self.channels_box.currentData())

    @property
    def filters(self) -> int:
        return self.filters_spin.value()

    def setup(self) -> ConvSetup:
        """The arrays to convolve now (see ``ConvSetup``)."""
        C, F = self.channels, self.filters
        KH, KW = self.kh_spin.value(), self.kw_spin.value()
        x, description, kind = self._input(C)
        w = self._w_store[:F, :C, :KH, :KW].copy()
        b = self._b_store[:F].copy()
        return ConvSetup(x[None], w, b, (self.sh_spin.value(), self.sw_spin.value()),
                         (self.ph_spin.value(), self.pw_spin.value()), kind, description)

    def _input(self, C: int) -> tuple[np.ndarray, str, str]:
        """(x (C, H, W), description, kind); the typed grid if a file cannot be read."""
        kind = self.source
        if kind == "digit" and self._load_digits():
            index = self.digit_spin.value()
            label = int(self._digit_labels[index])
            text = (tr("MNIST digit #{index}, {digit} (its grey copied to R, G and B)")
                    if C == 3 else tr("MNIST digit #{index}, {digit}"))
            return inputs.digit_input(self._digits, index, C), \
                text.format(index=index, digit=digit_name(label)), kind
        if kind == "photo":
            photo = self._load_photo()
            if photo is not None:
                crop = inputs.photo_crop(photo, self.top_spin.value(), self.left_spin.value(),
                                         self.crop_spin.value(), C)
                h, w = crop.shape[1:]
                return crop, tr("{photo} photo, {w}×{h} crop").format(
                    photo=self.photo_box.currentText(), w=w, h=h), kind
        rows, cols = self.rows_spin.value(), self.cols_spin.value()
        return inputs.grid_from_store(self._grid_store, C, rows, cols), \
            tr("typed numbers {rows}×{cols}").format(rows=rows, cols=cols), "typed"

    def add_photo(self, path: str, done: Callable[[], None] | None = None) -> None:
        """Load a photo file, add it to the photo list and crop it (``done()`` then).

        A large file is read in a worker thread: the column says so meanwhile, and a
        file that turns out unreadable is reported through ``message``.

        Raises
        ------
        ValueError
            (an ImageFileError) if the file is missing; nothing changes.
        """
        self._after_load = done
        if not self._loader.load(str(path), inputs.PHOTO_SIDE):
            self.photo_note.setText(tr("Reading {name}…").format(name=Path(path).name))
            self.photo_note.show()

    def _on_photo_loaded(self, photo: ScaledImage) -> None:
        self.photo_note.hide()
        self._photos[photo.path] = photo.image
        index = self.photo_box.findData(photo.path)
        with self._quiet():
            if index < 0:
                self.photo_box.addItem(Path(photo.path).name, photo.path)
                index = self.photo_box.count() - 1
            self.photo_box.setCurrentIndex(index)
            self.source_box.setCurrentIndex([k for k, _ in SOURCES].index("photo"))
        self._emit_changed()
        done, self._after_load = self._after_load, None
        if done is not None:
            done()

    def _read_photo(self, path: str) -> np.ndarray:
        if path not in self._photos:
            from gui.widgets.images import load_scaled

            self._photos[path] = load_scaled(path, inputs.PHOTO_SIDE).image
        return self._photos[path]

    def _load_photo(self) -> np.ndarray | None:
        path = self.photo_box.currentData()
        if path is None:
            self.message.emit(tr("No sample photographs were found"))
            return None
        try:
            photo = self._read_photo(path)
        except ValueError as err:
            self.message.emit(str(err))
            return None
        h, w = photo.shape[:2]
        size = min(self.crop_spin.value(), h, w)
        with self._quiet():
            self.top_spin.setMaximum(h - size)
            self.left_spin.setMaximum(w - size)
        return photo

    # ------------------------------------------------------------ syncing
    def retranslate(self) -> None:
        self.texts.apply()
        self.typed_page.retranslate()
        photos.title_photo_items(self.photo_box)
        with self._quiet():
            self._sync_channel_boxes()
            self._sync_filter_boxes()
        super().retranslate()

    def _sync_all(self):
        with self._quiet():
            self._sync_channel_boxes()
            self._sync_filter_boxes()
            self._sync_padding_range()
            self._show_grid()
            self._show_kernel()

    def _sync_channel_boxes(self):
        C = self.channels
        for box in (self.grid_channel_box, self.edit_channel_box):
            keep = min(box.currentIndex(), C - 1)
            with QSignalBlocker(box):
                box.clear()
                if C == 1:
                    box.addItem(tr("grey"), 0)
                else:
                    for c in range(C):
                        box.addItem(tr("channel {name}").format(name=CHANNEL_NAMES[c]), c)
                box.setCurrentIndex(max(keep, 0))
                box.setVisible(C > 1)

    def _sync_filter_boxes(self):
        F = self.filters
        box = self.edit_filter_box
        keep = min(box.currentIndex(), F - 1)
        with QSignalBlocker(box):
            box.clear()
            for f in range(F):
                box.addItem(tr("filter {number}").format(number=f + 1), f)
            box.setCurrentIndex(max(keep, 0))

    def _sync_padding_range(self):
        # padding 0..K-1: more would add windows that see nothing but zeros
        self.ph_spin.setMaximum(self.kh_spin.value() - 1)
        self.pw_spin.setMaximum(self.kw_spin.value() - 1)

    def _show_grid(self, *_):
        c = max(self.grid_channel_box.currentIndex(), 0)
        rows, cols = self.rows_spin.value(), self.cols_spin.value()
        self.grid_table.set_values(self._grid_store[c, :rows, :cols])

    def _show_kernel(self, *_):
        f = max(self.edit_filter_box.currentIndex(), 0)
        c = max(self.edit_channel_box.currentIndex(), 0)
        KH, KW = self.kh_spin.value(), self.kw_spin.value()
        self.kernel_table.set_values(self._w_store[f, c, :KH, :KW])
        with QSignalBlocker(self.bias_spin):
            self.bias_spin.setValue(float(self._b_store[f]))

    # ------------------------------------------------------------ reacting
    def _show_page(self, index: int):
        for k, page in enumerate(self.source_pages):
            page.setVisible(k == index)

    def _on_photo_chosen(self, *_):
        """A picture no larger than the largest crop (the course's sample) is shown whole."""
        photo = None if self.quiet else self._load_photo()  # scripts set their own crop
        if photo is not None and max(photo.shape[:2]) <= self.crop_spin.maximum():
            with self._quiet():
                self.crop_spin.setValue(max(photo.shape[:2]))
                self.top_spin.setValue(0)
                self.left_spin.setValue(0)
        self._emit_changed()

    def _on_source(self, index: int):
        self._show_page(index)
        self._emit_changed()

    def _on_channels(self, *_):
        with self._quiet():
            self._sync_channel_boxes()
            self._show_grid()
            self._show_kernel()
        self._emit_changed()

    def _on_grid_size(self, *_):
        self._show_grid()
        self._emit_changed()

    def _on_grid_edited(self):
        c = max(self.grid_channel_box.currentIndex(), 0)
        self._store_edit(self._grid_store[c], self.grid_table)  # (H, W) view of channel c

    def _on_grid_random(self):
        c = max(self.grid_channel_box.currentIndex(), 0)
        rows, cols = self.rows_spin.value(), self.cols_spin.value()
        self._grid_store[c, :rows, :cols] = self._rng.integers(0, 10, size=(rows, cols))
        self._show_grid()
        self._emit_changed()

    def _on_grid_reset(self):
        self._grid_store = inputs.default_grid()
        self._show_grid()
        self._emit_changed()

    def _on_filter_shape(self, *_):
        with self._quiet():
            self._sync_filter_boxes()
            self._sync_padding_range()
            self._show_kernel()
        self._emit_changed()

    def _on_kernel_edited(self):
        f = max(self.edit_filter_box.currentIndex(), 0)
        c = max(self.edit_channel_box.currentIndex(), 0)
        self._store_edit(self._w_store[f, c], self.kernel_table)  # (KH, KW) view

    def _on_bias(self, value: float):
        self._b_store[max(self.edit_filter_box.currentIndex(), 0)] = value
        self._emit_changed()

    def _on_gallery(self):
        name = self.gallery_box.currentData()
        kernel = self._gallery.get(name)
        if kernel is None:
            return
        f = max(self.edit_filter_box.currentIndex(), 0)
        kh, kw = kernel.shape
        self._w_store[f] = 0.0
        self._w_store[f, :, :kh, :kw] = kernel  # the same slice on every channel
        with self._quiet():
            self.kh_spin.setValue(kh)
            self.kw_spin.setValue(kw)
            self._sync_padding_range()
            self._show_kernel()
        self.message.emit(tr("filter {number} is now the '{name}' kernel").format(
            number=f + 1, name=inputs.gallery_title(name)))
        self._emit_changed()

    def _on_random(self):
        self._w_store, self._b_store = inputs.random_kernels(self._rng)
        self._show_kernel()
        self._emit_changed()

    # ------------------------------------------------------------ scripted
    def reset_defaults(self) -> None:
        """The teaching default: 7x7 typed grid, 1 channel, one 3x3 vertical edge, S 1, P 1."""
        with self._quiet():
            self._grid_store = inputs.default_grid()
            self._w_store, self._b_store = inputs.default_kernels()
            self.source_box.setCurrentIndex(0)
            self._show_page(0)
            self.channels_box.setCurrentIndex(0)
            for spin, v in ((self.rows_spin, 7), (self.cols_spin, 7), (self.filters_spin, 1),
                            (self.kh_spin, 3), (self.kw_spin, 3), (self.sh_spin, 1),
                            (self.sw_spin, 1)):
                spin.setValue(v)
            self._sync_padding_range()
            self.ph_spin.setValue(1)
            self.pw_spin.setValue(1)
        self._sync_all()
        self._emit_changed()

    def apply(self, **values) -> None:
        """Set several settings at once and emit ``changed`` once (scripts, tests, screenshots).

        Keys: source ("typed" | "digit" | "photo"), channels, rows, cols, digit, photo,
        crop, top, left, filters, kernel (int or (KH, KW)), stride, padding (int or pair);
        grid (C, H, W) typed numbers (sets channels, rows and cols too), w (F, C, KH, KW)
        (sets filters and kernel; the rest of the bank is zeroed), b (F,).
        """
        values = dict(values)
        if "grid" in values:
            grid = np.asarray(values.pop("grid"), dtype=np.float64)
            self._grid_store[:] = 0.0
            self._grid_store[:grid.shape[0], :grid.shape[1], :grid.shape[2]] = grid
            values.setdefault("channels", grid.shape[0])
            values.setdefault("rows", grid.shape[1])
            values.setdefault("cols", grid.shape[2])
        if "w" in values:
            w = np.asarray(values.pop("w"), dtype=np.float64)
            self._w_store[:] = 0.0
            self._w_store[:w.shape[0], :w.shape[1], :w.shape[2], :w.shape[3]] = w
            values.setdefault("filters", w.shape[0])
            values.setdefault("kernel", w.shape[2:])
        if "b" in values:
            b = np.asarray(values.pop("b"), dtype=np.float64)
            self._b_store[:] = 0.0
            self._b_store[:b.shape[0]] = b
        with self._quiet():
            if "source" in values:
                keys = [k for k, _ in SOURCES]
                self.source_box.setCurrentIndex(keys.index(values["source"]))
            if "channels" in values:
                self.channels_box.setCurrentIndex(0 if values["channels"] == 1 else 1)
            spins = {"rows": self.rows_spin, "cols": self.cols_spin, "digit": self.digit_spin,
                     "crop": self.crop_spin, "top": self.top_spin, "left": self.left_spin,
                     "filters": self.filters_spin}
            for key, spin in spins.items():
                if key in values:
                    spin.setValue(int(values[key]))
            if "photo" in values:
                self.photo_box.setCurrentIndex(photos.find_photo(self.photo_box, values["photo"]))
            for key, (a, b) in (("kernel", (self.kh_spin, self.kw_spin)),
                                ("stride", (self.sh_spin, self.sw_spin))):
                if key in values:
                    h, w = (values[key], values[key]) if np.isscalar(values[key]) else values[key]
                    a.setValue(int(h))
                    b.setValue(int(w))
            self._sync_padding_range()
            if "padding" in values:
                p = values["padding"]
                ph, pw = (p, p) if np.isscalar(p) else p
                self.ph_spin.setValue(int(ph))
                self.pw_spin.setValue(int(pw))
        self._sync_all()
        self._emit_changed()
