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

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
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

__all__ = ["AnimControls", "SPEEDS"]

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
        self.start_button = self._button(icon(sp.SP_MediaSkipBackward), "To the first step (Home)",
                                         self.to_start)
        self.back_button = self._button(icon(sp.SP_MediaSeekBackward), "Step back (Left)",
                                        self.step_back)
        self.play_button = self._button(icon(sp.SP_MediaPlay), "Play / pause (Space)", self.toggle)
        self.forward_button = self._button(icon(sp.SP_MediaSeekForward),
                                           "Step forward (Right)", self.step_forward)
        self.end_button = self._button(icon(sp.SP_MediaSkipForward), "To the last step (End)",
                                       self.to_end)
        self._play_icon, self._pause_icon = icon(sp.SP_MediaPlay), icon(sp.SP_MediaPause)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Scrub through the steps")
        self.slider.setMinimum(0)
        self.slider.setMinimumWidth(60)
        self.slider.valueChanged.connect(self._on_slider)
        self.step_label = QLabel()
        self.step_label.setMinimumWidth(90)
        self.speed_box = QComboBox()
        self.speed_box.setToolTip("Playing speed (steps per second)")
        for s in SPEEDS:
            self.speed_box.addItem(f"{s} step/s" if s == 1 else f"{s} steps/s", s)
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

    def _button(self, icon, tip, slot) -> QToolButton:
        b = QToolButton()
        b.setIcon(icon)
        b.setToolTip(tip)
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
        self.slider.blockSignals(True)
        self.slider.setMaximum(max(0, self._count - 1))
        self.slider.setPageStep(max(1, self._count // 10))
        self.slider.blockSignals(False)
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
        self.slider.blockSignals(True)
        self.slider.setValue(step)
        self.slider.blockSignals(False)
        self._update_label()
        self.step_changed.emit(step)

    def set_speed(self, steps_per_second: int) -> None:
        """Choose the nearest offered speed."""
        index = min(range(len(SPEEDS)), key=lambda k: abs(SPEEDS[k] - steps_per_second))
        self.speed_box.setCurrentIndex(index)
        self._timer.setInterval(self.interval_ms)

    def _update_label(self):
        if self._count == 0:
            self.step_label.setText("no steps")
        else:
            self.step_label.setText(f"step {self._step + 1} / {self._count}")

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
        keys = {
            Qt.Key.Key_Space: self.toggle,
            Qt.Key.Key_Left: self.step_back,
            Qt.Key.Key_Right: self.step_forward,
            Qt.Key.Key_Home: self.to_start,
            Qt.Key.Key_End: self.to_end,
        }
        for key, slot in keys.items():
            sc = QShortcut(QKeySequence(key), widget)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)
            self._shortcuts.append(sc)
