"""The overview's layout, headless: sizes, paging, hit testing, index maps, lines."""

from __future__ import annotations

import numpy as np
import pytest
from netgen import random_network

from engine.network import Network
from engine.neuron import Neuron
from engine.receptive_field import receptive_field
from engine.recipe import DEFAULT_SPEC
from gui.labs.network.layout import (
    GAP_X,
    THUMB_MIN,
    connection_lines,
    make_layout,
    rect_segments,
)


def infos(net: Network):
    return [(-1, "input", "input", tuple(net.input_shape), 0)] + [
        (i.index, i.name, i.type, tuple(i.output_shape), i.param_count)
        for i in net.summary()]


def _centre(rect):
    x, y, w, h = rect
    return x + w / 2, y + h / 2


def _every_neuron_on_the_page(layout, rng, per_column=6):
    for col in layout.columns:
        for _ in range(per_column):
            if col.kind == "maps":
                if not col.channels:
                    continue
                c = int(rng.choice(col.channels))
                i, j = (int(rng.integers(n)) for n in col.shape[1:])
                yield col, (c, i, j), col.cells_rect(c, i, j, i + 1, j + 1)
            else:
                d = int(rng.integers(col.shape[0]))
                yield col, (d,), col.unit_rect(d)


def test_the_default_network_on_a_lab_sized_canvas():
    net = Network(DEFAULT_SPEC)
    layout = make_layout(infos(net), 960, 500)
    assert [c.name for c in layout.columns] == ["input"] + [i.name for i in net.summary()]
    assert layout.thumb >= THUMB_MIN
    assert layout.width == 960  # everything fits: no scrolling
    lefts = [c.left for c in layout.columns]
    assert all(b - a >= c.width + GAP_X for a, b, c in zip(lefts, lefts[1:], layout.columns,
                                                           strict=False))
    # 32 channels do not fit 500 pixels at 28: paged, every channel on exactly one page
    assert layout.pages > 1
    seen = []
    for page in range(layout.pages):
        seen.extend(make_layout(infos(net), 960, 500, page).column_of_layer(3).channels)
    assert seen == list(range(32))
    assert make_layout(infos(net), 960, 500, 99).page == layout.pages - 1  # clamped


@pytest.mark.parametrize("seed", range(12))
def test_a_click_on_a_cell_is_that_neuron(seed):
    net = random_network(seed)
    rng = np.random.default_rng(seed)
    layout = make_layout(infos(net), int(rng.integers(600, 1400)), int(rng.integers(300, 700)),
                         int(rng.integers(3)))
    assert layout.thumb >= THUMB_MIN
    for col, index, rect in _every_neuron_on_the_page(layout, rng):
        x, y = _centre(rect)
        hit = layout.neuron_at(x, y)
        if col.scale >= 1:
            assert hit == Neuron(col.layer, index), (col.name, rect)
        else:  # a map shrunk below a pixel per cell: a neighbour of it
            assert hit.layer == col.layer and hit.index[0] == index[0]
            assert max(abs(a - b) for a, b in zip(hit.index[1:], index[1:],
                                                  strict=True)) <= 1 / col.scale
    assert layout.neuron_at(1, 1) is None  # the margin
    assert layout.neuron_at(layout.columns[0].left + 1, 5) is None  # a header


@pytest.mark.parametrize("seed", range(8))
def test_index_maps_hold_every_shown_value_once_per_pixel_block(seed):
    net = random_network(50 + seed)
    layout = make_layout(infos(net), 900, 520)
    for col in layout.columns:
        shown = np.unique(col.index_map[col.index_map >= 0])
        if col.kind == "maps":
            C, H, W = col.shape
            expected = np.concatenate([np.arange(c * H * W, (c + 1) * H * W)
                                       for c in col.channels]) if col.channels else []
            if col.scale >= 1:  # every cell has a pixel
                np.testing.assert_array_equal(shown, expected)
            else:  # shrunk: every shown pixel is a cell of a shown map
                assert np.isin(shown, expected).all()
        else:
            np.testing.assert_array_equal(shown, np.arange(col.shape[0]))


def test_many_channels_are_paged_never_shrunk():
    spec = [{"type": "conv", "filters": 200, "kernel": 3, "padding": 1}, {"type": "relu"},
            {"type": "flatten"}, {"type": "dense", "units": 10}]
    layout = make_layout(infos(Network(spec, input_shape=(1, 12, 12))), 800, 300)
    assert layout.thumb >= THUMB_MIN and layout.pages >= 200 // 8
    col = layout.column_of_layer(0)
    assert len(col.channels) == layout.per_page
    tiny = make_layout(infos(Network(spec, input_shape=(1, 12, 12))), 100, 10)
    assert tiny.thumb >= THUMB_MIN and tiny.per_page >= 1


def test_many_layers_widen_the_canvas():
    spec = []
    for _ in range(4):
        spec += [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
                 {"type": "batchnorm"}, {"type": "relu"}, {"type": "avgpool", "size": 1}]
    spec += [{"type": "flatten"}, {"type": "dense", "units": 32}, {"type": "relu"},
             {"type": "dense", "units": 10}]
    layout = make_layout(infos(Network(spec)), 700, 500)
    assert len(layout.columns) == len(spec) + 1
    assert layout.width > 700 and layout.thumb >= THUMB_MIN
    right = layout.columns[-1]
    assert right.left + right.width <= layout.width


def test_lines_between_columns():
    net = Network(DEFAULT_SPEC)
    layout = make_layout(infos(net), 960, 700)
    faint, strong = connection_lines(layout)
    assert strong.shape == (0, 2, 2)
    n = {c.layer: len(c.channels) for c in layout.columns if c.kind == "maps"}
    # input -> conv1: 1 x n; conv1 -> relu1 and relu1 -> pool1: one to one; pool1 -> conv2
    # all to all when few enough; maps -> flatten: one per map; flatten -> dense: one
    expected = n[0] + n[0] + n[1]
    expected += n[2] * n[3] if n[2] * n[3] <= 160 else 0
    expected += n[3] + n[4] + n[5] + 1
    assert len(faint) == expected
    # a conv2 neuron's path: every shown pool1 map into its one map, then one to one
    neuron = Neuron(3, (2, 5, 5))
    regions = receptive_field(net, 3, neuron.index)
    _, strong = connection_lines(layout, regions)
    assert len(strong) == n[0] + n[0] + n[1] + n[2]
    ends = {tuple(np.round(s[1])) for s in strong[-n[2]:]}
    assert len(ends) == 1  # all into conv2's map 3


def test_rect_segments():
    segs = rect_segments([(0, 0, 2, 1), (5, 5, 1, 1)])
    assert segs.shape == (8, 2, 2)
    assert tuple(segs[1, 0]) == (2, 0) and tuple(segs[1, 1]) == (2, 1)
