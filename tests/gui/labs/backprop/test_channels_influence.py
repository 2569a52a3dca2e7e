"""The Backprop lab's Channels and filters view and Influence view: every number they show
equals engine.conv2d_backward (checked against engine.reference first) on random settings
over the lab's ranges; clicks choose cells and jump to frames; both replays end at dx."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

import engine
from engine import reference
from gui.labs.backprop.compute import Frame
from gui.labs.backprop.lab import BackpropLab


@pytest.fixture
def lab(make_lab):
    return make_lab(BackpropLab)


def oracle(setup):
    fast = engine.conv2d_backward(setup.dout, setup.x, setup.w, setup.stride, setup.padding)
    loops = reference.conv2d_backward(setup.dout, setup.x, setup.w, setup.stride,
                                      setup.padding)
    for a, b in zip(fast, loops, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-9)
    return fast


def per_pair_dx(setup, m, k):
    return reference.conv2d_backward(setup.dout[:, m:m + 1], setup.x[:, k:k + 1],
                                     setup.w[m:m + 1, k:k + 1], setup.stride,
                                     setup.padding)[0][0, 0]


settings_strategy = st.fixed_dictionaries({
    "channels": st.integers(1, 3), "filters": st.integers(1, 3),
    "size": st.tuples(st.integers(2, 7), st.integers(2, 7)),
    "kernel": st.tuples(st.integers(1, 5), st.integers(1, 5)),
    "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
    "pad": st.tuples(st.integers(0, 4), st.integers(0, 4)),
    "seed": st.integers(0, 1000)})


def apply(lab, s):
    rng = np.random.default_rng(s["seed"])
    C, F = s["channels"], s["filters"]
    lab.settings.apply(channels=C, filters=F, size=s["size"], kernel=s["kernel"],
                       stride=s["stride"],
                       padding=(min(s["pad"][0], s["kernel"][0] - 1),
                                min(s["pad"][1], s["kernel"][1] - 1)),
                       x=rng.integers(0, 10, size=(C, 7, 7)),
                       w=rng.integers(-2, 3, size=(F, C, 5, 5)),
                       delta=rng.integers(-3, 4, size=(F, 7, 7)))


@given(settings_strategy)
@hyp_settings(max_examples=15, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_last_channels_frame_shows_the_engines_gradients(lab, s):
    apply(lab, s)
    assume(lab.setup.problem is None)
    setup = lab.setup
    dx, dw, db = oracle(setup)
    view = lab.channels_view
    view.controls.set_step(view.controls.count - 1)
    shown = view.shown()
    np.testing.assert_allclose(shown["dx"], dx[0], atol=1e-9)
    np.testing.assert_allclose(shown["dw"], dw, atol=1e-9)
    np.testing.assert_allclose(shown["db"], db, atol=1e-9)
    F, C = setup.w.shape[:2]
    for m in range(F):
        for k in range(C):
            np.testing.assert_allclose(shown["terms"][m, k], per_pair_dx(setup, m, k),
                                       atol=1e-9)


@given(settings_strategy)
@hyp_settings(max_examples=10, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_both_replays_end_at_the_engines_dx(lab, s):
    apply(lab, s)
    assume(lab.setup.problem is None)
    dx = oracle(lab.setup)[0][0]
    view = lab.influence_view
    for mode in ("gather", "scatter"):
        view.set_mode(mode)
        view.controls.set_step(view.controls.count - 1)
        shown = np.array([view.replay_views[k].values for k in range(dx.shape[0])])
        np.testing.assert_allclose(shown, dx, atol=1e-9)


def test_clicking_a_term_cell_writes_its_formula_and_jumps_there(lab, qtbot):
    lab.settings.small_example()
    view = lab.channels_view
    with qtbot.waitSignal(view.controls.step_changed):
        view.term_views[1][1].cell_clicked.emit(2, 3)
    assert view.frames[view.controls.step] == Frame("term", 1, 1)
    assert view.cell == (2, 3)
    value = per_pair_dx(lab.setup, 1, 1)[2, 3]
    assert view.formula.text().startswith("term2,2[3,4] = ")
    assert view.formula.text().endswith(f"= {int(value)}".replace("-", "−"))
    with qtbot.waitSignal(view.controls.step_changed):
        view.dw_views[0][1].cell_clicked.emit(1, 0)
    assert view.frames[view.controls.step] == Frame("dw", 1, 0)
    assert view.formula.text().startswith("∂J/∂F(1,2)21 = X(2)21·δ(1)11")


def test_clicking_an_input_cell_shows_the_outputs_it_influenced(lab, qtbot):
    lab.settings.small_example()  # 4x4, 2 channels, 2 filters, 2x2 kernels, stride 1
    view = lab.influence_view
    view.x_views[1].cell_clicked.emit(0, 0)
    maps = view.influence_maps()
    # the corner fed only output (0, 0) of each filter, through the weight w[m, 1, 0, 0]
    for m in range(2):
        assert maps[m, 0, 0] == lab.setup.w[m, 1, 0, 0]
        assert np.isnan(maps[m]).sum() == maps[m].size - 1
    dx = oracle(lab.setup)[0][0]
    assert view.formula.text().endswith(f"gives {int(dx[1, 0, 0])}".replace("-", "−"))
    view.w_views[0][0].cell_clicked.emit(1, 1)
    # a weight is used by every output cell of its filter
    assert np.isfinite(view.influence_maps()[0]).all()
    assert np.isnan(view.influence_maps()[1]).all()


def test_an_impossible_geometry_empties_the_new_views(lab):
    lab.settings.apply(size=(2, 2), kernel=(5, 5), padding=(0, 0))
    assert lab.setup.problem is not None
    assert lab.channels_view.controls.count == 0
    assert lab.influence_view.controls.count == 0
    assert "impossible" in lab.channels_view.formula.text()
