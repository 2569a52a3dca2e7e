"""Losses against their formulas and finite differences; optimizers against hand-derived steps."""

import numpy as np
import pytest

from engine.gradcheck import numerical_gradient, relative_error
from engine.losses import mse, softmax, softmax_cross_entropy
from engine.optim import SGD, Adam, Momentum, make_optimizer

# ----------------------------------------------------------------- losses


def test_cross_entropy_of_uniform_logits_is_log_k():
    loss, _ = softmax_cross_entropy(np.zeros((3, 10)), np.array([0, 4, 9]))
    assert loss == pytest.approx(np.log(10))


def test_cross_entropy_matches_naive_formula():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 5))
    labels = np.array([0, 3, 4, 1])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(p[np.arange(4), labels]))
    loss, dlogits = softmax_cross_entropy(logits, labels)
    assert loss == pytest.approx(expected, rel=1e-12)
    onehot = np.eye(5)[labels]
    np.testing.assert_allclose(dlogits, (p - onehot) / 4, rtol=1e-12)


def test_cross_entropy_gradient_by_finite_differences():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((3, 4))
    labels = np.array([2, 0, 3])
    _, dlogits = softmax_cross_entropy(logits, labels)
    numeric = numerical_gradient(lambda z: np.array(softmax_cross_entropy(z, labels)[0]),
                                 logits, np.array(1.0))
    assert relative_error(dlogits, numeric) < 1e-7


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4 + 2.0, -1e4]], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        loss, dlogits = softmax_cross_entropy(logits, np.array([1, 1]))
    # row 0: the correct class is 1e4 below the winner -> loss 1e4; row 1: log(1 + 2 e^-2)
    expected = (1e4 + np.log1p(2 * np.exp(-2.0))) / 2
    assert loss == pytest.approx(expected, rel=1e-5)
    assert np.all(np.isfinite(dlogits)) and dlogits.dtype == np.float32


def test_cross_entropy_rejects_bad_labels():
    with pytest.raises(ValueError, match="0..2"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="whole numbers"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="shape"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2]))


def test_softmax_rows_sum_to_one():
    p = softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.25, 0.75]])


def test_mse_value_and_gradient():
    rng = np.random.default_rng(2)
    pred, target = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    loss, dpred = mse(pred, target)
    assert loss == pytest.approx(np.sum((pred - target) ** 2) / 6)
    numeric = numerical_gradient(lambda p: np.array(mse(p, target)[0]), pred, np.array(1.0))
    assert relative_error(dpred, numeric) < 1e-7
    with pytest.raises(ValueError, match="same shape"):
        mse(pred, target[:1])


def test_mse_keeps_float32():
    _, d = mse(np.ones(3, np.float32), np.zeros(3))
    assert d.dtype == np.float32


# ----------------------------------------------------------------- optimizers


def test_sgd_one_step_by_hand():
    p = np.array([1.0, 2.0])
    SGD(0.1).step([p], [np.array([0.5, -1.0])])
    np.testing.assert_allclose(p, [0.95, 2.1])


def test_momentum_two_steps_by_hand():
    p = np.array([1.0])
    opt = Momentum(0.1, momentum=0.9)
    opt.step([p], [np.array([2.0])])   # v = -0.2, p = 0.8
    np.testing.assert_allclose(p, [0.8])
    opt.step([p], [np.array([1.0])])   # v = 0.9 * -0.2 - 0.1 = -0.28, p = 0.52
    np.testing.assert_allclose(p, [0.52])


def test_adam_two_steps_by_hand():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    p = np.array([1.0, -1.0])
    opt = Adam(lr, b1, b2, eps)
    g1, g2 = np.array([0.5, -2.0]), np.array([1.0, 1.0])
    opt.step({"p": p}, {"p": g1})
    # step 1: m_hat = g, v_hat = g^2 -> p -= lr * g / (|g| + eps) ~ lr * sign(g)
    np.testing.assert_allclose(p, [1.0 - lr * 0.5 / (0.5 + eps), -1.0 + lr * 2.0 / (2.0 + eps)])
    p1 = p.copy()
    opt.step({"p": p}, {"p": g2})
    m = b1 * (1 - b1) * g1 + (1 - b1) * g2
    v = b2 * (1 - b2) * g1 ** 2 + (1 - b2) * g2 ** 2
    m_hat, v_hat = m / (1 - b1 ** 2), v / (1 - b2 ** 2)
    np.testing.assert_allclose(p, p1 - lr * m_hat / (np.sqrt(v_hat) + eps), rtol=1e-12)


def test_learning_rate_is_mutable_between_steps():
    p = np.array([1.0])
    opt = SGD(0.1)
    opt.step([p], [np.array([1.0])])
    opt.lr = 0.5
    opt.step([p], [np.array([1.0])])
    np.testing.assert_allclose(p, [1.0 - 0.1 - 0.5])


def test_state_is_kept_per_parameter():
    a, b = np.array([0.0]), np.array([0.0])
    opt = Momentum(1.0, momentum=0.5)
    opt.step([a, b], [np.array([1.0]), np.array([0.0])])
    opt.step([a, b], [np.array([0.0]), np.array([0.0])])
    np.testing.assert_allclose(a, [-1.5])   # velocity -1 then -0.5
    np.testing.assert_allclose(b, [0.0])


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_updates_keep_float32_and_update_in_place(name):
    p = np.ones((2, 3), np.float32)
    ident = id(p)
    make_optimizer(name, 0.01).step([p], [np.full((2, 3), 0.5, np.float32)])
    assert p.dtype == np.float32 and id(p) == ident
    assert np.all(p < 1.0)


def test_make_optimizer_names_and_errors():
    assert isinstance(make_optimizer("sgd", 0.1), SGD)
    assert isinstance(make_optimizer("Momentum", 0.1), Momentum)
    opt = make_optimizer("adam", 1e-3)
    assert isinstance(opt, Adam) and opt.lr == 1e-3
    with pytest.raises(ValueError, match="sgd, momentum, adam"):
        make_optimizer("rmsprop", 0.1)
    with pytest.raises(ValueError, match="positive"):
        make_optimizer("sgd", -1)


def test_mismatched_params_and_grads_raise():
    with pytest.raises(ValueError):
        SGD(0.1).step([np.ones(2)], [np.ones(3)])
    with pytest.raises(ValueError):
        SGD(0.1).step([np.ones(2)], [np.ones(2), np.ones(2)])
    with pytest.raises(ValueError):
        SGD(0.1).step({"a": np.ones(2)}, {"b": np.ones(2)})
