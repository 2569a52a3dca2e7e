"""MatrixView: colours, padding, empty cells, numbers, the window outline and clicks."""

import math

import numpy as np
import pytest
from PyQt6.QtCore import QPointF, Qt

from gui.widgets.colormaps import diverging_lut, greys_lut
from gui.widgets.matrix_view import (
    EMPTY_COLOR,
    PADDING_COLOR,
    MatrixView,
    format_cell,
    number_font_px,
)


@pytest.fixture
def view(qtbot):
    v = MatrixView("test", "diverging")
    qtbot.addWidget(v)
    v.resize(300, 300)
    v.show()
    qtbot.waitExposed(v)
    return v


def test_format_cell():
    assert format_cell(3.0, integers=True) == "3"
    assert format_cell(-2.0, integers=True) == "-2"
    assert format_cell(0.5294, integers=False) == "0.53"
    assert format_cell(-0.001, integers=False) == "0.00"  # never "-0.00"
    assert format_cell(float("nan"), integers=False) == ""


def test_diverging_colours_zero_white_and_levels(view):
    values = np.array([[-2.0, 0.0, 2.0]])
    view.set_matrix(values, levels=(-2.0, 2.0))
    rgba = view.image_item.image  # (1, 3, 4)
    lut = diverging_lut(256)
    np.testing.assert_array_equal(rgba[0, 0], lut[0])  # most negative: first colour (blue)
    np.testing.assert_array_equal(rgba[0, 2], lut[255])  # most positive: last colour (red)
    np.testing.assert_array_equal(rgba[0, 1], lut[128])  # zero: the middle (white)
    assert rgba[0, 1, :3].min() > 240


def test_values_outside_levels_are_clipped(view):
    view.set_matrix(np.array([[-10.0, 10.0]]), levels=(-1.0, 1.0))
    lut = diverging_lut(256)
    np.testing.assert_array_equal(view.image_item.image[0, 0], lut[0])
    np.testing.assert_array_equal(view.image_item.image[0, 1], lut[255])


def test_nan_cells_are_empty_and_have_no_number(view):
    values = np.array([[1.0, np.nan], [np.nan, 4.0]])
    view.set_matrix(values)
    rgba = view.image_item.image
    np.testing.assert_array_equal(rgba[0, 1], EMPTY_COLOR)
    np.testing.assert_array_equal(rgba[1, 0], EMPTY_COLOR)
    assert view.overlay._texts == [["1", ""], ["", "4"]]


def test_padding_cells_have_their_own_colour(view):
    padded = np.pad(np.ones((3, 4)), 1)  # (5, 6), border of zeros
    mask = np.ones(padded.shape, dtype=bool)
    mask[1:4, 1:5] = False
    view.set_matrix(padded, levels=(-1.0, 1.0), padding_mask=mask, inner=(1, 1, 4, 5))
    rgba = view.image_item.image
    assert rgba.shape == (5, 6, 4)
    assert np.all(rgba[mask] == PADDING_COLOR)
    # no real cell may look like padding, even a zero one
    assert not np.any(np.all(rgba[~mask] == PADDING_COLOR, axis=-1))


def test_greys_and_rgb(view):
    view.set_cmap("greys")
    view.set_matrix(np.array([[0.0, 1.0]]), levels=(0.0, 1.0))
    lut = greys_lut(256)
    np.testing.assert_array_equal(view.image_item.image[0, 0], lut[0])
    np.testing.assert_array_equal(view.image_item.image[0, 1], lut[255])
    rgb = np.array([[[1.0, 0.0, 0.5], [0.2, 0.4, 0.6]]])  # (1, 2, 3)
    view.set_matrix(rgb, levels=(0.0, 1.0))
    np.testing.assert_array_equal(view.image_item.image[..., :3], np.round(rgb * 255))
    assert view.overlay._texts is None  # an RGB picture carries no numbers


def test_numbers_integer_or_two_decimals(view):
    view.set_matrix(np.array([[1.0, -3.0], [0.0, 12.0]]))
    assert view.overlay._texts == [["1", "-3"], ["0", "12"]]
    view.set_matrix(np.array([[0.25, -1.0]]))
    assert view.overlay._texts == [["0.25", "-1.00"]]


def test_numbers_left_out_when_cells_are_too_small():
    assert number_font_px("0.53", 60, 60) is not None
    assert number_font_px("0.53", 8, 8) is None  # a 28x28 digit in a small view
    assert number_font_px("", 60, 60) is None
    big, small = number_font_px("7", 60, 60), number_font_px("-0.53", 60, 60)
    assert big >= small  # longer text, smaller font, same cell


def test_items_are_built_once(view):
    items = list(view.graphics.scene().items())
    image_item = view.image_item
    for k in range(5):
        view.set_matrix(np.full((k + 2, k + 3), float(k)))
        view.set_window(0, 0, 2, 2)
    assert view.image_item is image_item
    assert set(view.graphics.scene().items()) == set(items)


def test_window_outline_and_clear(view, qtbot):
    view.set_matrix(np.zeros((6, 6)))
    assert view.window_rect() is None
    view.set_window(1, 2, 3, 3)
    assert view.window_rect() == (1, 2, 3, 3)
    view.set_window(2, 2, 3, 3, animate_ms=60)  # slides: the end is known at once
    assert view.window_rect() == (2, 2, 3, 3)
    qtbot.waitUntil(lambda: view.window_item.rect().top() == 2.0, timeout=2000)
    view.clear_window()
    assert view.window_rect() is None


@pytest.mark.parametrize("row, col", [(0, 0), (2, 3), (3, 4)])
def test_click_emits_row_col(view, qtbot, row, col):
    view.set_matrix(np.arange(20.0).reshape(4, 5))
    qtbot.waitUntil(lambda: view.graphics.view_box.viewRange()[0][1] >= 5)
    scene = view.graphics.view_box.mapViewToScene(QPointF(col + 0.5, row + 0.5))
    pos = view.graphics.mapFromScene(scene)
    with qtbot.waitSignal(view.cell_clicked, timeout=2000) as blocker:
        qtbot.mouseClick(view.graphics.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args == [row, col]


def test_cell_at_outside_is_none(view):
    view.set_matrix(np.zeros((3, 3)))
    vb = view.graphics.view_box
    assert view.cell_at(vb.mapViewToScene(QPointF(1.5, 2.5))) == (2, 1)
    assert view.cell_at(vb.mapViewToScene(QPointF(-0.5, 1.0))) is None
    assert view.cell_at(vb.mapViewToScene(QPointF(1.0, 3.2))) is None
    assert math.isfinite(vb.viewRange()[0][0])
