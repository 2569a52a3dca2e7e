"""The Training lab's views on their own (gui.labs.training.views)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("shape", [(1, 1), (13, 17), (90, 29)])
def test_rgba_image_matches_pyqtgraphs_own_colouring(signed, shape, colour_oracle):
    import pyqtgraph as pg

    from gui.labs.training.views._common import DIVERGING as _DIVERGING
    from gui.labs.training.views._common import GREYS as _GREYS

    rng = np.random.default_rng(shape[0])
    image = rng.normal(scale=2.0, size=shape).astype(np.float32)  # values beyond the levels
    image.ravel()[::7] = np.nan  # gaps between tiles
    lut, levels = (_DIVERGING, (-1.5, 1.5)) if signed else (_GREYS, (0.0, 2.5))
    argb, _ = pg.functions.makeARGB(image, lut=lut, levels=levels)  # the oracle, BGRA
    expected = argb[..., [2, 1, 0, 3]]
    expected[np.isnan(image)] = 0  # transparent
    np.testing.assert_array_equal(colour_oracle(image, levels, lut), expected)


def test_probability_bars_are_redrawn_only_when_the_change_shows(qtbot):
    from gui.labs.training.views import ProbabilityView

    view = ProbabilityView()
    qtbot.addWidget(view)
    p = np.array([0.05] * 9 + [0.55])
    view.set_probabilities(p)
    drawn = view.bars.opts["height"]
    np.testing.assert_array_equal(drawn, p)
    tiny = p + np.r_[np.full(9, -1e-5), 9e-5]
    view.set_probabilities(tiny)
    assert view.bars.opts["height"] is drawn  # under a pixel: nothing redrawn
    visible = p + np.r_[np.full(9, -0.01), 0.09]
    view.set_probabilities(visible)
    np.testing.assert_array_equal(view.bars.opts["height"], visible)
    flipped = np.r_[0.5, np.full(8, 0.0), 0.5 - 1e-4]  # the best class changes: always redrawn
    view.set_probabilities(np.r_[0.5 - 1e-4, np.full(8, 0.0), 0.5])
    view.set_probabilities(flipped)
    np.testing.assert_array_equal(view.bars.opts["height"], flipped)
    assert view.plot_item.titleLabel.text.startswith("Prediction: 0")



def test_live_tail_bounds_its_data_with_a_few_pixels_to_spare(qtbot):
    import pyqtgraph as pg

    from gui.labs.training.views import LiveTail

    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    qtbot.waitExposed(widget)
    widget.setXRange(0, 100, padding=0)
    widget.setYRange(0, 1, padding=0)
    tail = LiveTail(pg.mkPen("b"))
    widget.addItem(tail)
    assert tail.boundingRect().isEmpty() and tail.dataBounds(0) == (None, None)
    x, y = np.array([10.0, 20.0, 30.0]), np.array([0.5, np.nan, 0.25])
    tail.setData(x, y)
    widget.getViewBox().updateMatrix()  # what the view does before it paints
    gx, gy = tail.getData()
    np.testing.assert_array_equal(gx, x)
    assert tail.dataBounds(0) == (10.0, 30.0) and tail.dataBounds(1) == (0.25, 0.5)
    rect = tail.boundingRect()
    pixel_x, pixel_y = 100 / widget.getViewBox().width(), 1 / widget.getViewBox().height()
    assert rect.left() == pytest.approx(10 - 2 * pixel_x, rel=1e-3)
    assert rect.right() == pytest.approx(30 + 2 * pixel_x, rel=1e-3)
    assert rect.top() == pytest.approx(0.25 - 2 * pixel_y, rel=1e-3)
    assert rect.bottom() == pytest.approx(0.5 + 2 * pixel_y, rel=1e-3)
    widget.setXRange(0, 200, padding=0)  # a new view: the padding follows the pixel size
    widget.getViewBox().updateMatrix()
    assert tail.boundingRect().left() == pytest.approx(10 - 4 * pixel_x, rel=1e-3)


def test_live_labels_and_numbers_wait_for_some_frames_and_a_stopped_frame_shows_all(qtbot):
    """While training runs, the layer labels' max value and the C-R-P numbers are
    rewritten on some frames only (their text layout is slow; 21 changes a second
    cannot be read); the frame after a pause or the end always shows the last."""
    from gui.labs.training.views import LayerMapsView
    from gui.labs.training.views.sandwich import SandwichView

    maps = LayerMapsView()
    qtbot.addWidget(maps)
    maps.resize(700, 300)
    maps.build([("conv1", (2, 4, 4))])

    def shown_max():
        return maps.label_item("conv1").textItem.toPlainText().split("max ")[-1]

    def values(top):
        return np.full((2, 4, 4), top, np.float32)

    maps.update_maps([("conv1", values(1.0))], live=True)  # the first live frame: shown
    assert shown_max() == "1"
    for _ in range(maps.LABEL_EVERY - 1):
        maps.update_maps([("conv1", values(3.0))], live=True)
    assert shown_max() == "1"  # waits (the maps themselves are coloured every frame)
    assert np.nanmax(maps.values("conv1")) == 3.0
    maps.update_maps([("conv1", values(5.0))], live=True)  # the LABEL_EVERY-th next
    assert shown_max() == "5"
    maps.update_maps([("conv1", values(7.0))], live=True)
    assert shown_max() == "5"
    maps.update_maps([("conv1", values(9.0))], live=False)  # stopped: at once
    assert shown_max() == "9"

    from gui.labs.training.views import KernelMosaicView

    kernels = KernelMosaicView()
    qtbot.addWidget(kernels)

    def shown_max_w():
        return kernels.label.text.split("= ")[-1]

    kernels.set_kernels(np.full((2, 1, 3, 3), 0.5, np.float32), live=True)
    assert shown_max_w() == "0.50"
    for _ in range(kernels.LABEL_EVERY - 1):
        kernels.set_kernels(np.full((2, 1, 3, 3), 0.75, np.float32), live=True)
    assert shown_max_w() == "0.50" and kernels.levels == (-0.75, 0.75)
    kernels.set_kernels(np.full((2, 1, 3, 3), 1.25, np.float32), live=True)
    assert shown_max_w() == "1.25"
    kernels.set_kernels(np.full((2, 1, 3, 3), 1.5, np.float32), live=True)
    assert shown_max_w() == "1.25"
    kernels.set_kernels(np.full((2, 1, 3, 3), 1.75, np.float32), live=False)  # stopped
    assert shown_max_w() == "1.75"

    spec = [{"type": "conv", "filters": 1, "kernel": 1, "stride": 1, "padding": 0},
            {"type": "relu"}, {"type": "maxpool", "size": 2, "stride": 2}]

    def activations(v):
        conv = np.full((1, 2, 2), v, np.float32)
        return [("conv1", conv), ("relu1", np.maximum(conv, 0)),
                ("pool1", np.full((1, 1, 1), max(v, 0), np.float32))]

    sandwich = SandwichView()
    qtbot.addWidget(sandwich)
    sandwich.update_maps(spec, activations(0.25), live=True)
    first = sandwich.text.text()
    assert "0.25" in first
    for k in range(1, sandwich.TEXT_EVERY):
        sandwich.update_maps(spec, activations(0.5 + k), live=True)
        assert sandwich.text.text() == first
    sandwich.update_maps(spec, activations(0.75), live=True)
    assert "0.75" in sandwich.text.text()
    sandwich.update_maps(spec, activations(2.5), live=True)
    assert "2.5" not in sandwich.text.text()
    sandwich.update_maps(spec, activations(2.5), live=False)
    assert "2.5" in sandwich.text.text()
