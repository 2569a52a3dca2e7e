"""The probe tab's C-R-P line (gui/labs/training/sandwich.py): the sandwiches of a spec,
and the formula's numbers for a real network's probe checked against numpy (the conv
output over the pooling window, relu, max) and the engine's pooling output."""

import re

import numpy as np
import pytest

from engine.network import Network
from engine.training import Trainer
from gui.labs.training.sandwich import Sandwich, crp_text, find_sandwiches, pool_window

SPEC = [{"type": "conv", "filters": 4, "kernel": 3, "stride": 1, "padding": 1},
        {"type": "relu"}, {"type": "maxpool", "size": 2, "stride": 2},
        {"type": "conv", "filters": 6, "kernel": 3, "stride": 1, "padding": 1},
        {"type": "batchnorm"}, {"type": "relu"}, {"type": "maxpool", "size": 2, "stride": 2},
        {"type": "flatten"}, {"type": "dense", "units": 10}]


def test_the_sandwiches_of_a_spec():
    assert find_sandwiches(SPEC) == [Sandwich(0, None, 1, 2), Sandwich(3, 4, 5, 6)]
    assert find_sandwiches([{"type": "conv"}, {"type": "relu"}, {"type": "flatten"}]) == []


@pytest.fixture(scope="module")
def snapshot(warm_mnist):
    train_x, train_y = warm_mnist[0][:64], warm_mnist[1][:64]
    net = Network(SPEC, (1, 28, 28), seed=1)
    trainer = Trainer(net, train_x, train_y, train_x, train_y, batch_size=32)
    for _ in range(3):
        trainer.step()
    return trainer.snapshot(train_x[0], int(train_y[0]))


@pytest.mark.parametrize("block, channel", [(0, 0), (0, 3), (1, 2), (1, 5)])
def test_the_numbers_are_the_probes(snapshot, block, channel):
    acts = snapshot.activations
    s = find_sandwiches(SPEC)[block]
    text = crp_text(SPEC, acts, s, channel)
    pooled = acts[s.pool][1][channel]
    i, j = np.unravel_index(np.argmax(pooled), pooled.shape)
    rows, cols = pool_window(SPEC, s, i, j)
    before = acts[s.norm if s.norm is not None else s.conv][1][channel][rows, cols]
    relu = np.maximum(before, 0)  # by the definition, not the engine's relu layer
    assert float(pooled[i, j]) == pytest.approx(float(relu.max()), abs=1e-6)
    written = [float(v) for v in re.search(r"= \[([^\]]*)\] → relu", text).group(1).split(", ")]
    np.testing.assert_allclose(written, before.ravel(), rtol=2e-3, atol=1e-3)
    assert f"= {float(pooled[i, j]):.4g}" in text
    d = acts[s.pool][1].shape[0]
    assert f"D2 = D1 = {d}" in text and "no parameters" in text
    expected = ("x_j = pool(relu(BN(Σ_i x_i * w_ij + b_j)))" if s.norm is not None
                else "x_j = pool(relu(Σ_i x_i * w_ij + b_j))")
    assert text.startswith(expected + ": ")


def test_the_probe_tab_writes_the_sandwich(qtbot, warm_mnist):
    from gui.labs.training.lab import TrainingLab

    train_x, train_y, val_x, val_y = warm_mnist
    lab = TrainingLab(data=(train_x[:256], train_y[:256], val_x[:50], val_y[:50]))
    qtbot.addWidget(lab)
    lab.tabs.setCurrentIndex(1)
    lab.session.train_now(2)
    qtbot.waitUntil(lambda: lab.sandwich_view.text.text().startswith(
        "x_j = pool(relu(Σ_i x_i * w_ij + b_j)): conv1 → relu1 → maxpool1"), timeout=10_000)
    lab.sandwich_view.block_spin.setValue(2)
    assert "conv2 → relu2 → maxpool2" in lab.sandwich_view.text.text()
    lab.shutdown()
