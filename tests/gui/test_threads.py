"""gui.workers.threads: the one idiom for background work, and shutdown waiting for it."""

from __future__ import annotations

import threading

from PyQt6.QtCore import QObject, pyqtSignal, pyqtSlot

from gui.workers.threads import Worker, running_threads, start_worker, stop_all, stop_worker


class _Loop(Worker):
    ticked = pyqtSignal(int)

    def __init__(self, release: threading.Event | None = None):
        super().__init__()
        self.release = release
        self.thread_id = None
        self.running = threading.Event()

    def run(self):
        self.thread_id = threading.get_ident()
        self.running.set()
        n = 0
        while not self.stop_requested:
            if self.release is not None:
                self.release.wait()  # a step that ignores stop requests (a compilation)
            n += 1
            if n == 1:
                self.ticked.emit(n)
            self._stop.wait(0.001)


class _Service(Worker):
    answered = pyqtSignal(int, object)

    @pyqtSlot(int)
    def square(self, value):
        self.answered.emit(value * value, threading.get_ident())


class _Asker(QObject):
    ask = pyqtSignal(int)


def test_a_loop_runs_in_its_own_thread_and_stops(qtbot):
    worker = _Loop()
    with qtbot.waitSignal(worker.ticked, timeout=5000):
        thread = start_worker(worker, "test-loop")
    assert worker.thread_id != threading.get_ident()
    assert "test-loop" in running_threads()
    with qtbot.waitSignal(worker.finished, timeout=5000):
        assert stop_worker(worker, timeout_s=5)
    assert thread.isFinished()
    assert "test-loop" not in running_threads()


def test_a_service_answers_queued_requests_in_its_thread(qtbot):
    worker = _Service()
    asker = _Asker()
    asker.ask.connect(worker.square)
    start_worker(worker, "test-service", service=True)
    with qtbot.waitSignal(worker.answered, timeout=5000) as blocker:
        asker.ask.emit(7)
    assert blocker.args[0] == 49
    assert blocker.args[1] != threading.get_ident()
    assert stop_worker(worker, timeout_s=5)
    assert "test-service" not in running_threads()


def test_stop_all_waits_for_every_thread_and_reports_a_busy_one(qtbot):
    release = threading.Event()
    busy = _Loop(release)
    quick = _Loop()
    with qtbot.waitSignal(quick.ticked, timeout=5000):
        start_worker(quick, "test-quick")
    start_worker(busy, "test-busy")
    assert busy.running.wait(5)
    # the busy worker cannot stop until released: stop_all gives up at its deadline
    assert stop_all(timeout_s=0.2) is False
    assert running_threads() == ["test-busy"]
    release.set()
    assert stop_all(timeout_s=5) is True
    assert running_threads() == []


def test_a_finished_loop_ends_its_thread_without_the_gui_event_loop(qtbot):
    """thread.wait() on the GUI thread returns once run() has returned: the thread quits
    itself, it does not need a queued quit() that only the GUI's event loop would deliver."""
    worker = _Loop()
    thread = start_worker(worker, "test-self-quit")
    assert worker.running.wait(5)
    worker.request_stop()
    assert thread.wait(5000)  # no event processing on this thread meanwhile
