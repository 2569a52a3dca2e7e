"""engine/symbolic.py: the course's sums in symbols and numbers, against strings written by
hand and against the engine's convolution."""

import numpy as np
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

import engine
from engine.symbolic import conv_cell_text, format_number, subscript, symbolic_sum

X = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=float)
F = np.array([[1, -1], [0, 1]], dtype=float)


def test_the_3x3_input_2x2_kernel_example_reads_as_the_course_writes_it():
    y = engine.conv2d_forward(X[None, None], F[None, None], np.zeros(1))[0, 0]
    text, padding, zeros = conv_cell_text(X[None], F[None], 0.0, 0, 0, (1, 1), (0, 0), y[0, 0],
                                         True)
    assert text == "z11 = X11·F11 + X12·F12 + X21·F21 + X22·F22 = 1·1 + 2·(−1) + 4·0 + 5·1 = 4"
    assert padding == zeros == 0
    text, _, _ = conv_cell_text(X[None], F[None], 0.0, 0, 1, (1, 1), (0, 0), y[0, 1], True)
    assert text == "z12 = X12·F11 + X13·F12 + X22·F21 + X23·F22 = 2·1 + 3·(−1) + 5·0 + 6·1 = 5"


def test_channels_bias_and_padding_are_written():
    x = np.stack([X, X])  # (2, 3, 3)
    w = np.stack([F, -F])  # (2, 2, 2)
    text, padding, _ = conv_cell_text(x, w, 1.5, 0, 0, (1, 1), (1, 1), 2.5, False, filter_index=1)
    # the window at the top-left corner sees only X22 of each channel... at tap (1, 1)
    assert text == "z(2)11 = X(1)11·F(1)22 + X(2)11·F(2)22 + b = 1·1 + 1·(−1) + 1.5 = 2.5"
    assert padding == 6


def test_helpers():
    assert subscript(0, 1) == "12"
    assert subscript(9, 10) == "(10,11)"
    assert format_number(-2, True) == "(−2)"
    assert format_number(-0.0001, False) == "0"
    assert symbolic_sum("y", [], 0.0, True) == "y = 0"
    long = [("a", "b", 1.0, 1.0)] * 15
    assert symbolic_sum("y", long, 15.0, True, limit=12).count("… (+3)") == 2


@given(st.integers(1, 3), st.integers(2, 6), st.integers(2, 6), st.integers(1, 3),
       st.integers(1, 3), st.integers(1, 2), st.integers(0, 2), st.integers(0, 10**6))
@hyp_settings(max_examples=50, deadline=None)
def test_the_numbers_written_add_up_to_the_engines_value(C, H, W, KH, KW, S, P, seed):
    """Evaluating the written numbers gives the engine's output (when nothing is left out)."""
    P = min(P, KH - 1, KW - 1)
    if H + 2 * P < KH or W + 2 * P < KW:
        return
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=(C, H, W)).astype(float)
    w = rng.integers(-2, 3, size=(C, KH, KW)).astype(float)
    y = engine.conv2d_forward(x[None], w[None], np.zeros(1), S, P)[0, 0]
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            text, _, _ = conv_cell_text(x, w, 0.0, i, j, (S, S), (P, P), y[i, j], True)
            numbers = text.split(" = ")[2] if text.count(" = ") == 3 else "0"
            if "…" in numbers:
                continue
            total = eval(numbers.replace("·", "*").replace("−", "-"))  # noqa: S307
            assert total == y[i, j]


def test_a_large_kernel_leaves_out_its_zero_products():
    x = np.zeros((1, 7, 7))
    x[0, 3, 3] = 2.0
    w = np.ones((1, 7, 7))
    text, padding, zeros = conv_cell_text(x, w, 0.0, 0, 0, (1, 1), (0, 0), 2.0, True)
    assert text == "z11 = X44·F44 = 2·1 = 2"
    assert (padding, zeros) == (0, 48)
