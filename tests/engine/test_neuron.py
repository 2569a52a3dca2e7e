"""One neuron's computation (engine.neuron) against the engine's forward and backward
passes and the textbook loops of engine/reference.py, on random networks of every
layer type the builder makes."""

from __future__ import annotations

import numpy as np
import pytest
from netgen import random_network

from engine import reference
from engine.losses import softmax, softmax_cross_entropy
from engine.network import Network
from engine.neuron import (
    ActivationCell,
    BatchNormCell,
    ConvCell,
    DenseCell,
    FlattenCell,
    InputCell,
    Neuron,
    PoolCell,
    explain,
    explain_delta,
    layer_input,
)


def _pass(net, x, label):
    """Per-sample activations, deltas and the input's gradient from the engine."""
    logits, caches, acts = net.forward_pure(x[None], training=False)
    _, dlogits = softmax_cross_entropy(logits, np.array([label]))
    dx, _, deltas = net.backward_pure(dlogits, caches)
    return ([a[0] for a in acts], [d[0] for d in deltas], dx[0], softmax(logits)[0])


def _cells(rng, shape, count=3):
    return [tuple(int(rng.integers(n)) for n in shape) for _ in range(count)]


def _reference_output(layer, inp):
    """The layer's output for one sample (C, H, W) by the textbook loops (float64)."""
    x = inp[None]
    if layer.type == "conv":
        return reference.conv2d_forward(x, np.float64(layer.params["w"]),
                                        np.float64(layer.params["b"]), layer.stride,
                                        layer.padding)[0]
    if layer.type == "maxpool":
        return reference.max_pool2d_forward(x, layer.size, layer.stride)[0][0]
    if layer.type == "avgpool":
        return reference.avg_pool2d_forward(x, layer.size, layer.stride)[0]
    return None


@pytest.mark.parametrize("seed", range(40))
def test_every_number_is_the_engines_forward_pass(seed):
    rng = np.random.default_rng(seed)
    net = random_network(seed)
    x = rng.uniform(0.0, 1.0, net.input_shape).astype(np.float32)
    acts, _, _, probs = _pass(net, x, 0)
    for k, layer in enumerate(net.layers):
        inp = np.float64(layer_input(x, acts, k))
        ref = _reference_output(layer, inp)
        for index in _cells(rng, acts[k].shape):
            cell = explain(net, x, acts, Neuron(k, index), probs)
            assert cell.value == pytest.approx(float(acts[k][index]))
            assert cell.layer == k and cell.name == layer.name and cell.type == layer.type
            total = getattr(cell, "total", cell.value)
            assert total == pytest.approx(cell.value, rel=1e-4, abs=1e-5)
            if ref is not None:
                assert total == pytest.approx(ref[index], rel=1e-9, abs=1e-12)
            _check_cell(net, layer, cell, inp, acts, k, index)


def _check_cell(net, layer, cell, inp, acts, k, index):
    if isinstance(cell, ConvCell):
        f, i, j = index
        (KH, KW), (SH, SW), (PH, PW) = layer.kernel, layer.stride, layer.padding
        padded = np.pad(inp, ((0, 0), (PH, PH), (PW, PW)))
        window = padded[:, i * SH:i * SH + KH, j * SW:j * SW + KW]
        assert np.array_equal(cell.window, window)
        assert np.array_equal(cell.kernel, np.float64(layer.params["w"][f]))
        mask = np.pad(np.zeros(inp.shape[1:], bool), ((PH, PH), (PW, PW)),
                      constant_values=True)[i * SH:i * SH + KH, j * SW:j * SW + KW]
        assert np.array_equal(cell.padding, mask)
        assert (cell.top, cell.left) == (i * SH - PH, j * SW - PW)
        np.testing.assert_allclose(cell.channel_sums, (window * cell.kernel).sum(axis=(1, 2)))
        assert cell.bias == float(layer.params["b"][f])
        # each channel's partial sum: the same layer with only that channel's kernel
        for c in range(inp.shape[0]):
            w = np.zeros_like(np.float64(layer.params["w"][f:f + 1]))
            w[0, c] = layer.params["w"][f, c]
            one = reference.conv2d_forward(inp[None], w, np.zeros(1), layer.stride,
                                           layer.padding)[0, 0, i, j]
            assert cell.channel_sums[c] == pytest.approx(one, rel=1e-9, abs=1e-12)
    elif isinstance(cell, PoolCell):
        c, i, j = index
        (KH, KW), (SH, SW) = layer.size, layer.stride
        window = inp[c, i * SH:i * SH + KH, j * SW:j * SW + KW]
        assert np.array_equal(cell.window, window)
        if layer.type == "maxpool":
            _, argmax = reference.max_pool2d_forward(inp[None], layer.size, layer.stride)
            flat = int(argmax[0, c, i, j])  # row * W + col in the input plane
            assert (cell.top + cell.argmax[0], cell.left + cell.argmax[1]) == \
                divmod(flat, inp.shape[2])
        else:
            assert cell.argmax is None
    elif isinstance(cell, BatchNormCell):
        c = index[0]
        assert cell.x == inp[index]
        assert cell.mean == float(layer.buffers["running_mean"][c])
        assert cell.var == float(layer.buffers["running_var"][c])
        assert (cell.gamma, cell.beta) == (float(layer.params["gamma"][c]),
                                           float(layer.params["beta"][c]))
    elif isinstance(cell, ActivationCell):
        assert cell.x == inp[index]
    elif isinstance(cell, FlattenCell):
        assert inp[cell.source] == pytest.approx(cell.value)
        assert np.ravel_multi_index(cell.source, inp.shape) == index[0]
    elif isinstance(cell, DenseCell):
        kk = index[0]
        np.testing.assert_array_equal(cell.inputs, inp)
        np.testing.assert_array_equal(cell.weights, np.float64(layer.params["w"][:, kk]))
        order = cell.order
        assert np.all(np.diff(np.abs(cell.contributions[order])) <= 0)
        assert cell.total == pytest.approx(float(inp @ cell.weights) + cell.bias)
        if k == len(net.layers) - 1:
            assert cell.probability is not None
        before = net.layers[k - 1]
        if before.type == "flatten":
            flat_in = np.float64(layer_input(None, acts, k - 1)) if k > 1 else None
            if flat_in is not None:
                d = int(order[0])
                assert flat_in[cell.source_of(d)] == pytest.approx(inp[d])
    # the pointwise layers after it, at the same cell
    for offset, (name, kind, value) in enumerate(cell.after, start=1):
        assert net.layers[k + offset].name == name and net.layers[k + offset].type == kind
        assert value == float(acts[k + offset][index])


def test_input_pixel_and_bad_neurons():
    net = random_network(3)
    x = np.random.default_rng(0).uniform(size=net.input_shape).astype(np.float32)
    acts, _, _, _ = _pass(net, x, 1)
    cell = explain(net, x, acts, Neuron(-1, (0, 2, 3)))
    assert isinstance(cell, InputCell) and cell.value == float(x[0, 2, 3])
    with pytest.raises(IndexError):
        explain(net, x, acts, Neuron(len(net.layers), (0,)))
    with pytest.raises(IndexError):
        explain(net, x, acts, Neuron(0, (999, 0, 0)))
    with pytest.raises(IndexError):
        explain(net, x, acts, Neuron(0, (0,)))


@pytest.mark.parametrize("seed", range(40))
def test_delta_terms_add_up_to_the_engines_backward_pass(seed):
    rng = np.random.default_rng(100 + seed)
    net = random_network(100 + seed)
    x = rng.uniform(0.0, 1.0, net.input_shape).astype(np.float32)
    label = int(rng.integers(net.num_classes))
    acts, deltas, dx, probs = _pass(net, x, label)
    for k in range(-1, len(net.layers)):
        shape = net.input_shape if k == -1 else acts[k].shape
        for index in _cells(rng, shape, 2):
            cell = explain_delta(net, x, acts, deltas, Neuron(k, index), probs, label, dx)
            own = dx if k == -1 else deltas[k]
            assert cell.delta == pytest.approx(float(own[index]))
            scale = max(1e-6, float(np.abs(own).max()))
            assert cell.total == pytest.approx(cell.delta, rel=1e-3, abs=1e-5 * scale)
            if cell.from_loss:
                assert k == len(net.layers) - 1
                assert cell.delta == pytest.approx(cell.probability - cell.target, abs=1e-6)
                continue
            nxt = net.layers[k + 1]
            assert cell.next_name == nxt.name
            for t in cell.terms:
                assert t.layer == k + 1
                assert t.delta == float(deltas[k + 1][t.index])
            assert list(cell.terms) == sorted(cell.terms, key=lambda t: -abs(t.product))
            _check_terms(nxt, cell, acts, x, deltas, k)


def _check_terms(nxt, cell, acts, x, deltas, k):
    inp = np.float64(acts[k] if k >= 0 else x)
    out_delta = np.float64(deltas[k + 1])
    if nxt.type == "conv":
        # the textbook backward pass of that conv alone gives the same dx at the cell
        dx, _, _ = reference.conv2d_backward(out_delta[None], inp[None],
                                             np.float64(nxt.params["w"]), nxt.stride,
                                             nxt.padding)
        assert cell.total == pytest.approx(dx[(0, *cell.index)], rel=1e-9, abs=1e-12)
        for t in cell.terms:
            assert t.factor == float(nxt.params["w"][t.weight])
            f, c, u, v = t.weight
            assert c == cell.index[0] and t.index[0] == f
    elif nxt.type == "maxpool":
        _, argmax = reference.max_pool2d_forward(inp[None], nxt.size, nxt.stride)
        dx = reference.max_pool2d_backward(out_delta[None], argmax, inp[None].shape)
        assert cell.total == pytest.approx(dx[(0, *cell.index)], rel=1e-9, abs=1e-12)
        assert all(t.factor == 1.0 and t.what == "max" for t in cell.terms)
    elif nxt.type == "avgpool":
        dx = reference.avg_pool2d_backward(out_delta[None], inp[None].shape, nxt.size,
                                           nxt.stride)
        assert cell.total == pytest.approx(dx[(0, *cell.index)], rel=1e-9, abs=1e-12)
    elif nxt.type == "dense":
        expected = float(out_delta @ np.float64(nxt.params["w"][cell.index[0]]))
        assert cell.total == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert cell.reads == out_delta.shape[0]


def test_the_default_network_by_hand():
    # conv 16 - relu - pool - conv 32 - relu - pool - dense: a conv2 cell reads 16
    # channels of 3x3 windows; its delta comes from relu2 (slope 0 or 1)
    from engine.recipe import DEFAULT_SPEC
    net = Network(DEFAULT_SPEC, seed=1)
    x = np.random.default_rng(1).uniform(size=(1, 28, 28)).astype(np.float32)
    acts, deltas, dx, probs = _pass(net, x, 3)
    cell = explain(net, x, acts, Neuron(3, (5, 0, 0)))
    assert cell.window.shape == (16, 3, 3) and cell.padding[0].all() and cell.padding[:, 0].all()
    assert cell.after[0][1] == "relu" and cell.after[0][2] == max(cell.value, 0.0)
    out = explain(net, x, acts, Neuron(7, (3,)), probs)
    assert out.probability == pytest.approx(float(probs[3]))
    assert len(out.inputs) == 32 * 7 * 7 and out.source_shape == (32, 7, 7)
    back = explain_delta(net, x, acts, deltas, Neuron(3, (5, 0, 0)), probs, 3, dx)
    assert back.next_type == "relu" and back.reads == 1
    assert len(back.terms) == (1 if acts[3][5, 0, 0] > 0 else 0)
    logit = explain_delta(net, x, acts, deltas, Neuron(7, (3,)), probs, 3, dx)
    assert logit.from_loss and logit.target == 1.0
    assert logit.delta == pytest.approx(float(probs[3]) - 1.0, abs=1e-6)
