"""engine.gif: the steps of an export, frame times, paths, and the GIFs Pillow writes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.gif import (
    MAX_FRAMES,
    GifWriter,
    check_gif_path,
    frame_duration_ms,
    plan_steps,
    read_gif_frames,
)


def frames(n: int, shape=(30, 40)) -> list[np.ndarray]:
    """``n`` different RGB pictures: a bar that moves one column each frame."""
    out = []
    for k in range(n):
        rgb = np.full(shape + (3,), 240, np.uint8)
        rgb[:, k % shape[1]] = (200, 30, 30)
        rgb[k % shape[0], :] = (20, 20, 180)
        out.append(rgb)
    return out


@pytest.mark.parametrize("count, first, last, expected", [
    (12, None, None, range(0, 12)), (12, 3, 5, range(2, 5)), (1, None, None, range(0, 1)),
    (12, 12, 12, range(11, 12)), (12, None, 4, range(0, 4)), (12, 9, None, range(8, 12))])
def test_plan_steps(count, first, last, expected):
    assert plan_steps(count, first, last) == expected


@pytest.mark.parametrize("count, first, last, words", [
    (0, None, None, "no animation"), (10, 0, 5, "from 1 to 10"), (10, 6, 5, "6 to 5"),
    (10, 2, 11, "from 1 to 10"), (MAX_FRAMES + 5, None, None, "too many")])
def test_plan_steps_refuses_in_words(count, first, last, words):
    with pytest.raises(ValueError, match=words):
        plan_steps(count, first, last)


@pytest.mark.parametrize("speed, ms", [(1, 1000), (4, 250), (15, 70), (30, 30), (60, 20),
                                       (200, 20), (3, 330), (8, 130)])
def test_frame_duration_is_rounded_to_gif_units(speed, ms):
    assert frame_duration_ms(speed) == ms


@pytest.mark.parametrize("speed", [0, -1, float("nan")])
def test_a_speed_that_is_not_positive_is_refused(speed):
    with pytest.raises(ValueError, match="speed"):
        frame_duration_ms(speed)


def test_paths(tmp_path):
    assert check_gif_path(tmp_path / "a.gif") == tmp_path / "a.gif"
    assert check_gif_path(tmp_path / "a") == tmp_path / "a.gif"
    assert check_gif_path(tmp_path / "a.png") == tmp_path / "a.png.gif"
    for bad, words in ((tmp_path, "is a folder"), (tmp_path / "none" / "a.gif", "does not exist"),
                       ("", "no file name")):
        with pytest.raises(ValueError, match=words):
            check_gif_path(bad)


@pytest.mark.parametrize("n", [1, 2, 7, 40])
def test_every_frame_is_in_the_gif_with_its_time(tmp_path, n):
    writer = GifWriter()
    for rgb in frames(n):
        writer.add(rgb)
    seen = []
    out = writer.save(tmp_path / "anim.gif", 70, progress=lambda k, total: seen.append(k))
    count, durations, size = read_gif_frames(out)
    assert count == n and size == (40, 30)
    assert durations == [70] * n
    assert seen[-1] == n and seen == sorted(seen)
    # the pictures survive the 256 colours: the bars are where they were drawn
    with Image.open(out) as image:
        for k in range(n):
            image.seek(k)
            rgb = np.asarray(image.convert("RGB"))
            np.testing.assert_allclose(rgb, frames(n)[k], atol=8)


def test_wide_frames_are_scaled_down_and_later_frames_follow_the_first(tmp_path):
    writer = GifWriter(max_width=100)
    writer.add(frames(1, (50, 400))[0])
    writer.add(frames(2, (60, 300))[1])  # a different size (a resized window)
    count, _durations, size = read_gif_frames(writer.save(tmp_path / "w.gif", 100))
    assert count == 2 and size == (100, 12)


def test_a_bad_frame_or_no_frames_or_an_unwritable_file_is_refused(tmp_path):
    writer = GifWriter()
    with pytest.raises(ValueError, match="no frames"):
        writer.save(tmp_path / "a.gif", 100)
    with pytest.raises(ValueError, match="RGB"):
        writer.add(np.zeros((4, 4), np.uint8))
    writer.add(frames(1)[0])
    with pytest.raises(ValueError, match="does not exist"):
        writer.save(tmp_path / "gone" / "a.gif", 100)
    good = tmp_path / "good.gif"
    writer.save(good, 100)
    before = good.read_bytes()
    (tmp_path / "good.gif.part").mkdir()  # the temporary name cannot be written
    with pytest.raises(ValueError, match="cannot be written"):
        writer.save(good, 50)
    assert good.read_bytes() == before  # the good file is untouched
