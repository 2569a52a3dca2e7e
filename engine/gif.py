"""Animated GIFs of the stepping labs: which steps, how fast, and writing them with Pillow.

The GUI (``gui.widgets.gif_export``) draws each step of a lab and hands this module the
pictures as RGB arrays; everything that decides or encodes is here, without Qt:

- :func:`plan_steps` checks the range of steps a learner asked for ("all" or first..last,
  counted from 1 as the animation controls show them) and returns the 0-based steps;
- :func:`frame_duration_ms` turns a speed in steps per second into a GIF frame time;
- :func:`check_gif_path` refuses a path that cannot be written before any frame is drawn;
- :class:`GifWriter` turns every frame into a 256-colour picture as it arrives (so only
  one byte a pixel is kept) and writes them all to one looping GIF.

A GIF has no frame shorter than 20 ms in most viewers and stores times in 10 ms units,
so durations are rounded to 10 ms and never below 20 ms. Pillow merges two identical
frames in a row into one (their times added): the file plays the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from .i18n import tr

__all__ = ["MAX_FRAMES", "MAX_FRAME_WIDTH", "GifWriter", "plan_steps", "frame_duration_ms",
           "check_gif_path", "read_gif_frames"]

#: An export never holds more frames than this (a 1000-pixel-wide frame is about 0.6 MB
#: once reduced to 256 colours): a longer animation is refused with the range to choose.
MAX_FRAMES = 600
#: Frames wider than this are scaled down (smoothly) before they are kept.
MAX_FRAME_WIDTH = 1000
_MIN_DURATION_MS = 20

Progress = Callable[[int, int], None]  # (frames written, frames in all)


def plan_steps(count: int, first: int | None = None, last: int | None = None) -> range:
    """The 0-based steps of an export of an animation with ``count`` steps.

    ``first`` and ``last`` are step numbers as the controls show them (1 to ``count``,
    both included); None means the first or the last step. Raises ValueError with a
    sentence when there is nothing to export or the range is not inside the animation
    or longer than :data:`MAX_FRAMES`.
    """
    count = int(count)
    if count <= 0:
        raise ValueError(tr("there is no animation to export: the settings give no steps"))
    first = 1 if first is None else int(first)
    last = count if last is None else int(last)
    if not 1 <= first <= last <= count:
        raise ValueError(tr("the steps must go from 1 to {count}, the first no later than "
                            "the last (asked: {first} to {last})").format(
                                count=count, first=first, last=last))
    if last - first + 1 > MAX_FRAMES:
        raise ValueError(tr("{n} steps are too many for one GIF; choose at most {cap} (a "
                            "range of steps)").format(n=last - first + 1, cap=MAX_FRAMES))
    return range(first - 1, last)


def frame_duration_ms(steps_per_second: float) -> int:
    """How long each frame shows, in ms: 1000 / speed rounded to GIF's 10 ms, at least 20."""
    speed = float(steps_per_second)
    if not speed > 0:
        raise ValueError(tr("the speed must be a positive number of steps per second, not "
                            "{speed!r}").format(speed=steps_per_second))
    return max(_MIN_DURATION_MS, int(1000.0 / speed / 10.0 + 0.5) * 10)  # half up


def check_gif_path(path) -> Path:
    """``path`` as the GIF to write (".gif" added when it has another or no suffix).

    Raises ValueError with a sentence when it names a folder or its folder does not
    exist or cannot be written (checked before any frame is drawn).
    """
    text = str(path).strip() if path is not None else ""
    if not text:
        raise ValueError(tr("no file name was given for the GIF"))
    out = Path(text).expanduser()
    if out.suffix.lower() != ".gif" and not out.is_dir():
        out = out.with_name(out.name + ".gif")
    if out.is_dir():
        raise ValueError(tr("{path}: is a folder; give a file name ending in .gif").format(
            path=out))
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(tr("{path}: the folder {folder} does not exist").format(
            path=out, folder=folder))
    if not os.access(folder, os.W_OK):
        raise ValueError(tr("{path}: the folder {folder} cannot be written").format(
            path=out, folder=folder))
    return out


def _fit(rgb: np.ndarray, max_width: int) -> Image.Image:
    """(H, W, 3) uint8 -> a Pillow RGB image at most ``max_width`` wide."""
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    if image.width > max_width:
        height = max(1, round(image.height * max_width / image.width))
        image = image.resize((max_width, height), Image.Resampling.LANCZOS)
    return image


class GifWriter:
    """Collects frames (each reduced to 256 colours as it comes) and writes one GIF.

    Parameters
    ----------
    max_width : frames wider than this are scaled down to it
    """

    def __init__(self, max_width: int = MAX_FRAME_WIDTH):
        self.max_width = int(max_width)
        self._frames: list[Image.Image] = []

    def __len__(self) -> int:
        return len(self._frames)

    def add(self, rgb: np.ndarray) -> None:
        """rgb : (H, W, 3) uint8, one step as drawn. Every frame is given the first
        frame's size (a window resized during an export cannot break the file)."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
            raise ValueError(tr("a frame must be an RGB picture (H, W, 3), not shape "
                                "{shape}").format(shape=rgb.shape))
        if len(self._frames) >= MAX_FRAMES:
            raise ValueError(tr("a GIF holds at most {cap} frames").format(cap=MAX_FRAMES))
        image = _fit(rgb, self.max_width)
        if self._frames and image.size != self._frames[0].size:
            image = image.resize(self._frames[0].size, Image.Resampling.LANCZOS)
        # an adaptive palette per frame: the labs' colour maps keep their shades
        self._frames.append(image.quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                           dither=Image.Dither.NONE))

    def save(self, path, duration_ms: int, progress: Progress | None = None) -> Path:
        """Write every frame to ``path`` (see :func:`check_gif_path`), looping forever,
        each shown ``duration_ms``. Written to a temporary name first, so a failed
        write leaves no half file and never replaces a good one."""
        if not self._frames:
            raise ValueError(tr("there are no frames to write"))
        out = check_gif_path(path)
        total = len(self._frames)

        def frames():
            for k, frame in enumerate(self._frames[1:], start=1):
                if progress is not None:
                    progress(k, total)
                yield frame

        partial = out.with_name(out.name + ".part")
        try:
            self._frames[0].save(partial, "GIF", save_all=True, append_images=frames(),
                                 duration=int(duration_ms), loop=0, disposal=1)
            os.replace(partial, out)
        except OSError as err:
            if partial.is_file():
                partial.unlink()
            raise ValueError(tr("{path}: cannot be written ({reason})").format(
                path=out, reason=err.strerror or err)) from None
        if progress is not None:
            progress(total, total)
        return out


def read_gif_frames(path) -> tuple[int, list[int], tuple[int, int]]:
    """(frames, durations in ms, (width, height)) of a GIF: what a test or a learner checks."""
    with Image.open(path) as image:
        durations = []
        for k in range(image.n_frames):
            image.seek(k)
            durations.append(int(image.info.get("duration", 0)))
        return image.n_frames, durations, image.size
