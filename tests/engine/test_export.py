"""engine.export: a network written as a PyTorch model (model.py + model.json + weights.bin).

The ``needs_torch`` tests run the exported model.py with PyTorch (skipped only where torch
is not installed; .ci/run installs it and runs them with ``pytest -m needs_torch``) and
compare its probabilities with the engine's on 200 inputs, for every layer type the
builder offers, 1 and 3 channels. The other tests need no torch: exporting never imports it.
"""

import importlib.util
import json
import subprocess
import sys
import uuid

import numpy as np
import pytest

from engine.export import EXPORT_FILES, ExportError, export_pytorch
from engine.network import Network

# every layer type of the builder, conv with stride and padding (also non-square), both
# poolings (one with windows that do not tile the map), batch norm, the three activations,
# flatten and a hidden dense layer
NETWORKS = {
    "conv-bn-relu-maxpool": [
        {"type": "conv", "filters": 4, "kernel": 3, "stride": 1, "padding": 1},
        {"type": "batchnorm"}, {"type": "relu"}, {"type": "maxpool", "size": 2},
        {"type": "conv", "filters": 5, "kernel": [3, 2], "stride": [2, 1], "padding": [1, 0]},
        {"type": "tanh"}, {"type": "avgpool", "size": 3, "stride": 2},
        {"type": "flatten"}, {"type": "dense", "units": 12}, {"type": "sigmoid"},
        {"type": "dense", "units": 7}],
    "stride-2-sigmoid": [
        {"type": "conv", "filters": 3, "kernel": 5, "stride": 2, "padding": 2},
        {"type": "sigmoid"}, {"type": "batchnorm", "momentum": 0.8, "eps": 1e-3},
        {"type": "maxpool", "size": 3, "stride": 1}, {"type": "flatten"},
        {"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 10}],
    "dense-only": [{"type": "flatten"}, {"type": "dense", "units": 9}, {"type": "tanh"},
                   {"type": "dense", "units": 4}],
}


def _trained_like(spec, shape, seed=0) -> Network:
    """A network whose every weight and batch-norm statistic is random (not the defaults
    of a fresh network: ones and zeros would hide a mix-up of gamma/beta or mean/var)."""
    network = Network(spec, input_shape=shape, seed=seed)
    rng = np.random.default_rng(seed + 1)
    state = {}
    for key, value in network.get_state().items():
        if key.endswith("running_var") or key.endswith("gamma"):
            state[key] = rng.uniform(0.5, 2.0, value.shape).astype(np.float32)
        else:
            state[key] = (rng.normal(0, 0.5, value.shape)).astype(np.float32)
    network.set_state(state)
    return network


def _import_model(folder):
    spec = importlib.util.spec_from_file_location(f"exported_{uuid.uuid4().hex}",
                                                  folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EQUALITY: dict[str, float] = {}  # the largest difference per case (printed with -s)


@pytest.mark.needs_torch
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_exported_model_gives_the_engines_probabilities(tmp_path, name, channels):
    torch = pytest.importorskip("torch")
    shape = (channels, 13, 12)
    network = _trained_like(NETWORKS[name], shape, seed=len(name) + channels)
    export_pytorch(network, tmp_path / "out", class_names=[f"c{k}" for k in
                                                           range(network.num_classes)])
    module = _import_model(tmp_path / "out")
    model = module.load_model()
    assert isinstance(model, torch.nn.Module) and not model.training
    assert module.INPUT_SHAPE == shape and module.CLASS_NAMES[0] == "c0"
    x = np.random.default_rng(7).random((200, *shape), dtype=np.float32)
    expected = network.predict_proba(x)
    with torch.no_grad():
        got = torch.softmax(model(torch.from_numpy(x)), dim=1).numpy()
    difference = float(np.abs(got - expected).max())
    EQUALITY[f"{name}/{channels}"] = difference
    print(f"{name} C={channels}: max |p_torch - p_engine| = {difference:.2e}")
    assert got.shape == expected.shape == (200, network.num_classes)
    assert difference <= 1e-4
    # and the classes agree wherever the engine is not torn between two
    top2 = np.sort(expected, axis=1)[:, -2:]
    sure = top2[:, 1] - top2[:, 0] > 1e-3
    np.testing.assert_array_equal(got.argmax(1)[sure], expected.argmax(1)[sure])


@pytest.mark.needs_torch
def test_the_default_recipe_network_exports_too(tmp_path):
    torch = pytest.importorskip("torch")
    from engine.recipe import CIFAR_SPEC, DEFAULT_SPEC

    for spec, shape in ((DEFAULT_SPEC, (1, 28, 28)), (CIFAR_SPEC, (3, 32, 32))):
        network = _trained_like(spec, shape)
        export_pytorch(network, tmp_path / str(shape[0]))
        model = _import_model(tmp_path / str(shape[0])).load_model()
        x = np.random.default_rng(1).random((200, *shape), dtype=np.float32)
        with torch.no_grad():
            got = torch.softmax(model(torch.from_numpy(x)), 1).numpy()
        assert np.abs(got - network.predict_proba(x)).max() <= 1e-4


def test_the_files_hold_the_weights_in_pytorch_layouts(tmp_path):
    network = _trained_like(NETWORKS["conv-bn-relu-maxpool"], (3, 13, 12))
    written = export_pytorch(network, tmp_path)
    assert [p.name for p in written] == list(EXPORT_FILES)
    meta = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    raw = (tmp_path / "weights.bin").read_bytes()
    assert len(raw) == sum(t["bytes"] for t in meta["tensors"].values())

    def tensor(name):
        entry = meta["tensors"][name]
        return np.frombuffer(raw, "<f4", count=entry["bytes"] // 4,
                             offset=entry["offset"]).reshape(entry["shape"])

    layers = network.layers
    np.testing.assert_array_equal(tensor("0.weight"), layers[0].params["w"])  # (F, C, KH, KW)
    np.testing.assert_array_equal(tensor("1.running_var"), layers[1].buffers["running_var"])
    np.testing.assert_array_equal(tensor("1.weight"), layers[1].params["gamma"])
    np.testing.assert_array_equal(tensor("8.weight"), layers[8].params["w"].T)  # (K, D)
    conv2 = meta["layers"][4]
    assert conv2["kernel"] == [3, 2] and conv2["stride"] == [2, 1] and conv2["padding"] == [1, 0]
    assert meta["layers"][1]["momentum"] == pytest.approx(0.1)  # PyTorch's = 1 - engine's
    assert meta["input_shape"] == [3, 13, 12] and meta["class_names"] == [str(k) for k in
                                                                          range(7)]
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "load_model()" in readme and "torch.rand(8, 3, 13, 12)" in readme


def test_exporting_needs_no_torch(tmp_path):
    model = tmp_path / "m.npz"
    Network(NETWORKS["dense-only"], input_shape=(1, 4, 4)).save(model)
    code = ("import sys; sys.modules['torch'] = None\n"  # any import of torch fails
            "import main; sys.exit(main.main(['export', '--model', sys.argv[1], "
            "'--format', 'pytorch', '--out', sys.argv[2]]))")
    result = subprocess.run([sys.executable, "-c", code, str(model), str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120,
                            cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(EXPORT_FILES)
    assert "model.py" in result.stdout


def test_bad_targets_are_one_sentence(tmp_path):
    network = Network(NETWORKS["dense-only"], input_shape=(1, 4, 4))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="is a file"):
        export_pytorch(network, tmp_path / "file")
    with pytest.raises(ExportError, match="cannot make the folder"):
        export_pytorch(network, "/proc/no/such/place")
    with pytest.raises(ExportError, match="3 class names"):
        export_pytorch(network, tmp_path / "x", class_names=["a", "b", "c"])
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "model.py").mkdir()  # a folder in the way of a file
    with pytest.raises(ExportError, match="model.py"):
        export_pytorch(network, tmp_path / "y")
