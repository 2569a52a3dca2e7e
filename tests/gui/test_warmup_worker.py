"""gui/workers/warmup.py: the warm-up compiles only in its child process."""

from __future__ import annotations

import threading

import numba
import numpy as np

from gui.workers import warmup as warmup_module
from gui.workers.warmup import WarmupRunner, _NeedsCompiling, _refuse_compiling_in


def test_a_load_only_thread_refuses_to_compile_before_numba_starts():
    @numba.njit(cache=False)
    def twice(x):
        return 2 * x

    outcome = {}

    def load_only():
        _refuse_compiling_in(threading.get_ident())
        try:
            twice(3)
            outcome["compiled"] = True
        except _NeedsCompiling:
            outcome["refused"] = True
        finally:
            _refuse_compiling_in(None)

    thread = threading.Thread(target=load_only)
    thread.start()
    thread.join()
    assert outcome == {"refused": True}
    assert twice.signatures == []  # nothing half-compiled was left behind
    assert twice(3) == 6  # any other thread compiles as usual


def test_a_later_start_loads_everything_without_the_child(qtbot, monkeypatch):
    from engine.warmup import warmup

    warmup(dtypes=(np.float32, np.float64))  # the cache (and this process) are warm
    children = []
    monkeypatch.setattr(warmup_module.WarmupWorker, "_compile_in_child",
                        lambda self: children.append(1) or True)
    runner = WarmupRunner()
    with qtbot.waitSignal(runner.finished, timeout=60_000):
        assert runner.start()
    assert children == []
    assert runner.stop(timeout_s=5)


def test_a_kernel_that_needs_compiling_sends_the_warmup_to_the_child(qtbot, monkeypatch):
    calls = []

    def refuse(self):
        calls.append("load")
        return False  # a kernel would have had to be compiled

    def child(self):
        calls.append("child")
        return True

    monkeypatch.setattr(warmup_module.WarmupWorker, "_load_from_cache", refuse)
    monkeypatch.setattr(warmup_module.WarmupWorker, "_compile_in_child", child)
    runner = WarmupRunner()
    with qtbot.waitSignal(runner.finished, timeout=60_000):
        runner.start()
    assert calls == ["load", "child"]
    assert runner.stop(timeout_s=5)
