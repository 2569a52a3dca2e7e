"""KernelFitter: its gradient against finite differences and a hand-written formula, and
gradient descent that really recovers a known kernel from a real image."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import GeometryError, reference
from engine.data import load_embedded_mnist
from engine.fitting import KernelFitter
from engine.gallery import KERNELS
from engine.gradcheck import numerical_gradient, relative_error

# the course's horizontal edge (CURRICULUM.md, kernel 6: 0 -1 0 / 0 2 0 / 0 -1 0)
HORIZONTAL_EDGE = np.array([[0, -1, 0], [0, 2, 0], [0, -1, 0]], dtype=np.float64)


@pytest.fixture(scope="module")
def digit():
    images, labels = load_embedded_mnist()
    return images[0].astype(np.float64) / 255.0  # (28, 28) in [0, 1]


def finite_difference_gradient(fitter):
    kernel = fitter.kernel  # a private copy, perturbed in place by numerical_gradient
    return numerical_gradient(lambda k: np.array(fitter.loss_at(k)), kernel, np.array(1.0))


def test_gallery_has_the_kernel_the_lab_fits_by_default():
    np.testing.assert_array_equal(KERNELS["horizontal edge"], HORIZONTAL_EDGE)


def test_target_is_the_textbook_convolution(digit):
    fitter = KernelFitter(digit, HORIZONTAL_EDGE, lr=0.1, padding=1)
    expected = reference.conv2d_forward(digit[None, None], HORIZONTAL_EDGE[None, None],
                                        np.zeros(1), 1, 1)[0, 0]
    np.testing.assert_allclose(fitter.target, expected, rtol=1e-12, atol=1e-12)
    assert fitter.target.shape == digit.shape  # padding 1 keeps a 3x3 output the same size
    assert np.all(fitter.kernel == 0) and fitter.loss() == pytest.approx(np.mean(expected ** 2))


@settings(max_examples=25, deadline=None)
@given(h=st.integers(3, 9), w=st.integers(3, 9), kh=st.integers(1, 3), kw=st.integers(1, 3),
       padding=st.integers(0, 1), seed=st.integers(0, 10_000))
def test_gradient_matches_finite_differences(h, w, kh, kw, padding, seed):
    rng = np.random.default_rng(seed)
    image = rng.uniform(-1, 1, size=(h, w))
    target_kernel = rng.normal(size=(kh, kw))
    fitter = KernelFitter(image, target_kernel, lr=0.05, seed=seed, init="random",
                          padding=padding)
    fitter.run(2)  # somewhere along the way, not only at the start
    analytic = fitter.gradient()
    numeric = finite_difference_gradient(fitter)
    assert analytic.shape == (kh, kw)
    assert relative_error(analytic, numeric) < 1e-7


def test_gradient_matches_the_written_out_formula():
    """d/dw[u,v] mean((y - t)^2) = 2/N * sum_ij (y - t)[i, j] * padded[i + u, j + v]."""
    rng = np.random.default_rng(3)
    image = rng.uniform(0, 1, size=(7, 6))
    fitter = KernelFitter(image, HORIZONTAL_EDGE, lr=0.1, init="random", seed=1, padding=1)
    residual = fitter.output - fitter.target  # (HO, WO)
    padded_input = np.pad(image, 1)
    HO, WO = residual.shape
    expected = np.empty((3, 3))
    for u in range(3):
        for v in range(3):
            expected[u, v] = 2.0 / residual.size * np.sum(
                residual * padded_input[u:u + HO, v:v + WO])
    np.testing.assert_allclose(fitter.gradient(), expected, rtol=1e-12, atol=1e-14)


def test_step_is_one_gradient_descent_step():
    rng = np.random.default_rng(5)
    fitter = KernelFitter(rng.uniform(size=(8, 8)), HORIZONTAL_EDGE, lr=0.25, init="random")
    before, grad, loss_before = fitter.kernel, fitter.gradient(), fitter.loss()
    returned = fitter.step()
    assert returned == pytest.approx(loss_before, rel=1e-15)
    np.testing.assert_allclose(fitter.kernel, before - 0.25 * grad, rtol=1e-15, atol=1e-15)
    assert fitter.history == [returned] and fitter.iteration == 1


def test_fitting_the_horizontal_edge_on_a_digit_converges(digit):
    # the course's kernel is a second difference, a direction a smooth image barely
    # excites (the loss is ill-conditioned): it takes a few thousand small steps
    fitter = KernelFitter(digit, HORIZONTAL_EDGE, lr=0.5, init="zeros")
    fitter.run(2000)
    assert fitter.status == "ok" and fitter.iteration == 2000
    first, last = fitter.history[0], fitter.loss()
    assert last < first * 1e-6  # six orders of magnitude at least
    np.testing.assert_allclose(fitter.kernel, HORIZONTAL_EDGE, atol=0.01)
    # the loss of gradient descent with a stable step never goes up
    assert np.all(np.diff(fitter.history) <= 1e-15)


def test_fitting_from_a_random_start_on_a_textured_image_converges():
    rng = np.random.default_rng(11)
    image = rng.uniform(-1, 1, size=(32, 32))  # zero-mean white noise: well conditioned
    target = KERNELS["Sobel-X"]
    fitter = KernelFitter(image, target, lr=0.5, init="random", seed=4)
    fitter.run(300)
    assert fitter.loss() < fitter.history[0] * 1e-8
    np.testing.assert_allclose(fitter.kernel, target, atol=1e-4)


def test_a_too_large_learning_rate_diverges_and_stops(digit):
    fitter = KernelFitter(digit, HORIZONTAL_EDGE, lr=5.0)
    fitter.run(200)
    assert fitter.status == "diverged"
    assert fitter.iteration < 200
    assert np.isfinite(fitter.kernel).all()
    kernel, history = fitter.kernel, list(fitter.history)
    assert math.isnan(fitter.step())  # further steps change nothing
    np.testing.assert_array_equal(fitter.kernel, kernel)
    assert fitter.history == history


def test_same_seed_same_run_and_reset(digit):
    a = KernelFitter(digit, HORIZONTAL_EDGE, lr=0.3, init="random", seed=7)
    b = KernelFitter(digit, HORIZONTAL_EDGE, lr=0.3, init="random", seed=7)
    start = a.kernel
    assert not np.all(start == 0)
    a.run(20)
    b.run(20)
    assert a.history == b.history
    a.reset()
    np.testing.assert_array_equal(a.kernel, start)
    assert a.history == [] and a.iteration == 0 and a.status == "ok"


@pytest.mark.parametrize("kwargs, match", [
    ({"image": np.zeros((2, 3, 4))}, "2-D"),
    ({"target_kernel": np.zeros(3)}, "2-D"),
    ({"lr": 0.0}, "positive"),
    ({"lr": float("nan")}, "positive"),
    ({"init": "ones"}, "init"),
    ({"image": np.full((5, 5), np.inf)}, "finite"),
])
def test_bad_arguments_are_explained(kwargs, match):
    args = {"image": np.ones((5, 5)), "target_kernel": HORIZONTAL_EDGE, "lr": 0.1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        KernelFitter(**args)


def test_a_kernel_larger_than_the_image_is_a_geometry_error():
    with pytest.raises(GeometryError):
        KernelFitter(np.ones((2, 2)), np.ones((5, 5)), padding=0)
