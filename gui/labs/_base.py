"""The skeleton the stepping labs share (Convolution, Pooling, Backprop, Kernel fitting).

Every one of them is a settings column on the left (scrolling when the window is narrow)
and a main area on the right, split by a QSplitter; a formula/status line at the top of
the main area; and, in place of the animation, a red sentence when the geometry is
impossible. ``SettingsLab`` builds that frame and wires the hooks the labs have in
common; the labs build their own main areas and keep their own logic.

The small text helpers (``format_number``, ``is_integral``) write the numbers of the
step equations the same way in every lab.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QWidget,
)

from gui.widgets.matrix_view import format_cell

__all__ = ["SettingsLab", "ERROR_STYLE", "format_number", "is_integral", "formula_label",
           "formula_lines", "problem_label", "strip_or_problem", "operator_label", "hline"]

ERROR_STYLE = "color: #b00020;"
_NEGATIVE_ZEROS = ("-0", "", "-0.0", "-0.00")


def format_number(v: float, integers: bool) -> str:
    """A number in an equation; negative numbers get brackets so '+ (−2)' reads right.

    ``integers``: the arrays are whole numbers, write no decimals; otherwise up to three
    decimals without trailing zeros. A negative value that rounds to zero is written "0".
    """
    text = format_cell(v, integers) if integers else f"{v:.3f}".rstrip("0").rstrip(".")
    if text in _NEGATIVE_ZEROS:
        text = "0"
    text = text.replace("-", "−")
    return f"({text})" if v < 0 and text != "0" else text


def is_integral(*arrays) -> bool:
    """True when every value of every array is a whole number (the equations drop decimals)."""
    return all(np.all(np.asarray(a) == np.round(a)) for a in arrays)


def formula_lines(formulas: list[str], problem: str | None,
                  reword: tuple[str, str] | None = None) -> list[str]:
    """The output-size formulas as lines of rich text, an impossible axis in red.

    ``engine.output_size_formula`` ends a formula in ": reason" when the axis does not
    work; that line is marked ✗. ``problem`` (why the geometry is impossible) gets its own
    red line when no formula already says it. ``reword``: (old, new) words for the reason
    (the formula speaks of a "kernel"; the Pooling lab says "pooling window").
    """
    lines = []
    for text in formulas:
        head, sep, reason = text.partition(": ")
        if sep:
            if reword:
                reason = reason.replace(*reword)
            lines.append(f"<span style='{ERROR_STYLE}'>✗ {head}: {reason}</span>")
        else:
            lines.append(text)
    if problem is not None and all(": " not in t for t in formulas):
        lines.append(f"<span style='{ERROR_STYLE}'>✗ {problem}</span>")
    return lines


def formula_label(style: str | None = "font-size: 15px;") -> QLabel:
    """The rich-text line at the top of a lab: the output-size formula with its numbers."""
    label = QLabel("")
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setWordWrap(True)
    if style:
        label.setStyleSheet(style)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def problem_label() -> QLabel:
    """The large red sentence shown in place of the animation for an impossible geometry."""
    label = QLabel("")
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setStyleSheet("font-size: 17px; " + ERROR_STYLE)
    return label


def operator_label(text: str, style: str = "font-size: 20px;") -> QLabel:
    """A large centred sign between the matrices of an equation: ⊙, =, →."""
    label = QLabel(text)
    label.setStyleSheet(style)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label


def hline() -> QFrame:
    """A sunken horizontal rule between the parts of a main area."""
    line = QFrame()
    line.setFrameShape(QFrame.Shape.HLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line


def strip_or_problem(strip: QWidget, problem: QLabel) -> QStackedWidget:
    """A stack showing the step strip (page 0) or, for an impossible geometry, the problem."""
    stack = QStackedWidget()
    stack.addWidget(strip)
    stack.addWidget(problem)
    stack.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
    return stack


class SettingsLab(QWidget):
    """A lab made of a settings column (left) and a main area (right).

    Subclasses set ``self.settings`` (a widget with a ``message(str)`` signal) and build
    ``self.main_area``, then call ``_lay_out()``; the stepping labs also call
    ``_connect_animation()`` once ``self.controls`` (an AnimControls) exists.

    The shell's hooks (docs/ARCHITECTURE.md, "GUI contracts"): ``activated()`` takes the
    keyboard focus, ``deactivated()`` and ``shutdown()`` pause (nothing runs on another
    thread), ``export_widget()`` is the main area. ``pause()`` pauses the animation
    controls; a lab with its own player overrides it. ``open_image`` is not defined here:
    the shell offers File > Open image only to the labs that define it (they may use
    ``_open_photo``).

    Signals
    -------
    status_message(str)
        A sentence for the main window's status bar.
    """

    status_message = pyqtSignal(str)

    def _lay_out(self, settings_width: int | None = None) -> None:
        """Put ``self.settings`` (scrolling) left of ``self.main_area`` in a splitter.

        ``settings_width``: the room the settings column asks for; by default its size hint.
        """
        scroll = QScrollArea()
        scroll.setWidget(self.settings)
        scroll.setWidgetResizable(True)
        # full width when there is room; a narrow window scrolls the settings instead of
        # forcing the whole main window wider
        if settings_width is None:
            settings_width = self.settings.sizeHint().width()
        settings_width += 24
        scroll.setMinimumWidth(180)
        scroll.setMaximumWidth(settings_width + 16)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(self.main_area)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([settings_width, 1000])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # a click anywhere arms the keys
        self.settings.message.connect(self.status_message)

    def _connect_animation(self, show_step) -> None:
        """Keys and the step slider drive ``show_step(k)``; a settings change rebuilds."""
        self.controls.install_shortcuts(self)
        self.controls.step_changed.connect(show_step)
        self.settings.changed.connect(self.rebuild)

    # ------------------------------------------------------------- shell hooks
    def pause(self) -> None:
        self.controls.pause()

    def activated(self) -> None:
        self.setFocus()

    def deactivated(self) -> None:
        self.pause()

    def shutdown(self) -> None:
        self.pause()

    def export_widget(self) -> QWidget:
        return self.main_area

    def _open_photo(self, path: str, done: str) -> None:
        """Give the photo at ``path`` to the settings; a bad file is reported, not raised."""
        try:
            self.settings.add_photo(path)
        except ValueError as err:
            self.status_message.emit(str(err))
            return
        self.status_message.emit(done)
