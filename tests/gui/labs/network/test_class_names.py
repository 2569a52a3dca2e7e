"""The Network lab on a colour data set opened in the Training lab: 3-channel images, and
the caption names the classes as the data set does."""

from __future__ import annotations

from tests.datafiles import CIFAR_NAMES, write_cifar_folder
from tests.gui.labs.network import test_lab as _network

labs, small_data = _network.labs, _network.small_data


def on_cifar(qtbot, labs, tmp_path):
    """(lab, Training lab, first inspection) once a small CIFAR-10 folder is open."""
    lab, held = labs
    lab.prepare_screenshot(steps=1)  # builds the Training lab behind it, as the shell does
    training = held["training"]
    write_cifar_folder(tmp_path / "cifar-10-batches-py", per_batch=6)
    with qtbot.waitSignal(training.data_panel.dataset_loaded, timeout=30000):
        training.open_dataset(str(tmp_path / "cifar-10-batches-py"))
    lab.activated()
    result = _network.wait_inspection(qtbot, lab, lambda r: r.image.shape == (3, 32, 32))
    return lab, training, result


def test_a_cifar_network_is_shown_with_its_class_names(qtbot, labs, tmp_path):
    lab, training, result = on_cifar(qtbot, labs, tmp_path)
    assert result.image.shape == (3, 32, 32)
    label = int(training.session.val_y[lab.inputs._choice.index])
    caption = lab.inputs.caption.text()
    assert f"{CIFAR_NAMES[label]} ({label})" in caption, caption
    assert "The network says" in caption


def test_the_probability_column_names_the_classes(qtbot, labs, tmp_path):
    from gui.labs.network.views.overview import CLASS_CHARS

    lab, _training, result = on_cifar(qtbot, labs, tmp_path)
    texts = [t.textItem.toPlainText() for t in lab.overview.view._classes]
    assert len(texts) == len(CIFAR_NAMES) == 10
    for d, (text, name) in enumerate(zip(texts, CIFAR_NAMES, strict=True)):
        shown = name if len(name) <= CLASS_CHARS else name[:CLASS_CHARS - 1] + "…"
        assert text == f"{shown} ({d})  {result.probabilities[d]:.0%}", text
