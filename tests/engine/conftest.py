"""Fixtures shared by the engine tests."""

import pytest

import engine._arrays


@pytest.fixture
def always_parallel(monkeypatch):
    """Small test inputs would run on one thread (engine._arrays.PARALLEL_MIN_WORK);
    force the prange kernels onto every thread so the parallel path is what is tested."""
    monkeypatch.setattr(engine._arrays, "PARALLEL_MIN_WORK", 0)
