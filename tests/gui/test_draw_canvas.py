"""The drawing canvas and the MNIST-style preprocessing of a drawing."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PyQt6.QtCore import QPoint, Qt

from gui.widgets.draw_canvas import DrawCanvas, mnist_preprocess, resize_area

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def _ink_box(img):
    rows = np.flatnonzero(img.any(axis=1))
    cols = np.flatnonzero(img.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def _com(img):
    r, c = np.indices(img.shape)
    return (r * img).sum() / img.sum(), (c * img).sum() / img.sum()


# -- resize_area ---------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 6), w=st.integers(1, 6), fh=st.integers(1, 5), fw=st.integers(1, 5),
       seed=st.integers(0, 1000))
def test_resize_area_is_block_mean_for_whole_factors(h, w, fh, fw, seed):
    img = np.random.default_rng(seed).random((h * fh, w * fw))
    expected = img.reshape(h, fh, w, fw).mean(axis=(1, 3))  # independent oracle
    np.testing.assert_allclose(resize_area(img, h, w), expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), oh=st.integers(1, 30), ow=st.integers(1, 30),
       seed=st.integers(0, 1000))
def test_resize_area_preserves_mean_and_range(h, w, oh, ow, seed):
    img = np.random.default_rng(seed).random((h, w))
    out = resize_area(img, oh, ow)
    assert out.shape == (oh, ow)
    # every output cell covers the same area, so the mean is preserved exactly
    assert out.mean() == pytest.approx(img.mean(), rel=1e-9)
    assert out.min() >= img.min() - 1e-12 and out.max() <= img.max() + 1e-12


def test_resize_area_upsamples_constant_exactly():
    out = resize_area(np.full((3, 7), 0.25), 10, 4)
    np.testing.assert_allclose(out, 0.25)


# -- mnist_preprocess ----------------------------------------------------------
def test_empty_drawing_gives_zeros():
    out = mnist_preprocess(np.zeros((100, 100)))
    assert out.shape == (1, 28, 28) and out.dtype == np.float32
    assert not out.any()


@pytest.mark.parametrize("box", [(120, 40), (40, 120), (60, 60), (7, 3)])
def test_box_is_scaled_to_20_on_the_long_side_and_centred(box):
    drawing = np.zeros((280, 280))
    bh, bw = box
    drawing[30:30 + bh, 200 - bw:200] = 1.0  # far from the centre on purpose
    out = mnist_preprocess(drawing)[0]
    assert out.min() >= 0 and out.max() <= 1
    h, w = _ink_box(out > 0.01)
    long_side, short_side = max(h, w), min(h, w)
    assert long_side == 20
    # aspect ratio kept (to within one pixel of the rounding)
    assert abs(short_side - 20 * min(bh, bw) / max(bh, bw)) <= 1
    r, c = _com(out)
    assert abs(r - 14) <= 0.5 and abs(c - 14) <= 0.5  # where MNIST puts it


def test_translation_of_the_drawing_does_not_change_the_input():
    rng = np.random.default_rng(3)
    blob = (rng.random((50, 30)) > 0.4).astype(float)
    a = np.zeros((200, 200))
    b = np.zeros((200, 200))
    a[10:60, 20:50] = blob
    b[120:170, 150:180] = blob
    np.testing.assert_array_equal(mnist_preprocess(a), mnist_preprocess(b))


def test_real_mnist_digits_survive_a_round_trip():
    """An MNIST digit, enlarged 10x like a drawing, comes back close to itself."""
    data = np.load(ASSETS / "mnist-9k.npz", allow_pickle=False)
    for k in range(20):
        digit = data["images"][k].astype(np.float64) / 255.0
        big = np.kron(digit, np.ones((10, 10)))  # (280, 280) "drawing"
        back = mnist_preprocess(big, threshold=0.0)[0]
        corr = np.corrcoef(back.ravel(), digit.ravel())[0, 1]
        assert corr > 0.9, (k, corr)


# -- the widget ----------------------------------------------------------------
def test_canvas_stroke_becomes_an_mnist_input(qtbot):
    canvas = DrawCanvas(resolution=140, pen_width=12)
    qtbot.addWidget(canvas)
    assert canvas.is_empty()
    with qtbot.waitSignal(canvas.changed):
        canvas.draw_stroke([(70, 20), (70, 120)])  # a vertical bar: a "1"
    x = canvas.network_input()
    assert x.shape == (1, 28, 28) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5
    h, w = _ink_box(x[0] > 0.01)
    assert h == 20 and w < 10
    with qtbot.waitSignal(canvas.changed):
        canvas.clear()
    assert canvas.is_empty() and not canvas.network_input().any()


def test_canvas_mouse_drawing(qtbot):
    canvas = DrawCanvas(resolution=100, pen_width=8)
    qtbot.addWidget(canvas)
    canvas.resize(200, 200)
    canvas.show()
    qtbot.waitExposed(canvas)
    with qtbot.waitSignal(canvas.stroke_finished):
        qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(40, 100))
        for x in range(40, 161, 10):
            qtbot.mouseMove(canvas, QPoint(x, 100))
        qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(160, 100))
    drawing = canvas.drawing()
    assert drawing.shape == (100, 100)
    # widget x 40..160 maps to image x 20..80 (scale 0.5); row 100 -> image row 50
    assert drawing[50, 25:75].min() > 0.9
    assert drawing[5:30].max() == 0
    qtbot.mouseClick(canvas, Qt.MouseButton.RightButton, pos=QPoint(10, 10))
    assert canvas.is_empty()
