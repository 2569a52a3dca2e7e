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

__all__ = ["format_number", "result_number", "subscript", "symbol", "symbolic_sum",
           "conv_cell_text"]

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


def result_number(v: float, integers: bool) -> str:
    """A number at the end of an equation (``= −5``): as ``format_number``, no brackets."""
    return format_number(v, integers).strip("()")


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
                 integers: bool, limit: int = 12,
                 bias: tuple[str, float] | None = None) -> str:
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
        More products than this are written as "+ … (+n)" (n products left out).
    bias : (symbol, number), optional
        A term added after the products (e.g. ("b", 0.5)).
    """
    shown = pairs[:limit]
    more = f" + … (+{len(pairs) - limit})" if len(pairs) > limit else ""
    symbols = [" + ".join(f"{a}·{b}" for a, b, _, _ in shown) + more] if pairs else []
    numbers = [" + ".join(f"{format_number(x, integers)}·{format_number(y, integers)}"
                          for _, _, x, y in shown) + more] if pairs else []
    if bias is not None:
        symbols.append(bias[0])
        numbers.append(format_number(bias[1], integers))
    if not symbols:
        return f"{target} = 0"
    return f"{target} = {' + '.join(symbols)} = {' + '.join(numbers)} = " \
           f"{result_number(value, integers)}"


def conv_cell_text(x, w, bias: float, i: int, j: int, stride: tuple[int, int],
                   padding: tuple[int, int], value: float, integers: bool,
                   filter_index: int | None = None, limit: int = 12) -> tuple[str, int, int]:
    """One output cell of a convolution the course's way, ``z11 = X11·F11 + … = …``.

    Parameters
    ----------
    x : array (C, H, W)
        The input without its padding (its cells are X, counted from 1).
    w : array (C, KH, KW)
        The filter's kernels (F, counted from 1); with C > 1 every symbol carries its
        channel: ``X(2)11·F(2)11``.
    bias : float
        Written as "+ b" when it is not 0.
    i, j : int
        The output cell (0-based); its window starts at row i·SH − PH, column j·SW − PW.
    stride, padding : (h, w) pairs
    value : float
        The output value to write at the end (the engine's).
    integers : bool
        Write whole numbers without decimals.
    filter_index : int, optional
        With several filters the output is named ``z(f)ij``.
    limit : int
        With more products than this, the products that are 0 are left out (a 7x7
        kernel would otherwise write a line of zeros before the ones that count).

    Returns
    -------
    text : str
    padding_taps : int
        How many taps fell on the zero padding (left out of the sum: each adds 0).
    zeros_left_out : int
        How many zero products were left out because of ``limit``.
    """
    C, H, W = len(x), len(x[0]), len(x[0][0])
    KH, KW = len(w[0]), len(w[0][0])
    pairs, padding_taps = [], 0
    for c in range(C):
        channel = c if C > 1 else None
        for u in range(KH):
            for v in range(KW):
                r, col = i * stride[0] + u - padding[0], j * stride[1] + v - padding[1]
                if 0 <= r < H and 0 <= col < W:
                    pairs.append((symbol("X", (r, col), channel), symbol("F", (u, v), channel),
                                  float(x[c][r][col]), float(w[c][u][v])))
                else:
                    padding_taps += 1
    zeros_left_out = 0
    if len(pairs) > limit:
        kept = [p for p in pairs if p[2] * p[3] != 0]
        zeros_left_out, pairs = len(pairs) - len(kept), kept
    target = symbol("z", (i, j), filter_index)
    text = symbolic_sum(target, pairs, value, integers, limit=limit,
                        bias=("b", float(bias)) if bias != 0 else None)
    return text, padding_taps, zeros_left_out
