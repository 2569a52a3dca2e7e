"""The selected neuron's computation with the real numbers, and its receptive field.

Forward picture: for a conv cell one card per input channel (its window, the
filter's kernel for that channel, the partial sum), paged, largest contributions
first, then the bias, the total and the activation; for a pooling cell its window
with the maximum outlined (or the mean); batch norm's statistics; a dense unit's
largest contributions. Backward picture: where the neuron's delta came from (the
cells of the next layer that read it, each delta times its local derivative).
Right: the receptive field's size on every layer and one unit's field per layer.

Every number comes from ``engine.neuron`` (recomputed in float64 from the engine's
own activations, which tests compare with the engine's forward and backward passes).
Widgets are made once; a new neuron only sets texts and matrices.
"""

from __future__ import annotations

import math

import numpy as np
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine import neuron as cells
from engine.i18n import tr, tr_n
from gui.widgets.colormaps import symmetric_levels
from gui.widgets.matrix_view import MatrixView

__all__ = ["NeuronView", "num", "where", "CARDS", "TERMS"]

CARDS = 3   # conv channels shown at once (a row: each matrix wide enough for its numbers)
TERMS = 10  # rows of contributions / delta terms


def num(v: float) -> str:
    """A number in the panel: four significant digits, a real minus sign."""
    if v is None or not math.isfinite(v):
        return "–"
    text = f"{v:.4g}"
    if text in ("-0", "0"):
        text = "0"
    return text.replace("-", "−")


def where(name: str, index: tuple) -> str:
    """"conv2 · map 5 · (3, 4)" for a map cell, "dense1 · unit 7" for a unit (1-based
    maps and units as people count; rows and columns from 0, as the arrays)."""
    if len(index) == 3:
        return tr("{layer} · map {c} · ({i}, {j})").format(layer=name, c=index[0] + 1,
                                                          i=index[1], j=index[2])
    return tr("{layer} · unit {d}").format(layer=name, d=index[0])


def _label(rich: bool = True, wrap: bool = True) -> QLabel:
    label = QLabel()
    if rich:
        label.setTextFormat(Qt.TextFormat.RichText)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class _Card(QWidget):
    """One input channel of a conv cell: window ⊙ kernel → partial sum."""

    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(2, 2, 2, 2)
        grid.setSpacing(2)
        self.head = _label(wrap=False)
        self.head.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.window = MatrixView("", "greys")
        self.kernel = MatrixView("", "diverging")
        times = QLabel("⊙")
        times.setStyleSheet("font-size: 18px;")
        grid.addWidget(self.head, 0, 0, 1, 3)
        grid.addWidget(self.window, 1, 0)
        grid.addWidget(times, 1, 1)
        grid.addWidget(self.kernel, 1, 2)
        grid.setRowStretch(1, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(2, 1)
        for view in (self.window, self.kernel):
            view.setMinimumSize(44, 44)
        self.cmap = "greys"  # the window's colour map


class _ConvPage(QWidget):
    """Cards for a page of channels, the pager, the equation."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.cards = [_Card() for _ in range(CARDS)]
        self.matrices = _Matrices()
        self.page = 0
        self.cell: cells.ConvCell | None = None
        self.order: np.ndarray = np.zeros(0, np.int64)
        self.pager_label = _label(wrap=False)
        self.previous_button, self.next_button = QPushButton("◀"), QPushButton("▶")
        for b in (self.previous_button, self.next_button):
            b.setFixedWidth(32)
        self.previous_button.clicked.connect(lambda: self.turn(-1))
        self.next_button.clicked.connect(lambda: self.turn(+1))
        self.equation = _label()
        self.equation.setStyleSheet("font-size: 14px;")
        self.sums = _label()
        self.sums.setStyleSheet("color: #444; font-size: 11px;")
        pager = QHBoxLayout()
        pager.addWidget(self.pager_label)
        pager.addStretch(1)
        pager.addWidget(self.previous_button)
        pager.addWidget(self.next_button)
        cards = QHBoxLayout()
        cards.setSpacing(8)
        for card in self.cards:
            cards.addWidget(card, 1)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.addLayout(pager)
        v.addLayout(cards, 1)
        v.addWidget(self.sums)
        v.addWidget(self.equation)

    def show_cell(self, cell: cells.ConvCell, keep_page: bool) -> None:
        self.cell = cell
        # the channels in order of how much they add (|partial sum|), largest first
        self.order = np.argsort(-np.abs(cell.channel_sums), kind="stable")
        if not keep_page:
            self.page = 0
        self.page = min(self.page, self.pages - 1)
        self._show_page()

    @property
    def pages(self) -> int:
        return max(1, math.ceil(len(self.order) / CARDS))

    def turn(self, step: int) -> None:
        if self.cell is not None:
            self.page = (self.page + step) % self.pages
            self._show_page()

    def _show_page(self) -> None:
        cell = self.cell
        C = cell.window.shape[0]
        shown = self.order[self.page * CARDS:(self.page + 1) * CARDS]
        lo, hi = 0.0, max(float(np.abs(cell.window).max()), 1e-12)
        kernel_levels = symmetric_levels(cell.kernel)
        signed = bool((cell.window < 0).any())
        for card, c in zip(self.cards, list(shown) + [None] * CARDS, strict=False):
            card.setVisible(c is not None)
            if c is None:
                continue
            cmap = "diverging" if signed else "greys"
            if card.cmap != cmap:  # (a new colour table costs more than the numbers)
                card.window.set_cmap(cmap)
                card.cmap = cmap
                self.matrices.forget(card.window)
            self.matrices.show(card.window, cell.window[c], (-hi, hi) if signed else (lo, hi),
                               cell.padding)
            self.matrices.show(card.kernel, cell.kernel[c], kernel_levels)
            card.head.setText(tr("channel {c}: Σ = <b>{s}</b>").format(
                c=c + 1, s=num(float(cell.channel_sums[c]))))
        first = self.page * CARDS + 1
        self.pager_label.setText(tr("input channels {a}–{b} of {n}, largest contribution "
                                    "first").format(a=first, b=first + len(shown) - 1, n=C))
        for b in (self.previous_button, self.next_button):
            b.setEnabled(self.pages > 1)
        self.sums.setText(tr("Partial sums Σ<sub>c</sub>: {sums}").format(
            sums=", ".join(f"{c + 1}: {num(float(v))}" for c, v in
                           enumerate(cell.channel_sums))))
        text = tr("Σ of {n} partial sums = {s} &nbsp;+ bias {b} &nbsp;= <b>{total}</b>").format(
            n=C, s=num(float(cell.channel_sums.sum())), b=num(cell.bias), total=num(cell.total))
        self.equation.setText(text + _after_text(cell))


class _Matrices:
    """Sets MatrixViews only when they would show something new: the numbers to two
    decimals, the colours to 1/256 of the scale (live refreshes mostly move later
    decimals, and a matrix that repaints costs the GUI thread more than comparing)."""

    def __init__(self):
        self._shown: dict[int, tuple] = {}

    def forget(self, view: MatrixView) -> None:
        self._shown.pop(id(view), None)

    def show(self, view: MatrixView, values: np.ndarray, levels, padding_mask=None) -> None:
        lo, hi = levels
        key = (np.round(values, 2), np.floor((values - lo) / ((hi - lo) or 1.0) * 256),
               np.zeros(0) if padding_mask is None else padding_mask.copy())
        shown = self._shown.get(id(view))
        if shown is not None and all(a.shape == b.shape and np.array_equal(a, b)
                                     for a, b in zip(key, shown, strict=True)):
            return
        self._shown[id(view)] = key
        view.set_matrix(values, levels=levels, padding_mask=padding_mask)


def _after_text(cell) -> str:
    parts = [tr("{layer}: {value}").format(layer=name, value=f"<b>{num(value)}</b>")
             for name, _kind, value in cell.after]
    return (" &nbsp;→ " + " → ".join(parts)) if parts else ""


class _PoolPage(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.window = MatrixView("", "greys")
        self.matrices = _Matrices()
        self._cmap = "greys"
        self.window.setMinimumSize(90, 90)
        self.equation = _label()
        self.equation.setStyleSheet("font-size: 14px;")
        h = QHBoxLayout(self)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.window, 1)
        h.addWidget(self.equation, 2)

    def show_cell(self, cell: cells.PoolCell) -> None:
        w = cell.window
        signed = bool((w < 0).any())
        m = max(float(np.abs(w).max()), 1e-12)
        cmap = "diverging" if signed else "greys"
        if cmap != self._cmap:
            self.window.set_cmap(cmap)
            self._cmap = cmap
            self.matrices.forget(self.window)
        self.matrices.show(self.window, w, (-m, m) if signed else (0.0, m))
        KH, KW = w.shape
        if cell.argmax is not None:
            self.window.set_window(cell.argmax[0], cell.argmax[1], 1, 1)
            text = tr("The {h}×{w} window at row {top}, column {left} of map {c}: its "
                      "maximum is <b>{value}</b> (row {r}, column {q} of the window). Only "
                      "that cell gets the gradient back.").format(
                h=KH, w=KW, top=cell.top, left=cell.left, c=cell.index[0] + 1,
                value=num(cell.total), r=cell.argmax[0], q=cell.argmax[1])
        else:
            self.window.clear_window()
            text = tr("The {h}×{w} window at row {top}, column {left} of map {c}: the mean "
                      "of its {n} values is <b>{value}</b>. Each gets 1/{n} of the gradient "
                      "back.").format(h=KH, w=KW, top=cell.top, left=cell.left,
                                      c=cell.index[0] + 1, n=KH * KW, value=num(cell.total))
        self.equation.setText(text + _after_text(cell))


class _TablePage(QWidget):
    """A few rows of terms (contributions or delta paths) and a line under them."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.intro = _label()
        self.table = QTableWidget(0, 4)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.summary = _label()
        self.summary.setStyleSheet("font-size: 14px;")
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(self.intro)
        v.addWidget(self.table, 1)
        v.addWidget(self.summary)

    def set_rows(self, headers: list[str], rows: list[list[str]]) -> None:
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = self.table.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(r, c, item)
                item.setText(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)

    def rows(self) -> list[list[str]]:
        return [[self.table.item(r, c).text() for c in range(self.table.columnCount())]
                for r in range(self.table.rowCount())]


class NeuronView(QWidget):
    """The panel under the overview (see the module docstring).

    Signals
    -------
    step_through() : "Step through in the Convolution lab" was pressed
    """

    step_through = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.title = _label(wrap=True)
        self.title.setStyleSheet("font-size: 14px;")
        self.handoff_button = QPushButton()
        self.handoff_button.clicked.connect(self.step_through)
        self.handoff_button.setVisible(False)
        self.hint = _label()
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setStyleSheet("color: #555; font-size: 14px;")
        self.conv = _ConvPage()
        self.pool = _PoolPage()
        self.text = _label()
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.text.setStyleSheet("font-size: 14px;")
        self.terms = _TablePage()
        self.stack = QStackedWidget()
        for page in (self.hint, self.conv, self.pool, self.text, self.terms):
            self.stack.addWidget(page)
        self.field = _label()
        self.field.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        field_scroll = QScrollArea()
        field_scroll.setWidget(self.field)
        field_scroll.setWidgetResizable(True)
        field_scroll.setMinimumWidth(170)
        field_scroll.setMaximumWidth(300)
        field_scroll.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.handoff_button)
        left = QVBoxLayout()
        left.addLayout(top)
        left.addWidget(self.stack, 1)
        h = QHBoxLayout(self)
        h.setContentsMargins(4, 2, 4, 2)
        h.addLayout(left, 1)
        h.addWidget(field_scroll)
        self._inspection = None
        self._backward = False
        self._names: list[str] = []
        self.retranslate()

    def retranslate(self) -> None:
        self.handoff_button.setText(tr("Step through in the Convolution lab"))
        self.handoff_button.setToolTip(tr("Load this layer's input maps and this filter into "
                                          "the Convolution lab and go to this cell's step"))
        self.conv.previous_button.setToolTip(tr("Previous channels"))
        self.conv.next_button.setToolTip(tr("Next channels"))
        self._show_hint()  # shown again by clear(); set now too, for when it is hidden
        if self._inspection is None:
            self.clear()
        else:
            self.show_inspection(self._inspection, self._backward, keep_page=True)

    def set_names(self, names: list[str]) -> None:
        """Layer names, index -1 (the input) first."""
        self._names = list(names)

    def _show_hint(self) -> None:
        self.hint.setText(tr("Its computation appears here with the real numbers, and its "
                             "receptive field is outlined on every layer before it."))

    def _name(self, layer: int) -> str:
        return tr("input") if layer == -1 else self._names[layer + 1]

    def clear(self) -> None:
        self._inspection = None
        self.title.setText(tr("<b>Click any neuron</b> above: a cell of a map or a unit"))
        self._show_hint()
        self.stack.setCurrentWidget(self.hint)
        self.field.setText("")
        self.handoff_button.setVisible(False)

    # ------------------------------------------------------------------ showing
    def show_inspection(self, inspection, backward: bool, keep_page: bool = False,
                        handoff: bool = False) -> None:
        """Show the neuron of ``inspection`` (forward computation or delta origin)."""
        same = (self._inspection is not None and inspection.neuron is not None
                and self._inspection.neuron == inspection.neuron)
        self._inspection, self._backward = inspection, backward
        cell = inspection.cell
        if inspection.neuron is None or cell is None:
            self.clear()
            return
        self.handoff_button.setVisible(handoff)
        name = self._name(cell.layer)
        value = inspection.values(cell.layer, backward)[cell.index]
        what = tr("δ = ∂L/∂(output)") if backward else tr("value")
        self.title.setText(f"<b>{where(name, cell.index)}</b> &nbsp; {what} = "
                           f"<b>{num(float(value))}</b>")
        if backward:
            self._show_delta(inspection)
        else:
            self._show_forward(cell, keep_page or same)
        self.field.setText(self._field_text(inspection))

    def _show_forward(self, cell, keep_page: bool) -> None:
        if isinstance(cell, cells.ConvCell):
            self.conv.show_cell(cell, keep_page)
            self.stack.setCurrentWidget(self.conv)
        elif isinstance(cell, cells.PoolCell):
            self.pool.show_cell(cell)
            self.stack.setCurrentWidget(self.pool)
        elif isinstance(cell, cells.DenseCell):
            self._show_dense(cell)
            self.stack.setCurrentWidget(self.terms)
        else:
            self.text.setText(self._cell_text(cell) + _after_text(cell))
            self.stack.setCurrentWidget(self.text)

    def _cell_text(self, cell) -> str:
        if isinstance(cell, cells.BatchNormCell):
            return tr("Batch norm with its running statistics (evaluation): x = {x}, mean "
                      "{mean}, variance {var}, ε = {eps}:<br>x̂ = (x − mean) / √(var + ε) "
                      "= {xhat};<br>γ x̂ + β = {gamma} · {xhat} + {beta} = <b>{total}</b>"
                      ).format(x=num(cell.x), mean=num(cell.mean), var=num(cell.var),
                               eps=f"{cell.eps:g}", xhat=num(cell.x_hat),
                               gamma=num(cell.gamma), beta=num(cell.beta),
                               total=num(cell.total))
        if isinstance(cell, cells.ActivationCell):
            formula = {"relu": "max(x, 0)", "sigmoid": "1 / (1 + e<sup>−x</sup>)",
                       "tanh": "tanh(x)"}.get(cell.type, cell.type)
            return tr("{kind}(x) = {formula}, with x = {x} from the layer before: "
                      "<b>{total}</b>").format(kind=cell.type, formula=formula,
                                               x=num(cell.x), total=num(cell.total))
        if isinstance(cell, cells.FlattenCell):
            before = self._name(cell.layer - 1)
            return tr("Flatten only reorders: unit {d} is {cell}, value <b>{value}</b>. "
                      "The maps are laid end to end, map by map, row by row.").format(
                d=cell.index[0], cell=where(before, cell.source), value=num(cell.value))
        if isinstance(cell, cells.InputCell):
            return tr("An input pixel: <b>{value}</b> (0 is black, 1 is white).").format(
                value=num(cell.value))
        return num(cell.value)

    def _show_dense(self, cell: cells.DenseCell) -> None:
        order = cell.order
        contributions = cell.contributions
        before = self._name(cell.layer - 1)
        source = self._name(cell.layer - 2) if len(cell.source_shape) == 3 else before
        rows = []
        for d in order[:TERMS]:
            place = where(source, cell.source_of(d)) if len(cell.source_shape) == 3 \
                else where(before, (int(d),))
            rows.append([place, num(float(cell.inputs[d])), num(float(cell.weights[d])),
                         num(float(contributions[d]))])
        rest = float(contributions[order[TERMS:]].sum())
        D = len(order)
        self.terms.intro.setText(tr_n(
            "Its {n} input times its weight, largest contributions first:",
            "Its {n} inputs times their weights, largest contributions first:", D).format(n=D))
        self.terms.set_rows([tr("input"), tr("x"), tr("w"), tr("x · w")], rows)
        text = tr("Σ of the {n} shown {shown} + the other {m}: {rest} + bias {b} = "
                  "<b>{total}</b>").format(n=min(TERMS, D), shown=num(
                      float(contributions[order[:TERMS]].sum())), m=max(0, D - TERMS),
                      rest=num(rest), b=num(cell.bias), total=num(cell.total))
        if cell.probability is not None:
            text += " &nbsp;" + tr("→ softmax: probability <b>{p}</b>").format(
                p=f"{cell.probability:.1%}")
        self.terms.summary.setText(text + _after_text(cell))

    def _show_delta(self, inspection) -> None:
        d = inspection.delta_cell
        if d.from_loss:
            self.text.setText(tr(
                "At the output, softmax with cross-entropy gives δ = p − y: the probability "
                "{p} minus {y} ({why}) = <b>{delta}</b>.").format(
                p=num(d.probability), y=num(d.target),
                why=tr("this is the class the loss is computed for") if d.target else
                tr("not the class the loss is computed for"), delta=num(d.delta)))
            self.stack.setCurrentWidget(self.text)
            return
        rows = [[where(d.next_name, t.index), num(t.delta), _factor(t), num(t.product)]
                for t in d.terms[:TERMS]]
        rest = float(sum(t.product for t in d.terms[TERMS:]))
        self.terms.intro.setText(tr_n(
            "{n} cell of {layer} reads this neuron; each sends back its δ times how much "
            "it depends on it:",
            "{n} cells of {layer} read this neuron; each sends back its δ times how much "
            "it depends on it:", d.reads).format(n=d.reads, layer=d.next_name))
        self.terms.set_rows([tr("from"), tr("δ there"), tr("× factor"), tr("=")], rows)
        if not d.terms:
            self.terms.summary.setText(_no_path_back(d))
            self.stack.setCurrentWidget(self.terms)
            return
        self.terms.summary.setText(tr_n(
            "{n} non-zero term: the {k} shown + the other {m} ({rest}) = <b>{total}</b> = δ",
            "{n} non-zero terms: the {k} shown + the other {m} ({rest}) = <b>{total}</b> = δ",
            len(d.terms)).format(n=len(d.terms), k=len(rows), m=max(0, len(d.terms) - len(rows)),
                                 rest=num(rest), total=num(d.total)))
        self.stack.setCurrentWidget(self.terms)

    def _field_text(self, inspection) -> str:
        regions = inspection.receptive_field or ()
        lines = [tr("<b>Receptive field</b> of this neuron on each layer before it:")]
        for region in regions[:-1]:
            name = self._name(region.layer)
            if region.spatial:
                h, w = region.size
                gaps = "" if region.contiguous else " " + tr("(with gaps)")
                lines.append(f"{name}: <b>{h}×{w}</b>{gaps}")
            else:
                lines.append(tr("{layer}: all {n} units").format(layer=name,
                                                              n=region.shape[0])
                             if region.whole else tr("{layer}: {n} unit(s)").format(
                                 layer=name, n=len(region.rows)))
        growth = [g for g in inspection.growth if g.kind == "window"]
        if growth:
            lines.append("")
            lines.append(tr("<b>One unit's field on the input</b> (r ← r + (k − 1)·j, "
                            "j ← j·s):"))
            for g in growth:
                lines.append(f"{self._name(g.layer)}: {g.size[0]}×{g.size[1]}, "
                             + tr("jump {j}").format(j=g.jump[0] if g.jump[0] == g.jump[1]
                                                     else f"{g.jump[0]}×{g.jump[1]}"))
        return "<br>".join(lines)

    # ------------------------------------------------------------------ reading back
    def table_rows(self) -> list[list[str]]:
        return self.terms.rows()


def _no_path_back(d) -> str:
    """Why nothing comes back to a neuron (its δ is 0)."""
    if d.next_type == "maxpool":
        return tr("It is not the maximum of any {layer} window that reads it: max pooling "
                  "sends δ back to the maximum only, so <b>δ = 0</b> here.").format(
            layer=d.next_name)
    if d.next_type == "relu":
        return tr("Its value is not positive, so {layer} lets nothing through (slope 0): "
                  "<b>δ = 0</b>.").format(layer=d.next_name)
    return tr("Every path back has a zero factor: <b>δ = 0</b>.")


def _factor(term) -> str:
    text = num(term.factor)
    label = {"weight": tr("w"), "max": tr("max"), "mean": tr("mean"), "slope": tr("slope"),
             "scale": tr("γ/σ"), "copy": ""}.get(term.what, "")
    return f"{label} {text}".strip()
