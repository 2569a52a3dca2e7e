"""The status bar's note that a lab works in the background (training behind another lab),
with its one-click pause."""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QStyle, QToolButton

from engine.i18n import tr

__all__ = ["BackgroundIndicator"]


class BackgroundIndicator(QToolButton):
    """Shows ``text`` ("Training: epoch 3 of 10, 41%") and a pause sign; hidden while the
    text is empty. A click emits ``pause_requested``.

    Signals
    -------
    pause_requested()
    """

    pause_requested = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._text = ""
        self.setAutoRaise(True)
        # the style's pause icon: a "⏸" character is missing from many fonts
        self.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.clicked.connect(self.pause_requested)
        self.hide()
        self.retranslate()

    def show_text(self, text: str) -> None:
        """The lab's background status; "" hides the indicator."""
        self._text = text
        self.retranslate()
        self.setVisible(bool(text))

    def text_shown(self) -> str:
        return self._text

    def retranslate(self) -> None:
        self.setText(tr("{status} · Pause").format(status=self._text) if self._text else "")
        self.setToolTip(tr("Training goes on while another lab is shown; click to pause it"))
