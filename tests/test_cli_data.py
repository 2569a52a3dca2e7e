"""The command line with data sets and exports: train --data, evaluate --data, export."""

import numpy as np
import pytest
from datafiles import write_cifar_folder, write_image_folder, write_mnist_folder
from test_cli import assert_one_error_line, run

from engine.datasets import ImageOptions, load_dataset
from engine.network import Network


@pytest.mark.slow
def test_train_on_a_cifar_folder_then_evaluate_on_its_test_batch(capsys, tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder, per_batch=6, seed=2)
    model = tmp_path / "cifar.npz"
    code, out, err = run(["train", "--data", str(folder), "--epochs", "1", "--limit", "12",
                          "--out", str(model)], capsys)
    assert code == 0, err
    assert "cifar-10-batches-py: 30 training and 6 validation images" in out
    network = Network.load(model)
    assert network.input_shape == (3, 32, 32) and network.num_classes == 10
    from engine.recipe import CIFAR_SPEC

    assert [layer["type"] for layer in network.spec] == [layer["type"] for layer in CIFAR_SPEC]
    code, out, err = run(["evaluate", "--model", str(model), "--data", str(folder)], capsys)
    assert code == 0, err
    data = load_dataset(folder)
    correct = int(np.sum(network.predict(data.val_x) == data.val_y))  # test_batch only
    assert f"({correct} of 6 correct)" in out


@pytest.mark.slow
def test_train_on_an_image_folder_in_grey(capsys, tmp_path):
    write_image_folder(tmp_path / "pics", {"ant": 6, "bee": 6, "cat": 6}, size=(12, 10))
    model = tmp_path / "m.npz"
    code, out, err = run(["train", "--data", str(tmp_path / "pics"), "--epochs", "1",
                          "--image-size", "8", "--grey", "--out", str(model)], capsys)
    assert code == 0, err
    network = Network.load(model)
    assert network.input_shape == (1, 8, 8) and network.num_classes == 3
    code, out, err = run(["evaluate", "--model", str(model), "--data", str(tmp_path / "pics"),
                          "--image-size", "8", "--grey"], capsys)
    assert code == 0, err
    data = load_dataset(tmp_path / "pics", ImageOptions(8, "grey"))
    assert f"of {len(data.val_y)} correct" in out


def test_evaluate_an_mnist_folder(capsys, tmp_path):
    write_mnist_folder(tmp_path / "mnist", n_test=5, compressed=True)
    model = tmp_path / "m.npz"
    Network([{"type": "flatten"}, {"type": "dense", "units": 10}]).save(model)
    code, out, err = run(["evaluate", "--model", str(model), "--data", str(tmp_path / "mnist")],
                         capsys)
    assert code == 0, err
    assert "of 5 correct" in out


@pytest.mark.parametrize("damage, words", [
    (lambda f: (f / "data_batch_3").unlink(), ["data_batch_3", "missing"]),
    (lambda f: (f / "test_batch").write_bytes(b"\x80\x02garbage"), ["test_batch", "not a"]),
    (lambda f: (f / "batches.meta").write_bytes(b"plain text"), ["batches.meta", "pickle"]),
])
def test_bad_cifar_folders_give_one_line(capsys, tmp_path, damage, words):
    folder = tmp_path / "c"
    write_cifar_folder(folder, per_batch=2)
    damage(folder)
    model = tmp_path / "m.npz"
    Network([{"type": "flatten"}, {"type": "dense", "units": 10}], (3, 32, 32)).save(model)
    for argv in (["evaluate", "--model", str(model), "--data", str(folder)],
                 ["train", "--data", str(folder), "--out", str(tmp_path / "o.npz")]):
        code, _, err = run(argv, capsys)
        assert_one_error_line(code, err, *words)
    assert not (tmp_path / "o.npz").exists()


def test_evaluate_refuses_a_model_with_too_few_outputs(capsys, tmp_path):
    write_cifar_folder(tmp_path / "c", per_batch=4, seed=1)
    model = tmp_path / "m.npz"
    Network([{"type": "flatten"}, {"type": "dense", "units": 2}], (3, 32, 32)).save(model)
    code, _, err = run(["evaluate", "--model", str(model), "--data", str(tmp_path / "c")],
                       capsys)
    assert_one_error_line(code, err, "2 outputs", "10 classes")


def test_an_unreadable_picture_gives_one_line(capsys, tmp_path):
    write_image_folder(tmp_path / "p", {"a": 3, "b": 3})
    (tmp_path / "p" / "a" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    code, _, err = run(["train", "--data", str(tmp_path / "p"), "--out",
                        str(tmp_path / "o.npz")], capsys)
    assert_one_error_line(code, err, "bad.jpg")


def test_export_writes_the_folder_and_bad_models_give_one_line(capsys, tmp_path):
    model = tmp_path / "m.npz"
    Network([{"type": "flatten"}, {"type": "dense", "units": 3}], (1, 4, 4)).save(model)
    code, out, err = run(["export", "--model", str(model), "--format", "pytorch", "--out",
                          str(tmp_path / "torch")], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "torch").iterdir()) == \
        ["README.md", "model.json", "model.py", "weights.bin"]
    (tmp_path / "bad.npz").write_bytes(b"junk")
    code, _, err = run(["export", "--model", str(tmp_path / "bad.npz"), "--format", "pytorch",
                        "--out", str(tmp_path / "t2")], capsys)
    assert_one_error_line(code, err, "bad.npz")
    code, _, err = run(["export", "--model", str(model), "--format", "onnx", "--out", "x"],
                       capsys)
    assert_one_error_line(code, err, "pytorch")


@pytest.mark.parametrize("argv, words", [
    (["train", "--image-size", "2"], ["4 to 256"]),
    (["export", "--model", "m.npz"], ["--format", "--out"]),
])
def test_bad_new_arguments(capsys, argv, words):
    code, _, err = run(argv, capsys)
    assert_one_error_line(code, err, *words)
