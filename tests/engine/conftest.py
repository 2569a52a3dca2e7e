"""Fixtures shared by the engine tests.

With ``NUMBA_DISABLE_JIT=1`` the kernels run as plain Python (so coverage sees
their loops; .ci/run does this); tests marked ``needs_jit`` check compiled
dispatchers themselves and are skipped then.
"""

import numba
import pytest

import engine._arrays


def pytest_collection_modifyitems(config, items):
    if not numba.config.DISABLE_JIT:
        return
    skip = pytest.mark.skip(reason="checks compiled kernels; NUMBA_DISABLE_JIT=1 is set")
    for item in items:
        if item.get_closest_marker("needs_jit"):
            item.add_marker(skip)


@pytest.fixture
def always_parallel(monkeypatch):
    """Small test inputs would run on one thread (engine._arrays.PARALLEL_MIN_WORK);
    force the prange kernels onto every thread so the parallel path is what is tested."""
    monkeypatch.setattr(engine._arrays, "PARALLEL_MIN_WORK", 0)
