"""The Training lab's decisions, without Qt: the state machine, the worker's lifecycle,
the probe, the texts of the progress panel, and the frame throttle.

:class:`TrainingSession` is what the Training lab *does*; the widget
(:class:`gui.labs.training.lab.TrainingLab`) lays it out and draws. The session asks
the widget to show things through the small :class:`View` protocol, and talks to
the background training loop through :class:`WorkerHandle` (made by a factory the
widget passes in), so it is tested headless with ``MagicMock(spec=View)`` and a fake
worker (tests/gui/labs/training/test_session.py).

States (:class:`State`) and their transitions, each a method of the session::

    INVALID --rebuild--> IDLE --start--> RUNNING --pause--> PAUSED --resume--> RUNNING
    IDLE/PAUSED --step--> PAUSED        RUNNING --(planned epochs done)--> FINISHED
    RUNNING --(loss blew up)--> DIVERGED   FINISHED --(Epochs raised)--> PAUSED
    any --rebuild/reset/load--> IDLE, INVALID or (a loaded model) PAUSED

Which buttons a state enables is a property of the state (``State.can_start`` ...),
so the buttons and the commands can never disagree.

Worker events carry the token of the worker that sent them; events of a worker the
session has let go (reset, reload, shutdown) are ignored, because signals it queued
before it was told to stop may still arrive.

:class:`FrameThrottle` and :class:`RateMeter` run in the worker's thread; they take
an injectable clock so their timing is tested without sleeping.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import numpy as np

from engine.i18n import tr, tr_noop
from engine.training_loop import TrainingConfig, TrainingRun
from gui.labs.training.blocks import MAX_LAYERS, check_spec_size, spec_to_blocks
from gui.labs.training.sharing import SharedModel, SharedWeights

__all__ = ["State", "Progress", "Probe", "TrainingFrame", "EpochResult", "View",
           "WorkerHandle", "WorkerFactory", "TrainingSession", "FrameThrottle", "TextThrottle",
           "RateMeter",
           "format_duration", "INPUT_SHAPE", "BACKGROUND_FRAME_INTERVAL"]

INPUT_SHAPE = (1, 28, 28)
#: Seconds between two frames while another lab is shown: only the history, the
#: progress and the status-bar indicator use them.
BACKGROUND_FRAME_INTERVAL = 0.5
Clock = Callable[[], float]


class State(Enum):
    """Where the lab is. The ``can_*`` properties say which commands apply."""

    INVALID = "invalid"    # the network cannot be built: nothing to train
    IDLE = "idle"          # a fresh network, nothing trained yet
    RUNNING = "running"
    PAUSED = "paused"      # trained some steps (or a loaded model); Resume goes on
    FINISHED = "finished"  # the planned epochs are done: raise Epochs to go on
    DIVERGED = "diverged"  # the loss blew up; the last good weights are kept

    @property
    def can_start(self) -> bool:
        return self is State.IDLE

    @property
    def can_pause(self) -> bool:
        return self is State.RUNNING

    @property
    def can_resume(self) -> bool:
        return self is State.PAUSED

    @property
    def can_step(self) -> bool:
        return self in (State.IDLE, State.PAUSED)

    @property
    def can_reset(self) -> bool:
        return self is not State.INVALID

    @property
    def editable(self) -> bool:
        """The network (and the optimizer, batch size, seed, augmentation) may change."""
        return self in (State.IDLE, State.INVALID)


@dataclass(frozen=True)
class Progress:
    """What the progress panel shows: the bar (filled ``fraction`` of the whole run,
    ``bar`` written on it) and the line under it."""

    fraction: float
    bar: str
    info: str


@dataclass(frozen=True)
class Probe:
    """The image whose maps and prediction the views show.

    image : (C, H, W) float32; label : its true class (None for a drawing);
    index : its place in the validation set (None for a drawing).
    """

    image: np.ndarray = field(repr=False)
    label: int | None
    index: int | None

    @property
    def drawn(self) -> bool:
        return self.index is None


@dataclass
class TrainingFrame:
    """What the live views need, sent at most ~20 times a second by the worker.

    Attributes
    ----------
    iterations, losses, accuracies : (k,) arrays
        Every step trained since the previous frame (k may be 0).
    iteration, epoch : int
        Counters after the last step.
    epoch_progress : float
        0..1 through the current epoch.
    steps_per_second : float
        Recent training speed (0 while unknown).
    snapshot : engine Snapshot or None
        The probe's kernels, activations, deltas, probabilities and the gradient
        norms of the last step (without maps when no tab shows them); None when live
        views are off.
    probe_id : int
        Which probe request the snapshot answers.
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


class View(Protocol):
    """What the session asks the Training lab's widget to do."""

    def show_state(self, state: State) -> None:
        """Enable the buttons the state allows; lock the builder unless editable."""

    def show_status(self, text: str) -> None:
        """A sentence for the window's status bar."""

    def show_background(self, text: str) -> None:
        """The status-bar indicator while another lab is shown ("" hides it)."""

    def show_progress(self, progress: Progress) -> None:
        """The progress bar and the line under it."""

    def show_message(self, text: str) -> None:
        """Why training stopped, in place ("" hides it)."""

    def show_network(self, network, planned_iterations: int) -> None:
        """New per-layer views for ``network`` (an engine Network), all data cleared."""

    def plan_iterations(self, total: int) -> None:
        """The curves' x axes span ``total`` iterations."""

    def show_spec(self, spec: list) -> None:
        """Show ``spec`` in the builder (it fits: the session checked)."""

    def show_probe(self, probe: Probe) -> None:
        """The probe image and its caption (and the drawing, when it is one)."""

    def show_dataset(self, dataset) -> None:
        """A new data set (an engine DataSet): the input shape in the builder, the class
        names in the views, the drawing only for 28x28 grey digits."""

    def clear_drawing(self) -> None:
        """The canvas is blank: no prediction, no maps of a drawing."""

    def draw_frame(self, frame: TrainingFrame) -> None:
        """Draw a frame into the visible views (may raise: the session reports it)."""

    def store_frame(self, frame: TrainingFrame) -> None:
        """Keep a frame's history while the lab is hidden (nothing is drawn)."""

    def show_evaluation(self, result: EpochResult) -> None:
        """An epoch's validation: a dot on the curves, the confusion matrix."""

    def show_saved(self, path: str, error: str) -> None:
        """A save finished ("" error: it worked)."""

    def share_weights(self, weights: SharedWeights) -> None:
        """A copy of the weights another lab asked for (``request_weights``)."""


class WorkerHandle(Protocol):
    """The commands the background training loop takes (thread-safe, return at once)."""

    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def step_once(self) -> None: ...
    def set_lr(self, lr: float) -> None: ...
    def set_epochs(self, epochs: int) -> None: ...
    def set_schedule(self, schedule: str) -> None: ...
    def set_probe(self, image, label, probe_id: int) -> None: ...
    def set_maps(self, maps: bool) -> None: ...
    def set_background(self, background: bool) -> None: ...
    def save_model(self, path: str) -> None: ...
    def frame_consumed(self) -> None: ...
    def send_state(self, request_id: int) -> None: ...
    def request_stop(self) -> None: ...


#: factory(token, run, probe, running, maps, background) -> a started WorkerHandle whose
#: events reach ``TrainingSession.on_*`` with that token
WorkerFactory = Callable[[int, TrainingRun, Probe, bool, bool, bool], WorkerHandle]


# -- throttling (worker thread) --------------------------------------------------------
class FrameThrottle:
    """When the worker may send its next frame.

    Time-throttled (at most one frame per ``interval`` seconds while training runs)
    and flow-controlled (a new frame only after the GUI called :meth:`consumed` for
    the previous one, so a slow redraw never piles up queued frames). A frame that
    must go out now (a pause, a step, a new probe) is :meth:`request`-ed and leaves
    as soon as the GUI is ready.
    """

    def __init__(self, interval: float, clock: Clock = time.perf_counter):
        self.interval = float(interval)
        self._clock = clock
        self._gui_ready = True   # the GUI consumed the previous frame
        self._due = True         # a frame must go out as soon as the GUI is ready
        self._next: float | None = None  # clock time when the next timed frame is due

    def request(self) -> None:
        self._due = True

    def consumed(self) -> None:
        self._gui_ready = True

    def ready(self, running: bool) -> bool:
        if not self._gui_ready:
            return False
        return self._due or (running and (self._next is None or self._clock() >= self._next))

    def sent(self) -> None:
        self._gui_ready = False
        self._due = False
        # due times advance by the interval (not from "now"), so steps that overshoot
        # a due time do not lower the average frame rate; never more than one behind
        now = self._clock()
        base = now if self._next is None else self._next
        self._next = max(base + self.interval, now - self.interval / 2)


class TextThrottle:
    """Whether a view rewrites the texts of its live numbers on this frame (GUI thread).

    Text layout is slow and 21 changes a second cannot be read: while training runs
    the texts follow on the first live frame and on every ``every``-th after it; a
    frame that is not live (a pause, the end, a new probe) shows them at once, so
    nothing lags behind a stopped training.
    """

    def __init__(self, every: int):
        if every < 1:
            raise ValueError(f"every must be at least 1, not {every}")
        self.every = every
        self._live = 0  # live frames in a row

    def due(self, live: bool) -> bool:
        """A frame is drawn (``live``: training runs and more frames follow)."""
        self._live = self._live + 1 if live else 0
        return not live or (self._live - 1) % self.every == 0


class RateMeter:
    """Training speed in steps per second, smoothed, 0 while unknown.

    After a (re)start the first step is not measured: it may include a first-run
    compilation, which made the first estimate read "0 batches/s, about 203 min left".
    A rate is reported once at least ``window`` seconds of steps have been timed.
    """

    def __init__(self, clock: Clock = time.perf_counter, window: float = 0.5):
        self._clock = clock
        self._window = window
        self.rate = 0.0
        self._mark: tuple[float, int] | None = None

    def restart(self) -> None:
        """Training (re)starts: the next step only sets the mark."""
        self._mark = None

    def step(self, iteration: int) -> None:
        """Step ``iteration`` has just finished."""
        now = self._clock()
        if self._mark is None:
            self._mark = (now, iteration)
            return
        t0, it0 = self._mark
        if now - t0 >= self._window and iteration > it0:
            rate = (iteration - it0) / (now - t0)
            self.rate = rate if self.rate == 0 else 0.5 * self.rate + 0.5 * rate
            self._mark = (now, iteration)


def format_duration(seconds: float) -> str:
    if seconds != seconds or seconds < 0:  # NaN or negative
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return tr("{s} s").format(s=seconds)
    minutes, seconds = divmod(seconds, 60)
    return tr("{m} min {s:02d} s").format(m=minutes, s=seconds)


def _rate_text(rate: float) -> str:
    return f"{rate:.0f}" if rate >= 10 else f"{rate:.2g}"


# -- the session -------------------------------------------------------------------------
class TrainingSession:
    """The Training lab's state machine and bookkeeping (no Qt).

    Parameters
    ----------
    view : View
    data : (train_x, train_y, val_x, val_y)
        Images (N, 1, 28, 28) float32 in [0, 1] and int labels.
    make_worker : WorkerFactory
    spec : list of dict
        The network; ``config`` : TrainingConfig, the training choices.
    build : bool
        Build the network (and its paused worker) now.

    Attributes
    ----------
    state, trainer, run (the engine's TrainingRun of the current trainer), config, spec,
    probe, probe_id, last_eval, frames_drawn, frames_received, visible.
    """

    def __init__(self, view: View, data, make_worker: WorkerFactory, spec: list,
                 config: TrainingConfig, build: bool = True, class_names=None):
        self.view = view
        self.data = tuple(data)
        self.dataset = None  # the engine DataSet opened (None: the data given here)
        self.class_names = tuple(class_names) if class_names is not None else \
            tuple(str(k) for k in range(10))
        self._make_worker = make_worker
        self.spec = [dict(layer) for layer in spec]
        self.config = config
        self.state = State.INVALID
        self.trainer = None
        self.run: TrainingRun | None = None
        self.loaded_from: str | None = None  # the model file the network came from
        self.frames_drawn = 0
        self.frames_received = 0
        self.visible = True          # the lab is the one shown
        self.maps_shown = False      # the visible tab shows the probe's maps
        self.last_eval: EpochResult | None = None
        self._val_epochs: set[int] = set()
        self._worker: WorkerHandle | None = None
        self._token = 0              # the current worker's; its events carry it
        self._started_at: int | None = None  # iteration when Start/Resume was pressed
        self._draw_failed = False    # a frame failed to draw: reported once
        self._remade_progress: Callable[[], Progress | None] | None = None  # (retranslate)
        self._background = ""
        self.generation = 0          # a new one whenever the network is replaced
        self.probe_id = 0
        self.probe = self._validation_probe(0)
        self._last_index = 0  # the validation digit a cleared canvas goes back to
        if build:
            self.rebuild()

    # ------------------------------------------------------------------ data
    @property
    def val_x(self) -> np.ndarray:
        return self.data[2]

    @property
    def val_y(self) -> np.ndarray:
        return self.data[3]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(C, H, W) of the data's images: what the network takes."""
        return tuple(int(s) for s in self.data[0].shape[1:])

    @property
    def takes_drawings(self) -> bool:
        """The images are 28x28 grey digits: a drawing can be the probe."""
        return self.input_shape == INPUT_SHAPE

    def use_dataset(self, dataset) -> None:
        """Train on ``dataset`` (an engine DataSet) from now on: a new network for its
        input shape and classes (the blocks stay; the output layer gets one unit per
        class), the probe its first validation image. What was trained is let go."""
        from engine.recipe import with_classes

        self._retire_worker()
        self.dataset = dataset
        self.data = dataset.split()
        self.class_names = tuple(dataset.class_names)
        self.spec = with_classes(self.spec, dataset.num_classes)
        self.probe = self._validation_probe(0)
        self._last_index = 0
        self.view.show_dataset(dataset)
        self.view.show_spec(self.spec)
        self.rebuild()
        self.view.show_probe(self.probe)

    @property
    def has_worker(self) -> bool:
        return self._worker is not None

    @property
    def planned_iterations(self) -> int:
        ipe = self.trainer.iterations_per_epoch if self.trainer is not None else 1
        return self.config.epochs * ipe

    # ------------------------------------------------------------------ state
    def _set_state(self, state: State) -> None:
        self.state = state
        self.view.show_state(state)
        if state is not State.RUNNING:
            self._set_background("")

    def _build(self, spec, config: TrainingConfig):
        """A new Trainer for ``spec``; raises ValueError with the reason."""
        from engine.network import Network

        network = Network(spec, input_shape=self.input_shape, seed=config.seed)
        return self._trainer_for(network, config)

    def _trainer_for(self, network, config: TrainingConfig):
        from engine.training import Trainer

        return Trainer(network, *self.data, **config.trainer_kwargs())

    def rebuild(self, worker: bool = True) -> bool:
        """A new network and Trainer from ``spec`` and ``config`` (discards training).

        ``worker=False`` makes no worker (the screenshot trains in this thread)."""
        self._retire_worker()
        self.loaded_from = None
        try:
            trainer = self._build(self.spec, self.config)
        except ValueError as err:  # NetworkSpecError, GeometryError, labels vs classes
            self.trainer = self.run = None
            self._set_state(State.INVALID)
            self.view.show_status(tr("The network cannot be built: {error}").format(error=err))
            return False
        self._install(trainer, worker)
        self._set_state(State.IDLE)
        self._show_progress(lambda: Progress(0.0, tr("epoch -"), tr("Not trained yet.")))
        return True

    def _install(self, trainer, worker: bool = True) -> None:
        self.generation += 1
        self.trainer = trainer
        self.run = TrainingRun(trainer, self.config)
        self._val_epochs.clear()
        self.last_eval = None
        self._draw_failed = False
        self._started_at = None
        self.view.show_message("")
        self.view.show_network(trainer.network, self.planned_iterations)
        if worker:
            self._request_probe()  # a paused worker: the epoch-0 evaluation and a frame

    def reset(self) -> None:
        if self.rebuild():
            self.view.show_status(tr("Reset: new weights from the seed."))

    def start(self) -> None:
        if not self.state.can_start or self.trainer is None:
            return
        self._started_at = self.trainer.iteration
        self._ensure_worker(running=True).resume()
        self._set_state(State.RUNNING)
        self.view.show_status(tr("Training…"))
        self._show_progress(self._starting_progress)

    def pause(self) -> None:
        """Pause training (also the shell's one-click pause while another lab is shown)."""
        if not self.state.can_pause:
            return
        if self._worker is not None:
            self._worker.pause()
        self._set_state(State.PAUSED)

    def resume(self) -> None:
        if not self.state.can_resume or self.trainer is None:
            return
        if self.trainer.epoch >= self.config.epochs:
            self.view.show_status(
                tr("{n} epoch(s) are done: raise Epochs to train further.").format(
                    n=self.trainer.epoch))
            return
        self._started_at = self.trainer.iteration
        self._ensure_worker().resume()
        self._set_state(State.RUNNING)

    def step(self) -> None:
        if not self.state.can_step or self.trainer is None:
            return
        self._ensure_worker().step_once()
        if self.state is State.IDLE:
            self._set_state(State.PAUSED)

    def toggle(self) -> None:
        """Start, pause or resume, whichever fits (Ctrl+Return)."""
        if self.state is State.FINISHED:
            self.view.show_status(tr("Training is finished: raise Epochs to train further."))
        elif self.state.can_start:
            self.start()
        elif self.state.can_pause:
            self.pause()
        elif self.state.can_resume:
            self.resume()

    # ------------------------------------------------------------------ settings
    def set_config(self, config: TrainingConfig) -> None:
        """The controls changed: the rate, schedule and epochs apply at once (also while
        training); the optimizer, batch size, seed and augmentation rebuild the network
        while nothing is trained yet (else on Reset)."""
        old, self.config = self.config, config
        if config.lr != old.lr:
            self._apply(lambda w: w.set_lr(config.lr), lambda r: r.set_peak_lr(config.lr))
        if config.schedule != old.schedule:
            self._apply(lambda w: w.set_schedule(config.schedule),
                        lambda r: r.set_schedule(config.schedule))
        if config.epochs != old.epochs:
            self._epochs_changed(config.epochs)
        setup = ("optimizer", "batch_size", "seed", "augment")
        if any(getattr(config, k) != getattr(old, k) for k in setup):
            if self.state is State.IDLE and self.loaded_from is None:
                self.rebuild()

    def _apply(self, to_worker: Callable[[WorkerHandle], None],
               to_run: Callable[[TrainingRun], None]) -> None:
        """A run setting: the worker applies it between two steps; without a worker,
        this thread owns the run."""
        if self._worker is not None:
            to_worker(self._worker)
        elif self.run is not None:
            to_run(self.run)

    def _epochs_changed(self, epochs: int) -> None:
        # a cosine schedule stretches over the new length
        self._apply(lambda w: w.set_epochs(epochs), lambda r: r.set_epochs(epochs))
        self.view.plan_iterations(self.planned_iterations)
        if (self.state is State.FINISHED and self.trainer is not None
                and self.trainer.epoch < epochs):
            self._set_state(State.PAUSED)
            self._show_progress(lambda: self._paused_progress(self.trainer.iteration,
                                                          self.trainer.lr))

    def set_spec(self, spec: list) -> None:
        """The builder's network changed (applied while nothing is trained)."""
        self.spec = [dict(layer) for layer in spec]
        if self.state.editable:
            self.rebuild()

    # ------------------------------------------------------------------ files
    def load_model(self, path: str) -> bool:
        """Load a .npz model; the current one is replaced only if the new one is built."""
        from engine.network import ModelFileError, Network

        try:
            network = Network.load(path)
        except (ModelFileError, OSError, ValueError) as err:
            self.view.show_status(tr("Could not load the model: {error}").format(error=err))
            return False
        return self.use_network(network, str(path))

    def use_network(self, network, source: str, iteration: int = 0) -> bool:
        """Train ``network`` (its weights as they are) from now on, paused, if it fits the
        data and the lab; ``source`` names where it came from (a file, a session).
        ``iteration``: the steps it was trained for (a session's curves go on from there,
        and so does the learning-rate schedule)."""
        try:
            if tuple(network.input_shape) != self.input_shape:
                raise ValueError(tr("it takes inputs of shape {shape}, but the images of the "
                                    "data set are {data}").format(
                                        shape=tuple(network.input_shape),
                                        data=self.input_shape))
            if len(network.layers) > MAX_LAYERS:
                raise ValueError(tr("it has {n} layers; this lab shows at most {limit}")
                                 .format(n=len(network.layers), limit=MAX_LAYERS))
            trainer = self._trainer_for(network, self.config)
            trainer.iteration = int(iteration)
            trainer.epoch = int(iteration) // trainer.iterations_per_epoch
        except (OSError, ValueError) as err:
            self.view.show_status(tr("Could not load the model: {error}").format(error=err))
            return False
        self._retire_worker()
        self.spec = [dict(layer) for layer in network.spec]
        self.loaded_from = source  # (before the views hear of the new network)
        self._install(trainer)
        self._set_state(State.PAUSED)
        self.view.show_spec(self.spec)
        self._show_progress(self._loaded_progress)
        self.view.show_status(tr("Model loaded from {path}; Resume trains it further.")
                              .format(path=source))
        return True

    def load_spec(self, spec) -> bool:
        """Use ``spec`` (parsed JSON); the current network stays unless the new one builds."""
        try:
            check_spec_size(spec)
            spec_to_blocks(spec)  # the builder must be able to show it
            trainer = self._build(spec, self.config)
        except ValueError as err:
            self.view.show_status(tr("Could not load the network spec: {error}")
                                  .format(error=err))
            return False
        self._retire_worker()
        self.spec = [dict(layer) for layer in spec]
        self.loaded_from = None
        self._install(trainer)
        self._set_state(State.IDLE)
        self.view.show_spec(self.spec)
        self._show_progress(lambda: Progress(0.0, tr("epoch -"), tr("Not trained yet.")))
        return True

    def save_model(self, path: str) -> None:
        """Save the trained model; ``View.show_saved`` reports it."""
        if self.trainer is None:
            self.view.show_status(tr("There is no network to save: the spec is invalid."))
            return
        self._ensure_worker().save_model(str(path))  # it owns the weights: between two steps

    def current_spec(self) -> list:
        return self.trainer.network.spec if self.trainer is not None else self.spec

    # ------------------------------------------------------------------ sharing
    def shared_model(self) -> SharedModel | None:
        """The network as another lab sees it (None: the spec cannot be built)."""
        if self.trainer is None:
            return None
        net = self.trainer.network
        return SharedModel(self.generation, net.spec, tuple(net.input_shape), net.num_classes,
                           self.data, self.loaded_from, self.class_names)

    def request_weights(self, request_id: int) -> bool:
        """Ask for a copy of the weights; ``View.share_weights`` answers, at once when
        no worker owns them, else from the worker between two steps. False when
        there is no network."""
        if self.trainer is None:
            return False
        if self._worker is not None:
            self._worker.send_state(int(request_id))
        else:
            self.view.share_weights(SharedWeights(self.generation, self.trainer.iteration,
                                                  self.trainer.network.get_state(),
                                                  int(request_id)))
        return True

    def on_state(self, token: int, request_id: int, iteration: int, state: dict) -> None:
        """The worker's answer to ``request_weights`` (ignored from a let-go worker)."""
        if self._current(token):
            self.view.share_weights(SharedWeights(self.generation, iteration, state,
                                                  request_id))

    # ------------------------------------------------------------------ lab hooks
    def activated(self) -> None:
        """The lab is shown again: frames are drawn again, at once."""
        self.visible = True
        self._set_background("")
        if self._worker is not None:
            self._worker.set_background(False)
            self._request_probe()
        elif self.trainer is not None:
            self._request_probe()

    def deactivated(self) -> None:
        """Another lab is shown: training goes on, the views idle (no frames drawn)."""
        self.visible = False
        if self._worker is not None:
            self._worker.set_background(True)

    def shutdown(self) -> None:
        """The window closes: ask the worker to stop and return at once (the shell then
        waits for every thread with ``gui.workers.threads.stop_all``)."""
        self._retire_worker()
        self._set_background("")

    # ------------------------------------------------------------------ probe
    def _validation_probe(self, index: int) -> Probe:
        index = int(np.clip(index, 0, len(self.val_y) - 1))
        return Probe(self.val_x[index], int(self.val_y[index]), index)

    def set_probe_index(self, index: int) -> None:
        """Probe validation digit ``index`` (clamped to the set)."""
        self.probe = self._validation_probe(index)
        self.view.show_probe(self.probe)
        self._request_probe()

    def random_probe(self, rng: np.random.Generator | None = None) -> None:
        rng = np.random.default_rng() if rng is None else rng
        self.set_probe_index(int(rng.integers(len(self.val_y))))

    def pick_misclassified(self, index: int) -> None:
        self.set_probe_index(index)
        self.view.show_status(tr("Probe: validation digit #{index}").format(index=index))

    def set_drawing(self, image) -> None:
        """The canvas changed: ``image`` (1, 28, 28) in [0, 1], or None / all zeros when
        blank (the probe goes back to the validation digit, no prediction is shown).
        Ignored unless the data are 28x28 grey digits."""
        if not self.takes_drawings:
            return
        if image is None or not np.any(image):
            self.view.clear_drawing()
            if self.probe.drawn:
                self.set_probe_index(self._last_index)
            return
        if not self.probe.drawn:
            self._last_index = self.probe.index  # where a cleared canvas goes back to
        self.probe = Probe(np.asarray(image, dtype=np.float32), None, None)
        self.view.show_probe(self.probe)
        self._request_probe()

    def set_maps_shown(self, shown: bool) -> None:
        """Whether the visible tab shows the probe's maps (frames skip them otherwise)."""
        self.maps_shown = bool(shown)
        if self._worker is not None:
            self._worker.set_maps(self.maps_shown)

    def _request_probe(self) -> None:
        self.probe_id += 1
        w = self._ensure_worker()
        if w is not None:
            w.set_probe(self.probe.image, self.probe.label, self.probe_id)

    # ------------------------------------------------------------------ worker
    def _ensure_worker(self, running: bool = False) -> WorkerHandle | None:
        if self._worker is None and self.run is not None:
            self._token += 1
            self._worker = self._make_worker(self._token, self.run, self.probe, running,
                                             self.maps_shown, not self.visible)
        return self._worker

    def _retire_worker(self) -> None:
        """Let the worker go: it stops within a step; its late events are ignored."""
        w, self._worker = self._worker, None
        self._token += 1
        if w is not None:
            w.request_stop()

    def _current(self, token: int) -> bool:
        return token == self._token and self._worker is not None

    # ------------------------------------------------------------------ worker events
    def on_frame(self, token: int, frame: TrainingFrame) -> None:
        if not self._current(token):
            return
        worker = self._worker  # (drawing may let it go: a failing view, a reset)
        self.frames_received += 1
        try:
            if self.visible:
                self._draw(frame)
            else:
                self.view.store_frame(frame)
                self._set_background(self._background_text(frame))
        finally:
            # flow control: the worker sends the next frame only after this one, even
            # when drawing it failed (a failing view must not stop the frames)
            worker.frame_consumed()

    def _draw(self, frame: TrainingFrame) -> None:
        try:
            self.view.draw_frame(frame)
        except Exception as err:  # noqa: BLE001 - one bad frame must not stop the lab
            if not self._draw_failed:
                self._draw_failed = True
                traceback.print_exc()  # for a bug report; the learner reads one sentence
                self.view.show_status(tr("A view could not be drawn ({error}); training "
                                         "goes on.").format(error=f"{type(err).__name__}: "
                                                                  f"{err}"))
        else:
            self.frames_drawn += 1
        # a progress bar repaints at once: every third frame (~7 Hz) is plenty
        if self.frames_received % 3 == 1 or not frame.running:
            self._show_progress(lambda: self._progress(frame))

    def on_evaluated(self, token: int, result: EpochResult) -> None:
        if self._current(token):
            self._evaluated(result)

    def _evaluated(self, result: EpochResult) -> None:
        if result.epoch in self._val_epochs:
            return
        self._val_epochs.add(result.epoch)
        self.last_eval = result
        self.view.show_evaluation(result)
        r = result.result
        if result.epoch > 0:
            self.view.show_status(tr("Epoch {n}: validation accuracy {acc}, loss {loss}")
                                  .format(n=result.epoch, acc=f"{r.accuracy:.1%}",
                                          loss=f"{r.loss:.3f}"))
        elif self.loaded_from is not None and self.state is State.PAUSED:
            self._show_progress(self._loaded_progress)

    def on_diverged(self, token: int, message: str) -> None:
        if not self._current(token):
            return
        self._set_state(State.DIVERGED)
        self.view.show_message(message)
        self.view.show_status(message)

    def on_finished(self, token: int, message: str) -> None:
        if not self._current(token):
            return
        self._set_state(State.FINISHED)
        self._show_progress(self._finished_progress)
        self.view.show_status(message)

    def on_saved(self, token: int, path: str, error: str) -> None:
        # a save is reported even by a worker that has been let go since: it happened
        self.view.show_saved(path, error)
        self.view.show_status(tr("Could not save the model: {error}").format(error=error)
                              if error else tr("Model saved to {path}").format(path=path))

    def on_failed(self, token: int, message: str) -> None:
        if not self._current(token):
            return
        self._retire_worker()
        self._set_state(State.PAUSED)
        self.view.show_status(message)

    # ------------------------------------------------------------------ texts
    def _set_background(self, text: str) -> None:
        if text != self._background:
            self._background = text
            self.view.show_background(text)

    @property
    def background_text(self) -> str:
        return self._background

    def _epoch_of(self, iteration: int) -> int:
        """The 1-based epoch ``iteration`` (1-based) belongs to."""
        ipe = self.trainer.iterations_per_epoch
        return (max(iteration, 1) - 1) // ipe + 1

    def _run_fraction(self, iteration: int) -> float:
        return min(iteration / max(self.planned_iterations, 1), 1.0)

    def _background_text(self, frame: TrainingFrame) -> str:
        if self.state is not State.RUNNING or self.trainer is None:
            return ""
        return tr("Training: epoch {n} of {total}, {percent}").format(
            n=min(self._epoch_of(frame.iteration), self.config.epochs),
            total=self.config.epochs, percent=f"{self._run_fraction(frame.iteration):.0%}")

    def _bar(self, iteration: int) -> tuple[float, str]:
        """The whole run's progress (not the epoch's) on the bar."""
        fraction = self._run_fraction(iteration)
        text = tr("epoch {n} of {total}: {percent} done").format(
            n=min(self._epoch_of(iteration), self.config.epochs), total=self.config.epochs,
            percent=f"{fraction:.0%}")
        return fraction, text

    def _show_progress(self, make: Callable[[], Progress | None]) -> None:
        """Show ``make()`` (None: leave the panel as it is) and keep ``make`` to write the
        same progress again in another language (:meth:`retranslate`)."""
        progress = make()
        if progress is not None:
            self._remade_progress = make
            self.view.show_progress(progress)

    def retranslate(self) -> None:
        """The language changed: the progress panel's texts again, in the new one."""
        if self._remade_progress is not None:
            progress = self._remade_progress()
            if progress is not None:
                self.view.show_progress(progress)

    def _starting_progress(self) -> Progress:
        # the first start compiles the fast kernels (about a minute on two cores); a
        # later one passes through this text within a frame
        iteration = self.trainer.iteration
        fraction, bar = self._bar(iteration)
        return Progress(fraction, bar if iteration else tr("epoch -"),
                        tr("Preparing the fast kernels — first start only…"))

    def _loaded_progress(self) -> Progress:
        info = tr("Loaded model; Resume trains it further.")
        if self.last_eval is not None and self.last_eval.epoch == 0:
            info = tr("Loaded model: validation accuracy {acc}; Resume trains it further.") \
                .format(acc=f"{self.last_eval.result.accuracy:.1%}")
        return Progress(0.0, tr("loaded model · 0 of {total} epochs trained here")
                        .format(total=self.config.epochs), info)

    def _finished_progress(self) -> Progress:
        epochs = self.trainer.epoch
        info = tr_noop("Finished: {n} epoch(s).")
        acc = None
        if self.last_eval is not None and self.last_eval.epoch == epochs:
            info = tr_noop("Finished: {n} epoch(s), validation accuracy {acc}.")
            acc = f"{self.last_eval.result.accuracy:.1%}"
        return Progress(1.0, tr("epoch {n} of {total}: done").format(n=epochs, total=epochs),
                        tr(info).format(n=epochs, acc=acc)
                        + " " + tr("Raise Epochs to train further."))

    def _paused_progress(self, iteration: int, lr: float) -> Progress:
        fraction, bar = self._bar(iteration)
        return Progress(fraction, bar, tr("paused; learning rate now {lr}").format(
            lr=f"{lr:.2g}"))

    def _progress(self, frame: TrainingFrame) -> Progress | None:
        """The panel's text for ``frame``, from the session's state (a frame queued
        before a command still says what the worker did then)."""
        if self.trainer is None or self.state in (State.DIVERGED, State.INVALID):
            return None  # a diverged run keeps its message in place
        if self.state is State.FINISHED:
            return self._finished_progress()
        if self.state is State.RUNNING:
            if self._started_at is not None and frame.iteration <= self._started_at:
                return self._starting_progress()  # no step trained yet: compiling
            fraction, bar = self._bar(frame.iteration)
            rate = frame.steps_per_second
            if rate > 0:
                left = max(0, self.planned_iterations - frame.iteration) / rate
                speed = tr("{rate} batches/s, about {left} left").format(
                    rate=_rate_text(rate), left=format_duration(left))
            else:
                speed = tr("measuring the speed…")
            info = tr("{speed}; learning rate now {lr}").format(speed=speed,
                                                                lr=f"{frame.lr:.2g}")
            return Progress(fraction, bar, info)
        if frame.iteration == 0:
            return self._loaded_progress() if self.loaded_from is not None else None
        return self._paused_progress(frame.iteration, frame.lr)

    # ------------------------------------------------------------------ screenshot
    def train_now(self, steps: int, probe_every: int = 5) -> None:
        """Train ``steps`` batches in this thread (seeded) through the engine's loop and
        draw the result: a network in the middle of learning, for ``main.py screenshot``.

        Every ``probe_every`` steps the gradient norms are sampled, as live frames would."""
        self.rebuild(worker=False)  # no worker may share this Trainer
        trainer, run = self.trainer, self.run
        if trainer is None:
            return
        self._evaluated(EpochResult(0, 0, trainer.evaluate()))
        history: list[tuple] = []
        for _ in range(steps):
            step = run.step()  # also past the planned epochs, like Step
            r = step.result
            if r.status != "ok":
                break
            history.append((r.iteration, r.loss, r.accuracy))
            if step.epoch_finished:
                self._evaluated(EpochResult(trainer.epoch, trainer.iteration,
                                            trainer.evaluate()))
            if r.iteration % probe_every == 0:
                self.view.store_frame(self._frame(history, trainer.snapshot(
                    self.probe.image, self.probe.label, maps=False)))
                history = []
        self._set_state(State.PAUSED)
        self.frames_received += 1
        self._draw(self._frame(history, trainer.snapshot(self.probe.image, self.probe.label)))

    def _frame(self, history: list[tuple], snapshot) -> TrainingFrame:
        trainer = self.trainer
        it, loss, acc = (np.array(col) for col in zip(*history, strict=True)) if history \
            else (np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
        progress = trainer.last_result.epoch_progress if trainer.last_result else 0.0
        return TrainingFrame(it, loss, acc, trainer.iteration, trainer.epoch, float(progress),
                             0.0, snapshot, self.probe_id, False, trainer.lr)
