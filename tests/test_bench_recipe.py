"""benchmarks/bench_recipe.py: the PyTorch twin really is the same recipe (no timings here)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.needs_torch  # .ci/run installs torch and runs these with -m needs_torch

from benchmarks import bench_recipe  # noqa: E402
from engine.data import mnist_split  # noqa: E402


def _small_data(n=512):
    train_x, train_y, val_x, val_y = mnist_split()
    return train_x[:n], train_y[:n], val_x[:200], val_y[:200]


def test_the_twin_starts_from_the_engines_weights_and_sees_its_batches():
    data = _small_data()
    engine_run = bench_recipe.EngineRecipe(data, seed=3, epochs=2)
    twin = bench_recipe.TorchRecipe(data, seed=3, epochs=2)
    conv1 = engine_run.network.layers[0]
    np.testing.assert_array_equal(twin.model[0].weight.detach().numpy(), conv1.params["w"])
    dense = engine_run.network.layers[-1]
    np.testing.assert_array_equal(twin.model[7].weight.detach().numpy(), dense.params["w"].T)
    # the same generator draws in the same order: the first batch is the same digits,
    # shifted the same way
    trainer = engine_run.trainer
    x_engine, y_engine = trainer._next_batch()
    idx = twin.order[:64]
    np.testing.assert_array_equal(y_engine, twin.train_y[idx])
    np.testing.assert_array_equal(x_engine, twin.shift(twin.train_x[idx], twin.rng))


def test_both_learn_the_same_recipe_to_a_similar_accuracy():
    data = _small_data()
    result = bench_recipe.run_seed(data, seed=0, epochs=2, with_torch=True)
    for name in ("engine", "torch"):
        assert len(result[name]["epoch_seconds"]) == 2
        assert result[name]["accuracy"] > 0.6  # 512 digits, 2 epochs: far above chance
    assert abs(result["engine"]["accuracy"] - result["torch"]["accuracy"]) < 0.1


def test_bench_recipe_prints_a_table_naming_the_cpu(capsys, monkeypatch):
    monkeypatch.setattr(bench_recipe, "run_seed", lambda data, seed, epochs, with_torch: {
        "engine": {"seconds": 2.0, "epoch_seconds": [2.0], "accuracy": 0.985},
        "torch": {"seconds": 3.0, "epoch_seconds": [3.0], "accuracy": 0.984}})
    assert bench_recipe.main(["--seeds", "0,1", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "1.50" in out and "98.50%" in out and bench_recipe.cpu_model() in out
