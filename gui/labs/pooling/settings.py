"""The settings column of the Pooling lab: the kind of pooling, its geometry, the
input and the delta (dout) routed back.

``PoolSettings`` owns the numbers and says ``changed()`` whenever one of them moves;
``setup()`` returns what to pool and ``delta(HO, WO)`` the delta to route back. It
never pools anything. Typed values that are not numbers are refused in place and
explained through ``message(str)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.i18n import tr, tr_noop
from gui.labs._base import SteppingSettings, digit_name, title_kernel_items
from gui.widgets.form_rows import (
    TypedGridPage,
    button_row,
    int_spin,
    note_label,
    pair_row,
    push_button,
)
from gui.widgets.texts import Texts

__all__ = ["PoolSetup", "PoolSettings", "DEFAULT_GRID", "GRID_MIN", "GRID_MAX", "MAX_WINDOW",
           "MAX_STRIDE"]

GRID_MIN, GRID_MAX = 2, 10  # typed grids: every number readable
MAX_WINDOW = MAX_STRIDE = 4
DIGIT_SIDE = 28
SOURCES = (("typed", tr_noop("Typed numbers")), ("digit", tr_noop("MNIST digit")),
           ("feature", tr_noop("Feature map")))
MODES = (("max", tr_noop("Max pooling")), ("avg", tr_noop("Average pooling")))
FEATURE_KERNELS = ("vertical edge", "horizontal edge", "Sobel-X", "Sobel-Y", "sharpen")
DELTA_EDIT_MAX = 10  # a delta larger than this per side is not offered for typing

#: The 6x6 grid the lab starts with: distinct window maxima and one tie (two 6s in the
#: bottom-right 2x2 window), so the first-maximum rule shows up.
DEFAULT_GRID = np.array([
    [1, 3, 2, 0, 5, 1],
    [4, 6, 1, 2, 3, 7],
    [0, 2, 9, 4, 1, 0],
    [3, 1, 5, 8, 2, 6],
    [7, 2, 0, 1, 6, 3],
    [1, 5, 3, 2, 6, 2],
], dtype=np.float64)


@dataclass(frozen=True)
class PoolSetup:
    """One pooling, as the settings stand.

    Attributes
    ----------
    x : ndarray (1, 1, H, W) float64
    mode : {"max", "avg"}
    size, stride : (h, w) pairs
    kind : {"typed", "digit", "feature"}
    description : str
        One line naming the input, e.g. "typed numbers 6×6".
    """

    x: np.ndarray
    mode: str
    size: tuple[int, int]
    stride: tuple[int, int]
    kind: str
    description: str




def _default_grid_store() -> np.ndarray:
    """(GRID_MAX, GRID_MAX) whole numbers 0-9: the default pattern in the top-left corner."""
    store = np.random.default_rng(2).integers(0, 10, size=(GRID_MAX, GRID_MAX)).astype(float)
    store[:6, :6] = DEFAULT_GRID
    return store


def _default_delta_store() -> np.ndarray:
    """(28, 28) small positive whole numbers: easy to follow when they add up."""
    return np.random.default_rng(7).integers(1, 5, size=(DIGIT_SIDE, DIGIT_SIDE)).astype(float)


class PoolSettings(SteppingSettings):
    """Pooling kind and geometry, the input and the delta of the Pooling lab.

    Signals
    -------
    changed()
        Some number changed; call ``setup()`` and ``delta()`` for the new arrays.
    message(str)
        A sentence for the status bar (a refused value, a missing file).
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._grid_store = _default_grid_store()
        self._delta_store = _default_delta_store()
        self._rng = np.random.default_rng(0)
        self._delta_shape = (0, 0)
        self.texts = Texts()
        self._stack(self._build_pool_group(), self._build_input_group(),
                    self._build_delta_group())
        self._show_grid()
        self.retranslate()

    def retranslate(self) -> None:
        self.texts.apply()
        self.typed_page.retranslate()
        self._show_delta()
        super().retranslate()

    # ------------------------------------------------------------ building
    def _build_pool_group(self) -> QGroupBox:
        t = self.texts
        box = t.group(tr_noop("Pooling"))
        form = QFormLayout(box)
        self.mode_box = t.combo(MODES, tr_noop("Max keeps the largest value of each window, "
                                               "average its mean"))
        self.kh_spin = int_spin(1, MAX_WINDOW, 2)
        self.kw_spin = int_spin(1, MAX_WINDOW, 2)
        self.sh_spin = int_spin(1, MAX_STRIDE, 2)
        self.sw_spin = int_spin(1, MAX_STRIDE, 2)
        for spin, tip in ((self.kh_spin, tr_noop("Window height KH")),
                          (self.kw_spin, tr_noop("Window width KW")),
                          (self.sh_spin, tr_noop("Vertical stride SH: rows the window jumps "
                                                 "(smaller than KH: windows overlap)")),
                          (self.sw_spin, tr_noop("Horizontal stride SW: columns the window "
                                                 "jumps (smaller than KW: windows overlap)"))):
            t(spin.setToolTip, tip)
            t(spin.set_range_reason, tr_noop("the lab shows windows and strides up to 4"))
        form.addRow(t.label(tr_noop("Kind")), self.mode_box)
        form.addRow(t.label(tr_noop("Window (h × w)")), pair_row(self.kh_spin, self.kw_spin))
        form.addRow(t.label(tr_noop("Stride (h × w)")), pair_row(self.sh_spin, self.sw_spin))
        self.mode_box.currentIndexChanged.connect(self._emit_changed)
        for s in (self.kh_spin, self.kw_spin, self.sh_spin, self.sw_spin):
            s.valueChanged.connect(self._emit_changed)
        return box

    def _build_input_group(self) -> QGroupBox:
        t = self.texts
        box = t.group(tr_noop("Input"))
        form = QFormLayout(box)
        self.source_box = t.combo(SOURCES, tr_noop(
            "What is pooled: typed numbers, a digit, or a feature map (a digit after an edge "
            "kernel and ReLU)"))
        form.addRow(t.label(tr_noop("Source")), self.source_box)

        page = self.typed_page = TypedGridPage(GRID_MIN, GRID_MAX, 6,
                                               tr_noop("Fill the grid with random whole numbers"))
        self.rows_spin, self.cols_spin = page.rows_spin, page.cols_spin
        self.grid_table = page.grid_table
        self.grid_random_button, self.grid_reset_button = page.random_button, page.reset_button
        form.addRow(self.typed_page)

        self.digit_page = QWidget()
        dform = QFormLayout(self.digit_page)
        dform.setContentsMargins(0, 0, 0, 0)
        self.digit_spin = int_spin(0, 8999, 0)
        t(self.digit_spin.setToolTip, tr_noop("Which of the embedded MNIST digits"))
        self.digit_label = QLabel("")
        self.feature_box = QComboBox()
        for name in FEATURE_KERNELS:
            self.feature_box.addItem(name, name)
        t.call(lambda: title_kernel_items(self.feature_box))
        t(self.feature_box.setToolTip, tr_noop("The kernel that makes the feature map: "
                                               "ReLU(digit * kernel), padding 1"))
        dform.addRow(t.label(tr_noop("Digit #")), self.digit_spin)
        dform.addRow("", self.digit_label)
        dform.addRow(t.label(tr_noop("Kernel")), self.feature_box)
        form.addRow(self.digit_page)

        self.rows_spin.valueChanged.connect(self._on_grid_size)
        self.cols_spin.valueChanged.connect(self._on_grid_size)
        self.grid_table.values_edited.connect(self._on_grid_edited)
        self.grid_table.rejected.connect(self.message)
        self.grid_random_button.clicked.connect(self._on_grid_random)
        self.grid_reset_button.clicked.connect(self._on_grid_reset)
        self.source_box.currentIndexChanged.connect(self._on_source)
        self.digit_spin.valueChanged.connect(self._emit_changed)
        self.feature_box.currentIndexChanged.connect(self._emit_changed)
        self._show_page()
        return box

    def _build_delta_group(self) -> QGroupBox:
        t = self.texts
        box = QGroupBox()
        t(box.setTitle, tr_noop("Backward: the delta (dout)"))
        lay = QVBoxLayout(box)
        self.delta_note = note_label()
        lay.addWidget(self.delta_note)
        self.delta_table = self._number_grid(self._on_delta_edited)
        t(self.delta_table.setToolTip, tr_noop("The error arriving at each pooled output cell; "
                                               "type any number"))
        lay.addWidget(self.delta_table, 0, Qt.AlignmentFlag.AlignLeft)
        self.delta_random_button = push_button()
        t(self.delta_random_button.setText, tr_noop("Random −4..4"))
        t(self.delta_random_button.setToolTip, tr_noop("Random whole numbers, negative ones "
                                                       "included"))
        self.delta_ones_button = QPushButton()
        t(self.delta_ones_button.setText, tr_noop("All ones"))
        lay.addLayout(button_row(self.delta_random_button, self.delta_ones_button))
        self.delta_random_button.clicked.connect(self._on_delta_random)
        self.delta_ones_button.clicked.connect(self._on_delta_ones)
        return box

    # ------------------------------------------------------------- reading
    @property
    def source(self) -> str:
        return self.source_box.currentData()

    @property
    def mode(self) -> str:
        return self.mode_box.currentData()

    def setup(self) -> PoolSetup:
        """What to pool now (see ``PoolSetup``)."""
        x, description, kind = self._input()
        return PoolSetup(x[None, None], self.mode, (self.kh_spin.value(), self.kw_spin.value()),
                         (self.sh_spin.value(), self.sw_spin.value()), kind, description)

    def delta(self, rows: int, cols: int) -> np.ndarray:
        """The delta (dout) for a (rows, cols) pooled output: the store's corner, a copy.

        Also shows that corner in the delta grid (when it is small enough to type).
        """
        rows, cols = max(rows, 0), max(cols, 0)
        if (rows, cols) != self._delta_shape:
            self._delta_shape = (rows, cols)
            self._show_delta()
        return self._delta_store[:rows, :cols].copy()

    def _input(self) -> tuple[np.ndarray, str, str]:
        """(x (H, W), description, kind); the typed grid if the digits cannot be read."""
        kind = self.source
        if kind in ("digit", "feature") and self._load_digits():
            index = self.digit_spin.value()
            label = int(self._digit_labels[index])
            digit = self._digits[index].astype(np.float64) / 255.0  # (28, 28) in [0, 1]
            if kind == "digit":
                return digit, tr("MNIST digit #{index} ({digit})").format(
                    index=index, digit=digit_name(label)), kind
            name = self.feature_box.currentData()
            return self._feature_map(digit, name), \
                tr("feature map ReLU(digit #{index} * {name})").format(
                    index=index, name=self.feature_box.currentText()), kind
        rows, cols = self.rows_spin.value(), self.cols_spin.value()
        return self._grid_store[:rows, :cols].copy(), \
            tr("typed numbers {rows}×{cols}").format(rows=rows, cols=cols), "typed"

    @staticmethod
    def _feature_map(digit: np.ndarray, kernel_name: str) -> np.ndarray:
        """ReLU(digit * kernel) with padding 1, (28, 28).

        Through the convolution trace, plain numpy, whose result is exactly what
        ``engine.conv2d_forward`` computes: an edit on the GUI thread never waits for a
        Numba kernel to be compiled.
        """
        import engine

        kernel = np.asarray(engine.KERNELS[kernel_name], dtype=np.float64)
        w = kernel[None, None]  # (KH, KW) -> (F=1, C=1, KH, KW)
        trace = engine.conv2d_forward_trace(digit[None, None], w, np.zeros(1), 1, 1)
        return np.maximum(trace.result()[0, 0], 0.0)  # (28, 28)

    # ------------------------------------------------------------ syncing
    def _show_page(self):
        typed = self.source == "typed"
        self.typed_page.setVisible(typed)
        self.digit_page.setVisible(not typed)
        self.feature_box.setEnabled(self.source == "feature")

    def _show_grid(self):
        rows, cols = self.rows_spin.value(), self.cols_spin.value()
        self.grid_table.set_values(self._grid_store[:rows, :cols])

    def _show_delta(self):
        rows, cols = self._delta_shape
        editable = 0 < rows <= DELTA_EDIT_MAX and 0 < cols <= DELTA_EDIT_MAX
        self.delta_table.setVisible(editable)
        if editable:
            self.delta_table.set_values(self._delta_store[:rows, :cols])
            self.delta_note.setText(tr("One value per pooled output cell ({rows}×{cols}); type "
                                       "your own.").format(rows=rows, cols=cols))
        elif rows and cols:
            self.delta_note.setText(tr("The pooled output is {rows}×{cols}: too large to type "
                                       "here, use the buttons.").format(rows=rows, cols=cols))
        else:
            self.delta_note.setText(tr("No pooled output: the window does not fit the input."))

    # ------------------------------------------------------------ reacting
    def _on_source(self, *_):
        self._show_page()
        self._emit_changed()

    def _on_grid_size(self, *_):
        self._show_grid()
        self._emit_changed()

    def _on_grid_edited(self):
        self._store_edit(self._grid_store, self.grid_table)

    def _on_grid_random(self):
        rows, cols = self.rows_spin.value(), self.cols_spin.value()
        self._grid_store[:rows, :cols] = self._rng.integers(0, 10, size=(rows, cols))
        self._show_grid()
        self._emit_changed()

    def _on_grid_reset(self):
        self._grid_store = _default_grid_store()
        self._show_grid()
        self._emit_changed()

    def _on_delta_edited(self):
        self._store_edit(self._delta_store, self.delta_table)

    def _on_delta_random(self):
        rows, cols = self._delta_shape
        self._delta_store[:] = self._rng.integers(-4, 5, size=self._delta_store.shape)
        self._delta_store += 0.0  # no "-0"
        self._delta_shape = (-1, -1)  # force the grid to refresh
        self.delta(rows, cols)
        self._emit_changed()

    def _on_delta_ones(self):
        rows, cols = self._delta_shape
        self._delta_store[:] = 1.0
        self._delta_shape = (-1, -1)
        self.delta(rows, cols)
        self._emit_changed()

    # ------------------------------------------------------------ scripted
    def apply(self, **values) -> None:
        """Set several settings at once and emit ``changed`` once (scripts, tests, screenshots).

        Keys: mode ("max" | "avg"), source ("typed" | "digit" | "feature"), rows, cols,
        digit, feature (a kernel name), size and stride (int or (h, w)), grid (a 2-D array
        written into the typed grid's top-left corner; sets rows and cols), delta (a 2-D
        array written into the delta's top-left corner).
        """
        with self._quiet():
            if "mode" in values:
                self.mode_box.setCurrentIndex([k for k, _ in MODES].index(values["mode"]))
            if "source" in values:
                self.source_box.setCurrentIndex([k for k, _ in SOURCES].index(values["source"]))
            if "grid" in values:
                grid = np.asarray(values["grid"], dtype=np.float64)
                self._grid_store[:grid.shape[0], :grid.shape[1]] = grid
                self.rows_spin.setValue(grid.shape[0])
                self.cols_spin.setValue(grid.shape[1])
            if "delta" in values:
                delta = np.asarray(values["delta"], dtype=np.float64)
                self._delta_store[:delta.shape[0], :delta.shape[1]] = delta
                self._delta_shape = (-1, -1)
            for key, spin in (("rows", self.rows_spin), ("cols", self.cols_spin),
                              ("digit", self.digit_spin)):
                if key in values:
                    spin.setValue(int(values[key]))
            if "feature" in values:
                self.feature_box.setCurrentIndex(self.feature_box.findData(values["feature"]))
            for key, (a, b) in (("size", (self.kh_spin, self.kw_spin)),
                                ("stride", (self.sh_spin, self.sw_spin))):
                if key in values:
                    h, w = (values[key], values[key]) if np.isscalar(values[key]) else values[key]
                    a.setValue(int(h))
                    b.setValue(int(w))
        self._show_page()
        self._show_grid()
        self._emit_changed()

    def reset_defaults(self) -> None:
        """The teaching default: max pooling, 2×2 window, stride 2, the 6×6 typed grid."""
        self._grid_store = _default_grid_store()
        self._delta_store = _default_delta_store()
        self._delta_shape = (-1, -1)
        self.apply(mode="max", source="typed", rows=6, cols=6, size=2, stride=2)
