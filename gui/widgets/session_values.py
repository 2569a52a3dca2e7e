"""The values of a settings column for a session file, and putting them back.

:func:`widget_values` lists every input widget under a root (spin boxes, combo boxes,
check and radio buttons, line edits, sliders and the typed numbers of
:class:`gui.widgets.number_grid.NumberGrid`) in creation order, each as
``[class name, value]`` (JSON). :func:`restore_widget_values` sets them back one by
one through the widgets' own signals, so the lab reacts as if the learner had set
them; the widgets are listed again after every value, because a value can add widgets
(a channel count adds kernel grids) and the saved list was made in that same order.
A value that no longer fits (another class at that place, a combo item that is gone, a
grid of another size) is skipped and counted, never raised.
"""

from __future__ import annotations

import math

import numpy as np
from PyQt6.QtWidgets import (
    QAbstractButton,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from gui.widgets.number_grid import NumberGrid

__all__ = ["widget_values", "restore_widget_values", "check_widget_values", "MAX_VALUES"]

#: a settings column never has more inputs than this (a session listing more is damaged)
MAX_VALUES = 2000
_KINDS = (NumberGrid, QDoubleSpinBox, QSpinBox, QComboBox, QAbstractButton, QLineEdit,
          QAbstractSlider)
_MAX_GRID_CELLS = 64 * 64


def _inputs(root: QWidget) -> list[QWidget]:
    out = []
    for w in root.findChildren(QWidget):
        if not isinstance(w, _KINDS):
            continue
        if isinstance(w, QAbstractButton) and not w.isCheckable():
            continue  # a push button holds no value
        parent = w.parentWidget()
        if isinstance(w, QLineEdit) and isinstance(parent, (QAbstractSpinBox, QComboBox)):
            continue  # a spin box's or combo box's own editor
        if isinstance(w, QAbstractSlider) and type(w).__name__ == "QScrollBar":
            continue
        out.append(w)
    return out


def _value(w: QWidget):
    if isinstance(w, NumberGrid):
        return w.values().tolist()
    if isinstance(w, (QSpinBox, QDoubleSpinBox, QAbstractSlider)):
        return w.value()
    if isinstance(w, QComboBox):
        data = w.currentData()
        if isinstance(data, (str, int, float, bool)) and not (
                isinstance(data, float) and not math.isfinite(data)):
            return {"data": data}
        return {"index": w.currentIndex()}
    if isinstance(w, QAbstractButton):
        return w.isChecked()
    return w.text()  # QLineEdit


def widget_values(root: QWidget) -> list[list]:
    """Every input under ``root``: [[class name, value], ...] (JSON)."""
    return [[type(w).__name__, _value(w)] for w in _inputs(root)]


def check_widget_values(values) -> bool:
    """True when ``values`` has the shape :func:`widget_values` gives (a session check)."""
    return (isinstance(values, list) and len(values) <= MAX_VALUES
            and all(isinstance(v, list) and len(v) == 2 and isinstance(v[0], str)
                    for v in values))


def _set(w: QWidget, value) -> bool:
    """Put ``value`` into ``w`` through its own signals; False when it does not fit."""
    if isinstance(w, NumberGrid):
        try:
            array = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            return False
        if array.shape != w.values().shape or array.size > _MAX_GRID_CELLS or \
                not np.all(np.isfinite(array)):
            return False
        if not np.array_equal(array, w.values()):
            w.set_values(array)
            w.values_edited.emit()  # what a typed number says
        return True
    if isinstance(w, (QSpinBox, QAbstractSlider)):
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        w.setValue(value)
        return w.value() == value
    if isinstance(w, QDoubleSpinBox):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        w.setValue(float(value))
        return True
    if isinstance(w, QComboBox):
        if not isinstance(value, dict):
            return False
        if "data" in value:
            index = w.findData(value["data"])
        else:
            index = value.get("index", -1)
            index = index if isinstance(index, int) and 0 <= index < w.count() else -1
        if index < 0:
            return False
        w.setCurrentIndex(index)
        return True
    if isinstance(w, QAbstractButton):
        if not isinstance(value, bool):
            return False
        if value or not w.autoExclusive():  # a radio button is unchecked by its sibling
            w.setChecked(value)
        return True
    if isinstance(w, QLineEdit) and isinstance(value, str):
        w.setText(value)
        w.editingFinished.emit()
        return True
    return False


def restore_widget_values(root: QWidget, values) -> int:
    """Set the inputs under ``root`` from ``values`` (from :func:`widget_values`); returns
    how many values could not be put back."""
    if not check_widget_values(values):
        return len(values) if isinstance(values, list) else 1
    skipped = 0
    for k, (kind, value) in enumerate(values):
        inputs = _inputs(root)  # again: an earlier value may have added widgets
        if k >= len(inputs) or type(inputs[k]).__name__ != kind or not _set(inputs[k], value):
            skipped += 1
    return skipped
