"""The network builder of the Training lab: conv blocks and a dense head.

A network here is a list of conv blocks (conv -> optional batch norm ->
activation -> optional pooling) followed by a dense head (flatten -> optional
hidden dense layer with its activation -> dense with one output per class).
:func:`blocks_to_spec` turns that into the engine's plain spec (a list of
dicts), :func:`spec_to_blocks` reads a spec back when it has this shape. Every
layer's output shape and parameter count are shown live; an impossible network
is explained in place, naming the layer and the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

__all__ = ["ConvBlock", "Head", "blocks_to_spec", "spec_to_blocks", "describe_network",
           "NetworkBuilder", "LayerRow"]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "none")
POOLS = ("max", "avg", "none")
NUM_CLASSES = 10


@dataclass(frozen=True)
class ConvBlock:
    """conv (filters, kernel, stride, padding) -> [batch norm] -> activation -> [pool]."""

    filters: int = 8
    kernel: int = 3
    stride: int = 1
    padding: int = 1
    activation: str = "relu"
    batchnorm: bool = False
    pool: str = "max"
    pool_size: int = 2


@dataclass(frozen=True)
class Head:
    """flatten -> [dense(hidden) -> activation] -> dense(classes)."""

    hidden: int = 0
    activation: str = "relu"
    classes: int = NUM_CLASSES


@dataclass(frozen=True)
class LayerRow:
    """One line of the live summary."""

    index: int
    name: str
    type: str
    output_shape: tuple
    param_count: int


def blocks_to_spec(blocks, head: Head) -> tuple[list[dict], list[object]]:
    """The engine spec for ``blocks`` and ``head``.

    Returns
    -------
    spec : list of dict
    owner : list, one entry per spec layer: the block index (int) it came from,
        or "head"; used to mark the block an error is about.
    """
    spec: list[dict] = []
    owner: list[object] = []

    def add(layer: dict, who) -> None:
        spec.append(layer)
        owner.append(who)

    for k, b in enumerate(blocks):
        add({"type": "conv", "filters": b.filters, "kernel": b.kernel, "stride": b.stride,
             "padding": b.padding}, k)
        if b.batchnorm:
            add({"type": "batchnorm"}, k)
        if b.activation != "none":
            add({"type": b.activation}, k)
        if b.pool != "none":
            add({"type": f"{b.pool}pool", "size": b.pool_size, "stride": b.pool_size}, k)
    add({"type": "flatten"}, "head")
    if head.hidden > 0:
        add({"type": "dense", "units": head.hidden}, "head")
        if head.activation != "none":
            add({"type": head.activation}, "head")
    add({"type": "dense", "units": head.classes}, "head")
    return spec, owner


def _square(value, what: str) -> int:
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(f"the builder only edits square {what}s, not {value}")
        value = value[0]
    return int(value)


def spec_to_blocks(spec) -> tuple[list[ConvBlock], Head]:
    """Read a spec made of conv blocks and a dense head back into the builder's terms.

    Raises
    ------
    ValueError
        When the spec does not have that shape (say, two convolutions in a row
        with nothing between them is fine, but a pooling layer before any
        convolution is not), with the reason.
    """
    blocks: list[ConvBlock] = []
    i, n = 0, len(spec)
    types = [str(layer.get("type", "")).lower() for layer in spec]
    while i < n and types[i] == "conv":
        c = spec[i]
        stride = c.get("stride", 1)
        block = ConvBlock(filters=int(c["filters"]), kernel=_square(c["kernel"], "kernel"),
                          stride=_square(stride, "stride"),
                          padding=_square(c.get("padding", 0), "padding"),
                          activation="none", batchnorm=False, pool="none")
        i += 1
        if i < n and types[i] == "batchnorm":
            block = replace(block, batchnorm=True)
            i += 1
        if i < n and types[i] in ("relu", "tanh", "sigmoid"):
            block = replace(block, activation=types[i])
            i += 1
        if i < n and types[i] in ("maxpool", "avgpool"):
            p = spec[i]
            size = _square(p.get("size", 2), "pool size")
            if _square(p.get("stride", size), "pool stride") != size:
                raise ValueError("the builder only edits pooling whose stride equals its size")
            block = replace(block, pool=types[i][:3], pool_size=size)
            i += 1
        blocks.append(block)
    if i >= n or types[i] != "flatten":
        raise ValueError(f"layer {i} ({types[i] if i < n else 'end'}): the builder expects "
                         "conv blocks followed by flatten and a dense head")
    i += 1
    rest = types[i:]
    if rest == ["dense"]:
        return blocks, Head(0, "relu", int(spec[i]["units"]))
    if len(rest) == 3 and rest[0] == "dense" and rest[2] == "dense" and rest[1] in ACTIVATIONS:
        return blocks, Head(int(spec[i]["units"]), rest[1], int(spec[i + 2]["units"]))
    if len(rest) == 2 and rest == ["dense", "dense"]:
        return blocks, Head(int(spec[i]["units"]), "none", int(spec[i + 1]["units"]))
    raise ValueError("the builder expects the head to be dense [activation dense]")


def describe_network(spec, input_shape=(1, 28, 28)) -> tuple[list[LayerRow], int, str | None,
                                                            int | None]:
    """Each layer's output shape and parameter count, or why the network is impossible.

    Nothing is allocated (``engine.network.describe_spec``), so this runs on
    every keystroke of the builder.

    Returns
    -------
    rows : list of LayerRow; when the spec is invalid, the layers before the bad one
    total : int, the number of parameters of ``rows``
    error : str or None, the engine's explanation (names the layer, counting from 1)
    bad_index : int or None, 0-based spec index the error is about (when known)
    """
    from engine.network import describe_spec

    error = bad_index = None
    try:
        described = describe_spec(spec, input_shape)
    except ValueError as err:  # NetworkSpecError (and GeometryError) are ValueErrors
        described = getattr(err, "partial", [])
        error, bad_index = str(err), _error_index(err)
    rows = [LayerRow(int(r.index), str(r.name), str(r.type), tuple(r.output_shape),
                     int(r.param_count)) for r in described]
    return rows, sum(r.param_count for r in rows), error, bad_index


def _error_index(err) -> int | None:
    index = getattr(err, "index", None)
    if isinstance(index, int):
        return index
    match = re.search(r"layer (\d+)", str(err))
    return int(match.group(1)) if match else None


def _shape_text(shape) -> str:
    return " x ".join(str(s) for s in shape)


class NetworkBuilder(QWidget):
    """Edit conv blocks and the dense head; shows the live summary.

    Signals
    -------
    spec_changed(list) : the spec after an edit (debounced), valid or not.
    """

    spec_changed = pyqtSignal(list)

    COLUMNS = ("Filters", "Kernel", "Stride", "Pad", "Act.", "BN", "Pool", "Size")

    def __init__(self, input_shape=(1, 28, 28), parent=None):
        super().__init__(parent)
        self._input_shape = tuple(input_shape)
        self._blocks: list[ConvBlock] = []
        self._head = Head()
        self._owner: list[object] = []
        self._valid = False
        self._debounce = QTimer(self, singleShot=True, interval=120)
        self._debounce.timeout.connect(self._emit_spec)
        self._build_ui()

    # -- UI -------------------------------------------------------------------
    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        blocks_box = QGroupBox("Conv blocks: conv → [batch norm] → activation → [pool]")
        bl = QVBoxLayout(blocks_box)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.setMinimumHeight(110)
        bl.addWidget(self.table)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add block")
        self.remove_button = QPushButton("Remove")
        self.up_button = QPushButton("Up")
        self.down_button = QPushButton("Down")
        for b in (self.add_button, self.remove_button, self.up_button, self.down_button):
            buttons.addWidget(b)
        self.add_button.clicked.connect(self.add_block)
        self.remove_button.clicked.connect(self.remove_block)
        self.up_button.clicked.connect(lambda: self.move_block(-1))
        self.down_button.clicked.connect(lambda: self.move_block(+1))
        bl.addLayout(buttons)
        layout.addWidget(blocks_box)

        head_box = QGroupBox("Dense head: flatten → [hidden dense → activation] → 10 classes")
        hl = QHBoxLayout(head_box)
        hl.addWidget(QLabel("Hidden units"))
        self.hidden_spin = QSpinBox(minimum=0, maximum=1024, singleStep=16)
        self.hidden_spin.setSpecialValueText("none")
        self.hidden_spin.valueChanged.connect(self._head_edited)
        hl.addWidget(self.hidden_spin)
        self.hidden_act = QComboBox()
        self.hidden_act.addItems(ACTIVATIONS)
        self.hidden_act.currentTextChanged.connect(self._head_edited)
        hl.addWidget(self.hidden_act)
        hl.addStretch(1)
        layout.addWidget(head_box)

        self.summary = QTableWidget(0, 3)
        self.summary.setHorizontalHeaderLabels(("Layer", "Output shape", "Parameters"))
        self.summary.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.summary.verticalHeader().setVisible(False)
        self.summary.verticalHeader().setDefaultSectionSize(20)
        self.summary.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.summary.setMinimumHeight(120)
        layout.addWidget(self.summary, 1)
        self.total_label = QLabel()
        layout.addWidget(self.total_label)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b2182b; font-weight: bold;")
        self.error_label.hide()
        layout.addWidget(self.error_label)

    def _row_widgets(self, row: int, block: ConvBlock) -> None:
        def spin(value, lo, hi, key):
            w = QSpinBox(minimum=lo, maximum=hi, value=value)
            w.valueChanged.connect(lambda v, r=row, k=key: self._block_edited(r, k, v))
            return w

        def combo(items, value, key):
            w = QComboBox()
            w.addItems(items)
            w.setCurrentText(value)
            w.currentTextChanged.connect(lambda v, r=row, k=key: self._block_edited(r, k, v))
            return w

        check = QCheckBox()
        check.setChecked(block.batchnorm)
        check.setToolTip("spatial batch normalisation after the convolution")
        check.toggled.connect(lambda v, r=row: self._block_edited(r, "batchnorm", bool(v)))
        cells = [spin(block.filters, 1, 128, "filters"), spin(block.kernel, 1, 11, "kernel"),
                 spin(block.stride, 1, 4, "stride"), spin(block.padding, 0, 5, "padding"),
                 combo(ACTIVATIONS, block.activation, "activation"), check,
                 combo(POOLS, block.pool, "pool"), spin(block.pool_size, 1, 4, "pool_size")]
        for col, w in enumerate(cells):
            self.table.setCellWidget(row, col, w)

    def _refill_table(self, select: int | None = None) -> None:
        self.table.setRowCount(0)
        self.table.setRowCount(len(self._blocks))
        for row, block in enumerate(self._blocks):
            self.table.setVerticalHeaderItem(row, QTableWidgetItem(f"{row + 1}"))
            self._row_widgets(row, block)
        if select is not None and 0 <= select < len(self._blocks):
            self.table.selectRow(select)

    # -- editing ----------------------------------------------------------------
    def _block_edited(self, row: int, key: str, value) -> None:
        if 0 <= row < len(self._blocks):
            self._blocks[row] = replace(self._blocks[row], **{key: value})
            self._changed()

    def _head_edited(self, *_):
        self._head = Head(self.hidden_spin.value(), self.hidden_act.currentText())
        self.hidden_act.setEnabled(self._head.hidden > 0)
        self._changed()

    def add_block(self) -> None:
        last = self._blocks[-1] if self._blocks else ConvBlock(filters=4)
        self._blocks.append(replace(last, filters=min(128, last.filters * 2)))
        self._refill_table(len(self._blocks) - 1)
        self._changed()

    def remove_block(self) -> None:
        row = self.table.currentRow()
        if not self._blocks:
            return
        row = row if 0 <= row < len(self._blocks) else len(self._blocks) - 1
        del self._blocks[row]
        self._refill_table(min(row, len(self._blocks) - 1))
        self._changed()

    def move_block(self, delta: int) -> None:
        row = self.table.currentRow()
        target = row + delta
        if not (0 <= row < len(self._blocks) and 0 <= target < len(self._blocks)):
            return
        self._blocks[row], self._blocks[target] = self._blocks[target], self._blocks[row]
        self._refill_table(target)
        self._changed()

    def _changed(self) -> None:
        self.refresh_summary()
        self._debounce.start()

    def _emit_spec(self) -> None:
        self.spec_changed.emit(self.spec())

    # -- public -----------------------------------------------------------------
    def spec(self) -> list[dict]:
        return blocks_to_spec(self._blocks, self._head)[0]

    def blocks(self) -> list[ConvBlock]:
        return list(self._blocks)

    def head(self) -> Head:
        return self._head

    def is_valid(self) -> bool:
        return self._valid

    def set_spec(self, spec) -> None:
        """Show ``spec`` in the builder (raises ValueError if it is not blocks + head)."""
        blocks, head = spec_to_blocks(spec)
        self.set_blocks(blocks, head)

    def set_blocks(self, blocks, head: Head = Head()) -> None:
        self._blocks = list(blocks)
        self._head = head
        for w in (self.hidden_spin, self.hidden_act):
            w.blockSignals(True)
        self.hidden_spin.setValue(head.hidden)
        self.hidden_act.setCurrentText(head.activation)
        self.hidden_act.setEnabled(head.hidden > 0)
        for w in (self.hidden_spin, self.hidden_act):
            w.blockSignals(False)
        self._refill_table()
        self.refresh_summary()
        self._debounce.stop()

    def set_editable(self, editable: bool, reason: str = "") -> None:
        for w in (self.table, self.add_button, self.remove_button, self.up_button,
                  self.down_button, self.hidden_spin, self.hidden_act):
            w.setEnabled(editable)
        if editable:
            self.hidden_act.setEnabled(self._head.hidden > 0)
        self.table.setToolTip("" if editable else reason)

    def refresh_summary(self) -> None:
        spec, self._owner = blocks_to_spec(self._blocks, self._head)
        rows, total, error, bad_index = describe_network(spec, self._input_shape)
        self._valid = error is None
        self._mark_bad_block(bad_index)
        self.error_label.setVisible(error is not None)
        extra = 0
        if error is not None:
            self.error_label.setText(f"This network cannot be built: {error}")
            extra = 1 if bad_index is not None and bad_index < len(spec) else 0
        self.summary.setRowCount(len(rows) + 1 + extra)
        self._set_summary_row(0, "input", _shape_text(self._input_shape), "")
        for k, r in enumerate(rows, start=1):
            self._set_summary_row(k, f"{r.name} ({r.type})", _shape_text(r.output_shape),
                                  f"{r.param_count:,}" if r.param_count else "")
        if extra:
            row = len(rows) + 1
            self._set_summary_row(row, f"layer {bad_index + 1} ({spec[bad_index]['type']})",
                                  "✗ impossible", "")
            for c in range(3):
                self.summary.item(row, c).setBackground(QColor(253, 219, 199))
        self.total_label.setText("Total: -" if error else f"Total: {total:,} parameters")

    def _set_summary_row(self, row: int, *texts) -> None:
        for col, text in enumerate(texts):
            item = QTableWidgetItem(text)
            if col > 0:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.summary.setItem(row, col, item)

    def _mark_bad_block(self, bad_index) -> None:
        bad_block = None
        if bad_index is not None and 0 <= bad_index < len(self._owner):
            bad_block = self._owner[bad_index]
        for row in range(self.table.rowCount()):
            item = QTableWidgetItem(f"{row + 1}" + (" ✗" if row == bad_block else ""))
            if row == bad_block:
                item.setForeground(QColor(178, 24, 43))
            self.table.setVerticalHeaderItem(row, item)
