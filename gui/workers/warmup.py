"""First-run Numba compilation in a background thread, with progress, and the readiness
of the kernels that the labs wait for.

The very first start compiles every engine kernel (30-40 s on 2 cores); later starts
load them from Numba's on-disk cache. Either way the work happens here, in a worker
of :mod:`gui.workers.threads`, so the window answers clicks from the first frame. The
worker only emits signals carrying plain values; it never touches a widget.

Two rules keep the GUI thread from ever waiting on that thread:

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
import time
import traceback
from collections.abc import Callable

from PyQt6 import sip
from PyQt6.QtCore import QObject, pyqtSignal

from engine.i18n import tr
from gui.workers.threads import Worker, start_worker, stop_worker

__all__ = ["WarmupWorker", "WarmupRunner", "default_warmup",
           "kernels_ready", "when_kernels_ready"]


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


class WarmupWorker(Worker):
    """Calls ``warmup_fn(progress)`` once and reports through signals.

    A stop request ends the warm-up at the next kernel boundary (one kernel's
    compilation cannot be interrupted).

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

    def __init__(self, warmup_fn: Callable):
        super().__init__()
        self._warmup_fn = warmup_fn

    def run(self) -> None:
        start = time.perf_counter()
        try:
            self._warmup_fn(self._report)
        except _Stopped:
            return
        except Exception as err:  # noqa: BLE001 - any failure becomes one status message
            traceback.print_exc()
            self.failed.emit(tr("Preparing the fast kernels failed: {error}").format(error=err))
            return
        self.succeeded.emit(time.perf_counter() - start)

    def _report(self, done, total, name) -> None:
        if self.stop_requested:
            raise _Stopped
        self.progress.emit(int(done), int(total), str(name))


class _Readiness(QObject):
    """Whether the kernels can be called on the GUI thread without compiling there."""

    became_ready = pyqtSignal()

    def __init__(self):
        super().__init__()
        self.ready = True  # without a warm-up (tests, screenshots) the labs call directly

    def set_ready(self, ready: bool) -> None:
        was, self.ready = self.ready, ready
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
        worker = self._worker = WarmupWorker(self._warmup_fn)
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
