"""The network builder of the Training lab: conv blocks and a dense head.

The builder's terms and their conversions to and from the engine's spec are Qt-free
(:mod:`gui.labs.training.blocks`); this widget edits them. Every layer's output shape
and parameter count are shown live; an impossible network is explained in place,
naming the layer and the reason.
"""

from __future__ import annotations

from dataclasses import replace

from PyQt6.QtCore import QSignalBlocker, Qt, QTimer, pyqtSignal
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
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.i18n import tr, tr_noop
from gui.labs.training.blocks import (
    ACTIVATIONS,
    CHOICE_TEXTS,
    MAX_BLOCKS,
    POOLS,
    ConvBlock,
    Head,
    blocks_to_spec,
    check_block_count,
    describe_network,
    layer_type_text,
    spec_to_blocks,
)
from gui.widgets.form_rows import int_spin, show_refusal_in_place

__all__ = ["NetworkBuilder"]

_COLUMNS = (tr_noop("Filters"), tr_noop("Kernel"), tr_noop("Stride"), tr_noop("Pad"),
            tr_noop("Act."), tr_noop("BN"), tr_noop("Pool"), tr_noop("Size"))
_NUMBER_COLUMNS = (0, 1, 2, 3, 7)  # the spin boxes of a block's row


def _choice_text(key: str) -> str:
    """What a combo box shows for an activation or pooling key."""
    return tr(CHOICE_TEXTS[key]) if key in CHOICE_TEXTS else key


def _combo(keys, value: str) -> QComboBox:
    combo = QComboBox()
    for key in keys:
        combo.addItem(_choice_text(key), key)
    combo.setCurrentIndex(max(0, combo.findData(value)))
    return combo


def _retranslate_combo(combo: QComboBox) -> None:
    for k in range(combo.count()):
        combo.setItemText(k, _choice_text(combo.itemData(k)))


def _shape_text(shape) -> str:
    return " x ".join(str(s) for s in shape)


class NetworkBuilder(QWidget):
    """Edit conv blocks and the dense head; shows the live summary.

    Signals
    -------
    spec_changed(list) : the spec after an edit (debounced), valid or not.
    refused(str) : a typed value outside a field's range, why it was not taken (the
        sentence is shown under the table or the head too)
    """

    spec_changed = pyqtSignal(list)
    refused = pyqtSignal(str)

    def __init__(self, input_shape=(1, 28, 28), parent=None):
        super().__init__(parent)
        self._input_shape = tuple(input_shape)
        self._blocks: list[ConvBlock] = []
        self._head = Head()
        self._owner: list[object] = []
        self._valid = False
        self._locked_reason = ""  # why the network cannot be edited now (a msgid), or ""
        self._debounce = QTimer(self, singleShot=True, interval=120)
        self._debounce.timeout.connect(self._emit_spec)
        self._build_ui()
        self.retranslate()

    # -- UI -------------------------------------------------------------------
    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.blocks_box = QGroupBox()
        bl = QVBoxLayout(self.blocks_box)
        self.table = QTableWidget(0, len(_COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for col in (4, 6):  # the activation and pooling lists: as wide as their words
            self.table.horizontalHeader().setSectionResizeMode(
                col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.setMinimumHeight(110)
        bl.addWidget(self.table)
        buttons = QHBoxLayout()
        self.add_button = QPushButton()
        self.remove_button = QPushButton()
        self.up_button = QPushButton()
        self.down_button = QPushButton()
        for b in (self.add_button, self.remove_button, self.up_button, self.down_button):
            buttons.addWidget(b)
        self.add_button.clicked.connect(self.add_block)
        self.remove_button.clicked.connect(self.remove_block)
        self.up_button.clicked.connect(lambda: self.move_block(-1))
        self.down_button.clicked.connect(lambda: self.move_block(+1))
        bl.addLayout(buttons)
        layout.addWidget(self.blocks_box)

        self.head_box = QGroupBox()
        hl = QHBoxLayout(self.head_box)
        self.hidden_label = QLabel()
        hl.addWidget(self.hidden_label)
        self.hidden_spin = int_spin(0, 1024, 0)
        self.hidden_spin.setSingleStep(16)
        self.hidden_spin.valueChanged.connect(self._head_edited)
        hl.addWidget(self.hidden_spin)
        self.hidden_act = _combo(ACTIVATIONS, "relu")
        self.hidden_act.currentIndexChanged.connect(self._head_edited)
        hl.addWidget(self.hidden_act)
        hl.addStretch(1)
        layout.addWidget(self.head_box)

        self.summary = QTableWidget(0, 3)
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
        show_refusal_in_place(self.hidden_spin, self, self.refused.emit)

    def retranslate(self) -> None:
        """Set every text in the current language."""
        self.table.setToolTip(tr(self._locked_reason) if self._locked_reason else "")
        self.blocks_box.setTitle(tr("Conv blocks: conv → [batch norm] → activation → [pool]"))
        self.table.setHorizontalHeaderLabels([tr(c) for c in _COLUMNS])
        self.add_button.setText(tr("Add block"))
        self.remove_button.setText(tr("Remove"))
        self.up_button.setText(tr("Up"))
        self.down_button.setText(tr("Down"))
        self.hidden_label.setText(tr("Hidden units"))
        self.hidden_spin.setSpecialValueText(tr("none"))
        self.hidden_spin.set_subject(tr("Hidden units"))
        _retranslate_combo(self.hidden_act)
        for row in range(self.table.rowCount()):
            for col in (4, 6):  # the activation and pooling combo boxes
                _retranslate_combo(self.table.cellWidget(row, col))
            self.table.cellWidget(row, 5).setToolTip(
                tr("spatial batch normalisation after the convolution"))
            self._name_fields(row)
        self.summary.setHorizontalHeaderLabels((tr("Layer"), tr("Output shape"),
                                                tr("Parameters")))
        self._show_head_title()
        self._show_add_limit()
        self.refresh_summary()

    def _show_head_title(self) -> None:
        self.head_box.setTitle(
            tr("Dense head: flatten → [hidden dense → activation] → {n} classes")
            .format(n=self._head.classes))

    def _show_add_limit(self) -> None:
        full = len(self._blocks) >= MAX_BLOCKS
        self.add_button.setToolTip(
            tr("The builder holds at most {n} conv blocks").format(n=MAX_BLOCKS) if full
            else "")
        if self.table.isEnabled():
            self.add_button.setEnabled(not full)

    def _name_fields(self, row: int) -> None:
        """Name the row's number fields for their refusal sentences ("Block 2, Kernel")."""
        for col in _NUMBER_COLUMNS:
            self.table.cellWidget(row, col).set_subject(
                tr("Block {k}, {field}").format(k=row + 1, field=tr(_COLUMNS[col])))

    def _row_widgets(self, row: int, block: ConvBlock) -> None:
        def spin(value, lo, hi, key):
            w = int_spin(lo, hi, value)
            w.valueChanged.connect(lambda v, r=row, k=key: self._block_edited(r, k, v))
            return w

        def combo(keys, value, key):
            w = _combo(keys, value)
            w.currentIndexChanged.connect(
                lambda _i, w=w, r=row, k=key: self._block_edited(r, k, w.currentData()))
            return w

        check = QCheckBox()
        check.setChecked(block.batchnorm)
        check.setToolTip(tr("spatial batch normalisation after the convolution"))
        check.toggled.connect(lambda v, r=row: self._block_edited(r, "batchnorm", bool(v)))
        cells = [spin(block.filters, 1, 128, "filters"), spin(block.kernel, 1, 11, "kernel"),
                 spin(block.stride, 1, 4, "stride"), spin(block.padding, 0, 5, "padding"),
                 combo(ACTIVATIONS, block.activation, "activation"), check,
                 combo(POOLS, block.pool, "pool"), spin(block.pool_size, 1, 4, "pool_size")]
        for col, w in enumerate(cells):
            self.table.setCellWidget(row, col, w)
        for col in _NUMBER_COLUMNS:  # a typed value out of range: said under the table
            show_refusal_in_place(cells[col], self, self.refused.emit)
        self._name_fields(row)

    def _refill_table(self, select: int | None = None) -> None:
        self.table.setRowCount(0)
        self.table.setRowCount(len(self._blocks))
        for row, block in enumerate(self._blocks):
            self.table.setVerticalHeaderItem(row, QTableWidgetItem(f"{row + 1}"))
            self._row_widgets(row, block)
        if select is not None and 0 <= select < len(self._blocks):
            self.table.selectRow(select)
        self._show_add_limit()

    # -- editing ----------------------------------------------------------------
    def _block_edited(self, row: int, key: str, value) -> None:
        if 0 <= row < len(self._blocks):
            self._blocks[row] = replace(self._blocks[row], **{key: value})
            self._changed()

    def _head_edited(self, *_):
        self._head = replace(self._head, hidden=self.hidden_spin.value(),
                             activation=self.hidden_act.currentData())
        self.hidden_act.setEnabled(self._head.hidden > 0)
        self._changed()

    def add_block(self) -> None:
        if len(self._blocks) >= MAX_BLOCKS:
            return  # the button is disabled; its tooltip says why
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
        """Show ``spec`` in the builder (raises ValueError if it is not blocks + head,
        or larger than the builder holds; then nothing changes)."""
        blocks, head = spec_to_blocks(spec)
        self.set_blocks(blocks, head)

    def set_blocks(self, blocks, head: Head | None = None) -> None:
        """Show ``blocks`` and ``head``; emits nothing (the caller knows what it set).

        Raises ValueError (and changes nothing) for more than MAX_BLOCKS blocks."""
        blocks = list(blocks)
        check_block_count(len(blocks))
        head = Head() if head is None else head
        self._blocks = blocks
        self._head = head
        with QSignalBlocker(self.hidden_spin), QSignalBlocker(self.hidden_act):
            self.hidden_spin.setValue(head.hidden)
            self.hidden_act.setCurrentIndex(max(0, self.hidden_act.findData(head.activation)))
        self.hidden_act.setEnabled(head.hidden > 0 and self.table.isEnabled())
        self._show_head_title()
        self._refill_table()
        self.refresh_summary()
        self._debounce.stop()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self._input_shape

    def set_input_shape(self, input_shape) -> None:
        """The data's images are ``input_shape`` (C, H, W): the summary's first row and
        every shape after it follow (emits nothing)."""
        self._input_shape = tuple(int(s) for s in input_shape)
        self.refresh_summary()

    def set_editable(self, editable: bool, reason: str = "") -> None:
        """``reason``: why the network cannot be edited now (a msgid, shown as its tooltip
        in the current language)."""
        for w in (self.table, self.add_button, self.remove_button, self.up_button,
                  self.down_button, self.hidden_spin, self.hidden_act):
            w.setEnabled(editable)
        if editable:
            self.hidden_act.setEnabled(self._head.hidden > 0)
            self._show_add_limit()
        self._locked_reason = "" if editable else reason
        self.table.setToolTip(tr(self._locked_reason) if self._locked_reason else "")

    def refresh_summary(self) -> None:
        spec, self._owner = blocks_to_spec(self._blocks, self._head)
        rows, total, error, bad_index = describe_network(spec, self._input_shape)
        self._valid = error is None
        self._mark_bad_block(bad_index)
        self.error_label.setVisible(error is not None)
        extra = 0
        if error is not None:
            self.error_label.setText(tr("This network cannot be built: {error}").format(
                error=error))
            extra = 1 if bad_index is not None and bad_index < len(spec) else 0
        self.summary.setRowCount(len(rows) + 1 + extra)
        self._set_summary_row(0, tr("input"), _shape_text(self._input_shape), "")
        for k, r in enumerate(rows, start=1):
            self._set_summary_row(k, f"{r.name} ({layer_type_text(r.type)})",
                                  _shape_text(r.output_shape),
                                  f"{r.param_count:,}" if r.param_count else "")
        if extra:
            row = len(rows) + 1
            self._set_summary_row(
                row, tr("layer {k} ({type})").format(k=bad_index + 1,
                                                     type=layer_type_text(spec[bad_index]["type"])),
                tr("✗ impossible"), "")
            for c in range(3):
                self.summary.item(row, c).setBackground(QColor(253, 219, 199))
        self.total_label.setText(tr("Total: -") if error else
                                 tr("Total: {n:,} parameters").format(n=total))

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
