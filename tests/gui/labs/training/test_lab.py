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


def rgba_image(image: np.ndarray, levels: tuple[float, float], lut: np.ndarray) -> np.ndarray:
    """The oracle for the GUI's colouring (engine.colour): a float image through a
    colour table in numpy, as pyqtgraph's ImageItem maps it, NaN transparent.

    Parameters
    ----------
    image : (H, W) float array (NaN: transparent)
    levels : (low, high) values mapped to the first and last colour
    lut : (n, 4) uint8 colour table

    Returns
    -------
    (H, W, 4) uint8 RGBA array (checked against pyqtgraph's makeARGB below).
    """
    low, high = levels
    n = lut.shape[0]
    scaled = (image - low) * (n / ((high - low) or 1.0))  # pyqtgraph's own scaling
    np.clip(scaled, 0, n - 1, out=scaled)  # NaN stays NaN
    np.copyto(scaled, n, where=np.isnan(scaled))  # NaN -> the transparent row below
    transparent = np.zeros((1, lut.shape[1]), lut.dtype)
    return np.concatenate([lut, transparent]).take(scaled.astype(np.intp), axis=0)  # (H, W, 4)



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
def test_views_show_the_probe_snapshot(qtbot, lab):
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
    np.testing.assert_array_equal(shown, rgba_image(image, (-m, m), _DIVERGING))
    assert (shown[3, :, 3] == 0).all()
    strongest = np.unravel_index(np.argmax(np.abs(image[0:3, 0:3])), (3, 3))
    r, g, b, _ = shown[0:3, 0:3][strongest].astype(int)
    assert (r > b) if image[0:3, 0:3][strongest] > 0 else (b > r)  # red positive, blue negative


def test_layer_maps_show_each_layer_in_the_colours_of_its_levels(qtbot, lab):
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
            expected = rgba_image(image, levels, _DIVERGING if signed else _GREYS)
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


# -- view helpers ------------------------------------------------------------------
@pytest.mark.parametrize("C,H,W", [(1, 5, 5), (8, 28, 28), (16, 14, 14), (10, 3, 7), (3, 1, 1)])
def test_mosaic_places_every_map_once(C, H, W):
    from gui.labs.training.arrays import mosaic

    maps = np.random.default_rng(C).random((C, H, W)).astype(np.float32)
    image = mosaic(maps)
    rows, cols = (image.shape[0] + 1) // (H + 1), (image.shape[1] + 1) // (W + 1)
    assert rows * cols >= C and (rows - 1) * cols < C  # no empty row of tiles
    for c in range(C):
        r, q = divmod(c, cols)
        np.testing.assert_array_equal(image[r * (H + 1):r * (H + 1) + H,
                                            q * (W + 1):q * (W + 1) + W], maps[c])
    # everything else is gap (NaN): exactly C*H*W finite values
    assert np.isfinite(image).sum() == C * H * W


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("shape", [(1, 1), (13, 17), (90, 29)])
def test_rgba_image_matches_pyqtgraphs_own_colouring(signed, shape):
    import pyqtgraph as pg

    from gui.labs.training.views._common import DIVERGING as _DIVERGING
    from gui.labs.training.views._common import GREYS as _GREYS

    rng = np.random.default_rng(shape[0])
    image = rng.normal(scale=2.0, size=shape).astype(np.float32)  # values beyond the levels
    image.ravel()[::7] = np.nan  # gaps between tiles
    lut, levels = (_DIVERGING, (-1.5, 1.5)) if signed else (_GREYS, (0.0, 2.5))
    argb, _ = pg.functions.makeARGB(image, lut=lut, levels=levels)  # the oracle, BGRA
    expected = argb[..., [2, 1, 0, 3]]
    expected[np.isnan(image)] = 0  # transparent
    np.testing.assert_array_equal(rgba_image(image, levels, lut), expected)


def test_vector_grid_and_smoothing():
    from gui.labs.training.arrays import ema, vector_grid

    grid = vector_grid(np.arange(35, dtype=np.float32), cols=16)
    assert grid.shape == (3, 16)
    np.testing.assert_array_equal(grid.ravel()[:35], np.arange(35))
    assert np.isnan(grid.ravel()[35:]).all()
    values = np.array([1.0, 3.0, 2.0, 5.0])
    first, state = ema(values[:2], None, 0.5)
    second, _ = ema(values[2:], state, 0.5)
    expected, acc = [], None
    for v in values:  # the textbook recursion
        acc = v if acc is None else 0.5 * acc + 0.5 * v
        expected.append(acc)
    np.testing.assert_allclose(np.concatenate([first, second]), expected)


def test_index_image_is_the_layout_of_as_image():
    from gui.labs.training.arrays import as_image, index_image

    for shape in [(3, 4, 5), (16, 14, 14), (35,), (7,), (2, 9)]:
        values = np.random.default_rng(len(shape)).normal(size=shape).astype(np.float32)
        image, where = as_image(values), index_image(shape)
        assert where.shape == image.shape and where.dtype == np.int64
        gaps = where < 0
        np.testing.assert_array_equal(np.isnan(image), gaps)
        np.testing.assert_array_equal(image[~gaps], values.reshape(-1)[where[~gaps]])
        assert sorted(where[~gaps]) == list(range(values.size))  # every value exactly once


@pytest.mark.parametrize("n", [1, 999, 1000, 1001, 4321, 100_000])
def test_thin_keeps_the_newest_point_and_the_band_of_a_noisy_curve(n):
    from gui.labs.training.arrays import thin

    rng = np.random.default_rng(n)
    x = np.arange(n, dtype=np.float64)
    y = rng.normal(size=n)
    for envelope in (False, True):
        tx, ty = thin(x, y, max_points=1000, envelope=envelope)
        if n <= 1000:
            assert tx is x and ty is y  # short curves are drawn as they are
            continue
        k = -(-2 * n // 1000) if envelope else -(-n // 1000)
        assert len(tx) <= 1000 + k
        assert np.all(np.diff(tx) >= 0) and tx[0] == 0
        assert tx[-1] == n - 1 and ty[-1] == y[-1]  # the newest point is always drawn
        if envelope:  # every bin drawn as its own minimum and maximum
            m = (n - 1) // k * k
            bins = y[:m].reshape(-1, k)
            np.testing.assert_array_equal(ty[0:2 * len(bins):2], bins.min(axis=1))
            np.testing.assert_array_equal(ty[1:2 * len(bins):2], bins.max(axis=1))
            assert ty.min() == y.min() and ty.max() == y.max()
        else:  # a subset of the points, evenly spaced
            np.testing.assert_array_equal(ty, y[tx.astype(int)])


def test_probability_bars_are_redrawn_only_when_the_change_shows(qtbot):
    from gui.labs.training.views import ProbabilityView

    view = ProbabilityView()
    qtbot.addWidget(view)
    p = np.array([0.05] * 9 + [0.55])
    view.set_probabilities(p)
    drawn = view.bars.opts["height"]
    np.testing.assert_array_equal(drawn, p)
    tiny = p + np.r_[np.full(9, -1e-5), 9e-5]
    view.set_probabilities(tiny)
    assert view.bars.opts["height"] is drawn  # under a pixel: nothing redrawn
    visible = p + np.r_[np.full(9, -0.01), 0.09]
    view.set_probabilities(visible)
    np.testing.assert_array_equal(view.bars.opts["height"], visible)
    flipped = np.r_[0.5, np.full(8, 0.0), 0.5 - 1e-4]  # the best class changes: always redrawn
    view.set_probabilities(np.r_[0.5 - 1e-4, np.full(8, 0.0), 0.5])
    view.set_probabilities(flipped)
    np.testing.assert_array_equal(view.bars.opts["height"], flipped)
    assert view.plot_item.titleLabel.text.startswith("Prediction: 0")


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


def test_live_tail_bounds_its_data_with_a_few_pixels_to_spare(qtbot):
    import pyqtgraph as pg

    from gui.labs.training.views import LiveTail

    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    qtbot.waitExposed(widget)
    widget.setXRange(0, 100, padding=0)
    widget.setYRange(0, 1, padding=0)
    tail = LiveTail(pg.mkPen("b"))
    widget.addItem(tail)
    assert tail.boundingRect().isEmpty() and tail.dataBounds(0) == (None, None)
    x, y = np.array([10.0, 20.0, 30.0]), np.array([0.5, np.nan, 0.25])
    tail.setData(x, y)
    widget.getViewBox().updateMatrix()  # what the view does before it paints
    gx, gy = tail.getData()
    np.testing.assert_array_equal(gx, x)
    assert tail.dataBounds(0) == (10.0, 30.0) and tail.dataBounds(1) == (0.25, 0.5)
    rect = tail.boundingRect()
    pixel_x, pixel_y = 100 / widget.getViewBox().width(), 1 / widget.getViewBox().height()
    assert rect.left() == pytest.approx(10 - 2 * pixel_x, rel=1e-3)
    assert rect.right() == pytest.approx(30 + 2 * pixel_x, rel=1e-3)
    assert rect.top() == pytest.approx(0.25 - 2 * pixel_y, rel=1e-3)
    assert rect.bottom() == pytest.approx(0.5 + 2 * pixel_y, rel=1e-3)
    widget.setXRange(0, 200, padding=0)  # a new view: the padding follows the pixel size
    widget.getViewBox().updateMatrix()
    assert tail.boundingRect().left() == pytest.approx(10 - 4 * pixel_x, rel=1e-3)
