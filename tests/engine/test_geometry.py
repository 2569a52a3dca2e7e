"""Output-size formulas and geometry validation, against counting windows by hand."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.geometry import (
    GeometryError,
    as_pair,
    check_conv,
    check_pool,
    output_size,
    output_size_formula,
)


def _windows_by_counting(size, kernel, stride, padding):
    """How many window positions fit, found by sliding one step at a time."""
    count, start = 0, 0
    while start + kernel <= size + 2 * padding:
        count += 1
        start += stride
    return count


@given(size=st.integers(1, 40), kernel=st.integers(1, 9), stride=st.integers(1, 5),
       padding=st.integers(0, 4))
def test_output_size_equals_the_number_of_window_positions(size, kernel, stride, padding):
    fits = kernel <= size + 2 * padding
    if fits:
        assert output_size(size, kernel, stride, padding) == _windows_by_counting(
            size, kernel, stride, padding)
        g = check_conv((1, 1, size, size + 1), (1, 1, kernel, kernel), (1,), stride, padding)
        assert (g.HO, g.WO) == (_windows_by_counting(size, kernel, stride, padding),
                                _windows_by_counting(size + 1, kernel, stride, padding))
    else:
        with pytest.raises(GeometryError, match="does not fit"):
            check_conv((1, 1, size, size), (1, 1, kernel, kernel), None, stride, padding)


def test_formula_text_shows_the_numbers_and_the_result():
    text = output_size_formula(28, 3, 1, 1)
    assert text.startswith("H_out = floor((28 + 2·1 − 3) / 1) + 1")
    assert text.endswith("= 28")
    assert output_size_formula(7, 2, 2, 0, axis="W").endswith(f"= {math.floor(5 / 2) + 1}")


def test_formula_text_gives_the_reason_instead_of_a_number():
    text = output_size_formula(3, 5, 1, 0)
    assert "does not fit" in text and "padded height is 3" in text


def test_conv_message_a_learner_understands():
    with pytest.raises(GeometryError) as err:
        check_conv((1, 1, 3, 3), (1, 1, 5, 5), None, 1, 0)
    assert str(err.value) == "a 5x5 kernel does not fit a 3x3 input with padding 0"


@pytest.mark.parametrize("value, words", [
    (float("inf"), "whole number"),
    (1.5, "whole number"),
    ("two", "whole number"),
    (True, "whole number"),
    ((1, 2, 3), "pair"),
    (10**30, "far too large"),
])
def test_as_pair_refuses_what_is_not_a_size(value, words):
    with pytest.raises(GeometryError, match=words):
        as_pair(value, "stride")


def test_as_pair_accepts_ints_and_pairs():
    assert as_pair(3, "k") == (3, 3)
    assert as_pair((2, 5), "k") == (2, 5)
    assert as_pair([4.0, 1], "k") == (4, 1)


def test_a_padding_typo_gets_a_sentence_not_terabytes():
    with pytest.raises(GeometryError, match="more than this app handles"):
        check_conv((1, 3, 28, 28), (4, 3, 3, 3), None, 1, 50_000)


@pytest.mark.parametrize("size, stride, words", [
    (5, 2, "does not fit a 4x4 input"),
    (0, 1, "at least 1x1"),
    (2, 0, "stride must be at least 1"),
])
def test_pool_geometry_errors(size, stride, words):
    with pytest.raises(GeometryError, match=words):
        check_pool((1, 1, 4, 4), size, stride)


def test_pool_stride_defaults_to_the_window_size():
    g = check_pool((2, 3, 7, 9), (2, 3))
    assert (g.SH, g.SW, g.HO, g.WO) == (2, 3, 3, 3)
