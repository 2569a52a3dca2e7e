"""Small form pieces the lab settings columns share: an integer spin box that waits for
the whole typed number, an "h × w" row that puts two of them side by side, a combo box
of (key, text) pairs, a row of buttons, and the typed-numbers page (size, grid, buttons)."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.number_grid import NumberGrid

__all__ = ["int_spin", "pair_row", "keyed_combo", "button_row", "push_button", "TypedGridPage",
           "note_label"]


def int_spin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
    """A QSpinBox on [lo, hi] starting at ``value``, with a tooltip."""
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setToolTip(tip)
    s.setKeyboardTracking(False)  # typing "12" must not pass through "1"
    return s


def pair_row(a: QWidget, b: QWidget, sep: str = "×") -> QWidget:
    """``a sep b`` on one line, left-aligned, no margins (e.g. the rows × cols of a grid)."""
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(a)
    lay.addWidget(QLabel(sep))
    lay.addWidget(b)
    lay.addStretch(1)
    return w


def keyed_combo(items, tip: str = "") -> QComboBox:
    """A QComboBox of ``(key, text)`` pairs: shows the text, ``currentData()`` gives the key."""
    box = QComboBox()
    for key, text in items:
        box.addItem(text, key)
    if tip:
        box.setToolTip(tip)
    return box


def button_row(*buttons: QWidget) -> QHBoxLayout:
    """The buttons side by side."""
    row = QHBoxLayout()
    for b in buttons:
        row.addWidget(b)
    return row


def push_button(text: str, tip: str = "") -> QPushButton:
    """A QPushButton with a tooltip."""
    b = QPushButton(text)
    if tip:
        b.setToolTip(tip)
    return b


class TypedGridPage(QWidget):
    """The "type your own numbers" page: a Size rows × cols row, the grid, and the
    "Random 0-9" and "Default pattern" buttons. The settings column that owns it keeps
    the numbers and connects the signals; ``size_row`` takes extra widgets (a channel box).
    """

    def __init__(self, lo: int, hi: int, side: int, random_tip: str,
                 parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.rows_spin = int_spin(lo, hi, side, "Rows of the typed grid")
        self.cols_spin = int_spin(lo, hi, side, "Columns of the typed grid")
        self.size_row = QHBoxLayout()
        self.size_row.addWidget(QLabel("Size"))
        self.size_row.addWidget(pair_row(self.rows_spin, self.cols_spin))
        lay.addLayout(self.size_row)
        self.grid_table = NumberGrid()
        self.grid_table.setToolTip("Type a number in any cell")
        lay.addWidget(self.grid_table, 0, Qt.AlignmentFlag.AlignLeft)
        self.random_button = push_button("Random 0-9", random_tip)
        self.reset_button = QPushButton("Default pattern")
        lay.addLayout(button_row(self.random_button, self.reset_button))


def note_label(text: str = "") -> QLabel:
    """A grey, word-wrapped explanation under a control."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: #555;")
    return label
