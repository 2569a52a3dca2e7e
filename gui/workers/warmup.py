"""First-run Numba compilation in a background thread, with progress.

The very first start compiles every engine kernel (several seconds); later starts
load them from Numba's on-disk cache. Either way the work happens here, in a
QThread, so the window answers clicks from the first frame. The worker only emits
signals carrying plain values; it never touches a widget.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Callable

from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

__all__ = ["WarmupWorker", "WarmupRunner", "default_warmup"]


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


class WarmupWorker(QObject):
    """Calls ``warmup_fn(progress)`` once and reports through signals.

    Signals
    -------
    progress(done, total, name)
        Forwarded from the engine's progress callback.
    finished(seconds)
        Emitted when compilation succeeded.
    failed(message)
        Emitted instead of ``finished`` if the warm-up raised.
    """

    progress = pyqtSignal(int, int, str)
    finished = pyqtSignal(float)
    failed = pyqtSignal(str)

    def __init__(self, warmup_fn: Callable):
        super().__init__()
        self._warmup_fn = warmup_fn

    @pyqtSlot()
    def run(self) -> None:
        start = time.perf_counter()
        try:
            self._warmup_fn(self._report)
        except Exception as err:  # noqa: BLE001 - any failure becomes one status message
            traceback.print_exc()
            self.failed.emit(f"Preparing the fast kernels failed: {err}")
            return
        self.finished.emit(time.perf_counter() - start)

    def _report(self, done, total, name) -> None:
        self.progress.emit(int(done), int(total), str(name))


class WarmupRunner(QObject):
    """Owns the thread and the worker; the main window only calls start() and stop().

    Signals are re-emitted on the GUI thread (queued connections), so slots connected
    to them may update widgets.
    """

    progress = pyqtSignal(int, int, str)
    finished = pyqtSignal(float)
    failed = pyqtSignal(str)

    def __init__(self, warmup_fn: Callable | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._warmup_fn = warmup_fn if warmup_fn is not None else default_warmup()
        self._thread: QThread | None = None
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
        self._thread = QThread()
        self._thread.setObjectName("numba-warmup")
        self._worker = WarmupWorker(self._warmup_fn)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self.progress)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self.running = True
        self._thread.start()
        return True

    def stop(self) -> None:
        """Wait for the thread to end (compilation cannot be interrupted halfway)."""
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
            self._thread = None
            self._worker = None
        self.running = False

    def _on_finished(self, seconds: float) -> None:
        self.running = False
        if self._thread is not None:
            self._thread.quit()
        self.finished.emit(seconds)

    def _on_failed(self, message: str) -> None:
        self.running = False
        if self._thread is not None:
            self._thread.quit()
        self.failed.emit(message)
