"""Convolution lab: the animation reproduces engine.conv2d_forward step by step and at
its end; an impossible geometry is explained in place and never raises."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from PyQt6.QtCore import QPointF, Qt

import engine
from engine import reference
from gui.labs.convolution.lab import DEFAULT_STEP, ConvolutionLab


@pytest.fixture
def lab(make_lab):
    return make_lab(ConvolutionLab)


def shown_output(lab):
    """What the output views show now: (F, HO, WO), NaN where nothing is written."""
    F = lab.trace.geometry.F
    return np.stack([lab.output_views[f].values for f in range(F)])


def expected_output(lab):
    s = lab.setup
    return engine.conv2d_forward(s.x, s.w, s.b, s.stride, s.padding)[0]  # (F, HO, WO)


def step_through_all(lab):
    """Step forward one step at a time from the first to the last, checking every frame.

    Each step must write exactly its own output cell with the fast kernel's value, leave
    every later cell empty, outline the window at (i*SH, j*SW) on the padded input, and
    show window, kernel and products consistent with the padded input.
    """
    g = lab.trace.geometry
    y = expected_output(lab)
    x = lab.setup.x[0]
    padded = np.pad(x, ((0, 0), (g.PH, g.PH), (g.PW, g.PW)))  # (C, H+2PH, W+2PW)
    lab.controls.to_start()
    order = [(f, i, j) for f in range(g.F) for i in range(g.HO) for j in range(g.WO)]
    for k, (f, i, j) in enumerate(order):
        if k > 0:
            lab.controls.step_forward()
        assert lab.controls.step == k
        out = shown_output(lab)
        flat = out.reshape(-1)
        np.testing.assert_allclose(flat[:k + 1], y.reshape(-1)[:k + 1], rtol=1e-12, atol=1e-12)
        assert np.isnan(flat[k + 1:]).all()
        assert lab.input_view.window_rect() == (i * g.SH, j * g.SW, g.KH, g.KW)
        assert lab.output_views[f].window_rect() == (i, j, 1, 1)
        window = padded[:, i * g.SH:i * g.SH + g.KH, j * g.SW:j * g.SW + g.KW]
        for c in range(g.C):
            np.testing.assert_array_equal(lab.strip.windows[c].values, window[c])
            np.testing.assert_array_equal(lab.strip.kernels[c].values, lab.setup.w[f, c])
            np.testing.assert_allclose(lab.strip.products[c].values,
                                       window[c] * lab.setup.w[f, c], rtol=1e-12, atol=1e-12)


def assert_end_is_conv2d_forward(lab):
    lab.controls.to_end()
    y = expected_output(lab)
    out = shown_output(lab)
    assert not np.isnan(out).any()
    np.testing.assert_allclose(out, y, rtol=1e-12, atol=1e-12)
    # and the textbook loops agree (the oracle for the fast kernel itself)
    s = lab.setup
    np.testing.assert_allclose(out, reference.conv2d_forward(s.x, s.w, s.b, s.stride,
                                                             s.padding)[0],
                               rtol=1e-12, atol=1e-12)


def test_default_content_teaches_at_a_glance(lab):
    s = lab.setup
    assert s.x.shape == (1, 1, 7, 7)
    assert s.w.shape == (1, 1, 3, 3)
    assert s.stride == (1, 1) and s.padding == (1, 1)
    # the course's vertical edge (CURRICULUM.md, kernel 2)
    np.testing.assert_array_equal(s.w[0, 0], [[0, 0, 0], [-1, 2, -1], [0, 0, 0]])
    assert set(np.unique(s.x)) == {0.0, 1.0}  # whole numbers, readable in the cells
    assert lab.controls.step == DEFAULT_STEP
    assert "= 7" in lab.formula_label.text()
    assert "H_out = floor((7 + 2·1 − 3) / 1) + 1 = 7" in lab.formula_label.text()
    assert lab.problem is None


def test_default_steps_through_to_conv2d_forward(lab):
    step_through_all(lab)
    assert_end_is_conv2d_forward(lab)


def test_three_channels_two_filters_stride_padding_non_square(lab):
    lab.settings.apply(channels=3, filters=2, kernel=(3, 2), stride=(2, 1), padding=(1, 1),
                       rows=6, cols=8)
    s = lab.setup
    assert s.x.shape == (1, 3, 6, 8) and s.w.shape == (2, 3, 3, 2)
    g = lab.trace.geometry
    assert (g.HO, g.WO) == ((6 + 2 - 3) // 2 + 1, (8 + 2 - 2) // 1 + 1)
    step_through_all(lab)
    assert_end_is_conv2d_forward(lab)
    # three partial sums and their total, as the strip shows them
    step = lab.trace[lab.controls.step]
    total = lab.strip.equation.text()
    assert "Σ<sub>R</sub> + Σ<sub>G</sub> + Σ<sub>B</sub>" in total
    assert np.isclose(step.channel_sums.sum() + step.bias, step.value)


def test_digit_with_padding_two_filters(lab):
    lab.settings.apply(source="digit", digit=5, filters=2, kernel=3, padding=1, channels=1)
    assert lab.setup.x.shape == (1, 1, 28, 28)
    assert 0.0 <= lab.setup.x.min() and lab.setup.x.max() <= 1.0
    assert lab.trace.geometry.HO == 28
    assert_end_is_conv2d_forward(lab)


def test_photo_crop_rgb_four_filters(lab):
    lab.settings.apply(source="photo", channels=3, crop=12, filters=4, kernel=(2, 3),
                       stride=(1, 2), padding=(0, 2))
    assert lab.setup.x.shape == (1, 3, 12, 12)
    assert all(lab.output_views[f].isVisibleTo(lab) for f in range(4))
    assert_end_is_conv2d_forward(lab)


@hyp_settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(channels=st.sampled_from([1, 3]), filters=st.integers(1, 4),
       rows=st.integers(5, 12), cols=st.integers(5, 12),
       kh=st.integers(1, 7), kw=st.integers(1, 7), sh=st.integers(1, 4), sw=st.integers(1, 4),
       data=st.data())
def test_random_geometry_end_equals_conv2d_forward(lab, channels, filters, rows, cols, kh, kw,
                                                   sh, sw, data):
    ph = data.draw(st.integers(0, kh - 1))
    pw = data.draw(st.integers(0, kw - 1))
    lab.settings._on_random()  # non-trivial kernels and biases
    lab.settings.apply(channels=channels, filters=filters, rows=rows, cols=cols,
                       kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw))
    valid = kh <= rows + 2 * ph and kw <= cols + 2 * pw
    assert (lab.trace is not None) == valid
    if valid:
        assert_end_is_conv2d_forward(lab)
        lab.controls.set_step(len(lab.trace) // 2)
        out = shown_output(lab).reshape(-1)
        assert np.isnan(out[len(lab.trace) // 2 + 1:]).all()
    else:
        assert lab.problem and "does not fit" in lab.problem


def test_invalid_geometry_shows_a_message_and_raises_nothing(lab, qtbot):
    messages = []
    lab.status_message.connect(messages.append)
    lab.settings.apply(rows=5, cols=5, kernel=7, padding=0)  # must not raise
    assert lab.trace is None
    assert "a 7x7 kernel does not fit a 5x5 input with padding 0" in lab.problem
    assert lab.strip_stack.currentWidget() is lab.problem_label
    assert "does not fit" in lab.problem_label.text()
    assert "✗" in lab.formula_label.text()
    assert "does not fit an input of height 5" in lab.formula_label.text()
    assert messages and "does not fit" in messages[-1]
    assert lab.controls.count == 0
    # every control is harmless now
    lab.controls.play()
    lab.controls.step_forward()
    lab.controls.to_end()
    lab.show_step(0)
    assert not lab.controls.is_playing
    # padding 1 makes it fit again: the animation comes back
    lab.settings.apply(padding=1)
    assert lab.trace is not None and lab.problem is None
    assert lab.strip_stack.currentWidget() is lab.strip
    assert_end_is_conv2d_forward(lab)


def test_clicking_an_output_cell_jumps_to_its_step(lab, qtbot):
    lab.settings.apply(filters=2)
    lab.show()
    qtbot.waitExposed(lab)
    view = lab.output_views[1]
    qtbot.waitUntil(lambda: view.graphics.view_box.viewRange()[0][1] >= 7)
    scene = view.graphics.view_box.mapViewToScene(QPointF(4.5, 2.5))  # column 4, row 2
    pos = view.graphics.mapFromScene(scene)
    qtbot.mouseClick(view.graphics.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    g = lab.trace.geometry
    assert lab.controls.step == g.HO * g.WO + 2 * g.WO + 4
    assert lab.output_views[1].window_rect() == (2, 4, 1, 1)
    assert lab.output_views[0].window_rect() is None


def test_keys_step_the_animation(lab, qtbot, focus):
    focus(lab)
    start = lab.controls.step
    qtbot.keyClick(lab, Qt.Key.Key_Right)
    assert lab.controls.step == start + 1
    qtbot.keyClick(lab, Qt.Key.Key_End)
    assert lab.controls.step == len(lab.trace) - 1
    qtbot.keyClick(lab, Qt.Key.Key_Home)
    assert lab.controls.step == 0
    qtbot.keyClick(lab, Qt.Key.Key_Space)
    assert lab.controls.is_playing
    lab.deactivated()  # switching labs stops the animation
    assert not lab.controls.is_playing


def test_playing_fills_the_output(lab, qtbot):
    lab.settings.apply(rows=5, cols=5)
    lab.controls.set_speed(60)
    lab.controls.to_start()
    with qtbot.waitSignal(lab.controls.playing_changed, timeout=10000,
                          check_params_cb=lambda playing: not playing):
        lab.controls.play()
    np.testing.assert_allclose(shown_output(lab), expected_output(lab), rtol=1e-12, atol=1e-12)


def test_typed_kernel_value_changes_the_result(lab):
    table = lab.settings.kernel_table
    table.item(1, 1).setText("2.5")
    assert lab.setup.w[0, 0, 1, 1] == 2.5
    assert_end_is_conv2d_forward(lab)


def test_typed_text_that_is_not_a_number_is_refused(lab):
    messages = []
    lab.status_message.connect(messages.append)
    before = lab.setup.x.copy()
    lab.settings.grid_table.item(0, 0).setText("abc")
    assert lab.settings.grid_table.item(0, 0).text() == "0"
    assert messages and "'abc' is not a number" in messages[-1]
    lab.settings.grid_table.item(0, 0).setText("−3,5")  # minus sign and decimal comma
    np.testing.assert_array_equal(lab.setup.x[0, 0, 1:], before[0, 0, 1:])
    assert lab.setup.x[0, 0, 0, 0] == -3.5


def test_gallery_kernel_is_used(lab):
    kernels = lab.settings._gallery
    name = list(kernels)[-1]
    lab.settings.apply(kernel=5, padding=2)
    lab.settings.gallery_box.setCurrentIndex(lab.settings.gallery_box.findData(name))
    lab.settings.gallery_button.click()
    assert lab.setup.w.shape[2:] == kernels[name].shape
    np.testing.assert_array_equal(lab.setup.w[0, 0], kernels[name])
    assert_end_is_conv2d_forward(lab)


def test_prepare_screenshot_puts_up_the_default_mid_animation(lab):
    lab.settings.apply(source="digit", channels=3, filters=3)
    lab.controls.to_end()
    lab.prepare_screenshot()
    assert lab.setup.x.shape == (1, 1, 7, 7)
    assert 0 < lab.controls.step < len(lab.trace) - 1
    assert not lab.controls.is_playing
    assert lab.export_widget() is lab.main_area


def test_the_courses_sample_picture_is_offered_first_and_shown_whole(lab):
    """The grey cross of the course, beside the photographs: chosen, it is convolved whole,
    and the course's vertical-edge kernel turns each side of its vertical stroke into a
    positive and a negative line (two lines of different colours)."""
    from engine.gallery import sample_picture

    settings = lab.settings
    assert settings.photo_box.itemText(0) == "Course sample (cross)"
    settings.apply(source="photo")
    settings.photo_box.setCurrentIndex(1)
    settings.photo_box.setCurrentIndex(0)  # what a learner's choice does
    np.testing.assert_allclose(lab.setup.x[0, 0], sample_picture(), atol=1e-7)
    assert "Course sample (cross)" in lab.setup.description
    out = lab.trace.result()[0, 0]  # the default filter: the course's vertical edge
    np.testing.assert_allclose(out[8, [13, 14, 17, 18]], [0.4, -0.4, -0.4, 0.4], atol=1e-6)


def test_open_image_crops_a_new_photo_or_reports_a_bad_file(lab, tmp_path):
    from PyQt6.QtGui import QColor, QImage

    messages = []
    lab.status_message.connect(messages.append)
    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"this is text")
    lab.open_image(str(bad))  # must not raise
    assert messages and "not_an_image.png" in messages[-1]
    assert lab.setup.kind == "typed"
    image = QImage(40, 30, QImage.Format.Format_RGB888)
    image.fill(QColor(255, 0, 0))
    good = tmp_path / "red.png"
    image.save(str(good))
    lab.settings.apply(channels=3)
    lab.open_image(str(good))
    assert lab.setup.kind == "photo"
    x = lab.setup.x
    assert x.shape[1] == 3 and x.shape[2] == x.shape[3] == 16
    np.testing.assert_allclose(x[0, 0], 1.0)  # red channel full, the others empty
    np.testing.assert_allclose(x[0, 1:], 0.0)
    assert_end_is_conv2d_forward(lab)


def test_arrow_keys_in_a_number_grid_move_between_cells_not_the_animation(lab, qtbot):
    lab.show()
    qtbot.waitExposed(lab)
    lab.activateWindow()
    table = lab.settings.kernel_table
    table.setCurrentCell(0, 0)
    table.setFocus()
    qtbot.waitUntil(table.hasFocus)
    step = lab.controls.step
    qtbot.keyClick(table, Qt.Key.Key_Right)
    assert table.currentColumn() == 1
    assert lab.controls.step == step


# ---- the course's worked examples (gui/labs/convolution/presets.py)
def test_the_3x3_2x2_preset_writes_z11_as_the_course_does(lab):
    lab.load_preset("course-3x3-2x2")
    assert lab.setup.x.shape == (1, 1, 3, 3) and lab.setup.w.shape == (1, 1, 2, 2)
    assert lab.controls.step == 0
    assert lab.strip.symbolic.text() == (
        "z11 = X11·F11 + X12·F12 + X21·F21 + X22·F22 = 1·1 + 2·(−1) + 4·0 + 5·1 = 4")
    lab.controls.set_step(1)
    assert lab.strip.symbolic.text() == (
        "z12 = X12·F11 + X13·F12 + X22·F21 + X23·F22 = 2·1 + 3·(−1) + 5·0 + 6·1 = 5")


@pytest.mark.parametrize("key, x_shape, w_shape, out_shape", [
    ("course-3x3-2x2", (1, 1, 3, 3), (1, 1, 2, 2), (1, 1, 2, 2)),
    ("course-4x4-3x3", (1, 1, 4, 4), (1, 1, 3, 3), (1, 1, 2, 2)),
    ("course-colour-3x3", (1, 3, 3, 3), (2, 3, 2, 2), (1, 2, 2, 2)),
    ("course-5x5x3-stride2", (1, 3, 5, 5), (2, 3, 3, 3), (1, 2, 3, 3)),
    ("curve-detector", (1, 1, 12, 12), (1, 1, 7, 7), (1, 1, 6, 6)),
])
def test_every_preset_loads_the_course_shapes_and_the_engines_numbers(lab, key, x_shape,
                                                                     w_shape, out_shape):
    from engine.symbolic import result_number
    from gui.labs.convolution.presets import preset

    lab.load_preset(key)
    p = preset(key)
    s = lab.setup
    assert s.x.shape == x_shape and s.w.shape == w_shape
    np.testing.assert_array_equal(s.x[0], p.x)
    np.testing.assert_array_equal(s.w, p.w)
    np.testing.assert_array_equal(s.b, p.b)
    y = engine.conv2d_forward(s.x, s.w, s.b, s.stride, s.padding)
    assert y.shape == out_shape
    np.testing.assert_allclose(lab.trace.result(), y, atol=1e-9)
    # the written numbers add up to the engine's value for every output cell
    for k in range(len(lab.trace)):
        lab.controls.set_step(k)
        text = lab.strip.symbolic.text()
        step = lab.trace[k]
        assert text.startswith("z")
        written = text.split(" = ")[-1].split(" ")[0]  # before "(n taps on the padding …)"
        assert written == result_number(y[0, step.f, step.i, step.j], True)


def test_the_curve_detector_answers_6600_where_the_curve_is_and_little_elsewhere(lab):
    lab.load_preset("curve-detector")
    y = lab.trace.result()[0, 0]
    assert y[0, 0] == 6600
    assert np.all(np.delete(y.ravel(), 0) <= 1500)


def test_typed_inputs_go_down_to_2x2(lab):
    lab.settings.apply(source="typed", rows=2, cols=2, kernel=(2, 2), padding=(0, 0))
    assert lab.setup.x.shape == (1, 1, 2, 2)
    assert lab.trace.result().shape == (1, 1, 1, 1)
