"""Kernel fitting lab: the gradient shown beside the learned kernel is ∂loss/∂w = x ∗ (z − y)
(times 2/N), equal to finite differences of the loss computed by the textbook loops; the
run stops by itself on convergence or when it makes no more progress, and says so."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from engine import reference
from engine.fitting import STALL_STEPS, KernelFitter
from engine.gradcheck import numerical_gradient, relative_error
from gui.labs.fitting.explain import COMPARISON, gradient_by_definition, gradient_text
from gui.labs.fitting.lab import PADDING, FittingLab
from gui.labs.fitting.settings import SPEEDS


@pytest.fixture
def lab(make_lab):
    return make_lab(FittingLab)


def textbook_loss(image, kernel, target):
    z = reference.conv2d_forward(image[None, None], kernel[None, None], np.zeros(1), 1,
                                 PADDING)[0, 0]
    return np.mean((z - target) ** 2)


def finite_difference_gradient(image, kernel, target, h=1e-6):
    grad = np.zeros_like(kernel)
    for u in range(kernel.shape[0]):
        for v in range(kernel.shape[1]):
            plus, minus = kernel.copy(), kernel.copy()
            plus[u, v] += h
            minus[u, v] -= h
            grad[u, v] = (textbook_loss(image, plus, target)
                          - textbook_loss(image, minus, target)) / (2 * h)
    return grad


@given(st.integers(4, 12), st.integers(4, 12), st.integers(1, 4), st.integers(1, 4),
       st.integers(0, 10**6))
@hyp_settings(max_examples=40, deadline=None)
def test_the_gradient_by_definition_equals_finite_differences(H, W, KH, KW, seed):
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 1, size=(H, W))
    kernel = rng.normal(size=(KH, KW))
    target = rng.normal(size=(H - KH + 1, W - KW + 1))
    grad = gradient_by_definition(image, kernel, target)
    numeric = finite_difference_gradient(image, kernel, target)
    assert relative_error(grad, numeric) < 1e-6


def test_the_lab_shows_the_gradient_of_the_current_kernel_at_every_step(lab):
    f = lab.fitter
    for _ in range(3):
        shown = lab.shown_gradient()
        numeric = numerical_gradient(lambda k: np.array(f.loss_at(k)), f.kernel,
                                     np.array(1.0))
        assert relative_error(shown, numeric) < 1e-6
        np.testing.assert_allclose(shown, gradient_by_definition(f.image, f.kernel, f.target),
                                   rtol=1e-9, atol=1e-15)
        lab.run_steps(7)
    # one weight written out with this step's numbers, the value the view shows
    lab.gradient_view.cell_clicked.emit(0, 2)
    text = lab.gradient_label.text()
    assert "∂loss/∂w13 = 2/N · Σ x·(z − y) = 2/3844" in text
    assert text.endswith(f"= {lab.shown_gradient()[0, 2]:.4g}".replace("-", "−"))


def test_gradient_text_writes_the_numbers():
    image = np.arange(16, dtype=float).reshape(4, 4)
    kernel = np.zeros((3, 3))
    target = np.ones((2, 2))
    value = gradient_by_definition(image, kernel, target)[0, 0]
    # z = 0, z − y = −1 everywhere: Σ x·(z − y) = −(0 + 1 + 4 + 5) = −10; 2/4 · −10 = −5
    assert value == -5
    assert gradient_text(image, kernel, target, 0, 0, value) == (
        "∂loss/∂w11 = 2/N · Σ x·(z − y) = 2/4 · (−10) = −5")


def test_the_comparison_table_has_the_courses_rows(lab):
    names = [row[0] for row in COMPARISON]
    assert names[:4] == ["samples x", "labels y", "parameters", "prediction z"]
    html = lab.comparison_label.text()
    assert "line fitting" in html and "z = x ∗ w" in html and "z = x·w + b" in html


def test_a_run_that_converges_stops_by_itself_and_says_so(lab, qtbot):
    # an identity target on a digit: the loss falls under the threshold within a few
    # thousand steps (7 s at 400 steps a second)
    lab.settings.apply(source="digit", digit=3, target="identity", lr=0.5, speed=SPEEDS[-1])
    with qtbot.waitSignal(lab.status_message, timeout=60_000,
                          check_params_cb=lambda text: "Converged" in text):
        lab.play()
    assert not lab.is_playing
    assert lab.fitter.stop_reason() == "converged"
    assert "converged" in lab.info_label.text()


def test_a_run_without_progress_stops_by_itself_and_says_so(lab):
    f = lab.fitter
    # a learning rate this small crawls: after STALL_STEPS steps the loss has hardly moved
    fitter = KernelFitter(f.image, f.target_kernel, lr=1e-9, padding=PADDING)
    fitter.run(STALL_STEPS + 2)
    assert fitter.stop_reason() == "stalled"
    lab.fitter = fitter
    lab.run_steps(1)
    assert fitter.iteration == STALL_STEPS + 2  # no step was taken
    assert "no more progress" in lab.info_label.text()
