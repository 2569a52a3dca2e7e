"""File > Export animation (GIF)… in the stepping labs, and `main.py animation`: the frames
of a GIF are the steps asked for, drawn with the current settings."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.gif import read_gif_frames
from gui.labs.backprop.lab import BackpropLab
from gui.labs.convolution.lab import ConvolutionLab
from gui.labs.pooling.lab import PoolingLab
from gui.widgets.gif_export import AnimationExportDialog, grab_rgb, render_animation
from gui.workers.threads import running_threads

LABS = [ConvolutionLab, PoolingLab, BackpropLab]


def export_and_wait(qtbot, lab, path, **kwargs):
    messages = []
    lab.status_message.connect(messages.append)
    export = lab.export_animation(path, show_progress=False, **kwargs)
    assert export is not None, messages
    with qtbot.waitSignal(export.done, timeout=60000) as blocker:
        pass
    qtbot.waitUntil(lambda: "gif-encoder" not in running_threads(), timeout=5000)
    return blocker.args[0]


@pytest.mark.parametrize("cls", LABS)
def test_a_range_of_steps_is_one_frame_each_and_the_step_comes_back(qtbot, make_lab, tmp_path,
                                                                    cls):
    lab = make_lab(cls)
    lab.show()
    count = lab.controls.count
    assert count >= 4
    lab.controls.set_step(1)
    # the oracle: each step as the lab draws it when a learner steps there
    expected = []
    for k in (2, 3, 4):
        lab.controls.set_step(k)
        qtbot.wait(0)  # layouts settle (as between the export's steps)
        expected.append(grab_rgb(lab.export_widget()))
    lab.controls.set_step(1)
    sentence = export_and_wait(qtbot, lab, tmp_path / "part.gif", first=3, last=5, speed=8)
    assert "part.gif" in sentence and "3" in sentence
    frames, durations, size = read_gif_frames(tmp_path / "part.gif")
    assert frames == 3 and durations == [130] * 3  # 1000/8 ms in GIF's 10 ms units
    assert lab.controls.step == 1
    with Image.open(tmp_path / "part.gif") as gif:
        for k in range(3):
            gif.seek(k)
            shown = np.asarray(gif.convert("RGB").resize(expected[k].shape[1::-1]), np.int16)
            # 256 colours and a smooth downscale: close to the step as drawn, and closer
            # to it than to the other steps
            errors = [np.abs(shown - e).mean() for e in expected]
            assert int(np.argmin(errors)) == k, errors


def test_all_steps_of_the_pooling_lab(qtbot, make_lab, tmp_path):
    lab = make_lab(PoolingLab)
    lab.show()
    export_and_wait(qtbot, lab, tmp_path / "all")  # ".gif" is added
    frames, durations, _ = read_gif_frames(tmp_path / "all.gif")
    assert frames == lab.controls.count
    assert durations[0] == int(1000 / lab.controls.speed / 10 + 0.5) * 10


@pytest.mark.parametrize("kwargs, path, words", [
    ({"first": 5, "last": 2}, "a.gif", "5 to 2"),
    ({}, "missing/a.gif", "does not exist"),
    ({"first": 1, "last": 10_000}, "a.gif", "from 1 to"),
])
def test_a_refused_export_says_why_and_starts_nothing(qtbot, make_lab, tmp_path, kwargs, path,
                                                      words):
    lab = make_lab(ConvolutionLab)
    messages = []
    lab.status_message.connect(messages.append)
    assert lab.export_animation(tmp_path / path, show_progress=False, **kwargs) is None
    assert len(messages) == 1 and words in messages[0]
    assert "gif-encoder" not in running_threads()
    assert not list(tmp_path.glob("*.gif"))


def test_cancelling_writes_nothing_and_closing_the_lab_cancels(qtbot, make_lab, tmp_path):
    lab = make_lab(ConvolutionLab)
    lab.show()
    export = lab.export_animation(tmp_path / "c.gif", show_progress=False)
    with qtbot.waitSignal(export.done, timeout=10000) as blocker:
        export.cancel()
    assert "cancelled" in blocker.args[0]
    export = lab.export_animation(tmp_path / "d.gif", show_progress=False)
    with qtbot.waitSignal(export.done, timeout=10000):
        lab.shutdown()
    qtbot.waitUntil(lambda: "gif-encoder" not in running_threads(), timeout=5000)
    assert not list(tmp_path.glob("*.gif*"))


def test_the_dialog_asks_for_all_steps_or_a_range_and_a_speed(qtbot):
    dialog = AnimationExportDialog(count=20, step=4, speed=4)
    qtbot.addWidget(dialog)
    choice = dialog.choice()
    assert (choice.first, choice.last, choice.speed) == (None, None, 4)
    dialog.last_spin.setValue(9)  # editing the range chooses it
    dialog.speed_combo.setCurrentIndex(dialog.speed_combo.findData(15))
    choice = dialog.choice()
    assert (choice.first, choice.last, choice.speed) == (5, 9, 15)
    assert "20" in dialog.all_radio.text()


def test_the_stepping_labs_have_the_menu_action(make_lab):
    for cls in LABS:
        lab = make_lab(cls)
        actions = lab.menu_actions()
        assert [a.text() for a in actions] == ["Export animation (GIF)…"]


def test_render_animation_is_every_default_step(qtbot, tmp_path):
    path, frames = render_animation("pooling", tmp_path / "p.gif", language="en")
    count, durations, size = read_gif_frames(path)
    assert count == frames == 9  # the default 6x6 input, 2x2 window, stride 2: 3x3 steps
    assert size[0] <= 1000
    with pytest.raises(ValueError, match="convolution, pooling, backprop"):
        render_animation("training", tmp_path / "t.gif")


def test_a_long_export_shows_its_progress_and_closes_it(qtbot, make_lab, tmp_path):
    lab = make_lab(ConvolutionLab)
    lab.show()
    export = lab.export_animation(tmp_path / "long.gif")  # with the progress dialog
    assert export.progress is not None and export.progress.maximum() == lab.controls.count
    with qtbot.waitSignal(export.done, timeout=60000) as blocker:
        pass
    assert "long.gif" in blocker.args[0]
    assert export._k == lab.controls.count  # every step drawn and counted
    assert read_gif_frames(tmp_path / "long.gif")[0] == lab.controls.count
    assert not export.progress.isVisible()
    qtbot.waitUntil(lambda: "gif-encoder" not in running_threads(), timeout=5000)
