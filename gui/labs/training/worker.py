"""The training loop's thread: the engine's TrainingRun, stepped in a Worker.

Ownership: while a :class:`TrainingWorker` runs, it alone calls its Trainer (steps,
snapshots, evaluation, saving). The GUI talks to it only through the command methods
below, each of which puts a bound method on a thread-safe queue that the loop runs
between two steps (typed commands: no names to dispatch on), and listens to its
signals, which carry copies (the engine's Snapshot and EvalResult are copies by
contract; the step history is copied into new arrays here).

The worker is a :class:`gui.workers.threads.Worker` started by :meth:`TrainingWorker.start`
in a registered thread, so the window's shutdown can stop and wait for it
(``stop_all``); :meth:`request_stop` ends the loop within one step (and interrupts an
evaluation between two batches).

Frames are time-throttled and flow-controlled (:class:`gui.labs.training.session.FrameThrottle`):
a slow redraw never piles up queued signals; steps taken in between are not lost, they
travel in the next frame's history arrays. While another lab is shown (background
mode) frames come twice a second without the probe's maps.

Validation after each epoch runs on a copy of the weights in a background service
(:class:`BackgroundValidation`, its own registered thread) at the lowest CPU priority,
so it uses the time the training threads leave idle instead of stopping training; a
result still missing when training needs it is computed by the training thread.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from PyQt6.QtCore import QThread, pyqtSignal, pyqtSlot

from engine.i18n import tr
from engine.training import EvaluationStopped
from gui.labs.training.session import (
    BACKGROUND_FRAME_INTERVAL,
    EpochResult,
    FrameThrottle,
    RateMeter,
    TrainingFrame,
)
from gui.workers.threads import Worker, start_worker, stop_worker
from gui.workers.warmup import wait_for_kernels

__all__ = ["TrainingWorker", "TrainingFrame", "EpochResult", "BackgroundValidation"]


@dataclass
class _History:
    iterations: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    accuracies: list = field(default_factory=list)

    def add(self, result) -> None:
        self.iterations.append(result.iteration)
        self.losses.append(result.loss)
        self.accuracies.append(result.accuracy)

    def take(self):
        arrays = (np.asarray(self.iterations, dtype=np.int64),
                  np.asarray(self.losses, dtype=np.float64),
                  np.asarray(self.accuracies, dtype=np.float64))
        self.iterations.clear()
        self.losses.clear()
        self.accuracies.clear()
        return arrays


class TrainingWorker(Worker):
    """Steps an engine :class:`~engine.training_loop.TrainingRun` and reports what happened.

    Parameters
    ----------
    run : engine.training_loop.TrainingRun
        Its Trainer is owned by the worker until the loop ends. The run owns the
        schedule and the planned epochs; at the end of them the worker pauses and
        emits ``finished_training``.
    probe : (C, H, W) float32 array
        The image whose feature and delta maps the snapshots show.
    probe_label : int or None
    running : bool
        Start training at once (True) or wait for commands (False, e.g. Step).
    frame_interval : float
        Minimum seconds between two frames.
    live_views : bool
        False: frames carry no snapshot (the benchmark's "no views" case).
    maps : bool
        Snapshots with the probe's maps (see :meth:`set_maps`).
    background : bool
        Start in background mode (see :meth:`set_background`).
    clock : callable
        Seconds, for the frame throttle and the speed (tests may pass their own).

    The worker trains with all Numba threads: on a quiet 2-core machine one thread
    trains at 62-67 % of the speed of two, while the live views cost the GUI thread
    only 9-11 % of a core (benchmarks/bench_gui.py).
    """

    frame = pyqtSignal(object)           # TrainingFrame
    evaluated = pyqtSignal(object)       # EpochResult
    diverged = pyqtSignal(str)           # message for the learner
    finished_training = pyqtSignal(str)  # the planned number of epochs is reached
    saved = pyqtSignal(str, str)         # path, error message ("" when it worked)
    state_ready = pyqtSignal(int, int, object)  # request id, iteration, get_state() copies
    failed = pyqtSignal(str)             # an unexpected error, in words

    def __init__(self, run, probe, probe_label=None, running: bool = True,
                 frame_interval: float = 0.04, live_views: bool = True, maps: bool = True,
                 background: bool = False, clock=time.perf_counter):
        super().__init__()
        self._run = run
        self._trainer = run.trainer
        self._probe = np.ascontiguousarray(probe, dtype=np.float32)
        self._probe_label = probe_label
        self._probe_id = 0
        self._running = bool(running)
        self._live_views = bool(live_views)
        self._maps = bool(maps)
        self._frame_interval = float(frame_interval)
        self._background = bool(background)
        self._commands: queue.Queue = queue.Queue()
        self._pending_steps = 0
        self._history = _History()
        self._throttle = FrameThrottle(self._interval(), clock)
        self._rate = RateMeter(clock)
        self._last_result = None
        self._validation = BackgroundValidation(self._trainer, self.evaluated.emit,
                                                self.failed.emit)

    # -- starting and stopping (GUI thread) ----------------------------------------
    def start(self) -> QThread:
        """Start the validation service and the training loop, each in a registered
        thread (``gui.workers.threads``). Call from the GUI thread."""
        self._validation.start_service()
        return start_worker(self, "Training")

    def request_stop(self) -> None:
        """End the loop after the current step, and an evaluation between two batches
        (any thread; returns at once)."""
        super().request_stop()
        self._validation.request_stop()
        self._commands.put(_wake)  # a paused loop waits on the queue

    # -- commands (any thread) -------------------------------------------------------
    def _post(self, command, *args) -> None:
        self._commands.put(partial(command, *args))

    def pause(self) -> None:
        self._post(self._pause)

    def resume(self) -> None:
        self._post(self._resume)

    def step_once(self) -> None:
        """Train exactly one batch (also while paused)."""
        self._post(self._step_once)

    def set_lr(self, lr: float) -> None:
        """The peak learning rate (the schedule's start), applied from the next step."""
        self._post(self._run.set_peak_lr, float(lr))

    def set_epochs(self, epochs: int) -> None:
        """Plan ``epochs`` epochs in all (a cosine schedule stretches over them)."""
        self._post(self._run.set_epochs, int(epochs))

    def set_schedule(self, schedule: str) -> None:
        """"constant" or "cosine" (from the peak rate to 0 over the planned epochs)."""
        self._post(self._run.set_schedule, str(schedule))

    def set_probe(self, probe, label=None, probe_id: int = 0) -> None:
        """Show ``probe`` (C, H, W) from now on; the next frame answers ``probe_id``."""
        image = np.array(probe, dtype=np.float32, copy=True)
        self._post(self._set_probe, image, label, int(probe_id))

    def set_maps(self, maps: bool) -> None:
        """Whether snapshots carry the probe's maps and probabilities (a forward and a
        backward pass per frame) or only kernels and gradient norms; turning them on
        sends a frame at once (also while paused)."""
        self._post(self._set_maps, bool(maps))

    def set_background(self, background: bool) -> None:
        """Background mode (another lab is shown): a frame every half second, without
        the probe's maps; leaving it sends a frame at once."""
        self._post(self._set_background, bool(background))

    def save_model(self, path: str) -> None:
        self._post(self._save, str(path))

    def frame_consumed(self) -> None:
        """The GUI has drawn the last frame; the next one may be sent."""
        self._post(self._throttle.consumed)

    def send_state(self, request_id: int) -> None:
        """Emit ``state_ready`` with copies of every weight after the current step (for
        another lab that looks into the network; it decides how often to ask)."""
        self._post(self._send_state, int(request_id))

    # -- what the commands do (worker thread) ------------------------------------------
    def _pause(self) -> None:
        self._running = False
        self._throttle.request()

    def _resume(self) -> None:
        if self._trainer.status != "diverged":
            self._running = True
            self._rate.restart()

    def _step_once(self) -> None:
        self._pending_steps += 1
        self._throttle.request()

    def _set_probe(self, image, label, probe_id: int) -> None:
        self._probe, self._probe_label, self._probe_id = image, label, probe_id
        self._throttle.request()

    def _set_maps(self, maps: bool) -> None:
        if maps and not self._maps:
            self._throttle.request()
        self._maps = maps

    def _set_background(self, background: bool) -> None:
        if self._background and not background:
            self._throttle.request()
        self._background = background
        self._throttle.interval = self._interval()

    def _interval(self) -> float:
        return BACKGROUND_FRAME_INTERVAL if self._background else self._frame_interval

    # -- the loop (worker thread) ------------------------------------------------------
    def run(self) -> None:
        try:
            self._loop()
        except EvaluationStopped:
            pass  # stopped while evaluating the untrained network
        except Exception as err:  # noqa: BLE001 - reported to the learner, not swallowed
            self._running = False
            self.failed.emit(tr("Training stopped by an error: {error}").format(
                error=f"{type(err).__name__}: {err}"))
        finally:
            self._validation.stop()  # its thread ends too (within a batch)

    def _loop(self) -> None:
        trainer = self._trainer
        # on the first start the kernels may still be compiling (in the warm-up's child
        # process): wait here rather than compile them a second time in this thread
        if not wait_for_kernels(lambda: self.stop_requested):
            return
        if trainer.iteration == 0:
            self._evaluate()  # epoch 0: the untrained network, for the curves
        self._throttle.request()
        while not self.stop_requested:
            busy = self._running or self._pending_steps > 0
            self._drain_commands(block=not busy and not self._frame_ready())
            if self.stop_requested:
                break
            if self._running or self._pending_steps > 0:
                if not self._running:  # a Step while paused: show its result
                    self._throttle.request()
                self._pending_steps = max(0, self._pending_steps - 1)
                self._train_one()
            if self._frame_ready():
                self._send_frame()

    def _frame_ready(self) -> bool:
        return self._throttle.ready(self._running)

    def _drain_commands(self, block: bool) -> None:
        try:
            command = self._commands.get(block=block)
        except queue.Empty:
            return
        while True:
            command()
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return

    def _train_one(self) -> None:
        trainer = self._trainer
        if trainer.status == "diverged":
            self._running = False
            self._pending_steps = 0
            return
        step = self._run.step()
        result = self._last_result = step.result
        if result.status == "diverged":  # the Trainer is back on its last good weights
            self._diverge(result, step.lr)
            return
        self._history.add(result)
        self._rate.step(result.iteration)
        if step.epoch_finished:
            self._validation.start(trainer.epoch, trainer.iteration, trainer.network.get_state())
        if step.run_finished and self._running:
            self._running = False
            self._throttle.request()
            self._validation.wait()  # its result reaches the GUI before "finished"
            if not self.stop_requested:
                self.finished_training.emit(
                    tr("Finished {n} epoch(s); raise Epochs and press Resume to go on.")
                    .format(n=trainer.epoch))

    def _diverge(self, result, lr: float) -> None:
        """Stop for good; the Trainer has restored the last weights that gave a sane loss."""
        self._running = False
        self._pending_steps = 0
        self._throttle.request()
        self.diverged.emit(tr(
            "Training diverged at iteration {iteration}: the loss jumped to {loss} (learning "
            "rate {lr} is probably too large). The last good weights are kept; lower the "
            "learning rate and press Reset.").format(
            iteration=result.iteration, loss=f"{result.loss:.3g}", lr=f"{lr:g}"))

    def _evaluate(self) -> None:
        """Evaluate now, in this thread (epoch 0, before any training)."""
        trainer = self._trainer
        result = trainer.evaluate(stop=lambda: self.stop_requested)
        self.evaluated.emit(EpochResult(trainer.epoch, trainer.iteration, result))

    def _snapshot(self):
        if not self._live_views:
            return None
        maps = self._maps and not self._background
        return self._trainer.snapshot(self._probe, self._probe_label, maps=maps)

    def _send_frame(self) -> None:
        iterations, losses, accuracies = self._history.take()
        result = self._last_result
        trainer = self._trainer
        frame = TrainingFrame(
            iterations=iterations, losses=losses, accuracies=accuracies,
            iteration=trainer.iteration, epoch=trainer.epoch,
            epoch_progress=float(result.epoch_progress) if result is not None else 0.0,
            steps_per_second=self._rate.rate, snapshot=self._snapshot(),
            probe_id=self._probe_id, running=self._running, lr=trainer.lr)
        self._throttle.sent()
        self.frame.emit(frame)

    def _send_state(self, request_id: int) -> None:
        trainer = self._trainer
        self.state_ready.emit(request_id, trainer.iteration, trainer.network.get_state())

    def _save(self, path: str) -> None:
        try:
            self._trainer.network.save(path)
        except (OSError, ValueError) as err:
            self.saved.emit(path, str(err))
        else:
            self.saved.emit(path, "")


def _wake() -> None:
    """A command that does nothing: it only wakes a loop waiting on its queue."""


class _ValidationService(Worker):
    """The validation thread's worker: evaluates one state of the weights per request."""

    requested = pyqtSignal(object)  # a _ValidationJob (its state: a copy of the weights)

    def __init__(self, owner: BackgroundValidation):
        super().__init__()
        self._owner = owner
        self.requested.connect(self._validate)  # queued: runs in the service's thread

    @pyqtSlot(object)
    def _validate(self, job) -> None:
        self._owner.validate(job)


class _ValidationJob:
    """One request: the weights of an epoch's end, and whether its result went out."""

    def __init__(self, epoch: int, iteration: int, state: dict):
        self.epoch, self.iteration, self.state = epoch, iteration, state
        self.delivered = False  # its EpochResult was emitted (or its failure reported)
        self.taken_over = False  # a waiter evaluates it itself: the service drops it


class BackgroundValidation:
    """Validation of the weights an epoch ended with, in a background thread.

    The service thread evaluates a copy of the weights (training goes on changing the
    originals) with one Numba thread, on Linux under the SCHED_IDLE policy: it runs
    only on a core nothing else wants. On two cores the training threads leave
    about a third of the second core idle (while the first runs the Python between
    kernels), so validation costs training about 0.5 % of its speed there, against
    3-4 % in the training thread and 2 % at nice 19 (benchmarks/bench_gui.py).

    Nobody ever waits for that thread: on a machine that other programs keep busy it
    may get no time at all, and a normal user cannot lift a thread out of SCHED_IDLE
    again (the kernel refuses it without CAP_SYS_NICE or a raised RLIMIT_NICE). So
    whoever needs a result that has not arrived (the next epoch's validation, the end
    of training) takes the request over: it evaluates the same weights itself, on
    its own copy of the network, and the service drops the request at its next
    batch. Each request's result is emitted exactly once, by whoever finishes first,
    and in order: one validation at a time.

    Parameters
    ----------
    trainer : engine.training.Trainer
        Its validation set and network spec are read; its weights never are.
    emit, fail : callables taking an EpochResult / a message, called from the
        validation thread or a waiter's (the training worker's signals' ``emit``)
    """

    def __init__(self, trainer, emit, fail):
        self._trainer = trainer
        self._emit, self._fail = emit, fail
        self._service = _ValidationService(self)
        self._networks = {}  # per thread that evaluates: a Network with the same layers
        self._lock = threading.Lock()  # guards the jobs' flags and the emission
        self._job: _ValidationJob | None = None  # the latest request
        self._idle_set = False  # the service thread is under SCHED_IDLE (for good)

    def start_service(self) -> None:
        """Start the service's thread (GUI thread: its QThread must live in one with an
        event loop)."""
        start_worker(self._service, "Validation", service=True)

    def start(self, epoch: int, iteration: int, state: dict) -> None:
        """Validate ``state`` (a copy of the weights after ``epoch``) in the background."""
        self.wait()
        if self._trainer.val_x is None or self._service.stop_requested:
            return  # nothing to validate on, or stopping
        job = _ValidationJob(epoch, iteration, state)
        with self._lock:
            self._job = job
        self._service.requested.emit(job)

    def wait(self) -> None:
        """Return once the latest request's result has been emitted (or stopping was
        asked): if the service has not delivered it yet, evaluate it in this thread."""
        with self._lock:
            job = self._job
            if job is None or job.delivered:
                return
            job.taken_over = True
        self._evaluate(job)

    def request_stop(self) -> None:
        """Interrupt the validation between two batches (any thread; returns at once)."""
        self._service.request_stop()

    def stop(self) -> None:
        """Stop the service and wait for its thread (the training thread, as it ends)."""
        stop_worker(self._service)

    def validate(self, job: _ValidationJob) -> None:
        """The service thread's work for one request."""
        import numba

        if not self._idle_set:
            self._idle_set = True
            _set_idle(threading.get_native_id())
            numba.set_num_threads(1)  # per thread: training keeps all of them
        self._evaluate(job, dropped=lambda: job.taken_over)

    def _evaluate(self, job: _ValidationJob, dropped=lambda: False) -> None:
        """Evaluate ``job`` in this thread and emit its result unless another thread
        did first; between batches, stop if asked to or if ``dropped()``."""
        from engine.training import evaluate_network

        def stop() -> bool:
            return self._service.stop_requested or dropped()

        if stop():
            return
        try:
            network = self._network()
            network.set_state(job.state)
            result = evaluate_network(network, self._trainer.val_x, self._trainer.val_y,
                                      stop=stop)
        except EvaluationStopped:
            return
        except Exception as err:  # noqa: BLE001 - reported to the learner, not swallowed
            message = tr("Validation failed: {error}").format(
                error=f"{type(err).__name__}: {err}")
            self._deliver(job, lambda: self._fail(message))
            return
        self._deliver(job, lambda: self._emit(EpochResult(job.epoch, job.iteration, result)))

    def _deliver(self, job: _ValidationJob, send) -> None:
        # under the lock, so a waiter that returns finds the result already emitted
        # (the training thread emits "finished" after it: the order the GUI sees)
        with self._lock:
            if not job.delivered:
                job.delivered = True
                send()

    def _network(self):
        """This thread's Network (the layers of the trainer's, its own weights and
        scratch: two threads never share one)."""
        from engine.network import Network

        tid = threading.get_ident()
        if tid not in self._networks:
            net = self._trainer.network
            self._networks[tid] = Network(net.spec, input_shape=net.input_shape)
        return self._networks[tid]


def _set_idle(tid: int) -> None:
    """Put thread ``tid`` under SCHED_IDLE for the rest of its life. Linux only:
    elsewhere, or where it is refused, the thread keeps its priority."""
    if not hasattr(os, "SCHED_IDLE"):
        return
    try:
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        pass  # not allowed here: validation then runs at normal priority
