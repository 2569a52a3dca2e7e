"""Building blocks of the Backprop lab's main area: the step strip and the gradient check.

``StepStrip`` shows one frame of the backward pass as an equation of small
matrices: ``A → B`` for a preparation stage (delta dilated, padded, the kernel
rotated) and ``A ⊙ B = products → Σ = value`` for a step of dx, dW or db.
``GradCheckPanel`` shows one relative error per tensor with a pass/fail colour.
Both only display what they are given; neither computes anything.
"""

from __future__ import annotations

import math

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QGridLayout, QGroupBox, QLabel, QSizePolicy, QWidget

from engine.i18n import tr, tr_noop
from gui.labs._base import operator_label
from gui.widgets.matrix_view import MatrixView

__all__ = ["StepStrip", "GradCheckPanel", "verdict", "PASS_BELOW", "FAIL_ABOVE"]

PASS_BELOW = 1e-7  # float64 rules of thumb from engine.gradcheck.relative_error
FAIL_ABOVE = 1e-4
_VERDICT_STYLE = {
    "pass": (tr_noop("✓ pass"), "background:#d8f0dc; color:#1b5e20;"),
    "doubtful": (tr_noop("? doubtful"), "background:#fff1c7; color:#7a5a00;"),
    "fail": (tr_noop("✗ fail"), "background:#fadadd; color:#b00020;"),
    "none": ("—", "color:#777;"),
}


def verdict(error: float | None) -> str:
    """"pass", "doubtful" or "fail" for one relative error (None or NaN -> "none")."""
    if error is None or not math.isfinite(error):
        return "none"
    if error < PASS_BELOW:
        return "pass"
    return "doubtful" if error <= FAIL_ABOVE else "fail"


def _retain(widget: QWidget) -> QWidget:
    """Keep the widget's room when hidden, so the strip does not jump between stages."""
    policy = widget.sizePolicy()
    policy.setRetainSizeWhenHidden(True)
    widget.setSizePolicy(policy)
    return widget


class StepStrip(QWidget):
    """``A op B = P → Σ = value`` with three MatrixViews, configured per frame.

    Attributes
    ----------
    a_view, b_view, p_view : MatrixView
        The two operands and their element-wise products.
    equation : QLabel
        The numbers of the current step written out.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        self.a_view = MatrixView("", "diverging")
        self.b_view = MatrixView("", "diverging")
        self.p_view = MatrixView("", "diverging")
        self.op1, self.op2 = (operator_label(t, "font-size: 22px;") for t in ("⊙", "="))
        self.sum_label = _retain(QLabel(""))  # keeps the matrices from jumping within a stage
        self.sum_label.setTextFormat(Qt.TextFormat.RichText)
        self.sum_label.setMinimumWidth(150)
        self.sum_label.setWordWrap(True)
        for col, w in enumerate((self.a_view, self.op1, self.b_view, self.op2, self.p_view,
                                 self.sum_label)):
            grid.addWidget(w, 0, col)
        self._grid = grid
        grid.setColumnStretch(5, 2)
        grid.setRowStretch(0, 1)
        self.equation = QLabel("")
        self.equation.setTextFormat(Qt.TextFormat.RichText)
        self.equation.setWordWrap(True)
        self.equation.setStyleSheet("font-size: 14px; padding: 2px 4px;")
        grid.addWidget(self.equation, 1, 0, 1, 6)

    def _fit(self, *widths: int) -> None:
        """Column stretch in proportion to the matrices' widths (0 for a hidden one), so a
        9-wide padded delta gets the room its numbers need next to a 3-wide kernel."""
        for col, w in zip((0, 2, 4), widths, strict=True):
            self._grid.setColumnStretch(col, w)

    def show_single(self, a: np.ndarray, title: str, levels, total: str = "") -> None:
        """Only A (and optionally ``→ Σ = total``)."""
        self.a_view.set_title(title)
        self.a_view.set_matrix(a, levels=levels)
        for w in (self.op1, self.b_view, self.op2, self.p_view):
            w.setVisible(False)
        self.sum_label.setText(total)
        self.sum_label.setVisible(bool(total))
        self._fit(a.shape[1], 0, 0)

    def show_arrow(self, a: np.ndarray, a_title: str, b: np.ndarray, b_title: str, levels,
                   a_mask=None, b_mask=None, b_inner=None, op: str = "→",
                   b_levels=None) -> None:
        """``A → B``: one preparation stage turning A into B (``op`` between them)."""
        self.a_view.set_title(a_title)
        self.a_view.set_matrix(a, levels=levels, padding_mask=a_mask)
        self.op1.setText(op)
        self.b_view.set_title(b_title)
        self.b_view.set_matrix(b, levels=levels if b_levels is None else b_levels,
                               padding_mask=b_mask, inner=b_inner)
        for w in (self.op1, self.b_view):
            w.setVisible(True)
        for w in (self.op2, self.p_view, self.sum_label):
            w.setVisible(False)
        self._fit(a.shape[1], b.shape[1], 0)

    def show_product(self, a, a_title, a_levels, b, b_title, b_levels, p_levels, total: str,
                     a_mask=None) -> None:
        """``A ⊙ B = A*B → Σ = total``: one step of dx or dW."""
        self.a_view.set_title(a_title)
        self.a_view.set_matrix(a, levels=a_levels, padding_mask=a_mask)
        self.op1.setText("⊙")
        self.b_view.set_title(b_title)
        self.b_view.set_matrix(b, levels=b_levels)
        self.p_view.set_title(tr("products"))
        self.p_view.set_matrix(a * b, levels=p_levels)
        self.sum_label.setText(total)
        for w in (self.op1, self.b_view, self.op2, self.p_view, self.sum_label):
            w.setVisible(True)
        self._fit(a.shape[1], b.shape[1], b.shape[1])


class GradCheckPanel(QGroupBox):
    """Relative error of dx, dW and db against centred finite differences.

    Attributes
    ----------
    error_labels, verdict_labels : dict[str, QLabel]
        Keyed "dx", "dw", "db".
    """

    NAMES = (("dx", "dx"), ("dw", "dW"), ("db", "db"))

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._errors: dict[str, float] | None = None
        self._reason = ""
        grid = QGridLayout(self)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(4)
        self.error_labels: dict[str, QLabel] = {}
        self.verdict_labels: dict[str, QLabel] = {}
        self.head_label = head = QLabel()
        head.setStyleSheet("color: #555;")
        grid.addWidget(head, 0, 1)
        for row, (key, name) in enumerate(self.NAMES, start=1):
            grid.addWidget(QLabel(f"<b>{name}</b>"), row, 0)
            error = QLabel("—")
            error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            badge = QLabel("—")
            badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
            badge.setMinimumWidth(84)
            grid.addWidget(error, row, 1)
            grid.addWidget(badge, row, 2)
            self.error_labels[key] = error
            self.verdict_labels[key] = badge
        self.explanation = QLabel("")
        self.explanation.setWordWrap(True)
        self.explanation.setStyleSheet("color: #444;")
        self.explanation.setSizePolicy(QSizePolicy.Policy.Preferred,
                                       QSizePolicy.Policy.MinimumExpanding)
        grid.addWidget(self.explanation, len(self.NAMES) + 1, 0, 1, 3)
        grid.setRowStretch(len(self.NAMES) + 2, 1)
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(tr("Numerical gradient check (float64)"))
        self.head_label.setText(tr("relative error"))
        self.setToolTip(tr("Relative error = max |backward pass − finite differences| divided "
                           "by the largest gradient of the layer (engine.relative_error); "
                           "green below 1e-7, amber up to 1e-4, red above"))
        self.set_errors(self._errors, self._reason)

    def set_errors(self, errors: dict[str, float] | None, reason: str = "") -> None:
        """Show one relative error per tensor, or dashes and ``reason`` when there are none."""
        self._errors, self._reason = errors, reason
        for key, _ in self.NAMES:
            error = None if errors is None else errors.get(key)
            kind = verdict(error)
            text, style = _VERDICT_STYLE[kind]
            self.error_labels[key].setText("—" if kind == "none" else f"{error:.1e}")
            self.verdict_labels[key].setText(tr(text))
            self.verdict_labels[key].setStyleSheet(style + " padding: 1px 6px;"
                                                   " border-radius: 3px;")
        if errors is None:
            self.explanation.setText(reason or tr("No example to check."))
        else:
            self.explanation.setText(tr(
                "Nudging each number by ±1e-6 and watching Σ(y ⊙ δ) change gives the "
                "gradient by finite differences; errors below 1e-7 mean the backward "
                "formulas above are right, above 1e-4 would mean a bug."))
