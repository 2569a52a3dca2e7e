"""The two cores' float32 multiply-add peak, computed from the vector width and the clock.

``peak = cores x FMA units per core (1 or 2) x float32 lanes per vector x 2 flops x clock``

- lanes: engine._numba.VECTOR_LANES, the width the engine's loops are compiled for
  (16 with AVX-512, 8 with AVX2, 4 with NEON);
- FMA units: how many full-width multiply-adds a core starts per cycle, 2 on every
  x86 core since Intel Haswell and AMD Zen 2 at their own width, but 1 at 512 bits
  on some (AMD Zen 4 splits a 512-bit multiply-add into two 256-bit halves; some Xeon
  models have one 512-bit unit): taken as 1 when the multiply-add loop below, with
  its 12 independent chains, reaches less than 62 % of what two units would do
  (measured: AMD Zen 4 49 %, Zen 5 99 %, a Sapphire Rapids Xeon 78 %);
- clock: measured, as the rate of a chain of dependent 64-bit multiplies each
  followed by an xor (3 + 1 cycles of latency on Intel and AMD cores alike), the
  best of many short runs on one thread (with both cores loaded the clock can be
  a little lower: the peak is then a little high, the fraction of it low);
- the loop: nothing but independent vector multiply-adds (12 chains in registers,
  as the engine's tiles), both threads, in GFLOP/s.

A shared machine's other work makes every figure lower; the best of the runs is
the closest to the machine's own.
"""

from __future__ import annotations

import os
import time

import numpy as np

from engine._numba import FAST_FP, VECTOR_LANES, kernel, prange, stack_array

MAX_FMA_UNITS = 2
ONE_UNIT_BELOW = 0.62  # the loop's share of two units' rate under which a core has one
CHAIN_CYCLES = 4  # imul (3) + xor (1) per step of the chain


@kernel
def _mul_chain(reps, x):
    for _ in range(reps):
        x = (x * 0x5DEECE66D) ^ 11
        x = (x * 0x5DEECE66D) ^ 11
        x = (x * 0x5DEECE66D) ^ 11
        x = (x * 0x5DEECE66D) ^ 11
    return x


@kernel(fastmath=FAST_FP)
def _fma_loop(reps, a, b, like):
    """12 vectors of multiply-adds in registers, ``reps`` times; their sum."""
    acc = stack_array(like, 12, VECTOR_LANES)
    for r in range(12):
        for k in range(VECTOR_LANES):
            acc[r, k] = like[0] + r + k
    for _ in range(reps):
        for k in range(VECTOR_LANES):
            acc[0, k] = acc[0, k] * a + b
            acc[1, k] = acc[1, k] * a + b
            acc[2, k] = acc[2, k] * a + b
            acc[3, k] = acc[3, k] * a + b
            acc[4, k] = acc[4, k] * a + b
            acc[5, k] = acc[5, k] * a + b
            acc[6, k] = acc[6, k] * a + b
            acc[7, k] = acc[7, k] * a + b
            acc[8, k] = acc[8, k] * a + b
            acc[9, k] = acc[9, k] * a + b
            acc[10, k] = acc[10, k] * a + b
            acc[11, k] = acc[11, k] * a + b
    total = like[0] - like[0]
    for r in range(12):
        for k in range(VECTOR_LANES):
            total += acc[r, k]
    return total


@kernel(parallel=True)
def _fma_threads(reps, a, b, like, out):
    for t in prange(out.shape[0]):
        out[t] = _fma_loop(reps, a, b, like)


def measure(cores: int | None = None, runs: int = 30) -> dict:
    """The clock, the computed peak and the FMA loop's rate (best of ``runs``)."""
    import numba
    cores = cores or min(os.cpu_count() or 1, numba.config.NUMBA_NUM_THREADS)
    _mul_chain(10, 3)
    reps = 200_000
    best_clock = 0.0
    for _ in range(runs):
        start = time.perf_counter()
        _mul_chain(reps, 3)
        best_clock = max(best_clock, 4 * CHAIN_CYCLES * reps / (time.perf_counter() - start))
    like, results = np.ones(1, np.float32), np.zeros(cores, np.float32)
    a, b = np.float32(0.999), np.float32(1e-4)
    _fma_threads(10, a, b, like, results)
    reps = 200_000
    best_fma = 0.0
    for _ in range(runs):
        start = time.perf_counter()
        _fma_threads(reps, a, b, like, results)
        flops = cores * reps * 12 * VECTOR_LANES * 2
        best_fma = max(best_fma, flops / (time.perf_counter() - start))
    clock = best_clock / 1e9
    two_units = cores * MAX_FMA_UNITS * VECTOR_LANES * 2 * clock
    fma_units = MAX_FMA_UNITS if best_fma / 1e9 >= ONE_UNIT_BELOW * two_units else 1
    return {"cores": cores, "lanes": VECTOR_LANES, "fma_units": fma_units,
            "clock_ghz": clock,
            "peak_gflops": cores * fma_units * VECTOR_LANES * 2 * clock,
            "fma_loop_gflops": best_fma / 1e9}
