"""A fresh process that starts the window the way a first start does, for the tests in
test_first_start.py (and by hand: it prints its measurements as one JSON line).

    python tests/gui/first_start_probe.py race
    python tests/gui/first_start_probe.py labs [--order gallery,pooling,...] [--hold]
    python tests/gui/first_start_probe.py close --after S [--lab gallery] [--train]

``race``: widens the window of the import race that failed the Convolution lab on some
first starts: every ``colorama`` module a worker thread imports sleeps 0.2 s before it
runs, and the GUI thread's first ``colorama`` import waits until a worker is inside
``colorama``. Prints whether the first lab was built.

``labs``: opens every lab (in ``--order``; the first is the one the window starts with)
while the warm-up runs (``--in-thread``: compiling in the worker thread, as the app did
before it used a child process), edits each, steps its animation, and records (a) every
time the GUI thread took Numba's compiler lock (a compilation or a cache load: the GUI
thread would wait for the whole warm-up there) and (b) the longest gap between the ticks
of a 5 ms QTimer (the event-loop stall). ``--hold`` holds the warm-up until every lab was
opened and edited once, then lets it run and does it all again.

``close``: closes the window ``--after`` seconds (optionally with the Kernel gallery
computing its first result, or the Training lab training) and prints the time the
close was requested; the test measures when the process ended and its exit code.
"""

from __future__ import annotations

import argparse
import builtins
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

MAIN = threading.main_thread()


def widen_the_import_race() -> None:
    """Make a worker's import of colorama slow and the GUI thread's one wait for it."""
    inside = threading.Event()
    started = threading.Event()

    class SlowFinder:
        def find_spec(self, name, path, target=None):
            if threading.current_thread() is MAIN:
                return None
            started.set()  # a worker thread is importing something
            if not name.startswith("colorama"):
                return None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
            else:
                return None
            run = spec.loader.exec_module

            def slow(module, run=run):
                inside.set()
                time.sleep(0.2)
                run(module)

            spec.loader.exec_module = slow
            return spec

    sys.meta_path.insert(0, SlowFinder())
    real_import = builtins.__import__

    def gui_import(name, *args, **kwargs):
        if (threading.current_thread() is MAIN and name.startswith("colorama")
                and started.is_set() and "colorama" not in sys.modules):
            inside.wait(5)  # let the worker be inside colorama first
        return real_import(name, *args, **kwargs)

    builtins.__import__ = gui_import


class CompilerLockSpy:
    """Counts Numba compiler-lock acquisitions by the GUI thread."""

    def __init__(self):
        from numba.core import event

        spy = self
        self.gui_thread_locks = 0
        self.where: list[str] = []  # the first places, for a failing test's message

        class Listener(event.Listener):
            def on_start(self, event_):
                if threading.current_thread() is MAIN:
                    spy.gui_thread_locks += 1
                    if len(spy.where) < 3:
                        import traceback

                        spy.where.append("".join(traceback.format_stack(limit=14)[:-2]))

            def on_end(self, event_):
                pass

        event.register("numba:compiler_lock", Listener())


class GcSpy:
    """The longest garbage collection on the GUI thread, and how many ran (gen 2)."""

    def __init__(self):
        import gc

        self.longest_ms = 0.0
        self.full = 0
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase, info):
        if threading.current_thread() is not MAIN:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.longest_ms = max(self.longest_ms, (time.perf_counter() - self._start) * 1000)
            self.full += info["generation"] == 2


class StallProbe:
    """The longest gap between two ticks of a 5 ms QTimer on the GUI thread."""

    def __init__(self):
        from PyQt6.QtCore import QTimer

        self.longest = 0.0
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

        self.phase = 0.0

    def _tick(self):
        now = time.perf_counter()
        self.longest = max(self.longest, now - self._last)
        self.phase = max(self.phase, now - self._last)
        self._last = now

    def end_phase(self) -> float:
        """The longest gap (ms) since the last call, the gap running now included."""
        phase = max(self.phase, time.perf_counter() - self._last)
        self.phase = 0.0
        return phase * 1000


def wait(app, seconds: float, until=None) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        if until is not None and until():
            return True
        time.sleep(0.002)
    return until is None


def edit(lab) -> None:
    """One typical edit per lab and a step of its animation."""
    controls = getattr(lab, "controls", None)
    if hasattr(controls, "step_forward"):
        controls.step_forward()
    settings = getattr(lab, "settings", None)
    if settings is not None and hasattr(settings, "kh_spin"):
        settings.kh_spin.setValue(2 if settings.kh_spin.value() != 2 else 3)
    if settings is not None and hasattr(settings, "source_box"):
        box = settings.source_box
        box.setCurrentIndex((box.currentIndex() + 1) % box.count())
    if hasattr(lab, "pool_size_spin"):
        lab.pool_size_spin.setValue(3)
    if hasattr(lab, "step_once"):
        lab.step_once()


def click_lab(window, key: str) -> None:
    """What a click on the lab list does (MainWindow.open_lab, through the list's signal)."""
    from gui.labs import LABS

    window.lab_list.setCurrentRow(next(row for row, info in enumerate(LABS)
                                       if info.key == key))


def make_window(warmup, initial_lab: str):
    from PyQt6.QtCore import QSettings

    from gui.app import MainWindow

    folder = tempfile.mkdtemp()
    settings = QSettings(str(Path(folder) / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, warmup=warmup, initial_lab=initial_lab,
                        remember=False)
    window.show()
    return window


def run_race(app) -> dict:
    window = make_window(True, "convolution")
    lab = window.current_lab()
    result = {"built": type(lab).__name__ == "ConvolutionLab",
              "message": window.statusBar().currentMessage(),
              "colorama": "colorama" in sys.modules}
    wait(app, 120, until=lambda: not window.warmup_runner.running)
    window.close()
    return result


def run_labs(app, order: list[str], hold: bool, in_thread: bool = False) -> dict:
    import numpy as np

    from engine.warmup import warmup as engine_warmup
    from gui.app import LabLoadError
    from gui.workers.warmup import kernels_ready

    release = threading.Event()

    def held(progress):
        release.wait(120)
        engine_warmup(progress, dtypes=(np.float32, np.float64))

    spy = CompilerLockSpy()
    gc_spy = GcSpy()
    from gui.workers.warmup import default_warmup

    # a callable warm-up runs in the worker thread itself (what the app did before it
    # compiled in a child process): --in-thread measures that for comparison
    started = time.perf_counter()
    window = make_window(held if hold else (default_warmup() if in_thread else True), order[0])
    # the first lab is built inside the window's constructor, before the event loop runs:
    # its cost is the start-up's, reported apart from the stalls of the labs opened later
    first_lab_ms = (time.perf_counter() - started) * 1000
    # what the GUI thread did before the worker existed (imports, Numba's registries) could
    # wait for nobody: count from the moment the worker runs
    spy.gui_thread_locks, spy.where = 0, []
    probe = StallProbe()
    result = {"errors": [], "notes": {}, "stall_per_lab_ms": {}, "stall_per_lab_ready_ms": {},
              "stall_open_edit_ms": {},  # (opening, the edit after it) per lab
              "window_with_first_lab_ms": first_lab_ms}
    for key in order:
        probe.end_phase()
        click_lab(window, key)
        wait(app, 0.3)
        lab = window.current_lab()
        if isinstance(lab, LabLoadError):
            result["errors"].append(f"{key}: {lab.error}")
        opened = probe.end_phase()
        edit(lab)
        wait(app, 0.3)
        edited = probe.end_phase()
        result["stall_per_lab_ms"][key] = max(opened, edited)
        result["stall_open_edit_ms"][key] = (opened, edited)
    result["ready_before_release"] = kernels_ready()
    backprop = window.lab_widget("backprop")
    fitting = window.lab_widget("fitting")
    if backprop is not None:
        result["notes"]["backprop"] = backprop.gradcheck.explanation.text()
    if fitting is not None:
        result["notes"]["fitting"] = fitting.info_label.text()
    result["gui_thread_locks_while_compiling"] = spy.gui_thread_locks
    result["where"] = spy.where
    result["stall_while_compiling_ms"] = probe.longest * 1000
    release.set()
    start = time.monotonic()
    probe.end_phase()
    wait(app, 600, until=kernels_ready)
    result["warmup_s"] = time.monotonic() - start
    result["stall_rest_of_warmup_ms"] = probe.end_phase()
    wait(app, 0.5)
    result["stall_fill_in_ms"] = probe.end_phase()  # the labs filling in
    result["filled_in"] = {
        "backprop": backprop is not None and backprop.gradcheck_errors is not None,
        "fitting": fitting is not None and fitting.fitter is not None,
    }
    for key in order:  # and everything once more with the kernels ready
        probe.end_phase()
        click_lab(window, key)
        wait(app, 0.2)
        edit(window.current_lab())
        wait(app, 0.2)
        result["stall_per_lab_ready_ms"][key] = probe.end_phase()
    result["gui_thread_locks"] = spy.gui_thread_locks
    result["gc_longest_ms"], result["gc_full_collections"] = gc_spy.longest_ms, gc_spy.full
    result["stall_ms"] = probe.longest * 1000
    window.close()
    return result


def run_close(app, after: float, lab: str | None, train: bool) -> None:
    """Inside ``gui.app.run_app``'s event loop: open ``lab``, maybe train, then close."""
    from PyQt6.QtWidgets import QApplication

    window = next(w for w in QApplication.topLevelWidgets() if hasattr(w, "show_lab"))
    if lab:
        window.show_lab(lab)
    if train:
        window.show_lab("training").start()

    def close():
        print(json.dumps({"close_requested": time.time()}), flush=True)
        window.close()

    from PyQt6.QtCore import QTimer

    QTimer.singleShot(int(after * 1000), close)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=("race", "labs", "close"))
    parser.add_argument("--order", default="convolution,gallery,pooling,backprop,fitting,training,"
                                            "network")
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("--in-thread", action="store_true")
    parser.add_argument("--after", type=float, default=2.0)
    parser.add_argument("--lab", default=None)
    parser.add_argument("--train", action="store_true")
    args = parser.parse_args()
    if args.scenario == "race":
        widen_the_import_race()
    from gui.app import _application

    app = _application([sys.argv[0]])
    if args.scenario == "close":  # the real entry point, as `python main.py` runs it
        from PyQt6.QtCore import QTimer

        from gui.app import run_app

        QTimer.singleShot(0, lambda: run_close(app, args.after, args.lab, args.train))
        return run_app()
    if args.scenario == "race":
        result = run_race(app)
    else:
        result = run_labs(app, args.order.split(","), args.hold, args.in_thread)
    print(json.dumps(result), flush=True)
    from gui.app import flush_and_exit

    flush_and_exit(0)  # the end of every run of the app (gui.app.run_app): no teardown
    return 0


if __name__ == "__main__":
    sys.exit(main())
