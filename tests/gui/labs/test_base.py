"""gui/labs/_base.py: the settings columns' quiet blocks and in-place refusals."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QWidget

from gui.labs._base import StagedConstruction, staged_construction
from gui.labs.backprop.settings import BackpropSettings
from gui.labs.convolution.settings import ConvSettings
from gui.labs.fitting.settings import FitSettings
from gui.labs.pooling.settings import PoolSettings


@pytest.mark.parametrize("cls", [ConvSettings, PoolSettings, BackpropSettings])
def test_an_exception_inside_a_quiet_block_does_not_leave_the_column_deaf(qtbot, cls):
    settings = cls()
    qtbot.addWidget(settings)
    with pytest.raises(RuntimeError), settings._quiet():
        with settings._quiet():  # nested, as the settings' own helpers nest them
            raise RuntimeError("a bug half-way through an update")
    assert not settings.quiet
    with qtbot.waitSignal(settings.changed, timeout=2000):
        settings.kh_spin.setValue(2 if settings.kh_spin.value() != 2 else 1)


def test_the_fitting_column_hears_again_after_an_exception(qtbot):
    settings = FitSettings()
    qtbot.addWidget(settings)
    with pytest.raises(ValueError), settings._quiet():
        raise ValueError("boom")
    with qtbot.waitSignal(settings.lr_changed, timeout=2000):
        settings.lr_spin.setValue(0.5)


def type_and_enter(qtbot, spin, text: str) -> None:
    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), text)
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)


def note_of(spin):
    """The in-place refusal note under the row holding ``spin``, and where it stands."""
    from PyQt6.QtWidgets import QLabel

    widget = spin
    while widget is not None:
        for note in widget.parentWidget().findChildren(QLabel) if widget.parentWidget() else []:
            if note.property("refusal_note") and note.property("spin") == id(spin):
                return note
        widget = widget.parentWidget()
    return None


@pytest.mark.parametrize("spin_name, typed, words", [
    ("rows_spin", "1", ["1 is below the smallest value allowed here, 2",
                        "every number must stay readable", "it stays 7"]),
    ("kh_spin", "8", ["8 is above the largest value allowed here, 7", "up to 7×7",
                      "it stays 3"]),
    ("ph_spin", "5", ["5 is above the largest value allowed here, 2", "kernel size − 1"]),
])
def test_a_typed_value_outside_the_range_is_explained_in_place(qtbot, spin_name, typed, words):
    settings = ConvSettings()
    qtbot.addWidget(settings)
    settings.show()
    qtbot.waitExposed(settings)
    spin = getattr(settings, spin_name)
    before = spin.value()
    with qtbot.waitSignal(settings.message, timeout=2000) as message:
        type_and_enter(qtbot, spin, typed)
    assert spin.value() == before  # nothing changes ...
    note = note_of(spin)
    assert note is not None and note.isVisible()  # ... and the column says why, right
    qtbot.waitUntil(lambda: note.visibleRegion().boundingRect().height() > 0)  # in view
    below = note.mapTo(settings, note.rect().topLeft()).y()
    assert 0 < below - spin.mapTo(settings, spin.rect().bottomLeft()).y() < 40  # under it
    for word in words:
        assert word in note.text(), note.text()
        assert word in message.args[0]
    # the next accepted value takes the note away
    spin.setValue(spin.minimum() if before != spin.minimum() else spin.maximum())
    assert not note.isVisible()


def test_the_gallery_explains_a_refused_pooling_window(qtbot, make_lab):
    from gui.labs.gallery.lab import GalleryLab

    lab = make_lab(GalleryLab)
    lab.show()
    qtbot.waitExposed(lab)
    with qtbot.waitSignal(lab.status_message, timeout=2000) as message:
        type_and_enter(qtbot, lab.pool_size_spin, "40")
    assert "40 is above the largest value allowed here, 32" in message.args[0]
    assert note_of(lab.pool_size_spin).isVisible()
    lab.shutdown()


def test_the_embedded_digits_are_read_once_in_the_background_and_shared(monkeypatch):
    import gui.labs._base as base
    from engine.data import load_embedded_mnist

    monkeypatch.setattr(base, "_digits", None)
    monkeypatch.setattr(base, "_digits_reader", None)
    base.prefetch_digits()
    reader = base._digits_reader
    assert reader is not None
    images, labels = base.embedded_digits()
    assert base._digits_reader is None and reader.done
    assert images is reader.value[0]  # the background read's, not a second one
    assert base.embedded_digits()[0] is images  # one copy for every lab
    assert not images.flags.writeable and not labels.flags.writeable
    expected_images, expected_labels = load_embedded_mnist()
    np.testing.assert_array_equal(images, expected_images)
    np.testing.assert_array_equal(labels, expected_labels)


def test_a_background_read_hands_over_its_result_or_its_error(qtbot):
    from gui.labs._base import BackgroundRead
    from gui.workers.threads import start_worker

    read = BackgroundRead(lambda: 41 + 1)
    start_worker(read, "test read")
    assert read.result() == 42 and read.done

    def fails():
        raise OSError("no such file")

    read = BackgroundRead(fails)
    start_worker(read, "test read")
    with pytest.raises(OSError, match="no such file"):
        read.result()


# ------------------------------------------------------------ staged construction
class _ThreeSteps(StagedConstruction, QWidget):
    """A lab in three steps; ``ran`` lists the steps run, ``failing`` makes step 2 raise."""

    def __init__(self, failing: bool = False):
        super().__init__()
        self.ran: list[int] = []
        self.failing = failing
        self._construct(self._construction())

    def _construction(self):
        layout = QHBoxLayout(self)
        self.left, self.right = QLabel("left"), QLabel("right")
        layout.addWidget(self.left)
        layout.addWidget(self.right)
        self.ran.append(1)
        yield
        if self.failing:
            raise RuntimeError("step 2 broke")
        self._reveal_later(self.right)
        self.ran.append(2)
        yield
        self.ran.append(3)


def test_a_lab_constructed_normally_is_complete_with_nothing_hidden(qtbot):
    lab = _ThreeSteps()
    qtbot.addWidget(lab)
    assert lab.ran == [1, 2, 3] and lab.constructed
    lab.show()
    assert lab.right.isVisible() and lab.reveal_step()


def test_a_staged_construction_runs_one_step_at_a_time(qtbot):
    with staged_construction():
        lab = _ThreeSteps()
    qtbot.addWidget(lab)
    assert lab.ran == [1] and not lab.constructed
    assert not lab.construction_step() and lab.ran == [1, 2]
    assert lab.construction_step() and lab.ran == [1, 2, 3] and lab.constructed
    assert lab.construction_step()  # nothing left: stays complete
    # the widget revealed later keeps its room while it waits
    lab.resize(400, 100)
    lab.show()
    qtbot.waitExposed(lab)
    assert not lab.right.isVisible() and lab.left.width() < 300
    assert lab.reveal_step() and lab.right.isVisible()
    assert not lab.right.sizePolicy().retainSizeWhenHidden()  # its own policy is back


def test_a_lab_made_inside_a_staged_step_is_made_whole(qtbot):
    inner = []

    class Outer(_ThreeSteps):
        def _construction(self):
            inner.append(_ThreeSteps())
            yield from super()._construction()

    with staged_construction():
        lab = Outer()
    qtbot.addWidget(lab)
    assert inner[0].ran == [1, 2, 3] and lab.ran == [1]
    lab.finish_construction()
    assert lab.ran == [1, 2, 3]


def test_a_failing_step_raises_from_the_step_that_failed(qtbot):
    with staged_construction():
        lab = _ThreeSteps(failing=True)
    qtbot.addWidget(lab)
    with pytest.raises(RuntimeError, match="step 2"):
        lab.construction_step()
