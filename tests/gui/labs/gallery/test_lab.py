"""The Kernel gallery lab: what its panels show equals independent computations.

Oracles: scipy.signal.correlate2d / convolve2d for the convolution panel (an
implementation that shares no code with the engine), the textbook loops of
engine.reference for pooling on small images, and the activation formulas.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.signal
from PyQt6.QtCore import QPointF, QSignalBlocker, Qt
from PyQt6.QtGui import QImage
from PyQt6.QtWidgets import QApplication

from engine import gallery as kernel_gallery
from engine import reference
from gui.labs.gallery import lab as gallery_module
from gui.labs.gallery.lab import MAX_SIDE, GalleryLab
from gui.widgets.image_panel import ImagePanel
from gui.widgets.images import ImageFileError, downscale, load_image

WAIT_MS = 60_000  # generous: the first call may compile or load Numba kernels


def write_grey_png(path, pixels: np.ndarray) -> None:
    """Save uint8 (H, W) pixels as an 8-bit greyscale PNG."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    h, w = pixels.shape
    image = QImage(pixels.data, w, h, w, QImage.Format.Format_Grayscale8)
    assert image.save(str(path), "PNG")


@pytest.fixture
def lab(qtbot, make_lab):
    widget = make_lab(GalleryLab, size=(1200, 850))
    settle(qtbot, widget)
    yield widget
    widget.shutdown()


def settle(qtbot, lab) -> None:
    """Wait until the lab shows the result of its newest request."""
    qtbot.waitUntil(lambda: not lab.loading and lab._pending is None and not lab._busy
                    and lab.current_result() is not None
                    and lab.current_result().serial == lab._serial, timeout=WAIT_MS)


def open_grey(qtbot, lab, path, pixels: np.ndarray) -> None:
    """Write ``pixels`` (H, W) as a grey PNG at ``path``, open it in the lab, wait for it."""
    write_grey_png(path, pixels)
    assert lab.open_image(path)
    settle(qtbot, lab)


@pytest.fixture
def small_image(tmp_path, lab, qtbot):
    """A 23x37 random grey photo (non-square; 2x2 windows do not tile it), opened in the lab."""
    rng = np.random.default_rng(5)
    path = tmp_path / "small.png"
    open_grey(qtbot, lab, path, rng.integers(0, 256, size=(23, 37)))
    return path


def type_into(qtbot, edit, text: str) -> None:
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(edit, text)


def shown_conv(lab) -> np.ndarray:
    return np.asarray(lab.conv_panel.image())


@pytest.mark.parametrize("name", list(kernel_gallery.KERNELS))
def test_each_named_kernel_panel_equals_the_engine_and_scipy(qtbot, lab, name):
    with qtbot.waitSignal(lab.result_shown, timeout=WAIT_MS):
        qtbot.mouseClick(lab.kernel_buttons[name], Qt.MouseButton.LeftButton)
    settle(qtbot, lab)
    grey = lab.working_image()
    kernel = kernel_gallery.KERNELS[name]
    assert lab.kernel_buttons[name].isChecked()
    np.testing.assert_array_equal(
        shown_conv(lab), kernel_gallery.apply_kernel(grey, kernel.astype(np.float32),
                                                     padding="valid"))
    oracle = scipy.signal.correlate2d(grey.astype(np.float64), kernel, mode="valid")
    np.testing.assert_allclose(shown_conv(lab), oracle, rtol=1e-5, atol=1e-5)


def test_default_photo_is_a_real_photograph(lab):
    grey = lab.working_image()
    assert grey.shape == (512, 512)  # camera.png
    assert lab.photo_combo.currentData() == "camera"
    assert lab.conv_panel.image().shape == (510, 510)  # valid padding by default


def test_the_courses_sample_picture_shows_two_lines_of_different_colours(qtbot, lab):
    """The course's demo: its grey cross, the vertical-edge kernel, four panels; the
    shipped PNG is exactly engine.gallery.sample_picture."""
    assert lab.photo_combo.itemData(0) == "cross"
    assert lab.photo_combo.itemText(0) == "Course sample (cross)"
    lab.photo_combo.setCurrentIndex(0)
    lab._on_photo_chosen(0)
    qtbot.waitUntil(lambda: lab.working_image().shape == (32, 32), timeout=WAIT_MS)
    np.testing.assert_array_equal(lab.working_image(),
                                  kernel_gallery.sample_picture().astype(np.float32))
    with qtbot.waitSignal(lab.result_shown, timeout=WAIT_MS):
        qtbot.mouseClick(lab.kernel_buttons["vertical edge"], Qt.MouseButton.LeftButton)
    settle(qtbot, lab)
    row = shown_conv(lab)[7]  # valid padding: row 8 of the picture, columns shifted by 1
    np.testing.assert_allclose(row[[12, 13, 16, 17]], [0.4, -0.4, -0.4, 0.4], atol=1e-6)
    assert "Vertical edge" in lab.kernel_name_label.text()
    assert "two lines of different colours" in lab.kernel_name_label.text()


def test_the_nine_course_kernels_have_alt_keys_and_the_older_ones_none(lab):
    from PyQt6.QtGui import QKeySequence

    for i, name in enumerate(kernel_gallery.COURSE_KERNELS):
        assert lab.kernel_buttons[name].shortcut() == QKeySequence(f"Alt+{i + 1}")
    for name in list(kernel_gallery.KERNELS)[9:]:
        assert lab.kernel_buttons[name].shortcut().isEmpty()
    lab.retranslate()  # setting the texts again keeps the keys
    assert lab.kernel_buttons["blur"].shortcut() == QKeySequence("Alt+7")


def test_typed_kernel_is_used_while_typing(qtbot, lab, small_image):
    type_into(qtbot, lab.cell_edits[0][0], "1/4")
    type_into(qtbot, lab.cell_edits[2][1], "-3")
    settle(qtbot, lab)
    kernel = kernel_gallery.KERNELS["Sobel-X"].copy()
    kernel[0, 0], kernel[2, 1] = 0.25, -3.0
    oracle = scipy.signal.correlate2d(lab.working_image().astype(np.float64), kernel, "valid")
    np.testing.assert_allclose(shown_conv(lab), oracle, rtol=1e-5, atol=1e-5)
    assert lab.kernel_group.checkedButton() is None  # no longer a named kernel
    assert "own kernel" in lab.kernel_name_label.text()


def test_bad_entry_is_explained_and_keeps_the_last_result(qtbot, lab):
    before = lab.current_result().serial
    type_into(qtbot, lab.cell_edits[1][2], "abc")
    assert lab.kernel_error_label.isVisibleTo(lab)
    assert "row 2, column 3" in lab.kernel_error_label.text()
    assert "not a number" in lab.kernel_error_label.text()
    assert lab.current_result().serial == before
    type_into(qtbot, lab.cell_edits[1][2], "2")
    settle(qtbot, lab)
    assert not lab.kernel_error_label.isVisibleTo(lab)
    assert lab.current_result().serial > before


def test_true_convolution_flips_the_kernel(qtbot, lab, small_image):
    kernel = kernel_gallery.KERNELS["emboss"]
    qtbot.mouseClick(lab.kernel_buttons["emboss"], Qt.MouseButton.LeftButton)
    lab.convolution_radio.setChecked(True)
    settle(qtbot, lab)
    grey = lab.working_image().astype(np.float64)
    np.testing.assert_allclose(shown_conv(lab), scipy.signal.convolve2d(grey, kernel, "valid"),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(lab.current_result().applied_kernel, kernel[::-1, ::-1])
    assert "180" in lab.applied_label.text()
    lab.correlation_radio.setChecked(True)
    settle(qtbot, lab)
    np.testing.assert_allclose(shown_conv(lab), scipy.signal.correlate2d(grey, kernel, "valid"),
                               rtol=1e-5, atol=1e-5)


def test_same_padding_keeps_the_size(qtbot, lab, small_image):
    lab.padding_combo.setCurrentIndex(lab.padding_combo.findData("same"))
    settle(qtbot, lab)
    grey = lab.working_image().astype(np.float64)
    oracle = scipy.signal.correlate2d(grey, kernel_gallery.KERNELS["Sobel-X"], mode="same")
    np.testing.assert_allclose(shown_conv(lab), oracle, rtol=1e-5, atol=1e-5)


def test_normalise_divides_by_the_sum(qtbot, lab, small_image):
    for r in range(3):
        for c in range(3):
            type_into(qtbot, lab.cell_edits[r][c], "2")
    lab.normalise_check.setChecked(True)
    settle(qtbot, lab)
    grey = lab.working_image().astype(np.float64)
    oracle = scipy.signal.correlate2d(grey, np.full((3, 3), 2.0 / 18.0), mode="valid")
    np.testing.assert_allclose(shown_conv(lab), oracle, rtol=1e-5, atol=1e-5)
    assert "18" in lab.normalise_label.text()


def test_normalising_an_edge_kernel_uses_the_absolute_sum(qtbot, lab, small_image):
    qtbot.mouseClick(lab.kernel_buttons["Sobel-X"], Qt.MouseButton.LeftButton)
    lab.normalise_check.setChecked(True)
    settle(qtbot, lab)
    grey = lab.working_image().astype(np.float64)
    oracle = scipy.signal.correlate2d(grey, kernel_gallery.KERNELS["Sobel-X"] / 8.0, "valid")
    np.testing.assert_allclose(shown_conv(lab), oracle, rtol=1e-5, atol=1e-5)
    assert "sum to 0" in lab.normalise_label.text()


@pytest.mark.parametrize(("activation", "pool", "size", "stride"), [
    ("ReLU", "max", 2, 2),
    ("sigmoid", "avg", 3, 2),
    ("tanh", "max", 3, 1),
    ("ReLU", "avg", 2, 3),
])
def test_activation_and_pooling_panels_match_the_reference(qtbot, lab, small_image,
                                                           activation, pool, size, stride):
    lab.activation_combo.setCurrentIndex(lab.activation_combo.findData(activation))
    lab.pool_combo.setCurrentIndex(lab.pool_combo.findData(pool))
    lab.pool_size_spin.setValue(size)
    lab.pool_stride_spin.setValue(stride)
    settle(qtbot, lab)
    conv = shown_conv(lab).astype(np.float64)
    formulas = {"ReLU": lambda a: np.maximum(a, 0.0),
                "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
                "tanh": np.tanh}
    activated = formulas[activation](conv)
    np.testing.assert_allclose(lab.activation_panel.image(), activated, rtol=1e-5, atol=1e-6)
    plane = activated[None, None]  # (HO, WO) -> (1, 1, HO, WO)
    if pool == "max":
        expected = reference.max_pool2d_forward(plane, size, stride)[0][0, 0]
    else:
        expected = reference.avg_pool2d_forward(plane, size, stride)[0, 0]
    np.testing.assert_allclose(lab.pool_panel.image(), expected, rtol=1e-5, atol=1e-6)
    assert f"stride {stride}" in lab.pool_panel.title_label.text()


def test_a_pooling_window_that_does_not_fit_is_explained(qtbot, lab, small_image):
    lab.pool_size_spin.setValue(30)  # the 21x35 conv result is only 21 rows high
    settle(qtbot, lab)
    assert lab.current_result().pooled is None
    assert "does not fit" in lab.pool_panel.caption_label.text()


def test_unreadable_file_gives_a_message_and_changes_nothing(qtbot, lab, tmp_path):
    bogus = tmp_path / "notes.png"
    bogus.write_text("this is not a picture")
    before = lab.working_image()
    with qtbot.waitSignal(lab.status_message) as message:
        assert lab.open_image(bogus) is False
    assert "notes.png" in message.args[0]
    assert "could not be read" in message.args[0]
    assert lab.working_image() is before


def test_large_photo_is_downscaled_and_says_so(qtbot, lab, tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "big.png"
    open_grey(qtbot, lab, path, rng.integers(0, 256, size=(1000, 2000)))
    h, w = lab.working_image().shape
    assert max(h, w) <= MAX_SIDE
    assert (h, w) == (333, 666)  # 2000 / 800 -> factor 3, block averages
    assert lab.notice_label.isVisibleTo(lab)
    assert "2000×1000" in lab.notice_label.text()
    assert shown_conv(lab).shape == (h - 2, w - 2)
    # a small photo afterwards removes the notice
    lab.photo_combo.setCurrentIndex(lab.photo_combo.findData("coins"))
    lab._on_photo_chosen(lab.photo_combo.currentIndex())
    settle(qtbot, lab)
    assert not lab.notice_label.isVisibleTo(lab)


def test_computation_runs_off_the_gui_thread_and_latest_request_wins(qtbot, lab, monkeypatch):
    threads, serials = [], []
    real = gallery_module.compute_gallery

    def spy(request):
        threads.append(threading.get_ident())
        serials.append(request.serial)
        return real(request)

    monkeypatch.setattr(gallery_module, "compute_gallery", spy)
    first = lab._serial
    for value in (3, 4, 5, 6, 7, 8):  # a burst of edits, as when typing fast
        lab.pool_size_spin.setValue(value)
    settle(qtbot, lab)
    assert threads and threading.get_ident() not in threads
    assert lab.current_result().request.pool_size == 8
    assert serials[-1] == lab._serial == first + 6
    # stale requests were skipped, never computed after a newer one
    assert serials == sorted(serials)


def test_prepare_screenshot_draws_synchronously(lab):
    with QSignalBlocker(lab.activation_combo):
        lab.activation_combo.setCurrentIndex(lab.activation_combo.findData("tanh"))
    lab.prepare_screenshot()
    assert lab.current_result().request.activation == "tanh"
    assert lab.activation_panel.mode == "diverging"


# --------------------------------------------------------------- image files and panels
def test_load_image_reads_grey_and_colour_files_exactly(tmp_path):
    rng = np.random.default_rng(2)
    grey = rng.integers(0, 256, size=(7, 13), dtype=np.uint8)
    write_grey_png(tmp_path / "g.png", grey)
    loaded = load_image(tmp_path / "g.png")
    assert loaded.dtype == np.float32 and loaded.shape == (7, 13)
    np.testing.assert_allclose(loaded, grey / 255.0, atol=1e-7)

    rgb = np.ascontiguousarray(rng.integers(0, 256, size=(5, 9, 3), dtype=np.uint8))
    image = QImage(rgb.data, 9, 5, 27, QImage.Format.Format_RGB888)
    for suffix in ("png", "bmp"):  # lossless formats: every value must survive
        assert image.save(str(tmp_path / f"c.{suffix}"))
        loaded = load_image(tmp_path / f"c.{suffix}")
        assert loaded.shape == (5, 9, 3)
        np.testing.assert_allclose(loaded, rgb / 255.0, atol=1e-7)


def test_load_image_reads_jpeg(tmp_path):
    flat = np.full((16, 16), 128, dtype=np.uint8)
    image = QImage(flat.data, 16, 16, 16, QImage.Format.Format_Grayscale8)
    assert image.save(str(tmp_path / "f.jpg"), "JPEG", 95)
    loaded = load_image(tmp_path / "f.jpg")
    np.testing.assert_allclose(loaded, 128 / 255.0, atol=3 / 255.0)  # lossy, but flat


@pytest.mark.parametrize(("name", "content", "words"), [
    ("missing.png", None, "was not found"),
    ("text.png", b"not an image at all", "could not be read"),
    ("cut.png", b"\x89PNG\r\n\x1a\n\x00\x00", "could not be read"),
])
def test_load_image_explains_bad_files(tmp_path, name, content, words):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageFileError, match=words):
        load_image(path)


def test_downscale_averages_blocks():
    rng = np.random.default_rng(3)
    image = rng.random((10, 17, 3)).astype(np.float32)
    small, factor = downscale(image, 6)
    assert factor == 3 and small.shape == (3, 5, 3)  # ceil(17 / 6) = 3; edges dropped
    for i in range(3):
        for j in range(5):
            block = image[3 * i: 3 * i + 3, 3 * j: 3 * j + 3]
            np.testing.assert_allclose(small[i, j], block.mean(axis=(0, 1)), rtol=1e-6)
    same, factor = downscale(image, 17)
    assert factor == 1 and same is image


def test_image_panel_levels_and_colour_bar(qtbot):
    panel = ImagePanel("signed", colorbar=True)
    qtbot.addWidget(panel)
    data = np.array([[-2.0, 0.5], [1.0, 0.0]], dtype=np.float32)
    panel.set_image(data, mode="diverging")
    assert panel.mode == "diverging"
    assert tuple(panel.image_item.getLevels()) == (-2.0, 2.0)  # centred on 0
    assert tuple(panel.colorbar.levels()) == (-2.0, 2.0)
    item = panel.image_item
    panel.set_image(np.zeros((3, 4)), mode="greys")  # constant: levels widened, no crash
    assert panel.image_item is item  # updated in place, never rebuilt
    low, high = panel.image_item.getLevels()
    assert low < high
    with pytest.raises(ValueError):
        panel.set_image(data, mode="rainbow")


def test_a_photo_too_small_for_the_kernel_is_explained(qtbot, lab, tmp_path):
    path = tmp_path / "tiny.png"
    write_grey_png(path, np.full((2, 2), 200))
    with qtbot.waitSignal(lab.status_message, timeout=WAIT_MS,
                          check_params_cb=lambda text: "does not fit" in text):
        assert lab.open_image(path)
    assert "3x3 kernel does not fit a 2x2 input" in lab.info_label.text()
    # same padding makes it fit
    lab.padding_combo.setCurrentIndex(lab.padding_combo.findData("same"))
    settle(qtbot, lab)
    assert shown_conv(lab).shape == (2, 2)


def test_image_panel_reports_the_value_under_the_pointer(qtbot):
    panel = ImagePanel("values", colorbar=True)
    qtbot.addWidget(panel)
    panel.resize(300, 300)
    data = np.arange(12, dtype=np.float32).reshape(3, 4) - 5  # (H=3, W=4)
    panel.set_image(data, mode="diverging")
    assert panel.value_at(2, 1) == "row 2, column 1: 4"
    assert panel.value_at(0, 0) == "row 0, column 0: −5"
    assert panel.value_at(3, 0) == "" and panel.value_at(0, -1) == ""
    panel.show()
    qtbot.waitExposed(panel)
    panel.view.autoRange(padding=0)
    scene_pos = panel.view.mapViewToScene(QPointF(1.5, 2.5))  # x = column, y = row
    panel._on_mouse_moved(scene_pos)
    assert panel.hover_label.text() == "row 2, column 1: 4"


def test_alt_number_picks_a_named_kernel(qtbot, lab):
    lab.show()
    lab.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is lab)
    names = list(kernel_gallery.KERNELS)
    qtbot.keyClick(lab, Qt.Key.Key_7, Qt.KeyboardModifier.AltModifier)
    # a button shortcut "animates" the click: the press shows for a moment first
    qtbot.waitUntil(lab.kernel_buttons[names[6]].isChecked)
    settle(qtbot, lab)
    np.testing.assert_array_equal(lab.current_result().request.kernel,
                                  kernel_gallery.KERNELS[names[6]].astype(np.float32))


def test_no_thread_starts_after_shutdown(qtbot, lab):
    lab.shutdown()
    lab.select_kernel("blur")  # e.g. a late click that arrives while the window closes
    assert lab._thread is None
