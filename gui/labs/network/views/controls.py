"""The Network lab's left column: which image, and how the overview shows it.

:class:`InputPanel` picks the image (a validation or training image by number or at
random, the next misclassified one, a drawing) and shows it with its label and the
network's answer; :class:`DisplayPanel` chooses the forward or the backward picture,
the colour scale and the page of channels. They only emit what the learner asked
for; the session decides (gui/labs/network/session.py).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QSignalBlocker, Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
)

from engine.i18n import tr, tr_noop
from gui.labs.network.session import (
    SOURCES,
    InputChoice,
    InputSource,
    Mode,
    Scale,
    class_label,
)
from gui.labs.training.views._common import BACKGROUND, image_box, image_item
from gui.widgets.draw_canvas import DrawCanvas
from gui.widgets.form_rows import int_spin, show_refusals_in_place

__all__ = ["InputPanel", "DisplayPanel", "SCALES"]

SCALES = ((Scale.MAP, tr_noop("each map")), (Scale.LAYER, tr_noop("each layer")),
          (Scale.GLOBAL, tr_noop("all layers together")))


class _Preview(pg.GraphicsLayoutWidget):
    """The chosen image, greys (one channel) or colour (three)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        self.view = self.addViewBox(enableMenu=False)
        image_box(self.view)
        self.item = image_item()
        self.view.addItem(self.item)
        self.setFixedHeight(120)

    def set_image(self, image: np.ndarray) -> None:
        """image : (C, H, W) in [0, 1]."""
        shown = image[0] if image.shape[0] != 3 else np.moveaxis(image, 0, -1)
        self.item.setImage(np.asarray(shown, dtype=np.float32), autoLevels=False,
                           levels=(0.0, 1.0))
        self.view.autoRange(padding=0.02)


class InputPanel(QGroupBox):
    """The image the network is shown.

    Signals
    -------
    picked(source, index) : a validation / training image, or the index-th misclassified
    random_requested()
    drawn(object) : the drawing (1, 28, 28), whenever it changes (not when blank)
    """

    picked = pyqtSignal(str, int)
    random_requested = pyqtSignal()
    drawn = pyqtSignal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        #: the model's class names (a data set's, through the Training lab); none: numbers
        self.class_names: tuple = ()
        self.source_box = QComboBox()
        self.source_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source_box.setMinimumContentsLength(8)
        for key, _ in SOURCES:
            self.source_box.addItem("", key)
        self.index_spin = int_spin(0, 0, 0)  # a typed number out of range is refused in words
        self.count_label = QLabel()
        self.random_button = QPushButton()
        self.next_button = QPushButton()
        self.preview = _Preview()
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.canvas = DrawCanvas()
        self.canvas.setMinimumSize(140, 140)
        self.clear_button = QPushButton()
        self._draw_timer = QTimer(self, singleShot=True, interval=60)
        self._draw_timer.timeout.connect(self._send_drawing)
        self.canvas.changed.connect(lambda: self._draw_timer.isActive()
                                    or self._draw_timer.start())
        self.clear_button.clicked.connect(self.canvas.clear)
        self.source_labels = (QLabel(), QLabel())
        form = QFormLayout()
        form.addRow(self.source_labels[0], self.source_box)
        index_row = QHBoxLayout()
        index_row.addWidget(self.index_spin, 1)
        index_row.addWidget(self.count_label)
        form.addRow(self.source_labels[1], index_row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.random_button)
        buttons.addWidget(self.next_button)
        v = QVBoxLayout(self)
        v.addLayout(form)
        v.addLayout(buttons)
        v.addWidget(self.canvas, 1)
        v.addWidget(self.clear_button)
        v.addWidget(self.preview)
        v.addWidget(self.caption)
        self.source_box.currentIndexChanged.connect(self._on_source)
        self.index_spin.valueChanged.connect(self._on_index)
        self.random_button.clicked.connect(self.random_requested)
        self.next_button.clicked.connect(
            lambda: self.picked.emit("misclassified", self.index_spin.value() + 1))
        self._choice: InputChoice | None = None
        self._answer: tuple[int, float] | None = None  # (class, probability)
        self._show_parts("validation")
        show_refusals_in_place(self)
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(tr("Image"))
        for k, (_key, msgid) in enumerate(SOURCES):
            self.source_box.setItemText(k, tr(msgid))
        self.source_labels[0].setText(tr("From"))
        self.source_labels[1].setText(tr("Number"))
        self.random_button.setText(tr("Random"))
        self.next_button.setText(tr("Next wrong one"))
        self.clear_button.setText(tr("Clear"))
        self.index_spin.setToolTip(tr("Which image of the set (counted from 0)"))
        self.next_button.setToolTip(tr("The next validation image the network gets wrong"))
        self.canvas.setToolTip(tr("Draw a digit with the left mouse button; right click "
                                  "clears"))
        self._show_caption()

    @property
    def source(self) -> str:
        return self.source_box.currentData()

    def _show_parts(self, source: str) -> None:
        drawing = source == "drawing"
        for w in (self.canvas, self.clear_button):
            w.setVisible(drawing)
        for w in (self.index_spin, self.count_label, self.source_labels[1]):
            w.setVisible(not drawing)
        self.random_button.setVisible(source in ("validation", "training"))
        self.next_button.setVisible(source == "misclassified")

    def _on_source(self, _index: int) -> None:
        source = self.source
        self._show_parts(source)
        if source == "drawing":
            self._send_drawing()
        else:
            self.picked.emit(source, 0 if source == "misclassified" else
                             self.index_spin.value())

    def _on_index(self, value: int) -> None:
        if self.source != "drawing":
            self.picked.emit(self.source, value)

    def _send_drawing(self) -> None:
        # a blank canvas changes nothing: the last image stays until something is drawn
        if not self.canvas.is_empty():
            self.drawn.emit(self.canvas.network_input())

    def set_can_draw(self, can: bool) -> None:
        """Offer the drawing only for networks of 28x28 grey digits."""
        item = self.source_box.model().item(self.source_box.findData("drawing"))
        item.setEnabled(can)

    def show_choice(self, choice: InputChoice, source: InputSource) -> None:
        self._choice = choice
        with QSignalBlocker(self.source_box):
            self.source_box.setCurrentIndex(self.source_box.findData(choice.source))
        self._show_parts(choice.source)
        with QSignalBlocker(self.index_spin):
            self.index_spin.setRange(0, max(0, choice.count - 1))
            self.index_spin.setValue(choice.index)
        self.index_spin.set_range_reason(tr("there are {n:,} of them, counted from 0").format(
            n=choice.count))
        self.preview.set_image(choice.image)
        self.set_can_draw(source.can_draw)
        self._show_caption()

    def show_answer(self, predicted: int | None, probability: float | None) -> None:
        """The network's answer under the image ("" before the first one)."""
        self._answer = None if predicted is None else (predicted, probability)
        self._show_caption()

    def _name(self, k) -> str:
        """Class ``k`` as the caption writes it: its name when the data set names it."""
        return class_label(k, self.class_names)

    def _show_caption(self) -> None:
        c = self._choice
        if c is None:
            self.caption.setText("")
            self.count_label.setText("")
            return
        self.count_label.setText(tr("of {n:,}").format(n=c.count))
        if c.source == "drawing":
            text = tr("Your drawing (no label: the deltas are for the network's answer).")
        elif c.source == "misclassified":
            text = tr("Validation image #{i}, label <b>{label}</b> (wrong one {k} of {n}).") \
                .format(i=c.dataset_index, label=self._name(c.label), k=c.index + 1, n=c.count)
        elif c.source == "training":
            text = tr("Training image #{i}, label <b>{label}</b>.").format(
                i=c.index, label=self._name(c.label))
        else:
            text = tr("Validation image #{i}, label <b>{label}</b>.").format(
                i=c.index, label=self._name(c.label))
        if self._answer is not None:  # formatted here: a language switch writes it again
            predicted, probability = self._answer
            text += " " + tr("The network says <b>{k}</b> ({p}).").format(
                k=self._name(predicted), p=f"{probability:.0%}")
        self.caption.setText(text)


class DisplayPanel(QGroupBox):
    """Forward or backward, the colour scale, the page of channels.

    Signals
    -------
    mode_changed(Mode), scale_changed(Scale), page_requested(int)
    """

    mode_changed = pyqtSignal(object)
    scale_changed = pyqtSignal(object)
    page_requested = pyqtSignal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.forward_radio, self.backward_radio = QRadioButton(), QRadioButton()
        self.forward_radio.setChecked(True)
        self._modes = QButtonGroup(self)
        self._modes.addButton(self.forward_radio)
        self._modes.addButton(self.backward_radio)
        self.forward_radio.toggled.connect(
            lambda on: self.mode_changed.emit(Mode.FORWARD if on else Mode.BACKWARD))
        self.scale_box = QComboBox()
        for scale, _ in SCALES:
            self.scale_box.addItem("", scale)
        self.scale_box.setCurrentIndex(1)
        self.scale_box.currentIndexChanged.connect(
            lambda _: self.scale_changed.emit(self.scale_box.currentData()))
        self.previous_button, self.next_button = QPushButton("◀"), QPushButton("▶")
        for b in (self.previous_button, self.next_button):
            b.setFixedWidth(32)
        self.page_label = QLabel()
        self.page_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._page, self._pages = 0, 1
        self.previous_button.clicked.connect(lambda: self.page_requested.emit(self._page - 1))
        self.next_button.clicked.connect(lambda: self.page_requested.emit(self._page + 1))
        self.scale_label = QLabel()
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.legend.setStyleSheet("color: #444;")
        pager = QHBoxLayout()
        pager.addWidget(self.previous_button)
        pager.addWidget(self.page_label, 1)
        pager.addWidget(self.next_button)
        v = QVBoxLayout(self)
        v.addWidget(self.forward_radio)
        v.addWidget(self.backward_radio)
        v.addWidget(self.scale_label)
        v.addWidget(self.scale_box)
        v.addLayout(pager)
        v.addWidget(self.legend)
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(tr("Show"))
        self.forward_radio.setText(tr("Forward: the outputs"))
        self.backward_radio.setText(tr("Backward: the δ maps"))
        self.forward_radio.setToolTip(tr("Every layer's output for the image"))
        self.backward_radio.setToolTip(tr("δ = ∂L/∂(layer output): how the loss for the "
                                          "image's label changes with each value"))
        self.scale_label.setText(tr("One colour scale for"))
        for k, (_scale, msgid) in enumerate(SCALES):
            self.scale_box.setItemText(k, tr(msgid))
        self.scale_box.setToolTip(tr("Which values one colour scale spans: each map its "
                                     "own, all maps of a layer, or every layer"))
        self.previous_button.setToolTip(tr("Previous maps"))
        self.next_button.setToolTip(tr("Next maps"))
        self._show_page()
        self._show_legend()

    @property
    def mode(self) -> Mode:
        return Mode.FORWARD if self.forward_radio.isChecked() else Mode.BACKWARD

    def set_page(self, page: int, pages: int) -> None:
        self._page, self._pages = page, pages
        self._show_page()

    def _show_page(self) -> None:
        self.page_label.setText(tr("maps: page {p} of {n}").format(p=self._page + 1,
                                                                   n=self._pages))
        self.previous_button.setEnabled(self._page > 0)
        self.next_button.setEnabled(self._page < self._pages - 1)
        for w in (self.previous_button, self.next_button, self.page_label):
            w.setVisible(self._pages > 1)

    def _show_legend(self) -> None:
        self.legend.setText(tr(
            "Greys: 0 black, the largest value white; with negative values red is positive, "
            "blue negative, white 0. Orange: the selected neuron and its path; green: its "
            "receptive field; purple (backward): the cells its δ came from."))
