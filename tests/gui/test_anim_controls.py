"""AnimControls: stepping, clamping, scrubbing, playing to the end, keyboard shortcuts."""

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLineEdit, QVBoxLayout, QWidget

from gui.widgets.anim_controls import SPEEDS, AnimControls


@pytest.fixture
def controls(qtbot):
    c = AnimControls()
    qtbot.addWidget(c)
    return c


def test_steps_are_clamped_and_emitted(controls, qtbot):
    seen = []
    controls.step_changed.connect(seen.append)
    controls.set_count(5, step=0)
    assert seen == [0]
    controls.step_forward()
    controls.step_forward()
    controls.step_back()
    assert seen == [0, 1, 2, 1]
    controls.to_end()
    controls.step_forward()  # already at the end: nothing
    assert controls.step == 4 and seen[-1] == 4 and seen.count(4) == 1
    controls.to_start()
    controls.step_back()
    assert controls.step == 0 and seen[-1] == 0
    controls.set_step(99)
    assert controls.step == 4
    assert controls.step_label.text() == "step 5 / 5"


def test_slider_scrubs(controls):
    seen = []
    controls.set_count(10, step=0)
    controls.step_changed.connect(seen.append)
    controls.slider.setValue(7)
    assert controls.step == 7 and seen == [7]
    controls.set_step(3)
    assert controls.slider.value() == 3


def test_new_count_keeps_step_clamped(controls):
    controls.set_count(10, step=8)
    controls.set_count(5)
    assert controls.step == 4
    assert controls.slider.maximum() == 4


def test_empty_animation_disables_everything(controls):
    controls.set_count(0)
    assert not controls.play_button.isEnabled()
    assert not controls.slider.isEnabled()
    controls.play()
    controls.step_forward()
    assert not controls.is_playing
    assert controls.step_label.text() == "no steps"


def test_play_runs_to_the_end_and_stops(controls, qtbot):
    controls.set_speed(SPEEDS[-1])
    controls.set_count(6, step=0)
    with qtbot.waitSignal(controls.playing_changed, timeout=5000,
                          check_params_cb=lambda playing: playing is False):
        controls.play()
        assert controls.is_playing
    assert controls.step == 5
    controls.play()  # at the end, play starts again from the first step
    assert controls.step == 0 and controls.is_playing
    controls.pause()
    assert not controls.is_playing


def test_speed_sets_the_timer(controls):
    controls.set_speed(30)
    assert controls.speed == 30 and controls.interval_ms == 33
    controls.set_speed(3)  # nearest offered speed
    assert controls.speed in (2, 4)


def test_keyboard_shortcuts(qtbot, focus):
    host = QWidget()
    qtbot.addWidget(host)
    edit = QLineEdit("12345")
    controls = AnimControls()
    lay = QVBoxLayout(host)
    lay.addWidget(edit)
    lay.addWidget(controls)
    controls.install_shortcuts(host)
    controls.set_count(10, step=3)
    focus(host)
    qtbot.keyClick(host, Qt.Key.Key_Right)
    assert controls.step == 4
    qtbot.keyClick(host, Qt.Key.Key_Left)
    qtbot.keyClick(host, Qt.Key.Key_Left)
    assert controls.step == 2
    qtbot.keyClick(host, Qt.Key.Key_End)
    assert controls.step == 9
    qtbot.keyClick(host, Qt.Key.Key_Home)
    assert controls.step == 0
    qtbot.keyClick(host, Qt.Key.Key_Space)
    assert controls.is_playing
    qtbot.keyClick(host, Qt.Key.Key_Space)
    assert not controls.is_playing
    # a text field keeps its keys: Left moves the cursor, not the animation
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus)
    step = controls.step
    edit.setCursorPosition(3)
    qtbot.keyClick(edit, Qt.Key.Key_Left)
    assert controls.step == step and edit.cursorPosition() == 2
