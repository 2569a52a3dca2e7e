"""Kernel fitting lab: what it shows is what engine.fitting computes, gradient descent
recovers the target kernel, and a too-large learning rate is stopped and explained."""

import numpy as np
import pytest

from engine import reference
from engine.gallery import KERNELS
from engine.gradcheck import numerical_gradient
from gui.labs.fitting.lab import PADDING, SCREENSHOT_STEPS, FittingLab

# the course's horizontal edge (CURRICULUM.md, kernel 6), the lab's default target
HORIZONTAL_EDGE = np.array([[0, -1, 0], [0, 2, 0], [0, -1, 0]], dtype=np.float64)


@pytest.fixture
def lab(make_lab):
    return make_lab(FittingLab)


def textbook_conv(image, kernel):
    """image (H, W) * kernel (KH, KW) by the reference loops, (HO, WO)."""
    return reference.conv2d_forward(image[None, None], kernel[None, None], np.zeros(1), 1,
                                    PADDING)[0, 0]


def textbook_loss(image, kernel, target):
    return np.mean((textbook_conv(image, kernel) - target) ** 2)


def test_default_problem_is_the_horizontal_edge_on_a_photo(lab):
    f = lab.fitter
    assert lab.settings.source_box.currentData() == "photo"
    assert f.image.shape == (64, 64)
    np.testing.assert_array_equal(lab.target_kernel_view.values, HORIZONTAL_EDGE)
    np.testing.assert_allclose(f.target, textbook_conv(f.image, HORIZONTAL_EDGE), atol=1e-12)
    np.testing.assert_allclose(lab.target_panel.image(), f.target, atol=0)
    np.testing.assert_array_equal(lab.learned_kernel_view.values, np.zeros((3, 3)))
    assert f.iteration == 0 and not lab.is_playing


def test_one_step_moves_against_the_finite_difference_gradient(lab):
    f = lab.fitter
    image, target, lr = f.image, f.target, f.lr
    zero = np.zeros((3, 3))
    grad = numerical_gradient(lambda k: np.array(textbook_loss(image, k, target)), zero,
                              np.array(1.0))
    lab.step_button.click()
    assert f.iteration == 1
    np.testing.assert_allclose(lab.learned_kernel_view.values, -lr * grad, rtol=1e-6, atol=1e-9)
    shown_output = lab.output_panel.image()
    np.testing.assert_allclose(shown_output, textbook_conv(image, -lr * grad), atol=1e-7)
    np.testing.assert_allclose(lab.difference_panel.image(), shown_output - target, atol=1e-12)


def test_running_recovers_the_kernel_and_the_curve_shows_every_loss(lab):
    # the course's kernel is a second difference, which a photo barely excites: the loss
    # is ill-conditioned and gradient descent needs thousands of steps (1.5 s here)
    lab.run_steps(5000)
    f = lab.fitter
    assert f.status == "ok" and f.iteration == 5000
    assert f.loss() < f.history[0] * 1e-3
    np.testing.assert_allclose(lab.learned_kernel_view.values, HORIZONTAL_EDGE, atol=0.06)
    np.testing.assert_allclose(lab.loss_curve.yData, f.history)
    assert "orders of magnitude" in lab.info_label.text()


def test_play_runs_steps_on_the_timer_and_pause_stops(lab, qtbot):
    lab.play_button.click()
    assert lab.is_playing
    qtbot.waitUntil(lambda: lab.fitter.iteration >= 10, timeout=5000)
    lab.play_button.click()
    assert not lab.is_playing and not lab._timer.isActive()  # no tick can come any more
    lab.reset_button.click()
    assert lab.fitter.iteration == 0 and lab.fitter.history == []


def test_too_large_a_learning_rate_is_stopped_and_explained(lab, qtbot):
    lab.settings.apply(lr=2.0)
    with qtbot.waitSignal(lab.status_message, timeout=5000) as blocker:
        lab.play()
    assert "too large" in blocker.args[0]
    assert lab.fitter.status == "diverged" and not lab.is_playing
    assert "too large" in lab.info_label.text()
    assert np.isfinite(lab.learned_kernel_view.values).all()
    lab.play()  # refuses quietly
    assert not lab.is_playing
    lab.settings.lr_spin.setValue(0.2)  # a new rate starts the run again
    assert lab.fitter.status == "ok" and lab.fitter.iteration == 0 and lab.fitter.lr == 0.2


def test_learning_rate_changes_in_place_without_restarting(lab):
    lab.run_steps(5)
    lab.settings.lr_spin.setValue(0.1)
    assert lab.fitter.iteration == 5 and lab.fitter.lr == 0.1


def test_a_typed_target_kernel_is_fitted(lab):
    item = lab.settings.target_table.item(1, 1)
    item.setText("3")
    expected = HORIZONTAL_EDGE.copy()
    expected[1, 1] = 3
    assert lab.settings.gallery_box.currentText() == "(typed)"
    np.testing.assert_array_equal(lab.fitter.target_kernel, expected)
    np.testing.assert_array_equal(lab.target_kernel_view.values, expected)


def test_text_that_is_not_a_number_is_refused_in_words(lab, qtbot):
    with qtbot.waitSignal(lab.status_message, timeout=1000) as blocker:
        lab.settings.target_table.item(0, 0).setText("one")
    assert "not a number" in blocker.args[0]
    np.testing.assert_array_equal(lab.fitter.target_kernel, HORIZONTAL_EDGE)


def test_a_digit_and_a_gallery_kernel_from_a_random_start(lab):
    lab.settings.apply(source="digit", digit=5, target="Sobel-X", init="random", seed=3)
    f = lab.fitter
    assert f.image.shape == (28, 28) and f.target.shape == (26, 26)
    np.testing.assert_array_equal(f.target_kernel, KERNELS["Sobel-X"])
    assert not np.all(lab.learned_kernel_view.values == 0)
    start = f.kernel
    lab.settings.apply(seed=3)  # the same seed: the same start
    np.testing.assert_array_equal(lab.fitter.kernel, start)


def test_prepare_screenshot_shows_a_run_in_progress(lab):
    lab.settings.apply(source="digit", lr=0.05)
    lab.prepare_screenshot()
    f = lab.fitter
    assert f.iteration == SCREENSHOT_STEPS and f.image.shape == (64, 64)
    assert 0 < f.history[-1] < f.history[0]
    assert lab.export_widget() is lab.main_area


def test_deactivating_pauses(lab):
    lab.play()
    lab.deactivated()
    assert not lab.is_playing
    lab.shutdown()


def test_open_image_fits_on_a_crop_and_refuses_a_bad_file(lab, qtbot, tmp_path):
    from gui.widgets.images import asset_images

    path = asset_images()["coins"]
    lab.open_image(str(path))
    assert lab.settings.photo_box.currentData() == str(path)
    assert lab.fitter.image.shape == (64, 64) and lab.fitter.iteration == 0
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    before = lab.fitter
    with qtbot.waitSignal(lab.status_message, timeout=1000) as blocker:
        lab.open_image(str(bad))
    assert "notes.png" in blocker.args[0]
    assert lab.fitter is before  # nothing changed
