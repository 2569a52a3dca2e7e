"""Trainer: learning, determinism, divergence, evaluation, snapshots that do not disturb."""

import copy

import numpy as np
import pytest

from engine.geometry import GeometryError
from engine.losses import softmax, softmax_cross_entropy
from engine.network import Network
from engine.optim import SGD
from engine.training import Trainer, shift_images

SPEC = [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
        {"type": "batchnorm"},
        {"type": "relu"},
        {"type": "maxpool", "size": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 2}]
SHAPE = (1, 8, 8)


def _bars(n, seed):
    """Class 0: a vertical bar, class 1: a horizontal bar, at random positions, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.uniform(0, 0.3, (n, *SHAPE)).astype(np.float32)
    pos = rng.integers(1, 7, n)
    for i in range(n):
        if y[i] == 0:
            x[i, 0, :, pos[i]] = 1.0
        else:
            x[i, 0, pos[i], :] = 1.0
    return x, y


def _trainer(seed=0, net_seed=0, **kw):
    tx, ty = _bars(48, 1)
    vx, vy = _bars(32, 2)
    kw.setdefault("batch_size", 16)
    kw.setdefault("lr", 0.01)
    return Trainer(Network(SPEC, SHAPE, seed=net_seed), tx, ty, vx, vy, seed=seed, **kw)


def test_loss_decreases_and_validation_accuracy_rises():
    t = _trainer()
    before = t.evaluate()
    losses = [t.step().loss for _ in range(30)]
    after = t.evaluate()
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3])
    assert after.loss < 0.5 * before.loss
    assert after.accuracy >= 0.9


def test_same_seed_gives_identical_losses_and_weights():
    a, b = _trainer(seed=3, augment=True), _trainer(seed=3, augment=True)
    la = [a.step().loss for _ in range(8)]
    lb = [b.step().loss for _ in range(8)]
    assert la == lb
    for pa, pb in zip(a.network.parameters(), b.network.parameters(), strict=True):
        np.testing.assert_array_equal(pa, pb)
    c = _trainer(seed=4, augment=True)
    assert [c.step().loss for _ in range(8)] != la


def test_epoch_bookkeeping_and_every_sample_once_per_epoch():
    t = _trainer(batch_size=20)  # 48 samples: batches 20, 20, 8
    assert t.iterations_per_epoch == 3
    seen = []
    forward = t.network.forward

    def spy(x, training=False):
        if training:
            seen.append(x.copy())
        return forward(x, training)

    t.network.forward = spy
    results = [t.step() for _ in range(4)]
    assert [r.iteration for r in results] == [1, 2, 3, 4]
    assert [r.epoch for r in results] == [0, 0, 0, 1]
    assert [r.epoch_progress for r in results] == pytest.approx([20 / 48, 40 / 48, 1.0, 20 / 48])
    assert t.epoch == 1 and t.iteration == 4
    first_epoch = np.concatenate(seen[:3]).reshape(48, -1)
    expected = t.train_x.reshape(48, -1)
    assert sorted(map(bytes, first_epoch)) == sorted(map(bytes, expected))


def test_changing_the_learning_rate_between_steps():
    t = _trainer(optimizer="sgd")
    t.optimizer.lr = 0.0
    before = t.network.get_state()
    t.step()
    after = t.network.get_state()
    for key in before:
        if not key.endswith(("running_mean", "running_var")):
            np.testing.assert_array_equal(after[key], before[key])
    assert isinstance(t.optimizer, SGD)


def test_huge_learning_rate_diverges_and_keeps_last_good_weights():
    # without batch norm nothing caps the activations: the logits overflow to inf
    tx, ty = _bars(48, 1)
    net = Network([layer for layer in SPEC if layer["type"] != "batchnorm"], SHAPE)
    t = Trainer(net, tx, ty, tx, ty, optimizer="sgd", lr=1e30, batch_size=16)
    starts = []
    for _ in range(20):
        starts.append(t.network.get_state())
        result = t.step()
        if result.status == "diverged":
            break
    assert result.status == "diverged" and t.status == "diverged"
    restored = t.network.get_state()
    # the last weights that gave a sane loss: those this step started from if only the
    # update broke them, else (a NaN or blown-up loss) those the previous step started from
    loss_was_sane = np.isfinite(result.loss) and result.loss <= t.loss_limit
    good = starts[-1] if loss_was_sane else starts[-2]
    for k, v in good.items():
        np.testing.assert_array_equal(restored[k], v)
    assert np.isnan(result.accuracy) or np.isfinite(result.loss)
    assert all(np.all(np.isfinite(v)) for v in restored.values())
    # further steps do nothing
    again = t.step()
    assert again.status == "diverged" and again.iteration == result.iteration
    for k, v in t.network.get_state().items():
        np.testing.assert_array_equal(v, restored[k])


def test_a_loss_far_above_chance_level_counts_as_diverged():
    # a stable cross-entropy stays finite however large the logits: the limit catches it
    tx, ty = _bars(48, 1)
    net = Network([layer for layer in SPEC if layer["type"] != "batchnorm"], SHAPE)
    t = Trainer(net, tx, ty, tx, ty, optimizer="sgd", lr=0.1, batch_size=16)
    assert t.loss_limit == pytest.approx(10 * np.log(net.num_classes))
    before = t.network.get_state()
    t.network.parameters()[-1][...] = 1e6  # the output bias: logits of +-1e6, a finite loss
    t.network.parameters()[-1][0] = -1e6
    result = t.step()
    assert np.isfinite(result.loss) and result.loss > t.loss_limit
    assert result.status == "diverged"
    # the blown-up weights are dropped for the last weights that gave a sane loss
    for k, v in t.network.get_state().items():
        np.testing.assert_array_equal(v, before[k])


def test_non_finite_loss_on_first_step_restores_the_initial_weights():
    t = _trainer()
    t.train_x[:] = 3e38  # overflows float32 inside the network
    initial = t.network.get_state()
    with np.errstate(all="ignore"):
        result = t.step()
    assert result.status == "diverged"
    for k, v in t.network.get_state().items():
        np.testing.assert_array_equal(v, initial[k])


def test_evaluate_is_consistent():
    t = _trainer()
    for _ in range(3):
        t.step()
    r = t.evaluate(batch_size=7)
    np.testing.assert_array_equal(r.predictions, t.network.predict(t.val_x))
    assert r.confusion.shape == (2, 2) and r.confusion.sum() == 32
    assert r.accuracy == pytest.approx(np.trace(r.confusion) / 32)
    for true in range(2):
        for pred in range(2):
            assert r.confusion[true, pred] == np.sum((t.val_y == true) & (r.predictions == pred))
    loss, _ = softmax_cross_entropy(t.network.forward(t.val_x), t.val_y)
    assert r.loss == pytest.approx(loss, rel=1e-5)
    assert t.evaluate(t.train_x, t.train_y).confusion.sum() == 48


def test_snapshot_does_not_disturb_training():
    a, b = _trainer(seed=5), _trainer(seed=5)
    probe = a.val_x[0]
    for _ in range(3):
        a.step()
        b.step()
        grads = [g.copy() for g in a.network.gradients()]
        state = a.network.get_state()
        a.snapshot(probe, label=1)
        a.snapshot(a.val_x[1])
        for g, g2 in zip(grads, a.network.gradients(), strict=True):
            np.testing.assert_array_equal(g, g2)
        for k, v in a.network.get_state().items():
            np.testing.assert_array_equal(v, state[k])
    assert [a.step().loss for _ in range(3)] == [b.step().loss for _ in range(3)]


def test_snapshot_contents_match_an_independent_computation():
    t = _trainer()
    for _ in range(2):
        t.step()
    probe, label = t.val_x[3], 1
    snap = t.snapshot(probe, label=label)

    twin = copy.deepcopy(t.network)  # layer-by-layer forward/backward in evaluation mode
    acts, x = [], probe[None]
    for layer in twin.layers:
        x = layer.forward(x, training=False)
        acts.append(x[0])
    p = softmax(x)[0]
    delta = (p - np.eye(2)[label])[None]
    deltas = []
    for layer in reversed(twin.layers):
        deltas.append(delta[0])
        delta = layer.backward(delta)
    deltas.reverse()

    names = [layer.name for layer in t.network.layers]
    assert [n for n, _ in snap.activations] == names == [n for n, _ in snap.deltas]
    for (_, got), want in zip(snap.activations, acts, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for (_, got), want in zip(snap.deltas, deltas, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(snap.probabilities, p, rtol=1e-5)
    assert snap.label == label and snap.predicted == int(np.argmax(p))
    np.testing.assert_array_equal(snap.kernels, t.network.layers[0].params["w"])
    snap.kernels[:] = 0  # a copy: the network is unaffected
    assert np.any(t.network.layers[0].params["w"] != 0)
    assert set(snap.grad_norms) == {"conv1", "batchnorm1", "dense1"}
    assert all(v > 0 for v in snap.grad_norms.values())


def test_snapshot_without_maps_has_only_kernels_and_gradient_norms():
    t = _trainer()
    t.step()
    full, light = t.snapshot(t.val_x[0]), t.snapshot(t.val_x[0], maps=False)
    assert full.has_maps and not light.has_maps
    assert light.activations == [] and light.deltas == [] and light.probabilities.size == 0
    np.testing.assert_array_equal(light.kernels, full.kernels)
    assert light.grad_norms == full.grad_norms and light.iteration == full.iteration == 1
    with pytest.raises(GeometryError):  # the probe is still checked
        t.snapshot(t.val_x[0][:, :-1], maps=False)


def test_snapshot_without_label_uses_prediction():
    t = _trainer()
    snap = t.snapshot(t.val_x[0])
    assert snap.label == snap.predicted
    assert snap.grad_norms == {}  # no training step yet


def test_shift_images_moves_each_image_by_at_most_two_pixels():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 1.0, (20, 2, 6, 7)).astype(np.float32)
    out = shift_images(x, np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == np.float32
    found = set()
    for img, shifted in zip(x, out, strict=True):
        matches = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                want = np.zeros_like(img)
                want[:, max(dy, 0):6 + min(dy, 0), max(dx, 0):7 + min(dx, 0)] = \
                    img[:, max(-dy, 0):6 - max(dy, 0), max(-dx, 0):7 - max(dx, 0)]
                if np.array_equal(shifted, want):
                    matches.append((dy, dx))
        assert len(matches) == 1
        found.add(matches[0])
    assert len(found) > 5  # the shifts really are random


def test_bad_data_gives_clear_errors():
    net = Network(SPEC, SHAPE)
    x, y = _bars(4, 0)
    with pytest.raises(ValueError, match="labels run from"):
        Trainer(net, x, y + 5, x, y)
    with pytest.raises(ValueError, match=r"\(N, 1, 8, 8\)"):
        Trainer(net, x[:, :, :4], y, x, y)
    with pytest.raises(ValueError, match="4 images"):
        Trainer(net, x, y[:3], x, y)
    with pytest.raises(ValueError, match="batch size"):
        Trainer(net, x, y, x, y, batch_size=0)
    with pytest.raises(ValueError, match="probe"):
        Trainer(net, x, y, x, y).snapshot(x[:2])


def test_optimizer_object_and_lr_property():
    tx, ty = _bars(8, 0)
    opt = SGD(0.5)
    t = Trainer(Network(SPEC, SHAPE), tx, ty, optimizer=opt)
    assert t.optimizer is opt and t.lr == 0.5
    t.lr = 0.25
    assert opt.lr == 0.25
    with pytest.raises(ValueError, match="no validation set"):
        t.evaluate()
    assert t.evaluate(tx, ty).confusion.sum() == 8
