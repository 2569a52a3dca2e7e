"""Training controls: optimizer, learning rate, batch size, epochs, seed, augmentation;
Start / Pause / Resume / Step / Reset; the epoch progress bar and the time left."""

from __future__ import annotations

from dataclasses import dataclass

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from gui.widgets.live_text import LiveLabel, LiveProgressBar

__all__ = ["TrainingSettings", "TrainingControls", "format_duration"]

OPTIMIZERS = (("Adam", "adam"), ("SGD with momentum", "momentum"), ("SGD", "sgd"))


@dataclass(frozen=True)
class TrainingSettings:
    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 64
    epochs: int = 5
    seed: int = 0
    augment: bool = False
    schedule: str = "constant"


def format_duration(seconds: float) -> str:
    if seconds != seconds or seconds < 0:  # NaN or negative
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s"


class TrainingControls(QGroupBox):
    """The settings and buttons; it only emits signals, the lab acts on them.

    Signals
    -------
    start, pause, resume, step, reset : the buttons
    lr_changed(float) : the learning rate, applied at once (also while training)
    epochs_changed(int) : the number of epochs to train
    setup_changed() : optimizer, batch size, seed or augmentation (apply on Reset)
    """

    start = pyqtSignal()
    pause = pyqtSignal()
    resume = pyqtSignal()
    step = pyqtSignal()
    reset = pyqtSignal()
    lr_changed = pyqtSignal(float)
    epochs_changed = pyqtSignal(int)
    setup_changed = pyqtSignal()
    schedule_changed = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__("Training", parent)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.optimizer = QComboBox()
        for text, key in OPTIMIZERS:
            self.optimizer.addItem(text, key)
        self.lr = QDoubleSpinBox(decimals=5, minimum=1e-5, maximum=100.0, singleStep=1e-4)
        self.lr.setToolTip("Learning rate; may be changed while training runs")
        self.batch = QSpinBox(minimum=1, maximum=1024, singleStep=16)
        self.epochs = QSpinBox(minimum=1, maximum=200)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1)
        self.augment = QCheckBox("shift digits by up to 2 pixels")
        self.schedule = QComboBox()
        self.schedule.addItem("constant", "constant")
        self.schedule.addItem("cosine decay to 0", "cosine")
        self.schedule.setToolTip("cosine: the learning rate falls from the value above to 0 "
                                 "over the epochs (large steps early, fine ones at the end)")
        row1 = QHBoxLayout()
        row1.addWidget(self.optimizer, 2)
        row1.addWidget(QLabel("lr"))
        row1.addWidget(self.lr, 1)
        form.addRow("Optimizer", row1)
        row2 = QHBoxLayout()
        row2.addWidget(self.batch)
        row2.addWidget(QLabel("Epochs"))
        row2.addWidget(self.epochs)
        row2.addWidget(QLabel("Seed"))
        row2.addWidget(self.seed)
        form.addRow("Batch size", row2)
        form.addRow("LR schedule", self.schedule)
        form.addRow("Augment", self.augment)
        layout.addLayout(form)

        buttons = QGridLayout()
        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.step_button = QPushButton("Step")
        self.reset_button = QPushButton("Reset")
        self.start_button.setToolTip("Build the network and train it (Ctrl+Return)")
        self.pause_button.setToolTip("Pause training (Ctrl+Return)")
        self.resume_button.setToolTip("Go on training (Ctrl+Return)")
        self.step_button.setToolTip("Train one batch (Ctrl+.)")
        self.reset_button.setToolTip("Forget the training: new weights from the seed "
                                     "(Ctrl+Shift+R)")
        for k, (b, sig) in enumerate(((self.start_button, self.start),
                                      (self.pause_button, self.pause),
                                      (self.resume_button, self.resume),
                                      (self.step_button, self.step),
                                      (self.reset_button, self.reset))):
            buttons.addWidget(b, 0, k)
            b.clicked.connect(sig)
        layout.addLayout(buttons)

        # live: speed, time left and learning rate, up to 7 times a second, drawn
        # without relayouts (see gui/widgets/live_text.py)
        self.progress = LiveProgressBar("epoch -")
        layout.addWidget(self.progress)
        self.info = LiveLabel("Not trained yet.")
        layout.addWidget(self.info)
        # rare and possibly long: why training stopped (hidden when there is nothing to say)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b2182b;")
        self.message.hide()
        layout.addWidget(self.message)

        self.lr.valueChanged.connect(self.lr_changed)
        self.epochs.valueChanged.connect(self.epochs_changed)
        self.optimizer.currentIndexChanged.connect(lambda *_: self.setup_changed.emit())
        self.batch.valueChanged.connect(lambda *_: self.setup_changed.emit())
        self.seed.valueChanged.connect(lambda *_: self.setup_changed.emit())
        self.augment.toggled.connect(lambda *_: self.setup_changed.emit())
        self.schedule.currentIndexChanged.connect(lambda *_: self.schedule_changed.emit())
        self.set_state("idle")

    # -- settings -------------------------------------------------------------
    def settings(self) -> TrainingSettings:
        return TrainingSettings(optimizer=self.optimizer.currentData(), lr=self.lr.value(),
                                batch_size=self.batch.value(), epochs=self.epochs.value(),
                                seed=self.seed.value(), augment=self.augment.isChecked(),
                                schedule=self.schedule.currentData())

    def set_settings(self, s: TrainingSettings) -> None:
        widgets = (self.optimizer, self.lr, self.batch, self.epochs, self.seed, self.augment,
                   self.schedule)
        for w in widgets:
            w.blockSignals(True)
        index = self.optimizer.findData(s.optimizer)
        self.optimizer.setCurrentIndex(max(index, 0))
        self.lr.setValue(s.lr)
        self.batch.setValue(s.batch_size)
        self.epochs.setValue(s.epochs)
        self.seed.setValue(s.seed)
        self.augment.setChecked(s.augment)
        self.schedule.setCurrentIndex(max(0, self.schedule.findData(s.schedule)))
        for w in widgets:
            w.blockSignals(False)

    # -- state ------------------------------------------------------------------
    def set_state(self, state: str) -> None:
        """idle (nothing trained), running, paused, finished, diverged, invalid."""
        trained = state in ("paused", "finished", "diverged", "running")
        self.start_button.setEnabled(state == "idle")
        self.pause_button.setEnabled(state == "running")
        self.resume_button.setEnabled(state in ("paused", "finished"))
        self.step_button.setEnabled(state in ("idle", "paused", "finished"))
        self.reset_button.setEnabled(state != "invalid")
        for w in (self.optimizer, self.batch, self.seed, self.augment):
            w.setEnabled(not trained)  # fixed once a Trainer has taken steps

    def set_progress(self, epoch_number: int, epoch_progress: float, epochs: int,
                     seconds_left: float | None, steps_per_second: float,
                     lr: float | None = None) -> None:
        """epoch_number counts from 1; epoch_progress is 0..1 through that epoch."""
        self.progress.show_progress(epoch_progress,
                                    f"epoch {epoch_number} of {epochs}: {epoch_progress:.0%}")
        speed = f"{steps_per_second:.0f} batches/s" if steps_per_second > 0 else ""
        left = f", about {format_duration(seconds_left)} left" if seconds_left else ""
        rate = f"; learning rate now {lr:.2g}" if lr is not None else ""
        self.info.setText(f"{speed}{left}{rate}" if speed else f"paused{rate}")

    def clear_progress(self) -> None:
        self.progress.show_progress(0.0, "epoch -")
        self.info.setText("Not trained yet.")
        self.show_message("")

    def show_message(self, text: str) -> None:
        """Why training stopped, in red under the progress ("" hides it)."""
        self.message.setText(text)
        self.message.setVisible(bool(text))
