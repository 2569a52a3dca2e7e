"""Engine input that is not what the kernels compute with is refused with a sentence,
before any work: arrays that do not hold real numbers, yes/no values or fractions as
sizes, and geometry whose cost runs away (issue 9, item 16)."""

import datetime

import numpy as np
import pytest

import engine
from engine import GeometryError, geometry
from engine.layers import Sigmoid, SpatialBatchNorm, Tanh
from engine.network import Network

X = np.zeros((1, 1, 4, 4))
W = np.zeros((1, 1, 3, 3))
B = np.zeros(1)


def _not_real():
    """(array, words in the sentence) for every kind of array that is not real numbers."""
    return [
        (np.zeros((1, 1, 4, 4), complex) + 1j, "complex numbers"),
        (np.full((1, 1, 4, 4), "7"), "text"),
        (np.full((1, 1, 4, 4), b"7"), "text"),
        (np.full((1, 1, 4, 4), np.datetime64("2024-01-01")), "dates"),
        (np.full((1, 1, 4, 4), np.timedelta64(3, "s")), "time spans"),
        (np.full((1, 1, 4, 4), 1.0, dtype=object), "Python objects"),
        (np.full((1, 1, 4, 4), datetime.date(2024, 1, 1), dtype=object), "Python objects"),
    ]


@pytest.mark.parametrize("bad, words", _not_real(), ids=lambda v: getattr(v, "dtype", v))
def test_arrays_that_are_not_real_numbers_are_refused(bad, words):
    calls = [
        lambda: engine.conv2d_forward(bad, W, B),
        lambda: engine.conv2d_forward(X, bad[:, :, :3, :3], B),            # the kernels
        lambda: engine.conv2d_forward(X, W, bad.reshape(-1)[:1]),          # the bias
        lambda: engine.conv2d_backward(bad[:, :, :2, :2], X, W),           # the upstream gradient
        lambda: engine.conv2d_backward(np.zeros((1, 1, 2, 2)), bad, W),
        lambda: engine.max_pool2d_forward(bad),
        lambda: engine.avg_pool2d_forward(bad),
        lambda: engine.max_pool2d_backward(bad[:, :, :2, :2], np.zeros((1, 1, 2, 2), int),
                                           (1, 1, 4, 4)),
        lambda: engine.avg_pool2d_backward(bad[:, :, :2, :2], (1, 1, 4, 4)),
        lambda: engine.dense_forward(bad[0, 0], np.zeros((4, 2)), np.zeros(2)),
        lambda: engine.dense_backward(bad[0, 0, :, :2], np.zeros((4, 3)), np.zeros((3, 2))),
        lambda: Sigmoid().forward(bad),
        lambda: Tanh().forward(bad),
        lambda: SpatialBatchNorm(1).forward(bad, training=True),
        lambda: Network([{"type": "flatten"}, {"type": "dense", "units": 2}],
                        input_shape=(1, 4, 4)).forward(bad),
    ]
    from engine.activations import relu_backward, relu_forward
    calls += [lambda: relu_forward(bad), lambda: relu_backward(bad, np.zeros(bad.shape))]
    for call in calls:
        with pytest.raises(GeometryError, match=f"{words}.*real numbers only"):
            call()


def test_bool_and_integer_arrays_are_still_computed_in_float64():
    x = np.ones((1, 1, 4, 4), bool)
    y = engine.conv2d_forward(x, np.ones((1, 1, 3, 3), np.int8), np.zeros(1, np.uint8))
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, np.full((1, 1, 2, 2), 9.0))


@pytest.mark.parametrize("value", [True, False, np.True_, np.bool_(False), (1, True),
                                   (np.True_, 2), [2, np.bool_(True)]])
def test_yes_no_values_are_not_sizes(value):
    for name in ("stride", "padding", "size"):
        with pytest.raises(GeometryError, match="whole number.*yes/no"):
            geometry.as_pair(value, name)
    with pytest.raises(GeometryError, match="yes/no"):
        engine.conv2d_forward(X, W, B, stride=value)
    with pytest.raises(GeometryError, match="yes/no"):
        engine.max_pool2d_forward(X, size=2, stride=value)


@pytest.mark.parametrize("shape, words", [
    ((2, 3, 7.5, 9), "whole number, not 7.5"),
    ((2, 3, "7", 9), "whole number, not '7'"),
    ((2, True, 8, 9), "yes/no"),
    ((2, 3, float("nan"), 9), "whole number"),
    ((2, 3, -8, 9), "cannot be negative"),
    ((2, 3, 8), "4 dimensions"),
    (7, "a shape"),
])
def test_input_shapes_must_be_whole_numbers(shape, words):
    dout = np.zeros((2, 3, 4, 4))
    with pytest.raises(GeometryError, match=words):
        engine.max_pool2d_backward(dout, np.zeros(dout.shape, int), shape)
    with pytest.raises(GeometryError, match=words):
        engine.avg_pool2d_backward(dout, shape, 2, 2)
    with pytest.raises(GeometryError, match=words):
        geometry.check_pool(shape)


def test_whole_floats_and_numpy_integers_are_still_sizes():
    assert geometry.as_pair(np.int64(3), "k") == (3, 3)
    assert geometry.as_pair((np.float32(2.0), 1), "k") == (2, 1)
    assert geometry.check_pool((np.int32(2), 3, 8.0, 9)).output_shape == (2, 3, 4, 4)


# ----------------------------------------------------------------- runaway cost

def _zeros(shape):
    """A read-only array of zeros that takes no memory (the checks must come first)."""
    return np.broadcast_to(np.float32(0), shape)


def test_a_4000x4000_kernel_on_an_8000x8000_input_is_refused_before_any_work():
    x, w, b = _zeros((1, 1, 8000, 8000)), _zeros((1, 1, 4000, 4000)), np.zeros(1, np.float32)
    cost = 4001 * 4001 * 4000 * 4000  # outputs x products each, counted by hand
    assert f"{cost:.1e}" == "2.6e+14"
    for call in (lambda: engine.conv2d_forward(x, w, b),
                 lambda: engine.conv2d_backward(_zeros((1, 1, 4001, 4001)), x, w),
                 lambda: engine.conv2d_forward_trace(x, w, b, 1, 0)):
        with pytest.raises(GeometryError, match=r"about 2\.6e14 multiply-adds.*in one call"):
            call()


def test_pooling_with_runaway_cost_is_refused():
    with pytest.raises(GeometryError, match=r"pooling needs about 2\.6e14 steps"):
        engine.max_pool2d_forward(_zeros((1, 1, 8000, 8000)), size=4000, stride=1)
    with pytest.raises(GeometryError, match="would hold"):
        engine.max_pool2d_backward(np.zeros((1, 1, 1, 1)), np.zeros((1, 1, 1, 1), int),
                                   (100_000, 1000, 100, 100))


def test_the_cost_limit_is_a_documented_boundary():
    limit = geometry.MAX_MULTIPLY_ADDS
    # 1x1 kernels: cost = N * F * H * W * C; F*H*W = 2e7 outputs, C = limit / 2e7
    C = limit // (2000 * 100 * 100)
    assert C * 2000 * 100 * 100 == limit
    geometry.check_conv((1, C, 100, 100), (2000, C, 1, 1))      # exactly the limit: accepted
    with pytest.raises(GeometryError, match="multiply-adds"):
        geometry.check_conv((1, C + 1, 100, 100), (2000, C + 1, 1, 1))


def test_the_backward_scratch_is_bounded_too():
    # a 401x401 kernel with padding 200 on a 4x4 input: a 4x4 output, but the 64 filters'
    # delta maps are laid on the 404x404 padded grid: 64 * 1000 * 404^2 numbers
    x, w = _zeros((1000, 1, 4, 4)), _zeros((64, 1, 401, 401))
    dout = _zeros((1000, 64, 4, 4))
    with pytest.raises(GeometryError, match="working memory would hold"):
        engine.conv2d_backward(dout, x, w, 1, 200)
