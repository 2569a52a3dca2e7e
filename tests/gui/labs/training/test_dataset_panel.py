"""The Training lab's data sets: opened in the background, colour networks, class names
in the views, bad data sets said in place while the current one stays."""

from __future__ import annotations

import numpy as np
import pytest

from engine.datasets import load_dataset
from gui.labs.training.builder import _shape_text
from gui.labs.training.dataset_panel import LoadTracker
from gui.labs.training.lab import TAB_DRAW
from tests.datafiles import CIFAR_NAMES, write_cifar_folder, write_image_folder
from tests.gui.labs.training import test_lab as _training

# the Training lab's fixtures: a small MNIST slice, a one-block network
lab, small_data = _training.lab, _training.small_data


def test_only_the_newest_load_counts_and_only_once():
    tracker = LoadTracker()
    first = tracker.start("a", None)
    second = tracker.start("b", None)
    assert not tracker.current(first)
    assert tracker.finish(first) is None
    assert tracker.finish(second).path == "b"
    assert tracker.finish(second) is None and tracker.loading is None
    third = tracker.start("c", None)
    tracker.cancel()
    assert tracker.finish(third) is None


def open_and_wait(qtbot, lab, path, signal="dataset_loaded"):
    with qtbot.waitSignal(getattr(lab.data_panel, signal), timeout=30000):
        lab.open_dataset(str(path))


def test_a_cifar_folder_makes_a_colour_network_with_named_classes(qtbot, lab, tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    written = write_cifar_folder(folder, per_batch=6)
    open_and_wait(qtbot, lab, folder)
    assert lab.session.input_shape == (3, 32, 32)
    assert lab.builder.input_shape == (3, 32, 32)
    assert lab.builder.summary.item(0, 1).text() == _shape_text((3, 32, 32))
    assert lab.session.trainer.network.input_shape == (3, 32, 32)
    assert not lab.tabs.isTabVisible(TAB_DRAW)  # nothing to draw: these are not digits
    assert lab.confusion.class_names == tuple(CIFAR_NAMES)
    assert lab.probe_probs.class_names == tuple(CIFAR_NAMES)
    assert "cifar-10-batches-py" in lab.data_panel.current_label.text()
    assert lab.controls.augment.text() == "shift images by up to 2 pixels"
    assert lab.picker_label.text() == "Validation image #"
    # the probe is the first test image, in colour (C, H, W) = its CIFAR bytes
    data, _labels = written["test_batch"]
    expected = data[0].reshape(3, 32, 32).astype(np.float32) / 255.0
    np.testing.assert_allclose(lab.session.probe.image, expected, atol=1e-6)
    shown = lab.probe_view.item.image
    assert shown.shape == (32, 32, 3)
    np.testing.assert_allclose(shown, expected.transpose(1, 2, 0), atol=1e-6)


def test_a_colour_network_trains_and_shows_its_maps_and_misclassified_images(qtbot, lab,
                                                                          tmp_path):
    write_image_folder(tmp_path / "pics", {"cat": 12, "dog": 12}, size=(12, 12))
    with qtbot.waitSignal(lab.data_panel.dataset_loaded, timeout=30000):
        lab.data_panel.set_options(16, "rgb")
        lab.open_dataset(str(tmp_path / "pics"))
    assert lab.session.input_shape == (3, 16, 16)
    assert lab.confusion.class_names == ("cat", "dog")
    with qtbot.waitSignal(lab.validated, timeout=60000):
        lab.start()
    # the first layer's kernels: each filter's three channels side by side
    conv = lab.session.trainer.network.layers[0]
    assert conv.in_channels == 3
    qtbot.waitUntil(lambda: lab.kernels_view._kernel_shape == (conv.filters, 3, *conv.kernel),
                    timeout=30000)  # the next frame draws them
    wrong = lab.misclassified._indices
    for k, index in enumerate(wrong):
        true, pred = lab.session.val_y[index], lab._validation_drawn.predictions[index]
        assert lab.misclassified._texts[k].textItem.toPlainText() == \
            f"{('cat', 'dog')[true]}→{('cat', 'dog')[pred]}"


@pytest.mark.parametrize("make_bad, words", [
    (lambda p: p.mkdir(), "no "),
    (lambda p: (write_cifar_folder(p, per_batch=2), (p / "data_batch_3").unlink()),
     "data_batch_3"),
    (lambda p: (write_cifar_folder(p, per_batch=2), (p / "test_batch").write_bytes(b"junk")),
     "test_batch"),
])
def test_a_bad_data_set_is_one_sentence_and_the_current_one_stays(qtbot, lab, tmp_path,
                                                                 make_bad, words):
    before = lab.session.data
    path = tmp_path / "bad"
    make_bad(path)
    with pytest.raises(ValueError):
        load_dataset(path)  # the engine refuses it too (the oracle of "bad")
    with qtbot.waitSignal(lab.data_panel.message, timeout=30000) as blocker:
        lab.open_dataset(str(path))
    sentence = blocker.args[0]
    assert words in sentence and "\n" not in sentence
    assert lab.data_panel.error_label.isVisibleTo(lab) and lab.data_panel.error == sentence
    assert lab.session.data is before
    assert lab.tabs.isTabVisible(TAB_DRAW)


def test_back_to_the_embedded_digits(qtbot, lab, tmp_path):
    write_cifar_folder(tmp_path / "c", per_batch=2)
    open_and_wait(qtbot, lab, tmp_path / "c")
    lab.use_embedded_digits()
    assert lab.session.input_shape == (1, 28, 28)
    assert lab.tabs.isTabVisible(TAB_DRAW)
    assert lab.controls.augment.text() == "shift digits by up to 2 pixels"
    assert lab.confusion.class_names == tuple(str(k) for k in range(10))
