"""`render_screenshots` (behind `main.py screenshot`) writes one real picture per lab."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtGui import QImage

from gui.app import DEFAULT_SIZE, render_screenshots
from gui.labs import LABS


def pixels(path) -> np.ndarray:
    """The PNG as uint8 (H, W, 4) RGBA."""
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGBA8888)
    assert not image.isNull(), f"{path} is not a readable PNG"
    h, w, stride = image.height(), image.width(), image.bytesPerLine()
    raw = np.frombuffer(image.constBits().asstring(stride * h), dtype=np.uint8)
    return raw.reshape(h, stride)[:, : w * 4].reshape(h, w, 4)


def assert_not_blank(rgba: np.ndarray, min_share: float = 0.02) -> None:
    """At least ``min_share`` of the pixels differ from the most common colour."""
    flat = rgba[..., :3].reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    background_share = counts.max() / flat.shape[0]
    assert len(colours) > 20, f"only {len(colours)} colours"
    assert 1 - background_share >= min_share, f"{1 - background_share:.1%} non-background"


def test_every_lab_is_rendered_to_a_non_blank_png(qapp, tmp_path):
    paths = render_screenshots(tmp_path / "shots")
    # each lab, then its other views (its extra_screenshots hook): <key>-<view>.png
    extras = {"convolution": ["worked-example"], "backprop": ["channels", "influence"],
              "training": ["maps", "validation", "draw", "batchnorm"]}
    assert [p.name for p in paths] == [name for info in LABS for name in
                                       [f"{info.key}.png"] + [f"{info.key}-{view}.png"
                                                              for view in extras.get(info.key,
                                                                                     [])]]
    for path in paths:
        rgba = pixels(path)
        assert rgba.shape[:2] == (DEFAULT_SIZE[1], DEFAULT_SIZE[0])
        assert_not_blank(rgba)


def test_the_gallery_screenshot_shows_the_photo_and_results(qapp, tmp_path):
    (path,) = render_screenshots(tmp_path, lab="Kernel gallery")
    assert path.name == "gallery.png"
    rgba = pixels(path)
    # the right-hand side holds four image panels: far more than a few flat colours
    right = rgba[:, DEFAULT_SIZE[0] // 2:]
    assert len(np.unique(right[..., :3].reshape(-1, 3), axis=0)) > 500
    assert_not_blank(right, min_share=0.3)


def test_an_unknown_lab_is_a_clear_error(qapp, tmp_path):
    with pytest.raises(ValueError, match="the labs are: convolution"):
        render_screenshots(tmp_path, lab="nonsense")
    assert not list(tmp_path.iterdir())
