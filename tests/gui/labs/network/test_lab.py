"""The Network lab driven like a learner would (qtbot): without a model, with the
Training lab's network (trained here, loaded from a file, training in the background),
clicking neurons, the numbers of the neuron panel against the engine and the textbook
loops, the backward picture, 3-channel inputs and every kind of network the builder
makes (through a fake model source)."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import QCoreApplication, Qt, QTimer

from engine import reference
from engine.losses import softmax_cross_entropy
from engine.network import Network
from engine.neuron import Neuron
from engine.training_loop import TrainingConfig
from gui.labs.network.lab import NetworkLab
from gui.labs.network.session import Mode, Scale
from gui.labs.network.views.neuron import CARDS, num
from gui.labs.training.lab import TrainingLab
from gui.labs.training.sharing import SharedModel, SharedWeights
from gui.workers.threads import stop_all

SIZE = (1210, 860)


@pytest.fixture(scope="module")
def small_data(warm_mnist):
    """512 training and 120 validation digits of the embedded split."""
    return tuple(a[:n] for a, n in zip(warm_mnist, (512, 512, 120, 120), strict=True))


@pytest.fixture
def labs(qtbot, small_data):
    """(network lab, the Training lab's holder): the Training lab is built when the
    Network lab asks for it with build=True, like the shell does."""
    lab, held = open_labs(qtbot, small_data)
    yield lab, held
    close_labs([(lab, held)])


def open_labs(qtbot, data):
    """A shown Network lab whose finder builds a Training lab on ``data`` when asked."""
    held: dict = {}

    def finder(key, build):
        if key == "training" and "training" not in held and build:
            held["training"] = TrainingLab(data=data)
            qtbot.addWidget(held["training"])
        return held.get(key)

    lab = NetworkLab(finder=finder)
    qtbot.addWidget(lab)
    record(lab)
    lab.resize(*SIZE)
    lab.show()
    qtbot.waitExposed(lab)
    return lab, held


def close_labs(made) -> None:
    """Shut the (lab, held) pairs down and wait for every thread."""
    for lab, held in made:
        lab.shutdown()
        if "training" in held:
            held["training"].shutdown()
    assert stop_all(timeout_s=60)
    QCoreApplication.processEvents()


def record(lab):
    """Record every inspection the lab draws from now on (none is missed by a wait)."""
    lab.test_results, lab.test_cursor = [], 0
    lab.inspected.connect(lab.test_results.append)


def wait_inspection(qtbot, lab, predicate=lambda r: True, timeout=30000):
    """The first inspection drawn since the last wait that satisfies ``predicate``."""
    hit = []

    def found():
        while lab.test_cursor < len(lab.test_results):
            result = lab.test_results[lab.test_cursor]
            lab.test_cursor += 1
            if predicate(result):
                hit.append(result)
                return True
        return False

    qtbot.waitUntil(found, timeout=timeout)
    return hit[0]


def click_neuron(qtbot, lab, neuron):
    """Click the centre of ``neuron``'s cell on the overview (it must be on the page)."""
    view = lab.overview.view
    col = view.layout_.column_of_layer(neuron.layer)
    if col.kind == "maps":
        c, i, j = neuron.index
        x, y, w, h = col.cells_rect(c, i, j, i + 1, j + 1)
    else:
        x, y, w, h = col.unit_rect(neuron.index[0])
    # the canvas pixel under the cell's centre (the click lands on whole pixels)
    point = view.canvas_point(np.floor(x + w / 2) + 0.25, np.floor(y + h / 2) + 0.25)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)


def texts(values) -> list[list[str]]:
    """The numbers a MatrixView writes in the cells of ``values``."""
    from gui.widgets.matrix_view import format_cell

    return [[format_cell(float(v), False) for v in row] for row in np.asarray(values)]


def cells(view) -> list[list[str]]:
    """The numbers a MatrixView shows now."""
    return texts(view.values)


def engine_pass(result, spec, input_shape):
    """The engine's own forward and backward pass for the inspection's image and weights."""
    net = Network(spec, input_shape=input_shape)
    net.set_state(result.state)
    logits, caches, acts = net.forward_pure(result.image[None], training=False)
    _, dlogits = softmax_cross_entropy(logits, np.array([result.target]))
    dx, _, deltas = net.backward_pure(dlogits, caches)
    return net, [a[0] for a in acts], [d[0] for d in deltas], dx[0]


# -- without a model ------------------------------------------------------------------
def test_without_a_model_it_says_how_to_get_one(qtbot):
    lab = NetworkLab(finder=lambda key, build: None)
    qtbot.addWidget(lab)
    lab.resize(*SIZE)
    lab.show()
    lab.activated()
    assert lab.pages.currentIndex() == 0
    text = lab.empty_text.text()
    assert "Training lab" in text and "model file" in text
    assert lab.open_training_button.isVisible() and lab.load_button.isVisible()
    with qtbot.waitSignal(lab.open_lab_requested) as blocker:
        qtbot.mouseClick(lab.open_training_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] == "training"
    assert not lab.grab().isNull()
    messages = []
    lab.status_message.connect(messages.append)
    assert not lab.load_model("/nonexistent.npz")  # no Training lab to load it into
    assert messages and "Training lab" in messages[-1]
    lab.shutdown()


def test_a_model_file_is_loaded_into_the_training_lab_and_shown(qtbot, labs, tmp_path):
    lab, held = labs
    lab.activated()
    assert lab.pages.currentIndex() == 0 and "training" not in held
    path = tmp_path / "model.npz"
    spec = [{"type": "conv", "filters": 5, "kernel": 5, "padding": 2}, {"type": "relu"},
            {"type": "avgpool", "size": 2}, {"type": "flatten"}, {"type": "dense",
                                                                   "units": 10}]
    Network(spec, seed=4).save(path)
    assert lab.load_model(str(path))
    result = wait_inspection(qtbot, lab)
    assert lab.pages.currentIndex() == 1
    assert held["training"].session.loaded_from == str(path)
    assert [c[1] for c in lab.session.columns] == ["input", "conv1", "relu1", "avgpool1",
                                                   "flatten1", "dense1"]
    assert "loaded from" in lab.info.text()
    net, acts, _, _ = engine_pass(result, lab.session.model.spec, (1, 28, 28))
    saved = Network.load(path)
    for key, value in saved.get_state().items():
        np.testing.assert_array_equal(result.state[key], value)
    for ours, theirs in zip(result.activations, acts, strict=True):
        np.testing.assert_array_equal(ours, theirs)


# -- with the Training lab's network ----------------------------------------------------
@pytest.fixture
def trained(qtbot, labs):
    lab, held = labs
    lab.prepare_screenshot(steps=20)  # trains in this thread, selects a conv2 neuron
    lab.activated()
    training = held["training"]
    assert training.trainer.iteration >= 20
    return lab, training


def test_every_number_of_a_conv_cell_is_the_engines(qtbot, trained):
    lab, training = trained
    target = Neuron(3, (5, 6, 7))  # conv2 of the default network
    lab.session.go_to_page(0)
    click_neuron(qtbot, lab, target)
    assert lab.session.selection == target
    result = wait_inspection(qtbot, lab, lambda r: r.neuron == target)
    net, acts, _, _ = engine_pass(result, lab.session.model.spec, (1, 28, 28))
    conv = net.layers[3]
    x = np.float64(acts[2])  # maxpool1's output feeds conv2
    w, b = np.float64(conv.params["w"]), float(conv.params["b"][5])
    panel = lab.neuron
    assert panel.stack.currentWidget() is panel.conv
    assert num(float(acts[3][5, 6, 7])) in panel.title.text()
    # the cards: the largest partial sums first, each window and kernel as the engine's
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    window = padded[:, 6:9, 7:10]  # stride 1, padding 1: rows 6-8, columns 7-9
    sums = (window * w[5]).sum(axis=(1, 2))
    order = np.argsort(-np.abs(sums), kind="stable")
    for card, c in zip(panel.conv.cards, order[:CARDS], strict=True):
        assert cells(card.window) == texts(window[c])  # the numbers in the cells
        assert cells(card.kernel) == texts(w[5, c])
        assert f"channel {c + 1}" in card.head.text()
        assert num(float(sums[c])) in card.head.text()
    # the partial sums of all 16 channels, the bias, the total and the activation
    one = [reference.conv2d_forward(x[None, c:c + 1], w[5:6, c:c + 1], np.zeros(1), 1, 1)
           [0, 0, 6, 7] for c in range(16)]
    for c in range(16):
        assert f"{c + 1}: {num(float(one[c]))}" in panel.conv.sums.text()
    total = reference.conv2d_forward(x[None], w[5:6], np.array([b]), 1, 1)[0, 0, 6, 7]
    equation = panel.conv.equation.text()
    assert f"<b>{num(float(total))}</b>" in equation and num(b) in equation
    assert f"relu2: <b>{num(max(float(total), 0.0))}</b>" in equation
    # the other channels on the next pages
    panel.conv.next_button.click()
    assert panel.conv.cards[0].head.text().startswith(f"channel {order[CARDS] + 1}")
    # the receptive field is written out for this network: conv2 on 28x28 with 3x3
    # kernels, padding 1 and a 2x2 pool sees 8x8 input pixels (6x6 on conv1)
    field = panel.field.text()
    assert "input: <b>8×8</b>" in field and "conv1: <b>6×6</b>" in field
    assert "maxpool1: <b>3×3</b>" in field
    segs = lab.overview.view.segments("field")
    assert len(segs) > 0 and len(lab.overview.view.segments("cursor")) == 4


def test_pool_and_output_neurons(qtbot, trained):
    lab, training = trained
    pool = Neuron(2, (1, 3, 4))
    click_neuron(qtbot, lab, pool)
    result = wait_inspection(qtbot, lab, lambda r: r.neuron == pool)
    net, acts, _, _ = engine_pass(result, lab.session.model.spec, (1, 28, 28))
    window = np.float64(acts[1][1, 6:8, 8:10])
    panel = lab.neuron
    assert panel.stack.currentWidget() is panel.pool
    assert cells(panel.pool.window) == texts(window)
    best = reference.max_pool2d_forward(np.float64(acts[1])[None], 2, 2)[0][0, 1, 3, 4]
    assert f"<b>{num(float(best))}</b>" in panel.pool.equation.text()
    r, q = divmod(int(np.argmax(window)), 2)
    assert panel.pool.window.window_rect() == (r, q, 1, 1)
    out = Neuron(7, (int(result.target),))
    click_neuron(qtbot, lab, out)
    result = wait_inspection(qtbot, lab, lambda r: r.neuron == out)
    net, acts, _, _ = engine_pass(result, lab.session.model.spec, (1, 28, 28))
    dense = net.layers[7]
    k = out.index[0]
    contributions = np.float64(acts[6]) * np.float64(dense.params["w"][:, k])
    order = np.argsort(-np.abs(contributions), kind="stable")
    rows = panel.table_rows()
    for row, d in zip(rows, order, strict=False):
        assert row[1] == num(float(acts[6][d])) and row[3] == num(float(contributions[d]))
        c, i, j = np.unravel_index(d, (32, 7, 7))
        assert row[0] == f"maxpool2 · map {c + 1} · ({i}, {j})"
    assert f"{result.probabilities[k]:.1%}" in panel.terms.summary.text()
    assert num(float(acts[7][k])) in panel.terms.summary.text()
    assert lab.overview.view.class_texts()[k].endswith(f"{result.probabilities[k]:.0%}")


def test_the_backward_picture_and_where_a_delta_came_from(qtbot, trained):
    lab, training = trained
    lab.display.backward_radio.setChecked(True)
    assert lab.session.mode is Mode.BACKWARD
    target = Neuron(2, (0, 2, 2))  # maxpool1: read by every 3x3 window of conv2 over it
    click_neuron(qtbot, lab, target)
    result = wait_inspection(qtbot, lab, lambda r: r.neuron == target)
    net, acts, deltas, dx = engine_pass(result, lab.session.model.spec, (1, 28, 28))
    for ours, theirs in zip(result.deltas, deltas, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-12)
    conv = net.layers[3]
    ref_dx, _, _ = reference.conv2d_backward(np.float64(deltas[3])[None],
                                             np.float64(acts[2])[None],
                                             np.float64(conv.params["w"]), 1, 1)
    panel = lab.neuron
    assert panel.stack.currentWidget() is panel.terms
    assert num(float(deltas[2][0, 2, 2])) in panel.title.text()
    assert f"<b>{num(float(ref_dx[0, 0, 2, 2]))}</b>" in panel.terms.summary.text()
    assert "288 cells of conv2" in panel.terms.intro.text()  # 32 filters x 3 x 3
    for row in panel.table_rows():
        assert row[0].startswith("conv2 · map ")
    assert len(lab.overview.view.segments("sources")) > 0  # outlined in conv2
    # the delta maps are drawn in the diverging map, centred on 0 (levels -m, m)
    levels = lab.overview.view.levels[3]
    m = float(np.abs(deltas[3]).max())
    assert levels == pytest.approx((-m, m), rel=1e-6)
    # a relu2 cell that is not the maximum of its 2x2 pooling window gets nothing back
    relu = np.float64(acts[4][0])  # map 1 of relu2 (14, 14)
    i, j = next((i, j) for i in range(14) for j in range(14)
                if divmod(int(np.argmax(relu[i // 2 * 2:i // 2 * 2 + 2,
                                             j // 2 * 2:j // 2 * 2 + 2])), 2)
                != (i % 2, j % 2))
    loser = Neuron(4, (0, i, j))
    click_neuron(qtbot, lab, loser)
    result = wait_inspection(qtbot, lab, lambda r: r.neuron == loser)
    assert result.delta_cell.terms == () and result.deltas[4][0, i, j] == 0
    assert "not the maximum" in panel.terms.summary.text()


def test_colour_scales_per_map_layer_and_all(qtbot, trained, ):
    lab, _ = trained
    view = lab.overview.view
    result = lab.session.inspection
    acts = result.activations
    lab.display.scale_box.setCurrentIndex(1)
    assert view.levels[1] == pytest.approx((0.0, float(acts[1].max())), rel=1e-6)
    lab.display.scale_box.setCurrentIndex(0)
    assert lab.session.scale is Scale.MAP
    c = lab.overview.layout_.column_of_layer(1).channels[0]
    assert view.levels[(1, c)] == pytest.approx((0.0, float(acts[1][c].max())), rel=1e-6)
    lab.display.scale_box.setCurrentIndex(2)
    every = np.concatenate([result.image.ravel()] + [a.ravel() for a in acts])
    m = float(np.abs(every).max())
    assert view.levels[1] == pytest.approx((-m, m) if every.min() < 0
                                           else (0.0, m), rel=1e-6)
    # the pixels of a map are its values through the colour table
    lab.display.scale_box.setCurrentIndex(1)
    pixels = view.pixels(0, 0)  # conv1 map 1
    lo, hi = view.levels[0]
    col = lab.overview.layout_.column_of_layer(0)
    x0, y0 = col.thumb_rect(0)[:2]
    idx = col.index_map[int(y0) - col.top:int(y0) - col.top + pixels.shape[0],
                        int(x0) - col.left:int(x0) - col.left + pixels.shape[1]]
    from gui.labs.training.views._common import DIVERGING, GREYS
    lut = DIVERGING if lo < 0 else GREYS
    n = lut.shape[0]
    values = np.float32(acts[0]).ravel()[idx]
    scaled = np.clip((values - np.float32(lo)) * np.float32(n / (hi - lo)), 0, n - 1)
    np.testing.assert_array_equal(pixels, lut[scaled.astype(np.intp)])


def test_live_while_the_training_lab_trains_in_the_background(qtbot, labs):
    lab, held = labs
    lab.activated()
    lab.load_button.setEnabled(True)
    lab._connect_training(build=True)
    training = held["training"]
    training.set_config(TrainingConfig(lr=3e-3, batch_size=32, epochs=1000,
                                       schedule="constant", augment=False))
    training.start()
    training.deactivated()  # the shell: the Training lab hides, training goes on
    qtbot.waitUntil(lambda: len({r.iteration for r in lab.test_results}) >= 3
                    and lab.test_results[-1].iteration > 0, timeout=60000)
    seen = [r.iteration for r in lab.test_results]
    assert seen == sorted(seen)  # the weights only move forward
    qtbot.waitUntil(lambda: "training in the background" in lab.info.text(), timeout=10000)
    lab.deactivated()
    assert not lab._timer.isActive() and not lab.session.visible
    asked = []
    training.request_weights = lambda request_id: asked.append(request_id) or True
    for _ in range(5):
        lab.session.throttle.request()
        lab.session.tick()  # what the (stopped) timer would do: hidden, nothing is asked
    assert asked == []
    lab.activated()
    assert lab._timer.isActive()
    qtbot.waitUntil(lambda: bool(asked), timeout=10000)  # shown again: asked at once
    del training.request_weights
    training.pause()


def test_the_drawing_and_misclassified_images(qtbot, trained):
    lab, training = trained
    panel = lab.inputs
    panel.source_box.setCurrentIndex(panel.source_box.findData("drawing"))
    assert panel.canvas.isVisible()
    panel.canvas.draw_stroke([(140, 40), (140, 240)])
    result = wait_inspection(qtbot, lab, lambda r: r.label is None)
    assert result.target == result.predicted
    np.testing.assert_allclose(result.image, panel.canvas.network_input(), atol=1e-6)
    panel.source_box.setCurrentIndex(panel.source_box.findData("misclassified"))
    qtbot.waitUntil(lambda: lab.session.misclassified is not None, timeout=30000)
    wrong = lab.session.misclassified
    net = Network(lab.session.model.spec)
    net.set_state(lab.session.weights.state)
    predicted = net.predict(training.val_x)
    np.testing.assert_array_equal(wrong.indices, np.flatnonzero(predicted != training.val_y))
    if len(wrong.indices):
        result = wait_inspection(qtbot, lab, lambda r: r.label is not None
                                 and r.predicted != r.label)
        assert lab.session.choice.dataset_index == wrong.indices[0]


# -- any network, 3 channels (a fake model source) -------------------------------------------
class FakeSource:
    """A model source answering weight requests at once (like a paused Training lab)."""

    def __init__(self, lab, spec, data, input_shape, seed=0):
        self.lab = lab
        self.network = Network(spec, input_shape=input_shape, seed=seed)
        self.model = SharedModel(1, self.network.spec, input_shape, self.network.num_classes,
                                 data)

    def shared_model(self):
        return self.model

    def request_weights(self, request_id):
        state = self.network.get_state()
        QTimer.singleShot(0, lambda: self.lab.session.on_weights(
            SharedWeights(1, 5, state, request_id)))
        return True


BUILDER_NETWORKS = [
    # four blocks: batch norm, every activation, max and average pooling, a hidden layer
    [{"type": "conv", "filters": 6, "kernel": 3, "padding": 1}, {"type": "batchnorm"},
     {"type": "relu"}, {"type": "maxpool", "size": 2},
     {"type": "conv", "filters": 8, "kernel": 3, "padding": 1}, {"type": "batchnorm"},
     {"type": "tanh"}, {"type": "avgpool", "size": 2},
     {"type": "conv", "filters": 40, "kernel": 3, "padding": 1}, {"type": "sigmoid"},
     {"type": "conv", "filters": 4, "kernel": 1, "stride": 2},
     {"type": "flatten"}, {"type": "dense", "units": 24}, {"type": "relu"},
     {"type": "dense", "units": 10}],
    [{"type": "conv", "filters": 3, "kernel": 5, "stride": 2, "padding": 2},
     {"type": "flatten"}, {"type": "dense", "units": 10}],
]


@pytest.mark.parametrize("channels, spec", [(1, BUILDER_NETWORKS[0]), (3, BUILDER_NETWORKS[0]),
                                            (3, BUILDER_NETWORKS[1])])
def test_every_builder_network_and_three_channel_images(qtbot, channels, spec):
    rng = np.random.default_rng(channels)
    shape = (channels, 28, 28)
    data = (rng.uniform(size=(20, *shape)).astype(np.float32), rng.integers(10, size=20),
            rng.uniform(size=(12, *shape)).astype(np.float32), rng.integers(10, size=12))
    lab = NetworkLab()
    qtbot.addWidget(lab)
    record(lab)
    lab.resize(*SIZE)
    lab.show()
    qtbot.waitExposed(lab)
    source = FakeSource(lab, spec, data, shape)
    lab.session.attach(source)
    lab.activated()
    result = wait_inspection(qtbot, lab)
    assert result.image.shape == shape
    layout = lab.overview.layout_
    assert layout.thumb >= 28 and len(layout.columns) == len(spec) + 1
    # the 40-channel layer is paged: its maps are on several pages
    if any(layer.get("filters") == 40 for layer in spec):
        assert layout.pages > 1
    # a click on every column's first neuron opens it, with a sensible panel
    for col in layout.columns:
        if col.kind == "maps" and not col.channels:
            continue
        index = (col.channels[0], 0, 0) if col.kind == "maps" else (0,)
        neuron = Neuron(col.layer, index)
        click_neuron(qtbot, lab, neuron)
        assert lab.session.selection == neuron, (lab.session.selection, neuron)
        result = wait_inspection(qtbot, lab, lambda r, n=neuron: r.neuron == n)
        value = result.values(col.layer)[index]
        assert num(float(value)) in lab.neuron.title.text()
        assert result.receptive_field[-1].layer == col.layer
    lab.display.backward_radio.setChecked(True)
    lab.session.go_to_page(layout.pages - 1)
    assert lab.overview.layout_.page == layout.pages - 1
    assert not lab.grab().isNull()
    if channels == 3:  # drawing is for 28x28 grey digits only
        item = lab.inputs.source_box.model().item(lab.inputs.source_box.findData("drawing"))
        assert not item.isEnabled()
    lab.shutdown()
    assert stop_all(timeout_s=60)


# -- translation -------------------------------------------------------------------------
class MarkingCatalog:
    """A translation that marks every text it was asked for: ‹text›."""

    def gettext(self, message):
        return f"‹{message}›"

    def ngettext(self, singular, plural, n):
        return f"‹{singular if n == 1 else plural}›"


def test_every_text_is_translated_again_by_retranslate(qtbot, trained, monkeypatch):
    from PyQt6.QtWidgets import QAbstractButton, QComboBox, QGroupBox, QLabel, QTableWidget

    import engine.i18n

    lab, _ = trained
    monkeypatch.setattr(engine.i18n, "_translation", MarkingCatalog())
    lab.retranslate()
    texts = [a.text() for a in lab.menu_actions()]
    texts += [w.text() for w in lab.findChildren(QAbstractButton) if w.isVisible()]
    texts += [w.title() for w in lab.findChildren(QGroupBox)]
    texts += [w.text() for w in lab.findChildren(QLabel) if w.isVisible()]
    for w in lab.findChildren(QComboBox):
        texts += [w.itemText(k) for k in range(w.count())]
    for table in lab.findChildren(QTableWidget):
        texts += [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())
                  if table.horizontalHeaderItem(c) is not None]
    words = [t for t in texts if any(ch.isalpha() for ch in t)]
    assert words and [t for t in words if "‹" not in t] == []
    assert "‹" in lab.overview.view.header_text(0)


# -- the hand-off to the Convolution lab ------------------------------------------------------
def _hand_off(qtbot, lab, neuron):
    """Select ``neuron``, press "Step through", deliver to a real Convolution lab."""
    from gui.labs.convolution.lab import ConvolutionLab

    click_neuron(qtbot, lab, neuron)
    wait_inspection(qtbot, lab, lambda r: r.neuron == neuron)
    assert lab.neuron.handoff_button.isVisible()
    with qtbot.waitSignal(lab.open_lab_requested) as blocker:
        qtbot.mouseClick(lab.neuron.handoff_button, Qt.MouseButton.LeftButton)
    key, deliver = blocker.args
    assert key == "convolution"
    conv = ConvolutionLab()
    qtbot.addWidget(conv)
    deliver(conv)
    return conv, lab.convolution_example()


def test_the_hand_off_reproduces_the_networks_value(qtbot, trained):
    lab, _ = trained
    # conv1 reads the one-channel image: every channel goes over, the value is the same
    neuron = Neuron(0, (3, 9, 14))
    conv, example = _hand_off(qtbot, lab, neuron)
    result = lab.session.inspection
    _, acts, _, _ = engine_pass(result, lab.session.model.spec, (1, 28, 28))
    step = conv.trace[conv.controls.step]
    assert (step.f, step.i, step.j) == (0, 9, 14)
    assert step.value == pytest.approx(float(acts[0][3, 9, 14]), rel=1e-5, abs=1e-6)
    assert example.rest == 0.0 and example.note == ""
    np.testing.assert_array_equal(conv.setup.x[0], np.float64(result.image))
    np.testing.assert_array_equal(conv.setup.w[0], np.float64(result.state["conv1.w"][3]))
    assert conv.setup.padding == (1, 1) and conv.setup.stride == (1, 1)
    # a relu cell after conv2 hands over conv2's cell: 16 input maps, 3 shown, the rest
    # in the note, and the lab's value plus the rest is the network's
    neuron = Neuron(4, (7, 5, 6))
    conv, example = _hand_off(qtbot, lab, neuron)
    result = lab.session.inspection
    _, acts, _, _ = engine_pass(result, lab.session.model.spec, (1, 28, 28))
    step = conv.trace[conv.controls.step]
    assert (step.f, step.i, step.j) == (0, 5, 6) and conv.setup.x.shape == (1, 3, 14, 14)
    assert step.value == pytest.approx(example.lab_value, rel=1e-9, abs=1e-12)
    assert step.value + example.rest == pytest.approx(float(acts[3][7, 5, 6]), rel=1e-5,
                                                      abs=1e-6)
    sums = np.abs([float((np.pad(np.float64(acts[2][c]), 1)[5:8, 6:9]
                          * np.float64(result.state["conv2.w"][7, c])).sum())
                   for c in range(16)])
    assert set(example.channels) == set(np.argsort(-sums, kind="stable")[:3].tolist())
    assert "16" in example.note and "largest" in example.note
    # changing a setting of the Convolution lab goes back to its own numbers
    conv.settings.apply(filters=2)
    assert conv.setup.kind != "example"


def test_the_shell_switches_to_the_convolution_lab(qtbot, settings, small_data, monkeypatch):
    from gui.app import MainWindow
    from gui.labs.convolution.lab import ConvolutionLab

    monkeypatch.setattr(TrainingLab, "_load_data", lambda self: small_data)
    window = MainWindow(settings=settings, warmup=False, initial_lab="network",
                        remember=False)
    qtbot.addWidget(window)
    window.show()
    lab = window.current_lab()
    record(lab)
    assert isinstance(lab, NetworkLab) and lab.pages.currentIndex() == 0  # no model yet
    lab.prepare_screenshot(steps=10)  # builds the Training lab behind it
    training = window.lab_widget("training")
    assert training is not None and not training.session.visible
    try:
        lab.activated()
        neuron = Neuron(0, (1, 4, 4))
        click_neuron(qtbot, lab, neuron)
        wait_inspection(qtbot, lab, lambda r: r.neuron == neuron)
        qtbot.mouseClick(lab.neuron.handoff_button, Qt.MouseButton.LeftButton)
        assert window.current_key() == "convolution"
        conv = window.current_lab()
        assert isinstance(conv, ConvolutionLab) and conv.setup.kind == "example"
        assert conv.trace[conv.controls.step].value == pytest.approx(
            float(lab.session.inspection.activations[0][1, 4, 4]), rel=1e-5, abs=1e-6)
    finally:
        window.shutdown()
        assert stop_all(timeout_s=60)


def test_a_typed_image_number_out_of_range_is_refused_in_words(qtbot, trained):
    from PyQt6.QtWidgets import QLabel

    lab, _ = trained
    spin = lab.inputs.index_spin
    kept = lab.session.choice.index
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), "5000")
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)
    notes = [n for n in lab.inputs.findChildren(QLabel)
             if n.property("refusal_note") and n.isVisible()]
    assert notes and "5000" in notes[0].text() and "120" in notes[0].text()
    assert spin.value() == kept == lab.session.choice.index
