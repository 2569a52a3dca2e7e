"""engine.colour: the heat-map colouring kernel against plain loops."""

import math

import numpy as np
import pytest

from engine.colour import FLOOR, ColourMapper, colour_map_into

RNG = np.random.default_rng(7)
# two distinct tables of different lengths, so a wrong choice or a wrong n shows
SIGNED_LUT = RNG.integers(1, 255, size=(256, 4), dtype=np.uint8)
UNSIGNED_LUT = RNG.integers(1, 255, size=(100, 4), dtype=np.uint8)


def reference(values, index_map, signed):
    """Plain loops: levels from the finite values, pyqtgraph's float32 scaling."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    finite = [float(v) for v in flat if math.isfinite(v)]
    negative = any(v < 0 for v in flat)  # NaN is not negative, -inf is
    is_signed = signed == "always" or negative
    if is_signed:
        m = max([abs(v) for v in finite] + [FLOOR])
        low, high = -m, m
    else:
        low, high = 0.0, (max(max(finite), FLOOR) if finite else 1.0)
    lut = SIGNED_LUT if is_signed else UNSIGNED_LUT
    n = lut.shape[0]
    scale = np.float32(n / (high - low))
    out = np.zeros(index_map.shape + (4,), np.uint8)
    for r in range(index_map.shape[0]):
        for c in range(index_map.shape[1]):
            k = index_map[r, c]
            if k < 0 or np.isnan(flat[k]):
                continue  # transparent
            with np.errstate(over="ignore"):  # the float32 extremes: inf, as in the kernel
                s = (flat[k] - np.float32(low)) * scale
            out[r, c] = lut[int(min(max(s, 0), n - 1))]
    return out, (low, high), is_signed


def run(values, index_map, signed="auto", canvas_shape=None, at=(0, 0)):
    """colour_map_into writing into a view of a larger canvas (strided out)."""
    oh, ow = index_map.shape
    canvas = np.full(canvas_shape or (oh + 3, ow + 5, 4), 9, np.uint8)
    canvas32 = canvas.view(np.uint32)[..., 0]
    r, c = at
    levels, is_signed = colour_map_into(canvas32[r:r + oh, c:c + ow], values, index_map,
                                        SIGNED_LUT, UNSIGNED_LUT, signed)
    return canvas, levels, is_signed


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("signed", ["auto", "always"])
def test_random_maps_match_the_loops(seed, signed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 7, size=rng.integers(1, 4)))
    values = rng.normal(size=shape).astype(np.float32)
    if seed % 2:
        values = np.abs(values)  # all positive: "auto" picks the unsigned table
    size = values.size
    # a scaled layout: every value several times, some pixels empty (-1)
    index_map = rng.integers(-1, size, size=(rng.integers(1, 12), rng.integers(1, 12)))
    canvas, levels, is_signed = run(values, index_map, signed, at=(1, 2))
    expected, expected_levels, expected_signed = reference(values, index_map, signed)
    oh, ow = index_map.shape
    np.testing.assert_array_equal(canvas[1:1 + oh, 2:2 + ow], expected)
    assert levels == pytest.approx(expected_levels, rel=0, abs=0)
    assert is_signed == expected_signed == (signed == "always" or seed % 2 == 0)
    # nothing outside the view was touched
    outside = canvas.copy()
    outside[1:1 + oh, 2:2 + ow] = 9
    assert (outside == 9).all()


def test_nan_is_transparent_and_inf_saturates_without_moving_the_levels():
    values = np.array([np.nan, -np.inf, np.inf, -2.0, 1.0, 0.0], np.float32)
    index_map = np.arange(6).reshape(2, 3)
    canvas, levels, is_signed = run(values, index_map)
    expected, expected_levels, _ = reference(values, index_map, "auto")
    assert is_signed  # -inf is negative
    assert levels == (-2.0, 2.0)  # from the finite values only
    np.testing.assert_array_equal(canvas[:2, :3], expected)
    assert (canvas[0, 0] == 0).all()  # NaN: transparent
    np.testing.assert_array_equal(canvas[0, 1], SIGNED_LUT[0])  # -inf: the first colour
    np.testing.assert_array_equal(canvas[0, 2], SIGNED_LUT[-1])  # +inf: the last


SPECIALS = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45,
                     np.finfo(np.float32).max, -np.finfo(np.float32).max,
                     np.finfo(np.float32).tiny, -np.finfo(np.float32).tiny], np.float32)


@pytest.mark.parametrize("seed", range(12))
def test_one_mapper_colours_changing_values_like_the_loops(seed):
    """A view keeps its mapper and feeds it new values every frame: values mixing
    the float32 specials (NaN of either sign, infinities, signed zeros, subnormals,
    the extremes) with normal ones, of either sign, all must give the loops' levels
    and colours (the kernel finds the range on the values' bit patterns)."""
    rng = np.random.default_rng(100 + seed)
    size = int(rng.integers(1, 300))
    index_map = rng.integers(-1, size, size=(int(rng.integers(1, 20)), int(rng.integers(1, 20))))
    canvas = np.full((index_map.shape[0] + 2, index_map.shape[1] + 3, 4), 9, np.uint8)
    out = canvas.view(np.uint32)[1:-1, 2:-1, 0]
    for signed in ("auto", "always"):
        mapper = ColourMapper(out, index_map, SIGNED_LUT, UNSIGNED_LUT, signed)
        for frame in range(6):
            values = (rng.normal(size=size) * 10.0 ** rng.integers(-3, 4)).astype(np.float32)
            if frame % 2:
                values = np.abs(values)
            if frame >= 2:  # some specials in random places
                picks = rng.integers(0, size, size=int(rng.integers(1, 6)))
                values[picks] = rng.choice(SPECIALS, size=picks.size)
            if frame == 5:
                values[:] = rng.choice(SPECIALS[:4], size=size)  # nothing finite
            levels, is_signed = mapper.colour(values)
            expected, expected_levels, expected_signed = reference(values, index_map, signed)
            np.testing.assert_array_equal(canvas[1:-1, 2:-1], expected)
            assert levels == expected_levels and is_signed == expected_signed
    assert (canvas[0] == 9).all() and (canvas[-1] == 9).all() and (canvas[:, :2] == 9).all()


@pytest.mark.parametrize("shape, size", [((3, 4), (7, 9)), ((2, 5), (11, 5)), ((6, 6), (6, 6)),
                                         ((1, 3), (5, 8)), ((4, 2), (9, 3))])
def test_a_map_scaled_up_to_its_square_repeats_rows_and_gets_the_loops_colours(shape, size):
    """As the Training lab lays a layer out: a nearest-pixel scale (rows repeat, which
    the kernel copies from the row above) of a layout with gaps (-1) and NaN values."""
    rng = np.random.default_rng(shape[0] * 10 + size[0])
    layout = np.arange(shape[0] * shape[1]).reshape(shape)
    layout[rng.random(shape) < 0.2] = -1
    rows = np.arange(size[0]) * shape[0] // size[0]
    cols = np.arange(size[1]) * shape[1] // size[1]
    index_map = layout[rows[:, None], cols[None, :]]
    values = rng.normal(size=layout.size).astype(np.float32)
    values[rng.random(layout.size) < 0.15] = np.nan
    canvas, levels, is_signed = run(values, index_map, at=(2, 1))
    expected, expected_levels, expected_signed = reference(values, index_map, "auto")
    np.testing.assert_array_equal(canvas[2:2 + size[0], 1:1 + size[1]], expected)
    assert levels == expected_levels and is_signed == expected_signed
    outside = canvas.copy()
    outside[2:2 + size[0], 1:1 + size[1]] = 9
    assert (outside == 9).all()


def test_a_mapper_refuses_too_few_values():
    mapper = ColourMapper(np.zeros((2, 2), np.uint32), np.arange(4).reshape(2, 2),
                          SIGNED_LUT, UNSIGNED_LUT)
    with pytest.raises(ValueError, match="outside the 3 values"):
        mapper.colour(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="outside"):
        ColourMapper(np.zeros((1, 2), np.uint32), np.array([[0, -2]]), SIGNED_LUT, SIGNED_LUT)


def test_an_empty_image_still_gets_levels():
    values = np.array([-3.0, 1.0, np.nan], np.float32)
    levels, is_signed = colour_map_into(np.zeros((0, 3), np.uint32), values,
                                        np.zeros((0, 3), np.int64), SIGNED_LUT, UNSIGNED_LUT)
    assert levels == (-3.0, 3.0) and is_signed


@pytest.mark.parametrize("values, signed, levels", [
    (np.zeros(4), "auto", (0.0, FLOOR)),  # a dead ReLU layer
    (np.zeros(4), "always", (-FLOOR, FLOOR)),
    (np.full(4, np.nan), "auto", (0.0, 1.0)),
    (np.full(4, np.nan), "always", (-FLOOR, FLOOR)),
    (np.array([3.0, 3.0, 3.0, 3.0]), "auto", (0.0, 3.0)),
])
def test_degenerate_maps_still_get_levels(values, signed, levels):
    index_map = np.arange(4).reshape(1, 4)
    canvas, got, _ = run(values, index_map, signed)
    assert got == levels
    expected, _, _ = reference(values, index_map, signed)
    np.testing.assert_array_equal(canvas[:1, :4], expected)


def test_float64_values_are_coloured_as_float32():
    values = np.linspace(-1, 1, 12)  # float64
    index_map = np.arange(12).reshape(3, 4)
    canvas, _, _ = run(values, index_map)
    expected, _, _ = reference(values.astype(np.float32), index_map, "auto")
    np.testing.assert_array_equal(canvas[:3, :4], expected)


def test_bad_arguments_are_refused_in_words():
    values = np.ones(4, np.float32)
    index_map = np.arange(4).reshape(2, 2)
    out = np.zeros((2, 2), np.uint32)
    with pytest.raises(ValueError, match="uint32"):
        colour_map_into(np.zeros((2, 2), np.float32), values, index_map, SIGNED_LUT, UNSIGNED_LUT)
    with pytest.raises(ValueError, match="shape"):
        colour_map_into(np.zeros((3, 2), np.uint32), values, index_map, SIGNED_LUT, UNSIGNED_LUT)
    with pytest.raises(ValueError, match="outside"):
        colour_map_into(out, values, index_map + 1, SIGNED_LUT, UNSIGNED_LUT)
    with pytest.raises(ValueError, match="colour table"):
        colour_map_into(out, values, index_map, SIGNED_LUT[:, :3], UNSIGNED_LUT)
    with pytest.raises(ValueError, match="signed"):
        colour_map_into(out, values, index_map, SIGNED_LUT, UNSIGNED_LUT, signed="never")


def _views():
    """The same (3, 4) image as every kind of ``out`` a caller may pass."""
    canvas = np.full((7, 12, 4), 9, np.uint8)
    canvas32 = canvas.view(np.uint32)[..., 0]
    return {
        "contiguous": np.zeros((3, 4), np.uint32),
        "block of a canvas": canvas32[2:5, 3:7],
        "one row of a canvas": canvas32[4:5, 1:5],
        "every other column": canvas32[1:4, 0:8:2],
        "rows backwards": canvas32[5:2:-1, 2:6],
    }


@pytest.mark.parametrize("name", list(_views()))
def test_every_kind_of_out_view_gets_the_loops_colours(name):
    values = np.linspace(-2, 3, 12).astype(np.float32)
    index_map = np.arange(12).reshape(3, 4)[..., ::-1].copy()
    index_map[1, 2] = -1
    out = _views()[name]
    index_map = index_map[:out.shape[0]]
    values = values[:index_map.max() + 1]
    colour_map_into(out, values, index_map, SIGNED_LUT, UNSIGNED_LUT)
    expected, _, _ = reference(values, index_map, "auto")
    np.testing.assert_array_equal(out.copy().view(np.uint8).reshape(expected.shape), expected)


@pytest.mark.needs_jit  # the dispatchers' signatures exist only when they compile
def test_views_of_a_canvas_need_no_second_compilation():
    # the warm-up compiles the kernel once (for a contiguous out); the Network lab colours
    # blocks of its canvas: a second signature would compile on the GUI thread
    from engine.colour import _colour_kernel

    def read_only(array):
        array = array.copy()
        array.flags.writeable = False
        return array

    values = np.linspace(-2, 3, 12).astype(np.float32)
    for out in _views().values():
        index_map = np.zeros(out.shape, np.int64)
        colour_map_into(out, values, index_map, SIGNED_LUT, UNSIGNED_LUT)
        # the shared colour tables (gui.widgets.colormaps), cached values and index maps
        # are read-only arrays: another type to Numba
        colour_map_into(out, read_only(values), read_only(index_map), read_only(SIGNED_LUT),
                        read_only(UNSIGNED_LUT))
    assert len(_colour_kernel.signatures) == 1, _colour_kernel.signatures
