"""The Training lab driven like a user would: builder, buttons, views, files, drawing.

A 768-digit slice of MNIST and a one-block network keep each run to seconds.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PyQt6.QtCore import QPointF, Qt

from engine.network import describe_spec
from engine.training_loop import TrainingConfig
from gui.labs.training.blocks import ConvBlock, Head
from gui.labs.training.lab import TrainingLab
from gui.labs.training.session import State
from gui.workers.threads import stop_all

SMALL_BLOCKS = [ConvBlock(filters=4, kernel=3, stride=1, padding=1, pool="max", pool_size=2)]
SMALL_CONFIG = TrainingConfig(optimizer="adam", lr=3e-3, batch_size=32, epochs=1, seed=0,
                              augment=False, schedule="constant")


@pytest.fixture(scope="module")
def small_data(warm_mnist):
    train_x, train_y, val_x, val_y = warm_mnist
    return train_x[:768], train_y[:768], val_x[:200], val_y[:200]


@pytest.fixture
def lab(qtbot, small_data):
    lab = TrainingLab(data=small_data)
    qtbot.addWidget(lab)
    lab.test_frames, lab.test_cursor = [], 0
    lab.frame_drawn.connect(lab.test_frames.append)
    lab.resize(1400, 900)
    lab.builder.set_blocks(SMALL_BLOCKS, Head())
    lab.session.set_spec(lab.builder.spec())
    lab.set_config(SMALL_CONFIG)
    lab.reset()
    yield lab
    lab.shutdown()
    assert not lab.session.has_worker
    assert stop_all(timeout_s=60)  # what the shell does after the labs' shutdown()


def click(qtbot, button):
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def wait_frame(qtbot, lab, predicate=lambda f: True, timeout=30000):
    """The first frame drawn since the last wait_frame that satisfies ``predicate``.

    Frames are recorded from the lab's creation on (see the fixture), so a frame
    that arrived while a click was being processed is not missed.
    """
    def found():
        while lab.test_cursor < len(lab.test_frames):
            frame = lab.test_frames[lab.test_cursor]
            lab.test_cursor += 1
            if predicate(frame):
                lab.test_hit = frame
                return True
        return False

    lab.test_hit = None
    qtbot.waitUntil(found, timeout=timeout)
    return lab.test_hit


# -- builder ---------------------------------------------------------------------
def test_invalid_network_is_explained_in_place(qtbot, lab):
    # three 7x7 valid convolutions with pooling cannot fit a 28x28 digit
    bad = [ConvBlock(4, 7, 1, 0, "relu", False, "max", 2)] * 3
    lab.builder.set_blocks(bad, Head())
    spec = lab.builder.spec()
    with pytest.raises(ValueError) as err:
        describe_spec(spec, (1, 28, 28))
    assert lab.builder.error_label.isVisible() or not lab.isVisible()
    assert not lab.builder.error_label.isHidden()
    text = lab.builder.error_label.text()
    assert str(err.value) in text and "layer" in text
    # the block holding the bad layer is marked in the table's row header
    marked = [r for r in range(3) if "✗" in lab.builder.table.verticalHeaderItem(r).text()]
    assert marked == [2]
    with qtbot.waitSignal(lab.state_changed, timeout=5000):
        lab.builder._debounce.start()  # what an edit in the table does
    assert lab.state is State.INVALID and not lab.controls.start_button.isEnabled()


def test_editing_a_block_updates_the_summary(qtbot, lab):
    lab.builder.add_block()
    spin = lab.builder.table.cellWidget(1, 0)  # filters of the new block
    spin.setValue(12)
    rows = lab.builder.summary.rowCount()
    texts = [lab.builder.summary.item(r, 1).text() for r in range(rows)]
    assert "12 x 14 x 14" in texts
    assert lab.builder.blocks()[1].filters == 12
    with qtbot.waitSignal(lab.state_changed, timeout=5000):
        pass  # the debounced rebuild
    assert lab.state is State.IDLE
    assert lab.trainer.network.layers[3].params["w"].shape[0] == 12


# -- training through the GUI ----------------------------------------------------
def test_short_training_run_raises_validation_accuracy(qtbot, lab):
    lab.controls.epochs.setValue(2)
    click(qtbot, lab.controls.start_button)
    assert lab.state is State.RUNNING
    qtbot.waitUntil(lambda: lab.state is State.FINISHED, timeout=120000)
    acc = lab.curves.validation_accuracies()
    assert len(acc) == 3  # epoch 0 (untrained), 1, 2
    assert acc[0] < 0.3 and acc[-1] > acc[0] + 0.3, acc
    assert lab.trainer.epoch == 2
    assert lab.frames_drawn > 0
    # the confusion matrix shows the last evaluation
    confusion = lab.session.last_eval.result.confusion
    assert confusion.sum() == 200
    assert np.trace(confusion) / 200 == pytest.approx(acc[-1])
    # the Validation tab draws it when it is shown (hidden, it is not redrawn every epoch)
    lab.tabs.setCurrentIndex(2)
    texts = lab.confusion._texts
    shown = [[texts[r * 10 + c].toPlainText() for c in range(10)] for r in range(10)]
    assert shown == [[str(n) if n else "" for n in row] for row in confusion]


def test_pause_stops_the_steps_and_step_trains_one(qtbot, lab):
    lab.controls.epochs.setValue(50)
    click(qtbot, lab.controls.start_button)
    wait_frame(qtbot, lab, lambda f: f.iteration > 0)
    click(qtbot, lab.controls.pause_button)
    assert lab.state is State.PAUSED
    frame = wait_frame(qtbot, lab, lambda f: not f.running)
    paused_at = frame.iteration
    assert not lab.controls.pause_button.isEnabled()
    click(qtbot, lab.controls.step_button)
    frame = wait_frame(qtbot, lab, lambda f: f.iteration != paused_at)
    assert frame.iteration == paused_at + 1
    click(qtbot, lab.controls.resume_button)
    assert lab.state is State.RUNNING
    wait_frame(qtbot, lab, lambda f: f.iteration > paused_at + 1)


def test_learning_rate_changes_while_training(qtbot, lab):
    lab.controls.epochs.setValue(50)
    click(qtbot, lab.controls.start_button)
    wait_frame(qtbot, lab, lambda f: f.iteration > 0)
    lab.controls.lr.setValue(0.0005)
    frame = wait_frame(qtbot, lab, lambda f: f.lr == pytest.approx(0.0005))
    assert frame.running


def test_worker_stops_within_a_second_when_the_window_closes(qtbot, lab):
    lab.controls.epochs.setValue(50)
    click(qtbot, lab.controls.start_button)
    wait_frame(qtbot, lab, lambda f: f.iteration > 0)
    thread = lab.session._worker.thread()
    assert thread.isRunning()
    lab.shutdown()  # what the main window calls from its closeEvent: returns at once
    qtbot.waitUntil(thread.isFinished, timeout=1000)  # the event loop goes on meanwhile
    assert not lab.session.has_worker


def test_switching_labs_keeps_training_in_the_background(qtbot, lab):
    lab.controls.epochs.setValue(50)
    statuses = []
    lab.background_status.connect(statuses.append)
    click(qtbot, lab.controls.start_button)
    wait_frame(qtbot, lab, lambda f: f.iteration > 0)
    thread = lab.session._worker.thread()
    lab.deactivated()  # another lab is shown: nothing waits, nothing stops
    assert thread.isRunning() and lab.state is State.RUNNING
    drawn, received, at = lab.frames_drawn, lab.session.frames_received, lab.trainer.iteration
    # training goes on, the indicator says how far, and no frame is drawn
    qtbot.waitUntil(lambda: lab.session.frames_received > received + 1 and bool(statuses),
                    timeout=30000)
    assert re.fullmatch(r"Training: epoch \d+ of 50, \d+%", statuses[-1]), statuses
    assert lab.trainer.iteration > at
    assert lab.frames_drawn == drawn
    lab.pause()  # the shell's one-click pause from its indicator
    assert lab.state is State.PAUSED and statuses[-1] == ""
    lab.activated()
    frame = wait_frame(qtbot, lab, lambda f: not f.running)  # drawn again
    # the curves hold every step trained while the lab was hidden
    x, _ = lab.curves.curve("loss", "raw").getData()
    np.testing.assert_array_equal(x, np.arange(1, frame.iteration + 1))
    click(qtbot, lab.controls.resume_button)
    wait_frame(qtbot, lab, lambda f: f.iteration > frame.iteration)


def test_diverging_run_shows_its_message(qtbot, lab):
    lab.controls.optimizer.setCurrentIndex(lab.controls.optimizer.findData("adam"))
    lab.controls.lr.setValue(10.0)
    lab.controls.epochs.setValue(50)
    click(qtbot, lab.controls.start_button)
    qtbot.waitUntil(lambda: lab.state is State.DIVERGED, timeout=60000)
    message = lab.controls.message
    assert not message.isHidden()
    assert "diverged" in message.text() and "learning rate" in message.text()
    assert not lab.controls.resume_button.isEnabled()
    assert not lab.controls.step_button.isEnabled()
    for p in lab.trainer.network.parameters():
        assert np.all(np.isfinite(p))
    click(qtbot, lab.controls.reset_button)
    assert lab.state is State.IDLE and lab.trainer.iteration == 0


# -- views -----------------------------------------------------------------------------
def test_views_show_the_probe_snapshot(qtbot, lab, colour_oracle):
    from gui.labs.training.views._common import DIVERGING as _DIVERGING

    lab.tabs.setCurrentIndex(1)
    click(qtbot, lab.controls.step_button)
    frame = wait_frame(qtbot, lab, lambda f: f.iteration == 1)
    snap = frame.snapshot
    expected = lab.trainer.snapshot(lab.val_x[0], label=int(lab.val_y[0]))
    np.testing.assert_allclose(snap.probabilities, expected.probabilities, rtol=1e-5)
    # every non-flatten layer has a feature and a delta view, filled in place
    names = lab.feature_maps.names()
    assert names == [layer.name for layer in lab.trainer.network.layers
                     if not layer.name.startswith("flatten")]
    conv_values = lab.feature_maps.values("conv1")
    assert conv_values is not None and np.nanmax(np.abs(conv_values)) > 0
    heights = lab.probe_probs.bars.opts["height"]
    np.testing.assert_allclose(heights, snap.probabilities)
    # the kernel mosaic shows the first layer's current weights, tile by tile
    lab.tabs.setCurrentIndex(0)
    view = lab.kernels_view
    image = view.values  # 4 kernels 3x3 -> 2x2 tiles with a 1-pixel gap
    w = lab.trainer.network.layers[0].params["w"]
    np.testing.assert_array_equal(image[0:3, 0:3], w[0, 0])
    np.testing.assert_array_equal(image[4:7, 4:7], w[3, 0])
    assert np.isnan(image[3]).all() and np.isnan(image[:, 3]).all()
    # on screen: the diverging map over +-max|w| (0 white), the gaps transparent
    m = np.abs(w).max()
    assert view.levels == (-m, m)
    shown = view.item.image  # (H, W, 4) RGBA
    np.testing.assert_array_equal(shown, colour_oracle(image, (-m, m), _DIVERGING))
    assert (shown[3, :, 3] == 0).all()
    strongest = np.unravel_index(np.argmax(np.abs(image[0:3, 0:3])), (3, 3))
    r, g, b, _ = shown[0:3, 0:3][strongest].astype(int)
    assert (r > b) if image[0:3, 0:3][strongest] > 0 else (b > r)  # red positive, blue negative


def test_layer_maps_show_each_layer_in_the_colours_of_its_levels(qtbot, lab, colour_oracle):
    from gui.labs.training.arrays import as_image
    from gui.labs.training.views._common import DIVERGING as _DIVERGING
    from gui.labs.training.views._common import GREYS as _GREYS
    from gui.widgets.colormaps import symmetric_levels

    lab.tabs.setCurrentIndex(1)
    click(qtbot, lab.controls.step_button)
    snap = wait_frame(qtbot, lab, lambda f: f.iteration == 1).snapshot
    for view, named, always_signed in ((lab.feature_maps, snap.activations, False),
                                       (lab.delta_maps, snap.deltas, True)):
        for name, array in named:
            if name not in view.names():
                continue
            image = as_image(array)
            finite = image[np.isfinite(image)]
            signed = always_signed or finite.min() < 0
            levels = symmetric_levels(image) if signed else (0.0, max(finite.max(), 1e-12))
            expected = colour_oracle(image, levels, _DIVERGING if signed else _GREYS)
            # the pixels on screen (the shared canvas, sampled back one per value)
            np.testing.assert_array_equal(view.displayed(name), expected, err_msg=name)


def test_hidden_curves_catch_up_when_their_tab_is_shown(qtbot, lab):
    lab.tabs.setCurrentIndex(1)  # curves hidden: their points are stored, not drawn
    for k in range(1, 4):
        click(qtbot, lab.controls.step_button)
        wait_frame(qtbot, lab, lambda f, k=k: f.iteration == k)
    lab.tabs.setCurrentIndex(0)
    x, loss = lab.curves.curve("loss", "raw").getData()
    np.testing.assert_array_equal(x, [1, 2, 3])
    low, high = lab.curves.loss_plot.viewRange()[1]
    assert low <= 0 and high >= loss.max()  # the loss axis starts at 0 and holds every loss
    low, high = lab.grad_view.plot_item.viewRange()[1]  # log10 units
    for curve in lab.grad_view._curves.values():
        x, log_norms = curve.getData()  # log mode: the plotted values are log10
        np.testing.assert_array_equal(x, [1, 2, 3])
        assert low <= log_norms.min() and log_norms.max() <= high


def test_clicking_a_misclassified_digit_makes_it_the_probe(qtbot, lab):
    lab.tabs.setCurrentIndex(2)
    qtbot.waitUntil(lambda: lab.session.last_eval is not None, timeout=30000)
    view = lab.misclassified
    assert len(view._indices) > 0  # an untrained network gets most digits wrong
    target = int(view._indices[1])
    view.click_at(QPointF(30 + 14, 14))  # the second tile
    assert lab.session.probe.index == target
    assert lab.tabs.currentIndex() == 1
    assert lab.probe_spin.value() == target


def test_drawing_becomes_the_probe_with_the_right_shape(qtbot, lab):
    lab.tabs.setCurrentIndex(3)
    frames = []
    lab.frame_drawn.connect(frames.append)
    lab.canvas.draw_stroke([(140, 40), (140, 240)])
    qtbot.waitUntil(lambda: lab.session.probe.drawn, timeout=5000)
    image = lab.session.probe.image
    assert image.shape == (1, 28, 28) and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0 and image.max() > 0.5
    qtbot.waitUntil(lambda: any(f.probe_id == lab.session.probe_id for f in frames), timeout=30000)
    frame = frames[-1]
    expected = lab.trainer.network.predict_proba(image[None])[0]
    np.testing.assert_allclose(frame.snapshot.probabilities, expected, rtol=1e-5, atol=1e-7)
    # the bars are redrawn when a probability moves by a visible amount
    np.testing.assert_allclose(lab.draw_probs.bars.opts["height"], expected, rtol=0,
                               atol=lab.draw_probs.VISIBLE_CHANGE)


# -- files ------------------------------------------------------------------------------
def test_save_then_load_gives_identical_predictions(qtbot, lab, small_data, tmp_path):
    for _ in range(3):
        lab.step()
    wait_frame(qtbot, lab, lambda f: f.iteration == 3)
    path = tmp_path / "model.npz"
    with qtbot.waitSignal(lab.model_saved, timeout=10000) as blocker:
        lab.save_model(str(path))
    assert blocker.args == [str(path), ""]
    lab.shutdown()
    assert stop_all(timeout_s=60)  # the worker no longer owns the network
    before = lab.trainer.network.predict_proba(small_data[2])

    other = TrainingLab(data=small_data)
    qtbot.addWidget(other)
    try:
        assert other.load_model(str(path))
        assert other.state is State.PAUSED
        after = other.trainer.network.predict_proba(small_data[2])
        np.testing.assert_array_equal(after, before)
        assert other.builder.blocks() == SMALL_BLOCKS
    finally:
        other.shutdown()
        assert stop_all(timeout_s=60)


def test_loading_a_bad_model_file_says_so(qtbot, lab, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    messages = []
    lab.status_message.connect(messages.append)
    trainer = lab.trainer
    assert not lab.load_model(str(bad))
    assert messages and messages[-1].startswith("Could not load the model")
    assert lab.trainer is trainer


def test_spec_json_round_trip(qtbot, lab, tmp_path):
    path = tmp_path / "net.json"
    lab.save_spec(str(path))
    assert json.loads(path.read_text())[0]["type"] == "conv"
    lab.builder.set_blocks([ConvBlock(filters=6)], Head(hidden=16))
    assert lab.load_spec(str(path))
    assert lab.builder.blocks() == SMALL_BLOCKS
    (tmp_path / "junk.json").write_text('{"type": "conv"}')
    assert not lab.load_spec(str(tmp_path / "junk.json"))


def test_menu_actions_and_screenshot(qtbot, lab):
    texts = [a.text() for a in lab.menu_actions()]
    assert any("Save trained model" in t for t in texts)
    assert any("Load network spec" in t for t in texts)
    lab.prepare_screenshot(steps=30)
    assert lab.trainer.iteration == 30 and lab.state is State.PAUSED
    assert len(lab.curves.validation_accuracies()) == 2  # epoch 0 and epoch 1 (24 steps)
    assert not lab.grab().isNull()


def test_keyboard_shortcuts_start_pause_and_step(qtbot, lab):
    from PyQt6.QtGui import QKeySequence, QShortcut

    shortcuts = {sc.key().toString(): sc for sc in lab.findChildren(QShortcut)}
    assert set(shortcuts) >= {"Ctrl+Return", "Ctrl+.", "Ctrl+Shift+R"}
    lab.controls.epochs.setValue(50)
    shortcuts["Ctrl+Return"].activated.emit()
    assert lab.state is State.RUNNING
    wait_frame(qtbot, lab, lambda f: f.iteration > 0)
    shortcuts["Ctrl+Return"].activated.emit()
    assert lab.state is State.PAUSED
    paused_at = wait_frame(qtbot, lab, lambda f: not f.running).iteration
    shortcuts["Ctrl+."].activated.emit()
    assert wait_frame(qtbot, lab, lambda f: f.iteration != paused_at).iteration == paused_at + 1
    assert QKeySequence("Ctrl+Return") == shortcuts["Ctrl+Return"].key()


def test_frames_skip_the_probe_pass_unless_its_maps_are_shown(qtbot, lab):
    from gui.labs.training.arrays import as_image

    lab.tabs.setCurrentIndex(0)  # curves: kernels and gradient norms only
    click(qtbot, lab.controls.step_button)
    frame = wait_frame(qtbot, lab, lambda f: f.iteration == 1)
    assert not frame.snapshot.has_maps and frame.snapshot.kernels.shape[0] == 4
    assert lab.feature_maps.values("conv1") is None  # nothing drawn yet
    lab.tabs.setCurrentIndex(1)  # paused: showing the maps asks for a frame with them
    frame = wait_frame(qtbot, lab, lambda f: f.snapshot is not None and f.snapshot.has_maps)
    assert frame.iteration == 1 and not frame.running
    expected = lab.trainer.snapshot(lab.val_x[0], label=int(lab.val_y[0]))
    np.testing.assert_allclose(lab.feature_maps.values("conv1"),
                               as_image(dict(expected.activations)["conv1"]), rtol=1e-5)
