"""What the Training lab shares with the Network lab: the model description (a new
generation whenever the network is replaced) and copies of the weights on request,
from the session (headless: fake view and worker) and from a real worker thread."""

from __future__ import annotations

from unittest.mock import MagicMock

import numpy as np
import pytest
from PyQt6.QtCore import QCoreApplication

from engine.network import Network
from engine.training import Trainer
from engine.training_loop import TrainingConfig, TrainingRun
from gui.labs.training.session import TrainingSession, View, WorkerHandle
from gui.labs.training.sharing import SharedModel, SharedWeights
from gui.labs.training.worker import TrainingWorker
from gui.workers.threads import stop_worker

SPEC = [{"type": "conv", "filters": 2, "kernel": 3, "stride": 2, "padding": 1},
        {"type": "relu"}, {"type": "flatten"}, {"type": "dense", "units": 10}]
CONFIG = TrainingConfig(lr=1e-2, batch_size=32, epochs=3, schedule="constant", augment=False)


@pytest.fixture(scope="module")
def data(warm_mnist):
    train_x, train_y, val_x, val_y = warm_mnist
    return train_x[:64], train_y[:64], val_x[:40], val_y[:40]


def make_session(data, spec=SPEC):
    view = MagicMock(spec=View)
    workers = []

    def factory(token, run, probe, running, maps, background):
        worker = MagicMock(spec=WorkerHandle)
        workers.append((token, worker))
        return worker

    return TrainingSession(view, data, factory, spec, CONFIG), view, workers


def test_the_model_is_described_and_replaced_by_generation(data):
    session, view, _ = make_session(data)
    model = session.shared_model()
    assert isinstance(model, SharedModel)
    assert model.spec == session.trainer.network.spec
    assert model.input_shape == (1, 28, 28) and model.num_classes == 10
    assert model.data[2] is data[2]  # the same arrays, not copies
    first = model.generation
    session.reset()
    assert session.shared_model().generation == first + 1
    session.set_spec([{"type": "conv", "filters": 2, "kernel": 40}, {"type": "flatten"},
                      {"type": "dense", "units": 10}])  # cannot be built
    assert session.shared_model() is None
    assert not session.request_weights(1)


def test_a_worker_answers_requests_and_a_let_go_one_is_ignored(data):
    session, view, workers = make_session(data)
    token, worker = workers[-1]
    assert session.request_weights(7)
    worker.send_state.assert_called_once_with(7)
    state = session.trainer.network.get_state()
    session.on_state(token, 7, 12, state)
    weights = view.share_weights.call_args.args[0]
    assert isinstance(weights, SharedWeights)
    assert (weights.generation, weights.iteration, weights.request_id) == \
        (session.generation, 12, 7)
    assert weights.state is state
    view.share_weights.reset_mock()
    session.reset()  # the old worker is let go; its late answer must not count
    session.on_state(token, 8, 13, state)
    view.share_weights.assert_not_called()


def test_without_a_worker_the_weights_are_copied_at_once(data):
    session, view, _ = make_session(data)
    session.train_now(2)  # trains in this thread: no worker owns the trainer
    assert not session.has_worker
    assert session.request_weights(3)
    weights = view.share_weights.call_args.args[0]
    assert weights.iteration == 2 and weights.generation == session.generation
    live = session.trainer.network.state_arrays()
    for key, value in weights.state.items():
        np.testing.assert_array_equal(value, live[key])
        assert not np.shares_memory(value, live[key])  # a copy


def test_a_loaded_model_is_shared_with_its_file(data, tmp_path):
    session, view, _ = make_session(data)
    path = tmp_path / "m.npz"
    Network(SPEC, seed=5).save(path)
    seen = []
    view.show_network.side_effect = lambda *a: seen.append(session.shared_model())
    assert session.load_model(str(path))
    assert seen[-1].loaded_from == str(path)  # known when the views hear of it


def test_the_worker_thread_sends_copies_between_steps(qtbot, data):
    trainer = Trainer(Network(SPEC), *data, lr=1e-2, batch_size=32)
    run = TrainingRun(trainer, TrainingConfig(lr=1e-2, epochs=1000, schedule="constant"))
    worker = TrainingWorker(run, data[2][0], running=True, live_views=False)
    worker.frame.connect(lambda frame: worker.frame_consumed())
    answers = []
    worker.state_ready.connect(lambda rid, it, state: answers.append((rid, it, state)))
    worker.start()
    try:
        qtbot.waitUntil(lambda: trainer.iteration > 2, timeout=30000)
        worker.send_state(41)
        qtbot.waitUntil(lambda: bool(answers), timeout=10000)
        rid, iteration, state = answers[0]
        assert rid == 41 and iteration > 2
        assert set(state) == set(trainer.network.state_arrays())
        live = trainer.network.state_arrays()
        assert not any(np.shares_memory(state[k], live[k]) for k in state)
        # training goes on changing the originals, never the copy
        frozen = {k: v.copy() for k, v in state.items()}
        qtbot.waitUntil(lambda: trainer.iteration > iteration + 3, timeout=30000)
        assert all(np.array_equal(frozen[k], state[k]) for k in state)
    finally:
        assert stop_worker(worker, timeout_s=60)
        QCoreApplication.processEvents()
