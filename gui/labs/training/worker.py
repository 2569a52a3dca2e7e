"""The training loop, run in a QThread so the window stays responsive.

Ownership: while a :class:`TrainingWorker` runs, it alone calls the Trainer
(steps, snapshots, evaluation, saving). The GUI talks to it only through the
thread-safe command methods below (they put a command on a queue) and listens
to its signals, which carry copies (the engine's Snapshot and EvalResult are
copies by contract; the step history is copied into new arrays here).

Frames are time-throttled (at most one per ``frame_interval`` seconds, 25 per
second by default) and flow-controlled: a new frame is sent only after the GUI
called :meth:`TrainingWorker.frame_consumed` for the previous one, so a slow
redraw never piles up queued signals; steps taken in between are not lost, they
travel in the next frame's history arrays.

Validation after each epoch runs on a copy of the weights in a background thread
at the lowest CPU priority (:class:`_BackgroundValidation`), so it uses the time
the training threads leave idle instead of stopping training for it.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from PyQt6.QtCore import QThread, pyqtSignal

__all__ = ["TrainingWorker", "TrainingFrame", "EpochResult"]


@dataclass
class TrainingFrame:
    """What the live views need, sent at most ~25 times a second.

    Attributes
    ----------
    iterations, losses, accuracies : (k,) arrays
        Every step trained since the previous frame (k may be 0).
    iteration, epoch : int
        Counters after the last step.
    epoch_progress : float
        0..1 through the current epoch.
    steps_per_second : float
        Recent training speed (0 when unknown).
    snapshot : engine Snapshot or None
        The probe's kernels, activations, deltas, probabilities and the gradient
        norms of the last step; None when live views are off.
    probe_id : int
        Which probe request the snapshot answers (see :meth:`TrainingWorker.set_probe`).
    running : bool
        False once the worker is paused, finished or diverged.
    lr : float
    """

    iterations: np.ndarray
    losses: np.ndarray
    accuracies: np.ndarray
    iteration: int
    epoch: int
    epoch_progress: float
    steps_per_second: float
    snapshot: object | None
    probe_id: int
    running: bool
    lr: float


@dataclass
class EpochResult:
    """Validation after an epoch (epoch 0: before any training)."""

    epoch: int
    iteration: int
    result: object  # engine EvalResult(loss, accuracy, predictions, confusion)


@dataclass
class _History:
    iterations: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    accuracies: list = field(default_factory=list)

    def take(self):
        arrays = (np.asarray(self.iterations, dtype=np.int64),
                  np.asarray(self.losses, dtype=np.float64),
                  np.asarray(self.accuracies, dtype=np.float64))
        self.iterations.clear()
        self.losses.clear()
        self.accuracies.clear()
        return arrays


class TrainingWorker(QThread):
    """Calls ``trainer.step()`` in a loop and reports what happened.

    Parameters
    ----------
    trainer : engine.training.Trainer
        Owned by the worker until :meth:`run` returns.
    probe : (C, H, W) float32 array
        The image whose feature and delta maps the snapshots show.
    probe_label : int or None
    target_epochs : int
        The worker pauses (and emits ``finished_training``) when the trainer's
        epoch counter reaches it.
    running : bool
        Start training at once (True) or wait for commands (False, e.g. Step).
    frame_interval : float
        Minimum seconds between two frames.
    live_views : bool
        False: frames carry no snapshot (the benchmark's "no views" case).
    schedule : "constant" or "cosine"
        cosine: the learning rate follows ``engine.recipe.cosine_lr`` from the
        peak (the rate set by the learner) to 0 over ``total_iterations``.
    total_iterations : int or None
        Length of the cosine schedule (None: target_epochs epochs).
    maps : bool
        Snapshots with the probe's maps (see :meth:`set_maps`).
    compute_threads : int or None
        Numba threads for this worker's kernels. None: all of them, live views or
        not. On a quiet 2-core machine one thread trains at 62-67 % of the speed
        of two, while the live views cost the GUI thread only 9-11 % of a core
        (benchmarks/bench_gui.py), so leaving the GUI a core of its own loses far
        more than the preemptions of a shared core do. (Lowering the count to one
        only while the GUI draws a frame gained 0-3 %, within the noise.)
    """

    frame = pyqtSignal(object)           # TrainingFrame
    evaluated = pyqtSignal(object)       # EpochResult
    diverged = pyqtSignal(str)           # message for the learner
    finished_training = pyqtSignal(str)  # the target number of epochs is reached
    saved = pyqtSignal(str, str)         # path, error message ("" when it worked)
    failed = pyqtSignal(str)             # an unexpected error, in words

    def __init__(self, trainer, probe, probe_label=None, target_epochs: int = 1,
                 running: bool = True, frame_interval: float = 0.04,
                 live_views: bool = True, schedule: str = "constant",
                 total_iterations: int | None = None, compute_threads: int | None = None,
                 maps: bool = True, parent=None):
        super().__init__(parent)
        self._trainer = trainer
        self._probe = np.ascontiguousarray(probe, dtype=np.float32)
        self._probe_label = probe_label
        self._probe_id = 0
        self._target_epochs = int(target_epochs)
        self._running = bool(running)
        self._frame_interval = float(frame_interval)
        self._live_views = bool(live_views)
        self._maps = bool(maps)
        self._compute_threads = compute_threads
        self._peak_lr = float(trainer.optimizer.lr)
        self._schedule = schedule
        self._total_iterations = (int(total_iterations) if total_iterations is not None
                                  else self._target_epochs * trainer.iterations_per_epoch)
        self._commands: queue.Queue = queue.Queue()
        self._stop = False
        self._pending_steps = 0
        self._history = _History()
        self._gui_ready = True      # the GUI consumed the previous frame
        self._frame_due = False     # a frame must go out as soon as the GUI is ready
        self._next_frame = 0.0  # perf_counter time when the next frame is due
        self._rate = 0.0
        self._rate_mark = (time.perf_counter(), 0)
        self._last_result = None
        self._validation = _BackgroundValidation(trainer, self.evaluated.emit, self.failed.emit)

    # -- commands (any thread) ---------------------------------------------------
    def pause(self) -> None:
        self._commands.put(("pause", None))

    def resume(self) -> None:
        self._commands.put(("resume", None))

    def step_once(self) -> None:
        """Train exactly one batch (also while paused)."""
        self._commands.put(("step", None))

    def set_lr(self, lr: float) -> None:
        self._commands.put(("lr", float(lr)))

    def set_target_epochs(self, epochs: int) -> None:
        self._commands.put(("epochs", int(epochs)))

    def set_schedule(self, schedule: str, total_iterations: int) -> None:
        """"constant" or "cosine" (from the current peak rate to 0 over total_iterations)."""
        self._commands.put(("schedule", (str(schedule), int(total_iterations))))

    def set_probe(self, probe, label=None, probe_id: int = 0) -> None:
        """Show ``probe`` (C, H, W) from now on; the next frame answers ``probe_id``."""
        image = np.array(probe, dtype=np.float32, copy=True)
        self._commands.put(("probe", (image, label, int(probe_id))))

    def set_maps(self, maps: bool) -> None:
        """Whether snapshots carry the probe's maps and probabilities (a forward and a
        backward pass per frame) or only kernels and gradient norms; turning them on
        sends a frame at once (also while paused)."""
        self._commands.put(("maps", bool(maps)))

    def save_model(self, path: str) -> None:
        self._commands.put(("save", str(path)))

    def frame_consumed(self) -> None:
        """The GUI has drawn the last frame; the next one may be sent."""
        self._commands.put(("ack", None))

    def request_stop(self) -> None:
        """Ask the loop to end after the current step (returns at once)."""
        self._stop = True  # seen between steps even if the queue is busy
        self._commands.put(("stop", None))

    def stop_and_wait(self, timeout_ms: int = 5000) -> bool:
        """Stop and block until the thread has ended. True if it did."""
        self.request_stop()
        return self.wait(timeout_ms)

    # -- the loop (worker thread) ------------------------------------------------
    def run(self) -> None:
        try:
            _set_thread_count(self._compute_threads, self._live_views)
            self._loop()
        except Exception as err:  # noqa: BLE001 - reported to the learner, not swallowed
            self._running = False
            self.failed.emit(f"training stopped by an error: {type(err).__name__}: {err}")
        finally:
            self._validation.wait()  # the thread ends with its last evaluation delivered

    def _loop(self) -> None:
        trainer = self._trainer
        if trainer.iteration == 0:
            self._evaluate()  # epoch 0: the untrained network, for the curves
        self._frame_due = True
        while not self._stop:
            busy = self._running or self._pending_steps > 0
            self._drain_commands(block=not busy and not self._frame_ready())
            if self._stop:
                break
            if self._running or self._pending_steps > 0:
                if not self._running:  # a Step while paused: show its result
                    self._frame_due = True
                self._pending_steps = max(0, self._pending_steps - 1)
                self._train_one()
            if self._frame_ready():
                self._send_frame()

    def _frame_ready(self) -> bool:
        if not self._gui_ready:
            return False
        if self._frame_due:
            return True
        return (self._running
                and time.perf_counter() >= self._next_frame)

    def _drain_commands(self, block: bool) -> None:
        try:
            command = self._commands.get(block=block)
        except queue.Empty:
            return
        while True:
            self._apply(*command)
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return

    def _apply(self, name: str, value) -> None:
        if name == "stop":
            self._stop = True
        elif name == "pause":
            self._running = False
            self._frame_due = True
        elif name == "resume":
            if self._last_result is None or self._last_result.status != "diverged":
                self._running = True
                self._rate_mark = (time.perf_counter(), self._trainer.iteration)
        elif name == "step":
            self._pending_steps += 1
            self._frame_due = True
        elif name == "lr":
            self._peak_lr = value
            self._trainer.optimizer.lr = self._scheduled_lr()
        elif name == "schedule":
            self._schedule, self._total_iterations = value
            self._trainer.optimizer.lr = self._scheduled_lr()
        elif name == "epochs":
            self._target_epochs = value
        elif name == "probe":
            self._probe, self._probe_label, self._probe_id = value
            self._frame_due = True
        elif name == "maps":
            self._frame_due = self._frame_due or (value and not self._maps)
            self._maps = value
        elif name == "save":
            self._save(value)
        elif name == "ack":
            self._gui_ready = True

    def _train_one(self) -> None:
        trainer = self._trainer
        if trainer.status == "diverged":
            self._running = False
            self._pending_steps = 0
            return
        epoch_before = trainer.epoch
        trainer.optimizer.lr = self._scheduled_lr()
        result = trainer.step()
        self._last_result = result
        if result.status == "diverged":  # the Trainer is back on its last good weights
            self._diverge(result)
            return
        self._history.iterations.append(result.iteration)
        self._history.losses.append(result.loss)
        self._history.accuracies.append(result.accuracy)
        self._update_rate()
        if trainer.epoch > epoch_before:
            self._validation.start(trainer.epoch, trainer.iteration, trainer.network.get_state())
            if trainer.epoch >= self._target_epochs and self._running:
                self._running = False
                self._frame_due = True
                self._validation.wait()  # its result reaches the GUI before "finished"
                self.finished_training.emit(
                    f"Finished {trainer.epoch} epoch(s); raise Epochs and press Resume to go on.")

    def _scheduled_lr(self) -> float:
        if self._schedule != "cosine":
            return self._peak_lr
        from engine.recipe import cosine_lr
        return cosine_lr(self._trainer.iteration, self._total_iterations, self._peak_lr)

    def _diverge(self, result) -> None:
        """Stop for good; the Trainer has restored the last weights that gave a sane loss."""
        trainer = self._trainer
        self._running = False
        self._pending_steps = 0
        self._frame_due = True
        self.diverged.emit(
            f"Training diverged at iteration {result.iteration}: the loss jumped to "
            f"{result.loss:.3g} (learning rate {trainer.optimizer.lr:g} is probably too "
            "large). The last good weights are kept; lower the learning rate and press Reset.")

    def _update_rate(self) -> None:
        now = time.perf_counter()
        t0, it0 = self._rate_mark
        if now - t0 >= 0.5:
            rate = (self._trainer.iteration - it0) / (now - t0)
            self._rate = rate if self._rate == 0 else 0.5 * self._rate + 0.5 * rate
            self._rate_mark = (now, self._trainer.iteration)

    def _evaluate(self) -> None:
        """Evaluate now, in this thread (epoch 0, before any training)."""
        trainer = self._trainer
        self.evaluated.emit(EpochResult(trainer.epoch, trainer.iteration, trainer.evaluate()))

    def _snapshot(self):
        if not self._live_views:
            return None
        return self._trainer.snapshot(self._probe, self._probe_label, maps=self._maps)

    def _send_frame(self) -> None:
        iterations, losses, accuracies = self._history.take()
        result = self._last_result
        trainer = self._trainer
        frame = TrainingFrame(
            iterations=iterations, losses=losses, accuracies=accuracies,
            iteration=trainer.iteration, epoch=trainer.epoch,
            epoch_progress=float(result.epoch_progress) if result is not None else 0.0,
            steps_per_second=self._rate, snapshot=self._snapshot(),
            probe_id=self._probe_id, running=self._running, lr=trainer.optimizer.lr)
        self._gui_ready = False
        self._frame_due = False
        # due times advance by the interval (not from "now"), so steps that overshoot
        # a due time do not lower the average frame rate; never more than one behind
        now = time.perf_counter()
        self._next_frame = max(self._next_frame + self._frame_interval,
                               now - self._frame_interval / 2)
        self.frame.emit(frame)

    def _save(self, path: str) -> None:
        try:
            self._trainer.network.save(path)
        except (OSError, ValueError) as err:
            self.saved.emit(path, str(err))
        else:
            self.saved.emit(path, "")


def _set_thread_count(requested: int | None, live_views: bool) -> None:
    """Numba's thread count for the calling thread only (it is thread-local)."""
    import numba

    available = numba.config.NUMBA_NUM_THREADS
    if requested is None:
        requested = available
    numba.set_num_threads(int(min(max(requested, 1), available)))


class _BackgroundValidation:
    """Validation of the weights an epoch ended with, in a background thread.

    The thread evaluates a copy of the weights (training goes on changing the
    originals) with one Numba thread, on Linux under the SCHED_IDLE policy: it runs
    only on a core nothing else wants. On two cores the training threads leave
    about a third of the second core idle (while the first runs the Python between
    kernels), so validation costs training about 0.5 % of its speed there, against
    3-4 % in the training thread and 2 % at nice 19 (benchmarks/bench_gui.py).
    Whoever has to wait for a validation (the next epoch's, the end of training,
    stopping) first lifts it back to normal priority, so it cannot starve on a
    machine that other programs keep busy. One validation at a time.
    """

    def __init__(self, trainer, emit, fail):
        self._trainer = trainer
        self._emit, self._fail = emit, fail
        self._network = None  # a second Network with the same layers, made on first use
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._tid: int | None = None  # the running validation's native thread id
        self._urgent = False  # somebody waits: run at normal priority

    def start(self, epoch: int, iteration: int, state: dict) -> None:
        """Validate ``state`` (a copy of the weights after ``epoch``) in the background."""
        self.wait()
        if self._trainer.val_x is None:
            return  # nothing to validate on
        self._tid, self._urgent = None, False
        self._thread = threading.Thread(target=self._run, args=(epoch, iteration, state),
                                        name="Validation", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Block until the running validation (if any) has delivered its result."""
        if self._thread is None:
            return
        self.hurry()
        self._thread.join()
        self._thread = None

    def hurry(self) -> None:
        """Run the current validation (if any) at normal priority from now on."""
        with self._lock:
            self._urgent = True
            if self._tid is not None:
                _set_idle(self._tid, False)

    def _run(self, epoch: int, iteration: int, state: dict) -> None:
        from engine.network import Network
        from engine.training import evaluate_network

        with self._lock:
            self._tid = threading.get_native_id()
            if not self._urgent:
                _set_idle(self._tid, True)
        _set_thread_count(1, False)
        trainer = self._trainer
        try:
            if self._network is None:
                net = trainer.network
                self._network = Network(net.spec, input_shape=net.input_shape)
            self._network.set_state(state)
            result = evaluate_network(self._network, trainer.val_x, trainer.val_y)
        except Exception as err:  # noqa: BLE001 - reported to the learner, not swallowed
            self._fail(f"validation failed: {type(err).__name__}: {err}")
            return
        self._emit(EpochResult(epoch, iteration, result))


def _set_idle(tid: int, idle: bool) -> None:
    """Put thread ``tid`` under SCHED_IDLE (or back to the normal policy). Linux only:
    elsewhere, or where it is refused, the thread keeps its priority."""
    if not hasattr(os, "SCHED_IDLE"):
        return
    policy = os.SCHED_IDLE if idle else os.SCHED_OTHER
    try:
        os.sched_setscheduler(tid, policy, os.sched_param(0))
    except OSError:
        pass  # not allowed here: validation then runs at normal priority
