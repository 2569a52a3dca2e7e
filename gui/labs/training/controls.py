"""Training controls: optimizer, learning rate, batch size, epochs, seed, schedule,
augmentation; Start / Pause / Resume / Step / Reset; the run's progress bar and the
line under it. The settings are one engine :class:`~engine.training_loop.TrainingConfig`
(:meth:`TrainingControls.config`, :meth:`TrainingControls.set_config`)."""

from __future__ import annotations

from contextlib import ExitStack

from PyQt6.QtCore import QSignalBlocker, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from engine.i18n import tr, tr_noop
from engine.training_loop import TrainingConfig
from gui.labs.training.session import Progress, State
from gui.widgets.form_rows import double_spin, int_spin, show_refusals_in_place
from gui.widgets.live_text import LiveLabel, LiveProgressBar

__all__ = ["TrainingControls"]

OPTIMIZERS = ((tr_noop("Adam"), "adam"), (tr_noop("SGD with momentum"), "momentum"),
              (tr_noop("SGD"), "sgd"))
SCHEDULES = ((tr_noop("constant"), "constant"), (tr_noop("cosine decay to 0"), "cosine"))


def _combo(items) -> QComboBox:
    combo = QComboBox()
    for text, key in items:
        combo.addItem(tr(text), key)
    return combo


class TrainingControls(QGroupBox):
    """The settings and buttons; it only emits signals, the lab acts on them.

    Signals
    -------
    start, pause, resume, step, reset : the buttons
    config_changed(TrainingConfig) : any setting, after the learner changed it (the rate,
        schedule and epochs apply at once, also while training; the rest on Reset)
    refused(str) : a typed value outside its range, why it was not taken (the sentence
        is shown under the settings too)
    """

    start = pyqtSignal()
    pause = pyqtSignal()
    resume = pyqtSignal()
    step = pyqtSignal()
    reset = pyqtSignal()
    config_changed = pyqtSignal(object)
    refused = pyqtSignal(str)  # why a typed value was not taken (also said in place)

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.optimizer = _combo(OPTIMIZERS)
        # a typed value outside a range is explained in place (show_refusals_in_place)
        self.lr = double_spin(1e-5, 100.0, 1e-3, decimals=5, step=1e-4)
        self.batch = int_spin(1, 1024, 64)
        self.batch.setSingleStep(16)
        self.epochs = int_spin(1, 200, 10)
        self.seed = int_spin(0, 2**31 - 1, 0)
        self.augment = QCheckBox()
        self.schedule = _combo(SCHEDULES)
        self.lr_label, self.epochs_label, self.seed_label = QLabel(), QLabel(), QLabel()
        row1 = QHBoxLayout()
        row1.addWidget(self.optimizer, 2)
        row1.addWidget(self.lr_label)
        row1.addWidget(self.lr, 1)
        row2 = QHBoxLayout()
        row2.addWidget(self.batch)
        row2.addWidget(self.epochs_label)
        row2.addWidget(self.epochs)
        row2.addWidget(self.seed_label)
        row2.addWidget(self.seed)
        self._rows = []  # (label, msgid) of the form's rows, for retranslate
        for msgid, field in ((tr_noop("Optimizer"), row1), (tr_noop("Batch size"), row2),
                             (tr_noop("LR schedule"), self.schedule),
                             (tr_noop("Augment"), self.augment)):
            label = QLabel()
            self.form.addRow(label, field)
            self._rows.append((label, msgid))
        layout.addLayout(self.form)

        buttons = QGridLayout()
        self.start_button = QPushButton()
        self.pause_button = QPushButton()
        self.resume_button = QPushButton()
        self.step_button = QPushButton()
        self.reset_button = QPushButton()
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
        self.progress = LiveProgressBar()
        layout.addWidget(self.progress)
        self.info = LiveLabel()
        layout.addWidget(self.info)
        # rare and possibly long: why training stopped (hidden when there is nothing to say)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b2182b;")
        self.message.hide()
        layout.addWidget(self.message)

        for signal in (self.lr.valueChanged, self.epochs.valueChanged,
                       self.optimizer.currentIndexChanged, self.batch.valueChanged,
                       self.seed.valueChanged, self.augment.toggled,
                       self.schedule.currentIndexChanged):
            signal.connect(self._emit_config)
        show_refusals_in_place(self, self.refused.emit)
        self.set_state(State.IDLE)
        self.show_progress(Progress(0.0, tr("epoch -"), tr("Not trained yet.")))
        self.retranslate()

    #: the data are digits (the augmentation's text says so); else images
    digits = True

    def set_digits(self, digits: bool) -> None:
        self.digits = bool(digits)
        self.retranslate()

    def retranslate(self) -> None:
        """Set every text in the current language (the live texts come from the session)."""
        self.setTitle(tr("Training"))
        for label, msgid in self._rows:
            label.setText(tr(msgid))
        for combo, items in ((self.optimizer, OPTIMIZERS), (self.schedule, SCHEDULES)):
            for k, (text, _key) in enumerate(items):
                combo.setItemText(k, tr(text))
        # (widget, text, tooltip); "" for none
        for widget, text, tip in (
                (self.lr_label, tr_noop("lr"), ""),
                (self.epochs_label, tr_noop("Epochs"), ""),
                (self.seed_label, tr_noop("Seed"), ""),
                (self.augment, tr_noop("shift digits by up to 2 pixels") if self.digits else
                 tr_noop("shift images by up to 2 pixels"), ""),
                (self.start_button, tr_noop("Start"),
                 tr_noop("Build the network and train it (Ctrl+Return)")),
                (self.pause_button, tr_noop("Pause"), tr_noop("Pause training (Ctrl+Return)")),
                (self.resume_button, tr_noop("Resume"), tr_noop("Go on training (Ctrl+Return)")),
                (self.step_button, tr_noop("Step"), tr_noop("Train one batch (Ctrl+.)")),
                (self.reset_button, tr_noop("Reset"),
                 tr_noop("Forget the training: new weights from the seed (Ctrl+Shift+R)"))):
            widget.setText(tr(text))
            widget.setToolTip(tr(tip) if tip else "")
        for spin, subject in ((self.lr, tr("Learning rate")), (self.batch, tr("Batch size")),
                              (self.epochs, tr("Epochs")), (self.seed, tr("Seed"))):
            spin.set_subject(subject)  # names the value in a refusal's sentence
        self.lr.setToolTip(tr("The learning rate (the peak of a cosine schedule); may be "
                              "changed while training runs"))
        self.schedule.setToolTip(tr("cosine: the learning rate falls from the value above to "
                                    "0 over the epochs (large steps early, fine ones at the "
                                    "end)"))

    # -- settings -------------------------------------------------------------
    def config(self) -> TrainingConfig:
        return TrainingConfig(optimizer=self.optimizer.currentData(), lr=self.lr.value(),
                              batch_size=self.batch.value(), epochs=self.epochs.value(),
                              seed=self.seed.value(), augment=self.augment.isChecked(),
                              schedule=self.schedule.currentData())

    def set_config(self, config: TrainingConfig) -> None:
        """Show ``config``; emits nothing (the caller knows what it set)."""
        widgets = (self.optimizer, self.lr, self.batch, self.epochs, self.seed, self.augment,
                   self.schedule)
        with ExitStack() as quiet:
            for w in widgets:
                quiet.enter_context(QSignalBlocker(w))
            self.optimizer.setCurrentIndex(max(self.optimizer.findData(config.optimizer), 0))
            self.lr.setValue(config.lr)
            self.batch.setValue(config.batch_size)
            self.epochs.setValue(config.epochs)
            self.seed.setValue(config.seed)
            self.augment.setChecked(config.augment)
            self.schedule.setCurrentIndex(max(0, self.schedule.findData(config.schedule)))

    def _emit_config(self, *_) -> None:
        self.config_changed.emit(self.config())

    # -- state ------------------------------------------------------------------
    def set_state(self, state: State) -> None:
        """Enable what ``state`` allows (see :class:`gui.labs.training.session.State`)."""
        self.start_button.setEnabled(state.can_start)
        self.pause_button.setEnabled(state.can_pause)
        self.resume_button.setEnabled(state.can_resume)
        self.step_button.setEnabled(state.can_step)
        self.reset_button.setEnabled(state.can_reset)
        for w in (self.optimizer, self.batch, self.seed, self.augment):
            w.setEnabled(state.editable)  # fixed once a Trainer has taken steps

    def show_progress(self, progress: Progress) -> None:
        self.progress.show_progress(progress.fraction, progress.bar)
        self.info.setText(progress.info)

    def show_message(self, text: str) -> None:
        """Why training stopped, in red under the progress ("" hides it)."""
        self.message.setText(text)
        self.message.setVisible(bool(text))
