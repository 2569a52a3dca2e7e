"""A progress bar and a line of text for numbers that change many times a second.

``QProgressBar.setValue`` repaints at once (synchronously) and ``QLabel.setText``
asks the whole panel to lay itself out again; during training, at 7 updates a
second, the two cost the GUI thread about 1.2 ms per update, which the training
thread pays too (they share the interpreter lock and two cores). These widgets
only store the new state and schedule an ordinary repaint, which Qt merges with
the window's other repaints; their size never depends on the text (LiveNumbers: only
on how many lines it wraps to).
"""

from __future__ import annotations

from PyQt6.QtCore import QSize, Qt
from PyQt6.QtGui import QColor, QPainter
from PyQt6.QtWidgets import (
    QFrame,
    QPlainTextEdit,
    QProgressBar,
    QSizePolicy,
    QStyle,
    QStyleOptionProgressBar,
    QStylePainter,
    QWidget,
)

__all__ = ["LiveProgressBar", "LiveLabel", "LiveNumbers"]


class LiveProgressBar(QProgressBar):
    """A progress bar drawn by the style from its own (fraction, text) state.

    Use :meth:`show_progress`, not ``setValue``/``setFormat``, for live updates.
    """

    STEPS = 1000

    def __init__(self, text: str = "", parent=None):
        super().__init__(parent)
        self.setRange(0, self.STEPS)
        self._steps = 0
        self._text = text

    def show_progress(self, fraction: float, text: str) -> None:
        """fraction 0..1 of the bar filled, ``text`` written on it."""
        steps = int(round(self.STEPS * min(max(fraction, 0.0), 1.0)))
        if (steps, text) != (self._steps, self._text):
            self._steps, self._text = steps, text
            self.update()  # painted with the next frame, not now

    def fraction(self) -> float:
        return self._steps / self.STEPS

    def text(self) -> str:  # noqa: D102 - QProgressBar's, answering from the live state
        return self._text

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        option = QStyleOptionProgressBar()
        self.initStyleOption(option)
        option.progress = self._steps
        option.text = self._text
        QStylePainter(self).drawControl(QStyle.ControlElement.CE_ProgressBar, option)


class LiveLabel(QWidget):
    """One line of text (elided if too long) whose changes never resize anything."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(parent)
        self._text = text
        self._colour: QColor | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def setText(self, text: str) -> None:  # noqa: N802 - QLabel's name, so it reads the same
        if text != self._text:
            self._text = text
            self.update()

    def text(self) -> str:
        return self._text

    def set_colour(self, colour: str | None) -> None:
        """A text colour such as "#b2182b", or None for the palette's."""
        self._colour = QColor(colour) if colour else None
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(200, self.fontMetrics().height() + 4)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(20, self.fontMetrics().height() + 4)

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setPen(self._colour or self.palette().color(self.foregroundRole()))
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self._text, Qt.TextElideMode.ElideRight,
                                             rect.width())
        painter.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)


class LiveNumbers(QPlainTextEdit):
    """Wrapped, selectable plain text (an equation with the current numbers) whose
    changes repaint only itself.

    A word-wrapped QLabel asks its whole panel to lay itself out again on every
    ``setText``; the Training lab's C-R-P line, set on every frame, made the probe tab
    repaint four times a frame (11 ms of GUI time per frame instead of 4, measured
    with benchmarks/bench_gui.py). Here the height follows the number of lines the
    text wraps to and changes only when that does.
    """

    def __init__(self, font_px: int = 14, parent=None):
        super().__init__(parent)
        self._text = ""
        self._height = -1
        self.setReadOnly(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setStyleSheet(f"font-size: {font_px}px; padding: 2px 4px; background: #f4f4ee;")
        self._fit()

    def setText(self, text: str) -> None:  # noqa: N802 - QLabel's name, so it reads the same
        if text != self._text:
            self._text = text
            self.setPlainText(text)
            self._fit()

    def text(self) -> str:
        return self._text

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        """Height for the text as it wraps now, in its real line heights (a Chinese line
        is taller than the Latin font's spacing); a relayout only when that changes."""
        document = self.document()
        layout = document.documentLayout()
        text_height, block = 0.0, document.begin()
        while block.isValid():
            text_height += layout.blockBoundingRect(block).height()
            block = block.next()
        margins = self.contentsMargins()
        height = (int(text_height + 2 * document.documentMargin()) + margins.top()
                  + margins.bottom() + 4)
        if height != self._height:
            self._height = height
            self.setFixedHeight(height)
