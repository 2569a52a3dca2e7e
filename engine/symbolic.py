"""Sums of products written out in symbols and in numbers, the course's way.

The course writes one output cell of a convolution as
``z11 = X11F11 + X12F12 + X21F21 + X22F22`` (indices from 1, row then column) and
then puts the numbers in. :func:`symbolic_sum` writes both lines in one string::

    z11 = X11·F11 + X12·F12 + X21·F21 + X22·F22 = 1·1 + 2·(−1) + 4·0 + 5·1 = 4

Plain Python: the Convolution lab (forward cells) and the Backprop lab (dJ/dF,
dx cells) write their formulas with it, and tests compare the text with strings
written by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["format_number", "subscript", "symbol", "symbolic_sum"]

_NEGATIVE_ZEROS = ("-0", "", "-0.0", "-0.00")


def format_number(v: float, integers: bool) -> str:
    """A number in an equation; negative numbers get brackets so '+ (−2)' reads right.

    ``integers``: the arrays are whole numbers, write no decimals; otherwise up to three
    decimals without trailing zeros. A negative value that rounds to zero is written "0"
    (and so is a whole-number NaN: an empty cell adds nothing).
    """
    if integers:
        text = f"{int(round(v))}" if math.isfinite(v) else ""
    else:
        text = f"{v:.3f}".rstrip("0").rstrip(".")
    if text in _NEGATIVE_ZEROS:
        text = "0"
    text = text.replace("-", "−")
    return f"({text})" if v < 0 and text != "0" else text


def subscript(*index: int) -> str:
    """The course's subscript of 0-based ``index``, counted from 1: (0, 1) -> "12".

    When any index reaches 10 the digits would run together, so the indices are
    written with commas in brackets: (9, 10) -> "(10,11)".
    """
    ones = [i + 1 for i in index]
    if all(i < 10 for i in ones):
        return "".join(str(i) for i in ones)
    return "(" + ",".join(str(i) for i in ones) + ")"


def symbol(name: str, index: Sequence[int], channel: int | None = None) -> str:
    """``name`` with the course's subscript, e.g. ``X12``; with ``channel`` (0-based) the
    channel goes first in brackets: ``X(2)12`` is channel 2's X12."""
    prefix = f"{name}({channel + 1})" if channel is not None else name
    return prefix + subscript(*index)


def symbolic_sum(target: str, pairs: Sequence[tuple[str, str, float, float]], value: float,
                 integers: bool, limit: int = 12) -> str:
    """``target = a1·b1 + … = n1·m1 + … = value``.

    Parameters
    ----------
    target : str
        The left-hand side, e.g. "z11".
    pairs : sequence of (symbol_a, symbol_b, number_a, number_b)
        The products in order; every one is written, zeros included (the course writes
        all of them), up to ``limit``.
    value : float
        The result (the caller's, e.g. the engine's: it is written as given).
    integers : bool
        Write whole numbers without decimals.
    limit : int
        More products than this are written as "+ … (n more)".
    """
    shown = pairs[:limit]
    more = f" + … (+{len(pairs) - limit})" if len(pairs) > limit else ""
    symbols = " + ".join(f"{a}·{b}" for a, b, _, _ in shown) + more
    numbers = " + ".join(f"{format_number(x, integers)}·{format_number(y, integers)}"
                         for _, _, x, y in shown) + more
    if not pairs:
        return f"{target} = 0"
    return f"{target} = {symbols} = {numbers} = {format_number(value, integers)}"
