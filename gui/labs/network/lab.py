"""The Network lab: the learner's own network opened up, layer by layer, neuron by neuron.

Left, the image (a validation or training image, a misclassified one, a drawing) and how
to show it (forward maps or backward deltas, the colour scale, the page of channels).
Right, the overview: the input, every layer's output as a column of feature-map
thumbnails with lines showing which maps feed which, the flatten, the dense layers and
the class probabilities; under it, the clicked neuron's computation with the real
numbers and its receptive field, outlined on every layer before it. "Step through in
the Convolution lab" hands a conv cell over, with exactly its layer's input maps and
its filter.

The network is the Training lab's: trained, loaded from a file, or still training in
the background. The shell hands the lab a way to find other labs
(:meth:`NetworkLab.set_lab_finder`) and switches labs when it asks
(``open_lab_requested``). What the lab decides is
:class:`gui.labs.network.session.NetworkSession` (no Qt); the image runs through the
network in a background worker (:class:`gui.labs.network.worker.InspectWorker`), only
while the lab is shown; this widget lays out and draws, and is the session's View.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from engine.i18n import tr
from gui.labs.network.compute import Inspector
from gui.labs.network.handoff import ConvExample, conv_example
from gui.labs.network.session import NO_MODEL, SOURCES, Display, Mode, NetworkSession, Scale
from gui.labs.network.views.controls import DisplayPanel, InputPanel
from gui.labs.network.views.neuron import NeuronView
from gui.labs.network.views.overview import OverviewArea
from gui.labs.training.session import State
from gui.widgets import file_dialogs
from gui.workers.warmup import when_kernels_ready

__all__ = ["NetworkLab", "TICK_MS", "SCREENSHOT_STEPS"]

TICK_MS = 100           # how often the session is asked whether new weights are due
SCREENSHOT_STEPS = 300  # what the screenshot trains first (as the Training lab's does)

#: finder(key, build) -> the lab widget with that key (built when ``build``), or None
LabFinder = Callable[[str, bool], QWidget | None]


class NetworkLab(QWidget):
    """The Network lab (see the module docstring).

    Signals
    -------
    status_message(str) : a sentence for the status bar
    open_lab_requested(str, object) : show the lab ``key``, then call the object (a
        callable) with that lab's widget (the hand-off to the Convolution lab)
    inspected(Inspection) : a refresh was drawn (tests, the benchmark)
    """

    status_message = pyqtSignal(str)
    open_lab_requested = pyqtSignal(str, object)
    inspected = pyqtSignal(object)

    def __init__(self, parent=None, finder: LabFinder | None = None):
        super().__init__(parent)
        self._finder = finder
        self._training = None          # the Training lab, once connected
        self._worker = None            # InspectWorker, started on first show
        self._inline: Inspector | None = None  # set: requests run in this thread
        self.session = NetworkSession(self, self)
        self._build_ui()
        self._timer = QTimer(self, interval=TICK_MS)
        self._timer.timeout.connect(self.session.tick)
        self._actions = [QAction(self), QAction(self)]
        self._actions[0].triggered.connect(self._load_model_dialog)
        self._actions[1].triggered.connect(self.export_pytorch_dialog)
        self.retranslate()

    # ------------------------------------------------------------------ layout
    def _build_ui(self) -> None:
        self.inputs = InputPanel()
        self.display = DisplayPanel()
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(4, 4, 4, 4)
        lv.addWidget(self.inputs)
        lv.addWidget(self.display)
        lv.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedWidth(236)
        self.controls_scroll = scroll

        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setStyleSheet("color: #333;")
        self.overview = OverviewArea()
        self.neuron = NeuronView()
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.overview)
        self.splitter.addWidget(self.neuron)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([540, 320])
        work = QWidget()
        wv = QVBoxLayout(work)
        wv.setContentsMargins(0, 0, 0, 0)
        wv.addWidget(self.info)
        wv.addWidget(self.splitter, 1)

        self.empty_text = QLabel()
        self.empty_text.setWordWrap(True)
        self.empty_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_text.setStyleSheet("font-size: 16px; color: #333;")
        self.open_training_button = QPushButton()
        self.load_button = QPushButton()
        self.open_training_button.clicked.connect(
            lambda: self.open_lab_requested.emit("training", lambda lab: None))
        self.load_button.clicked.connect(self._load_model_dialog)
        empty = QWidget()
        ev = QVBoxLayout(empty)
        ev.addStretch(1)
        ev.addWidget(self.empty_text)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_training_button)
        buttons.addWidget(self.load_button)
        buttons.addStretch(1)
        ev.addLayout(buttons)
        ev.addStretch(2)

        self.pages = QStackedWidget()
        self.pages.addWidget(empty)
        self.pages.addWidget(work)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
        layout.addWidget(self.pages, 1)

        s = self.session
        self.inputs.picked.connect(s.pick)
        self.inputs.random_requested.connect(lambda: s.random_image())
        self.inputs.drawn.connect(s.set_drawing)
        self.display.mode_changed.connect(s.set_mode)
        self.display.scale_changed.connect(s.set_scale)
        self.display.page_requested.connect(s.go_to_page)
        self.overview.view.clicked.connect(s.select)
        self.overview.relaid.connect(self._relaid)
        self.neuron.step_through.connect(self.step_through)

    def retranslate(self) -> None:
        self.open_training_button.setText(tr("Open the Training lab"))
        self.load_button.setText(tr("Load a trained model…"))
        self._actions[0].setText(tr("Load trained model into the Network lab…"))
        self._actions[1].setText(tr("Export to PyTorch…"))
        self._actions[1].setStatusTip(tr("Save the network shown here, with its current "
                                         "weights, as a PyTorch model"))
        for part in (self.inputs, self.display, self.overview.view, self.neuron):
            part.retranslate()
        self.empty_text.setText(tr(NO_MODEL))  # hidden while a model is shown: set it anyway
        self.session.refresh_texts()

    # ------------------------------------------------------------------ the model
    def set_lab_finder(self, finder: LabFinder) -> None:
        """The shell's way to find another lab (``finder(key, build)``)."""
        self._finder = finder
        if self.isVisible():
            self._connect_training(build=False)

    def _connect_training(self, build: bool) -> bool:
        """Listen to the Training lab (built first when ``build``); True when there is one."""
        if self._training is None and self._finder is not None:
            lab = self._finder("training", build)
            if lab is not None and hasattr(lab, "shared_model"):
                self._training = lab
                lab.model_changed.connect(self.session.model_changed)
                lab.weights_ready.connect(self.session.on_weights)
                lab.state_changed.connect(self._training_state)
                self._training_state(lab.state)
                self.session.attach(lab)
        return self._training is not None

    def _training_state(self, state) -> None:
        self.session.training_state(state is State.RUNNING)

    def load_model(self, path: str) -> bool:
        """Load a trained model file into the Training lab (which trains it further on
        Resume) and look into it here."""
        if not self._connect_training(build=True):
            self.status_message.emit(tr("The Training lab is not available to load the "
                                        "model into."))
            return False
        return bool(self._training.load_model(str(path)))

    def _training_lab(self):
        """The Training lab (built when needed), or None (said in the status bar)."""
        if self._connect_training(build=True):
            return self._training
        self.status_message.emit(tr("The Training lab is not available: it holds the "
                                    "network this lab shows."))
        return None

    def export_pytorch(self, folder: str) -> bool:
        """Export the network shown here (the Training lab's, with the weights it has now)
        as a PyTorch model into ``folder``: the Training lab's own export (engine.export),
        which says how it went in the status bar."""
        training = self._training_lab()
        return training is not None and bool(training.export_pytorch(str(folder)))

    def export_pytorch_dialog(self) -> None:
        training = self._training_lab()
        if training is not None:
            training.export_pytorch_dialog()  # the same dialog and export as File there

    def _load_model_dialog(self) -> None:
        path = file_dialogs.open_file_name(self, tr("Load trained model"), tr("Model (*.npz)"))
        if path:
            self.load_model(path)

    # ------------------------------------------------------------------ sessions
    def session_state(self) -> tuple[dict, dict]:
        """(part, arrays) for a session file: where the network came from (the Training
        lab's own, or the model file loaded, by its path), the image (its source and
        number; a drawing as the array ``drawing`` (R, R)), forward or δ, the colour
        scale, the selected neuron and the page of maps."""
        s = self.session
        model = {"source": "none", "path": None}
        if s.model is not None:
            loaded = s.model.loaded_from
            if loaded is not None and Path(loaded).is_file():  # (not "the session")
                model = {"source": "file", "path": str(Path(loaded).resolve())}
            else:
                model = {"source": "training", "path": None}
        arrays = {}
        image = None
        if s.choice is not None:
            image = {"source": s.choice.source, "index": int(s.choice.index)}
            if s.choice.source == "drawing":
                arrays["drawing"] = self.inputs.canvas.drawing()
        neuron = None if s.selection is None else {
            "layer": int(s.selection.layer), "index": [int(i) for i in s.selection.index]}
        part = {"model": model, "image": image, "mode": s.mode.value, "scale": s.scale.value,
                "neuron": neuron, "page": int(s.pager.page)}
        return part, arrays

    def restore_session(self, part: dict, arrays: dict, weights: bool = True) -> int:
        """Put back a part of :meth:`session_state`; returns how many values did not fit.
        A model file is loaded again the usual way (:meth:`load_model`); one that is gone
        or damaged is said in the usual sentence and the rest is put back all the same."""
        skipped = self._restore_model(part.get("model"), weights)
        skipped += self._restore_image(part.get("image"), arrays.get("drawing"))
        try:
            mode, scale = Mode(part.get("mode", "forward")), Scale(part.get("scale", "layer"))
        except ValueError:
            mode, scale, skipped = Mode.FORWARD, Scale.LAYER, skipped + 1
        (self.display.backward_radio if mode is Mode.BACKWARD
         else self.display.forward_radio).setChecked(True)
        self.display.scale_box.setCurrentIndex(self.display.scale_box.findData(scale))
        neuron = part.get("neuron")
        if neuron is not None:
            try:
                from engine.neuron import Neuron

                index = tuple(_whole(i) for i in neuron["index"])
                self.session.select(Neuron(_whole(neuron["layer"]), index))
            except (KeyError, TypeError, ValueError):
                skipped += 1
        page = part.get("page", 0)
        if isinstance(page, int) and not isinstance(page, bool) and page >= 0:
            self.session.restore_page(page)
        else:
            skipped += 1
        return skipped

    def _restore_model(self, model, weights: bool) -> int:
        if not isinstance(model, dict) or model.get("source") not in ("none", "training",
                                                                       "file"):
            return 1
        self._connect_training(build=model["source"] != "none")
        path = model.get("path")
        if model["source"] != "file":
            return 0
        if not isinstance(path, str):
            return 1
        shown = self.session.model
        came_from = None if shown is None else shown.loaded_from
        if came_from is not None and Path(came_from).resolve() == Path(path).resolve():
            return 0  # the Training lab has it already
        if weights and came_from is not None and not Path(came_from).is_file():
            return 0  # the session's own weights (trained further than the file) stay
        said: list[str] = []
        training = self._training
        if training is not None:
            training.status_message.connect(said.append)
        try:
            loaded = self.load_model(path)
        finally:
            if training is not None:
                training.status_message.disconnect(said.append)
        if not loaded and said:
            # said again after the session's own sentence, which would hide it
            QTimer.singleShot(0, lambda: self.status_message.emit(said[-1]))
        return 0

    def _restore_image(self, image, drawing) -> int:
        if image is None:
            return 0
        sources = [key for key, _ in SOURCES]
        if not isinstance(image, dict) or image.get("source") not in sources:
            return 1
        source, index = image["source"], image.get("index", 0)
        if source == "drawing":
            try:
                self.inputs.canvas.set_drawing(drawing)
            except (TypeError, ValueError):
                return 1
            self.session.set_drawing(self.inputs.canvas.network_input())
            return 0
        try:
            self.session.pick(source, _whole(index))
        except (TypeError, ValueError):
            return 1
        return 0

    # ------------------------------------------------------------------ compute (the session's)
    def submit(self, request) -> None:
        """Run a request in the background worker (or inline, for a screenshot)."""
        if self._inline is not None:
            result = self._inline.run(request)
            (self.session.on_misclassified if hasattr(result, "indices")
             else self.session.on_inspection)(result)
            return
        self._ensure_worker().submit(request)

    def _ensure_worker(self):
        if self._worker is None:
            from gui.labs.network.worker import InspectWorker

            w = InspectWorker()
            w.inspected.connect(self.session.on_inspection)
            w.misclassified.connect(self.session.on_misclassified)
            w.failed.connect(self.session.on_failed)
            w.start()
            self._worker = w
        return self._worker

    # ------------------------------------------------------------------ lab hooks
    def activated(self) -> None:
        self._connect_training(build=False)
        self.session.activated()
        self._timer.start()
        if not when_kernels_ready(self, self.session.refresh_texts):
            self.info.setText(tr("Preparing the fast kernels — first start only…"))

    def deactivated(self) -> None:
        self._timer.stop()
        self.session.deactivated()

    def shutdown(self) -> None:
        """Ask the worker to stop and return at once (the shell waits for the threads)."""
        self._timer.stop()
        if self._worker is not None:
            self._worker.request_stop()

    def menu_actions(self) -> list[QAction]:
        return list(self._actions)

    def export_widget(self) -> QWidget:
        return self

    def prepare_screenshot(self, steps: int = SCREENSHOT_STEPS) -> None:
        """A network in the middle of learning with one neuron open: the Training lab
        trains ``steps`` batches in this thread (as its own screenshot does), then the
        image runs through it here, in this thread too."""
        if not self._connect_training(build=True):
            return
        training = self._training
        if training.trainer is None or training.trainer.iteration < steps \
                or training.session.has_worker:
            training.prepare_screenshot(steps)
        QApplication.processEvents()  # the lab's size, before the overview is laid out
        self.overview.relayout()
        self._inline = Inspector()
        try:
            self.session.activated()
            self.session.pick("validation", 0)
            self.session.refresh_now()
            self.session.select(self._screenshot_neuron())
        finally:
            self._inline = None

    def _screenshot_neuron(self):
        """The strongest cell of the last conv layer's first map on the first page."""
        inspection = self.session.inspection
        if inspection is None:
            return None
        from engine.neuron import Neuron

        convs = [k for k, c in enumerate(self.session.columns[1:]) if c[2] == "conv"]
        k = convs[-1] if convs else len(self.session.columns) - 2
        values = inspection.activations[k]
        if values.ndim != 3:
            return Neuron(k, (int(values.argmax()),))
        shown = values[:self.session.pager.per_page]  # the first page's maps
        c = int(shown.reshape(shown.shape[0], -1).max(axis=1).argmax())
        i, j = divmod(int(values[c].argmax()), values.shape[2])
        return Neuron(k, (c, i, j))

    # ------------------------------------------------------------------ hand-off
    def convolution_example(self) -> ConvExample | None:
        """What "Step through in the Convolution lab" hands over for the selection."""
        s = self.session
        neuron = s.conv_neuron()
        inspection = s.inspection
        if neuron is None or inspection is None or inspection.state is None:
            return None
        name = s.columns[neuron.layer + 1][1]
        return conv_example(inspection, inspection.state, s.model.spec, name, neuron)

    def step_through(self) -> None:
        example = self.convolution_example()
        if example is None:
            return
        if example.note:
            self.status_message.emit(example.note)

        def deliver(lab) -> None:
            show = getattr(lab, "show_example", None)
            if callable(show):
                show(example.x, example.w, example.b, example.stride, example.padding,
                     example.filter_index, example.cell,
                     description=example.description, note=example.note)

        self.open_lab_requested.emit("convolution", deliver)

    # ------------------------------------------------------------------ View
    def show_no_model(self, text: str) -> None:
        self.empty_text.setText(text)
        self.pages.setCurrentIndex(0)
        self.neuron.clear()

    def show_model(self, model, columns) -> None:
        self.pages.setCurrentIndex(1)
        names = tuple(getattr(model, "class_names", ()) or ())
        self.inputs.class_names = self.overview.view.class_names = names
        self.neuron.set_names([c[1] for c in columns])
        self.neuron.clear()
        self.inputs.show_answer(None, None)
        self.overview.set_columns(columns, self.session.pager.page)

    def show_input(self, choice, source) -> None:
        self.inputs.show_choice(choice, source)

    def show_inspection(self, inspection, display: Display) -> None:
        self.overview.view.draw(inspection, display)
        p = inspection.probabilities
        self.inputs.show_answer(inspection.predicted, float(p[inspection.predicted]))
        backward = display.mode is Mode.BACKWARD
        handoff = self.session.conv_neuron() is not None and inspection.neuron is not None
        self.neuron.show_inspection(inspection, backward, handoff=handoff)
        self.inspected.emit(inspection)

    def show_page(self, display: Display) -> None:
        self.overview.set_page(display.page)
        self._redraw()

    def show_info(self, text: str) -> None:
        self.info.setText(text)

    def show_status(self, text: str) -> None:
        self.status_message.emit(text)

    def _relaid(self, pages: int, per_page: int) -> None:
        self.session.set_pages(pages, per_page)
        self.display.set_page(self.session.pager.page, self.session.pager.pages)
        self._redraw()

    def _redraw(self) -> None:
        inspection = self.session.inspection
        if inspection is not None:
            self.overview.view.draw(inspection, self.session.display)
        self.display.set_page(self.session.pager.page, self.session.pager.pages)


def _whole(value) -> int:
    """``value`` as an int when it is a whole number from a JSON file, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not a whole number: {value!r}")
    return value
