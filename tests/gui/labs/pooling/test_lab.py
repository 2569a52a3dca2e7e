"""Pooling lab: every frame of the forward and backward animations agrees with the
engine's fast kernels and the textbook loops; an impossible geometry is explained in
place and never raises."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

import engine
from engine import reference
from gui.labs.pooling.lab import DEFAULT_STEP, PoolingLab
from gui.labs.pooling.settings import DEFAULT_GRID


@pytest.fixture
def lab(make_lab):
    return make_lab(PoolingLab)


def engine_forward(lab):
    s = lab.setup
    if s.mode == "max":
        return engine.max_pool2d_forward(s.x, s.size, s.stride)
    return engine.avg_pool2d_forward(s.x, s.size, s.stride), None


def reference_forward(lab):
    s = lab.setup
    if s.mode == "max":
        return reference.max_pool2d_forward(s.x, s.size, s.stride)[0]
    return reference.avg_pool2d_forward(s.x, s.size, s.stride)


def reference_backward(lab, dout):
    """dx by the textbook loops for any dout (e.g. one whose later values are zeroed)."""
    s = lab.setup
    if s.mode == "max":
        _, argmax = reference.max_pool2d_forward(s.x, s.size, s.stride)
        return reference.max_pool2d_backward(dout, argmax, s.x.shape)
    return reference.avg_pool2d_backward(dout, s.x.shape, s.size, s.stride)


def check_forward_frames(lab):
    """Each step writes exactly its own output cell, outlines its window and marks its max."""
    lab.set_direction("forward")
    g = lab.forward_trace.geometry
    y, argmax = engine_forward(lab)
    y, flat_y = y[0, 0], y.reshape(-1)
    lab.controls.to_start()
    for k in range(g.HO * g.WO):
        i, j = divmod(k, g.WO)
        if k:
            lab.controls.step_forward()
        assert lab.controls.step == k
        shown = lab.output_view.values.reshape(-1)
        np.testing.assert_allclose(shown[:k + 1], flat_y[:k + 1], rtol=1e-12, atol=1e-12)
        assert np.isnan(shown[k + 1:]).all()
        assert lab.forward_input_view.window_rect() == (i * g.SH, j * g.SW, g.KH, g.KW)
        assert lab.output_view.window_rect() == (i, j, 1, 1)
        window = lab.setup.x[0, 0, i * g.SH:i * g.SH + g.KH, j * g.SW:j * g.SW + g.KW]
        np.testing.assert_array_equal(lab.window_view.values, window)
        if argmax is not None:
            r, c = divmod(int(argmax[0, 0, i, j]), g.W)
            assert lab.forward_input_marker.cell() == (r, c)
            assert lab.window_marker.cell() == (r - i * g.SH, c - j * g.SW)
            shown_argmax = lab.argmax_view.values.reshape(-1)
            np.testing.assert_array_equal(shown_argmax[:k + 1], argmax.reshape(-1)[:k + 1])
            assert np.isnan(shown_argmax[k + 1:]).all()
        else:
            assert lab.forward_input_marker.cell() is None


def check_backward_frames(lab):
    """After step k, dx is the textbook backward pass of dout with values k+1.. zeroed."""
    lab.set_direction("backward")
    g = lab.backward_trace.geometry
    dout = lab.dout
    _, argmax = engine_forward(lab)
    lab.controls.to_start()
    for k in range(g.HO * g.WO):
        i, j = divmod(k, g.WO)
        if k:
            lab.controls.step_forward()
        partial = dout.copy()
        partial.reshape(-1)[k + 1:] = 0.0  # the deltas not routed yet
        np.testing.assert_allclose(lab.dx_view.values, reference_backward(lab, partial)[0, 0],
                                   rtol=1e-12, atol=1e-12)
        assert lab.delta_view.window_rect() == (i, j, 1, 1)
        assert lab.dx_view.window_rect() == (i * g.SH, j * g.SW, g.KH, g.KW)
        if argmax is not None:
            assert lab.dx_marker.cell() == divmod(int(argmax[0, 0, i, j]), g.W)


def check_ends(lab):
    s = lab.setup
    y, argmax = engine_forward(lab)
    lab.set_direction("forward")
    lab.controls.to_end()
    shown = lab.output_view.values
    assert not np.isnan(shown).any()
    np.testing.assert_allclose(shown, y[0, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(shown, reference_forward(lab)[0, 0], rtol=1e-12, atol=1e-12)
    if argmax is not None:
        np.testing.assert_array_equal(lab.argmax_view.values, argmax[0, 0])
        dx = engine.max_pool2d_backward(lab.dout, argmax, s.x.shape)
    else:
        dx = engine.avg_pool2d_backward(lab.dout, s.x.shape, s.size, s.stride)
    lab.set_direction("backward")
    assert lab.controls.step == lab.controls.count - 1  # the switch keeps the step
    np.testing.assert_allclose(lab.dx_view.values, dx[0, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lab.dx_view.values, reference_backward(lab, lab.dout)[0, 0],
                               rtol=1e-12, atol=1e-12)


def test_default_content_teaches_at_a_glance(lab):
    s = lab.setup
    assert s.kind == "typed" and s.mode == "max" and s.size == (2, 2) and s.stride == (2, 2)
    np.testing.assert_array_equal(s.x[0, 0], DEFAULT_GRID)
    assert len(lab.forward_trace) == 9
    assert lab.controls.step == DEFAULT_STEP
    assert "= 3" in lab.formula_label.text()
    assert lab.dout.shape == (1, 1, 3, 3) and np.all(lab.dout == np.round(lab.dout))


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("grid_shape, size, stride", [
    ((6, 6), 2, 2),            # the classic: windows tile the input
    ((6, 6), 3, 1),            # overlapping windows: dx accumulates
    ((5, 7), (2, 3), (1, 2)),  # non-square window and stride
    ((7, 5), 2, 3),            # stride larger than the window: cells in no window
    ((5, 5), 2, 2),            # windows that do not tile the input
    ((4, 4), 4, 1),            # one window
    ((3, 6), 1, 1),            # 1x1: pooling copies the input
])
def test_every_frame_and_the_end_match_the_engine(lab, mode, grid_shape, size, stride):
    rng = np.random.default_rng([len(mode), *grid_shape])  # fixed per case
    grid = rng.integers(0, 10, size=grid_shape)  # small integers: ties happen
    lab.settings.apply(mode=mode, grid=grid, size=size, stride=stride,
                       delta=rng.integers(-4, 5, size=(10, 10)))
    assert lab.problem is None
    check_forward_frames(lab)
    check_backward_frames(lab)
    check_ends(lab)


@hyp_settings(max_examples=15, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_geometries_end_at_the_engine_results(lab, data):
    rows, cols = data.draw(st.integers(2, 10)), data.draw(st.integers(2, 10))
    kh, kw = data.draw(st.integers(1, min(4, rows))), data.draw(st.integers(1, min(4, cols)))
    sh, sw = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    mode = data.draw(st.sampled_from(["max", "avg"]))
    grid = data.draw(st.lists(st.integers(-9, 9), min_size=rows * cols, max_size=rows * cols))
    lab.settings.apply(mode=mode, grid=np.reshape(grid, (rows, cols)), size=(kh, kw),
                       stride=(sh, sw))
    check_ends(lab)


def test_a_digit_and_a_feature_map_pool_like_the_engine(lab):
    lab.settings.apply(source="digit", digit=3, size=2, stride=2)
    assert lab.setup.x.shape == (1, 1, 28, 28) and len(lab.forward_trace) == 14 * 14
    check_ends(lab)
    lab.settings.apply(source="feature", mode="avg", size=3, stride=2)
    assert lab.setup.kind == "feature" and lab.setup.x.min() >= 0  # after ReLU
    check_ends(lab)


def test_typed_delta_is_routed(lab):
    delta = np.arange(1, 10).reshape(3, 3)
    lab.settings.apply(delta=delta)
    np.testing.assert_array_equal(lab.dout[0, 0], delta)
    lab.set_direction("backward")
    lab.controls.to_end()
    # 2x2 windows that tile the input: every delta lands on exactly one cell
    assert lab.dx_view.values.sum() == delta.sum()
    assert np.count_nonzero(lab.dx_view.values) == 9


def test_impossible_geometry_is_explained_and_raises_nothing(lab, qtbot):
    with qtbot.waitSignal(lab.status_message, timeout=1000) as blocker:
        lab.settings.apply(rows=3, cols=3, size=4)
    assert "does not fit" in blocker.args[0]
    assert lab.forward_trace is None and lab.controls.count == 0
    assert lab.pages.currentWidget() is lab.problem_label
    assert "does not fit" in lab.problem_label.text()
    assert "✗" in lab.formula_label.text()
    # every control still works without a trace
    lab.set_direction("backward")
    lab.controls.step_forward()
    lab.controls.play()
    lab.settings.delta_random_button.click()
    lab._on_output_clicked(0, 0)
    # and a valid geometry brings the animation back
    lab.settings.apply(size=2)
    assert lab.problem is None and lab.controls.count == 1
    assert lab.pages.currentWidget() is lab.backward_page


def test_text_that_is_not_a_number_is_refused_in_words(lab, qtbot):
    item = lab.settings.grid_table.item(0, 0)
    with qtbot.waitSignal(lab.status_message, timeout=1000) as blocker:
        item.setText("abc")
    assert "not a number" in blocker.args[0]
    assert lab.setup.x[0, 0, 0, 0] == DEFAULT_GRID[0, 0]


def test_clicking_an_output_cell_jumps_to_its_step(lab):
    g = lab.forward_trace.geometry
    lab._on_output_clicked(2, 1)
    assert lab.controls.step == 2 * g.WO + 1


def test_playing_reaches_the_end(lab, qtbot):
    lab.controls.set_speed(60)
    lab.controls.to_start()
    lab.controls.play()
    qtbot.waitUntil(lambda: not lab.controls.is_playing, timeout=5000)
    assert lab.controls.step == lab.controls.count - 1


def test_prepare_screenshot_shows_the_default_mid_animation(lab):
    lab.settings.apply(mode="avg", size=3, stride=1)
    lab.set_direction("backward")
    lab.prepare_screenshot()
    assert lab.direction == "forward" and lab.setup.mode == "max"
    assert 0 < lab.controls.step < lab.controls.count - 1
    assert lab.export_widget() is lab.main_area
