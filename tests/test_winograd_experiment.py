"""benchmarks/winograd_f2x2.py, the measured experiment behind benchmarks/README.md's
"Winograd F(2x2, 3x3): tried, not faster": its forward pass and gradients agree with the
reference loops (engine/reference.py, float64), so its timings compare like with like."""

from __future__ import annotations

import pytest


@pytest.mark.needs_jit
def test_the_winograd_experiment_agrees_with_the_reference_loops():
    from benchmarks.winograd_f2x2 import CHECKS, check

    worst = check(CHECKS)  # padding 0-3, odd, even, non-square maps, N = 1, C = 1, F = 1
    assert 0.0 < worst < 1e-5  # fp32 rounding, relative to the same sums of |values|
