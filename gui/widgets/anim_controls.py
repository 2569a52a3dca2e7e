"""Animation controls shared by the step-by-step labs.

``AnimControls`` owns the current step of an animation with ``count`` steps and
says so with ``step_changed(int)``; the lab draws that step. Play runs a QTimer
(no thread, no sleep): each tick moves one step forward and playing stops at the
last step. Buttons: to start, step back, play/pause, step forward, to end; a
speed selector in steps per second; a scrub slider. ``install_shortcuts(widget)``
binds Space (play/pause), Left/Right (step), Home/End (first/last step) while
the focus is inside ``widget``; text fields keep these keys for editing.
"""

from __future__ import annotations

from PyQt6.QtCore import QSignalBlocker, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QStyle,
    QToolButton,
    QWidget,
)

from engine.i18n import tr, tr_n, tr_noop

__all__ = ["AnimControls", "SPEEDS"]

#: key -> what it does (English msgids; the About box lists them from the shortcuts)
_KEYS = ((Qt.Key.Key_Space, tr_noop("play / pause the animation")),
         (Qt.Key.Key_Left, tr_noop("one step back")),
         (Qt.Key.Key_Right, tr_noop("one step forward")),
         (Qt.Key.Key_Home, tr_noop("the first step")),
         (Qt.Key.Key_End, tr_noop("the last step")))

SPEEDS = (1, 2, 4, 8, 15, 30, 60)  # steps per second offered in the speed selector


class AnimControls(QWidget):
    """Play/pause, step, to start/end, speed and scrub controls around one step counter.

    Signals
    -------
    step_changed(int)
        The current step changed (by a button, the slider, a key, the timer or
        ``set_step``); the receiver draws that step.
    playing_changed(bool)
        Play started (True) or stopped (False).
    """

    step_changed = pyqtSignal(int)
    playing_changed = pyqtSignal(bool)

    def __init__(self, parent: QWidget | None = None, speed: int = 4):
        super().__init__(parent)
        self._count = 0
        self._step = 0
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._shortcuts: list[QShortcut] = []

        style = self.style()
        icon = style.standardIcon
        sp = QStyle.StandardPixmap
        self.start_button = self._button(icon(sp.SP_MediaSkipBackward), self.to_start)
        self.back_button = self._button(icon(sp.SP_MediaSeekBackward), self.step_back)
        self.play_button = self._button(icon(sp.SP_MediaPlay), self.toggle)
        self.forward_button = self._button(icon(sp.SP_MediaSeekForward), self.step_forward)
        self.end_button = self._button(icon(sp.SP_MediaSkipForward), self.to_end)
        self._play_icon, self._pause_icon = icon(sp.SP_MediaPlay), icon(sp.SP_MediaPause)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setMinimum(0)
        self.slider.setMinimumWidth(60)
        self.slider.valueChanged.connect(self._on_slider)
        self.step_label = QLabel()
        self.step_label.setMinimumWidth(90)
        self.speed_box = QComboBox()
        for s in SPEEDS:
            self.speed_box.addItem("", s)
        self.speed_box.currentIndexChanged.connect(self._on_speed)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for b in (self.start_button, self.back_button, self.play_button, self.forward_button,
                  self.end_button):
            layout.addWidget(b)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.step_label)
        layout.addWidget(self.speed_box)
        self.set_speed(speed)
        self.set_count(0)
        self.retranslate()

    def retranslate(self) -> None:
        for button, tip in ((self.start_button, tr("To the first step (Home)")),
                            (self.back_button, tr("Step back (Left)")),
                            (self.play_button, tr("Play / pause (Space)")),
                            (self.forward_button, tr("Step forward (Right)")),
                            (self.end_button, tr("To the last step (End)"))):
            button.setToolTip(tip)
        self.slider.setToolTip(tr("Scrub through the steps"))
        self.speed_box.setToolTip(tr("Playing speed (steps per second)"))
        for index, s in enumerate(SPEEDS):
            self.speed_box.setItemText(index, tr_n("{n} step/s", "{n} steps/s", s).format(n=s))
        for shortcut, (_key, what) in zip(self._shortcuts, _KEYS * len(self._shortcuts),
                                          strict=False):
            shortcut.setWhatsThis(tr(what))
        self._update_label()

    def _button(self, icon, slot) -> QToolButton:
        b = QToolButton()
        b.setIcon(icon)
        b.setAutoRaise(True)
        b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space must reach the shortcut, not the button
        b.clicked.connect(slot)
        return b

    # -------------------------------------------------------------- state
    @property
    def count(self) -> int:
        return self._count

    @property
    def step(self) -> int:
        return self._step

    @property
    def is_playing(self) -> bool:
        return self._timer.isActive()

    @property
    def speed(self) -> int:
        """Steps per second."""
        return int(self.speed_box.currentData())

    @property
    def interval_ms(self) -> int:
        return max(1, round(1000 / self.speed))

    def set_count(self, count: int, step: int | None = None) -> None:
        """A new animation with ``count`` steps; 0 disables the controls.

        The current step is kept (clamped) unless ``step`` is given; ``step_changed``
        is always emitted for a non-empty animation so the receiver redraws.
        """
        self._count = max(0, int(count))
        enabled = self._count > 0
        if not enabled:
            self.pause()
        for w in (self.start_button, self.back_button, self.play_button, self.forward_button,
                  self.end_button, self.slider):
            w.setEnabled(enabled)
        with QSignalBlocker(self.slider):
            self.slider.setMaximum(max(0, self._count - 1))
            self.slider.setPageStep(max(1, self._count // 10))
        target = self._step if step is None else step
        self._step = -1  # force the emit below
        if enabled:
            self.set_step(target)
        else:
            self._step = 0
            self._update_label()

    def set_step(self, step: int) -> None:
        """Go to ``step`` (clamped to 0..count-1) and emit ``step_changed`` if it moved."""
        if self._count == 0:
            return
        step = min(max(int(step), 0), self._count - 1)
        if step == self._step:
            return
        self._step = step
        with QSignalBlocker(self.slider):
            self.slider.setValue(step)
        self._update_label()
        self.step_changed.emit(step)

    def set_speed(self, steps_per_second: int) -> None:
        """Choose the nearest offered speed."""
        index = min(range(len(SPEEDS)), key=lambda k: abs(SPEEDS[k] - steps_per_second))
        self.speed_box.setCurrentIndex(index)
        self._timer.setInterval(self.interval_ms)

    def _update_label(self):
        if self._count == 0:
            self.step_label.setText(tr("no steps"))
        else:
            self.step_label.setText(tr("step {step} / {count}").format(step=self._step + 1,
                                                                      count=self._count))

    # ------------------------------------------------------------ actions
    def play(self) -> None:
        if self._count == 0 or self.is_playing:
            return
        if self._step >= self._count - 1:
            self.set_step(0)  # play again from the start
        self._timer.start(self.interval_ms)
        self.play_button.setIcon(self._pause_icon)
        self.playing_changed.emit(True)

    def pause(self) -> None:
        if not self.is_playing:
            return
        self._timer.stop()
        self.play_button.setIcon(self._play_icon)
        self.playing_changed.emit(False)

    def toggle(self) -> None:
        self.pause() if self.is_playing else self.play()

    def step_forward(self) -> None:
        self.pause()
        self.set_step(self._step + 1)

    def step_back(self) -> None:
        self.pause()
        self.set_step(self._step - 1)

    def to_start(self) -> None:
        self.pause()
        self.set_step(0)

    def to_end(self) -> None:
        self.pause()
        self.set_step(self._count - 1)

    def _tick(self):
        if self._step >= self._count - 1:
            self.pause()
            return
        self.set_step(self._step + 1)
        if self._step >= self._count - 1:
            self.pause()

    def _on_slider(self, value: int):
        self.set_step(value)

    def _on_speed(self, _index: int):
        self._timer.setInterval(self.interval_ms)

    def install_shortcuts(self, widget: QWidget) -> None:
        """Space, Left, Right, Home, End act on this animation while focus is in ``widget``."""
        slots = (self.toggle, self.step_back, self.step_forward, self.to_start, self.to_end)
        for (key, what), slot in zip(_KEYS, slots, strict=True):
            sc = QShortcut(QKeySequence(key), widget)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.setWhatsThis(tr(what))  # the About box lists the keys from these
            sc.activated.connect(slot)
            self._shortcuts.append(sc)
