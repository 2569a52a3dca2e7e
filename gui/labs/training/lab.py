"""The Training lab: build a small CNN, train it live on MNIST and watch it learn.

Left: the network builder (conv blocks and a dense head, with every layer's
output shape and parameter count) and the training controls. Right, in tabs:
the curves with the first layer's kernels and the gradient norms; a probe
digit's feature maps and delta maps for every layer; the validation confusion
matrix and misclassified digits; a canvas to draw a digit on.

Threads: a :class:`gui.labs.training.worker.TrainingWorker` owns the Trainer while
it exists (running or paused) and is the only caller of the engine then; this
widget only sends it commands and draws the frames it emits. The worker is
stopped (and joined) when the lab is left or the window closes.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt, QTimer, pyqtSignal, pyqtSlot
from PyQt6.QtGui import QAction, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.recipe import DEFAULT_SPEC, DEFAULT_TRAINING, W6_SPEC
from gui.labs.training.builder import NetworkBuilder
from gui.labs.training.controls import TrainingControls, TrainingSettings
from gui.labs.training.files import INPUT_SHAPE, ModelFilesMixin
from gui.labs.training.views import (
    ConfusionView,
    CurvesView,
    GradNormView,
    ImageView,
    KernelMosaicView,
    LayerMapsView,
    MisclassifiedView,
    ProbabilityView,
)
from gui.labs.training.worker import (
    EpochResult,
    TrainingFrame,
    TrainingWorker,
)
from gui.widgets.draw_canvas import DrawCanvas

__all__ = ["TrainingLab", "default_spec", "default_settings"]

TAB_CURVES, TAB_PROBE, TAB_VALIDATION, TAB_DRAW = range(4)
FRAME_INTERVAL = 1 / 21  # s: 21 frames per second, a margin above the 20 asked for


def default_spec() -> list[dict]:
    """engine.recipe.DEFAULT_SPEC (the network the CLI trains), a copy."""
    return [dict(layer) for layer in DEFAULT_SPEC]


def default_settings() -> TrainingSettings:
    """engine.recipe.DEFAULT_TRAINING as the controls' settings."""
    d = DEFAULT_TRAINING
    return TrainingSettings(optimizer=d.optimizer, lr=float(d.lr),
                            batch_size=int(d.batch_size), epochs=int(d.epochs),
                            seed=int(d.seed), augment=bool(d.augment),
                            schedule=d.schedule)


def _wrapped(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)  # long captions must not set the lab's minimum width
    return label


class TrainingLab(ModelFilesMixin, QWidget):
    """Build, train and inspect a CNN on the embedded MNIST digits.

    Parameters
    ----------
    live_views : bool
        False: the worker sends no snapshots (the benchmark's "curves only" case).
    data : (train_x, train_y, val_x, val_y) or None
        None loads the embedded MNIST split (engine.data.mnist_split).

    Attributes useful to tests and the benchmark: ``state`` (idle, running,
    paused, finished, diverged, invalid), ``trainer``, ``frames_drawn``.
    """

    status_message = pyqtSignal(str)
    state_changed = pyqtSignal(str)
    frame_drawn = pyqtSignal(object)      # the TrainingFrame just drawn
    validated = pyqtSignal(object)        # EpochResult
    model_saved = pyqtSignal(str, str)    # path, error ("" when it worked)

    def __init__(self, parent=None, live_views: bool = True, data=None):
        super().__init__(parent)
        self.state = "idle"
        self.trainer = None
        self.frames_drawn = 0
        self._live_views = live_views
        self._worker: TrainingWorker | None = None
        self._stopping: list[TrainingWorker] = []  # asked to stop, not finished yet
        self._loaded_model = False
        self._probe_index = 0
        self._probe = None          # (image (1, 28, 28), label or None, title)
        self._probe_id = 0
        self._last_snapshot = None
        self._last_eval: EpochResult | None = None
        self._validation_drawn: EpochResult | None = None  # shown in the Validation tab
        self._val_epochs: set[int] = set()
        # (train_x, train_y, val_x, val_y); tests and benchmarks may pass a subset
        self._data = tuple(data) if data is not None else self._load_data()
        # drawing -> probe at most every 40 ms, however fast the mouse moves
        self._draw_timer = QTimer(self, singleShot=True, interval=40)
        self._draw_timer.timeout.connect(self._drawing_to_probe)
        self._build_ui()
        self._actions = self._make_actions()
        self.controls.set_settings(default_settings())
        try:
            self.builder.set_spec(default_spec())
        except ValueError:
            self.builder.set_spec(W6_SPEC)
        self._connect()
        self._set_probe_index(0, request=False)
        self._rebuild()

    # ------------------------------------------------------------------ set-up
    def _load_data(self):
        from engine.data import DataFileError, mnist_split
        try:
            return mnist_split()
        except (DataFileError, OSError) as err:
            message = f"The digits could not be loaded: {err}"
            QTimer.singleShot(0, lambda: self.status_message.emit(message))
            z = np.zeros((1, *INPUT_SHAPE), np.float32)
            return (z, np.zeros(1, np.int64), z, np.zeros(1, np.int64))

    @property
    def val_x(self) -> np.ndarray:
        return self._data[2]

    @property
    def val_y(self) -> np.ndarray:
        return self._data[3]

    def _build_ui(self) -> None:
        self.builder = NetworkBuilder(INPUT_SHAPE)
        self.controls = TrainingControls()
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(4, 4, 4, 4)
        ll.addWidget(self.controls)
        ll.addWidget(self.builder, 1)
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(440)
        scroll.setMaximumWidth(560)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._curves_tab(), "Curves")
        self.tabs.addTab(self._probe_tab(), "Feature && delta maps")
        self.tabs.addTab(self._validation_tab(), "Validation")
        self.tabs.addTab(self._draw_tab(), "Draw a digit")

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([480, 920])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def _curves_tab(self) -> QWidget:
        self.curves = CurvesView()
        self.kernels_view = KernelMosaicView()
        self.grad_view = GradNormView()
        w = QWidget()
        grid = QGridLayout(w)
        grid.addWidget(self.curves, 0, 0, 2, 1)
        grid.addWidget(self.kernels_view, 0, 1)
        grid.addWidget(self.grad_view, 1, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        return w

    def _probe_tab(self) -> QWidget:
        self.probe_view = ImageView("Probe")
        self.probe_probs = ProbabilityView()
        self.probe_spin = QSpinBox(minimum=0, maximum=max(0, len(self.val_y) - 1))
        self.probe_spin.setToolTip("Which validation digit to look at")
        random_button = QPushButton("Random digit")
        random_button.clicked.connect(self._random_probe)
        self.probe_spin.valueChanged.connect(self._set_probe_index)
        picker = QVBoxLayout()
        picker.addWidget(QLabel("Validation digit #"))
        picker.addWidget(self.probe_spin)
        picker.addWidget(random_button)
        picker.addStretch(1)
        top = QHBoxLayout()
        top.addLayout(picker)
        top.addWidget(self.probe_view, 1)
        top.addWidget(self.probe_probs, 2)
        self.feature_maps = LayerMapsView(signed="auto")
        self.delta_maps = LayerMapsView(signed="always")
        w = QWidget()
        v = QVBoxLayout(w)
        v.addLayout(top, 2)
        v.addWidget(_wrapped("<b>Feature maps</b> (forward pass: each layer's output for the "
                             "probe)"))
        v.addWidget(self.feature_maps, 3)
        v.addWidget(_wrapped("<b>Delta maps</b> ∂L/∂(layer output), the error backpropagated "
                             "for the probe's label: red positive, blue negative, white zero"))
        v.addWidget(self.delta_maps, 3)
        return w

    def _validation_tab(self) -> QWidget:
        self.confusion = ConfusionView()
        self.misclassified = MisclassifiedView(rows=5, cols=8)
        self.misclassified.picked.connect(self._pick_misclassified)
        w = QWidget()
        h = QHBoxLayout(w)
        h.addWidget(self.confusion, 1)
        h.addWidget(self.misclassified, 1)
        return w

    def _draw_tab(self) -> QWidget:
        self.canvas = DrawCanvas()
        self.canvas.changed.connect(self._drawing_changed)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.canvas.clear)
        self.drawn_view = ImageView("Network input")
        self.draw_probs = ProbabilityView()
        self.draw_maps = LayerMapsView(signed="auto", columns=4)
        left = QVBoxLayout()
        left.addWidget(_wrapped("Draw a digit (left button); right click clears."))
        left.addWidget(self.canvas, 1)
        left.addWidget(clear)
        right = QVBoxLayout()
        row = QHBoxLayout()
        row.addWidget(self.drawn_view, 1)
        row.addWidget(self.draw_probs, 2)
        right.addLayout(row, 2)
        right.addWidget(_wrapped("<b>Feature maps</b> of your digit"))
        right.addWidget(self.draw_maps, 3)
        w = QWidget()
        h = QHBoxLayout(w)
        h.addLayout(left, 2)
        h.addLayout(right, 3)
        return w

    def _connect(self) -> None:
        c = self.controls
        c.start.connect(self.start)
        c.pause.connect(self.pause)
        c.resume.connect(self.resume)
        c.step.connect(self.step)
        c.reset.connect(self.reset)
        c.lr_changed.connect(self._lr_changed)
        c.epochs_changed.connect(self._epochs_changed)
        c.setup_changed.connect(self._setup_changed)
        c.schedule_changed.connect(self._schedule_changed)
        self.builder.spec_changed.connect(self._spec_changed)
        for key, slot in (("Ctrl+Return", self.toggle), ("Ctrl+.", self.step),
                          ("Ctrl+Shift+R", self.reset)):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self.tabs.currentChanged.connect(self._tab_changed)

    def _make_actions(self) -> list[QAction]:
        def action(text, slot, shortcut=None):
            a = QAction(text, self)
            a.triggered.connect(slot)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            return a

        return [action("Save trained model…", self._save_model_dialog, "Ctrl+S"),
                action("Load trained model…", self._load_model_dialog, "Ctrl+L"),
                action("Save network spec (JSON)…", self._save_spec_dialog),
                action("Load network spec (JSON)…", self._load_spec_dialog)]

    # ------------------------------------------------------------------ lab hooks
    def activated(self) -> None:
        if self.trainer is not None:
            self._request_probe()

    def deactivated(self) -> None:
        """Switching to another lab stops training (it can be resumed)."""
        was_running = self.state == "running"
        self._stop_worker()
        if was_running:
            self._set_state("paused")
            self.status_message.emit("Training paused because you left the Training lab.")

    def shutdown(self) -> None:
        """The window is closing: returns only when the worker thread has ended."""
        # a step ends in milliseconds; only a first-run Numba compilation can take long
        self._stop_worker(timeout_ms=120_000)

    def menu_actions(self) -> list[QAction]:
        return list(self._actions)

    def export_widget(self) -> QWidget:
        return self

    def prepare_screenshot(self, steps: int = 300) -> None:
        """Train ``steps`` batches synchronously (seeded) and draw the result, so that a
        screenshot shows a network in the middle of learning."""
        self._rebuild()
        self._stop_worker()  # this thread trains now: no worker may share the Trainer
        trainer = self.trainer
        if trainer is None:
            return
        self._on_evaluated_data(EpochResult(0, 0, trainer.evaluate()))
        history = []
        for _ in range(steps):
            epoch = trainer.epoch
            r = trainer.step()
            history.append((r.iteration, r.loss, r.accuracy))
            if r.iteration % 5 == 0:  # as often as live frames would sample them
                self.grad_view.add(r.iteration, trainer.grad_norms)
            if trainer.epoch > epoch:
                self._on_evaluated_data(EpochResult(trainer.epoch, trainer.iteration,
                                                    trainer.evaluate()))
        it, loss, acc = (np.array(col) for col in zip(*history, strict=True))
        probe, label, _ = self._probe
        frame = TrainingFrame(it, loss, acc, trainer.iteration, trainer.epoch,
                              float(trainer.last_result.epoch_progress), 0.0,
                              trainer.snapshot(probe, label), self._probe_id, False,
                              trainer.optimizer.lr)
        self._draw_frame(frame)
        self._set_state("paused")

    # ------------------------------------------------------------------ state
    def _set_state(self, state: str) -> None:
        self.state = state
        self.controls.set_state(state)
        editable = state in ("idle", "invalid")
        self.builder.set_editable(editable, "Press Reset to change the network")
        self.state_changed.emit(state)

    def _rebuild(self) -> None:
        """A new network and Trainer from the builder and the controls (discards training)."""
        from engine.network import Network
        from engine.training import Trainer

        self._stop_worker()
        self._loaded_model = False
        if not self.builder.is_valid():
            self.trainer = None
            self._set_state("invalid")
            self.status_message.emit("The network cannot be built: see the message under "
                                     "the layer list.")
            return
        s = self.controls.settings()
        try:
            network = Network(self.builder.spec(), input_shape=INPUT_SHAPE, seed=s.seed)
            self._install_trainer(Trainer(network, *self._data, optimizer=s.optimizer, lr=s.lr,
                                          batch_size=s.batch_size, seed=s.seed,
                                          augment=s.augment))
        except ValueError as err:
            self.trainer = None
            self._set_state("invalid")
            self.status_message.emit(f"The network cannot be built: {err}")
            return
        self._set_state("idle")

    def _install_trainer(self, trainer) -> None:
        self.trainer = trainer
        self._clear_views()
        self._build_views(trainer.network)
        self._plan_curves()
        self._request_probe()

    def _plan_curves(self) -> None:
        """The curves' x axes span the planned run: epochs x batches per epoch."""
        if self.trainer is not None:
            total = self.controls.epochs.value() * self.trainer.iterations_per_epoch
            self.curves.set_planned_iterations(total)
            self.grad_view.set_planned_iterations(total)

    def _build_views(self, network) -> None:
        layers = [(info.name, tuple(info.output_shape)) for info in network.summary()
                  if info.type != "flatten"]
        self.feature_maps.build(layers)
        self.delta_maps.build(layers)
        self.draw_maps.build(layers)
        self.grad_view.build([info.name for info in network.summary() if info.param_count])

    def _clear_views(self) -> None:
        self.curves.clear_data()
        self.grad_view.clear_data()
        self._val_epochs.clear()
        self._last_eval = None
        self._last_snapshot = None
        self.controls.clear_progress()

    # ------------------------------------------------------------------ worker
    def _ensure_worker(self, running: bool = False) -> TrainingWorker | None:
        if self._worker is not None or self.trainer is None:
            return self._worker
        probe, label, _ = self._probe
        epochs = self.controls.epochs.value()
        # parented to the lab: Qt, not Python's garbage collector, decides when it is
        # deleted (deleteLater in _stop_worker, after its queued signals are delivered)
        w = TrainingWorker(self.trainer, probe, label, epochs, running=running,
                           frame_interval=FRAME_INTERVAL, live_views=self._live_views,
                           maps=self._maps_shown(),
                           schedule=self.controls.settings().schedule,
                           total_iterations=epochs * self.trainer.iterations_per_epoch,
                           parent=self)
        w.frame.connect(self._on_frame)
        w.evaluated.connect(self._on_evaluated)
        w.diverged.connect(self._on_diverged)
        w.finished_training.connect(self._on_finished)
        w.saved.connect(self._on_saved)
        w.failed.connect(self._on_failed)
        w.set_probe(probe, label, self._probe_id)
        self._worker = w
        w.start()
        return w

    def _stop_worker(self, timeout_ms: int = 5000) -> None:
        w, self._worker = self._worker, None
        if w is not None:
            if not w.stop_and_wait(timeout_ms):
                # still busy (a first-run Numba compilation cannot be interrupted): it
                # stops by itself after that; deleting a running QThread would abort
                self.status_message.emit("The training thread is finishing a compilation; "
                                         "it stops as soon as that is done.")
                self._stopping.append(w)
                w.finished.connect(lambda w=w: self._forget(w))
                return
            w.deleteLater()  # its already queued frames arrive first and are ignored

    def _forget(self, w: TrainingWorker) -> None:
        if w in self._stopping:
            self._stopping.remove(w)
        w.deleteLater()

    def _from_current_worker(self) -> bool:
        return self.sender() is self._worker and self._worker is not None

    # ------------------------------------------------------------------ commands
    def start(self) -> None:
        if self.state != "idle" or self.trainer is None:
            return
        self._ensure_worker(running=True).resume()
        self._set_state("running")
        self.status_message.emit("Training…")

    def toggle(self) -> None:
        """Start, pause or resume, whichever fits (Ctrl+Return)."""
        {"idle": self.start, "running": self.pause, "paused": self.resume,
         "finished": self.resume}.get(self.state, lambda: None)()

    def pause(self) -> None:
        if self._worker is not None and self.state == "running":
            self._worker.pause()
        if self.state == "running":
            self._set_state("paused")

    def resume(self) -> None:
        if self.state not in ("paused", "finished") or self.trainer is None:
            return
        if self.trainer.epoch >= self.controls.epochs.value():
            self.status_message.emit(f"{self.trainer.epoch} epoch(s) are done: raise Epochs "
                                     "to train further.")
            return
        w = self._ensure_worker()
        w.set_target_epochs(self.controls.epochs.value())
        w.resume()
        self._set_state("running")

    def step(self) -> None:
        if self.state not in ("idle", "paused", "finished") or self.trainer is None:
            return
        self._ensure_worker().step_once()
        if self.state == "idle":
            self._set_state("paused")

    def reset(self) -> None:
        self._rebuild()
        if self.trainer is not None:
            self.status_message.emit("Reset: new weights from the seed.")

    def _lr_changed(self, lr: float) -> None:
        if self._worker is not None:
            self._worker.set_lr(lr)
        elif self.trainer is not None:
            self.trainer.optimizer.lr = lr

    def _schedule_changed(self) -> None:
        if self._worker is not None and self.trainer is not None:
            epochs = self.controls.epochs.value()
            self._worker.set_schedule(self.controls.settings().schedule,
                                      epochs * self.trainer.iterations_per_epoch)

    def _epochs_changed(self, epochs: int) -> None:
        if self._worker is not None:
            self._worker.set_target_epochs(epochs)
        self._schedule_changed()  # a cosine schedule stretches over the new length
        self._plan_curves()
        if self.state == "finished" and self.trainer is not None and self.trainer.epoch < epochs:
            self._set_state("paused")

    def _setup_changed(self) -> None:
        if self.state == "idle" and not self._loaded_model:
            self._rebuild()

    def _spec_changed(self, _spec) -> None:
        if self.state in ("idle", "invalid"):
            self._rebuild()

    # ------------------------------------------------------------------ probe
    def _set_probe_index(self, index: int, request: bool = True) -> None:
        index = int(np.clip(index, 0, len(self.val_y) - 1))
        self._probe_index = index
        label = int(self.val_y[index])
        self._probe = (self.val_x[index], label, f"Validation digit #{index}, label {label}")
        if self.probe_spin.value() != index:
            self.probe_spin.blockSignals(True)
            self.probe_spin.setValue(index)
            self.probe_spin.blockSignals(False)
        self.probe_view.set_image(self.val_x[index][0])
        self.probe_view.set_title("Validation digit #{index}, label {label}", index=index,
                                  label=label)
        if request:
            self._request_probe()

    def _random_probe(self) -> None:
        rng = np.random.default_rng()
        self._set_probe_index(int(rng.integers(len(self.val_y))))

    def _pick_misclassified(self, index: int) -> None:
        self._set_probe_index(index)
        self.tabs.setCurrentIndex(TAB_PROBE)
        self.status_message.emit(f"Probe: validation digit #{index}")

    def _drawing_changed(self) -> None:
        # throttle, not debounce: the prediction follows the pen while it moves
        if not self._draw_timer.isActive():
            self._draw_timer.start()

    def _drawing_to_probe(self) -> None:
        image = self.canvas.network_input()  # (1, 28, 28) float32 in [0, 1]
        self.drawn_view.set_image(image[0])
        self._probe = (image, None, "Your drawing")
        self.probe_view.set_image(image[0])
        self.probe_view.set_title("Your drawing")
        self._request_probe()

    def _request_probe(self) -> None:
        self._probe_id += 1
        probe, label, _ = self._probe
        w = self._ensure_worker()
        if w is not None:
            w.set_probe(probe, label, self._probe_id)

    # ------------------------------------------------------------------ frames
    @pyqtSlot(object)
    def _on_frame(self, frame: TrainingFrame) -> None:
        if not self._from_current_worker():
            return
        # the state is not read from frames: one queued before a Start still says
        # "not running"; the worker's own stops come as finished/diverged/failed
        self._draw_frame(frame)
        # flow control: the worker sends the next frame only after this one is drawn
        self._worker.frame_consumed()

    def _draw_frame(self, frame: TrainingFrame) -> None:
        # hidden plots only store the new points (setData costs even when nothing is
        # painted); _tab_changed draws them when the Curves tab is shown
        curves_visible = self.tabs.currentIndex() == TAB_CURVES
        self.curves.add_steps(frame.iterations, frame.losses, frame.accuracies,
                              redraw=curves_visible)
        if not frame.running and curves_visible:
            self.curves.refresh()
        if frame.snapshot is not None:
            self._last_snapshot = frame.snapshot
            if frame.snapshot.grad_norms and len(frame.iterations):
                self.grad_view.add(frame.iteration, frame.snapshot.grad_norms,
                                   redraw=curves_visible)
        if self.frames_drawn % 3 == 0 or not frame.running:
            self._show_progress(frame)  # a progress bar repaints at once: ~8 Hz is plenty
        self._redraw_visible()
        self.frames_drawn += 1
        self.frame_drawn.emit(frame)

    def _show_progress(self, frame: TrainingFrame) -> None:
        trainer = self.trainer
        if trainer is None or frame.iteration == 0 or self.state == "diverged":
            return  # a diverged run keeps its message in place
        ipe = trainer.iterations_per_epoch
        epochs = self.controls.epochs.value()
        done_in_epoch = frame.iteration - (frame.iteration - 1) // ipe * ipe
        number = (frame.iteration - 1) // ipe + 1
        left = None
        if frame.steps_per_second > 0 and frame.running:
            left = max(0, epochs * ipe - frame.iteration) / frame.steps_per_second
        self.controls.set_progress(number, done_in_epoch / ipe, epochs, left,
                                   frame.steps_per_second if frame.running else 0.0, frame.lr)

    def _tab_changed(self, index: int) -> None:
        if index == TAB_CURVES:  # catch up on the points stored while hidden
            self.curves.refresh()
            self.grad_view.refresh()
        if self._worker is not None:
            self._worker.set_maps(self._maps_shown())
        if index == TAB_VALIDATION:
            self._show_validation()
        if index == TAB_DRAW and self._probe[1] is not None and not self.canvas.is_empty():
            self._drawing_to_probe()  # back on the canvas: the drawing is the probe again
        self._redraw_visible()

    def _maps_shown(self) -> bool:
        """Whether the visible tab shows the probe's maps and probabilities (the
        Curves and Validation tabs do not: their frames skip the probe's pass)."""
        return self.tabs.currentIndex() in (TAB_PROBE, TAB_DRAW)

    def _redraw_visible(self) -> None:
        """Only the visible tab's items are redrawn: hidden ones catch up when shown."""
        snap = self._last_snapshot
        tab = self.tabs.currentIndex()
        if snap is None:
            return
        if tab == TAB_CURVES:
            if snap.kernels.shape[0]:
                self.kernels_view.set_kernels(snap.kernels)
        elif not snap.has_maps:
            return  # the worker sends a snapshot with maps next (see _tab_changed)
        elif tab == TAB_PROBE:
            self.feature_maps.update_maps(snap.activations)
            self.delta_maps.update_maps(snap.deltas)
            label = self._probe[1]
            self.probe_probs.set_probabilities(snap.probabilities, label)
        elif tab == TAB_DRAW:
            if self._probe[1] is None:  # the drawing is the probe
                self.draw_probs.set_probabilities(snap.probabilities)
                self.draw_maps.update_maps(snap.activations)

    @pyqtSlot(object)
    def _on_evaluated(self, result: EpochResult) -> None:
        if self._from_current_worker():
            self._on_evaluated_data(result)

    def _show_validation(self) -> None:
        """Confusion matrix and misclassified digits of the last evaluation, drawn
        only while their tab is shown (about 2.5 ms of 110 text items per epoch);
        _tab_changed catches up."""
        result = self._last_eval
        if (result is None or self.tabs.currentIndex() != TAB_VALIDATION
                or self._validation_drawn is result):
            return
        self._validation_drawn = result
        r = result.result
        self.confusion.set_confusion(r.confusion)
        wrong = np.flatnonzero(r.predictions != self.val_y)
        shown = wrong[:40]
        self.misclassified.set_digits(self.val_x[shown, 0], self.val_y[shown],
                                      r.predictions[shown], shown, len(wrong))

    def _on_evaluated_data(self, result: EpochResult) -> None:
        if result.epoch in self._val_epochs:
            return
        self._val_epochs.add(result.epoch)
        self._last_eval = result
        r = result.result
        self.curves.add_validation(result.iteration, r.loss, r.accuracy)
        self._show_validation()
        self.validated.emit(result)
        if result.epoch > 0:
            self.status_message.emit(f"Epoch {result.epoch}: validation accuracy "
                                     f"{r.accuracy:.1%}, loss {r.loss:.3f}")

    @pyqtSlot(str)
    def _on_diverged(self, message: str) -> None:
        if not self._from_current_worker():
            return
        self._set_state("diverged")
        self.controls.show_message(message)
        self.status_message.emit(message)

    @pyqtSlot(str)
    def _on_finished(self, message: str) -> None:
        if self._from_current_worker():
            self._set_state("finished")
            self.status_message.emit(message)

    @pyqtSlot(str, str)
    def _on_saved(self, path: str, error: str) -> None:
        self.model_saved.emit(path, error)
        self.status_message.emit(f"Could not save the model: {error}" if error
                                 else f"Model saved to {path}")

    @pyqtSlot(str)
    def _on_failed(self, message: str) -> None:
        if self._from_current_worker():
            self._stop_worker()
            self._set_state("paused")
            self.status_message.emit(message)
