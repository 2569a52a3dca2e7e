"""warmup(): compiles or loads every kernel and reports progress."""

import subprocess
import sys

import numpy as np
import pytest

from engine.warmup import kernel_count, warmup


def test_progress_is_reported_after_every_step():
    calls = []
    ran = warmup(lambda done, total, name: calls.append((done, total, name)))
    total = kernel_count()
    assert ran == total == len(calls) and total >= 5
    assert [c[0] for c in calls] == list(range(1, total + 1))
    assert all(c[1] == total for c in calls)
    assert all(isinstance(c[2], str) and c[2] for c in calls)


@pytest.mark.needs_jit
def test_both_dtypes_double_the_steps_and_compile_each_kernel():
    from engine.conv_forward import _conv_forward_kernel
    names = []
    warmup(lambda d, t, n: names.append(n), dtypes=(np.float32, np.float64))
    assert len(names) == kernel_count((np.float32, np.float64)) == 2 * kernel_count()
    assert any("float64" in n for n in names)
    # float32 in the parallel kernel, float64 in the serial one (engine._numba.ParallelFloat32)
    assert {str(sig[0].dtype) for sig in _conv_forward_kernel.parallel.signatures} == {"float32"}
    assert {str(sig[0].dtype) for sig in _conv_forward_kernel.serial.signatures} == {"float64"}


def test_warmup_without_progress_callback():
    assert warmup() == kernel_count()


def test_warmup_does_not_import_qt():
    code = ("import sys, engine.warmup as w; w.warmup(); "
            "print(any(m.startswith(('PyQt6', 'pyqtgraph')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
