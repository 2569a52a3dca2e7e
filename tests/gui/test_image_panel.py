"""gui/widgets/image_panel.py: the panel asks for the same room whatever it shows."""

from __future__ import annotations

import numpy as np
from PyQt6.QtWidgets import QGridLayout, QWidget

from gui.widgets.image_panel import ImagePanel


def test_panels_in_a_grid_share_its_height_whether_they_show_a_picture_or_not(qtbot):
    # the Kernel gallery on the first start: its first row had pictures, its second row
    # nothing yet, and the first row kept most of the height (a graphics view's size hint
    # was its scene's size, which grows with what it showed)
    host = QWidget()
    qtbot.addWidget(host)
    grid = QGridLayout(host)
    panels = [ImagePanel(colorbar=k > 0) for k in range(4)]
    for k, panel in enumerate(panels):
        grid.addWidget(panel, k // 2, k % 2)
    host.resize(700, 900)
    host.show()
    qtbot.waitExposed(host)
    panels[0].set_image(np.random.default_rng(0).random((512, 512)))
    panels[0].set_caption("512×512 pixels")
    host.resize(700, 600)
    qtbot.waitUntil(lambda: host.height() == 600)
    grid.activate()
    top, bottom = panels[0].height(), panels[2].height()
    assert abs(top - bottom) <= 0.1 * top, (top, bottom)
    assert panels[0].sizeHint() == panels[2].sizeHint()
