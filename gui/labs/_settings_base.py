"""What the lab settings columns share: the column itself, the ``message(str)`` signal,
the "quiet" counter that keeps the settings' own widget changes from re-emitting, the
embedded MNIST digits loaded on first use, and (for the stepping labs) ``changed()``.

The settings own numbers only; they never compute a convolution or a pooling.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QLayout, QVBoxLayout, QWidget

from gui.widgets.number_grid import NumberGrid

__all__ = ["LabSettings", "SteppingSettings", "digit_article"]


def digit_article(label: int) -> str:
    """'an' before "8", 'a' before every other digit."""
    return "an" if label == 8 else "a"


class LabSettings(QWidget):
    """A settings column: groups stacked top to bottom.

    Signals
    -------
    message(str)
        A sentence for the status bar (a refused value, a missing file).
    """

    message = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._digits: np.ndarray | None = None  # (N, 28, 28) uint8, loaded on first use
        self._digit_labels: np.ndarray | None = None  # (N,) int
        self._quiet = 0  # > 0 while the settings themselves change widgets

    def _stack(self, *parts: QWidget | QLayout) -> QVBoxLayout:
        """Lay ``parts`` (group boxes, button rows) out top to bottom, room left at the end."""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for part in parts:
            if isinstance(part, QLayout):
                layout.addLayout(part)
            else:
                layout.addWidget(part)
        layout.addStretch(1)
        return layout

    def _number_grid(self, tip: str, on_edited) -> NumberGrid:
        """A NumberGrid whose edits call ``on_edited()`` and whose refusals go to ``message``."""
        grid = NumberGrid()
        grid.setToolTip(tip)
        grid.values_edited.connect(on_edited)
        grid.rejected.connect(self.message)
        return grid

    def _load_digits(self) -> bool:
        """Load the embedded digits once; False (and a message) when they cannot be read.

        Needs ``self.digit_spin``; fits its maximum to the digits. When the column has a
        ``digit_label`` it names the chosen digit there.
        """
        if self._digits is None:
            try:
                from engine.data import load_embedded_mnist

                self._digits, self._digit_labels = load_embedded_mnist()
            except (ImportError, ValueError, OSError) as err:
                self.message.emit(f"The MNIST digits could not be loaded: {err}")
                return False
            self._quiet += 1
            self.digit_spin.setMaximum(len(self._digits) - 1)
            self._quiet -= 1
        digit_label = getattr(self, "digit_label", None)
        if digit_label is not None:
            label = int(self._digit_labels[self.digit_spin.value()])
            digit_label.setText(f"this digit is {digit_article(label)} {label}")
        return True


class SteppingSettings(LabSettings):
    """The settings of a stepping lab (Convolution, Pooling, Backprop).

    Signals
    -------
    changed()
        Some number changed; the lab asks for the new arrays and rebuilds its trace.
    message(str)
        See ``LabSettings``.
    """

    changed = pyqtSignal()

    def _emit_changed(self, *_):
        if self._quiet == 0:
            self.changed.emit()

    def _store_edit(self, store: np.ndarray, table: NumberGrid) -> None:
        """A grid was edited: write its (rows, cols) values into the top-left corner of
        ``store`` (a 2-D array or view, larger than any grid shown) and say so."""
        values = table.values()
        store[:values.shape[0], :values.shape[1]] = values
        self._emit_changed()
