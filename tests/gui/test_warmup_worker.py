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


def _fake_children(monkeypatch, script: str, parts: int = 2):
    """Compiling children that run ``script`` (given its part as argv[1]) instead."""
    import sys

    import engine.warmup as engine_warmup
    monkeypatch.setattr(engine_warmup, "compile_processes", lambda: parts)
    monkeypatch.setattr(engine_warmup, "child_command",
                        lambda part, n: [sys.executable, "-c", script, str(part), str(n)])


def test_the_progress_of_every_compiling_child_adds_up(qtbot, monkeypatch):
    # two children, 2 and 3 steps of their shares, the steps weighted by compile time:
    # the bar shows per mille of the whole first start
    import engine.warmup as engine_warmup
    script = ("import sys\n"
              "part = int(sys.argv[1])\n"
              "steps = 2 + part\n"
              "for done in range(1, steps + 1):\n"
              "    print(done, steps, f'kernel {part}.{done}', sep='\\t', flush=True)\n")
    _fake_children(monkeypatch, script)
    costs = {0: [3.0, 1.0], 1: [1.0, 1.0, 2.0]}  # 8 in all
    monkeypatch.setattr(engine_warmup, "warmup_costs", lambda dtypes, part, parts: costs[part])
    worker = warmup_module.WarmupWorker(lambda progress: None, in_child=True)
    seen = []
    worker.progress.connect(lambda done, total, name: seen.append((done, total, name)))
    assert worker._compile_in_child()
    values = [done for done, _, _ in seen]
    assert len(values) == 5 and values == sorted(values)  # each child's part only grows
    assert values[0] in (375, 125) and values[-1] == 1000
    assert {total for _, total, _ in seen} == {1000}
    assert {name for _, _, name in seen} == {"kernel 0.1", "kernel 0.2", "kernel 1.1",
                                             "kernel 1.2", "kernel 1.3"}


def test_a_failing_child_means_compiling_in_this_process(monkeypatch):
    script = "import sys\nsys.exit(3 if sys.argv[1] == '1' else 0)\n"
    _fake_children(monkeypatch, script)
    worker = warmup_module.WarmupWorker(lambda progress: None, in_child=True)
    assert worker._compile_in_child() is False


def test_a_stop_request_kills_every_compiling_child(qtbot, monkeypatch):
    script = ("import sys, time\n"
              "print(1, 9, 'started', sep='\\t', flush=True)\n"
              "time.sleep(120)\n")
    _fake_children(monkeypatch, script)
    monkeypatch.setattr(warmup_module.WarmupWorker, "_load_from_cache", lambda self: False)
    runner = WarmupRunner(parent=None)
    started = []
    runner.progress.connect(lambda done, total, name: started.append(done))
    assert runner.start()
    try:
        qtbot.waitUntil(lambda: len(started) == 2, timeout=30_000)  # both children run
        children = list(runner._worker._children)
        assert len(children) == 2
        assert runner.stop(timeout_s=10)  # far below the children's 120 s
        assert all(child.poll() is not None for child in children)
    finally:  # a stopped warm-up leaves the kernels "not ready" (the app is quitting then)
        warmup_module._state().set_ready(True)
