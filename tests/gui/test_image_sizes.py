"""Every image path takes an image of any size: thin strips, banners, huge photos.

The PNGs are written by the tests themselves. A file above ``LARGE_PIXELS`` is read
in a worker thread (the GUI thread only receives the small result).
"""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest
from PyQt6.QtGui import QImage

from gui.widgets import images
from gui.widgets.images import ImageLoader, downscale, load_image, load_scaled

THIN = [(2, 200), (1, 801), (3, 10000)]
WAIT_MS = 60_000


def write_png(path, h: int, w: int, seed: int = 0, colour: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if colour:
        pixels = np.ascontiguousarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        image = QImage(pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    else:
        pixels = np.ascontiguousarray(rng.integers(0, 256, (h, w), dtype=np.uint8))
        image = QImage(pixels.data, w, h, w, QImage.Format.Format_Grayscale8)
    assert image.save(str(path), "PNG")
    return pixels


def reading_threads(monkeypatch) -> list[int]:
    """The threads that will read image files (images.load_scaled), as they do."""
    readers = []
    real = images.load_scaled

    def spy(path, max_side):
        readers.append(threading.get_ident())
        return real(path, max_side)

    monkeypatch.setattr(images, "load_scaled", spy)
    return readers


@pytest.mark.parametrize("h, w", THIN)
@pytest.mark.parametrize("max_side", [96, 128, 800])
def test_a_thin_image_shrinks_to_at_least_one_pixel_of_block_means(tmp_path, h, w, max_side):
    pixels = write_png(tmp_path / "thin.png", h, w)
    scaled = load_scaled(tmp_path / "thin.png", max_side)
    factor = scaled.factor
    assert factor == max(1, -(-max(h, w) // max_side))
    fh, fw = min(factor, h), min(factor, w)
    oracle = pixels[: h // fh * fh, : w // fw * fw].reshape(h // fh, fh, w // fw, fw)
    np.testing.assert_allclose(scaled.image, oracle.mean(axis=(1, 3)) / 255.0, atol=1e-6)
    assert scaled.image.shape == (max(1, h // fh), max(1, w // fw))
    assert max(scaled.image.shape) <= max_side
    # the in-memory path agrees with the file path
    small, f = downscale(load_image(tmp_path / "thin.png"), max_side)
    assert f == factor
    np.testing.assert_allclose(small, scaled.image, atol=1e-6)


@pytest.mark.parametrize("h, w", THIN)
def test_the_convolution_lab_crops_a_thin_photo(qtbot, make_lab, tmp_path, h, w):
    from gui.labs.convolution.lab import ConvolutionLab

    write_png(tmp_path / "thin.png", h, w)
    lab = make_lab(ConvolutionLab)
    lab.open_image(str(tmp_path / "thin.png"))
    setup = lab.settings.setup()
    assert setup.kind == "photo"
    assert setup.x.shape[2:] == (1, 1)  # the crop cannot be larger than the 1-row photo
    assert "1×1 crop" in setup.description
    # 3x3 kernel, padding 1 on a 1x1 input: one output cell; no padding: explained
    assert lab.trace is not None and lab.trace.geometry.HO == 1
    lab.settings.apply(padding=0)
    assert lab.trace is None and "does not fit" in lab.problem


@pytest.mark.parametrize("h, w", THIN)
def test_the_gallery_works_on_a_thin_photo(qtbot, make_lab, tmp_path, h, w):
    from gui.labs.gallery.lab import MAX_SIDE, GalleryLab

    write_png(tmp_path / "thin.png", h, w)
    expected = load_scaled(tmp_path / "thin.png", MAX_SIDE).image.shape  # 2x200, 1x801...
    lab = make_lab(GalleryLab)
    assert lab.open_image(tmp_path / "thin.png")
    lab.padding_combo.setCurrentIndex(lab.padding_combo.findData("same"))
    qtbot.waitUntil(lambda: not lab.loading and lab.current_result() is not None
                    and lab.current_result().request.grey.shape == expected
                    and lab.current_result().request.padding == "same", timeout=WAIT_MS)
    grey = lab.working_image()
    assert grey.shape == expected and min(expected) >= 1
    for text in (lab.info_label.text(), lab.notice_label.text(),
                 lab.conv_panel.caption_label.text()):
        assert not re.search(r"\b0[x×]\d", text), text  # never "does not fit a 0x769 input"
    assert lab.current_result().conv.shape == grey.shape
    lab.shutdown()


@pytest.mark.parametrize("h, w", THIN)
def test_the_fitting_lab_explains_a_thin_photo(qtbot, make_lab, tmp_path, h, w):
    from gui.labs.fitting.lab import FittingLab

    write_png(tmp_path / "thin.png", h, w)
    lab = make_lab(FittingLab)
    with qtbot.waitSignal(lab.status_message, timeout=WAIT_MS):
        lab.open_image(str(tmp_path / "thin.png"))
    assert lab.fitter is None and "does not fit" in lab.problem  # a 1-row crop, 3x3 kernel


def test_a_large_file_is_read_in_a_worker_thread(qtbot, tmp_path, monkeypatch):
    write_png(tmp_path / "large.png", 1200, 1000, colour=True)  # 1.2 MP > LARGE_PIXELS
    readers = reading_threads(monkeypatch)
    loader = ImageLoader()
    with qtbot.waitSignal(loader.loaded, timeout=WAIT_MS) as loaded:
        assert loader.load(tmp_path / "large.png", 96) is False  # not done yet: in the worker
        assert loader.busy
    assert readers and threading.get_ident() not in readers
    assert loaded.args[0].image.shape == (92, 76, 3) and loaded.args[0].factor == 13
    assert not loader.busy


def test_a_large_photo_opens_in_the_convolution_lab_without_blocking(qtbot, make_lab,
                                                                     tmp_path):
    from gui.labs.convolution.lab import ConvolutionLab

    write_png(tmp_path / "large.png", 1100, 1300, colour=True)
    lab = make_lab(ConvolutionLab)
    with qtbot.waitSignal(lab.status_message, timeout=WAIT_MS) as done:
        lab.open_image(str(tmp_path / "large.png"))
        assert lab.settings.photo_note.isVisibleTo(lab.settings)  # "Reading large.png…"
        assert "large.png" in lab.settings.photo_note.text()
    assert "Convolving a crop" in done.args[0]
    assert not lab.settings.photo_note.isVisibleTo(lab.settings)
    assert lab.settings.setup().kind == "photo"


def test_a_file_that_is_not_an_image_is_explained_on_the_worker_path(qtbot, tmp_path,
                                                                     monkeypatch):
    bogus = tmp_path / "bogus.png"
    bogus.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    monkeypatch.setattr(images, "image_size", lambda path: (5000, 5000))  # "large"
    loader = ImageLoader()
    with qtbot.waitSignal(loader.failed, timeout=WAIT_MS) as failed:
        loader.load(bogus, 96)
    assert "bogus.png" in failed.args[1] and "could not be read" in failed.args[1]


def write_huge_png(path, h: int, w: int) -> None:
    """A large picture with a small file: stripes 1,000 pixels wide, dark then light."""
    image = QImage(w, h, QImage.Format.Format_Grayscale8)
    image.fill(40)
    from PyQt6.QtGui import QColor, QPainter
    painter = QPainter(image)
    for x in range(1000, w, 2000):
        painter.fillRect(x, 0, 1000, h, QColor(220, 220, 220))
    painter.end()
    assert image.save(str(path), "PNG")


@pytest.mark.slow
def test_an_8000_by_8000_photo_is_read_in_a_worker_and_scaled_down(qtbot, make_lab, tmp_path,
                                                                   monkeypatch):
    """The issue's 64-megapixel PNG (it blocked the GUI for 1.9 s): read off the GUI thread,
    its stripes still where they were after the downscaling."""
    from gui.labs.convolution.lab import ConvolutionLab

    write_huge_png(tmp_path / "huge.png", 8000, 8000)
    readers = reading_threads(monkeypatch)
    loader = ImageLoader()
    with qtbot.waitSignal(loader.loaded, timeout=WAIT_MS) as loaded:
        assert loader.load(tmp_path / "huge.png", 96) is False  # in the worker
    assert readers and threading.get_ident() not in readers
    result = loaded.args[0]
    assert max(result.image.shape[:2]) <= 96
    row = result.image[result.image.shape[0] // 2].astype(float).reshape(-1)
    # 8 stripes of 1,000 pixels: dark, light, dark, ... -> about 12 pixels each after /83
    stripe = row.size / 8
    for k in range(8):
        middle = row[int((k + 0.5) * stripe)]
        assert (middle > 0.5) == (k % 2 == 1), (k, row)  # (grey values 0..1)
    lab = make_lab(ConvolutionLab)
    with qtbot.waitSignal(lab.status_message, timeout=WAIT_MS) as done:
        lab.open_image(str(tmp_path / "huge.png"))
        assert lab.settings.photo_note.isVisibleTo(lab.settings)  # "Reading huge.png…"
    assert "Convolving a crop" in done.args[0]
    assert lab.settings.setup().kind == "photo"
