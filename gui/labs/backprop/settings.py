"""The settings column of the Backprop lab: the input x, the kernel w, the geometry, delta.

``BackpropSettings`` owns the numbers of one small example (one sample, 1-3 input
channels, 1-3 filters) and says ``changed()`` whenever one of them moves; ``setup()``
returns the arrays of the backward pass. The grids edit one input channel k and one
filter m at a time (the edited pair, which the stage view also follows). It never
computes a gradient. The delta (dout) grid always has the shape of the forward output
``(HO, WO)``; when the geometry is impossible there is no output, so the grid is
hidden and ``setup().problem`` says why in words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine import GeometryError, check_conv
from engine.i18n import tr, tr_noop
from gui.labs._base import SteppingSettings, geometry_rows
from gui.widgets.form_rows import button_row, int_spin, note_label, pair_row, push_button
from gui.widgets.texts import Texts

__all__ = ["BackpropSetup", "BackpropSettings", "default_example", "INPUT_MAX", "KERNEL_MAX",
           "STRIDE_MAX", "CHANNELS_MAX", "FILTERS_MAX", "GRID_WIDTH_MAX"]

INPUT_MIN, INPUT_MAX = 2, 7  # rows/cols of x: every number stays readable in its cell
# the widest grid the column must show without scrolling sideways: delta is at most
# H + K - 1 = 11 cells wide (stride 1, padding K - 1), 26 pixels each, or x at 7 x 36
GRID_WIDTH_MAX = 11 * 26
KERNEL_MAX = 5
STRIDE_MAX = 3
CHANNELS_MAX = FILTERS_MAX = 3
_STORE = 16  # stores are larger than any shape the spins allow; the grids show a corner


@dataclass(frozen=True)
class BackpropSetup:
    """One backward-pass example, as the settings stand.

    Attributes
    ----------
    x : ndarray (1, C, H, W) float64
    w : ndarray (F, C, KH, KW) float64
    dout : ndarray (1, F, HO, WO) float64, or None when the geometry is impossible
    stride, padding : (h, w) pairs
    problem : str or None
        Why the geometry is impossible (engine.check_conv's sentence), or None.
    channel, filter : int
        The pair the grids edit and the stage view shows (0-based).
    """

    x: np.ndarray
    w: np.ndarray
    dout: np.ndarray | None
    stride: tuple[int, int]
    padding: tuple[int, int]
    problem: str | None
    channel: int = 0
    filter: int = 0

    def pair(self) -> BackpropSetup:
        """The same example cut to the chosen channel and filter (1 channel, 1 filter): the
        stage view's backward pass, filter m's term of channel k's dx."""
        k, m = self.channel, self.filter
        dout = None if self.dout is None else self.dout[:, m:m + 1].copy()
        return BackpropSetup(self.x[:, k:k + 1].copy(), self.w[m:m + 1, k:k + 1].copy(), dout,
                             self.stride, self.padding, self.problem)


def default_example() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stores the lab starts with: x, w and delta, small whole numbers.

    The kernel is deliberately not symmetric, so its 180-degree rotation is visibly
    different from it; delta mixes signs, so the diverging colours show both.

    Channel 0 and filter 0 hold the teaching numbers; the other channels and filters
    hold other small whole numbers (a fixed seed: the same every start).

    Returns
    -------
    x_store : ndarray (3, 16, 16); w_store : (3, 3, 16, 16); delta_store : (3, 16, 16)
        The lab shows top-left corners of the first C channels / F filters.
    """
    x = np.zeros((_STORE, _STORE))
    x[:5, :5] = [[1, 2, 0, 3, 1],
                 [0, 1, 2, 1, 0],
                 [3, 0, 1, 2, 2],
                 [1, 2, 0, 1, 3],
                 [2, 1, 3, 0, 1]]
    x[5:, :] = np.arange(_STORE)[None, :] % 4  # rows and columns beyond the default
    x[:, 5:] = (np.arange(_STORE)[:, None] + np.arange(_STORE - 5)[None, :]) % 4
    w = np.zeros((_STORE, _STORE))
    w[:3, :3] = [[1, 2, 0],
                 [0, 1, -1],
                 [-2, 0, 1]]
    delta = np.zeros((_STORE, _STORE))
    delta[:3, :3] = [[1, -1, 2],
                     [0, 1, -2],
                     [-1, 2, 1]]
    rows, cols = np.indices((_STORE, _STORE))
    beyond = (rows >= 3) | (cols >= 3)
    delta[beyond] = ((rows + 2 * cols) % 5 - 2)[beyond]  # -2..2, mixed signs
    rng = np.random.default_rng(11)
    xs = rng.integers(0, 10, size=(CHANNELS_MAX, _STORE, _STORE)).astype(np.float64)
    ws = rng.integers(-2, 3, size=(FILTERS_MAX, CHANNELS_MAX, _STORE, _STORE)).astype(np.float64)
    ds = rng.integers(-3, 4, size=(FILTERS_MAX, _STORE, _STORE)).astype(np.float64)
    xs[0], ws[0, 0], ds[0] = x, w, delta
    return xs, ws, ds




class BackpropSettings(SteppingSettings):
    """Input, kernel, geometry and delta of the Backprop lab's example.

    Signals
    -------
    changed()
        Some number changed; call ``setup()`` for the new arrays.
    message(str)
        A sentence for the status bar (a refused value).
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._x_store, self._w_store, self._delta_store = default_example()
        self._rng = np.random.default_rng(0)
        t = self.texts = Texts()
        self.default_button = push_button()
        t(self.default_button.setText, tr_noop("Default example"))
        t(self.default_button.setToolTip, tr_noop("5×5 input, 3×3 kernel, stride 2, padding 1"))
        self.default_button.clicked.connect(self.reset_defaults)
        self.random_all_button = push_button()
        t(self.random_all_button.setText, tr_noop("Randomise everything"))
        t(self.random_all_button.setToolTip, tr_noop("New random x, w and delta with the same "
                                                     "sizes"))
        self.random_all_button.clicked.connect(self._on_random_all)
        self.small_button = push_button()
        t(self.small_button.setText, tr_noop("Small example"))
        t(self.small_button.setToolTip, tr_noop("Back to sizes where every number shows: 4×4 "
                                                "input, 2 channels, 2 filters, 2×2 kernels"))
        self.small_button.clicked.connect(self.small_example)
        self._stack(self._build_channels_group(), self._build_input_group(),
                    self._build_kernel_group(), self._build_delta_group(),
                    button_row(self.default_button, self.random_all_button),
                    button_row(self.small_button))
        self._sync_all()
        self.retranslate()

    def retranslate(self) -> None:
        self.texts.apply()
        self._sync_all()
        super().retranslate()

    # ------------------------------------------------------------ building
    def _random_button(self, text: str, tip: str) -> QPushButton:
        button = QPushButton()
        self.texts(button.setText, text)
        self.texts(button.setToolTip, tip)
        return button

    def _build_channels_group(self) -> QGroupBox:
        t = self.texts
        box = t.group(tr_noop("Channels and filters"))
        form = QFormLayout(box)
        self.channels_spin = int_spin(1, CHANNELS_MAX, 1)
        self.filters_spin = int_spin(1, FILTERS_MAX, 1)
        t(self.channels_spin.setToolTip, tr_noop("Input channels C (a colour image has 3)"))
        t(self.filters_spin.setToolTip, tr_noop("Filters F: one output channel each"))
        form.addRow(t.label(tr_noop("Input channels C")), self.channels_spin)
        form.addRow(t.label(tr_noop("Filters F")), self.filters_spin)
        self.channel_spin = int_spin(1, 1, 1)
        self.filter_spin = int_spin(1, 1, 1)
        t(self.channel_spin.setToolTip, tr_noop("The input channel k the grids below edit "
                                                "(counted from 1)"))
        t(self.filter_spin.setToolTip, tr_noop("The filter m the grids below edit (counted "
                                               "from 1)"))
        form.addRow(t.label(tr_noop("Edit channel k, filter m")),
                    pair_row(self.channel_spin, self.filter_spin))
        for spin in (self.channels_spin, self.filters_spin, self.channel_spin,
                     self.filter_spin):
            spin.valueChanged.connect(self._on_shape)
        return box

    @property
    def channel(self) -> int:
        """The input channel k the grids edit, 0-based."""
        return self.channel_spin.value() - 1

    @property
    def filter(self) -> int:
        """The filter m the grids edit, 0-based."""
        return self.filter_spin.value() - 1

    def _build_input_group(self) -> QGroupBox:
        t = self.texts
        box = QGroupBox()
        t(box.setTitle, tr_noop("Input x (forward pass)"))
        lay = QVBoxLayout(box)
        self.rows_spin = int_spin(INPUT_MIN, INPUT_MAX, 5)
        self.cols_spin = int_spin(INPUT_MIN, INPUT_MAX, 5)
        t(self.rows_spin.setToolTip, tr_noop("Rows H of the input"))
        t(self.cols_spin.setToolTip, tr_noop("Columns W of the input"))
        for spin in (self.rows_spin, self.cols_spin):
            t(spin.set_range_reason, tr_noop("every number must stay readable"))
        form = QFormLayout()
        form.addRow(t.label(tr_noop("Size (H × W)")), pair_row(self.rows_spin, self.cols_spin))
        lay.addLayout(form)
        self.x_table = self._number_grid(self._on_x_edited)
        t(self.x_table.setToolTip, tr_noop("Type a number in any cell"))
        lay.addWidget(self.x_table, 0, Qt.AlignmentFlag.AlignLeft)
        self.x_random_button = self._random_button(
            tr_noop("Random 0-9"), tr_noop("Fill the input with random whole numbers 0..9"))
        lay.addWidget(self.x_random_button, 0, Qt.AlignmentFlag.AlignLeft)
        for s in (self.rows_spin, self.cols_spin):
            s.valueChanged.connect(self._on_shape)
        self.x_random_button.clicked.connect(self._on_x_random)
        return box

    def _build_kernel_group(self) -> QGroupBox:
        t = self.texts
        box = t.group(tr_noop("Kernel w and geometry"))
        form = QFormLayout(box)
        (self.kh_spin, self.kw_spin, self.sh_spin, self.sw_spin, self.ph_spin,
         self.pw_spin) = geometry_rows(form, t, kernel=(KERNEL_MAX, 3), stride=(STRIDE_MAX, 2))
        self.w_table = self._number_grid(self._on_w_edited)
        t(self.w_table.setToolTip, tr_noop("Type the kernel values cell by cell"))
        form.addRow(self.w_table)
        self.w_random_button = self._random_button(
            tr_noop("Random −2..2"), tr_noop("Fill the kernel with random whole numbers -2..2"))
        form.addRow(self.w_random_button)
        for s in (self.kh_spin, self.kw_spin, self.sh_spin, self.sw_spin, self.ph_spin,
                  self.pw_spin):
            s.valueChanged.connect(self._on_shape)
        self.w_random_button.clicked.connect(self._on_w_random)
        return box

    def _build_delta_group(self) -> QGroupBox:
        t = self.texts
        box = QGroupBox()
        t(box.setTitle, tr_noop("Delta δ = dout (from the next layer)"))
        lay = QVBoxLayout(box)
        self.delta_hint = note_label()
        lay.addWidget(self.delta_hint)
        self.delta_table = self._number_grid(self._on_delta_edited)
        t(self.delta_table.setToolTip, tr_noop("∂L/∂y for each output cell: type any number"))
        lay.addWidget(self.delta_table, 0, Qt.AlignmentFlag.AlignLeft)
        self.delta_random_button = self._random_button(
            tr_noop("Random −3..3"), tr_noop("Fill delta with random whole numbers -3..3"))
        lay.addWidget(self.delta_random_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.delta_random_button.clicked.connect(self._on_delta_random)
        return box

    # ------------------------------------------------------------- reading
    @property
    def stride(self) -> tuple[int, int]:
        return self.sh_spin.value(), self.sw_spin.value()

    @property
    def padding(self) -> tuple[int, int]:
        return self.ph_spin.value(), self.pw_spin.value()

    def _shapes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        return (self.rows_spin.value(), self.cols_spin.value()), \
            (self.kh_spin.value(), self.kw_spin.value())

    def _output_shape(self) -> tuple[tuple[int, int] | None, str | None]:
        """((HO, WO), None) for a possible geometry, else (None, the reason in words)."""
        (H, W), (KH, KW) = self._shapes()
        try:
            g = check_conv((1, 1, H, W), (1, 1, KH, KW), None, self.stride, self.padding)
        except GeometryError as err:
            return None, str(err)
        return (g.HO, g.WO), None

    def setup(self) -> BackpropSetup:
        """The arrays of the backward pass now (see ``BackpropSetup``)."""
        (H, W), (KH, KW) = self._shapes()
        C, F = self.channels_spin.value(), self.filters_spin.value()
        x = self._x_store[None, :C, :H, :W].copy()  # (1, C, H, W)
        w = self._w_store[:F, :C, :KH, :KW].copy()  # (F, C, KH, KW)
        out_shape, problem = self._output_shape()
        dout = None
        if out_shape is not None:
            HO, WO = out_shape
            dout = self._delta_store[None, :F, :HO, :WO].copy()  # (1, F, HO, WO)
        return BackpropSetup(x, w, dout, self.stride, self.padding, problem, self.channel,
                             self.filter)

    # ------------------------------------------------------------ syncing
    def _sync_all(self):
        with self._quiet():
            self._sync_widgets()

    def _sync_widgets(self):
        # padding 0..K-1: more would only add windows that see nothing but zeros
        self.ph_spin.setMaximum(self.kh_spin.value() - 1)
        self.pw_spin.setMaximum(self.kw_spin.value() - 1)
        self.channel_spin.setMaximum(self.channels_spin.value())
        self.filter_spin.setMaximum(self.filters_spin.value())
        (H, W), (KH, KW) = self._shapes()
        self.x_table.set_values(self._x_store[self.channel, :H, :W])
        self.w_table.set_values(self._w_store[self.filter, self.channel, :KH, :KW])
        out_shape, problem = self._output_shape()
        if out_shape is None:
            self.delta_table.setVisible(False)
            self.delta_random_button.setEnabled(False)
            self.delta_hint.setText(tr("No output, so no delta: {reason}").format(reason=problem))
            self.delta_hint.setStyleSheet("color: #b00020;")
        else:
            HO, WO = out_shape
            self.delta_table.set_values(self._delta_store[self.filter, :HO, :WO])
            self.delta_table.setVisible(True)
            self.delta_random_button.setEnabled(True)
            self.delta_hint.setText(tr("One value per output cell: {rows}×{cols}").format(
                rows=HO, cols=WO))
            self.delta_hint.setStyleSheet("color: #555;")

    # ------------------------------------------------------------ reacting
    def _on_shape(self, *_):
        self._sync_all()
        self._emit_changed()

    def _on_x_edited(self):
        self._store_edit(self._x_store[self.channel], self.x_table)

    def _on_w_edited(self):
        self._store_edit(self._w_store[self.filter, self.channel], self.w_table)

    def _on_delta_edited(self):
        self._store_edit(self._delta_store[self.filter], self.delta_table)

    def _randomise(self, which: str) -> None:
        low, high = {"x": (0, 10), "w": (-2, 3), "delta": (-3, 4)}[which]
        store = {"x": self._x_store, "w": self._w_store, "delta": self._delta_store}[which]
        store[...] = self._rng.integers(low, high, size=store.shape)

    def _on_x_random(self):
        self._randomise("x")
        self._sync_all()
        self._emit_changed()

    def _on_w_random(self):
        self._randomise("w")
        self._sync_all()
        self._emit_changed()

    def _on_delta_random(self):
        self._randomise("delta")
        self._sync_all()
        self._emit_changed()

    def _on_random_all(self):
        for which in ("x", "w", "delta"):
            self._randomise(which)
        self._sync_all()
        self.message.emit(tr("New random x, w and delta"))
        self._emit_changed()

    # ------------------------------------------------------------ scripted
    def reset_defaults(self) -> None:
        """The teaching default: 5x5 input, a 3x3 kernel, stride 2, padding 1, 3x3 delta;
        one channel, one filter."""
        self.apply(reset=True, size=(5, 5), kernel=(3, 3), stride=(2, 2), padding=(1, 1),
                   channels=1, filters=1, channel=1, filter=1)

    def small_example(self) -> None:
        """Sizes where every number shows: a 4x4 input with 2 channels, 2 filters of 2x2
        kernels, stride 1, no padding (the numbers are kept)."""
        self.apply(size=(4, 4), kernel=(2, 2), stride=(1, 1), padding=(0, 0), channels=2,
                   filters=2)

    def apply(self, **values) -> None:
        """Set several settings at once and emit ``changed`` once (scripts, tests, screenshots).

        Keys: size, kernel, stride, padding (int or (h, w) pair); channels, filters (C, F)
        and channel, filter (the edited pair, counted from 1); x, w, delta (2-D arrays
        written into the top-left corner of the edited channel's / filter's store, or
        x (C, H, W), w (F, C, KH, KW), delta (F, HO, WO) for all of them); reset=True
        restores the default numbers first.
        """
        with self._quiet():
            if values.get("reset"):
                self._x_store, self._w_store, self._delta_store = default_example()
            for key, spin in (("channels", self.channels_spin), ("filters", self.filters_spin)):
                if key in values:
                    spin.setValue(int(values[key]))
            self.channel_spin.setMaximum(self.channels_spin.value())
            self.filter_spin.setMaximum(self.filters_spin.value())
            for key, spin in (("channel", self.channel_spin), ("filter", self.filter_spin)):
                if key in values:
                    spin.setValue(int(values[key]))
            for key, (a, b) in (("size", (self.rows_spin, self.cols_spin)),
                                ("kernel", (self.kh_spin, self.kw_spin)),
                                ("stride", (self.sh_spin, self.sw_spin))):
                if key in values:
                    h, w = (values[key], values[key]) if np.isscalar(values[key]) else values[key]
                    a.setValue(int(h))
                    b.setValue(int(w))
            self.ph_spin.setMaximum(self.kh_spin.value() - 1)
            self.pw_spin.setMaximum(self.kw_spin.value() - 1)
            if "padding" in values:
                p = values["padding"]
                ph, pw = (p, p) if np.isscalar(p) else p
                self.ph_spin.setValue(int(ph))
                self.pw_spin.setValue(int(pw))
            k, m = self.channel, self.filter
            for key, store, one in (("x", self._x_store, self._x_store[k]),
                                    ("w", self._w_store, self._w_store[m, k]),
                                    ("delta", self._delta_store, self._delta_store[m])):
                if key in values:
                    arr = np.asarray(values[key], dtype=np.float64)
                    target = one if arr.ndim == 2 else store
                    target[tuple(slice(0, n) for n in arr.shape)] = arr
        self._sync_all()
        self._emit_changed()
