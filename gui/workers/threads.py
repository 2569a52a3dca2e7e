"""The one idiom for background work: a QObject worker moved to a QThread.

Every background job of the app (first-run compilation, the gallery's convolutions,
the training loop, epoch validation, loading large files) is a :class:`Worker`
(a QObject) that :func:`start_worker` moves to a new QThread and starts. The GUI
talks to a worker only through queued signals (or, for a worker whose slot loops,
a thread-safe queue) and listens to its signals, which carry copies; a worker never
touches a widget.

Every thread started here is registered, so that the window's shutdown can ask all
of them to stop and wait for them (:func:`stop_all`): no QThread is ever destroyed
while it runs, and quitting never aborts the process.

Before the first thread starts, :func:`prepare_background_imports` imports on the GUI
thread every module a worker would import (Numba and what it loads for a compilation,
the engine, pyqtgraph). Python's import machinery is not safe when two threads import
the modules of one package at once: a warm-up thread importing ``colorama`` (through
``numba.core.errors``) while the GUI thread imported it through pyqtgraph's
``util/cprint.py`` failed the Convolution lab with ``KeyError: 'colorama'`` on some
first starts. After this, workers import nothing the GUI thread also imports.

Two shapes of worker use this:

- a *service* (gallery, validation): the thread runs its event loop and the worker's
  slots run one request at a time, connected to a signal of the GUI object;
- a *loop* (training): :meth:`Worker.run` is the thread's work and returns when
  :meth:`Worker.request_stop` is called (it checks :attr:`Worker.stop_requested`).
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
import time

from PyQt6.QtCore import QObject, Qt, QThread, pyqtSignal, pyqtSlot

__all__ = ["Worker", "start_worker", "stop_worker", "stop_all", "running_threads",
           "prepare_background_imports"]

_threads: list[tuple[QThread, Worker]] = []  # every started thread not yet collected
_lock = threading.Lock()
_imports_done = False

#: What a first Numba compilation imports after its registries are loaded (measured with a
#: fresh cache; the rest comes with ``refresh()`` below).
_COMPILE_IMPORTS = ("multiprocessing.synchronize", "numba.core.boxing",
                    "numba.core.runtime.context", "numba.np.ufunc.omppool")


def prepare_background_imports() -> None:
    """Import, on the calling (GUI) thread, what background workers would import.

    Numba (and with it ``colorama``), every engine module, Numba's typing and lowering
    registries (which load the numpy submodules they inspect), the few modules a first
    compilation adds, and pyqtgraph. About 0.6 s on 2 cores, once per process; later
    calls return at once.
    """
    global _imports_done
    if _imports_done:
        return
    import numba  # noqa: F401
    import pyqtgraph  # noqa: F401
    from numba.core.registry import cpu_target

    import engine

    for module in pkgutil.iter_modules(engine.__path__):
        importlib.import_module(f"engine.{module.name}")
    cpu_target.typing_context.refresh()
    cpu_target.target_context.refresh()
    for name in _COMPILE_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:  # e.g. no OpenMP threading layer on this machine
            pass
    _imports_done = True


class Worker(QObject):
    """Base class of background workers.

    Subclasses either override :meth:`run` (a loop that returns once
    ``stop_requested`` is set) or leave it alone and offer slots that queued signals
    call (a service). ``finished`` is emitted by the worker's thread when
    :meth:`run` has returned (services: right away; their thread keeps its event loop
    until :func:`stop_worker`).
    """

    finished = pyqtSignal()

    def __init__(self):
        super().__init__()
        self._stop = threading.Event()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Ask the worker to end (any thread; returns at once)."""
        self._stop.set()

    def run(self) -> None:
        """The thread's work; the default (a service) does nothing and returns."""

    @pyqtSlot()
    def _start(self) -> None:
        try:
            self.run()
        finally:
            self.finished.emit()


def start_worker(worker: Worker, name: str, service: bool = False) -> QThread:
    """Move ``worker`` to a new, registered QThread named ``name`` and start it.

    ``service=False``: the thread runs ``worker.run()`` and ends when it returns.
    ``service=True``: the thread keeps its event loop after ``run()`` so queued
    signals reach the worker's slots, until :func:`stop_worker`.
    """
    prepare_background_imports()  # before the thread exists: no module is imported twice at once
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.started.connect(worker._start)
    if not service:
        # direct: quit() runs in the worker's thread as run() returns, so the thread ends
        # even while the GUI thread is blocked (a queued quit would wait for its event loop)
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    with _lock:
        _collect()
        _threads.append((thread, worker))
    thread.start()
    return thread


def stop_worker(worker: Worker, timeout_s: float | None = None) -> bool:
    """Ask ``worker`` to stop, end its thread's event loop and wait up to ``timeout_s``
    seconds (None: no limit). True when the thread has ended."""
    worker.request_stop()
    for thread, w in _snapshot():
        if w is worker:
            thread.quit()
            ended = thread.wait() if timeout_s is None else thread.wait(int(timeout_s * 1000))
            if ended:
                with _lock:
                    _collect()
            return bool(ended)
    return True


def stop_all(timeout_s: float) -> bool:
    """Ask every worker to stop and wait for all threads, ``timeout_s`` seconds in all.

    Returns True when every thread ended; False when one is still busy (say, inside a
    first-run compilation, which cannot be interrupted), in which case the caller must
    not let Qt destroy it (see gui/app.py, ``run_app``)."""
    deadline = time.monotonic() + timeout_s
    pairs = _snapshot()
    for thread, worker in pairs:
        worker.request_stop()
        thread.quit()
    for thread, _ in pairs:
        left_ms = max(0, int((deadline - time.monotonic()) * 1000))
        thread.wait(left_ms)
    with _lock:
        _collect()
        return not _threads


def running_threads() -> list[str]:
    """Names of the registered threads that are still running."""
    return [t.objectName() for t, _ in _snapshot() if t.isRunning()]


def _snapshot() -> list[tuple[QThread, Worker]]:
    with _lock:
        return list(_threads)


def _collect() -> None:
    """Forget threads that have ended (caller holds the lock)."""
    _threads[:] = [(t, w) for t, w in _threads if not t.isFinished()]
