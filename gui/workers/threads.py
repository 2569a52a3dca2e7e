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

Two shapes of worker use this:

- a *service* (gallery, validation): the thread runs its event loop and the worker's
  slots run one request at a time, connected to a signal of the GUI object;
- a *loop* (training): :meth:`Worker.run` is the thread's work and returns when
  :meth:`Worker.request_stop` is called (it checks :attr:`Worker.stop_requested`).
"""

from __future__ import annotations

import threading
import time

from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

__all__ = ["Worker", "start_worker", "stop_worker", "stop_all", "running_threads"]

_threads: list[tuple[QThread, Worker]] = []  # every started thread not yet collected
_lock = threading.Lock()


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
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.started.connect(worker._start)
    if not service:
        worker.finished.connect(thread.quit)
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
