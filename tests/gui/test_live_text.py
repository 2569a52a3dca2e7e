"""LiveProgressBar and LiveLabel: live numbers without synchronous repaints or relayouts."""

import numpy as np
import pytest
from PyQt6.QtCore import QEvent, QObject
from PyQt6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget

from gui.widgets.live_text import LiveLabel, LiveProgressBar


class LayoutRequests(QObject):
    """Counts the LayoutRequest events a widget receives."""

    def __init__(self, widget):
        super().__init__()
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def pixels(widget) -> np.ndarray:
    """The widget as rendered, (H, W, 3) uint8."""
    image = widget.grab().toImage()
    image = image.convertToFormat(image.Format.Format_RGB888)
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    rows = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, :image.width() * 3].reshape(image.height(), image.width(), 3).copy()


@pytest.fixture
def panel(qtbot):
    panel = QWidget()
    layout = QVBoxLayout(panel)
    bar, label, other = LiveProgressBar("epoch -"), LiveLabel("Not trained yet."), QLabel("x")
    for w in (bar, label, other):
        layout.addWidget(w)
    qtbot.addWidget(panel)
    panel.resize(400, 120)
    panel.show()
    qtbot.waitExposed(panel)
    return panel, bar, label, other


def test_progress_bar_fills_the_fraction_it_is_given(panel):
    _, bar, _, _ = panel
    bar.show_progress(0.0, "")
    empty = pixels(bar)
    bar.show_progress(0.5, "")
    half = pixels(bar)
    assert bar.fraction() == 0.5 and bar.text() == ""
    row = bar.height() // 2
    changed = np.any(half[row] != empty[row], axis=1)  # (W,) columns that were filled
    columns = np.flatnonzero(changed)
    # the filled part starts at the left and ends near the middle (within the frame)
    assert columns.size and columns.min() < 0.1 * bar.width()
    assert 0.4 * bar.width() < columns.max() < 0.6 * bar.width()
    bar.show_progress(2.0, "clamped")
    assert bar.fraction() == 1.0 and bar.text() == "clamped"


def test_live_label_text_changes_never_relayout_its_panel(panel, qtbot):
    QApplication.sendPostedEvents()
    widget, _, label, other = panel
    requests = LayoutRequests(widget)
    height = label.sizeHint().height()
    for k in range(5):
        label.setText(f"{100 + 37 * k} batches/s, about {k} s left" * (k + 1))
        QApplication.sendPostedEvents()  # deliver any LayoutRequest now
    assert label.text().startswith("248 batches/s")
    assert label.sizeHint().height() == height
    assert requests.count == 0
    # a QLabel in the same panel does ask for a new layout: the counter works
    other.setText("a much longer text than before")
    qtbot.waitUntil(lambda: requests.count > 0, timeout=2000)


def test_live_label_draws_its_text_in_the_colour_it_is_given(panel):
    _, _, label, _ = panel
    label.setText("██████")
    label.set_colour("#ff0000")
    red = pixels(label).reshape(-1, 3)
    assert np.any((red[:, 0] > 200) & (red[:, 1] < 60) & (red[:, 2] < 60))
    label.set_colour(None)
    plain = pixels(label).reshape(-1, 3)
    assert not np.any((plain[:, 0] > 200) & (plain[:, 1] < 60) & (plain[:, 2] < 60))


def test_live_numbers_show_every_wrapped_line_in_any_script(qtbot):
    # the Chinese C-R-P line was cut to four of its five lines (its glyphs are taller
    # than the Latin font's line spacing); a word-wrapped QLabel of the same font and
    # width is the oracle for the height the text needs
    from PyQt6.QtWidgets import QLabel

    from gui.widgets.live_text import LiveNumbers
    text = ("x_j = pool(relu(Σ_i x_i * w_ij + b_j))：conv1 → relu1 → maxpool1，通道 j = 1，"
            "maxpool1 的格子 [6,6]\nΣ_i x_i * w_ij + b_j 在池化窗口里的值 = [0.423, 0.918, "
            "0.481, 0.826] → relu → [0.423, 0.918, 0.481, 0.826] → max = 0.9181\n形状：conv1 "
            "16×28×28 → maxpool1 16×14×14：池化没有参数，深度不变，D2 = D1 = 16")
    numbers = LiveNumbers(13)
    qtbot.addWidget(numbers)
    numbers.resize(420, 40)
    numbers.show()
    numbers.setText(text)
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("font-size: 13px;")
    label.ensurePolished()
    needed = label.heightForWidth(420 - 8 - 2 * 4)  # the text's width inside the padding
    assert numbers.height() >= needed, (numbers.height(), needed)
    height = numbers.height()
    numbers.setText(text.replace("0.918", "0.917"))  # new numbers, same lines
    assert numbers.height() == height and numbers.text().count("0.917") == 3
