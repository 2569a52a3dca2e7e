"""A small editable grid of typed numbers, shared by every lab that lets you type arrays
(the Convolution lab's input and kernels, the Pooling lab's input and delta, the Backprop
lab's x, kernel and delta, the Kernel fitting lab's target).

A cell that gets text which is not a number goes back to its old value and the grid says
why through ``rejected(str)``; it never raises.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QEvent, QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from engine.i18n import tr

__all__ = ["NumberGrid", "parse_number", "cell_text"]


def cell_text(v: float) -> str:
    """A cell's text: whole numbers without a decimal point, others to 4 significant digits."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e6 else f"{v:.4g}"


def parse_number(text: str) -> float:
    """A typed number; accepts a comma decimal separator and the minus sign '−'."""
    value = float(text.strip().replace("−", "-").replace(",", "."))
    if not np.isfinite(value):
        raise ValueError(text)
    return value


class NumberGrid(QTableWidget):
    """A small editable grid of numbers, (rows, cols).

    Signals
    -------
    values_edited()
        A cell got a new valid number.
    rejected(str)
        A cell got text that is not a number; the cell shows its old value again.
    """

    values_edited = pyqtSignal()
    rejected = pyqtSignal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._values = np.zeros((0, 0))
        self.horizontalHeader().setVisible(False)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(22)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.AllEditTriggers)
        self.itemChanged.connect(self._on_item_changed)

    _OWN_KEYS = (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Home, Qt.Key.Key_End,
                 Qt.Key.Key_Space)

    def event(self, e):
        # the grid moves between its cells with the arrow keys: keep them from the
        # animation's shortcuts while the grid has the focus
        if e.type() == QEvent.Type.ShortcutOverride and e.key() in self._OWN_KEYS:
            e.accept()
            return True
        return super().event(e)

    def values(self) -> np.ndarray:
        return self._values.copy()

    def set_values(self, values: np.ndarray) -> None:
        """Show ``values`` (rows, cols) without emitting ``values_edited``."""
        values = np.array(values, dtype=np.float64)
        self._values = values
        rows, cols = values.shape
        width = 26 if cols > 8 else 36
        with QSignalBlocker(self):
            self._fill(values, width)
        frame = 2 * self.frameWidth()
        self.setFixedSize(cols * width + frame, rows * 22 + frame)

    def _fill(self, values: np.ndarray, width: int) -> None:
        rows, cols = values.shape
        self.setRowCount(rows)
        self.setColumnCount(cols)
        self.horizontalHeader().setDefaultSectionSize(width)
        for r in range(rows):
            for c in range(cols):
                item = self.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    self.setItem(r, c, item)
                item.setText(cell_text(values[r, c]))
                item.setForeground(QColor(20, 20, 20))

    def _on_item_changed(self, item: QTableWidgetItem):
        r, c = item.row(), item.column()
        try:
            value = parse_number(item.text())
        except ValueError:
            text = item.text()
            with QSignalBlocker(self):
                item.setText(cell_text(self._values[r, c]))
            self.rejected.emit(tr("'{text}' is not a number; row {row}, column {col} keeps "
                                  "its old value").format(text=text, row=r + 1, col=c + 1))
            return
        if value == self._values[r, c]:
            return
        self._values[r, c] = value
        self.values_edited.emit()
