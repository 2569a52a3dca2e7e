"""The Training lab's session, headless: a fake view (MagicMock(spec=View)) and a fake
worker (MagicMock(spec=WorkerHandle)); no Qt, no threads, no sleeping (the throttle
and the speed meter get a fake clock)."""

from __future__ import annotations

import json
import subprocess
import sys
from unittest.mock import MagicMock

import numpy as np
import pytest

from engine.network import Network
from engine.training_loop import TrainingConfig
from gui.labs.training.session import (
    INPUT_SHAPE,
    EpochResult,
    FrameThrottle,
    Probe,
    Progress,
    RateMeter,
    State,
    TrainingFrame,
    TrainingSession,
    View,
    WorkerHandle,
)

SPEC = [{"type": "conv", "filters": 2, "kernel": 3, "stride": 2, "padding": 1},
        {"type": "relu"}, {"type": "flatten"}, {"type": "dense", "units": 10}]
CONFIG = TrainingConfig(lr=1e-2, batch_size=32, epochs=3, schedule="constant", augment=False)


@pytest.fixture(scope="module")
def data(warm_mnist):
    train_x, train_y, val_x, val_y = warm_mnist
    return train_x[:64], train_y[:64], val_x[:40], val_y[:40]  # 2 steps an epoch


class Factory:
    """Makes fake workers and remembers how each was asked for."""

    def __init__(self):
        self.made: list[dict] = []

    def __call__(self, token, run, probe, running, maps, background):
        worker = MagicMock(spec=WorkerHandle)
        self.made.append(dict(token=token, run=run, probe=probe, running=running, maps=maps,
                              background=background, worker=worker))
        return worker

    @property
    def last(self) -> dict:
        return self.made[-1]


@pytest.fixture
def make(data):
    def make_session(spec=SPEC, config=CONFIG):
        view = MagicMock(spec=View)
        factory = Factory()
        session = TrainingSession(view, data, factory, spec, config)
        return session, view, factory
    return make_session


def frame(iteration, running=True, rate=0.0, lr=1e-2, probe_id=1, steps=()):
    steps = np.asarray(steps, dtype=np.int64)
    return TrainingFrame(steps, np.ones(len(steps)), np.zeros(len(steps)), iteration, 0, 0.0,
                         rate, None, probe_id, running, lr)


def last_progress(view) -> Progress:
    return view.show_progress.call_args.args[0]


def states(view) -> list[State]:
    return [c.args[0] for c in view.show_state.call_args_list]


def test_the_session_and_its_helpers_need_no_qt():
    code = ("import sys, gui.labs.training.session, gui.labs.training.blocks, "
            "gui.labs.training.arrays; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PyQt6', 'pyqtgraph')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


# -- the state machine -------------------------------------------------------------------
def test_a_new_session_is_idle_with_a_paused_worker_for_the_untrained_network(make):
    session, view, factory = make()
    assert session.state is State.IDLE and states(view) == [State.IDLE]
    assert len(factory.made) == 1 and not factory.last["running"]
    worker = factory.last["worker"]
    worker.set_probe.assert_called_once()
    image, label, probe_id = worker.set_probe.call_args.args
    np.testing.assert_array_equal(image, session.val_x[0])
    assert label == int(session.val_y[0]) and probe_id == session.probe_id == 1
    view.show_network.assert_called_once_with(session.trainer.network, 3 * 2)
    assert last_progress(view).info == "Not trained yet."


def test_start_pause_resume_step_go_through_the_worker(make):
    session, view, factory = make()
    worker = factory.last["worker"]
    session.start()
    assert session.state is State.RUNNING
    worker.resume.assert_called_once()
    session.pause()
    assert session.state is State.PAUSED
    worker.pause.assert_called_once()
    session.step()
    worker.step_once.assert_called_once()
    session.resume()
    assert session.state is State.RUNNING and worker.resume.call_count == 2
    assert states(view) == [State.IDLE, State.RUNNING, State.PAUSED, State.RUNNING]
    assert len(factory.made) == 1  # one worker for the one trainer


def test_step_from_idle_trains_one_batch_and_pauses(make):
    session, view, factory = make()
    session.step()
    factory.last["worker"].step_once.assert_called_once()
    assert session.state is State.PAUSED


def _put_in(session, factory, state: State) -> None:
    """Drive a fresh session into ``state`` the way the learner and the worker would."""
    token = factory.last["token"]
    if state is State.RUNNING:
        session.start()
    elif state is State.PAUSED:
        session.step()
    elif state is State.FINISHED:
        session.start()
        session.on_finished(token, "done")
    elif state is State.DIVERGED:
        session.start()
        session.on_diverged(token, "Training diverged")
    elif state is State.INVALID:
        session.set_spec([{"type": "conv", "filters": 2, "kernel": 99}, {"type": "flatten"},
                          {"type": "dense", "units": 10}])
    assert session.state is state


COMMANDS = {"start": "can_start", "pause": "can_pause", "resume": "can_resume",
            "step": "can_step"}


@pytest.mark.parametrize("state,command", [(s, c) for s in State for c in COMMANDS
                                           if not getattr(s, COMMANDS[c])])
def test_a_command_its_state_does_not_allow_changes_nothing(make, state, command):
    session, view, factory = make()
    _put_in(session, factory, state)
    workers = [m["worker"] for m in factory.made]
    calls = [list(w.method_calls) for w in workers]
    shown = view.show_state.call_count
    getattr(session, command)()
    assert session.state is state
    assert view.show_state.call_count == shown
    assert [list(w.method_calls) for w in workers] == calls


def test_state_properties_match_the_buttons_of_each_state():
    allowed = {s: {c for c, prop in COMMANDS.items() if getattr(s, prop)} for s in State}
    assert allowed == {State.INVALID: set(), State.IDLE: {"start", "step"},
                       State.RUNNING: {"pause"}, State.PAUSED: {"resume", "step"},
                       State.FINISHED: set(), State.DIVERGED: set()}
    assert [s for s in State if s.editable] == [State.INVALID, State.IDLE]
    assert [s for s in State if not s.can_reset] == [State.INVALID]


def test_finished_is_finished_until_epochs_are_raised(make):
    session, view, factory = make()
    token, worker = factory.last["token"], factory.last["worker"]
    session.start()
    session.trainer.epoch, session.trainer.iteration = 3, 6  # the worker's three epochs
    session.on_evaluated(token, EpochResult(3, 6, _eval(0.75)))
    session.on_finished(token, "Finished 3 epoch(s)")
    assert session.state is State.FINISHED
    done = last_progress(view)
    assert done.fraction == 1.0 and done.bar == "epoch 3 of 3: done"
    assert "Finished: 3 epoch(s), validation accuracy 75.0%." in done.info
    assert "paused" not in done.info and "learning rate" not in done.info
    # a frame sent after "finished" (the worker's last) keeps the finished text
    session.on_frame(token, frame(6, running=False, lr=4.7e-9))
    assert last_progress(view) == done
    session.resume()
    worker.resume.assert_called_once()  # only Start's
    session.toggle()
    assert "raise Epochs" in view.show_status.call_args.args[0]
    session.set_config(CONFIG.replace(epochs=5))
    assert session.state is State.PAUSED
    worker.set_epochs.assert_called_once_with(5)
    view.plan_iterations.assert_called_with(5 * 2)
    assert last_progress(view).bar == "epoch 3 of 5: 60% done"
    session.resume()
    assert session.state is State.RUNNING


def _eval(accuracy, classes=10):
    from engine.training import EvalResult
    return EvalResult(0.5, accuracy, np.zeros(40, np.int64), np.zeros((classes, classes)))


def test_a_diverged_run_keeps_its_message(make):
    session, view, factory = make()
    token = factory.last["token"]
    session.start()
    session.on_diverged(token, "Training diverged at iteration 3")
    assert session.state is State.DIVERGED
    view.show_message.assert_called_with("Training diverged at iteration 3")
    shown = view.show_progress.call_count
    session.on_frame(token, frame(3, running=False))
    assert view.show_progress.call_count == shown  # the message stays in place
    session.reset()
    assert session.state is State.IDLE and session.trainer.iteration == 0


def test_a_failed_worker_is_let_go_and_the_lab_pauses(make):
    session, view, factory = make()
    token, worker = factory.last["token"], factory.last["worker"]
    session.start()
    session.on_failed(token, "Training stopped by an error: boom")
    assert session.state is State.PAUSED and not session.has_worker
    worker.request_stop.assert_called_once()
    view.show_status.assert_called_with("Training stopped by an error: boom")
    session.resume()  # a new worker for the same trainer
    assert len(factory.made) == 2 and factory.last["run"] is factory.made[0]["run"]


# -- the worker's lifecycle --------------------------------------------------------------
def test_events_of_a_worker_that_was_let_go_are_ignored(make):
    session, view, factory = make()
    old = factory.last
    session.reset()  # a new trainer: the old worker is asked to stop
    old["worker"].request_stop.assert_called_once()
    new = factory.last
    assert new["token"] != old["token"] and new["run"] is not old["run"]
    view.reset_mock()
    for event, args in (("on_frame", (frame(1),)), ("on_diverged", ("x",)),
                        ("on_finished", ("x",)), ("on_failed", ("x",)),
                        ("on_evaluated", (EpochResult(0, 0, _eval(0.1)),))):
        getattr(session, event)(old["token"], *args)
    assert view.method_calls == [] and session.state is State.IDLE
    old["worker"].frame_consumed.assert_not_called()


def test_shutdown_asks_the_worker_to_stop_and_returns(make):
    session, view, factory = make()
    token, worker = factory.last["token"], factory.last["worker"]
    session.start()
    session.shutdown()
    worker.request_stop.assert_called_once()
    assert not session.has_worker
    session.on_frame(token, frame(5))
    view.draw_frame.assert_not_called()


def test_hidden_lab_stores_frames_reports_progress_and_draws_nothing(make):
    session, view, factory = make()
    token, worker = factory.last["token"], factory.last["worker"]
    session.start()
    session.deactivated()
    worker.set_background.assert_called_once_with(True)
    session.on_frame(token, frame(3, steps=[1, 2, 3]))
    view.draw_frame.assert_not_called()
    view.store_frame.assert_called_once()
    # the iteration 3 of 6 planned is in epoch 2 of 3: half of the run
    view.show_background.assert_called_with("Training: epoch 2 of 3, 50%")
    worker.frame_consumed.assert_called_once()
    assert session.frames_drawn == 0 and session.frames_received == 1
    session.pause()  # the shell's one-click pause
    view.show_background.assert_called_with("")
    worker.pause.assert_called_once()
    session.activated()
    worker.set_background.assert_called_with(False)
    session.on_frame(token, frame(3, running=False))
    view.draw_frame.assert_called_once()
    assert session.frames_drawn == 1


def test_a_worker_made_while_hidden_starts_in_background_mode(make):
    session, view, factory = make()
    session.deactivated()
    session.reset()
    assert factory.last["background"] is True


def test_a_view_that_fails_is_reported_once_and_the_frames_go_on(make):
    session, view, factory = make()
    token, worker = factory.last["token"], factory.last["worker"]
    view.draw_frame.side_effect = IndexError("20 probabilities into 10 bars")
    session.start()
    for k in range(1, 5):
        session.on_frame(token, frame(k))
    assert worker.frame_consumed.call_count == 4  # flow control never stops
    failures = [c.args[0] for c in view.show_status.call_args_list
                if "could not be drawn" in c.args[0]]
    assert failures == ["A view could not be drawn (IndexError: 20 probabilities into 10 "
                        "bars); training goes on."]
    assert session.frames_received == 4 and session.frames_drawn == 0
    view.draw_frame.side_effect = None
    session.on_frame(token, frame(5))
    assert session.frames_drawn == 1


# -- the panel's texts ------------------------------------------------------------------
def test_start_shows_the_first_compile_hint_until_a_step_is_trained(make):
    session, view, factory = make()
    token = factory.last["token"]
    session.start()
    hint = "Preparing the fast kernels — first start only…"
    assert last_progress(view).info == hint
    session.on_frame(token, frame(0))  # the epoch-0 frame: nothing trained yet
    assert last_progress(view).info == hint
    for k in (1, 2, 3):  # progress is shown on every third frame received
        session.on_frame(token, frame(k))
    assert last_progress(view).info == "measuring the speed…; learning rate now 0.01"


def test_progress_shows_the_whole_run_and_an_honest_time_left(make):
    session, view, factory = make()
    token = factory.last["token"]
    session.start()
    session.on_frame(token, frame(0))
    session.on_frame(token, frame(1))
    session.on_frame(token, frame(2))
    session.on_frame(token, frame(5, rate=0.5))  # the 4th frame received: shown
    p = last_progress(view)
    planned = CONFIG.epochs * 2
    assert p.fraction == pytest.approx(5 / planned)  # the run's, not the epoch's
    assert p.bar == "epoch 3 of 3: 83% done"
    left = (planned - 5) / 0.5  # 2 s
    assert p.info == f"0.5 batches/s, about {left:.0f} s left; learning rate now 0.01"
    session.pause()
    session.on_frame(token, frame(5, running=True, lr=3e-3))  # queued before the pause
    session.on_frame(token, frame(5, running=False, lr=3e-3))
    assert last_progress(view).info == "paused; learning rate now 0.003"


def test_loading_a_model_says_so(make, tmp_path):
    session, view, factory = make()
    path = tmp_path / "m.npz"
    Network(SPEC, seed=3).save(path)
    assert session.load_model(str(path))
    assert session.state is State.PAUSED and session.loaded_from == str(path)
    p = last_progress(view)
    assert p.bar == "loaded model · 0 of 3 epochs trained here"
    assert p.info == "Loaded model; Resume trains it further."
    session.on_evaluated(factory.last["token"], EpochResult(0, 0, _eval(0.91)))
    assert last_progress(view).info == ("Loaded model: validation accuracy 91.0%; Resume "
                                        "trains it further.")
    session.on_frame(factory.last["token"], frame(0, running=False))
    assert "Not trained" not in last_progress(view).info
    view.show_spec.assert_called_with(Network(SPEC).spec)  # the file's, defaults filled


# -- files: the new network replaces the old only once it is built -------------------------
def _hostile_specs():
    head = [{"type": "flatten"}, {"type": "dense", "units": 10}]
    conv = {"type": "conv", "filters": 1, "kernel": 1}
    return {
        "thousands of blocks": [conv, {"type": "relu"}] * 2000 + head,
        "impossible geometry": [{"type": "conv", "filters": 2, "kernel": 40}] + head,
        "five classes for ten digits": [conv, {"type": "flatten"},
                                        {"type": "dense", "units": 5}],
        "not blocks": [{"type": "relu"}] + head,
        "Infinity filters": [{"type": "conv", "filters": float("inf"), "kernel": 3}] + head,
        "not a list": {"type": "conv"},
    }


@pytest.mark.parametrize("name", list(_hostile_specs()))
def test_a_spec_that_cannot_be_built_keeps_the_trained_model(make, name):
    session, view, factory = make()
    worker = factory.last["worker"]
    session.step()
    trainer, spec = session.trainer, session.spec
    assert not session.load_spec(_hostile_specs()[name])
    assert session.trainer is trainer and session.spec == spec
    assert session.state is State.PAUSED
    worker.request_stop.assert_not_called()
    message = view.show_status.call_args.args[0]
    assert message.startswith("Could not load the network spec: ") and len(message) < 400


def test_a_spec_that_builds_replaces_the_network(make):
    session, view, factory = make()
    old = factory.last["worker"]
    twenty = [*SPEC[:-1], {"type": "dense", "units": 20}]
    assert session.load_spec(json.loads(json.dumps(twenty)))
    old.request_stop.assert_called_once()
    assert session.state is State.IDLE and session.trainer.network.num_classes == 20
    view.show_spec.assert_called_with(twenty)
    network = view.show_network.call_args.args[0]
    assert network is session.trainer.network and network.num_classes == 20


def test_a_model_that_cannot_be_loaded_keeps_the_trained_model(make, tmp_path):
    session, view, factory = make()
    session.step()
    trainer = session.trainer
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    other = tmp_path / "rgb.npz"
    Network([{"type": "flatten"}, {"type": "dense", "units": 10}],
            input_shape=(3, 8, 8)).save(other)
    for path in (bad, other, tmp_path / "missing.npz"):
        assert not session.load_model(str(path))
        assert session.trainer is trainer and session.state is State.PAUSED
        assert view.show_status.call_args.args[0].startswith("Could not load the model: ")
    factory.made[0]["worker"].request_stop.assert_not_called()


# -- settings -------------------------------------------------------------------------------
def test_rate_schedule_and_epochs_go_to_the_worker_or_the_run(make):
    session, view, factory = make()
    worker = factory.last["worker"]
    session.set_config(CONFIG.replace(lr=0.5, schedule="cosine", epochs=4))
    worker.set_lr.assert_called_once_with(0.5)
    worker.set_schedule.assert_called_once_with("cosine")
    worker.set_epochs.assert_called_once_with(4)
    view.plan_iterations.assert_called_with(8)
    session.shutdown()  # no worker: the session owns the run
    session.set_config(session.config.replace(lr=0.25, schedule="constant"))
    assert session.trainer.lr == 0.25 and session.run.peak_lr == 0.25


def test_setup_changes_rebuild_only_an_untrained_network(make):
    session, view, factory = make()
    first = session.trainer
    session.set_config(CONFIG.replace(seed=7))
    assert session.trainer is not first and session.trainer.seed == 7
    session.step()
    trained = session.trainer
    session.set_config(session.config.replace(batch_size=16))
    assert session.trainer is trained  # applied on Reset
    session.reset()
    assert session.trainer.batch_size == 16


# -- the probe --------------------------------------------------------------------------
def test_probe_indices_are_clamped_and_each_request_has_a_new_id(make):
    session, view, factory = make()
    worker = factory.last["worker"]
    session.set_probe_index(10**6)
    assert session.probe.index == len(session.val_y) - 1
    view.show_probe.assert_called_with(session.probe)
    assert worker.set_probe.call_args.args[2] == session.probe_id == 2
    session.pick_misclassified(3)
    assert session.probe.index == 3 and session.probe_id == 3
    view.show_status.assert_called_with("Probe: validation digit #3")


def test_a_drawing_is_the_probe_until_the_canvas_is_blank(make):
    session, view, factory = make()
    worker = factory.last["worker"]
    session.set_probe_index(5)
    ink = np.zeros(INPUT_SHAPE, np.float32)
    ink[0, 5:20, 13:15] = 1.0
    session.set_drawing(ink)
    assert session.probe.drawn and session.probe.label is None
    image, label, probe_id = worker.set_probe.call_args.args
    np.testing.assert_array_equal(image, ink)
    assert label is None and probe_id == session.probe_id
    session.set_drawing(np.zeros(INPUT_SHAPE, np.float32))  # cleared
    view.clear_drawing.assert_called_once()
    assert not session.probe.drawn and session.probe.index == 5
    assert isinstance(view.show_probe.call_args.args[0], Probe)


# -- the screenshot's loop ---------------------------------------------------------------
def test_train_now_iterates_the_engine_loop_and_draws_once(make):
    session, view, factory = make()
    view.reset_mock()
    session.train_now(12)
    trainer = session.trainer
    assert trainer.iteration == 12 and session.state is State.PAUSED
    assert not session.has_worker  # this thread trained: no worker shares the trainer
    stored = [c.args[0] for c in view.store_frame.call_args_list]
    drawn = view.draw_frame.call_args.args[0]
    steps = np.concatenate([f.iterations for f in [*stored, drawn]])
    np.testing.assert_array_equal(steps, np.arange(1, 13))  # every step once, in order
    assert [f.iteration for f in stored] == [5, 10] and not drawn.running
    assert drawn.snapshot.has_maps and not stored[0].snapshot.has_maps
    # epoch 0 and the end of each epoch (2 steps each), once
    epochs = [c.args[0].epoch for c in view.show_evaluation.call_args_list]
    assert epochs == [0, 1, 2, 3, 4, 5, 6]


# -- the throttle and the speed meter --------------------------------------------------
class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_frame_throttle_limits_the_rate_and_waits_for_the_gui():
    clock = FakeClock()
    throttle = FrameThrottle(0.1, clock)
    assert throttle.ready(running=True)  # the first frame goes out at once
    throttle.sent()
    assert not throttle.ready(running=True)  # the GUI has not drawn it yet
    throttle.consumed()
    assert not throttle.ready(running=True)  # too early
    clock.now += 0.1
    assert throttle.ready(running=True)
    assert not throttle.ready(running=False)  # paused: only requested frames
    throttle.request()
    assert throttle.ready(running=False)
    throttle.sent()
    throttle.request()
    assert not throttle.ready(running=False)  # requested, but the GUI is busy
    throttle.consumed()
    assert throttle.ready(running=False)


def test_frame_throttle_keeps_the_average_rate_when_steps_overshoot():
    clock = FakeClock()
    throttle = FrameThrottle(0.1, clock)
    sent = []
    for _ in range(100):  # steps of 0.03 s: due times at 0.1 s steps, not "last + 0.1"
        clock.now += 0.03
        if throttle.ready(running=True):
            throttle.sent()
            throttle.consumed()
            sent.append(clock.now)
    # 30 in 3 s (due times "last sent + 0.1" would give one per 0.12 s: 25)
    assert 29 <= len(sent) <= 31
    # a long stall (a compile) is not made up for with a burst of frames
    clock.now += 5.0
    burst = 0
    for _ in range(5):
        clock.now += 0.01
        if throttle.ready(running=True):
            throttle.sent()
            throttle.consumed()
            burst += 1
    assert burst <= 2  # at most one frame to catch up


def test_rate_meter_leaves_out_the_first_step_and_reports_after_its_window():
    clock = FakeClock()
    meter = RateMeter(clock, window=0.5)
    meter.restart()
    clock.now += 60.0  # the first step compiled the kernels for a minute
    meter.step(1)
    assert meter.rate == 0.0
    for it in range(2, 5):
        clock.now += 0.125
        meter.step(it)
    assert meter.rate == 0.0  # 0.375 s timed: not yet
    clock.now += 0.125
    meter.step(5)
    assert meter.rate == pytest.approx(8.0)  # 4 steps in 0.5 s, the minute left out
    for it in range(6, 14):
        clock.now += 0.0625
        meter.step(it)
    assert meter.rate == pytest.approx(0.5 * 8 + 0.5 * 16)  # smoothed


# -- sharing the model with the Network lab --------------------------------------------------
def test_the_model_is_shared_and_replaced_by_generation(make):
    from gui.labs.training.sharing import SharedModel

    session, view, _ = make()
    model = session.shared_model()
    assert isinstance(model, SharedModel)
    assert model.spec == session.trainer.network.spec
    assert model.input_shape == (1, 28, 28) and model.num_classes == 10
    assert model.data[2] is session.val_x  # the same arrays, not copies
    first = model.generation
    session.reset()
    assert session.shared_model().generation == first + 1
    session.set_spec([{"type": "conv", "filters": 2, "kernel": 40}, {"type": "flatten"},
                      {"type": "dense", "units": 10}])  # cannot be built
    assert session.shared_model() is None
    assert not session.request_weights(1)


def test_a_worker_answers_weight_requests_and_a_let_go_one_is_ignored(make):
    from gui.labs.training.sharing import SharedWeights

    session, view, factory = make()
    token, worker = factory.last["token"], factory.last["worker"]
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


def test_without_a_worker_the_weights_are_copied_at_once(make):
    session, view, _ = make()
    session.train_now(2)  # trains in this thread: no worker owns the trainer
    assert not session.has_worker
    assert session.request_weights(3)
    weights = view.share_weights.call_args.args[0]
    assert weights.iteration == 2 and weights.generation == session.generation
    live = session.trainer.network.state_arrays()
    for key, value in weights.state.items():
        np.testing.assert_array_equal(value, live[key])
        assert not np.shares_memory(value, live[key])  # a copy


def test_a_loaded_model_is_shared_with_its_file(make, tmp_path):
    session, view, _ = make()
    path = tmp_path / "m.npz"
    Network(SPEC, seed=5).save(path)
    seen = []
    view.show_network.side_effect = lambda *a: seen.append(session.shared_model())
    assert session.load_model(str(path))
    assert seen[-1].loaded_from == str(path)  # known when the views hear of it


@pytest.mark.parametrize("state", [State.IDLE, State.RUNNING, State.PAUSED, State.FINISHED])
def test_a_language_switch_writes_the_progress_again_in_the_new_language(make, state):
    from engine import i18n
    session, view, factory = make()
    _put_in(session, factory, state)
    if state is State.RUNNING:
        session.on_frame(factory.last["token"], frame(1, rate=50.0))
    english = last_progress(view)
    try:
        i18n.set_language("zh_CN")
        session.retranslate()
        chinese = last_progress(view)
    finally:
        i18n.set_language("en")
    assert chinese is not english
    for text in (chinese.bar, chinese.info):  # no English word left (numbers stay)
        assert not any(word.isascii() and word.isalpha() and len(word) > 2
                       for word in text.replace(";", " ").split()), text
    session.retranslate()
    assert last_progress(view) == english  # and back


@pytest.mark.parametrize("every", [1, 2, 4, 10])
def test_live_texts_follow_on_every_nth_live_frame_and_at_once_when_stopped(every):
    from gui.labs.training.session import TextThrottle

    throttle = TextThrottle(every)
    live = [throttle.due(True) for _ in range(3 * every + 1)]
    # the first live frame, then every every-th: frames 0, every, 2 every, 3 every
    assert [i for i, due in enumerate(live) if due] == [0, every, 2 * every, 3 * every]
    assert throttle.due(False) and throttle.due(False)  # stopped: always
    assert throttle.due(True)  # a new run of live frames starts with its texts
    assert throttle.due(True) == (every == 1)
    with pytest.raises(ValueError, match="at least 1"):
        TextThrottle(0)
