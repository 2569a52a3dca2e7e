"""Backprop lab: each stage's last frame shows exactly engine.conv2d_backward's dx, dW, db;
the dx steps are the full convolution of padded delta with the rotated kernel; an impossible
geometry is explained in place and never raises; the numerical gradient check passes (and
can fail)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from PyQt6.QtCore import Qt

import engine
from engine import reference
from gui.labs.backprop.lab import PREP_FRAMES, STAGES, BackpropLab, gradient_check
from gui.labs.backprop.views import verdict


@pytest.fixture
def lab(make_lab):
    return make_lab(BackpropLab)


def expected(lab):
    """(dx, dw, db) of the fast kernels, checked against the textbook loops first."""
    s = lab.setup
    fast = engine.conv2d_backward(s.dout, s.x, s.w, s.stride, s.padding)
    loops = reference.conv2d_backward(s.dout, s.x, s.w, s.stride, s.padding)
    for a, b in zip(fast, loops, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    dx, dw, db = fast
    return dx[0, 0], dw[0, 0], db


def expected_padded_dx(lab):
    """The gradient of every padded-input cell, border included: the backward pass of the
    same convolution applied to the already padded input with padding 0."""
    s = lab.setup
    (PH, PW) = s.padding
    padded_x = np.pad(s.x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    return engine.conv2d_backward(s.dout, padded_x, s.w, s.stride, 0)[0][0, 0]


def independent_padded_delta(lab):
    """delta dilated by the stride and padded by K-1 (plus zeros where windows do not
    tile), built here from the definition rather than taken from the trace."""
    s = lab.setup
    (SH, SW), (PH, PW) = s.stride, s.padding
    KH, KW = s.w.shape[2:]
    H, W = s.x.shape[2:]
    delta = s.dout[0, 0]
    HO, WO = delta.shape
    dilated = np.zeros(((HO - 1) * SH + 1, (WO - 1) * SW + 1))
    for i in range(HO):
        for j in range(WO):
            dilated[i * SH, j * SW] = delta[i, j]
    hp, wp = H + 2 * PH, W + 2 * PW
    out = np.zeros((hp + KH - 1, wp + KW - 1))
    out[KH - 1:KH - 1 + dilated.shape[0], KW - 1:KW - 1 + dilated.shape[1]] = dilated
    return dilated, out


def assert_stage_ends(lab):
    """The last frame of dx, dW and db: gradients finished so far equal the fast kernels."""
    dx, dw, db = expected(lab)
    lab.go_to_stage("dx", end=True)
    sdx, sdw, sdb = lab.shown_gradients()
    np.testing.assert_allclose(sdx, dx, rtol=1e-12, atol=1e-12)
    assert np.isnan(sdw).all() and np.isnan(sdb).all()  # not computed yet
    lab.go_to_stage("dw", end=True)
    sdx, sdw, sdb = lab.shown_gradients()
    np.testing.assert_allclose(sdx, dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sdw, dw, rtol=1e-12, atol=1e-12)
    assert np.isnan(sdb).all()
    lab.go_to_stage("db", end=True)
    assert lab.controls.step == lab.controls.count - 1
    sdx, sdw, sdb = lab.shown_gradients()
    np.testing.assert_allclose(sdx, dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sdw, dw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sdb, db, rtol=1e-12, atol=1e-12)


def step_through_dx(lab):
    """Every dx frame: its window on padded delta, the rotated kernel, the products, and
    exactly one more padded-input cell written with the right value."""
    s = lab.setup
    KH, KW = s.w.shape[2:]
    rot180 = s.w[0, 0][::-1, ::-1]
    dilated, padded_delta = independent_padded_delta(lab)
    np.testing.assert_array_equal(lab.trace.dilated_delta[0, 0], dilated)
    np.testing.assert_array_equal(lab.padded_delta_view.values, padded_delta)
    target = expected_padded_dx(lab)
    hp, wp = target.shape
    lab.go_to_stage("dx")
    for k, (row, col) in enumerate((r, c) for r in range(hp) for c in range(wp)):
        if k > 0:
            lab.controls.step_forward()
        assert lab.stage_of(lab.controls.step) == "dx"
        assert lab.stage_buttons["dx"].isChecked()
        assert lab.padded_delta_view.window_rect() == (row, col, KH, KW)
        assert lab.dx_view.window_rect() == (row, col, 1, 1)
        window = padded_delta[row:row + KH, col:col + KW]
        np.testing.assert_array_equal(lab.strip.a_view.values, window)
        np.testing.assert_array_equal(lab.strip.b_view.values, rot180)
        np.testing.assert_allclose(lab.strip.p_view.values, window * rot180, atol=1e-12)
        flat = lab.dx_view.values.reshape(-1)  # the padded dx, NaN where not written
        np.testing.assert_allclose(flat[:k + 1], target.reshape(-1)[:k + 1], atol=1e-12)
        assert np.isnan(flat[k + 1:]).all()
    lab.controls.step_forward()
    assert lab.stage_of(lab.controls.step) == "dw"


def test_default_example_is_small_and_readable(lab):
    s = lab.setup
    assert s.x.shape == (1, 1, 5, 5) and s.w.shape == (1, 1, 3, 3)
    assert s.stride == (2, 2) and s.padding == (1, 1)
    assert s.dout.shape == (1, 1, 3, 3)
    for a in (s.x, s.w, s.dout):
        np.testing.assert_array_equal(a, np.round(a))  # whole numbers in every cell
    assert (s.dout < 0).any() and (s.dout > 0).any()  # both diverging colours show
    assert not np.array_equal(s.w[0, 0], s.w[0, 0, ::-1, ::-1])  # the rotation shows
    assert lab.problem is None
    assert "H_out = floor((5 + 2·1 − 3) / 2) + 1 = 3" in lab.formula_label.text()
    assert lab.controls.step == 0 and lab.stage_of(0) == "delta"
    assert lab.controls.count == PREP_FRAMES + 7 * 7 + 3 * 3 + 1


def test_default_stage_ends_equal_conv2d_backward(lab):
    assert_stage_ends(lab)


def test_default_dx_steps_are_the_full_convolution(lab):
    step_through_dx(lab)


def test_stride2_padding_non_square_kernel(lab):
    lab.settings.apply(size=(6, 7), kernel=(3, 2), stride=(2, 2), padding=(1, 1),
                       x=np.arange(42).reshape(6, 7) % 5,
                       w=[[1, -1], [2, 0], [0, 3]], delta=np.arange(16).reshape(4, 4) % 7 - 3)
    s = lab.setup
    assert s.w.shape == (1, 1, 3, 2)
    g = lab.trace.geometry
    # 6 + 2 - 3 = 5 is odd: the last padded row is reached by no window (zero gradient)
    assert (g.HO, g.WO) == ((6 + 2 - 3) // 2 + 1, (7 + 2 - 2) // 2 + 1)
    assert s.dout.shape == (1, 1, g.HO, g.WO)
    assert_stage_ends(lab)
    step_through_dx(lab)


def test_preparation_frames_show_each_stage_array(lab):
    dilated, padded = independent_padded_delta(lab)
    lab.go_to_stage("delta")
    s = lab.setup
    y = reference.conv2d_forward(s.x, s.w, np.zeros(1), s.stride, s.padding)[0, 0]
    np.testing.assert_allclose(lab.strip.a_view.values, y, atol=1e-12)
    np.testing.assert_array_equal(lab.strip.b_view.values, s.dout[0, 0])
    lab.go_to_stage("dilate")
    np.testing.assert_array_equal(lab.strip.b_view.values, dilated)
    assert "1 zero row(s)" in lab.sentence_label.text()
    lab.go_to_stage("pad")
    np.testing.assert_array_equal(lab.strip.b_view.values, padded)
    lab.go_to_stage("rotate")
    np.testing.assert_array_equal(lab.strip.a_view.values, lab.setup.w[0, 0])
    np.testing.assert_array_equal(lab.strip.b_view.values, np.rot90(lab.setup.w[0, 0], 2))
    for frame in range(PREP_FRAMES):  # nothing is computed before the dx stage
        lab.controls.set_step(frame)
        assert all(np.isnan(a).all() for a in lab.shown_gradients())


def test_every_stage_has_a_sentence_and_a_checked_button(lab):
    sentences = set()
    for key, _ in STAGES:
        lab.stage_buttons[key].click()
        assert lab.stage_of(lab.controls.step) == key
        assert lab.stage_buttons[key].isChecked()
        sentences.add(lab.sentence_label.text())
    assert len(sentences) == len(STAGES) and all(sentences)


def test_dw_step_multiplies_input_taps_by_delta(lab):
    s = lab.setup
    (SH, SW), (PH, PW) = s.stride, s.padding
    padded_x = np.pad(s.x[0, 0], ((PH, PH), (PW, PW)))
    HO, WO = s.dout.shape[2:]
    u, v = 1, 2
    lab._on_dw_clicked(u, v)
    taps = padded_x[u:u + SH * (HO - 1) + 1:SH, v:v + SW * (WO - 1) + 1:SW]
    np.testing.assert_array_equal(lab.strip.a_view.values, taps)
    np.testing.assert_array_equal(lab.strip.b_view.values, s.dout[0, 0])
    assert lab.dw_view.values[u, v] == pytest.approx(expected(lab)[1][u, v])
    assert f"dW[{u}, {v}]" in lab.strip.equation.text()


def test_clicking_dx_cell_jumps_to_its_step(lab):
    lab._on_dx_clicked(2, 3)
    s = lab.trace[lab.controls.step - PREP_FRAMES]
    assert (s.stage, s.row, s.col) == ("dx", 2, 3)


def test_edited_delta_rebuilds_and_keeps_the_stage(lab, qtbot):
    lab.go_to_stage("dw")
    item = lab.settings.delta_table.item(0, 0)
    with qtbot.waitSignal(lab.settings.changed):
        item.setText("7")
    assert lab.setup.dout[0, 0, 0, 0] == 7
    assert lab.trace.delta[0, 0, 0, 0] == 7
    assert lab.stage_of(lab.controls.step) == "dw"
    assert_stage_ends(lab)


def test_text_that_is_not_a_number_is_refused_with_a_message(lab, qtbot):
    before = lab.setup.dout.copy()
    with qtbot.waitSignal(lab.status_message) as blocker:
        lab.settings.delta_table.item(1, 1).setText("abc")
    assert "not a number" in blocker.args[0]
    np.testing.assert_array_equal(lab.settings.setup().dout, before)


def test_invalid_geometry_is_explained_and_raises_nothing(lab, qtbot):
    lab.go_to_stage("dx", end=True)
    with qtbot.waitSignal(lab.status_message) as blocker:
        lab.settings.apply(size=2, kernel=4, padding=0)
    reason = "a 4x4 kernel does not fit a 2x2 input with padding 0"
    assert reason in blocker.args[0]
    assert lab.problem == reason and lab.trace is None
    assert lab.controls.count == 0
    assert lab.strip_stack.currentWidget() is lab.problem_label
    assert reason in lab.problem_label.text()
    assert "✗" in lab.formula_label.text() and "does not fit" in lab.formula_label.text()
    assert not lab.settings.delta_table.isVisibleTo(lab.settings)
    assert lab.gradcheck_errors is None
    assert lab.gradcheck.verdict_labels["dx"].text() == "—"
    # the controls, stage buttons and clicks do nothing rather than fail
    lab.controls.step_forward()
    lab.go_to_stage("db")
    lab._on_dx_clicked(0, 0)
    assert not any(b.isChecked() for b in lab.stage_buttons.values())
    # and a valid geometry brings everything back
    lab.settings.apply(padding=2)
    assert lab.problem is None and lab.trace is not None
    assert_stage_ends(lab)


def test_gradient_check_passes_for_the_default(lab):
    errors = lab.gradcheck_errors
    assert set(errors) == {"dx", "dw", "db"}
    assert all(0.0 <= e < 1e-6 for e in errors.values())
    for key in errors:
        assert lab.gradcheck.verdict_labels[key].text() == "✓ pass"
        assert lab.gradcheck.error_labels[key].text() == f"{errors[key]:.1e}"


def test_gradient_check_of_an_exactly_zero_db_passes(lab):
    # δ sums to 0, so db is exactly 0 and its finite difference is rounding noise only
    lab.settings.apply(delta=[[1, -1, 2], [0, 1, -2], [-1, 2, -2]])
    assert lab.setup.dout.sum() == 0
    assert lab.trace.db()[0] == 0
    assert lab.gradcheck_errors["db"] < 1e-7
    assert lab.gradcheck.verdict_labels["db"].text() == "✓ pass"


def test_gradient_check_catches_a_wrong_backward_pass(lab, monkeypatch):
    right = engine.conv2d_backward

    def off_by_one_percent(dout, x, w, stride=1, padding=0):
        dx, dw, db = right(dout, x, w, stride, padding)
        return dx * 1.01, dw, db + 0.5

    monkeypatch.setattr(engine, "conv2d_backward", off_by_one_percent)
    errors = gradient_check(lab.setup)
    assert errors["dx"] > 1e-4 and errors["db"] > 1e-4
    assert errors["dw"] < 1e-7
    assert [verdict(errors[k]) for k in ("dx", "dw", "db")] == ["fail", "pass", "fail"]
    assert verdict(1e-5) == "doubtful" and verdict(None) == "none"


def test_prepare_screenshot_shows_mid_dx_stage(lab):
    lab.settings.apply(size=7, kernel=2, stride=1, padding=0)
    lab.go_to_stage("db")
    lab.prepare_screenshot()
    assert lab.setup.x.shape == (1, 1, 5, 5)
    frames = lab.stage_range("dx")
    assert frames.start < lab.controls.step < frames[-1]
    assert not lab.controls.is_playing
    step = lab.trace[lab.controls.step - PREP_FRAMES]
    assert not step.cropped and np.count_nonzero(step.products) > 1


def test_keys_step_through_the_stages(lab, qtbot, focus):
    focus(lab)
    assert lab.stage_of(lab.controls.step) == "delta"
    qtbot.keyClick(lab, Qt.Key.Key_Right)
    assert lab.stage_of(lab.controls.step) == "dilate"
    qtbot.keyClick(lab, Qt.Key.Key_End)
    assert lab.controls.step == lab.controls.count - 1
    assert lab.stage_buttons["db"].isChecked()
    qtbot.keyClick(lab, Qt.Key.Key_Home)
    assert lab.controls.step == 0
    qtbot.keyClick(lab, Qt.Key.Key_Space)
    assert lab.controls.is_playing
    lab.deactivated()  # switching labs stops the animation
    assert not lab.controls.is_playing


def test_pipeline_views_show_the_trace_arrays(lab):
    dilated, padded = independent_padded_delta(lab)
    np.testing.assert_array_equal(lab.delta_view.values, lab.setup.dout[0, 0])
    np.testing.assert_array_equal(lab.dilated_view.values, dilated)
    np.testing.assert_array_equal(lab.padded_delta_view.values, padded)
    np.testing.assert_array_equal(lab.kernel_view.values, lab.setup.w[0, 0])
    np.testing.assert_array_equal(lab.rot_view.values, np.rot90(lab.setup.w[0, 0], 2))
    PH, PW = lab.setup.padding
    np.testing.assert_array_equal(lab.input_view.values,
                                  np.pad(lab.setup.x[0, 0], ((PH, PH), (PW, PW))))


def test_play_advances_and_stops_at_the_end(lab, qtbot):
    lab.settings.apply(size=3, kernel=2, stride=1, padding=0)
    lab.controls.set_speed(60)
    lab.controls.play()
    qtbot.waitUntil(lambda: not lab.controls.is_playing, timeout=5000)
    assert lab.controls.step == lab.controls.count - 1
    dx, dw, db = expected(lab)
    np.testing.assert_allclose(lab.shown_gradients()[2], db, atol=1e-12)


@hyp_settings(max_examples=20, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(2, 8), cols=st.integers(2, 8), kh=st.integers(1, 4),
       kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       seed=st.integers(0, 2**32 - 1), data=st.data())
def test_random_geometry_stage_ends_equal_conv2d_backward(lab, rows, cols, kh, kw, sh, sw,
                                                          seed, data):
    ph = data.draw(st.integers(0, kh - 1))
    pw = data.draw(st.integers(0, kw - 1))
    assume(kh <= rows + 2 * ph and kw <= cols + 2 * pw)
    rng = np.random.default_rng(seed)
    # real-valued numbers too: the lab must not depend on whole numbers
    lab.settings.apply(size=(rows, cols), kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw),
                       x=rng.uniform(-5, 5, (8, 8)), w=rng.integers(-2, 3, (4, 4)),
                       delta=rng.normal(size=(16, 16)).round(2))
    assert lab.problem is None
    assert_stage_ends(lab)
    assert all(e < 1e-6 for e in lab.gradcheck_errors.values())


def test_the_dw_step_writes_dj_df_in_symbols_as_the_course_does(lab):
    """3x3 input, 2x2 kernel, stride 1, no padding: dJ/dF11 written by hand."""
    lab.settings.apply(size=(3, 3), kernel=(2, 2), stride=(1, 1), padding=(0, 0),
                       x=[[1, 2, 3], [4, 5, 6], [7, 8, 9]], w=[[1, -1], [0, 1]],
                       delta=[[1, 0], [-1, 2]])
    lab.controls.set_step(lab._trace_frame(lab.trace.dw_step_index(0, 0, 0, 0)))
    assert ("∂J/∂F11 = X11·δ11 + X12·δ12 + X21·δ21 + X22·δ22 = 1·1 + 2·0 + 4·(−1) + 5·2 = 7"
            in lab.strip.equation.text())


def test_the_other_views_are_built_when_first_shown_with_the_current_numbers(lab):
    # the Channels and Influence views are built on first show (the lab opens faster);
    # built late, they show the same backward pass as the stage view
    assert not lab.lazy_tabs.is_built(1) and not lab.lazy_tabs.is_built(2)
    lab.settings.small_example()
    lab.tabs.setCurrentIndex(2)
    assert lab.tabs.currentWidget().isAncestorOf(lab.influence_view)
    assert lab.influence_view.cb is lab.channels_backward
    assert lab.lazy_tabs.views() == [lab.influence_view]  # only the tab shown
    for name, prepare in lab.extra_screenshots():  # each screenshot shows its own tab
        prepare()
        view = {"channels": lab.channels_view, "influence": lab.influence_view}[name]
        assert lab.tabs.currentWidget().isAncestorOf(view), name
        assert view.cb is lab.channels_backward
