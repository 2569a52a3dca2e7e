"""gui/labs/gallery/compute.py: the gallery's computation, tested without Qt.

Oracles: scipy.signal.correlate2d / convolve2d (no shared code with the engine) and
the textbook pooling loops of engine.reference.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.signal

from engine import gallery as kernel_gallery
from engine import reference
from gui.labs.gallery.compute import (
    GalleryRequest,
    compute_gallery,
    display_scale,
    format_value,
    matrix_text,
    parse_value,
)


def test_the_module_imports_no_qt():
    code = ("import sys, gui.labs.gallery.compute; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('PyQt6', 'pyqtgraph')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def request(grey, kernel, **changes) -> GalleryRequest:
    values = dict(serial=1, grey=grey, kernel=kernel, mode="cross-correlation",
                  padding="valid", activation="ReLU", pool="max", pool_size=2, pool_stride=2)
    values.update(changes)
    return GalleryRequest(**values)


@pytest.mark.parametrize("mode, flip", [("cross-correlation", False), ("convolution", True)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_compute_gallery_matches_scipy_and_the_reference_loops(mode, flip, padding):
    rng = np.random.default_rng(3)
    grey = rng.random((19, 26), dtype=np.float32)
    kernel = kernel_gallery.KERNELS["emboss"].astype(np.float32)
    result = compute_gallery(request(grey, kernel, mode=mode, padding=padding))
    oracle = (scipy.signal.convolve2d if flip else scipy.signal.correlate2d)(
        grey.astype(np.float64), kernel.astype(np.float64),
        mode="same" if padding == "same" else "valid")
    np.testing.assert_allclose(result.conv, oracle, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(result.applied_kernel,
                                  kernel[::-1, ::-1] if flip else kernel)
    np.testing.assert_allclose(result.activated, np.maximum(oracle, 0), rtol=1e-5, atol=1e-5)
    pooled, _ = reference.max_pool2d_forward(np.maximum(oracle, 0)[None, None], 2, 2)
    np.testing.assert_allclose(result.pooled, pooled[0, 0], rtol=1e-5, atol=1e-5)
    assert result.pool_error == "" and result.serial == 1


def test_a_pooling_window_larger_than_the_result_is_a_sentence():
    grey = np.ones((4, 4), dtype=np.float32)
    result = compute_gallery(request(grey, np.ones((3, 3), np.float32), pool_size=5))
    assert result.pooled is None and "does not fit" in result.pool_error


def test_display_scale_covers_the_percentile_and_is_never_empty():
    a = np.concatenate([np.linspace(-1, 1, 999), [1000.0]])  # one extreme pixel
    assert display_scale(a) == pytest.approx(np.percentile(np.abs(a), 99.5))
    assert display_scale(np.zeros((3, 3))) == 1.0
    assert display_scale(np.array([np.nan, 2.0])) == 2.0


def test_matrix_text_aligns_the_rows():
    assert matrix_text(np.array([[1, -1], [0.5, 1 / 9]]), width=5).splitlines() == [
        "    1   -1", "  1/2  1/9"]


@pytest.mark.parametrize(("text", "value"), [
    ("1/9", 1 / 9), ("-0.5", -0.5), (" 2 ", 2.0), ("−1", -1.0), ("0,25", 0.25), ("-3/4", -0.75),
])
def test_parse_value_accepts_numbers_and_fractions(text, value):
    assert parse_value(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "1/0", "inf", "nan", "1/2/3"])
def test_parse_value_rejects_non_numbers(text):
    with pytest.raises(ValueError):
        parse_value(text)


@pytest.mark.parametrize(("value", "text"), [
    (1 / 9, "1/9"), (0.25, "1/4"), (2.0, "2"), (-1.0, "-1"), (0.0, "0"), (np.pi, "3.14"),
])
def test_format_value(value, text):
    assert format_value(value) == text


