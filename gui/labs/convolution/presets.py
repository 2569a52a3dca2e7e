"""The course's worked examples as presets of the Convolution lab (Qt-free).

Each preset is a typed input (C, H, W), a filter bank (F, C, KH, KW), biases (F,),
a stride and a padding: the shapes of the examples the course works through
(CURRICULUM.md, "Convolution forward"). The course gives the shapes but not always
the numbers; where it does not, the numbers here are small whole numbers chosen so
every product is easy to check by hand (the 3x3 example starts 1·1 + 2·(−1), as the
course's issue writes it).

The curve detector follows the "filters are detectors" article: a 7x7 filter with 30
along a curve, slid over a drawing whose curve shares five of those cells (four at
50, one at 20): 4·50·30 + 20·30 = 6600 where the curve is, small values elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.i18n import tr_noop

__all__ = ["Preset", "PRESETS", "preset", "CURVE_CELLS"]


@dataclass(frozen=True)
class Preset:
    """One worked example.

    Attributes
    ----------
    key : str
    title, note : str
        msgids (translated where shown): the preset's name and what to look at.
    x : ndarray (C, H, W); w : ndarray (F, C, KH, KW); b : ndarray (F,)
    stride, padding : (h, w) pairs
    cell : (f, i, j)
        The output cell to show first.
    """

    key: str
    title: str
    note: str
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]
    cell: tuple[int, int, int] = (0, 0, 0)


#: the curve of the detector filter, (row, col) in its 7x7 window
CURVE_CELLS = ((1, 5), (2, 4), (3, 3), (4, 2), (5, 2))


def _curve_detector() -> tuple[np.ndarray, np.ndarray]:
    """(drawing (1, 12, 12), filter (1, 1, 7, 7)): the curve at the top-left window, a
    straight stroke further right."""
    w = np.zeros((1, 1, 7, 7))
    for r, c in CURVE_CELLS:
        w[0, 0, r, c] = 30.0
    x = np.zeros((1, 12, 12))
    for r, c in CURVE_CELLS[:4]:
        x[0, r, c] = 50.0
    x[0, 5, 2] = 20.0  # the drawing's curve is fainter at its end: 20·30
    x[0, 3:11, 10] = 50.0  # a vertical stroke: not the curve, so small responses
    return x, w


def _presets() -> tuple[Preset, ...]:
    x33 = np.array([[[1, 2, 3], [4, 5, 6], [7, 8, 9]]], dtype=float)
    f22 = np.array([[[[1, -1], [0, 1]]]], dtype=float)
    x44 = np.array([[[1, 0, 2, 1], [0, 1, 3, 0], [2, 1, 0, 1], [1, 2, 1, 0]]], dtype=float)
    f33 = np.array([[[[1, 0, -1], [1, 0, -1], [1, 0, -1]]]], dtype=float)
    colour = np.array([[[1, 2, 0], [0, 1, 1], [2, 0, 1]],
                       [[0, 1, 2], [1, 0, 1], [1, 2, 0]],
                       [[2, 1, 1], [0, 2, 0], [1, 0, 2]]], dtype=float)  # (3, 3, 3): R, G, B
    groups = np.array([[[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[1, -1], [0, 0]]],
                       [[[0, -1], [1, 0]], [[1, 1], [0, 0]], [[0, 0], [-1, 1]]]],
                      dtype=float)  # (2, 3, 2, 2): two groups of 3x2x2 kernels
    rng = np.random.default_rng(231)  # CS231n's demo: 5x5x3, two 3x3x3 filters, S 2, P 1
    x553 = rng.integers(0, 3, size=(3, 5, 5)).astype(float)
    w333 = rng.integers(-1, 2, size=(2, 3, 3, 3)).astype(float)
    drawing, curve = _curve_detector()
    return (
        Preset("course-3x3-2x2", tr_noop("3×3 input, 2×2 kernel (z11 = X11·F11 + …)"),
               tr_noop("The course writes each output cell in symbols: z11 = X11·F11 + X12·F12 "
                       "+ X21·F21 + X22·F22; here with numbers."),
               x33, f22, np.zeros(1), (1, 1), (0, 0)),
        Preset("course-4x4-3x3", tr_noop("4×4 input, 3×3 kernel (2×2 out; padding 1 keeps 4×4)"),
               tr_noop("(4 − 3 + 2·0) / 1 + 1 = 2: a 2×2 output. Set padding 1 and it stays "
                       "4×4."),
               x44, f33, np.zeros(1), (1, 1), (0, 0)),
        Preset("course-colour-3x3", tr_noop("3×3 colour image, two groups of 3×2×2 kernels"),
               tr_noop("Many in, many out: each filter is a group of three 2×2 kernels, one per "
                       "colour channel; the three channel sums are added."),
               colour, groups, np.zeros(2), (1, 1), (0, 0)),
        Preset("course-5x5x3-stride2", tr_noop("5×5×3, two 3×3×3 filters, stride 2, padding 1"),
               tr_noop("CS231n's demo: (5 − 3 + 2·1) / 2 + 1 = 3, so two 3×3 output maps; "
                       "bias 1 for the first filter, 0 for the second."),
               x553, w333, np.array([1.0, 0.0]), (2, 2), (1, 1)),
        Preset("curve-detector", tr_noop("Curve detector (filters are detectors)"),
               tr_noop("A hand-made curve filter: 4·50·30 + 20·30 = 6600 where the drawing has "
                       "that curve, small values elsewhere (the straight stroke)."),
               drawing, curve, np.zeros(1), (1, 1), (0, 0)),
    )


PRESETS: tuple[Preset, ...] = _presets()


def preset(key: str) -> Preset:
    """The preset called ``key`` (KeyError if there is none)."""
    for p in PRESETS:
        if p.key == key:
            return p
    raise KeyError(key)
