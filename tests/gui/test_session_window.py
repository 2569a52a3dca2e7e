"""File > Save session / Open session: every lab's settings and typed numbers, the Training
lab's network, weights, curves and data set come back; a damaged file changes nothing; the
last session's settings come back on start (its weights only when asked)."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QSpinBox

from gui.labs.backprop.lab import BackpropLab
from gui.labs.convolution.lab import ConvolutionLab
from gui.labs.fitting.lab import FittingLab
from gui.labs.gallery.lab import GalleryLab
from gui.labs.pooling.lab import PoolingLab
from gui.sessions import last_session_path
from gui.widgets.anim_controls import AnimControls
from gui.widgets.number_grid import NumberGrid
from gui.widgets.session_values import widget_values
from tests.datafiles import write_cifar_folder


def settings_root(lab):
    return getattr(lab, "settings", lab)


def change_something(lab) -> None:
    """What a learner does: a size one up, a typed number changed."""
    root = settings_root(lab)
    spins = [s for s in root.findChildren(QSpinBox) if s.isEnabled()
             and s.value() < s.maximum()]
    if spins:
        spins[0].setValue(spins[0].value() + 1)
    grids = root.findChildren(NumberGrid)
    if grids and grids[0].rowCount():
        grids[0].item(0, 0).setText("7")  # typed: itemChanged -> values_edited


@pytest.mark.parametrize("cls", [ConvolutionLab, PoolingLab, BackpropLab, FittingLab,
                                 GalleryLab])
def test_a_labs_settings_and_typed_numbers_come_back(make_lab, cls):
    first = make_lab(cls)
    before = widget_values(settings_root(first))
    change_something(first)
    stepping = isinstance(getattr(first, "controls", None), AnimControls)
    if stepping:
        first.controls.set_step(min(2, first.controls.count - 1))
    part, arrays = first.session_state()
    assert widget_values(settings_root(first)) != before  # the change is in the state
    second = make_lab(cls)
    assert second.restore_session(part, arrays) == 0
    assert widget_values(settings_root(second)) == widget_values(settings_root(first))
    if stepping:
        assert second.controls.step == first.controls.step
    if hasattr(first, "setup"):  # what the lab computes follows the restored numbers
        np.testing.assert_array_equal(second.setup.x, first.setup.x)


def test_a_session_that_does_not_fit_is_counted_not_raised(make_lab):
    lab = make_lab(PoolingLab)
    part, arrays = lab.session_state()
    part["settings"][0] = ["QComboBox", {"data": "no such item"}]
    part["settings"].append(["NumberGrid", "not numbers"])
    assert lab.restore_session(part, arrays) >= 1


def other_window(make_window, tmp_path, name, **kwargs):
    settings = QSettings(str(tmp_path / name / "cnn-explorer.ini"), QSettings.Format.IniFormat)
    return make_window(settings=settings, **kwargs)


def save_and_wait(qtbot, window, path):
    with qtbot.waitSignal(window.sessions.saved, timeout=30000) as blocker:
        assert window.sessions.save(path)
    return blocker.args[0]


def test_the_training_lab_comes_back_with_its_weights_and_curves(qtbot, training_window,
                                                                 make_window, tmp_path):
    window, lab = training_window
    qtbot.waitUntil(lambda: lab.trainer.iteration >= 5, timeout=60000)
    lab.pause()
    qtbot.waitUntil(lambda: lab.state.name == "PAUSED", timeout=30000)
    # every step's point has arrived (frames are queued behind the pause)
    qtbot.waitUntil(lambda: lab.curves.history()["iterations"][-1:].tolist()
                    == [float(lab.trainer.iteration)], timeout=30000)
    window.show_lab("pooling")
    change_something(window.current_lab())
    pooling = widget_values(window.current_lab().settings)
    history = lab.curves.history()  # what the save takes (a validation may still come)
    path = save_and_wait(qtbot, window, tmp_path / "mine")
    assert path.endswith("mine.cnnsession")
    with qtbot.waitSignal(lab.weights_ready, timeout=30000) as blocker:
        lab.request_weights(99)
    weights = blocker.args[0].state
    assert len(history["iterations"]) >= 5

    other = other_window(make_window, tmp_path, "b", initial_lab="convolution")
    assert other.sessions.open(path)
    assert other.current_key() == "pooling"  # the lab that was shown
    assert widget_values(other.current_lab().settings) == pooling
    restored = other.show_lab("training")
    assert restored.session.current_spec() == lab.session.current_spec()
    assert restored.controls.config() == lab.controls.config()
    with qtbot.waitSignal(restored.weights_ready, timeout=30000) as blocker:
        restored.request_weights(99)
    got = blocker.args[0].state
    assert got.keys() == weights.keys()
    for key in weights:
        np.testing.assert_array_equal(got[key], weights[key])
    assert restored.trainer.iteration == lab.trainer.iteration  # the curves go on from there
    back = restored.curves.history()
    for key, values in history.items():
        # the paused network's first evaluation may add a validation point at its end
        np.testing.assert_array_equal(back[key][:len(values)], values)
        assert len(back[key]) <= len(values) + (1 if key.startswith("val") else 0)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 broken", b"not a session at all"])
def test_a_damaged_session_is_said_and_changes_nothing(qtbot, make_window, tmp_path, content):
    window = make_window(initial_lab="pooling")
    lab = window.current_lab()
    change_something(lab)
    before = widget_values(lab.settings)
    bad = tmp_path / "bad.cnnsession"
    bad.write_bytes(content)
    messages = []
    window.statusBar().messageChanged.connect(messages.append)
    assert not window.sessions.open(bad)
    assert messages and "bad.cnnsession" in messages[-1] and "\n" not in messages[-1]
    assert widget_values(lab.settings) == before and window.current_key() == "pooling"


def test_a_data_set_comes_back_by_its_path(qtbot, make_window, tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder, per_batch=4)
    window = make_window(initial_lab="training")
    lab = window.current_lab()
    with qtbot.waitSignal(lab.data_panel.dataset_loaded, timeout=30000):
        lab.open_dataset(str(folder))
    path = save_and_wait(qtbot, window, tmp_path / "colour.cnnsession")
    other = other_window(make_window, tmp_path, "c", initial_lab="pooling")
    restored = other.show_lab("training")
    with qtbot.waitSignal(restored.data_panel.dataset_loaded, timeout=30000):
        assert other.sessions.open(path)
    qtbot.waitUntil(lambda: restored.session.trainer is not None
                    and restored.session.trainer.network.input_shape == (3, 32, 32),
                    timeout=30000)
    assert restored.session.current_spec() == lab.session.current_spec()
    assert restored.confusion.class_names[0] == "airplane"


def test_the_last_session_comes_back_on_start_without_its_weights(qtbot, training_window,
                                                                  make_window, settings):
    window, lab = training_window
    lab.pause()
    window.show_lab("pooling")
    change_something(window.current_lab())
    pooling = widget_values(window.current_lab().settings)
    spec = lab.session.current_spec()
    window.shutdown()
    assert last_session_path(settings).is_file()
    again = make_window()  # the same settings file
    assert again.current_key() == "pooling"
    assert widget_values(again.current_lab().settings) == pooling
    training = again.show_lab("training")  # built later: its part was kept for it
    assert training.session.current_spec() == spec
    assert training.session.trainer.iteration == 0  # the weights only when asked
    again.sessions.reopen_last()
    assert training.session.trainer.iteration > 0


def test_the_network_labs_model_file_and_view_come_back(qtbot, make_window, tmp_path):
    """The Network lab's part: its model file loaded again by its path (a file that has
    gone is said after the session's own sentence), its image, δ picture and scale."""
    from engine.network import Network
    from gui.labs.network.session import Mode, Scale

    model = tmp_path / "model.npz"
    Network([{"type": "conv", "filters": 3, "kernel": 3, "padding": 1}, {"type": "relu"},
             {"type": "flatten"}, {"type": "dense", "units": 10}], seed=2).save(model)
    window = make_window(initial_lab="network")
    lab = window.current_lab()
    assert lab.load_model(str(model))
    qtbot.waitUntil(lambda: lab.session.inspection is not None, timeout=30000)
    lab.inputs.index_spin.setValue(5)
    lab.display.backward_radio.setChecked(True)
    lab.display.scale_box.setCurrentIndex(lab.display.scale_box.findData(Scale.GLOBAL))
    path = save_and_wait(qtbot, window, tmp_path / "net")

    other = other_window(make_window, tmp_path, "n", initial_lab="pooling")
    assert other.sessions.open(path, weights=False)  # the weights not asked: the file is
    restored = other.current_lab()
    assert other.current_key() == "network"
    qtbot.waitUntil(lambda: restored.session.model is not None
                    and restored.session.model.loaded_from == str(model.resolve()),
                    timeout=30000)
    s = restored.session
    assert (s.choice.source, s.choice.index) == ("validation", 5)
    assert s.mode is Mode.BACKWARD and s.scale is Scale.GLOBAL

    model.unlink()
    gone = other_window(make_window, tmp_path, "g", initial_lab="pooling")
    messages = []
    gone.statusBar().messageChanged.connect(messages.append)
    assert gone.sessions.open(path, weights=False)
    qtbot.waitUntil(lambda: messages and "Could not load the model" in messages[-1],
                    timeout=10000)
    assert "model.npz" in messages[-1]
    s = gone.current_lab().session
    assert s.mode is Mode.BACKWARD and s.scale is Scale.GLOBAL
    assert (s.choice.source, s.choice.index) == ("validation", 5)
