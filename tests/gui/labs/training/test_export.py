"""File > Export to PyTorch… in the Training lab: the network with the weights it has now."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.export import EXPORT_FILES
from engine.network import Network
from tests.datafiles import write_cifar_folder
from tests.engine.test_export import _import_model
from tests.gui.labs.training import test_lab as _training

lab, small_data = _training.lab, _training.small_data


def export_and_wait(qtbot, lab, folder):
    with qtbot.waitSignal(lab.status_message, timeout=30000,
                          check_params_cb=lambda m: "PyTorch" in m) as blocker:
        assert lab.export_pytorch(str(folder))
    return blocker.args[0]


def trained_then_saved(qtbot, lab, tmp_path):
    """A few steps of training, paused; the same weights saved as the oracle's model."""
    for _ in range(3):
        with qtbot.waitSignal(lab.frame_drawn, timeout=30000):
            lab.step()
    with qtbot.waitSignal(lab.model_saved, timeout=30000):
        lab.save_model(str(tmp_path / "oracle.npz"))
    return Network.load(tmp_path / "oracle.npz")


def test_the_export_holds_the_trained_weights(qtbot, lab, tmp_path):
    network = trained_then_saved(qtbot, lab, tmp_path)
    sentence = export_and_wait(qtbot, lab, tmp_path / "out")
    assert "Exported" in sentence and "out" in sentence
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(EXPORT_FILES)
    meta = json.loads((tmp_path / "out" / "model.json").read_text(encoding="utf-8"))
    raw = (tmp_path / "out" / "weights.bin").read_bytes()
    entry = meta["tensors"]["0.weight"]
    kernels = np.frombuffer(raw, "<f4", count=entry["bytes"] // 4,
                            offset=entry["offset"]).reshape(entry["shape"])
    np.testing.assert_array_equal(kernels, network.layers[0].params["w"])
    assert meta["input_shape"] == [1, 28, 28]


def test_a_folder_that_cannot_be_written_is_one_sentence(qtbot, lab, tmp_path):
    (tmp_path / "file").write_text("x")
    sentence = export_and_wait(qtbot, lab, tmp_path / "file")
    assert sentence.startswith("Could not export to PyTorch") and "\n" not in sentence


@pytest.mark.needs_torch
def test_a_colour_network_exported_gives_the_engines_probabilities(qtbot, lab, tmp_path):
    torch = pytest.importorskip("torch")
    write_cifar_folder(tmp_path / "cifar", per_batch=8)
    with qtbot.waitSignal(lab.data_panel.dataset_loaded, timeout=30000):
        lab.open_dataset(str(tmp_path / "cifar"))
    network = trained_then_saved(qtbot, lab, tmp_path)
    assert network.input_shape == (3, 32, 32)
    export_and_wait(qtbot, lab, tmp_path / "torch")
    module = _import_model(tmp_path / "torch")
    assert module.CLASS_NAMES[:3] == ["airplane", "automobile", "bird"]
    model = module.load_model()
    x = lab.session.val_x[:8]
    with torch.no_grad():
        got = torch.softmax(model(torch.from_numpy(np.ascontiguousarray(x))), dim=1).numpy()
    assert np.abs(got - network.predict_proba(x)).max() <= 1e-4
