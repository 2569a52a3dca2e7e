"""First-run Numba compilation in a background thread, with progress, and the readiness
of the kernels that the labs wait for.

The very first start compiles every engine kernel (about 30 s on 2 lightly loaded cores,
40 s or more on busy ones: benchmarks/cold_start.py); later starts load them from Numba's
on-disk cache. Either way the work happens here, in a worker
of :mod:`gui.workers.threads`, so the window answers clicks from the first frame. The
worker only emits signals carrying plain values; it never touches a widget.

The engine's own warm-up first tries to load every kernel from the cache in the
worker (a later start: well under a second), refusing to compile. As soon as a kernel
would have to be compiled (the first start, or after an engine update), it compiles
them in *child processes* that fill Numba's on-disk cache, one per core, each with its
share of the kernels (engine.warmup.warmup_parts), then loads them from there. Compiling
is mostly Python code: in a thread of this process it would hold the interpreter lock
half the time and every lab the learner opens meanwhile would take twice as long to
build; in children it has locks of its own and the cores the window leaves idle (they
run at a lower priority), and a stop request ends it at once (the children are killed).

Two rules keep the GUI thread from ever waiting on that worker:

- *No import races.* ``gui.workers.threads.start_worker`` imports on the GUI thread
  every module the warm-up would import before the thread starts
  (``prepare_background_imports``).
- *No compilation on the GUI thread.* Numba compiles a kernel under one process-wide
  lock, so a GUI-thread call of a kernel that is not compiled yet would wait for the
  whole warm-up. A lab that calls kernels on the GUI thread asks
  :func:`kernels_ready` first and, while they are being prepared, says so in place
  and registers with :func:`when_kernels_ready` to fill in later.
"""

from __future__ import annotations

import functools
import os
import queue
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from PyQt6 import sip
from PyQt6.QtCore import QObject, pyqtSignal

from engine.i18n import tr
from gui.workers.threads import Worker, start_worker, stop_worker

__all__ = ["WarmupWorker", "WarmupRunner", "default_warmup",
           "kernels_ready", "when_kernels_ready"]

_ROOT = Path(__file__).resolve().parents[2]  # the folder holding engine/


def default_warmup() -> Callable | None:
    """The engine's warm-up for both dtypes the labs use, or None if there is nothing to warm up.

    float32 is what training uses; float64 is what the small numeric examples and the
    gradient checks use, so both are compiled here, off the GUI thread.
    """
    try:
        import numpy as np

        from engine.warmup import warmup
    except ImportError:
        return None
    return functools.partial(warmup, dtypes=(np.float32, np.float64))


class _Stopped(Exception):
    """Raised from the progress callback to end the warm-up between two kernels."""


class _NeedsCompiling(Exception):
    """Raised (by a Numba event listener) when a kernel is about to be compiled in a
    thread that only loads from the cache."""


_load_only_threads: set[int] = set()  # threads in which a compilation is refused
_guard_installed = False


def _refuse_compiling_in(thread_id: int | None) -> None:
    """Refuse compilations in ``thread_id`` from now on (None: stop refusing there)."""
    global _guard_installed
    if not _guard_installed:
        from numba.core import event

        class Guard(event.Listener):
            def on_start(self, event_):
                if threading.get_ident() in _load_only_threads:
                    raise _NeedsCompiling  # before Numba starts: nothing is half-compiled

            def on_end(self, event_):
                pass

        event.register("numba:compile", Guard())
        _guard_installed = True
    if thread_id is None:
        _load_only_threads.discard(threading.get_ident())
    else:
        _load_only_threads.add(thread_id)


class WarmupWorker(Worker):
    """Calls ``warmup_fn(progress)`` once and reports through signals.

    With ``in_child=True`` the kernels are first compiled in child processes
    (engine.warmup.child_command), which report the progress; ``warmup_fn`` then only
    loads them from the cache (and compiles in this process whatever the child could not,
    e.g. when the cache folder is not writable). A stop request kills the children at
    once; in this process it ends the warm-up at the next kernel boundary (one
    kernel's compilation cannot be interrupted).

    Signals
    -------
    progress(done, total, name)
        Forwarded from the engine's progress callback.
    succeeded(seconds)
        Emitted when compilation succeeded.
    failed(message)
        Emitted instead of ``succeeded`` if the warm-up raised.
    """

    progress = pyqtSignal(int, int, str)
    succeeded = pyqtSignal(float)
    failed = pyqtSignal(str)

    def __init__(self, warmup_fn: Callable, in_child: bool = False):
        super().__init__()
        self._warmup_fn = warmup_fn
        self._in_child = in_child
        self._children: list[subprocess.Popen] = []
        self._child_lock = threading.Lock()

    def request_stop(self) -> None:
        super().request_stop()
        with self._child_lock:
            for child in self._children:
                if child.poll() is None:
                    child.kill()

    def run(self) -> None:
        start = time.perf_counter()
        try:
            report = self._report
            if self._in_child:
                if self._load_from_cache():
                    self.succeeded.emit(time.perf_counter() - start)
                    return
                if self._compile_in_child():
                    report = self._check_stop  # the bar is full already: loading is quick
            if self.stop_requested:
                return
            self._warmup_fn(report)
        except _Stopped:
            return
        except Exception as err:  # noqa: BLE001 - any failure becomes one status message
            traceback.print_exc()
            self.failed.emit(tr("Preparing the fast kernels failed: {error}").format(error=err))
            return
        self.succeeded.emit(time.perf_counter() - start)

    def _check_stop(self, *_) -> None:
        if self.stop_requested:
            raise _Stopped

    def _report(self, done, total, name) -> None:
        self._check_stop()
        self.progress.emit(int(done), int(total), str(name))

    def _load_from_cache(self) -> bool:
        """Run the warm-up refusing every compilation; True when all loaded from the cache."""
        _refuse_compiling_in(threading.get_ident())
        try:
            self._warmup_fn(self._report)
            return True
        except _NeedsCompiling:
            return False
        finally:
            _refuse_compiling_in(None)

    def _compile_in_child(self) -> bool:
        """Compile in child processes (engine.warmup.child_command), each its share of
        the kernels, reporting their summed progress (per mille of the compile time,
        engine.warmup.warmup_costs); True when every one succeeded."""
        import numpy as np

        from engine.warmup import child_command, compile_processes, warmup_costs

        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH"))
                                            if p)
        parts = compile_processes()
        lines: queue.Queue = queue.Queue()
        readers = []
        with self._child_lock:
            for part in range(parts):
                if self.stop_requested:
                    break
                try:
                    child = subprocess.Popen(
                        child_command(part, parts), stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env,
                        text=True, **_low_priority())
                except OSError:
                    break  # no child possible: compile in this process instead
                _lower_priority(child.pid)
                self._children.append(child)
                readers.append(threading.Thread(target=_read_lines, args=(part, child, lines),
                                                name=f"numba-warmup-child-{part}",
                                                daemon=True))
            children = list(self._children)
        for reader in readers:
            reader.start()
        # the bar advances by compile time, not by kernel group: in per mille
        costs = [warmup_costs((np.float32, np.float64), part, parts) for part in range(parts)]
        total = sum(map(sum, costs)) or 1.0
        done, open_pipes = [0.0] * parts, len(readers)
        while open_pipes:
            part, line = lines.get()  # blocks in the OS, not holding the interpreter lock
            if line is None:
                open_pipes -= 1
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 3 and fields[0].isdigit():
                done[part] = sum(costs[part][:int(fields[0])])
                self.progress.emit(min(round(1000 * sum(done) / total), 1000), 1000, fields[2])
        for reader in readers:
            reader.join()
        codes = [child.wait() for child in children]
        with self._child_lock:
            self._children.clear()
        return len(children) == parts and all(code == 0 for code in codes)


def _read_lines(part: int, child: subprocess.Popen, lines: queue.Queue) -> None:
    """Pass every line a compiling child prints to ``lines`` as (part, line), then
    (part, None) when its output ends (it finished, failed or was killed)."""
    for line in child.stdout:
        lines.put((part, line))
    lines.put((part, None))


def _low_priority() -> dict:
    """Popen arguments for a child that yields the CPU to the window (Windows: below
    normal priority; elsewhere see :func:`_lower_priority`)."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.BELOW_NORMAL_PRIORITY_CLASS}
    return {}


def _lower_priority(pid: int) -> None:
    """nice 10 for the child (POSIX), set from outside: a ``preexec_fn`` is not safe in a
    process with threads. The compilation then uses the CPU time the app leaves idle."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, 10)
    except (AttributeError, OSError):  # Windows (see _low_priority), or not permitted
        pass


class _Readiness(QObject):
    """Whether the kernels can be called on the GUI thread without compiling there."""

    became_ready = pyqtSignal()

    def __init__(self):
        super().__init__()
        self.ready = True  # without a warm-up (tests, screenshots) the labs call directly
        self.ready_event = threading.Event()  # the same, for worker threads to wait on
        self.ready_event.set()

    def set_ready(self, ready: bool) -> None:
        was, self.ready = self.ready, ready
        if ready:
            self.ready_event.set()
        else:
            self.ready_event.clear()
        if ready and not was:
            self.became_ready.emit()


_readiness: _Readiness | None = None


def _state() -> _Readiness:
    global _readiness
    if _readiness is None:
        _readiness = _Readiness()
    return _readiness


def kernels_ready() -> bool:
    """False while a warm-up is compiling: a GUI-thread kernel call would wait for it."""
    return _state().ready


def wait_for_kernels(stop: Callable[[], bool], poll_s: float = 0.1) -> bool:
    """Block a *worker* thread until the kernels are ready (True), or until ``stop()``
    says to give up (False). A worker that calls the engine before then would compile in
    its own thread, and a compiling thread holds the interpreter lock for long stretches:
    the GUI would stall. Never call this on the GUI thread."""
    event = _state().ready_event
    while not event.wait(poll_s):
        if stop():
            return False
    return True


def when_kernels_ready(receiver: QObject, slot: Callable[[], None]) -> bool:
    """True when the kernels are ready now; otherwise ``slot()`` is called (once, on the
    GUI thread) when they are, unless ``receiver`` has been deleted by then, and False."""
    state = _state()
    if state.ready:
        return True

    def fire():
        state.became_ready.disconnect(fire)
        if not sip.isdeleted(receiver):
            slot()

    state.became_ready.connect(fire)
    return False


class WarmupRunner(QObject):
    """Owns the worker; the main window only calls start() and stop().

    Signals are re-emitted on the GUI thread (queued connections), so slots connected
    to them may update widgets.
    """

    progress = pyqtSignal(int, int, str)
    finished = pyqtSignal(float)
    failed = pyqtSignal(str)

    def __init__(self, warmup_fn: Callable | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._in_child = warmup_fn is None  # the engine's warm-up compiles in a child process
        self._warmup_fn = warmup_fn if warmup_fn is not None else default_warmup()
        self._worker: WarmupWorker | None = None
        self.running = False

    @property
    def available(self) -> bool:
        """False when the engine has no warm-up function (nothing will run)."""
        return self._warmup_fn is not None

    def start(self) -> bool:
        """Start compiling in the background. Returns False if there is nothing to do."""
        if self._warmup_fn is None or self.running:
            return False
        worker = self._worker = WarmupWorker(self._warmup_fn, in_child=self._in_child)
        worker.progress.connect(self.progress)
        worker.succeeded.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(self._on_ended)
        self.running = True
        _state().set_ready(False)
        start_worker(worker, "numba-warmup")
        return True

    def request_stop(self) -> None:
        """Ask the warm-up to end after the kernel it is compiling (returns at once)."""
        if self._worker is not None:
            self._worker.request_stop()

    def stop(self, timeout_s: float | None = None) -> bool:
        """Stop after the current kernel and wait up to ``timeout_s`` (None: no limit).
        True when the thread has ended."""
        if self._worker is None:
            return True
        ended = stop_worker(self._worker, timeout_s)
        if ended:
            self._on_ended()
        return ended

    def _on_finished(self, seconds: float) -> None:
        self.running = False
        _state().set_ready(True)
        self.finished.emit(seconds)

    def _on_failed(self, message: str) -> None:
        self.running = False
        _state().set_ready(True)  # the labs report the kernels' own errors from now on
        self.failed.emit(message)

    def _on_ended(self) -> None:
        self.running = False
        if self._worker is not None and not self._worker.stop_requested:
            _state().set_ready(True)
        self._worker = None
