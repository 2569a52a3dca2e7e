"""The builder's terms without Qt: blocks <-> spec, the live summary, the size limits."""

from __future__ import annotations

import pytest

from engine.network import LayerInfo, Network
from gui.labs.training.blocks import (
    MAX_BLOCKS,
    MAX_LAYERS,
    ConvBlock,
    Head,
    blocks_to_spec,
    check_spec_size,
    describe_network,
    spec_to_blocks,
)


def conv_params(c_in, f, k):
    return f * (c_in * k * k + 1)


def test_blocks_make_the_spec_and_the_summary_counts_by_formula():
    blocks = [ConvBlock(8, 5, 1, 2, "relu", True, "max", 2),
              ConvBlock(16, 3, 2, 1, "tanh", False, "avg", 2)]
    spec, owner = blocks_to_spec(blocks, Head(hidden=32, activation="relu"))
    assert [layer["type"] for layer in spec] == [
        "conv", "batchnorm", "relu", "maxpool", "conv", "tanh", "avgpool", "flatten", "dense",
        "relu", "dense"]
    assert owner[:4] == [0, 0, 0, 0] and owner[4:7] == [1, 1, 1] and owner[7:] == ["head"] * 4
    rows, total, error, _ = describe_network(spec)
    assert error is None
    # the engine's own summary rows, not a copy of them
    assert all(type(r) is LayerInfo for r in rows)
    # 28 -(conv 5, pad 2)-> 28 -(pool)-> 14 -(conv 3, stride 2, pad 1)-> 7 -(pool 2)-> 3
    assert rows[-1].output_shape == (10,)
    assert [r.output_shape for r in rows if r.type == "avgpool"] == [(16, 3, 3)]
    expected = (conv_params(1, 8, 5) + 2 * 8 + conv_params(8, 16, 3)
                + (16 * 3 * 3 + 1) * 32 + (32 + 1) * 10)
    assert total == expected
    assert total == Network(spec).param_count


def test_spec_round_trips_through_blocks():
    from engine.recipe import DEFAULT_SPEC

    blocks, head = spec_to_blocks(DEFAULT_SPEC)
    assert blocks_to_spec(blocks, head)[0] == [dict(layer) for layer in DEFAULT_SPEC]
    with pytest.raises(ValueError, match="flatten"):
        spec_to_blocks([{"type": "relu"}, {"type": "dense", "units": 10}])
    twenty = [*DEFAULT_SPEC[:-1], {"type": "dense", "units": 20}]
    assert spec_to_blocks(twenty)[1].classes == 20  # the head keeps its class count


def test_an_impossible_network_names_its_layer_counting_from_zero_in_bad_index():
    # the second block's 7x7 valid convolution cannot fit the 14x14 -> 7x7 pooled maps
    blocks = [ConvBlock(4, 7, 1, 0, "relu", False, "max", 2)] * 3
    spec, owner = blocks_to_spec(blocks, Head())
    rows, total, error, bad_index = describe_network(spec)
    assert error is not None
    # 28 -(7)-> 22 -(pool)-> 11 -(7)-> 5 -(pool)-> 2 -(7): the third conv, spec index 6
    assert bad_index == 6 and spec[bad_index]["type"] == "conv" and owner[bad_index] == 2
    assert error.startswith("layer 7 (conv)")  # messages count from 1
    assert [r.index for r in rows] == list(range(6))
    assert total == sum(r.param_count for r in rows)
    # an error about the whole spec (no layer) has no index
    assert describe_network([])[3] is None


@pytest.mark.parametrize("bad", [
    [{"type": "conv", "filters": 4}, {"type": "flatten"}, {"type": "dense", "units": 10}],
    [{"type": "conv", "filters": float("inf"), "kernel": 3}, {"type": "flatten"},
     {"type": "dense", "units": 10}],
    [{"type": "conv", "filters": None, "kernel": 3}, {"type": "flatten"},
     {"type": "dense", "units": 10}],
    [{"type": "flatten"}, {"type": "dense"}],
    [{"type": "conv", "filters": 4, "kernel": [3, 5]}, {"type": "flatten"},
     {"type": "dense", "units": 10}],
    {"type": "conv"},
    ["conv", "flatten"],
])
def test_specs_the_builder_cannot_read_raise_a_value_error(bad):
    with pytest.raises(ValueError):
        spec_to_blocks(bad)


def test_huge_specs_are_refused_by_their_size_before_their_layers_are_read():
    head = [{"type": "flatten"}, {"type": "dense", "units": 10}]
    block = [{"type": "conv", "filters": 1, "kernel": 1}, {"type": "relu"}]
    thousands = block * 3000 + head  # a hostile file: 6,002 layers
    with pytest.raises(ValueError, match=f"at most {MAX_LAYERS} layers"):
        check_spec_size(thousands)
    with pytest.raises(ValueError, match="6,002 layers"):
        spec_to_blocks(thousands)
    # within the layer limit but more blocks than the builder holds (conv layers only)
    many = [{"type": "conv", "filters": 1, "kernel": 1}] * (MAX_BLOCKS + 1) + head
    assert len(many) <= MAX_LAYERS
    with pytest.raises(ValueError, match=f"at most {MAX_BLOCKS}"):
        spec_to_blocks(many)
    just = [{"type": "conv", "filters": 1, "kernel": 1}] * MAX_BLOCKS + head
    assert len(spec_to_blocks(just)[0]) == MAX_BLOCKS
