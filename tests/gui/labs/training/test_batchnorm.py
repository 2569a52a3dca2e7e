"""The Training lab's batch-norm view (gui/labs/training/batchnorm.py, views/batchnorm.py):
every number equals numpy written from the definitions (CS231n's spatial batch norm), the
running statistics move with the momentum, train and eval modes differ as they should."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from engine import reference
from engine.data import load_embedded_mnist
from gui.labs.training.batchnorm import BATCH, DEMO_KERNELS, BatchNormDemo


@pytest.fixture(scope="module")
def digits():
    return load_embedded_mnist()[0][:200] / 255.0


def by_definition_features(images, w):
    x = images[:, None].astype(np.float64)
    return reference.conv2d_forward(x, w, np.zeros(len(w)))


@given(st.integers(1, 6), st.floats(0.5, 0.99), st.floats(0.2, 3.0), st.floats(-1.0, 1.0))
@hyp_settings(max_examples=10, deadline=None)
def test_every_step_matches_the_definitions(digits, steps, momentum, gamma, beta):
    demo = BatchNormDemo(digits, momentum=momentum)
    demo.set_gamma_beta(1, gamma, beta)
    running_mean, running_var = np.zeros(3), np.ones(3)
    for k in range(steps):
        s = demo.step()
        x = by_definition_features(digits[k * BATCH:(k + 1) * BATCH], demo.w)
        np.testing.assert_allclose(s.x, x, atol=1e-5)
        mean = x.mean(axis=(0, 2, 3))
        var = x.var(axis=(0, 2, 3))
        np.testing.assert_allclose(s.mean, mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(s.var, var, rtol=1e-4, atol=1e-5)
        x_hat = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + demo.eps)
        np.testing.assert_allclose(s.x_hat, x_hat, atol=2e-3)
        g = np.array([1.0, gamma, 1.0])[None, :, None, None]
        b = np.array([0.0, beta, 0.0])[None, :, None, None]
        np.testing.assert_allclose(s.y_train, g * x_hat + b, atol=5e-3)
        np.testing.assert_allclose(s.running_mean_before, running_mean, rtol=1e-4, atol=1e-6)
        count = x.shape[0] * x.shape[2] * x.shape[3]
        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var * count / (count - 1)
        np.testing.assert_allclose(s.running_mean, running_mean, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(s.running_var, running_var, rtol=1e-4, atol=1e-6)
    # eval mode uses the running statistics, not the batch's
    expected = (g * (s.x - running_mean[None, :, None, None])
                / np.sqrt(running_var[None, :, None, None] + demo.eps) + b)
    np.testing.assert_allclose(demo.eval_output(), expected, atol=5e-3)


def test_the_demo_kernels_are_the_courses(digits):
    from engine.gallery import KERNELS

    demo = BatchNormDemo(digits)
    for c, name in enumerate(DEMO_KERNELS):
        np.testing.assert_array_equal(demo.w[c, 0], KERNELS[name])


def test_the_tab_shows_the_demos_numbers_and_follows_the_channel(make_lab, qtbot, digits):
    from gui.labs.training.views.batchnorm import BatchNormView

    view = BatchNormView(digits)
    qtbot.addWidget(view)
    s = view.demo.stats
    np.testing.assert_allclose(view.input_view.values, s.x[0, 0], atol=1e-6)
    np.testing.assert_allclose(view.hat_view.values, s.x_hat[0, 0], atol=1e-6)
    np.testing.assert_allclose(view.eval_view.values, view.demo.eval_output()[0, 0], atol=1e-6)
    view.step_button.click()
    view.channel_spin.setValue(2)
    s = view.demo.stats
    assert s.step == 2
    assert f"μ = {float(s.mean[1]):.4g}" in view.numbers.text()
    assert f"= {float(s.running_mean[1]):.4g}" in view.numbers.text()
    np.testing.assert_allclose(view.train_view.values, s.y_train[0, 1], atol=1e-6)
    # γ and β change the output of the same batch, not its statistics
    view.gamma_spin.setValue(2.0)
    view.beta_spin.setValue(0.5)
    s2 = view.demo.stats
    assert s2.step == 2
    np.testing.assert_allclose(s2.mean, s.mean)
    np.testing.assert_allclose(s2.running_mean, s.running_mean)
    np.testing.assert_allclose(view.train_view.values, 2.0 * s2.x_hat[0, 1] + 0.5, atol=1e-4)
    assert len(view.batch_curve.xData) == 2


def test_the_training_lab_has_the_batch_norm_tab(make_lab):
    from gui.labs.training.lab import TrainingLab

    lab = make_lab(TrainingLab, live_views=False)
    titles = [lab.tabs.tabText(k) for k in range(lab.tabs.count())]
    assert "Batch norm" in titles
    assert lab.batchnorm_view.demo.stats is not None
