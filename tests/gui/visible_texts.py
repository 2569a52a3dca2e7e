"""Every text a learner can read in a window: the widget walk of the translation tests.

``visible_texts(root)`` walks ``root`` and every widget, menu, action and plot below it
and yields ``(where, text)`` pairs: labels (rich text reduced to its words), buttons,
group titles, combo items and their tooltips, tabs, table and list items and headers,
spin box prefixes and suffixes, progress bar formats, placeholder texts, window titles,
tooltips, status tips and What's This texts, menus and their actions, text browsers
and pyqtgraph plot titles, axis labels and legend entries. Texts hidden right now count
too: a switch of tab or source must not reveal an untranslated one.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QDoubleSpinBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QMenu,
    QPlainTextEdit,
    QProgressBar,
    QSpinBox,
    QTabBar,
    QTabWidget,
    QTextBrowser,
    QWidget,
)

from gui.widgets.live_text import LiveLabel

__all__ = ["visible_texts", "plain"]

_TAG = re.compile(r"<[^>]+>")


def plain(text: str) -> str:
    """Rich text reduced to what is read: tags dropped, entities decoded, '&' mnemonics gone."""
    if "<" in text and ">" in text:
        text = _TAG.sub(" ", text)
    return html.unescape(text).replace("&&", "\0").replace("&", "").replace("\0", "&")


def _name(widget) -> str:
    return type(widget).__name__ + (f"[{widget.objectName()}]" if widget.objectName() else "")


def _action_texts(action: QAction, where: str) -> Iterator[tuple[str, str]]:
    for kind, text in (("text", action.text()), ("tooltip", action.toolTip()),
                       ("statusTip", action.statusTip()), ("whatsThis", action.whatsThis())):
        if kind == "tooltip" and text == action.text().replace("&", ""):
            continue  # Qt's default tooltip is the text itself
        yield f"{where}:action.{kind}", text
    menu = action.menu()
    if menu is not None:
        yield from _menu_texts(menu, where)


def _menu_texts(menu: QMenu, where: str) -> Iterator[tuple[str, str]]:
    yield f"{where}:menu.title", menu.title()
    for action in menu.actions():
        yield from _action_texts(action, f"{where}>{plain(menu.title())}")


def _model_texts(view: QAbstractItemView, where: str) -> Iterator[tuple[str, str]]:
    model = view.model()
    if model is None:
        return
    root = view.rootIndex()
    rows = model.rowCount(root)
    try:
        cols = model.columnCount(root)
    except TypeError:  # a list model (PyQt hides its columnCount): one column
        cols = 1
    for orientation, count in ((Qt.Orientation.Horizontal, cols), (Qt.Orientation.Vertical, rows)):
        for i in range(count):
            value = model.headerData(i, orientation, Qt.ItemDataRole.DisplayRole)
            if isinstance(value, str):
                yield f"{where}:header", value
    for r in range(min(rows, 200)):
        for c in range(min(cols, 50)):
            index = model.index(r, c, root)
            for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                value = model.data(index, role)
                if isinstance(value, str):
                    yield f"{where}:item", value


def _widget_texts(w: QWidget) -> Iterator[tuple[str, str]]:
    where = _name(w)
    for kind, text in (("windowTitle", w.windowTitle() if w.isWindow() else ""),
                       ("tooltip", w.toolTip()), ("statusTip", w.statusTip()),
                       ("whatsThis", w.whatsThis())):
        yield f"{where}:{kind}", text
    if isinstance(w, QLabel):
        yield f"{where}:text", w.text()
    if isinstance(w, QAbstractButton):
        yield f"{where}:text", w.text()
    if isinstance(w, QGroupBox):
        yield f"{where}:title", w.title()
    if isinstance(w, QComboBox):
        for i in range(w.count()):
            yield f"{where}:item", w.itemText(i)
            tip = w.itemData(i, Qt.ItemDataRole.ToolTipRole)
            if isinstance(tip, str):
                yield f"{where}:item.tooltip", tip
        yield f"{where}:placeholder", w.placeholderText()
    if isinstance(w, QTabWidget):
        for i in range(w.count()):
            yield f"{where}:tab", w.tabText(i)
            yield f"{where}:tab.tooltip", w.tabToolTip(i)
    if isinstance(w, QTabBar):
        for i in range(w.count()):
            yield f"{where}:tab", w.tabText(i)
            yield f"{where}:tab.tooltip", w.tabToolTip(i)
    if isinstance(w, QLineEdit):
        yield f"{where}:placeholder", w.placeholderText()
    if isinstance(w, (QSpinBox, QDoubleSpinBox)):
        yield f"{where}:prefix", w.prefix()
        yield f"{where}:suffix", w.suffix()
    if isinstance(w, QAbstractSpinBox):
        yield f"{where}:specialValue", w.specialValueText()
    if isinstance(w, QProgressBar) and w.isTextVisible():
        yield f"{where}:format", w.format()
    if isinstance(w, (QTextBrowser, QPlainTextEdit)):
        yield f"{where}:text", w.toPlainText()
    if isinstance(w, LiveLabel):
        yield f"{where}:text", w.text()
    if isinstance(w, (QListWidget, QAbstractItemView)) and not isinstance(w, QComboBox):
        yield from _model_texts(w, where)
    if isinstance(w, QMenu):
        yield from _menu_texts(w, where)
    for action in w.actions():
        yield from _action_texts(action, where)
    if isinstance(w, pg.PlotWidget):
        yield from _plot_texts(w.getPlotItem(), where)


def _plot_texts(plot: pg.PlotItem, where: str) -> Iterator[tuple[str, str]]:
    yield f"{where}:plot.title", plot.titleLabel.text or ""
    for side in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(side)
        if axis.isVisible() and axis.label.isVisible():
            yield f"{where}:plot.axis", axis.labelText or ""
    legend = plot.legend
    if legend is not None:
        for _sample, label in legend.items:
            yield f"{where}:plot.legend", label.text or ""


def visible_texts(root: QWidget) -> Iterator[tuple[str, str]]:
    """``(where, text)`` for every non-empty text of ``root`` and its descendants (the
    main window's menu bar included); ``text`` is reduced to plain words (:func:`plain`)."""
    widgets = [root, *root.findChildren(QWidget)]
    for w in widgets:
        for where, text in _widget_texts(w):
            text = plain(text or "").strip()
            if text:
                yield where, text
