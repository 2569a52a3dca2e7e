"""The Training lab driven like a user would: builder, buttons, views, files, drawing.

A 768-digit slice of MNIST and a one-block network keep each run to seconds.
"""

from __future__ import annotations

import json
import os
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

TAB_PROBE, TAB_DRAW = 1, 3
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


@pytest.mark.parametrize("spin, typed, words", [
    (lambda lab: lab.controls.epochs, "500",
     ["Epochs: 500 is above the largest value allowed here, 200", "it stays 1"]),
    (lambda lab: lab.controls.batch, "0",
     ["Batch size: 0 is below the smallest value allowed here, 1", "it stays 32"]),
    (lambda lab: lab.controls.lr, "200", ["Learning rate: 200 is above", "100.00000"]),
    (lambda lab: lab.controls.seed, "3000000000", ["Seed: 3e+09 is above", "2147483647"]),
    (lambda lab: lab.builder.table.cellWidget(0, 1), "12",
     ["Block 1, Kernel: 12 is above the largest value allowed here, 11", "it stays 3"]),
    (lambda lab: lab.builder.hidden_spin, "2000",
     ["Hidden units: 2000 is above the largest value allowed here, 1024"]),
    (lambda lab: lab.data_panel.size_spin, "2",
     ["Image size: 2 is below the smallest value allowed here, 4;", "it stays 32"]),
    (lambda lab: lab.probe_spin, "5000",
     ["5000 is above the largest value allowed here, 199", "it stays 0"]),
])
def test_a_typed_value_outside_the_range_is_explained_in_place(qtbot, lab, spin, typed, words):
    from tests.gui.labs.test_base import note_of, type_and_enter

    lab.show()
    qtbot.waitExposed(lab)
    spin = spin(lab)
    if spin is lab.probe_spin:
        lab.tabs.setCurrentIndex(TAB_PROBE)
    before, config, blocks = spin.value(), lab.controls.config(), lab.builder.blocks()
    with qtbot.waitSignal(lab.status_message, timeout=2000) as message:
        type_and_enter(qtbot, spin, typed)
    assert spin.value() == before  # nothing changes ...
    assert lab.controls.config() == config and lab.builder.blocks() == blocks
    note = note_of(spin)
    assert note is not None and note.isVisible()  # ... and the lab says why, in place
    qtbot.waitUntil(lambda: note.visibleRegion().boundingRect().height() > 0)  # in view
    for word in words:
        assert word in note.text(), note.text()
        assert word in message.args[0]
    spin.setValue(spin.minimum() if before != spin.minimum() else spin.maximum())
    assert not note.isVisible()  # the next accepted value takes the note away


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


def test_a_lab_deleted_while_training_stops_its_worker_and_hears_nothing_after(
        qtbot, small_data):
    """A lab deleted without shutdown() (a test's, an embedding's): its worker stops, and
    what it still sends is dropped instead of reaching a deleted widget."""
    from PyQt6 import sip
    doomed = TrainingLab(data=small_data)
    doomed.builder.set_blocks(SMALL_BLOCKS, Head())
    doomed.session.set_spec(doomed.builder.spec())
    doomed.set_config(SMALL_CONFIG)
    doomed.reset()
    doomed.controls.epochs.setValue(50)
    click(qtbot, doomed.controls.start_button)
    qtbot.waitUntil(lambda: doomed.session.frames_received > 1, timeout=30000)
    session, worker = doomed.session, doomed.session._worker
    thread = worker.thread()
    received = session.frames_received
    doomed.deleteLater()
    qtbot.waitUntil(lambda: sip.isdeleted(doomed), timeout=5000)
    qtbot.waitUntil(thread.isFinished, timeout=10000)  # stopped without shutdown()
    from PyQt6.QtWidgets import QApplication
    QApplication.processEvents()  # what it queued before it stopped arrives: dropped
    assert session.frames_received <= received + 1
    assert stop_all(timeout_s=60)


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


# -- honest state (issue 9, item 21) -----------------------------------------------------
HINT = "Preparing the fast kernels — first start only…"


def record_panel(lab):
    """Every (fraction, bar text, line) the progress panel shows from now on."""
    shown = []
    original = lab.controls.show_progress

    def recording(progress):
        shown.append((progress.fraction, progress.bar, progress.info))
        original(progress)

    lab.controls.show_progress = recording
    return shown


def test_the_panel_reads_the_runs_progress_and_finished_is_finished(qtbot, lab):
    lab.controls.epochs.setValue(5)
    shown = record_panel(lab)
    click(qtbot, lab.controls.start_button)
    assert lab.controls.info.text() == HINT  # at once, before any frame (a first compile)
    qtbot.waitUntil(lambda: lab.state is State.FINISHED, timeout=120000)
    ipe = lab.trainer.iterations_per_epoch
    done = next(k for k, (_f, bar, _i) in enumerate(shown) if bar.endswith(": done"))
    running = shown[:done]
    assert running and all(bar.endswith(": done") for _f, bar, _i in shown[done:])
    for fraction, bar, info in running:
        match = re.fullmatch(r"epoch (\d) of 5: (\d+)% done", bar)
        assert match or bar == "epoch -", bar
        if match:  # the bar is the whole run's: its percentage is its fill
            assert int(match.group(2)) == round(100 * fraction)
            iteration = round(fraction * 5 * ipe)
            assert int(match.group(1)) == (iteration - 1) // ipe + 1
        speed = re.match(r"([\d.]+) batches/s, about .+ left; learning rate now", info)
        assert info in (HINT, "measuring the speed…; learning rate now 0.003") or (
            speed and float(speed.group(1)) > 0), info
    fractions = [s[0] for s in running]
    assert fractions == sorted(fractions) and max(fractions) <= 1.0
    # finished is finished: the bar full, the accuracy, only Reset left
    assert lab.controls.progress.text() == "epoch 5 of 5: done"
    assert lab.controls.progress.fraction() == 1.0
    info = lab.controls.info.text()
    acc = lab.session.last_eval.result.accuracy
    assert info == (f"Finished: 5 epoch(s), validation accuracy {acc:.1%}. Raise Epochs to "
                    "train further.")
    for button in (lab.controls.start_button, lab.controls.pause_button,
                   lab.controls.resume_button, lab.controls.step_button):
        assert not button.isEnabled(), button.text()
    assert lab.controls.reset_button.isEnabled()
    messages = []
    lab.status_message.connect(messages.append)
    lab.toggle()
    assert lab.state is State.FINISHED and "raise Epochs" in messages[-1]
    lab.controls.epochs.setValue(6)  # more epochs: Resume goes on
    assert lab.state is State.PAUSED and lab.controls.resume_button.isEnabled()
    assert lab.controls.progress.text() == "epoch 5 of 6: 83% done"


def test_a_loaded_model_says_it_is_one(qtbot, lab, tmp_path):
    from engine.network import Network

    path = tmp_path / "trained.npz"
    Network(lab.trainer.network.spec, seed=5).save(path)
    assert lab.load_model(str(path))
    assert lab.controls.progress.text() == "loaded model · 0 of 1 epochs trained here"
    assert "Not trained" not in lab.controls.info.text()
    qtbot.waitUntil(lambda: "validation accuracy" in lab.controls.info.text(), timeout=30000)
    acc = lab.session.last_eval.result.accuracy
    assert lab.controls.info.text() == (f"Loaded model: validation accuracy {acc:.1%}; "
                                        "Resume trains it further.")
    assert lab.controls.resume_button.isEnabled()


def test_a_blank_canvas_shows_no_prediction(qtbot, lab):
    lab.tabs.setCurrentIndex(TAB_DRAW)
    lab.canvas.draw_stroke([(140, 40), (140, 240)])
    qtbot.waitUntil(lambda: lab.session.probe.drawn, timeout=5000)
    qtbot.waitUntil(lambda: re.match(r"Prediction: \d \(", lab.draw_probs._title) is not None,
                    timeout=30000)
    click(qtbot, lab.clear_button)
    qtbot.waitUntil(lambda: not lab.session.probe.drawn, timeout=5000)
    assert lab.draw_probs._title == "Prediction: draw a digit"
    assert not np.any(lab.draw_probs.bars.opts["height"])
    assert all(lab.draw_maps.values(name) is None for name in lab.draw_maps.names())
    click(qtbot, lab.controls.step_button)  # later frames do not bring a prediction back
    wait_frame(qtbot, lab, lambda f: f.iteration == 1)
    assert lab.draw_probs._title == "Prediction: draw a digit"



def label_overlaps(view) -> list[tuple[str, str]]:
    """(label, map) pairs where a layer's label covers a drawn map, and (label, label)
    pairs where two labels cover each other, in scene pixels."""
    from PyQt6.QtCore import QRectF
    from PyQt6.QtGui import QPolygonF

    view.grab()  # paint it: labels take their place on the screen when painted
    squares = {}
    for name in view.names():
        rect = view.square_rect(name)
        if rect is not None:
            corners = QPolygonF(QRectF(*rect))
            squares[name] = view.view.mapViewToScene(corners).boundingRect()
    hits, texts = [], {}
    for name in view.names():
        label = view.label_item(name)
        if not label.isVisible():
            continue
        text = texts[name] = label.textItem.sceneBoundingRect()
        hits += [(name, other) for other, square in squares.items() if text.intersects(square)]
    names = list(texts)  # and no label runs into another ("maxpool1conv2")
    hits += [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
             if texts[a].intersects(texts[b])]
    return hits


@pytest.mark.parametrize("size", [(1400, 900), (1210, 840), (1110, 720), (900, 600),
                                  (850, 640)])
def test_layer_labels_never_cover_a_map(qtbot, lab, size):
    two_blocks = SMALL_BLOCKS + [ConvBlock(filters=8, kernel=3, stride=1, padding=1, pool="max",
                                           pool_size=2)]
    lab.builder.set_blocks(two_blocks, Head())  # 7 layers: side by side, labels crowd
    lab.session.set_spec(lab.builder.spec())
    lab.reset()
    lab.resize(*size)
    lab.show()
    qtbot.waitExposed(lab)
    lab.tabs.setCurrentIndex(TAB_DRAW)
    lab.canvas.draw_stroke([(140, 40), (140, 240)])
    qtbot.waitUntil(lambda: lab.session.probe.drawn, timeout=5000)
    click(qtbot, lab.controls.step_button)
    wait_frame(qtbot, lab, lambda f: f.iteration == 1 and f.probe_id == lab.session.probe_id
               and f.snapshot.has_maps)
    qtbot.waitUntil(lambda: all(lab.draw_maps.square_rect(n) is not None
                                for n in lab.draw_maps.names()), timeout=5000)
    assert label_overlaps(lab.draw_maps) == []
    lab.tabs.setCurrentIndex(TAB_PROBE)  # drawn from the same snapshot
    for view in (lab.feature_maps, lab.delta_maps):
        qtbot.waitUntil(lambda v=view: all(v.square_rect(n) is not None for n in v.names()),
                        timeout=5000)
        assert label_overlaps(view) == []
    if size == (1400, 900):  # room for the whole label: name, shape and largest value
        assert lab.draw_maps.label_lines() == 3 and lab.feature_maps.label_lines() == 3


# -- hostile input (issue 9, items 12 and 13) -------------------------------------------------
def hostile_spec_files(tmp_path):
    head = [{"type": "flatten"}, {"type": "dense", "units": 10}]
    files = {}

    def write(name, text, mode="w"):
        path = tmp_path / name
        with open(path, mode) as f:
            f.write(text)
        files[name] = path

    write("thousands.json", json.dumps([{"type": "conv", "filters": 1, "kernel": 1},
                                        {"type": "relu"}] * 3000 + head))
    write("impossible.json", json.dumps([{"type": "conv", "filters": 4, "kernel": 29}] + head))
    write("five-classes.json", json.dumps([{"type": "conv", "filters": 2, "kernel": 3},
                                           {"type": "flatten"}, {"type": "dense", "units": 5}]))
    write("nested.json", "[" * 100_000 + "]" * 100_000)
    write("huge.json", "[" + " " * 2_000_000 + "]")
    write("latin1.json", b'[{"type": "conv", "name": "\xe9"}]', "wb")
    write("infinite.json", '[{"type": "conv", "filters": Infinity, "kernel": 3}, '
                           '{"type": "flatten"}, {"type": "dense", "units": 10}]')
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    files["fifo"] = fifo
    files["device"] = "/dev/zero"  # reading it would never end
    files["missing"] = tmp_path / "missing.json"
    return files


def test_a_spec_that_cannot_be_loaded_keeps_the_trained_model(qtbot, lab, tmp_path):
    for _ in range(3):
        lab.step()
    wait_frame(qtbot, lab, lambda f: f.iteration == 3)
    trainer, blocks = lab.trainer, lab.builder.blocks()
    messages = []
    lab.status_message.connect(messages.append)
    for name, path in hostile_spec_files(tmp_path).items():
        assert not lab.load_spec(str(path)), name
        assert messages[-1].startswith("Could not load the network spec: "), (name, messages)
        assert len(messages[-1]) < 300 and "Traceback" not in messages[-1]
        assert lab.trainer is trainer and trainer.iteration == 3, name
        assert lab.builder.blocks() == blocks and lab.state is State.PAUSED, name
    assert lab.session.has_worker  # the worker of the trained model was never stopped


def test_a_model_that_cannot_be_used_keeps_the_trained_model(qtbot, lab, tmp_path):
    from engine.network import Network

    lab.step()
    wait_frame(qtbot, lab, lambda f: f.iteration == 1)
    trainer = lab.trainer
    colour = tmp_path / "colour.npz"
    Network([{"type": "flatten"}, {"type": "dense", "units": 10}], input_shape=(3, 8, 8)).save(
        colour)
    five = tmp_path / "five.npz"
    Network([{"type": "flatten"}, {"type": "dense", "units": 5}]).save(five)
    for path in (colour, five, tmp_path / "none.npz"):
        assert not lab.load_model(str(path))
        assert lab.trainer is trainer and lab.state is State.PAUSED


def test_a_twenty_class_head_is_followed_by_every_view(qtbot, lab, tmp_path):
    spec = [{"type": "conv", "filters": 4, "kernel": 3, "stride": 1, "padding": 1},
            {"type": "relu"}, {"type": "maxpool", "size": 2, "stride": 2},
            {"type": "flatten"}, {"type": "dense", "units": 20}]
    path = tmp_path / "twenty.json"
    path.write_text(json.dumps(spec))
    messages = []
    lab.status_message.connect(messages.append)
    assert lab.load_spec(str(path))
    assert lab.trainer.network.num_classes == 20
    assert "20 classes" in lab.builder.head_box.title()
    lab.tabs.setCurrentIndex(TAB_PROBE)
    lab.controls.epochs.setValue(50)
    click(qtbot, lab.controls.start_button)
    wait_frame(qtbot, lab, lambda f: f.iteration > 20 and f.snapshot is not None
               and f.snapshot.has_maps and f.probe_id == lab.session.probe_id)
    # the frames go on (the frame list may already hold later frames: count draws)
    drawn = lab.frames_drawn
    qtbot.waitUntil(lambda: lab.frames_drawn > drawn, timeout=30000)
    assert lab.probe_probs.classes == 20
    assert len(lab.probe_probs.bars.opts["height"]) == 20
    click(qtbot, lab.controls.pause_button)
    lab.tabs.setCurrentIndex(2)
    assert lab.confusion.classes == 20 and len(lab.confusion._texts) == 400
    confusion = lab.session.last_eval.result.confusion
    assert confusion.shape == (20, 20) and confusion.sum() == 200
    assert not [m for m in messages if "could not be drawn" in m]


def test_an_exception_while_drawing_is_reported_once_and_the_frames_go_on(qtbot, lab):
    def broken(kernels, live=False):
        raise ValueError("a view that cannot draw")

    lab.kernels_view.set_kernels = broken  # drawn on every frame of the Curves tab
    messages = []
    lab.status_message.connect(messages.append)
    lab.controls.epochs.setValue(50)
    click(qtbot, lab.controls.start_button)
    qtbot.waitUntil(lambda: lab.session.frames_received >= 8, timeout=30000)
    failures = [m for m in messages if "could not be drawn" in m]
    assert failures == ["A view could not be drawn (ValueError: a view that cannot draw); "
                        "training goes on."]
    assert lab.trainer.iteration > 0 and lab.state is State.RUNNING


# -- threads (issue 9, items 5 and 6) ---------------------------------------------------------
def test_leaving_and_closing_never_wait_for_a_long_step(qtbot, lab):
    """A big network's step takes seconds: switching labs and closing return while it is
    still running; the worker stops right after it."""
    import threading

    inside, release = threading.Event(), threading.Event()
    trainer = lab.trainer
    real_step = trainer.step

    def long_step():
        inside.set()
        assert release.wait(60)
        return real_step()

    trainer.step = long_step
    click(qtbot, lab.controls.start_button)
    qtbot.waitUntil(inside.is_set, timeout=30000)
    thread = lab.session._worker.thread()
    lab.deactivated()
    lab.activated()
    lab.deactivated()
    lab.shutdown()  # returned, with the step still running
    assert thread.isRunning() and not lab.session.has_worker
    release.set()
    qtbot.waitUntil(thread.isFinished, timeout=2000)  # within the step
    assert trainer.iteration == 1


QUIT_SCRIPT = r"""
import os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PyQt6.QtWidgets import QApplication
app = QApplication([])
from engine.data import mnist_split
from engine.training_loop import TrainingConfig
from gui.labs.training.blocks import ConvBlock, Head
from gui.labs.training.lab import TrainingLab
from gui.workers.threads import stop_all
train_x, train_y, val_x, val_y = mnist_split()
lab = TrainingLab(data=(train_x[:512], train_y[:512], val_x[:1000], val_y[:1000]))
big = [ConvBlock(filters=64, kernel=7, stride=1, padding=3, pool="max", pool_size=2)] * 4
lab.builder.set_blocks(big, Head())
lab.session.set_spec(lab.builder.spec())
lab.set_config(TrainingConfig(batch_size=64, epochs=10))
lab.start()
start = time.monotonic()
while lab.trainer.iteration < 1 and time.monotonic() - start < 240:
    app.processEvents()
t = time.monotonic()
lab.deactivated()  # the learner opens another lab
switch = time.monotonic() - t
t = time.monotonic()
lab.shutdown()  # ... and closes the window
closed = time.monotonic() - t
ok = stop_all(2.0)  # what the shell does at exit
print(f"iterations {lab.trainer.iteration} switch {switch:.3f}s shutdown {closed:.3f}s "
      f"stopped {ok} after {time.monotonic() - t:.2f}s", flush=True)
sys.exit(0 if ok else 3)
"""


@pytest.mark.slow
def test_quitting_after_leaving_a_busy_lab_with_a_big_network_never_aborts(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "quit.py"
    script.write_text(QUIT_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=600, cwd=os.getcwd())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "QThread: Destroyed" not in done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert re.search(r"iterations [1-9]", done.stdout), done.stdout


# -- translation -------------------------------------------------------------------------
class MarkingCatalog:
    """A translation that marks every text it was asked for: ‹text›."""

    def gettext(self, message):
        return f"‹{message}›"

    def ngettext(self, singular, plural, n):
        return f"‹{singular if n == 1 else plural}›"


def _visible_texts(lab):
    """Every static text of the lab's Qt widgets (buttons, labels, boxes, tabs, headers)."""
    from PyQt6.QtCore import QCoreApplication, QEvent
    from PyQt6.QtWidgets import QAbstractButton, QComboBox, QGroupBox, QLabel, QTableWidget

    # the builder's replaced rows are deleted later: not part of the lab any more
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    texts = [lab.tabs.tabText(k) for k in range(lab.tabs.count())]
    texts += [a.text() for a in lab.menu_actions()]
    for w in lab.findChildren(QAbstractButton):
        texts.append(w.text())
    for w in lab.findChildren(QGroupBox):
        texts.append(w.title())
    for w in lab.findChildren(QLabel):
        texts.append(w.text())
    for w in lab.findChildren(QComboBox):
        texts += [w.itemText(k) for k in range(w.count()) if w.itemData(k) not in
                  ("relu", "tanh", "sigmoid", "max", "avg")]  # names of layers, not words
    for table in lab.findChildren(QTableWidget):
        texts += [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    return [t for t in texts if t]


def test_every_text_of_the_lab_is_translated_again_by_retranslate(qtbot, lab, monkeypatch):
    import engine.i18n

    lab.show()
    qtbot.waitExposed(lab)
    lab.tabs.setCurrentIndex(TAB_PROBE)
    lab.prepare_screenshot(steps=6)  # every view with its live texts too
    monkeypatch.setattr(engine.i18n, "_translation", MarkingCatalog())
    lab.retranslate()
    untranslated = [t for t in _visible_texts(lab) if "‹" not in t]
    assert untranslated == []
    # the views' own texts (plot titles, captions) and the live panel
    assert "‹" in lab.curves.loss_plot.titleLabel.text
    assert "‹" in lab.grad_view.plot_item.titleLabel.text
    assert "‹" in lab.confusion.plot.titleLabel.text
    assert "‹" in lab.kernels_view.label.text and "‹" in lab.misclassified.label.text
    assert "‹" in lab.probe_probs.plot_item.titleLabel.text
    assert "‹" in lab.probe_view.title() and "‹" in lab.drawn_view.title()
    assert "‹max" in lab.feature_maps.label_item("conv1").textItem.toHtml()
    legend = [label.text for _sample, label in lab.curves.loss_plot.legend.items]
    assert legend and all("‹" in text for text in legend)
    lab.step()  # texts made later go through tr() as well
    wait_frame(qtbot, lab, lambda f: f.iteration == 7)
    assert "‹" in lab.controls.info.text() and "‹" in lab.controls.progress.text()


def test_echo_signals_are_blocked_with_context_managers_only():
    from pathlib import Path

    import gui.labs.training

    package = Path(gui.labs.training.__file__).parent
    offenders = [str(p) for p in package.rglob("*.py") if "blockSignals(" in p.read_text()]
    assert offenders == []


def test_the_lab_takes_the_digits_read_in_the_background(qtbot, monkeypatch):
    # the shell calls prefetch() in an idle moment before the lab is first opened
    import gui.labs.training.lab as training
    from engine.data import mnist_split

    monkeypatch.setattr(training, "_reader", None)
    training.prefetch()
    reader = training._reader
    lab = TrainingLab()
    qtbot.addWidget(lab)
    try:
        assert training._reader is None and reader.done  # taken, once
        assert lab.val_x is reader.value.val_x  # these digits, not a second read
        expected = mnist_split()
        np.testing.assert_array_equal(lab.val_x, expected.val_x)
        np.testing.assert_array_equal(lab.val_y, expected.val_y)
    finally:
        lab.shutdown()


def test_a_tab_built_when_first_shown_shows_what_the_lab_shows_now(qtbot, lab):
    # the hidden tabs are built when first shown (the lab opens faster): built late, they
    # follow the network, the probe and the session as if they had been there all along
    from gui.labs.training.lab import TAB_BATCHNORM, TAB_VALIDATION

    hidden = (TAB_PROBE, TAB_VALIDATION, TAB_DRAW, TAB_BATCHNORM)
    assert not any(lab.lazy_tabs.is_built(tab) for tab in hidden)
    lab.probe_spin.setValue(7)
    lab.tabs.setCurrentIndex(TAB_PROBE)
    assert lab.lazy_tabs.is_built(TAB_PROBE)
    assert lab.tabs.currentWidget().isAncestorOf(lab.feature_maps)
    network = lab.trainer.network
    layers = [info.name for info in network.summary() if info.type != "flatten"]
    assert list(lab.feature_maps._cells) == layers == list(lab.delta_maps._cells)
    assert lab.probe_probs.classes == network.num_classes
    assert lab.session.probe.index == 7
    np.testing.assert_array_equal(lab.probe_view.item.image, lab.val_x[7, 0])
    assert not lab.lazy_tabs.is_built(TAB_VALIDATION)  # only the tab shown
    # a session that was on the Validation tab opens it, built
    part, arrays = lab.session_state()
    part["tab"] = TAB_VALIDATION
    assert lab.restore_session(part, arrays) == 0
    assert lab.tabs.currentIndex() == TAB_VALIDATION
    assert lab.confusion.classes == network.num_classes
    assert lab.tabs.currentWidget().isAncestorOf(lab.confusion)
