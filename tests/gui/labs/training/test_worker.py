"""The training worker thread: commands, frames, epochs, divergence, stopping.

Small networks and a small slice of MNIST keep every test to a few seconds.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import pytest
from PyQt6.QtCore import QCoreApplication, QThread

from engine.network import Network
from engine.training import Trainer
from engine.training_loop import TrainingConfig, TrainingRun
from gui.labs.training.worker import EpochResult, TrainingFrame, TrainingWorker
from gui.workers.threads import stop_worker

TINY_SPEC = [
    {"type": "conv", "filters": 4, "kernel": 3, "stride": 1, "padding": 1},
    {"type": "relu"},
    {"type": "maxpool", "size": 2, "stride": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 10},
]


@pytest.fixture(scope="module")
def small_data(warm_mnist):
    train_x, train_y, val_x, val_y = warm_mnist
    return train_x[:256], train_y[:256], val_x[:100], val_y[:100]


def make_trainer(data, optimizer="adam", lr=3e-3, batch_size=32, seed=0):
    return Trainer(Network(TINY_SPEC, seed=seed), *data, optimizer=optimizer, lr=lr,
                   batch_size=batch_size, seed=seed)


def run_of(trainer, epochs=1):
    """The engine loop the worker steps: the trainer's rate, constant, ``epochs`` planned."""
    return TrainingRun(trainer, TrainingConfig(lr=trainer.lr, epochs=epochs,
                                               schedule="constant"))


def stop_and_wait(worker, timeout_s):
    """Ask the worker to stop and wait for its thread; True when it ended."""
    return stop_worker(worker, timeout_s=timeout_s)


@pytest.fixture
def worker_factory(qtbot):
    workers = []

    def make(trainer, probe, target_epochs=1, **kwargs):
        w = TrainingWorker(run_of(trainer, target_epochs), probe, **kwargs)
        workers.append(w)
        return w

    yield make
    for w in workers:  # never leave a thread running, even when a test fails
        assert stop_and_wait(w, 120)  # a compilation in progress cannot be interrupted
    # deliver signals still queued from the threads before their objects are deleted
    QCoreApplication.processEvents()


class FrameLog:
    """Collects frames and acknowledges them like the GUI does."""

    def __init__(self, worker):
        self.frames: list[TrainingFrame] = []
        self.evals: list[EpochResult] = []
        self.worker = worker
        worker.frame.connect(self.on_frame)
        worker.evaluated.connect(self.evals.append)

    def on_frame(self, frame):
        self.frames.append(frame)
        self.worker.frame_consumed()

    def iterations(self):
        return np.concatenate([f.iterations for f in self.frames]) if self.frames else []


def start_training(qtbot, data, worker_factory):
    """(trainer, worker, log): a worker running towards 1000 epochs, past its first step."""
    trainer = make_trainer(data)
    w = worker_factory(trainer, data[2][0], target_epochs=1000, running=True)
    log = FrameLog(w)
    w.start()
    qtbot.waitUntil(lambda: bool(log.frames) and log.frames[-1].iteration > 0, timeout=30000)
    return trainer, w, log


def test_paused_worker_sends_a_snapshot_and_trains_nothing(qtbot, small_data, worker_factory):
    trainer = make_trainer(small_data)
    probe = small_data[2][0]
    w = worker_factory(trainer, probe, probe_label=int(small_data[3][0]), running=False)
    log = FrameLog(w)
    with qtbot.waitSignal(w.frame, timeout=20000):
        w.start()
    frame = log.frames[0]
    assert not frame.running and frame.iteration == 0 and len(frame.iterations) == 0
    snap = frame.snapshot
    assert snap.kernels.shape == (4, 1, 3, 3)
    assert snap.probabilities.shape == (10,)
    assert snap.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    names = [n for n, _ in snap.activations]
    assert names == [layer.name for layer in trainer.network.layers]
    # the epoch-0 evaluation of the untrained network came first
    assert [e.epoch for e in log.evals] == [0]
    assert trainer.iteration == 0


def test_every_step_is_reported_once_and_in_order(qtbot, small_data, worker_factory):
    trainer = make_trainer(small_data)
    w = worker_factory(trainer, small_data[2][0], target_epochs=1, running=True)
    log = FrameLog(w)
    with qtbot.waitSignal(w.finished_training, timeout=60000):
        w.start()
    qtbot.waitUntil(lambda: bool(log.frames) and not log.frames[-1].running, timeout=10000)
    ipe = trainer.iterations_per_epoch  # 256 / 32 = 8
    assert ipe == 8
    np.testing.assert_array_equal(log.iterations(), np.arange(1, ipe + 1))
    assert trainer.iteration == ipe and trainer.epoch == 1
    assert [e.epoch for e in log.evals] == [0, 1]
    losses = np.concatenate([f.losses for f in log.frames])
    assert np.all(np.isfinite(losses))


def test_pause_stops_the_steps_and_step_trains_exactly_one(qtbot, small_data, worker_factory):
    trainer, w, log = start_training(qtbot, small_data, worker_factory)
    w.pause()
    qtbot.waitUntil(lambda: not log.frames[-1].running, timeout=10000)
    paused_at = log.frames[-1].iteration
    assert trainer.iteration == paused_at  # no step after the paused frame
    count = len(log.frames)
    w.step_once()
    qtbot.waitUntil(lambda: len(log.frames) > count, timeout=10000)
    assert log.frames[-1].iteration == paused_at + 1
    assert trainer.iteration == paused_at + 1
    assert log.iterations()[-1] == paused_at + 1


def test_learning_rate_and_probe_commands(qtbot, small_data, worker_factory):
    trainer = make_trainer(small_data)
    w = worker_factory(trainer, small_data[2][0], running=False)
    log = FrameLog(w)
    with qtbot.waitSignal(w.frame, timeout=20000):
        w.start()
    w.set_lr(0.0123)
    other = small_data[2][1]
    w.set_probe(other, label=int(small_data[3][1]), probe_id=7)
    qtbot.waitUntil(lambda: log.frames[-1].probe_id == 7, timeout=10000)
    assert trainer.optimizer.lr == pytest.approx(0.0123)
    expected = trainer.snapshot(other, label=int(small_data[3][1]))
    np.testing.assert_allclose(log.frames[-1].snapshot.probabilities, expected.probabilities,
                               rtol=1e-6)


def test_worker_stops_within_a_second_while_training(qtbot, small_data, worker_factory):
    trainer, w, log = start_training(qtbot, small_data, worker_factory)
    thread = w.thread()
    assert thread.isRunning()
    assert stop_and_wait(w, 1)
    assert thread.isFinished()


def test_diverging_run_reports_and_keeps_good_weights(qtbot, small_data, worker_factory):
    trainer = make_trainer(small_data, optimizer="adam", lr=10.0)
    start_state = trainer.network.get_state()
    w = worker_factory(trainer, small_data[2][0], target_epochs=1000, running=True)
    log = FrameLog(w)
    messages = []
    w.diverged.connect(messages.append)
    w.start()
    qtbot.waitUntil(lambda: bool(messages), timeout=60000)
    assert "diverged" in messages[0] and "learning rate" in messages[0]
    qtbot.waitUntil(lambda: bool(log.frames) and not log.frames[-1].running, timeout=10000)
    assert trainer.status == "diverged"
    good_steps = np.concatenate([f.iterations for f in log.frames])
    # the kept weights are those before the blow-up: the first step's loss was sane,
    # so at least the initial weights qualify; they must be finite and give sane losses
    for p in trainer.network.parameters():
        assert np.all(np.isfinite(p))
    if len(good_steps) == 0:  # diverged on the very first update: the initial weights
        for key, value in trainer.network.get_state().items():
            np.testing.assert_array_equal(value, start_state[key])
    ev = trainer.evaluate()
    assert ev.loss < 10 * np.log(10)
    assert np.all(np.isfinite(trainer.network.predict_proba(small_data[2][:10])))
    # Resume after divergence does nothing
    done = trainer.iteration
    w.resume()
    w.step_once()
    qtbot.waitUntil(lambda: not w._commands.qsize(), timeout=5000)
    assert trainer.iteration == done


def test_save_command_writes_a_model_with_the_same_predictions(qtbot, small_data, tmp_path,
                                                               worker_factory):
    trainer = make_trainer(small_data)
    w = worker_factory(trainer, small_data[2][0], running=False)
    log = FrameLog(w)
    w.start()
    for _ in range(3):
        w.step_once()
    qtbot.waitUntil(lambda: bool(log.frames) and log.frames[-1].iteration == 3, timeout=20000)
    path = tmp_path / "m.npz"
    with qtbot.waitSignal(w.saved, timeout=10000) as blocker:
        w.save_model(str(path))
    assert blocker.args == [str(path), ""]
    assert stop_and_wait(w, 5)
    loaded = Network.load(path)
    x = small_data[2][:50]
    np.testing.assert_array_equal(loaded.predict_proba(x), trainer.network.predict_proba(x))


def test_save_to_an_impossible_path_reports_the_error(qtbot, small_data, tmp_path,
                                                      worker_factory):
    w = worker_factory(make_trainer(small_data), small_data[2][0], running=False)
    FrameLog(w)
    w.start()
    bad = tmp_path / "missing-dir" / "m.npz"
    with qtbot.waitSignal(w.saved, timeout=10000) as blocker:
        w.save_model(str(bad))
    assert blocker.args[0] == str(bad) and blocker.args[1]


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_save_over_a_fifo_or_a_device_is_refused_and_leaves_it(qtbot, small_data, tmp_path,
                                                               worker_factory, kind):
    # the GUI's save goes through the CLI's code (engine.files.atomic_write): a special
    # file in the way is named as such, and it is still what it was afterwards
    import os
    import stat
    from pathlib import Path

    if kind == "fifo":
        target, is_kind, word = tmp_path / "m.npz", stat.S_ISFIFO, "FIFO"
        os.mkfifo(target)
    else:
        target, is_kind, word = Path("/dev/null"), stat.S_ISCHR, "device"
    w = worker_factory(make_trainer(small_data), small_data[2][0], running=False)
    FrameLog(w)
    w.start()
    with qtbot.waitSignal(w.saved, timeout=10000) as blocker:
        w.save_model(str(target))
    assert blocker.args[0] == str(target)
    assert word in blocker.args[1]
    assert is_kind(os.stat(target).st_mode)
    assert not list(tmp_path.glob("*.tmp"))


def test_each_epoch_is_validated_on_a_copy_in_a_background_thread(qtbot, small_data,
                                                                     worker_factory,
                                                                     monkeypatch):
    import threading

    import engine.training

    calls = []
    real = engine.training.evaluate_network

    def recording(network, x, y, batch_size=64, **kwargs):
        thread = QThread.currentThread().objectName()  # start_worker names its threads
        weights = network.layers[0].params["w"].copy()
        calls.append((thread, threading.get_ident(), network, weights))
        return real(network, x, y, batch_size, **kwargs)

    monkeypatch.setattr(engine.training, "evaluate_network", recording)
    trainer = make_trainer(small_data)
    w = worker_factory(trainer, small_data[2][0], target_epochs=3, running=True)
    log = FrameLog(w)
    with qtbot.waitSignal(w.finished_training, timeout=60000):
        w.start()
    # every validation arrived, in order, before "finished"
    assert [e.epoch for e in log.evals] == [0, 1, 2, 3]
    assert [e.iteration for e in log.evals] == [0, 8, 16, 24]
    background = calls[1:]  # epoch 0 is evaluated by the worker itself, before training
    assert calls[0][0] == "Training"
    # by the validation service, or by the training thread when it needed a result
    # before it came (the last epoch's, at the end: test_who_needs_a_starved_...)
    assert {c[0] for c in background} <= {"Validation", "Training"}
    assert threading.get_ident() not in {c[1] for c in calls}  # never the GUI thread
    # on a copy of the network, holding the weights of its epoch's end: the last one
    # (training stopped there) gives exactly what the trainer's own network gives
    assert all(c[2] is not trainer.network for c in background)
    np.testing.assert_array_equal(background[-1][3], trainer.network.layers[0].params["w"])
    assert not np.array_equal(background[0][3], background[-1][3])
    final = trainer.evaluate()
    np.testing.assert_array_equal(log.evals[-1].result.predictions, final.predictions)
    assert log.evals[-1].result.loss == pytest.approx(final.loss, rel=1e-6)


def _validation_patch(monkeypatch, in_service):
    """Replace evaluate_network by ``in_service(real, network, x, y, batch_size, stop)``
    in the validation service's thread; every other thread gets the real one."""
    import engine.training

    real = engine.training.evaluate_network

    def patched(network, x, y, batch_size=64, stop=None):
        if QThread.currentThread().objectName() != "Validation":
            return real(network, x, y, batch_size, stop=stop)
        return in_service(real, network, x, y, batch_size, stop)

    monkeypatch.setattr(engine.training, "evaluate_network", patched)


@contextlib.contextmanager
def _running_validation(monkeypatch, small_data, in_service, emitted, failed):
    """A started BackgroundValidation of a new trainer whose service thread evaluates
    with ``in_service`` (see _validation_patch); yields (trainer, validation) and stops
    the service afterwards."""
    from gui.labs.training.worker import BackgroundValidation

    _validation_patch(monkeypatch, in_service)
    trainer = make_trainer(small_data)
    validation = BackgroundValidation(trainer, emitted.append, failed.append)
    validation.start_service()
    try:
        yield trainer, validation
    finally:
        validation.stop()  # the service's thread ends


@pytest.mark.skipif(not hasattr(__import__("os"), "SCHED_IDLE"), reason="Linux scheduling")
def test_validation_runs_in_an_idle_thread_that_nobody_waits_for(qtbot, small_data,
                                                                  monkeypatch):
    import os
    import threading

    seen = []

    def recording(real, network, x, y, batch_size, stop):
        seen.append(os.sched_getscheduler(threading.get_native_id()))
        return real(network, x, y, batch_size, stop=stop)

    results = []
    with _running_validation(monkeypatch, small_data, recording, results,
                             results) as (trainer, validation):
        for epoch in (1, 2):  # the thread stays idle from one request to the next
            validation.start(epoch, 8 * epoch, trainer.network.get_state())
            qtbot.waitUntil(lambda n=epoch: len(results) == n, timeout=30000)  # nobody waits
    assert seen == [os.SCHED_IDLE] * 2  # only cores nothing else wants
    assert [r.epoch for r in results] == [1, 2]
    np.testing.assert_array_equal(results[0].result.predictions, trainer.evaluate().predictions)


@pytest.mark.skipif(not hasattr(__import__("os"), "SCHED_IDLE"), reason="Linux scheduling")
def test_who_needs_a_starved_validation_computes_it_and_the_service_drops_it(
        qtbot, small_data, monkeypatch):
    """Other programs keep the cores busy: the idle thread gets no time (here: it is
    held inside its evaluation). A normal user could not lift it to normal priority,
    so nothing tries: the waiter evaluates the weights itself, the result is emitted
    once, and the service, let go, stops at its next batch without a second one."""
    import os
    import threading

    from engine.training import EvaluationStopped

    inside, release, service_ended = threading.Event(), threading.Event(), []
    tid = {}

    def starved(real, network, x, y, batch_size, stop):
        tid["service"] = threading.get_native_id()
        inside.set()
        assert release.wait(30)
        try:
            return real(network, x, y, batch_size, stop=stop)
        except EvaluationStopped:
            service_ended.append("dropped")
            raise

    results = []
    with _running_validation(monkeypatch, small_data, starved, results,
                             results) as (trainer, validation):
        validation.start(1, 8, trainer.network.get_state())
        assert inside.wait(30)
        validation.wait()  # returns with the result, computed here
        assert [r.epoch for r in results] == [1]
        assert os.sched_getscheduler(tid["service"]) == os.SCHED_IDLE  # never lifted
        release.set()
        validation.wait()  # delivered already: returns at once, computes nothing
    assert service_ended == ["dropped"] and len(results) == 1
    np.testing.assert_array_equal(results[0].result.predictions, trainer.evaluate().predictions)


def test_a_failing_validation_is_reported_once_and_nobody_waits_for_it(qtbot, small_data,
                                                                       monkeypatch):
    def broken(real, network, x, y, batch_size, stop):
        raise MemoryError("no room for the activations")

    emitted, failed = [], []
    with _running_validation(monkeypatch, small_data, broken, emitted,
                             failed) as (trainer, validation):
        validation.start(1, 8, trainer.network.get_state())
        qtbot.waitUntil(lambda: bool(failed), timeout=30000)
        validation.wait()  # reported already: not evaluated again here
        validation.start(2, 16, trainer.network.get_state())  # the next epoch still works
        validation.wait()  # (here, or in the service: the broken one fails again)
    assert failed[0] == "Validation failed: MemoryError: no room for the activations"
    assert len(failed) + len(emitted) == 2  # one outcome per request


class SlowEvaluation:
    """Stands in for a long evaluation (a big network's 1,000 validation digits): it
    goes batch by batch, each a short wait, until its ``stop`` says so, in the thread
    named ``in_thread`` only (the real evaluation elsewhere)."""

    def __init__(self, in_thread: str, real):
        self.in_thread, self.real = in_thread, real
        self.inside = threading.Event()
        self.stopped = threading.Event()
        self.batches = 0

    def __call__(self, network, x, y, batch_size=64, stop=None):
        from engine.training import EvaluationStopped

        if QThread.currentThread().objectName() != self.in_thread:
            return self.real(network, x, y, batch_size, stop=stop)
        assert stop is not None  # every evaluation of the worker can be interrupted
        self.inside.set()
        while not stop():
            self.batches += 1
            threading.Event().wait(0.002)  # one "batch"
        self.stopped.set()
        raise EvaluationStopped("stopped")


@pytest.mark.parametrize("thread", ["Validation", "Training"])
def test_stopping_interrupts_an_evaluation_between_batches(qtbot, small_data, worker_factory,
                                                          monkeypatch, thread):
    import engine.training
    from gui.workers.threads import running_threads

    slow = SlowEvaluation(thread, engine.training.evaluate_network)
    monkeypatch.setattr(engine.training, "evaluate_network", slow)
    trainer = make_trainer(small_data)
    # "Training": the epoch-0 evaluation; "Validation": the first epoch's (8 steps)
    w = worker_factory(trainer, small_data[2][0], target_epochs=1000, running=True)
    FrameLog(w)
    w.start()
    qtbot.waitUntil(slow.inside.is_set, timeout=30000)
    assert set(running_threads()) == {"Training", "Validation"}
    assert stop_and_wait(w, 2)  # the training thread ends, and with it the validation's
    assert slow.stopped.is_set()
    qtbot.waitUntil(lambda: running_threads() == [], timeout=2000)


def test_the_worker_waits_for_the_kernels_instead_of_compiling_them_itself(
        qtbot, small_data, worker_factory):
    """On a first start the warm-up's child process compiles; until it is done the worker
    takes no step and evaluates nothing (its thread would compile them a second time and
    hold the interpreter lock), and it can still be stopped while it waits."""
    from gui.workers import warmup

    trainer = make_trainer(small_data)
    warmup._state().set_ready(False)
    try:
        w = worker_factory(trainer, small_data[2][0], running=True)
        log = FrameLog(w)
        w.start()
        for _ in range(20):  # a fifth of a second of event processing
            qtbot.wait(10)
        assert trainer.iteration == 0 and not log.evals and not log.frames
        with qtbot.waitSignal(w.evaluated, timeout=60000):
            warmup._state().set_ready(True)
        qtbot.waitUntil(lambda: trainer.iteration > 0, timeout=60000)
        # a worker that is still waiting stops at once
        warmup._state().set_ready(False)
        waiting = worker_factory(make_trainer(small_data), small_data[2][0], running=True)
        waiting.start()
        assert stop_and_wait(waiting, 5)
    finally:
        warmup._state().set_ready(True)


def test_send_state_answers_with_copies_between_steps(qtbot, small_data, worker_factory):
    trainer, w, log = start_training(qtbot, small_data, worker_factory)
    answers = []
    w.state_ready.connect(lambda rid, it, state: answers.append((rid, it, state)))
    w.send_state(41)
    qtbot.waitUntil(lambda: bool(answers), timeout=10000)
    rid, iteration, state = answers[0]
    assert rid == 41 and iteration > 0
    live = trainer.network.state_arrays()
    assert set(state) == set(live)
    assert not any(np.shares_memory(state[k], live[k]) for k in state)
    # training goes on changing the originals, never the copy
    frozen = {k: v.copy() for k, v in state.items()}
    qtbot.waitUntil(lambda: trainer.iteration > iteration + 3, timeout=30000)
    assert all(np.array_equal(frozen[k], state[k]) for k in state)
