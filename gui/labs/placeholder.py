"""The stand-in for a lab that is not built yet (or failed to load)."""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.labs import LabInfo

__all__ = ["PlaceholderLab"]


class PlaceholderLab(QWidget):
    """Shows the lab's title and one line saying it is not available yet.

    Parameters
    ----------
    info : LabInfo
    reason : str, optional
        Replaces the default "not built yet" line (e.g. the import error of a broken lab).
    """

    status_message = pyqtSignal(str)

    def __init__(self, info: LabInfo, reason: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.info = info
        title = QLabel(info.title)
        title.setStyleSheet("font-size: 20pt; font-weight: bold;")
        blurb = info.blurb[:1].lower() + info.blurb[1:]
        line = reason or f"This lab is not built yet. It will show: {blurb}"
        self.message_label = QLabel(line)
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("font-size: 12pt; color: #444;")
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        for label in (title, self.message_label):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            layout.addWidget(label)
        layout.addStretch(2)
