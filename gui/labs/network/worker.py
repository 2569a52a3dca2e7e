"""The Network lab's background worker: one image through the network, off the GUI thread.

A service (:class:`gui.workers.threads.Worker` in a registered thread, its event loop
running the requests one at a time): :meth:`InspectWorker.submit` queues an
:class:`~gui.labs.network.compute.InspectRequest` or a
:class:`~gui.labs.network.compute.MisclassifiedRequest`; the answers come back as
signals carrying copies (``inspected``, ``misclassified``) or a sentence (``failed``).
It computes with one Numba thread: training keeps all of them (the Network lab looks
into a network that usually trains at the same time); on the first start it waits for
the warm-up instead of compiling the kernels itself.
"""

from __future__ import annotations

import threading

from PyQt6.QtCore import pyqtSignal, pyqtSlot

from gui.labs.network.compute import Inspector, MisclassifiedRequest
from gui.workers.threads import Worker, start_worker
from gui.workers.warmup import wait_for_kernels

__all__ = ["InspectWorker"]


class InspectWorker(Worker):
    """Runs the Network lab's requests on its own copy of the network."""

    inspected = pyqtSignal(object)      # Inspection
    misclassified = pyqtSignal(object)  # Misclassified
    failed = pyqtSignal(str)            # a request could not run, in words
    _requested = pyqtSignal(object)     # GUI thread -> the worker's thread (queued)

    def __init__(self):
        super().__init__()
        self._inspector = Inspector()
        self._threads_set = False
        self.native_id: int | None = None
        self._requested.connect(self._run)

    def start(self):
        """Start the service's registered thread (call from the GUI thread)."""
        return start_worker(self, "Network lab", service=True)

    def submit(self, request) -> None:
        """Queue a request (any thread; returns at once)."""
        self._requested.emit(request)

    @pyqtSlot(object)
    def _run(self, request) -> None:
        # on the first start the kernels may still be compiling (in the warm-up's child
        # process): wait here rather than compile them a second time in this thread
        if self.stop_requested or not wait_for_kernels(lambda: self.stop_requested):
            return
        if not self._threads_set:
            import numba

            numba.set_num_threads(1)  # per thread: training keeps every Numba thread
            self._threads_set = True
            self.native_id = threading.get_native_id()  # (the benchmark reads its CPU time)
        try:
            result = self._inspector.run(request)
        except Exception as err:  # noqa: BLE001 - reported in words, the lab goes on
            self.failed.emit(f"{type(err).__name__}: {err}")
            return
        if isinstance(request, MisclassifiedRequest):
            self.misclassified.emit(result)
        else:
            self.inspected.emit(result)
