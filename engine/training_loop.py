"""The training loop: one configuration, one loop, used by the CLI, the GUI's worker
and the screenshots alike.

:class:`TrainingConfig` holds every choice of a run (its defaults are the recipe
``python main.py train`` uses). :class:`TrainingRun` wraps a
:class:`engine.training.Trainer` and owns what a loop around ``Trainer.step()``
must keep track of: the learning-rate schedule, which step ends an epoch, when the
planned epochs are done, and the running mean of the epoch's training loss.
Iterate it, or call :meth:`TrainingRun.step` whenever the caller wants the next
batch (the GUI's worker pauses, steps once, changes the rate in between)::

    run = TrainingRun(trainer, TrainingConfig(epochs=2))
    for step in run:                      # stops after 2 epochs, or on divergence
        print(step.result.iteration, step.result.loss, step.lr)

Like the Trainer it never starts threads and never sleeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

from .i18n import tr, tr_noop
from .optim import OPTIMIZERS

if TYPE_CHECKING:
    from .training import StepResult, Trainer

__all__ = ["TrainingConfig", "TrainingRun", "RunStep", "cosine_lr", "SCHEDULES"]

SCHEDULES = ("cosine", "constant")


def _unknown_schedule(schedule) -> str:
    return tr("the schedule must be one of {names}, not {value!r}").format(
        names=", ".join(SCHEDULES), value=schedule)


@dataclass(frozen=True)
class TrainingConfig:
    """Every choice of a training run; the defaults are the default recipe.

    Measured on the embedded MNIST split (8,000 training digits, 1,000 held out)
    with :data:`engine.recipe.DEFAULT_SPEC`; see engine/recipe.py for the numbers.
    """

    #: Adam: its per-weight step sizes let one learning rate serve the conv and the
    #: dense layers alike, where plain SGD needs a rate tuned for each network.
    optimizer: str = "adam"
    #: The peak rate (a cosine schedule starts here and falls to 0): large early for
    #: speed; the schedule's small rates at the end let the weights settle.
    lr: float = 3e-3
    #: The batch of the benchmark workloads (N = 64): enough work per kernel call for
    #: both cores, and 125 updates an epoch on 8,000 digits.
    batch_size: int = 64
    #: Ten passes over the 8,000 digits: 98.7 / 98.9 / 99.1 % on the held-out digits for
    #: seeds 0 / 1 / 2 (engine/recipe.py), about 7-15 s on two cores.
    epochs: int = 10
    #: "cosine": large steps early, fine ones at the end (the rate falls to 0 over the
    #: planned epochs); "constant" keeps ``lr`` throughout.
    schedule: str = "cosine"
    #: Shift every training digit by up to 2 pixels, so 8,000 digits behave like many
    #: more: without it the same network reached 98.0-98.2 % instead of 98.7-99.1 %.
    augment: bool = True
    #: Seeds the weights, the shuffles and the shifts: the same seed, the same network.
    seed: int = 0

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(tr("the optimizer must be one of {names}, not {value!r}").format(
                names=", ".join(OPTIMIZERS), value=self.optimizer))
        if self.schedule not in SCHEDULES:
            raise ValueError(_unknown_schedule(self.schedule))
        if (isinstance(self.lr, bool) or not isinstance(self.lr, (int, float))
                or not math.isfinite(self.lr) or self.lr <= 0):
            raise ValueError(tr("the learning rate must be a positive number, not {value!r}")
                             .format(value=self.lr))
        for name, what in (("batch_size", tr_noop("batch size")), ("epochs", tr_noop("epochs"))):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(tr("{what} must be a whole number of at least 1, not {value!r}")
                                 .format(what=tr(what), value=value))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(tr("the seed must be a whole number, not {value!r}").format(
                value=self.seed))

    def replace(self, **changes) -> TrainingConfig:
        """A copy with ``changes`` applied (and checked)."""
        return replace(self, **changes)

    def trainer_kwargs(self) -> dict:
        """The keyword arguments ``Trainer(network, *data, **kwargs)`` takes from this."""
        return {"optimizer": self.optimizer, "lr": float(self.lr),
                "batch_size": self.batch_size, "seed": self.seed, "augment": self.augment}

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def cosine_lr(iteration: int, total_iterations: int, peak_lr: float) -> float:
    """Learning rate for step ``iteration`` (0-based) of a cosine schedule.

    ``peak_lr * (1 + cos(pi * t)) / 2`` with ``t = iteration / total_iterations``:
    the full rate at the first step, half of it halfway, close to 0 at the end.
    """
    t = min(max(iteration / max(total_iterations, 1), 0.0), 1.0)
    return peak_lr * 0.5 * (1.0 + math.cos(math.pi * t))


@dataclass(frozen=True)
class RunStep:
    """One step of a :class:`TrainingRun`.

    Attributes
    ----------
    result : engine.training.StepResult
        The Trainer's report (iteration, epoch, epoch_progress, loss, accuracy, status).
    lr : float
        The learning rate this step used.
    epoch_finished : bool
        This step was the last batch of an epoch.
    run_finished : bool
        This step reached the planned number of epochs (or the run diverged).
    mean_loss, mean_accuracy : float
        Mean training loss and accuracy of the epoch so far (this step included).
    """

    result: StepResult
    lr: float
    epoch_finished: bool
    run_finished: bool
    mean_loss: float
    mean_accuracy: float


class TrainingRun:
    """The loop around ``Trainer.step()``: schedule, epochs, running means.

    Parameters
    ----------
    trainer : engine.training.Trainer
        Made with ``config.trainer_kwargs()`` (the run sets its learning rate).
    config : TrainingConfig
        Only ``lr`` (the peak), ``schedule`` and ``epochs`` are read here; they may be
        changed while the run goes on (:meth:`set_peak_lr`, :meth:`set_schedule`,
        :meth:`set_epochs`).

    Iterating yields :class:`RunStep` until the trainer has completed ``epochs``
    epochs or diverged; a run that is already done yields nothing.
    """

    def __init__(self, trainer: Trainer, config: TrainingConfig | None = None):
        config = TrainingConfig() if config is None else config
        self.trainer = trainer
        self.peak_lr = float(config.lr)
        self.schedule = config.schedule
        self.epochs = int(config.epochs)
        self._loss_sum = 0.0
        self._accuracy_sum = 0.0
        self._steps_in_epoch = 0
        trainer.lr = self.lr_at(trainer.iteration)

    # ---------------------------------------------------------------- plan
    @property
    def total_iterations(self) -> int:
        """Steps in the planned run: epochs x batches per epoch."""
        return self.epochs * self.trainer.iterations_per_epoch

    def lr_at(self, iteration: int) -> float:
        """The rate the schedule gives step ``iteration`` (0-based)."""
        if self.schedule == "cosine":
            return cosine_lr(iteration, self.total_iterations, self.peak_lr)
        return self.peak_lr

    def _reschedule(self) -> None:
        self.trainer.lr = self.lr_at(self.trainer.iteration)  # shown at once, used next

    def set_peak_lr(self, lr: float) -> None:
        self.peak_lr = float(lr)
        self._reschedule()

    def set_schedule(self, schedule: str) -> None:
        if schedule not in SCHEDULES:
            raise ValueError(_unknown_schedule(schedule))
        self.schedule = schedule
        self._reschedule()

    def set_epochs(self, epochs: int) -> None:
        """Plan ``epochs`` epochs in all (a cosine schedule stretches over them)."""
        self.epochs = max(1, int(epochs))
        self._reschedule()

    @property
    def done(self) -> bool:
        """The planned epochs are trained, or the run diverged."""
        return self.trainer.status == "diverged" or self.trainer.epoch >= self.epochs

    # ---------------------------------------------------------------- loop
    def step(self) -> RunStep:
        """Train the next batch at the scheduled rate (also past the planned epochs)."""
        trainer = self.trainer
        lr = self.lr_at(trainer.iteration)
        trainer.lr = lr
        epoch_before = trainer.epoch
        result = trainer.step()
        if result.status == "ok":
            self._loss_sum += result.loss
            self._accuracy_sum += result.accuracy
            self._steps_in_epoch += 1
        n = max(self._steps_in_epoch, 1)
        mean_loss, mean_accuracy = self._loss_sum / n, self._accuracy_sum / n
        epoch_finished = result.status == "ok" and trainer.epoch > epoch_before
        if epoch_finished:
            self._loss_sum = self._accuracy_sum = 0.0
            self._steps_in_epoch = 0
        run_finished = result.status != "ok" or (epoch_finished and trainer.epoch >= self.epochs)
        return RunStep(result, lr, epoch_finished, run_finished, mean_loss, mean_accuracy)

    def __iter__(self):
        while not self.done:
            step = self.step()
            yield step
            if step.result.status != "ok":
                return
