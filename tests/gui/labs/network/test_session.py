"""The Network lab's session, headless: a fake view (MagicMock(spec=View)), a fake
Training lab (the model source) and a compute that runs the requests inline through
the real Inspector when told to; the refresh throttle gets a fake clock."""

from __future__ import annotations

from unittest.mock import MagicMock

import numpy as np
import pytest

from engine.network import Network
from engine.neuron import Neuron
from gui.labs.network.compute import Inspection, Inspector, InspectRequest, MisclassifiedRequest
from gui.labs.network.session import (
    NO_MODEL,
    REFRESH_INTERVAL,
    WEIGHTS_TIMEOUT,
    Mode,
    NetworkSession,
    Pager,
    Scale,
    View,
)
from gui.labs.training.sharing import SharedModel, SharedWeights

SPEC = [{"type": "conv", "filters": 3, "kernel": 3, "stride": 1, "padding": 1},
        {"type": "relu"}, {"type": "maxpool", "size": 2, "stride": 2},
        {"type": "flatten"}, {"type": "dense", "units": 10}]


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Source:
    """The Training lab as the session sees it: a model, weights on request."""

    def __init__(self, data, spec=SPEC, input_shape=(1, 28, 28)):
        self.data, self.spec, self.input_shape = data, spec, input_shape
        self.generation = 1
        self.network = Network(spec, input_shape=input_shape, seed=0)
        self.iteration = 0
        self.requests: list[int] = []
        self.available = True

    def shared_model(self):
        if not self.available:
            return None
        return SharedModel(self.generation, self.network.spec, self.input_shape, 10,
                           self.data)

    def request_weights(self, request_id):
        if not self.available:
            return False
        self.requests.append(request_id)
        return True

    def answer(self, session, request_id=None, generation=None):
        rid = self.requests[-1] if request_id is None else request_id
        session.on_weights(SharedWeights(generation or self.generation, self.iteration,
                                         self.network.get_state(), rid))


class Compute:
    """Collects requests; ``run`` answers the oldest through a real Inspector."""

    def __init__(self):
        self.requests: list = []
        self.inspector = Inspector()

    def submit(self, request):
        self.requests.append(request)

    def run(self, session):
        request = self.requests.pop(0)
        result = self.inspector.run(request)
        if isinstance(request, MisclassifiedRequest):
            session.on_misclassified(result)
        else:
            session.on_inspection(result)
        return result


@pytest.fixture(scope="module")
def data(warm_mnist):
    """50 training and 30 validation digits of the embedded split."""
    return tuple(a[:n] for a, n in zip(warm_mnist, (50, 50, 30, 30), strict=True))


@pytest.fixture
def rig(data):
    view = MagicMock(spec=View)
    compute, clock, source = Compute(), Clock(), Source(data)
    session = NetworkSession(view, compute, clock=clock)
    session.attach(source)
    session.activated()
    return session, view, compute, clock, source


@pytest.fixture
def refreshed(rig):
    """The rig after its first refresh: the weights answered, the image run and drawn."""
    session, view, compute, clock, source = rig
    source.answer(session)
    compute.run(session)
    return rig


def drawn(view) -> list[Inspection]:
    return [c.args[0] for c in view.show_inspection.call_args_list]


def test_without_a_model_it_says_how_to_get_one(data):
    view = MagicMock(spec=View)
    session = NetworkSession(view, Compute(), clock=Clock())
    session.attach(None)
    session.activated()
    view.show_no_model.assert_called_once()
    assert "Training lab" in view.show_no_model.call_args.args[0]
    assert view.show_no_model.call_args.args[0] == NO_MODEL  # (no catalog in the tests)
    session.tick()
    view.show_model.assert_not_called()


def test_a_model_is_shown_fetched_computed_and_drawn(rig):
    session, view, compute, clock, source = rig
    model, columns = view.show_model.call_args.args
    assert model.generation == 1
    assert [c[1] for c in columns] == ["input", "conv1", "relu1", "maxpool1", "flatten1",
                                       "dense1"]
    assert columns[1][3] == (3, 28, 28) and columns[1][4] == 3 * 9 + 3
    assert len(source.requests) == 1  # asked for the weights at once
    session.tick()
    assert len(source.requests) == 1  # one request at a time
    source.answer(session)
    assert len(compute.requests) == 1
    request = compute.requests[0]
    assert isinstance(request, InspectRequest)
    assert request.label == int(source.data[3][0])  # validation image 0 by default
    np.testing.assert_array_equal(request.image, source.data[2][0])
    result = compute.run(session)
    assert drawn(view) == [result]
    assert session.refreshes == 1
    # nothing changes while training is not running: nothing is fetched
    clock.now += 10
    session.tick()
    assert len(source.requests) == 1


def test_while_training_it_refreshes_at_the_interval_and_waits_for_each_result(refreshed):
    session, view, compute, clock, source = refreshed
    session.training_state(True)
    assert len(source.requests) == 2  # a change of state fetches at once
    source.iteration = 5
    source.answer(session)
    compute.run(session)
    times = []
    for _ in range(40):  # 4 s of ticks every 0.1 s, answered at once
        clock.now += 0.1
        before = len(source.requests)
        session.tick()
        if len(source.requests) > before:
            times.append(clock.now)
            source.iteration += 7
            source.answer(session)
            compute.run(session)
    gaps = np.diff(times)
    assert len(times) >= 8 and np.all(gaps >= REFRESH_INTERVAL - 1e-9)
    assert np.all(gaps <= REFRESH_INTERVAL + 0.1 + 1e-9)  # at least twice a second
    # a slow worker: no new weights are asked for before the result is drawn
    clock.now += 1.0
    session.tick()
    source.iteration += 1
    source.answer(session)
    for _ in range(10):
        clock.now += 0.5
        session.tick()
    assert len(compute.requests) == 1 and not session.throttle.ready(True)
    n = len(source.requests)
    compute.run(session)
    clock.now += 0.5
    session.tick()
    assert len(source.requests) == n + 1


def test_hidden_it_asks_for_nothing_and_catches_up_when_shown(refreshed):
    session, view, compute, clock, source = refreshed
    session.training_state(True)
    source.iteration = 3
    source.answer(session)
    compute.run(session)
    session.deactivated()
    n = len(source.requests)
    for _ in range(20):
        clock.now += 0.5
        session.tick()
    assert len(source.requests) == n
    session.activated()
    assert len(source.requests) == n + 1  # at once


def test_an_unanswered_request_is_forgotten_after_the_timeout(rig):
    session, view, compute, clock, source = rig
    assert len(source.requests) == 1
    clock.now += WEIGHTS_TIMEOUT / 2
    session.tick()
    assert len(source.requests) == 1
    clock.now += WEIGHTS_TIMEOUT
    session.tick()
    assert len(source.requests) == 2
    source.answer(session, request_id=source.requests[0])  # the late answer: ignored
    assert compute.requests == []
    source.answer(session)
    assert len(compute.requests) == 1


def test_weights_of_another_generation_are_ignored_and_a_new_model_rebuilds(rig):
    session, view, compute, clock, source = rig
    source.answer(session, generation=7)
    assert compute.requests == []
    source.answer(session)
    compute.run(session)
    session.select(Neuron(1, (0, 3, 4)))
    assert len(compute.requests) == 1
    source.generation = 2  # the Training lab replaced its network
    source.network = Network(SPEC, seed=3)
    session.model_changed()
    assert view.show_model.call_count == 2
    assert session.selection is None and session.inspection is None
    compute.run(session)  # the old network's result arrives late: ignored
    assert len(drawn(view)) == 1
    source.answer(session)
    assert compute.requests[-1].generation == 2


def test_the_model_going_away_says_so(rig):
    session, view, compute, clock, source = rig
    source.available = False
    session.model_changed()
    view.show_no_model.assert_called_once()
    assert session.model is None
    session.tick()
    assert len(source.requests) == 1


def test_selecting_a_neuron_recomputes_with_the_same_weights(refreshed):
    session, view, compute, clock, source = refreshed
    session.select(Neuron(0, (2, 10, 11)))
    assert len(source.requests) == 1  # no new weights for a new selection
    result = compute.run(session)
    assert result.neuron == Neuron(0, (2, 10, 11))
    assert result.cell.type == "conv" and result.delta_cell.next_type == "relu"
    assert [r.layer for r in result.receptive_field] == [-1, 0]
    # selections while the worker computes: only the last is computed, after it
    session.select(Neuron(1, (0, 1, 1)))
    session.select(Neuron(2, (1, 2, 2)))
    session.select(Neuron(4, (3,)))
    assert len(compute.requests) == 1
    compute.run(session)
    assert len(compute.requests) == 1 and compute.requests[0].neuron == Neuron(4, (3,))
    last = compute.run(session)
    assert last.cell.type == "dense" and last.cell.probability is not None
    assert session.conv_neuron() is None
    session.select(Neuron(1, (2, 5, 6)))  # relu after conv: hands the conv cell over
    assert session.conv_neuron() == Neuron(0, (2, 5, 6))


def test_a_neuron_on_another_page_turns_the_page(rig):
    session, view, compute, clock, source = rig
    session.set_pages(3, 1)
    session.select(Neuron(0, (2, 0, 0)))
    assert session.pager.page == 2
    view.show_page.assert_called()
    assert view.show_page.call_args.args[0].page == 2
    session.set_pages(2, 2)  # the window grew: fewer pages
    assert session.pager.page == 1


def test_inputs_validation_training_random_and_drawing(rig):
    session, view, compute, clock, source = rig
    session.pick("training", 4)
    choice = view.show_input.call_args.args[0]
    assert choice.source == "training" and choice.label == int(source.data[1][4])
    session.pick("validation", 10_000)  # clamped
    assert view.show_input.call_args.args[0].index == len(source.data[3]) - 1
    session.random_image(np.random.default_rng(0))
    assert view.show_input.call_args.args[0].source == "validation"
    drawing = np.zeros((1, 28, 28), np.float32)
    drawing[0, 5:20, 12:15] = 1.0
    session.set_drawing(drawing)
    choice = view.show_input.call_args.args[0]
    assert choice.source == "drawing" and choice.label is None
    source.answer(session)
    result = compute.run(session)
    assert result.label is None and result.target == result.predicted  # deltas for it
    session.set_drawing(np.zeros((1, 28, 28)))  # blank: back to the validation set
    assert view.show_input.call_args.args[0].source == "validation"


def test_misclassified_images_are_found_with_the_current_weights(refreshed):
    session, view, compute, clock, source = refreshed
    session.show_misclassified()
    request = compute.requests[-1]
    assert isinstance(request, MisclassifiedRequest)
    result = compute.run(session)
    predicted = Network(SPEC, seed=0).predict(source.data[2])
    wrong = np.flatnonzero(predicted != source.data[3])
    np.testing.assert_array_equal(result.indices, wrong)
    assert len(wrong) > 0  # an untrained network gets most wrong
    choice = view.show_input.call_args.args[0]
    assert choice.source == "misclassified" and choice.dataset_index == wrong[0]
    session.show_misclassified(1)  # same weights: no new search
    assert view.show_input.call_args.args[0].dataset_index == wrong[1 % len(wrong)]


def test_mode_and_scale_redraw_without_computing(refreshed):
    session, view, compute, clock, source = refreshed
    session.set_mode(Mode.BACKWARD)
    session.set_scale(Scale.GLOBAL)
    displays = [c.args[1] for c in view.show_inspection.call_args_list]
    assert displays[-1].mode is Mode.BACKWARD and displays[-1].scale is Scale.GLOBAL
    assert compute.requests == []


def test_three_channel_inputs(data):
    rng = np.random.default_rng(0)
    rgb = tuple(rng.uniform(size=(n, 3, 16, 16)).astype(np.float32) if k % 2 == 0
                else d for k, (n, d) in enumerate(zip((20, 20, 10, 10), data, strict=True)))
    rgb = (rgb[0], data[1][:20], rgb[2], data[3][:10])
    spec = [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1}, {"type": "relu"},
            {"type": "flatten"}, {"type": "dense", "units": 10}]
    view = MagicMock(spec=View)
    compute, clock, source = Compute(), Clock(), Source(rgb, spec, (3, 16, 16))
    session = NetworkSession(view, compute, clock=clock)
    session.attach(source)
    session.activated()
    source.answer(session)
    result = compute.run(session)
    assert result.image.shape == (3, 16, 16) and result.input_delta.shape == (3, 16, 16)
    session.set_drawing(np.ones((1, 28, 28)))  # refused in words: not a 28x28 digit net
    assert "28×28" in view.show_status.call_args.args[0]


def test_a_failure_is_reported_and_the_refresh_goes_on(rig):
    session, view, compute, clock, source = rig
    source.answer(session)
    session.on_failed("ValueError: boom")
    assert "boom" in view.show_status.call_args.args[0]
    assert not session.busy


def test_pager():
    pager = Pager()
    assert pager.set_pages(3, 12) is False
    assert pager.show_channel(30) and pager.page == 2
    assert pager.go(9) and pager.page == 2 - 0 or pager.page == 2
    assert not pager.go(5)  # already on the last page
    assert pager.go(-4) and pager.page == 0
