"""The Training lab: build a small CNN, train it live on MNIST (or a data set the learner
opens: CIFAR-10, MNIST IDX files, an image folder, an .npz) and watch it learn.

Left: the data set (:class:`gui.labs.training.dataset_panel.DataSetPanel`, loaded off
the GUI thread), the training controls and the network builder (conv blocks and a dense
head, with every layer's output shape and parameter count). Right, in tabs: the curves
with the first layer's kernels and the gradient norms; a probe image's feature maps and
delta maps for every layer; the validation confusion matrix and misclassified images
(class names); a canvas to draw a digit on (shown only for 28x28 grey digits).

What the lab decides (its states, when a worker starts and stops, the probe, the
progress texts) is :class:`gui.labs.training.session.TrainingSession`, which needs no
Qt; this widget lays out, draws, and is the session's :class:`~gui.labs.training.session.View`.

Threads: a :class:`gui.labs.training.worker.TrainingWorker` owns the Trainer while it
exists (running or paused) and is the only caller of the engine then; this widget
only sends it commands and draws the frames it emits. Training goes on while another
lab is shown (the views idle; ``background_status`` says how far it is, and
:meth:`TrainingLab.pause` is the shell's one-click pause). :meth:`TrainingLab.shutdown`
asks the worker to stop and returns at once; the shell then waits for every thread
(``gui.workers.threads.stop_all``).
"""

from __future__ import annotations

import numpy as np
from PyQt6 import sip
from PyQt6.QtCore import QSignalBlocker, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QBoxLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.i18n import tr, tr_noop
from engine.recipe import DEFAULT_SPEC, DEFAULT_TRAINING, W6_SPEC
from gui.labs._base import BackgroundRead, LazyTabs, OnTab, StagedConstruction
from gui.labs.training.builder import NetworkBuilder
from gui.labs.training.controls import TrainingControls
from gui.labs.training.dataset_panel import DataSetPanel
from gui.labs.training.files import ModelFilesMixin
from gui.labs.training.session import (
    INPUT_SHAPE,
    EpochResult,
    Probe,
    Progress,
    State,
    TrainingFrame,
    TrainingSession,
)
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
from gui.labs.training.views._common import flow
from gui.labs.training.views.batchnorm import BatchNormView
from gui.labs.training.views.sandwich import SandwichView
from gui.labs.training.worker import TrainingWorker
from gui.widgets import file_dialogs
from gui.widgets.draw_canvas import DrawCanvas
from gui.widgets.form_rows import int_spin, show_refusals_in_place
from gui.workers.threads import start_worker

__all__ = ["TrainingLab", "default_spec", "prefetch"]

#: (key, slot, what it does): the lab's keys, listed in Help > About
_SHORTCUTS = (("Ctrl+Return", "toggle", tr_noop("Training: start, pause or resume")),
              ("Ctrl+.", "step", tr_noop("Training: train one batch")),
              ("Ctrl+Shift+R", "reset", tr_noop("Training: reset (new weights from the seed)")))

TAB_CURVES, TAB_PROBE, TAB_VALIDATION, TAB_DRAW, TAB_BATCHNORM = range(5)
_TAB_TITLES = (tr_noop("Curves"), tr_noop("Feature && delta maps"), tr_noop("Validation"),
               tr_noop("Draw a digit"), tr_noop("Batch norm"))
BATCHNORM_IMAGES = 400  # the batch-norm tab's batches come from these training digits
FRAME_INTERVAL = 1 / 21  # s: 21 frames per second, a margin above the 20 asked for
DRAW_HINT = tr_noop("draw a digit")


def default_spec() -> list[dict]:
    """engine.recipe.DEFAULT_SPEC (the network the CLI trains), a copy."""
    return [dict(layer) for layer in DEFAULT_SPEC]


_reader: BackgroundRead | None = None  # the embedded digits, read for the lab built next


def prefetch() -> None:
    """Start reading the embedded digits (engine.data.mnist_split: unzipped and converted
    to float32, some 75 ms on 2 cores) in the background for the lab built next; the
    shell calls this before the lab is first opened (gui.app.MainWindow._prepare_labs)."""
    global _reader
    if _reader is None:
        from engine.data import mnist_split

        _reader = BackgroundRead(mnist_split)
        start_worker(_reader, "embedded digits")


def _prefetched_digits():
    """The digits ``prefetch`` read (waiting for the rest of a read under way), None when
    nothing was prefetched; raises what the read raised."""
    global _reader
    reader, _reader = _reader, None
    return reader.result() if reader is not None else None


def _wrapped() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)  # long captions must not set the lab's minimum width
    return label


class _CurvesTab(QWidget):
    """The Curves tab: the curves left of the kernels over the gradient norms; when the
    tab is narrower than ``NARROW`` px, the curves above and the two small views side by
    side below them (each keeps a readable width)."""

    NARROW = 640

    def __init__(self, curves: QWidget, kernels: QWidget, grads: QWidget):
        super().__init__()
        self._views = (curves, kernels, grads)
        self._grid = QGridLayout(self)
        self.narrow: bool | None = None
        self._arrange(False)

    #: (row, col, row span, col span) of the curves, the kernels and the norms; the row
    #: and column stretches. Narrow: the norms' axes and legend get the wider column.
    _PLACES = {False: (((0, 0, 2, 1), (0, 1, 1, 1), (1, 1, 1, 1)), (1, 1), (3, 2)),
               True: (((0, 0, 1, 2), (1, 0, 1, 1), (1, 1, 1, 1)), (4, 3), (2, 3))}

    def _arrange(self, narrow: bool) -> None:
        if narrow == self.narrow:
            return
        self.narrow = narrow
        places, rows, cols = self._PLACES[narrow]
        for view in self._views:
            self._grid.removeWidget(view)
        for view, place in zip(self._views, places, strict=True):
            self._grid.addWidget(view, *place)
        for k in range(2):
            self._grid.setRowStretch(k, rows[k])
            self._grid.setColumnStretch(k, cols[k])

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._arrange(event.size().width() < self.NARROW)


class _FlowTab(QWidget):
    """Parts (widgets or layouts, with their stretches) side by side; below each other
    when the tab is narrower than ``narrow`` px (side by side, each would be too narrow
    to read)."""

    def __init__(self, parts, narrow: int):
        super().__init__()
        self._narrow = narrow
        self._box = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        for part in parts:
            part, stretch = part if isinstance(part, tuple) else (part, 1)
            if isinstance(part, QWidget):
                self._box.addWidget(part, stretch)
            else:
                self._box.addLayout(part, stretch)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        flow(self._box, event.size().width(), self._narrow)


class TrainingLab(StagedConstruction, ModelFilesMixin, QWidget):
    """Build, train and inspect a CNN on the embedded MNIST digits.

    Parameters
    ----------
    live_views : bool
        False: the worker sends no snapshots (the benchmark's "curves only" case).
    data : (train_x, train_y, val_x, val_y) or None
        None loads the embedded MNIST split (engine.data.mnist_split).

    Signals
    -------
    status_message(str) : a sentence for the status bar
    background_status(str) : while another lab is shown and training runs, how far it
        is ("Training: epoch 3 of 10, 41%"), for the shell's status bar; "" otherwise.
        The shell's indicator pauses with :meth:`pause`.
    state_changed(State), frame_drawn(TrainingFrame), validated(EpochResult),
    model_saved(path, error)

    Attributes useful to tests and the benchmark: ``session``, ``state``, ``trainer``,
    ``frames_drawn``.
    """

    status_message = pyqtSignal(str)
    background_status = pyqtSignal(str)
    state_changed = pyqtSignal(object)    # State
    frame_drawn = pyqtSignal(object)      # the TrainingFrame just drawn
    validated = pyqtSignal(object)        # EpochResult
    model_saved = pyqtSignal(str, str)    # path, error ("" when it worked)
    model_changed = pyqtSignal()          # the network was replaced: see shared_model()
    weights_ready = pyqtSignal(object)    # SharedWeights answering request_weights

    # The tabs but the Curves tab are built when first shown (_base.LazyTabs): together
    # they were most of the lab's first opening. Reading one of their views builds its tab.
    probe_view = OnTab(TAB_PROBE)
    probe_probs = OnTab(TAB_PROBE)
    feature_maps = OnTab(TAB_PROBE)
    delta_maps = OnTab(TAB_PROBE)
    sandwich_view = OnTab(TAB_PROBE)
    feature_caption = OnTab(TAB_PROBE)
    delta_caption = OnTab(TAB_PROBE)
    confusion = OnTab(TAB_VALIDATION)
    misclassified = OnTab(TAB_VALIDATION)
    canvas = OnTab(TAB_DRAW)
    clear_button = OnTab(TAB_DRAW)
    drawn_view = OnTab(TAB_DRAW)
    draw_probs = OnTab(TAB_DRAW)
    draw_maps = OnTab(TAB_DRAW)
    draw_caption = OnTab(TAB_DRAW)
    draw_maps_caption = OnTab(TAB_DRAW)
    batchnorm_view = OnTab(TAB_BATCHNORM)

    def __init__(self, parent=None, live_views: bool = True, data=None):
        super().__init__(parent)
        self._live_views = live_views
        self._last_snapshot = None
        self._snapshot_probe = -1  # the probe request the last snapshot answers
        self._validation_drawn: EpochResult | None = None  # shown in the Validation tab
        self._pending_export: str | None = None  # a PyTorch export waiting for weights
        self._network_shown: tuple | None = None  # (layers, classes, names): for late tabs
        # drawing -> probe at most every 40 ms, however fast the mouse moves
        self._draw_timer = QTimer(self, singleShot=True, interval=40)
        self._draw_timer.timeout.connect(self._drawing_to_probe)
        self._construct(self._construction(data))

    def _construction(self, data):
        """The steps of the construction (gui.labs._base.StagedConstruction)."""
        if data is None and self._unrevealed is not None:
            # staged: the turns go on while the digits are read in the background (the
            # lab opened before the shell's preparation asked for them, or during it)
            prefetch()
            while _reader is not None and not _reader.done:
                yield
        # (train_x, train_y, val_x, val_y); tests and benchmarks may pass a subset
        data = tuple(data) if data is not None else self._load_data()
        self._batchnorm_images = data[0][:BATCHNORM_IMAGES, 0]  # (M, 28, 28) in [0, 1]
        self._build_ui(len(data[3]))
        yield
        self.curves = CurvesView()
        yield
        self.kernels_view = KernelMosaicView()
        self.grad_view = GradNormView()
        self.curves_tab = _CurvesTab(self.curves, self.kernels_view, self.grad_view)
        self.tabs.widget(TAB_CURVES).layout().addWidget(self.curves_tab)
        # painted a part a turn, after the settings column (StagedConstruction)
        self._reveal_later(self.curves, self.kernels_view, self.grad_view)
        yield
        self._actions = self._make_actions()
        self.controls.set_config(DEFAULT_TRAINING)
        try:
            self.builder.set_spec(default_spec())
        except ValueError:
            self.builder.set_spec(W6_SPEC)
        self.session = TrainingSession(self, data, self._make_worker, self.builder.spec(),
                                       self.controls.config(), build=False)
        self.builder.set_input_shape(self.session.input_shape)
        self.tabs.setTabVisible(TAB_DRAW, self.session.takes_drawings)
        self._connect()
        self.show_probe(self.session.probe)
        self.session.rebuild()
        self.retranslate()

    # ------------------------------------------------------------------ set-up
    def _load_data(self):
        from engine.data import DataFileError, mnist_split
        try:
            return _prefetched_digits() or mnist_split()
        except (DataFileError, OSError) as err:
            message = tr("The digits could not be loaded: {error}").format(error=err)
            QTimer.singleShot(0, lambda: self.status_message.emit(message))
            z = np.zeros((1, *INPUT_SHAPE), np.float32)
            return (z, np.zeros(1, np.int64), z, np.zeros(1, np.int64))

    @property
    def state(self) -> State:
        return self.session.state

    @property
    def trainer(self):
        return self.session.trainer

    @property
    def frames_drawn(self) -> int:
        return self.session.frames_drawn

    @property
    def val_x(self) -> np.ndarray:
        return self.session.val_x

    @property
    def val_y(self) -> np.ndarray:
        return self.session.val_y

    def _build_ui(self, validation_count: int) -> None:
        self.builder = NetworkBuilder(INPUT_SHAPE)
        self.controls = TrainingControls()
        self.data_panel = DataSetPanel()
        self.data_panel.dataset_loaded.connect(self.use_dataset)
        self.data_panel.embedded_requested.connect(self.use_embedded_digits)
        self.data_panel.message.connect(self.status_message)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(4, 4, 4, 4)
        ll.addWidget(self.data_panel)
        ll.addWidget(self.controls)
        ll.addWidget(self.builder, 1)
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # never narrower than the column's own minimum: no control is ever cut
        bar = scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(left.minimumSizeHint().width() + bar + 4)
        scroll.setMaximumWidth(560)
        self.settings_scroll = scroll

        self.tabs = QTabWidget()
        # every tab stays in sight however narrow: titles shorten (the tooltip has them whole)
        self.tabs.setUsesScrollButtons(False)
        self.tabs.setElideMode(Qt.TextElideMode.ElideRight)
        # the Curves tab's page: its views come in the next steps of the construction
        page = QWidget()
        QVBoxLayout(page).setContentsMargins(0, 0, 0, 0)
        self.tabs.addTab(page, "")
        # the probe's picker is made now: the data set, the probe and the session set it
        self.probe_spin = int_spin(0, max(0, validation_count - 1), 0)
        self.random_button = QPushButton()
        self.random_button.clicked.connect(lambda: self.session.random_probe())
        self.probe_spin.valueChanged.connect(lambda i: self.session.set_probe_index(i))
        self.picker_label = QLabel()
        self.lazy_tabs = LazyTabs(self.tabs, self._tab_built)
        for index, build in ((TAB_PROBE, self._probe_tab), (TAB_VALIDATION, self._validation_tab),
                             (TAB_DRAW, self._draw_tab), (TAB_BATCHNORM, self._batchnorm_tab)):
            added = self.lazy_tabs.add(build)
            assert added == index

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([480, 920])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def _probe_tab(self) -> QWidget:
        self.probe_view = ImageView()
        self.probe_probs = ProbabilityView()
        picker = QVBoxLayout()
        picker.addWidget(self.picker_label)
        picker.addWidget(self.probe_spin)
        picker.addWidget(self.random_button)
        picker.addStretch(1)
        top = QHBoxLayout()
        top.addLayout(picker)
        top.addWidget(self.probe_view, 1)
        top.addWidget(self.probe_probs, 2)
        self.feature_maps = LayerMapsView(signed="auto")
        self.delta_maps = LayerMapsView(signed="always")
        self.feature_caption, self.delta_caption = _wrapped(), _wrapped()
        w = QWidget()
        v = QVBoxLayout(w)
        v.addLayout(top, 2)
        v.addWidget(self.feature_caption)
        v.addWidget(self.feature_maps, 3)
        self.sandwich_view = SandwichView()  # x_j = pool(relu(Σ x_i * w_ij + b_j)), the numbers
        v.addWidget(self.sandwich_view)
        v.addWidget(self.delta_caption)
        v.addWidget(self.delta_maps, 3)
        show_refusals_in_place(w, self.status_message.emit)  # the probe's, the C-R-P's
        return w

    def _validation_tab(self) -> QWidget:
        self.confusion = ConfusionView()
        self.misclassified = MisclassifiedView(rows=5, cols=8)
        self.misclassified.picked.connect(self._pick_misclassified)
        return _FlowTab((self.confusion, self.misclassified), narrow=600)

    def _draw_tab(self) -> QWidget:
        self.canvas = DrawCanvas()
        self.canvas.changed.connect(self._drawing_changed)
        self.clear_button = QPushButton()
        self.clear_button.clicked.connect(self.canvas.clear)
        self.drawn_view = ImageView(tr_noop("Network input"))
        self.draw_probs = ProbabilityView()
        self.draw_probs.blank(DRAW_HINT)
        self.draw_maps = LayerMapsView(signed="auto", columns=4)
        self.draw_caption, self.draw_maps_caption = _wrapped(), _wrapped()
        left = QVBoxLayout()
        left.addWidget(self.draw_caption)
        left.addWidget(self.canvas, 1)
        left.addWidget(self.clear_button)
        right = QVBoxLayout()
        row = QHBoxLayout()
        row.addWidget(self.drawn_view, 1)
        row.addWidget(self.draw_probs, 2)
        right.addLayout(row, 2)
        right.addWidget(self.draw_maps_caption)
        right.addWidget(self.draw_maps, 3)
        return _FlowTab(((left, 2), (right, 3)), narrow=480)

    def _batchnorm_tab(self) -> QWidget:
        self.batchnorm_view = BatchNormView()
        self.batchnorm_view.set_images(self._batchnorm_images)
        return self.batchnorm_view

    #: the parts of each lazily built tab that have texts to set (retranslate)
    _TAB_PARTS = {TAB_PROBE: ("probe_view", "probe_probs", "feature_maps", "delta_maps",
                              "sandwich_view"),
                  TAB_VALIDATION: ("confusion", "misclassified"),
                  TAB_DRAW: ("drawn_view", "draw_probs", "draw_maps", "canvas"),
                  TAB_BATCHNORM: ("batchnorm_view",)}
    _TAB_TEXTS = {
        TAB_PROBE: (("feature_caption", tr_noop("<b>Feature maps</b> (forward pass: each "
                                                "layer's output for the probe)")),
                    ("delta_caption", tr_noop("<b>Delta maps</b> ∂L/∂(layer output), the error "
                                              "backpropagated for the probe's label: red "
                                              "positive, blue negative, white zero"))),
        TAB_DRAW: (("clear_button", tr_noop("Clear")),
                   ("draw_caption", tr_noop("Draw a digit (left button); right click clears.")),
                   ("draw_maps_caption", tr_noop("<b>Feature maps</b> of your digit")))}

    def _built(self, tab: int) -> bool:
        return self.lazy_tabs.is_built(tab)

    def _tab_built(self, tab: int, _view: QWidget) -> None:
        """A tab built late gets what the lab shows now: its texts, the network's layers
        and classes, the probe, the data set's names (the rest is drawn when it is shown)."""
        self._retranslate_tab(tab)
        if not hasattr(self, "session"):
            return  # built during the construction: the constructor shows everything
        if self._network_shown is not None:
            self._show_network_in(tab, *self._network_shown)
        if tab in (TAB_PROBE, TAB_DRAW):
            self.show_probe(self.session.probe)
        if tab == TAB_VALIDATION and self.session.dataset is not None:
            self._show_dataset_names(self.session.dataset)

    def _retranslate_tab(self, tab: int) -> None:
        for name, text in self._TAB_TEXTS.get(tab, ()):
            getattr(self, name).setText(tr(text))
        for name in self._TAB_PARTS.get(tab, ()):
            getattr(self, name).retranslate()

    def retranslate(self) -> None:
        """Set every text in the current language (and in every part of the lab)."""
        for shortcut, what in self._shortcuts:
            shortcut.setWhatsThis(tr(what))  # Help > About lists the keys from these
        for k, title in enumerate(_TAB_TITLES):
            self.tabs.setTabText(k, tr(title))
            self.tabs.setTabToolTip(k, tr(title).replace("&&", "&"))
        digits = self.session.takes_drawings if hasattr(self, "session") else True
        self.probe_spin.setToolTip(tr("Which validation digit to look at") if digits else
                                   tr("Which validation image to look at"))
        self.probe_spin.set_subject(tr("Validation digit #") if digits else
                                    tr("Validation image #"))
        for widget, text in (
                (self.random_button, tr_noop("Random digit") if digits else
                 tr_noop("Random image")),
                (self.picker_label, tr_noop("Validation digit #") if digits else
                 tr_noop("Validation image #"))):
            widget.setText(tr(text))
        for action, (text, _slot, _key) in zip(self._actions, self._action_specs(),
                                               strict=True):
            action.setText(tr(text))
        for part in (self.data_panel, self.controls, self.builder, self.curves,
                     self.kernels_view, self.grad_view):
            part.retranslate()
        for tab in self._TAB_PARTS:
            if self._built(tab):
                self._retranslate_tab(tab)
        if hasattr(self, "session"):  # (the first call comes before the session exists)
            self.session.retranslate()

    def _connect(self) -> None:
        c, s = self.controls, self.session
        c.start.connect(self.start)
        c.pause.connect(self.pause)
        c.resume.connect(self.resume)
        c.step.connect(self.step)
        c.reset.connect(self.reset)
        c.config_changed.connect(s.set_config)
        self.builder.spec_changed.connect(s.set_spec)
        for part in (c, self.builder):  # a refused typed value: in place and in the status bar
            part.refused.connect(self.status_message)
        self._shortcuts = []
        for key, slot, what in _SHORTCUTS:
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(getattr(self, slot))
            self._shortcuts.append((shortcut, what))
        self.tabs.currentChanged.connect(self._tab_changed)
        self.weights_ready.connect(self._export_weights_ready)

    def _action_specs(self):
        return ((tr_noop("Open data set folder…"), self.data_panel.open_folder_dialog,
                 "Ctrl+D"),
                (tr_noop("Open data set file (.npz)…"), self.data_panel.open_file_dialog,
                 None),
                (tr_noop("Save trained model…"), self._save_model_dialog, "Ctrl+S"),
                (tr_noop("Load trained model…"), self._load_model_dialog, "Ctrl+L"),
                (tr_noop("Save network spec (JSON)…"), self._save_spec_dialog, None),
                (tr_noop("Load network spec (JSON)…"), self._load_spec_dialog, None),
                (tr_noop("Export to PyTorch…"), self.export_pytorch_dialog, None))

    def _make_actions(self) -> list[QAction]:
        actions = []
        for text, slot, shortcut in self._action_specs():
            a = QAction(tr(text), self)
            a.triggered.connect(slot)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            actions.append(a)
        return actions

    # ------------------------------------------------------------------ the worker
    def _make_worker(self, token: int, run, probe: Probe, running: bool, maps: bool,
                     background: bool) -> TrainingWorker:
        """The session's WorkerFactory: a started worker whose events carry ``token``."""
        w = TrainingWorker(run, probe.image, probe.label, running=running,
                           frame_interval=FRAME_INTERVAL, live_views=self._live_views,
                           maps=maps, background=background)
        s = self.session

        def to_session(handler):
            """``handler(token, *args)`` on the GUI thread (a lambda's connection is queued
            from the worker's thread), dropped once this lab is gone: a lambda has no
            receiver whose deletion would end the connection."""
            return lambda *args: None if sip.isdeleted(self) else handler(token, *args)

        w.frame.connect(to_session(s.on_frame))
        w.evaluated.connect(to_session(s.on_evaluated))
        w.diverged.connect(to_session(s.on_diverged))
        w.finished_training.connect(to_session(s.on_finished))
        w.saved.connect(to_session(s.on_saved))
        w.failed.connect(to_session(s.on_failed))
        w.state_ready.connect(to_session(s.on_state))
        # a lab deleted without shutdown() (a test's, an embedding's) stops its worker too
        self.destroyed.connect(w.request_stop, Qt.ConnectionType.DirectConnection)
        w.start()
        return w

    # ------------------------------------------------------------------ lab hooks
    def activated(self) -> None:
        """Shown again: catch up on what was stored while hidden, draw again."""
        self.session.activated()
        self._tab_changed(self.tabs.currentIndex())

    def deactivated(self) -> None:
        """Another lab is shown: training goes on in the background, the views idle."""
        self.session.deactivated()

    def shutdown(self) -> None:
        """The window is closing: asks the worker (and a data set loader) to stop and
        returns at once; the shell waits for every thread afterwards
        (``gui.workers.threads.stop_all``)."""
        self.data_panel.shutdown()
        self.session.shutdown()

    # ------------------------------------------------------------------ data sets
    @property
    def dataset(self):
        """The engine DataSet trained on (None: the data given to the constructor)."""
        return self.session.dataset

    def open_dataset(self, path: str, options=None) -> None:
        """Load the data set at ``path`` in the background; ``dataset_loaded`` of the
        panel switches to it, a bad one is said in place and changes nothing."""
        self.data_panel.load(path, options)

    def use_dataset(self, dataset) -> None:
        """Train on ``dataset`` (an engine DataSet) from now on (a new network)."""
        self.session.use_dataset(dataset)
        self.status_message.emit(tr("Opened {description}. The network starts again from "
                                    "the seed.").format(description=dataset.describe()))

    def use_embedded_digits(self) -> None:
        from engine.data import DataFileError
        from engine.datasets import embedded_dataset

        try:
            self.use_dataset(embedded_dataset())
        except (DataFileError, OSError) as err:
            self.status_message.emit(tr("The digits could not be loaded: {error}").format(
                error=err))

    def menu_actions(self) -> list[QAction]:
        return list(self._actions)

    def export_widget(self) -> QWidget:
        return self

    def prepare_screenshot(self, steps: int = 300) -> None:
        """Train ``steps`` batches synchronously (seeded) and draw the result, so that a
        screenshot shows a network in the middle of learning."""
        self.session.train_now(steps)

    def extra_screenshots(self):
        """The other tabs for ``main.py screenshot`` (each built when first shown): the
        probe's maps, the validation, the drawing canvas (digits only) and the Batch norm
        tab after a few training steps of its layer."""
        def tab(index: int):
            return lambda: self.tabs.setCurrentIndex(index)

        def batchnorm():
            self.tabs.setCurrentIndex(TAB_BATCHNORM)
            self.batchnorm_view.reset()
            for _ in range(11):
                self.batchnorm_view.step()
        views = [("maps", tab(TAB_PROBE)), ("validation", tab(TAB_VALIDATION))]
        if self.tabs.isTabVisible(TAB_DRAW):
            views.append(("draw", tab(TAB_DRAW)))
        return [*views, ("batchnorm", batchnorm)]

    # ------------------------------------------------------------------ sharing
    def shared_model(self):
        """The network as other labs see it (a SharedModel), None when the spec
        cannot be built; ``model_changed`` says when it is replaced."""
        return self.session.shared_model()

    def request_weights(self, request_id: int) -> bool:
        """Ask for a copy of the weights; ``weights_ready`` answers. False: no network."""
        return self.session.request_weights(request_id)

    def share_weights(self, weights) -> None:
        self.weights_ready.emit(weights)

    # ------------------------------------------------------------------ commands
    def start(self) -> None:
        self.session.start()

    def toggle(self) -> None:
        """Start, pause or resume, whichever fits (Ctrl+Return)."""
        self.session.toggle()

    def pause(self) -> None:
        """Pause training: the Pause button, and the shell's one-click pause from its
        background indicator while another lab is shown."""
        self.session.pause()

    def resume(self) -> None:
        self.session.resume()

    def step(self) -> None:
        self.session.step()

    def reset(self) -> None:
        self.session.reset()

    def set_config(self, config) -> None:
        """Show ``config`` (an engine TrainingConfig) in the controls and use it."""
        self.controls.set_config(config)
        self.session.set_config(config)

    # ------------------------------------------------------------------ View
    def show_state(self, state: State) -> None:
        self.controls.set_state(state)
        self.builder.set_editable(state.editable, tr_noop("Press Reset to change the network"))
        self.state_changed.emit(state)
        if state is State.INVALID:
            self.model_changed.emit()  # no network any more

    def show_status(self, text: str) -> None:
        self.status_message.emit(text)

    def show_background(self, text: str) -> None:
        self.background_status.emit(text)

    def show_progress(self, progress: Progress) -> None:
        self.controls.show_progress(progress)

    def show_message(self, text: str) -> None:
        self.controls.show_message(text)

    def show_dataset(self, dataset) -> None:
        self.data_panel.show_dataset(dataset)
        if dataset.options is not None:
            self.data_panel.set_options(dataset.options.size, dataset.options.colour)
        self.builder.set_input_shape(dataset.input_shape)
        self.tabs.setTabVisible(TAB_DRAW, dataset.is_digits)
        with QSignalBlocker(self.probe_spin):
            self.probe_spin.setMaximum(max(0, len(dataset.val_y) - 1))
        if self._built(TAB_VALIDATION):
            self._show_dataset_names(dataset)
        self.controls.set_digits(dataset.is_digits)
        self.retranslate()  # "digit" or "image" in the probe's texts
        if not dataset.is_digits and self._built(TAB_DRAW):
            self.canvas.clear()

    def _show_dataset_names(self, dataset) -> None:
        self.misclassified.class_names = () if dataset.class_names == tuple(
            str(k) for k in range(len(dataset.class_names))) else tuple(dataset.class_names)
        self.misclassified.digits = dataset.is_digits

    def show_network(self, network, planned_iterations: int) -> None:
        self.curves.clear_data()
        self.grad_view.clear_data()
        self._last_snapshot = None
        self._snapshot_probe = -1  # the probe request the last snapshot answers
        self._validation_drawn = None
        summary = network.summary()
        layers = [(info.name, tuple(info.output_shape)) for info in summary
                  if info.type != "flatten"]
        self.grad_view.build([info.name for info in summary if info.param_count])
        names = self.session.class_names
        names = names if len(names) == network.num_classes else None
        self._network_shown = (layers, network.num_classes, names)
        for tab in (TAB_PROBE, TAB_VALIDATION, TAB_DRAW):  # a tab not built gets it then
            if self._built(tab):
                self._show_network_in(tab, *self._network_shown)
        self.plan_iterations(planned_iterations)
        self.model_changed.emit()

    def _show_network_in(self, tab: int, layers, classes: int, names) -> None:
        """Every view of ``tab`` follows the network: its layers' maps, its classes."""
        if tab == TAB_PROBE:
            for view in (self.feature_maps, self.delta_maps):
                view.build(layers)
            self.probe_probs.set_classes(classes, names)
        elif tab == TAB_VALIDATION:
            self.confusion.set_classes(classes, names)
        elif tab == TAB_DRAW:
            self.draw_maps.build(layers)
            self.draw_probs.set_classes(classes, names)
            self.draw_probs.blank(DRAW_HINT)

    def plan_iterations(self, total: int) -> None:
        self.curves.set_planned_iterations(total)
        self.grad_view.set_planned_iterations(total)

    def show_spec(self, spec: list) -> None:
        with QSignalBlocker(self.builder):  # the session set it: no echo back
            try:
                self.builder.set_spec(spec)
            except ValueError as err:
                self.status_message.emit(tr("The builder cannot show this network ({error}).")
                                         .format(error=err))

    def show_probe(self, probe: Probe) -> None:
        if not probe.drawn and self.probe_spin.value() != probe.index:
            with QSignalBlocker(self.probe_spin):
                self.probe_spin.setValue(probe.index)
        if probe.drawn and self._built(TAB_DRAW):
            self.drawn_view.set_image(probe.image)
        if not self._built(TAB_PROBE):
            return  # the tab shows the probe when it is built
        if probe.drawn:
            self.probe_view.set_title(tr_noop("Your drawing"))
        else:
            if self.session.takes_drawings:
                self.probe_view.set_title(tr_noop("Validation digit #{index}, label {label}"),
                                          index=probe.index, label=probe.label)
            else:
                names = self.session.class_names
                name = names[probe.label] if probe.label < len(names) else str(probe.label)
                self.probe_view.set_title(tr_noop("Validation image #{index}: {name}"),
                                          index=probe.index, name=name)
        self.probe_view.set_image(probe.image)

    def clear_drawing(self) -> None:
        if not self._built(TAB_DRAW):
            return  # nothing was drawn: the tab was never shown
        self.drawn_view.set_image(np.zeros(INPUT_SHAPE[1:], np.float32))  # digits only
        self.draw_probs.blank(DRAW_HINT)
        self.draw_maps.clear_maps()

    def draw_frame(self, frame: TrainingFrame) -> None:
        # hidden plots only store the new points (setData costs even when nothing is
        # painted); _tab_changed draws them when the Curves tab is shown
        curves_visible = self.tabs.currentIndex() == TAB_CURVES
        self.curves.add_steps(frame.iterations, frame.losses, frame.accuracies,
                              redraw=curves_visible)
        self._store_snapshot(frame, redraw=curves_visible)
        if not frame.running and curves_visible:  # stopped: nothing may lag behind
            self.curves.refresh()
            self.grad_view.refresh()
        self._redraw_visible(live=frame.running)
        self.frame_drawn.emit(frame)

    def store_frame(self, frame: TrainingFrame) -> None:
        self.curves.add_steps(frame.iterations, frame.losses, frame.accuracies, redraw=False)
        self._store_snapshot(frame, redraw=False)

    def _store_snapshot(self, frame: TrainingFrame, redraw: bool) -> None:
        if frame.snapshot is None:
            return
        self._last_snapshot, self._snapshot_probe = frame.snapshot, frame.probe_id
        if frame.snapshot.grad_norms and len(frame.iterations):
            self.grad_view.add(frame.iteration, frame.snapshot.grad_norms, redraw=redraw)

    def show_evaluation(self, result: EpochResult) -> None:
        r = result.result
        self.curves.add_validation(result.iteration, r.loss, r.accuracy)
        self._show_validation()
        self.validated.emit(result)

    def show_saved(self, path: str, error: str) -> None:
        self.model_saved.emit(path, error)

    # ------------------------------------------------------------------ probe
    def _pick_misclassified(self, index: int) -> None:
        self.session.pick_misclassified(index)
        self.tabs.setCurrentIndex(TAB_PROBE)

    def _drawing_changed(self) -> None:
        # throttle, not debounce: the prediction follows the pen while it moves
        if not self._draw_timer.isActive():
            self._draw_timer.start()

    def _drawing_to_probe(self) -> None:
        self.session.set_drawing(None if self.canvas.is_empty() else self.canvas.network_input())

    # ------------------------------------------------------------------ drawing
    def _tab_changed(self, index: int) -> None:
        if index == TAB_CURVES:  # catch up on the points stored while hidden
            self.curves.refresh()
            self.grad_view.refresh()
        self.session.set_maps_shown(self._maps_shown())
        if index == TAB_VALIDATION:
            self._show_validation()
        if index == TAB_DRAW and not self.session.probe.drawn and not self.canvas.is_empty():
            self._drawing_to_probe()  # back on the canvas: the drawing is the probe again
        self._redraw_visible()

    def _maps_shown(self) -> bool:
        """Whether the visible tab shows the probe's maps and probabilities (the
        Curves and Validation tabs do not: their frames skip the probe's pass)."""
        return self.tabs.currentIndex() in (TAB_PROBE, TAB_DRAW)

    def _redraw_visible(self, live: bool = False) -> None:
        """Only the visible tab's items are redrawn: hidden ones catch up when shown.
        ``live``: a frame of a running training, after which another comes; the views
        then rewrite their numbers' texts on some frames only (a stopped one shows all)."""
        snap = self._last_snapshot
        tab = self.tabs.currentIndex()
        if snap is None or not self._built(tab):
            return
        if tab == TAB_CURVES:
            if snap.kernels.shape[0]:
                self.kernels_view.set_kernels(snap.kernels, live=live)
        elif not snap.has_maps or self._snapshot_probe != self.session.probe_id:
            return  # the worker sends a snapshot with maps of this probe next
        elif tab == TAB_PROBE:
            self.feature_maps.update_maps(snap.activations, live=live)
            trainer = self.session.trainer
            self.sandwich_view.update_maps(trainer.network.spec if trainer is not None else [],
                                           snap.activations, live=live)
            self.delta_maps.update_maps(snap.deltas, live=live)
            self.probe_probs.set_probabilities(snap.probabilities, self.session.probe.label)
        elif tab == TAB_DRAW and self.session.probe.drawn:
            self.draw_probs.set_probabilities(snap.probabilities)
            self.draw_maps.update_maps(snap.activations, live=live)

    def _show_validation(self) -> None:
        """Confusion matrix and misclassified digits of the last evaluation, drawn
        only while their tab is shown (about 2.5 ms of 110 text items per epoch);
        _tab_changed catches up."""
        result = self.session.last_eval
        if (result is None or self.tabs.currentIndex() != TAB_VALIDATION
                or self._validation_drawn is result):
            return
        self._validation_drawn = result
        r = result.result
        self.confusion.set_confusion(r.confusion)
        wrong = np.flatnonzero(r.predictions != self.val_y)
        shown = wrong[:40]
        self.misclassified.set_digits(self.val_x[shown], self.val_y[shown],
                                      r.predictions[shown], shown, len(wrong))

    # ------------------------------------------------------------------ PyTorch
    #: the request id of the weights a PyTorch export waits for
    EXPORT_REQUEST = -13

    def export_pytorch_dialog(self) -> None:
        path = file_dialogs.open_folder_name(self, tr("Export to PyTorch: choose a folder"))
        if path:
            self.export_pytorch(path)

    def export_pytorch(self, folder: str) -> bool:
        """Write the network with its current weights as a PyTorch model into ``folder``
        (engine.export: model.py, model.json, weights.bin, README.md); the weights are
        copied between two training steps. False when there is no network."""
        self._pending_export = str(folder)
        if not self.request_weights(self.EXPORT_REQUEST):
            self._pending_export = None
            self.status_message.emit(tr("There is no network to export: the spec is invalid."))
            return False
        return True

    def _export_weights_ready(self, weights) -> None:
        if weights.request_id != self.EXPORT_REQUEST or self._pending_export is None:
            return
        folder, self._pending_export = self._pending_export, None
        model = self.shared_model()
        if model is None or model.generation != weights.generation:
            self.status_message.emit(tr("The network changed before it could be exported; "
                                        "please export again."))
            return
        from engine.export import ExportError, export_pytorch
        from engine.network import Network

        try:
            network = Network(model.spec, model.input_shape)
            network.set_state(weights.state)
            export_pytorch(network, folder, class_names=model.class_names or None)
        except (ExportError, ValueError, OSError) as err:
            self.status_message.emit(tr("Could not export to PyTorch: {error}").format(
                error=err))
            return
        self.status_message.emit(tr("Exported to PyTorch in {folder} (model.py: "
                                    "load_model()).").format(folder=folder))

    # ------------------------------------------------------------------ sessions
    #: the request id of the weights a session file waits for
    SESSION_REQUEST = -14

    def session_state(self) -> tuple[dict, dict]:
        """(part, arrays) for a session file: the network spec, the training choices,
        the data set's path and how it was read, the tab and probe, the curves. The
        trained weights come separately (:meth:`session_weights`: they are copied
        between two training steps)."""
        from dataclasses import asdict

        dataset = self.session.dataset
        data = None
        if dataset is not None and dataset.kind != "embedded":
            data = {"path": dataset.source, "kind": dataset.kind,
                    "options": dataset.options.as_dict() if dataset.options else None}
        part = {"spec": self.session.current_spec(), "config": asdict(self.controls.config()),
                "dataset": data, "tab": self.tabs.currentIndex(),
                "probe": self.probe_spin.value()}
        arrays = {f"curves/{k}": v for k, v in self.curves.history().items()}
        return part, arrays

    def session_weights(self, done) -> bool:
        """Ask for the weights; ``done({name: array})`` gets a copy (at once when no
        worker trains them, else between two steps). False when there is no network."""
        def ready(weights) -> None:
            if weights.request_id == self.SESSION_REQUEST:
                self.weights_ready.disconnect(ready)
                arrays = {f"weights/{k}": v for k, v in weights.state.items()}
                arrays["weights_iteration"] = np.array(weights.iteration, dtype=np.int64)
                done(arrays)

        self.weights_ready.connect(ready)
        if not self.request_weights(self.SESSION_REQUEST):
            self.weights_ready.disconnect(ready)
            return False
        return True

    def restore_session(self, part: dict, arrays: dict, weights: bool = True) -> int:
        """Put back a part of :meth:`session_state` (and the weights when ``weights`` and
        the file has them). A data set is read in the background first; the rest follows
        once it is in (or, if it cannot be read, on the data set trained on now)."""
        dataset = part.get("dataset")
        if isinstance(dataset, dict) and isinstance(dataset.get("path"), str):
            options = None
            raw = dataset.get("options")
            if isinstance(raw, dict):
                from engine.datasets import ImageOptions

                try:
                    options = ImageOptions(**raw)
                except (TypeError, ValueError):
                    options = None

            def then(*_args) -> None:
                for signal in (self.data_panel.dataset_loaded, self.data_panel.load_failed):
                    signal.disconnect(then)
                self._restore_training(part, arrays, weights)

            self.data_panel.dataset_loaded.connect(then)
            self.data_panel.load_failed.connect(then)
            self.open_dataset(dataset["path"], options)
            return 0
        if self.session.dataset is not None and self.session.dataset.kind != "embedded":
            self.use_embedded_digits()
        return self._restore_training(part, arrays, weights)

    def _restore_training(self, part: dict, arrays: dict, weights: bool) -> int:
        from engine.network import Network
        from engine.training_loop import TrainingConfig

        skipped = 0
        config = part.get("config")
        try:
            self.set_config(TrainingConfig(**config))
        except (TypeError, ValueError):
            skipped += 1
        spec = part.get("spec")
        state = {k[len("weights/"):]: v for k, v in arrays.items() if k.startswith("weights/")}
        restored = False
        if weights and state and isinstance(spec, list):
            try:
                network = Network(spec, input_shape=self.session.input_shape)
                network.set_state(state)
            except (ValueError, KeyError, TypeError) as err:
                self.status_message.emit(tr("The trained weights of the session could not be "
                                            "used: {error}").format(error=err))
            else:
                step = arrays.get("weights_iteration")
                step = int(step) if step is not None and step.ndim == 0 and step >= 0 else 0
                restored = self.session.use_network(network, tr("the session"), iteration=step)
        if not restored and isinstance(spec, list) and spec != self.session.current_spec():
            skipped += 0 if self.session.load_spec(spec) else 1
        if restored:
            curves = {k[len("curves/"):]: v for k, v in arrays.items()
                      if k.startswith("curves/")}
            skipped += 0 if not curves or self.curves.restore_history(curves) else 1
        tab, probe = part.get("tab"), part.get("probe")
        if isinstance(tab, int) and 0 <= tab < self.tabs.count() and self.tabs.isTabVisible(tab):
            self.tabs.setCurrentIndex(tab)
        if isinstance(probe, int) and not isinstance(probe, bool):
            self.probe_spin.setValue(probe)
        return skipped
