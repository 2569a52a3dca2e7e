"""evaluate_network(stop=...): a long evaluation ends between two batches when asked."""

import numpy as np
import pytest

from engine.network import Network
from engine.training import EvaluationStopped, Trainer, evaluate_network

SPEC = [{"type": "conv", "filters": 2, "kernel": 3, "padding": 1}, {"type": "relu"},
        {"type": "flatten"}, {"type": "dense", "units": 10}]


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.random((100, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 100)
    return x, y


class CountingNetwork:
    """A Network whose forward passes are counted (one per batch)."""

    def __init__(self, network):
        self._network, self.batches = network, 0
        self.num_classes = network.num_classes

    def forward_pure(self, x, training=False):
        self.batches += 1
        return self._network.forward_pure(x, training=training)


@pytest.mark.parametrize("after", [0, 1, 3])
def test_stop_ends_the_evaluation_before_the_next_batch(data, after):
    x, y = data
    net = CountingNetwork(Network(SPEC, input_shape=(1, 8, 8), seed=0))
    calls = []

    def stop():
        calls.append(net.batches)
        return len(calls) > after

    with pytest.raises(EvaluationStopped):
        evaluate_network(net, x, y, batch_size=16, stop=stop)
    assert net.batches == after  # asked before each batch: no batch after the answer
    assert calls == list(range(after + 1))


def test_a_stop_that_never_answers_true_changes_nothing(data):
    x, y = data
    net = Network(SPEC, input_shape=(1, 8, 8), seed=0)
    plain = evaluate_network(net, x, y, batch_size=16)
    asked = []
    watched = evaluate_network(net, x, y, batch_size=16, stop=lambda: asked.append(1) and False)
    assert len(asked) == 7  # ceil(100 / 16) batches
    np.testing.assert_array_equal(watched.predictions, plain.predictions)
    np.testing.assert_array_equal(watched.confusion, plain.confusion)
    assert watched.loss == plain.loss and watched.accuracy == plain.accuracy


def test_trainer_evaluate_passes_stop_on(data):
    x, y = data
    trainer = Trainer(Network(SPEC, input_shape=(1, 8, 8), seed=0), x, y, x[:40], y[:40])
    with pytest.raises(EvaluationStopped):
        trainer.evaluate(stop=lambda: True)
    assert trainer.evaluate(stop=lambda: False).confusion.sum() == 40
