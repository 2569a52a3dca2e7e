"""The Network lab in a session file (File > Save session / Open session): where its network
came from (a model file, loaded again by its path), the image, forward or δ, the colour
scale, the neuron and the page come back; a model file that has gone is said and the rest
comes back all the same. And File > Export to PyTorch… from this lab: the network it shows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.export import EXPORT_FILES
from engine.network import Network
from engine.neuron import Neuron
from gui.labs.network.session import Mode, Scale
from tests.engine.test_export import _import_model
from tests.gui.labs.network import test_lab as _network

small_data = _network.small_data
SPEC = [{"type": "conv", "filters": 5, "kernel": 5, "padding": 2}, {"type": "relu"},
        {"type": "avgpool", "size": 2}, {"type": "flatten"}, {"type": "dense", "units": 10}]


@pytest.fixture
def make_labs(qtbot, small_data):
    """make() -> (network lab, the Training lab's holder), as many as a test needs."""
    made = []

    def make():
        made.append(_network.open_labs(qtbot, small_data))
        return made[-1]

    yield make
    _network.close_labs(made)


def saved_model(tmp_path, seed=4):
    path = tmp_path / "model.npz"
    Network(SPEC, seed=seed).save(path)
    return path


def set_up_a_view(qtbot, lab, path):
    """What a learner does: a model file, training image 7, the δ picture, one colour
    scale per map, a conv cell opened."""
    assert lab.load_model(str(path))
    lab.activated()
    _network.wait_inspection(qtbot, lab)
    lab.inputs.source_box.setCurrentIndex(lab.inputs.source_box.findData("training"))
    lab.inputs.index_spin.setValue(7)
    lab.display.backward_radio.setChecked(True)
    lab.display.scale_box.setCurrentIndex(lab.display.scale_box.findData(Scale.MAP))
    lab.session.select(Neuron(0, (3, 10, 12)))
    _network.wait_inspection(qtbot, lab, lambda r: r.neuron == Neuron(0, (3, 10, 12)))


def through_a_file(lab):
    """The part as a session file keeps it (JSON) and its arrays."""
    part, arrays = lab.session_state()
    return json.loads(json.dumps(part)), {k: np.array(v) for k, v in arrays.items()}


def a_saved_view(qtbot, make_labs, tmp_path):
    """(part, arrays, model path) of a view set up on a model file."""
    first, _ = make_labs()
    path = saved_model(tmp_path)
    set_up_a_view(qtbot, first, path)
    return *through_a_file(first), path


def test_the_model_file_image_picture_and_neuron_come_back(qtbot, make_labs, tmp_path,
                                                          small_data):
    part, arrays, path = a_saved_view(qtbot, make_labs, tmp_path)
    assert part["model"] == {"source": "file", "path": str(path.resolve())}

    second, held = make_labs()
    assert second.restore_session(part, arrays) == 0
    second.activated()
    result = _network.wait_inspection(qtbot, second, lambda r: r.neuron is not None)
    assert held["training"].session.loaded_from == str(path.resolve())  # loaded again
    for key, value in Network.load(path).get_state().items():  # the file's weights
        np.testing.assert_array_equal(result.state[key], value)
    s = second.session
    assert (s.choice.source, s.choice.index) == ("training", 7)
    np.testing.assert_array_equal(result.image, small_data[0][7])
    assert s.mode is Mode.BACKWARD and second.display.backward_radio.isChecked()
    assert s.scale is Scale.MAP and second.display.scale_box.currentData() is Scale.MAP
    assert result.neuron == Neuron(0, (3, 10, 12)) == s.selection
    assert second.inputs.source_box.currentData() == "training"
    assert second.inputs.index_spin.value() == 7


def test_a_model_file_that_has_gone_is_said_and_the_rest_comes_back(qtbot, make_labs, small_data,
                                                                    tmp_path):
    part, arrays, path = a_saved_view(qtbot, make_labs, tmp_path)
    path.unlink()

    second, held = make_labs()
    with qtbot.waitSignal(second.status_message, timeout=10000,
                          check_params_cb=lambda m: "Could not load the model" in m) as said:
        assert second.restore_session(part, arrays) == 0
    assert "model.npz" in said.args[0] and "\n" not in said.args[0]
    assert held["training"].session.loaded_from is None  # its own network stays
    s = second.session
    assert (s.choice.source, s.choice.index) == ("training", 7)
    assert s.mode is Mode.BACKWARD and s.scale is Scale.MAP
    second.activated()
    result = _network.wait_inspection(qtbot, second)
    np.testing.assert_array_equal(result.image, small_data[0][7])


def test_a_damaged_model_file_is_said_too(qtbot, make_labs, tmp_path):
    part, arrays, path = a_saved_view(qtbot, make_labs, tmp_path)
    path.write_bytes(b"not a model")
    second, _held = make_labs()
    with qtbot.waitSignal(second.status_message, timeout=10000,
                          check_params_cb=lambda m: "Could not load the model" in m):
        assert second.restore_session(part, arrays) == 0
    assert second.session.scale is Scale.MAP


def test_a_drawing_and_the_training_labs_own_network_come_back(qtbot, make_labs):
    first, _ = make_labs()
    first.prepare_screenshot(steps=2)
    first.activated()
    first.inputs.source_box.setCurrentIndex(first.inputs.source_box.findData("drawing"))
    first.inputs.canvas.draw_stroke([(140, 40), (140, 240)])  # a 1
    _network.wait_inspection(qtbot, first, lambda r: r.label is None)
    part, arrays = through_a_file(first)
    assert part["model"] == {"source": "training", "path": None}
    assert part["image"]["source"] == "drawing" and arrays["drawing"].shape == (280, 280)

    second, _held = make_labs()
    assert second.restore_session(part, arrays) == 0
    assert second.session.choice.source == "drawing"
    np.testing.assert_array_equal(second.session.choice.image, first.session.choice.image)
    np.testing.assert_array_equal(second.inputs.canvas.drawing(), first.inputs.canvas.drawing())


def test_values_that_do_not_fit_are_counted_not_raised(qtbot, make_labs):
    lab, _ = make_labs()
    bad = {"model": {"source": "somewhere"}, "image": {"source": "validation", "index": "x"},
           "mode": "sideways", "scale": "layer", "neuron": {"layer": 0, "index": "abc"},
           "page": -3}
    assert lab.restore_session(bad, {}) == 5
    assert lab.session.mode is Mode.FORWARD


def test_the_page_waits_for_the_layout():
    from gui.labs.network.session import Pager

    pager = Pager()
    pager.wanted = 2
    assert not pager.set_pages(1, 8) and pager.page == 0  # not laid out yet
    assert pager.set_pages(4, 8) and pager.page == 2 and pager.wanted is None


# -- File > Export to PyTorch… ----------------------------------------------------------
def export_and_wait(qtbot, lab, held, folder):
    with qtbot.waitSignal(held["training"].status_message, timeout=30000,
                          check_params_cb=lambda m: "PyTorch" in m) as blocker:
        assert lab.export_pytorch(str(folder))
    return blocker.args[0]


def test_the_export_holds_the_weights_shown(qtbot, make_labs, tmp_path):
    lab, held = make_labs()
    path = saved_model(tmp_path, seed=9)
    assert lab.load_model(str(path))
    lab.activated()
    _network.wait_inspection(qtbot, lab)
    assert "Export to PyTorch…" in [a.text() for a in lab.menu_actions()]
    sentence = export_and_wait(qtbot, lab, held, tmp_path / "out")
    assert sentence.startswith("Exported to PyTorch")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(EXPORT_FILES)
    meta = json.loads((tmp_path / "out" / "model.json").read_text(encoding="utf-8"))
    entry = meta["tensors"]["0.weight"]
    kernels = np.frombuffer((tmp_path / "out" / "weights.bin").read_bytes(), "<f4",
                            count=entry["bytes"] // 4, offset=entry["offset"])
    np.testing.assert_array_equal(kernels.reshape(entry["shape"]),
                                  Network.load(path).layers[0].params["w"])


@pytest.mark.needs_torch
def test_the_exported_model_gives_the_probabilities_shown(qtbot, make_labs, tmp_path):
    torch = pytest.importorskip("torch")
    lab, held = make_labs()
    assert lab.load_model(str(saved_model(tmp_path, seed=5)))
    lab.activated()
    shown = _network.wait_inspection(qtbot, lab)
    export_and_wait(qtbot, lab, held, tmp_path / "torch")
    model = _import_model(tmp_path / "torch").load_model()
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(shown.image[None]))
        got = torch.softmax(model(x), dim=1).numpy()[0]
    assert np.abs(got - shown.probabilities).max() <= 1e-4
