"""The kernel gallery: the nine named kernels and the image helpers of the Kernel gallery lab.

Oracles: scipy.signal.correlate2d / convolve2d (zero fill) and engine.reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import convolve2d, correlate2d

from engine import GeometryError, i18n
from engine import reference as ref
from engine.gallery import (
    ACTIVATIONS,
    COURSE_KERNELS,
    DESCRIPTIONS,
    KERNELS,
    LUMA_WEIGHTS,
    NAMES,
    activate,
    apply_kernel,
    kernel_description,
    kernel_name,
    normalise_kernel,
    pool_image,
    sample_picture,
    to_grey,
)

# The course's nine kernels, written out by hand from CURRICULUM.md ("The nine classic
# kernels"): key, English name, Chinese name, rows. Blur: the course writes 0.11, the
# rounded 1/9 of an average.
COURSE = [
    ("sharpen", "Sharpen", "锐化", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    ("vertical edge", "Vertical edge", "检测竖边", [[0, 0, 0], [-1, 2, -1], [0, 0, 0]]),
    ("surround", "Surround", "周边", [[1, 1, 1], [1, -9, 1], [1, 1, 1]]),
    ("Sobel-Y", "Sobel-Y", "Sobel-Y", [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    ("identity", "Identity", "恒等（原图）", [[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    ("horizontal edge", "Horizontal edge", "横边检测", [[0, -1, 0], [0, 2, 0], [0, -1, 0]]),
    ("blur", "Blur", "模糊", [[1 / 9] * 3] * 3),
    ("Sobel-X", "Sobel-X", "Sobel-X", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    ("emboss", "Emboss", "浮雕", [[2, 0, 0], [0, -1, 0], [0, 0, -1]]),
]
NAMES_IN_ORDER = [key for key, *_ in COURSE]
# the textbook kernels the gallery showed before, kept after the nine
EXTRAS = {
    "left minus right": [[1, 0, -1], [1, 0, -1], [1, 0, -1]],
    "top minus bottom": [[1, 1, 1], [0, 0, 0], [-1, -1, -1]],
    "neighbour sum": [[1, 1, 1], [1, 0, 1], [1, 1, 1]],
    "diagonal emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
}


@pytest.fixture
def photo():
    """A small non-square grey 'photograph' with structure (a bright square on a ramp)."""
    rng = np.random.default_rng(0)
    img = np.linspace(0, 1, 11 * 14).reshape(11, 14) + 0.1 * rng.random((11, 14))
    img[3:7, 4:9] += 1.0
    return img


def test_the_course_kernels_with_its_values_names_and_order():
    assert list(COURSE_KERNELS) == NAMES_IN_ORDER
    assert list(KERNELS)[:9] == NAMES_IN_ORDER
    for key, english, chinese, rows in COURSE:
        np.testing.assert_array_equal(KERNELS[key], np.array(rows, dtype=np.float64))
        assert kernel_name(key) == english
        i18n.set_language("zh_CN")
        try:
            assert kernel_name(key) == chinese
            assert kernel_description(key) and kernel_description(key) != DESCRIPTIONS[key]
        finally:
            i18n.set_language("en")
    np.testing.assert_allclose(KERNELS["blur"], 0.11, atol=0.0012)  # the course's 0.11


def test_the_older_textbook_kernels_come_after_the_nine():
    assert list(KERNELS)[9:] == list(EXTRAS)
    for key, rows in EXTRAS.items():
        np.testing.assert_array_equal(KERNELS[key], np.array(rows, dtype=np.float64))


def test_every_kernel_has_a_name_and_a_description():
    assert list(NAMES) == list(KERNELS) == list(DESCRIPTIONS)
    for name, k in KERNELS.items():
        assert k.shape == (3, 3) and k.dtype == np.float64, name
        assert DESCRIPTIONS[name].strip() and "\n" not in DESCRIPTIONS[name]
    # the Sobel pair are transposes of each other, as are the course's two edge detectors
    np.testing.assert_array_equal(KERNELS["Sobel-X"], KERNELS["Sobel-Y"].T)
    np.testing.assert_array_equal(KERNELS["vertical edge"], KERNELS["horizontal edge"].T)


def test_the_sample_picture_is_a_grey_cross():
    picture = sample_picture()
    assert picture.shape == (32, 32) and picture.dtype == np.float64
    assert set(np.unique(picture)) == {0.2, 0.6}
    dark = picture == 0.2
    # one vertical stroke (columns 14-17) and one horizontal stroke (rows 14-17)
    assert dark[:, 14:18].sum(axis=1).max() == 4 and dark[4:28, 14:18].all()
    assert dark[14:18, 4:28].all()
    assert dark.sum() == 2 * 24 * 4 - 4 * 4


def test_the_vertical_edge_kernel_turns_a_line_into_two_lines_of_different_colours():
    """What the course shows on its sample picture: each side of the vertical stroke
    becomes a positive and a negative line; the horizontal stroke vanishes but for its
    ends; with the horizontal-edge kernel the other way round."""
    picture = sample_picture()
    out = correlate2d(picture, KERNELS["vertical edge"], mode="same", boundary="symm")
    row = out[8]  # a row through the vertical stroke only
    np.testing.assert_allclose(row[[13, 14, 17, 18]], [0.4, -0.4, -0.4, 0.4])
    np.testing.assert_allclose(np.delete(row, [13, 14, 17, 18]), 0.0, atol=1e-12)
    np.testing.assert_allclose(out[14:18, 6:12], 0.0, atol=1e-12)  # inside the horizontal one
    np.testing.assert_allclose(apply_kernel(picture, KERNELS["vertical edge"])[1:-1, 1:-1],
                               out[1:-1, 1:-1], atol=1e-12)
    across = correlate2d(picture, KERNELS["horizontal edge"], mode="same", boundary="symm")
    np.testing.assert_allclose(across[[13, 14, 17, 18], 8], [0.4, -0.4, -0.4, 0.4])


def test_gallery_kernels_are_read_only():
    with pytest.raises(ValueError):
        KERNELS["blur"][0, 0] = 1.0
    editable = KERNELS["blur"].copy()
    editable[0, 0] = 1.0


@pytest.mark.parametrize("name", list(KERNELS))
def test_each_kernel_matches_scipy_and_the_reference(name, photo):
    k = KERNELS[name]
    np.testing.assert_allclose(apply_kernel(photo, k), correlate2d(photo, k, mode="same"),
                               atol=1e-12)
    np.testing.assert_allclose(apply_kernel(photo, k, padding="valid"),
                               correlate2d(photo, k, mode="valid"), atol=1e-12)
    np.testing.assert_allclose(apply_kernel(photo, k, mode="convolution"),
                               convolve2d(photo, k, mode="same"), atol=1e-12)
    by_reference = ref.conv2d_forward(photo[None, None], k[None, None], np.zeros(1), padding=1)
    np.testing.assert_allclose(apply_kernel(photo, k), by_reference[0, 0], atol=1e-12)


def test_identity_leaves_the_image_unchanged(photo):
    np.testing.assert_array_equal(apply_kernel(photo, KERNELS["identity"]), photo)
    np.testing.assert_array_equal(
        apply_kernel(photo, KERNELS["identity"], mode="convolution"), photo)
    np.testing.assert_array_equal(
        apply_kernel(photo, KERNELS["identity"], padding="valid"), photo[1:-1, 1:-1])


def test_edge_kernels_find_the_edges_they_are_named_after():
    img = np.zeros((6, 6))
    img[:, 3:] = 1.0                      # one vertical edge between columns 2 and 3
    vertical = apply_kernel(img, KERNELS["vertical edge"], padding="valid")
    horizontal = apply_kernel(img, KERNELS["horizontal edge"], padding="valid")
    assert np.abs(vertical).max() == 1.0 and np.abs(horizontal).max() == 0.0
    sobel_x = apply_kernel(img, KERNELS["Sobel-X"], padding="valid")
    assert sobel_x.max() == 4.0 and sobel_x.min() == 0.0  # brighter to the right: positive


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.sampled_from(["same", "valid"]),
       st.integers(0, 2**16))
def test_true_convolution_is_cross_correlation_with_the_flipped_kernel(kh, kw, padding, seed):
    rng = np.random.default_rng(seed)
    img = rng.standard_normal((7, 8))
    k = rng.standard_normal((kh, kw))
    conv = apply_kernel(img, k, mode="convolution", padding=padding)
    np.testing.assert_allclose(conv, convolve2d(img, k, mode=padding), atol=1e-12)
    corr = apply_kernel(img, k, padding=padding)
    np.testing.assert_allclose(corr, correlate2d(img, k, mode=padding), atol=1e-12)
    if padding == "valid" or (kh % 2 and kw % 2):
        # with "same" and an even size the centre moves with the flip (see _same_padding)
        flipped = apply_kernel(img, k[::-1, ::-1], padding=padding)
        np.testing.assert_allclose(conv, flipped, atol=1e-12)


def test_colour_images_are_converted_to_grey(photo):
    rng = np.random.default_rng(1)
    rgb = rng.random(photo.shape + (3,))
    k = KERNELS["sharpen"]
    # linearity: filtering the grey image equals the luma-weighted sum of the filtered channels
    per_channel = sum(wt * correlate2d(rgb[:, :, c], k, mode="same")
                      for c, wt in enumerate([0.299, 0.587, 0.114]))
    np.testing.assert_allclose(apply_kernel(rgb, k), per_channel, atol=1e-12)
    rgba = np.concatenate([rgb, np.ones(photo.shape + (1,))], axis=2)
    np.testing.assert_allclose(to_grey(rgba), to_grey(rgb))
    np.testing.assert_allclose(LUMA_WEIGHTS.sum(), 1.0)


def test_dtype_and_shape():
    img32 = np.ones((5, 6), dtype=np.float32)
    out = apply_kernel(img32, KERNELS["blur"])
    assert out.dtype == np.float32 and out.shape == (5, 6)
    out = apply_kernel(np.ones((5, 6), dtype=np.uint8), KERNELS["blur"], padding="valid")
    assert out.dtype == np.float64 and out.shape == (3, 4)
    np.testing.assert_allclose(out, 1.0)


@pytest.mark.parametrize("call", [
    lambda: apply_kernel(np.zeros((5, 5, 2)), KERNELS["blur"]),
    lambda: apply_kernel(np.zeros(5), KERNELS["blur"]),
    lambda: apply_kernel(np.zeros((5, 5)), np.zeros((3, 3, 1))),
    lambda: apply_kernel(np.zeros((5, 5)), KERNELS["blur"], mode="correlate"),
    lambda: apply_kernel(np.zeros((5, 5)), KERNELS["blur"], padding="full"),
    lambda: apply_kernel(np.zeros((2, 2)), KERNELS["blur"], padding="valid"),
    lambda: apply_kernel(np.zeros((5, 5)), [[1, np.nan, 0]]),
    lambda: pool_image(np.zeros((1, 4, 4))),
    lambda: pool_image(np.zeros((2, 2)), size=3),
])
def test_bad_input_raises_a_geometry_error(call):
    with pytest.raises(GeometryError):
        call()


def test_normalise_kernel():
    np.testing.assert_allclose(normalise_kernel(np.ones((3, 3))), KERNELS["blur"])
    np.testing.assert_allclose(normalise_kernel([[2.0, 6.0]]), [[0.25, 0.75]])
    # zero sum: scaled by the sum of absolute values
    np.testing.assert_allclose(normalise_kernel([[1.0, -1.0]]), [[0.5, -0.5]])
    np.testing.assert_allclose(normalise_kernel(KERNELS["Sobel-X"]), KERNELS["Sobel-X"] / 8)
    np.testing.assert_array_equal(normalise_kernel(np.zeros((3, 3))), np.zeros((3, 3)))
    # a sum that is zero up to rounding is treated as zero, not divided by
    almost = np.array([[0.1, 0.2, -0.3]])
    assert np.abs(normalise_kernel(almost)).sum() == pytest.approx(1.0)


def test_activations():
    a = np.array([-1000.0, -2.0, 0.0, 0.5, 1000.0])
    np.testing.assert_array_equal(activate(a, "ReLU"), [0, 0, 0, 0.5, 1000])
    np.testing.assert_array_equal(activate(a, "none"), a)
    with np.errstate(all="raise"):
        s = activate(a, "sigmoid")
    np.testing.assert_allclose(s[1:4], 1 / (1 + np.exp(-a[1:4])))
    np.testing.assert_allclose(s[[0, 4]], [0.0, 1.0])
    np.testing.assert_allclose(activate(a, "tanh"), np.tanh(a))
    assert set(ACTIVATIONS) == {"none", "ReLU", "sigmoid", "tanh"}
    with pytest.raises(ValueError):
        activate(a, "softplus")


def test_pool_image(photo):
    even = photo[:10, :14]
    # (10, 14) -> (5, 2, 7, 2): each 2x2 block on its own axes
    blocks = even.reshape(5, 2, 7, 2)
    np.testing.assert_array_equal(pool_image(even, "max"), blocks.max(axis=(1, 3)))
    np.testing.assert_allclose(pool_image(even, "avg"), blocks.mean(axis=(1, 3)))
    y, _ = ref.max_pool2d_forward(photo[None, None], 3, 2)
    np.testing.assert_array_equal(pool_image(photo, "max", 3, 2), y[0, 0])
    np.testing.assert_allclose(pool_image(photo, "avg", 3, 2),
                               ref.avg_pool2d_forward(photo[None, None], 3, 2)[0, 0])
    with pytest.raises(ValueError):
        pool_image(photo, "min")
