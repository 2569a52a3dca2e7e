"""The probe tab's C-R-P line: x_j = pool(relu(Σ_i x_i * w_ij + b_j)) with the probe's
numbers for a chosen sandwich (block) and channel (text from
:mod:`gui.labs.training.sandwich`; this widget only shows it)."""

from __future__ import annotations

from PyQt6.QtCore import QSignalBlocker
from PyQt6.QtWidgets import QBoxLayout, QHBoxLayout, QWidget

from engine.i18n import tr_noop
from gui.labs.training.sandwich import crp_text, find_sandwiches
from gui.labs.training.session import TextThrottle
from gui.labs.training.views._common import flow
from gui.widgets.form_rows import int_spin
from gui.widgets.live_text import LiveNumbers
from gui.widgets.texts import Texts

__all__ = ["SandwichView"]


class SandwichView(QWidget):
    """Block and channel choosers and the sandwich formula with the probe's numbers."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._spec: list[dict] = []
        self._text_throttle = TextThrottle(self.TEXT_EVERY)
        self._activations: list = []
        t = self.texts = Texts()
        # the choosers left of the text; above it when narrow (see resizeEvent)
        self._box = lay = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.block_spin = int_spin(1, 1, 1)  # a typed number out of range is explained
        self.channel_spin = int_spin(1, 1, 1)
        t(self.block_spin.setToolTip, tr_noop("Which conv → activation → pool block"))
        t(self.channel_spin.setToolTip, tr_noop("Which output channel j of that block"))
        t(self.block_spin.set_subject, tr_noop("C-R-P block"))
        t(self.channel_spin.set_subject, tr_noop("channel j"))
        choosers = QHBoxLayout()
        choosers.addWidget(t.label(tr_noop("C-R-P block")))
        choosers.addWidget(self.block_spin)
        choosers.addWidget(t.label(tr_noop("channel j")))
        choosers.addWidget(self.channel_spin)
        choosers.addStretch(1)
        lay.addLayout(choosers)
        self.text = LiveNumbers(13)  # set on every frame: no relayout
        lay.addWidget(self.text, 1)
        self.block_spin.valueChanged.connect(lambda _v: self.redraw())
        self.channel_spin.valueChanged.connect(lambda _v: self.redraw())
        self.retranslate()

    NARROW = 640  # px: below it the text goes under the choosers

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        flow(self._box, event.size().width(), self.NARROW)

    def retranslate(self) -> None:
        self.texts.apply()
        self.redraw()

    #: while training runs the numbers are rewritten on every 4th frame (5 a second):
    #: faster they cannot be read, and their text layout costs the GUI thread 0.4 ms
    TEXT_EVERY = 4

    def update_maps(self, spec: list[dict], activations: list, live: bool = False) -> None:
        """The network's spec and the probe's activations (one per layer). ``live``:
        more frames follow soon (training runs): the text may wait for a later one."""
        self._spec, self._activations = spec, activations
        if self._text_throttle.due(live):
            self.redraw()

    def redraw(self) -> None:
        blocks = find_sandwiches(self._spec) if self._activations else []
        visible = bool(blocks) and len(self._activations) == len(self._spec)
        self.setVisible(visible)
        if not visible:
            return
        with QSignalBlocker(self.block_spin), QSignalBlocker(self.channel_spin):
            _set_maximum(self.block_spin, len(blocks))  # (each setMaximum repaints)
            s = blocks[self.block_spin.value() - 1]
            _set_maximum(self.channel_spin, self._activations[s.pool][1].shape[0])
        self.text.setText(crp_text(self._spec, self._activations, s,
                                   self.channel_spin.value() - 1))


def _set_maximum(spin, maximum: int) -> None:
    if spin.maximum() != maximum:
        spin.setMaximum(maximum)
