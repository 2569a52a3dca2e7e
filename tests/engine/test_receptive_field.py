"""Receptive fields against independent oracles, on random networks.

- Gradient oracle: the non-zero region of one neuron's gradient with respect to the
  input (and to every layer between), through the engine's own backward pass, on
  networks whose weights are all positive (no path can cancel) without max pooling
  (whose gradient reaches only the maxima).
- Perturbation oracle (max pooling too): raise one input pixel by a huge amount and
  see whether the neuron changes; with positive weights and no saturating activation
  a pixel changes the neuron exactly when the neuron reads it.
- The textbook recurrence for one unit's size on the input, checked against the
  exact field of a neuron in the middle of a large input.
"""

from __future__ import annotations

import numpy as np
import pytest
from netgen import positive_network, random_spec

from engine.network import Network
from engine.receptive_field import (
    Region,
    layer_window,
    receptive_field,
    receptive_field_growth,
)


def _random_cell(rng, shape):
    return tuple(int(rng.integers(n)) for n in shape)


def _gradients(net, x, layer, index):
    """dNeuron/d(output of every layer before it) and /d input, through the engine's
    layers' backward_pure: [d input, d out0, ..., d out(layer)]."""
    out = x[None]
    caches = []
    for k in range(layer + 1):
        out, cache = net.layers[k].forward_pure(out, training=False)
        caches.append(cache)
    delta = np.zeros_like(out)
    delta[(0, *index)] = 1.0
    grads = [delta[0]]
    for k in range(layer, -1, -1):
        delta, _ = net.layers[k].backward_pure(delta, caches[k])
        grads.append(np.asarray(delta)[0])
    return grads[::-1]


def _support(grad) -> tuple:
    """(channels, rows, cols) where the gradient is non-zero."""
    nz = grad != 0
    if nz.ndim == 1:
        return None, tuple(np.flatnonzero(nz)), (0,)
    return (tuple(np.flatnonzero(nz.any(axis=(1, 2)))),
            tuple(np.flatnonzero(nz.any(axis=(0, 2)))),
            tuple(np.flatnonzero(nz.any(axis=(0, 1)))))


def _expected(region: Region):
    channels = region.channels
    if region.spatial and channels is None:
        channels = tuple(range(region.shape[0]))
    return channels, region.rows, region.cols


@pytest.mark.parametrize("seed", range(60))
def test_field_is_the_support_of_the_gradient(seed):
    rng = np.random.default_rng(seed)
    spec, shape = random_spec(rng, pools=("avg", "none"))
    net = positive_network(spec, shape, seed)
    x = rng.uniform(0.2, 1.0, shape)  # float64: nothing underflows to zero
    for _ in range(4):
        layer = int(rng.integers(len(net.layers)))
        out_shape = tuple(net.summary()[layer].output_shape)
        index = _random_cell(rng, out_shape)
        regions = receptive_field(net, layer, index)
        grads = _gradients(net, x, layer, index)
        assert len(regions) == len(grads) == layer + 2
        for region, grad in zip(regions, grads, strict=True):
            assert region.shape == grad.shape
            channels, rows, cols = _support(grad)
            want = _expected(region)
            if grad.ndim == 1:
                assert rows == region.rows, (spec, layer, index, region.layer)
            else:
                assert (channels, rows, cols) == want, (spec, layer, index, region.layer)
            # every cell inside the product set is reached: the field has no holes
            # other than those of its row and column sets
            if grad.ndim == 3:
                chans = list(want[0])
                assert np.all(grad[np.ix_(chans, region.rows, region.cols)] != 0)


def _perturbation_support(net, x, layer, index, bump=1e6):
    """The input pixels whose change moves the neuron: one forward pass of H*W
    perturbed copies per channel."""
    C, H, W = x.shape
    base = net.forward_pure(x[None])[2][layer][(0, *index)]
    moved = np.zeros((C, H, W), dtype=bool)
    for c in range(C):
        batch = np.repeat(x[None], H * W, axis=0)
        batch.reshape(H * W, C, H * W)[np.arange(H * W), c, np.arange(H * W)] += bump
        values = net.forward_pure(batch)[2][layer][(slice(None), *index)]
        moved[c] = (values != base).reshape(H, W)
    return moved


@pytest.mark.parametrize("seed", range(25))
def test_field_is_what_moves_the_neuron_with_max_pooling(seed):
    rng = np.random.default_rng(1000 + seed)
    spec, shape = random_spec(rng, pools=("max", "avg"), activations=("relu", "none"),
                              input_hw=(10, 20))
    net = positive_network(spec, shape, seed)
    x = rng.uniform(0.2, 1.0, shape)
    layer = int(rng.integers(len(net.layers)))
    index = _random_cell(rng, tuple(net.summary()[layer].output_shape))
    region = receptive_field(net, layer, index)[0]
    moved = _perturbation_support(net, x, layer, index)
    channels = region.channels if region.channels is not None else tuple(range(shape[0]))
    expected = np.zeros(shape, dtype=bool)
    expected[np.ix_(channels, region.rows, region.cols)] = True
    assert np.array_equal(moved, expected), (spec, layer, index)


def test_a_textbook_network_by_hand():
    # conv 3x3 p1 -> pool 2 -> conv 3x3 p1 -> pool 2 on 28x28: the centre cell of the
    # second pool sees 10x10 input pixels (r: 1, 3, 4, 8, 10; j: 1, 1, 2, 2, 4)
    spec = [{"type": "conv", "filters": 2, "kernel": 3, "padding": 1}, {"type": "relu"},
            {"type": "maxpool", "size": 2}, {"type": "conv", "filters": 2, "kernel": 3,
                                             "padding": 1},
            {"type": "relu"}, {"type": "maxpool", "size": 2}, {"type": "flatten"},
            {"type": "dense", "units": 10}]
    net = Network(spec)
    growth = receptive_field_growth(net)
    assert [g.size for g in growth[:6]] == [(3, 3), (3, 3), (4, 4), (8, 8), (8, 8), (10, 10)]
    assert [g.jump for g in growth[:6]] == [(1, 1), (1, 1), (2, 2), (2, 2), (2, 2), (4, 4)]
    assert growth[6].kind == growth[7].kind == "global"
    assert growth[7].size == (28, 28)
    regions = receptive_field(net, 5, (1, 3, 3))  # pool2 cell (3, 3) of a 7x7 map
    # pool2 (3,3) <- relu2/conv2 rows 6..7 <- pool1 rows 5..8 <- conv1 rows 10..17
    # <- input rows 9..18
    assert regions[0].rows == tuple(range(9, 19)) and regions[0].size == (10, 10)
    assert regions[1].rows == regions[2].rows == tuple(range(10, 18))
    assert regions[3].rows == tuple(range(5, 9)) and regions[3].channels is None
    assert regions[4].rows == regions[5].rows == (6, 7)
    assert regions[4].channels == regions[5].channels == regions[6].channels == (1,)
    assert regions[6].rows == regions[6].cols == (3,)
    # a corner cell is clipped by the image edge (padding is not input)
    corner = receptive_field(net, 5, (0, 0, 0))[0]
    assert corner.rows == tuple(range(0, 7)) and corner.cols == tuple(range(0, 7))


def test_stride_larger_than_the_kernel_leaves_gaps():
    spec = [{"type": "conv", "filters": 1, "kernel": 1, "stride": 2}, {"type": "conv",
                                                                        "filters": 1,
                                                                        "kernel": 3},
            {"type": "flatten"}, {"type": "dense", "units": 2}]
    net = Network(spec, input_shape=(1, 12, 12))
    region = receptive_field(net, 1, (0, 1, 1))[0]
    assert region.rows == (2, 4, 6) and region.cols == (2, 4, 6)
    assert not region.contiguous and region.size == (5, 5)
    assert receptive_field_growth(net)[1].size == (5, 5)  # bounding extent


def test_dense_and_flatten_units():
    spec = [{"type": "conv", "filters": 2, "kernel": 3}, {"type": "maxpool", "size": 2},
            {"type": "flatten"}, {"type": "dense", "units": 3}]
    net = Network(spec, input_shape=(3, 10, 10))
    # the flatten unit d = c*16 + i*4 + j of the (2, 4, 4) pooled maps is cell (1, 1, 2)
    regions = receptive_field(net, 2, (1 * 16 + 1 * 4 + 2,))
    assert regions[3].channels is None and regions[3].rows == (22,)
    assert regions[2].channels == (1,) and regions[2].rows == (1,) and regions[2].cols == (2,)
    assert regions[1].channels == (1,) and regions[1].rows == (2, 3) \
        and regions[1].cols == (4, 5)
    assert regions[0].channels is None and regions[0].rows == (2, 3, 4, 5) \
        and regions[0].cols == (4, 5, 6, 7)
    dense = receptive_field(net, 3, (0,))
    assert dense[0].whole and dense[1].whole and dense[2].whole
    with pytest.raises(IndexError):
        receptive_field(net, 3, (3,))
    with pytest.raises(IndexError):
        receptive_field(net, 4, (0,))
    pixel = receptive_field(net, -1, (2, 5, 6))
    assert len(pixel) == 1 and pixel[0].rows == (5,) and pixel[0].channels == (2,)


@pytest.mark.parametrize("seed", range(30))
def test_growth_is_the_field_of_an_unclipped_neuron(seed):
    rng = np.random.default_rng(500 + seed)
    spec, shape = random_spec(rng, input_hw=(20, 28))
    # the same layers on a large input, so a middle neuron is never clipped
    big = Network(spec, input_shape=(shape[0], 160, 160))
    growth = receptive_field_growth(big)
    checked = 0
    for g in growth:
        out = tuple(big.summary()[g.layer].output_shape)
        if len(out) != 3:
            assert g.kind == "global" and g.size == (160, 160)
            continue
        assert layer_window(big.layers[g.layer])[0] == g.kind
        middle = (0, out[1] // 2, out[2] // 2)
        regions = receptive_field(big, g.layer, middle)
        # a field that touches no map's edge on any layer was never clipped
        if all(0 < r.rows[0] and r.rows[-1] < r.shape[1] - 1 and 0 < r.cols[0]
               and r.cols[-1] < r.shape[2] - 1 for r in regions[:-1] if r.spatial):
            assert regions[0].size == g.size, (spec, g)
            checked += 1
    assert checked >= 1  # at least the first layer's middle neuron
