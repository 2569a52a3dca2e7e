"""The Training lab's data set: which one is trained on, opening another off the GUI thread.

:class:`DataSetLoader` (a :class:`gui.workers.threads.Worker`) reads a data set with
:func:`engine.datasets.load_dataset` in a registered thread and emits ``progress``,
``loaded`` (the DataSet) or ``failed`` (one sentence); it never touches a widget.
:class:`LoadTracker` (no Qt) decides what a result means: only the newest load counts,
a load that fails or is cancelled leaves the current data set as it was.
:class:`DataSetPanel` is the group in the lab's left column: the current data set in one
line, how image folders are read (size, colour), Open folder / Open .npz / the embedded
digits, and while loading a progress bar with Cancel; a bad data set is said in place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from engine.i18n import tr, tr_noop
from gui.widgets import file_dialogs
from gui.widgets.form_rows import ERROR_STYLE, int_spin, show_refusals_in_place
from gui.workers.threads import Worker, start_worker, stop_worker

__all__ = ["DataSetLoader", "LoadTracker", "DataSetPanel", "DATA_FILE_FILTER"]

DATA_FILE_FILTER = tr_noop("Data set (*.npz)")
_COLOURS = ((tr_noop("colour (RGB)"), "rgb"), (tr_noop("grey"), "grey"))
#: progress reports sent at most this often (s): a folder of small pictures reads fast
_PROGRESS_INTERVAL = 0.1


class DataSetLoader(Worker):
    """Loads one data set in its thread, then ends (a loop worker).

    Signals carry the token it was made with: ``progress(token, fraction, text)``,
    ``loaded(token, DataSet)``, ``failed(token, sentence)``. A stop request ends the
    load between two files; nothing is emitted then.
    """

    progress = pyqtSignal(int, float, str)
    loaded = pyqtSignal(int, object)
    failed = pyqtSignal(int, str)

    def __init__(self, token: int, path: str, options):
        super().__init__()
        self.token, self.path, self.options = token, path, options
        self._last = 0.0

    def _progress(self, fraction: float, text: str) -> None:
        now = time.monotonic()
        if now - self._last >= _PROGRESS_INTERVAL or fraction >= 1.0:
            self._last = now
            self.progress.emit(self.token, fraction, text)

    def run(self) -> None:
        from engine.datasets import LoadStopped, load_dataset

        try:
            dataset = load_dataset(self.path, self.options, progress=self._progress,
                                   stop=lambda: self.stop_requested)
        except LoadStopped:
            return
        except (ValueError, OSError) as err:  # DataFileError is a ValueError
            self.failed.emit(self.token, " ".join(str(err).split()))
        except MemoryError:
            self.failed.emit(self.token, tr("{path}: not enough memory to load it").format(
                path=self.path))
        else:
            if not self.stop_requested:
                self.loaded.emit(self.token, dataset)


@dataclass
class Loading:
    token: int
    path: str
    options: object


class LoadTracker:
    """Which load is the current one (no Qt). ``start`` returns its token; a result
    counts only for the newest token, and only once."""

    def __init__(self):
        self._token = 0
        self.loading: Loading | None = None

    def start(self, path: str, options) -> int:
        self._token += 1
        self.loading = Loading(self._token, str(path), options)
        return self._token

    def current(self, token: int) -> bool:
        return self.loading is not None and self.loading.token == token

    def finish(self, token: int) -> Loading | None:
        """The load ``token`` ended; its Loading if it was the current one, else None."""
        if not self.current(token):
            return None
        done, self.loading = self.loading, None
        return done

    def cancel(self) -> None:
        self.loading = None


class DataSetPanel(QGroupBox):
    """The data set group of the Training lab.

    Signals
    -------
    dataset_loaded(DataSet) : a data set was opened (the lab trains on it from now on)
    load_failed(str) : a load ended without a data set (refused: the sentence; cancelled: "")
    embedded_requested() : back to the embedded MNIST digits
    message(str) : a sentence for the status bar
    """

    dataset_loaded = pyqtSignal(object)
    load_failed = pyqtSignal(str)
    embedded_requested = pyqtSignal()
    message = pyqtSignal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tracker = LoadTracker()
        self._worker: DataSetLoader | None = None
        self._dataset = None  # the DataSet shown (None: the embedded digits)
        self._error = ""
        layout = QVBoxLayout(self)
        self.current_label = QLabel()
        self.current_label.setWordWrap(True)
        self.classes_label = QLabel()
        self.classes_label.setWordWrap(True)
        self.classes_label.setStyleSheet("color: #555;")
        options = QHBoxLayout()
        self.size_label = QLabel()
        self.size_spin = int_spin(4, 256, 32)
        self.colour_combo = QComboBox()
        for text, key in _COLOURS:
            self.colour_combo.addItem(tr(text), key)
        options.addWidget(self.size_label)
        options.addWidget(self.size_spin)
        options.addWidget(self.colour_combo)
        options.addStretch(1)
        buttons = QHBoxLayout()
        self.folder_button = QPushButton()
        self.file_button = QPushButton()
        self.embedded_button = QPushButton()
        for b in (self.folder_button, self.file_button, self.embedded_button):
            buttons.addWidget(b)
        self.folder_button.clicked.connect(self.open_folder_dialog)
        self.file_button.clicked.connect(self.open_file_dialog)
        self.embedded_button.clicked.connect(self.embedded_requested)
        loading = QHBoxLayout()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.cancel_button = QPushButton()
        self.cancel_button.clicked.connect(self.cancel)
        loading.addWidget(self.progress_bar, 1)
        loading.addWidget(self.cancel_button)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(ERROR_STYLE)
        for part in (self.current_label, self.classes_label):
            layout.addWidget(part)
        layout.addLayout(options)
        layout.addLayout(buttons)
        layout.addLayout(loading)
        layout.addWidget(self.error_label)
        self._show_loading(False)
        self.error_label.hide()
        show_refusals_in_place(self, self.message.emit)  # a typed size out of range
        self.retranslate()

    # ------------------------------------------------------------------ texts
    def retranslate(self) -> None:
        self.setTitle(tr("Data set"))
        self.size_label.setText(tr("Image folders:"))
        self.size_spin.setSuffix(tr(" px"))
        self.size_spin.setToolTip(tr("The pictures of an image folder are resized to this "
                                     "many pixels square"))
        self.size_spin.set_subject(tr("Image size"))
        for k, (text, _) in enumerate(_COLOURS):
            self.colour_combo.setItemText(k, tr(text))
        self.folder_button.setText(tr("Open folder…"))
        self.folder_button.setToolTip(tr("A CIFAR-10 python folder (cifar-10-batches-py), an "
                                         "MNIST IDX folder, or an image folder with one "
                                         "subfolder per class"))
        self.file_button.setText(tr("Open .npz…"))
        self.embedded_button.setText(tr("MNIST digits"))
        self.embedded_button.setToolTip(tr("The 9,000 embedded MNIST digits"))
        self.cancel_button.setText(tr("Cancel"))
        self._show_current()

    def _show_current(self) -> None:
        if self._dataset is None:
            self.current_label.setText(tr("MNIST (embedded): 8,000 training and 1,000 "
                                          "validation digits of 1×28×28, 10 classes"))
            self.classes_label.setText("")
            self.classes_label.hide()
            return
        dataset = self._dataset
        self.current_label.setText(dataset.describe())
        names = ", ".join(dataset.class_names[:12])
        more = len(dataset.class_names) - 12
        self.classes_label.setText(tr("Classes: {names}").format(names=names) +
                                   (tr(" and {n} more").format(n=more) if more > 0 else ""))
        self.classes_label.show()

    def show_dataset(self, dataset) -> None:
        """``dataset`` is the one trained on (an engine DataSet)."""
        self._dataset = None if dataset.kind == "embedded" else dataset
        self._show_current()

    # ------------------------------------------------------------------ options
    def options(self):
        from engine.datasets import ImageOptions

        return ImageOptions(size=self.size_spin.value(), colour=self.colour_combo.currentData())

    def set_options(self, size: int, colour: str) -> None:
        self.size_spin.setValue(int(size))
        index = self.colour_combo.findData(colour)
        if index >= 0:
            self.colour_combo.setCurrentIndex(index)

    # ------------------------------------------------------------------ opening
    def open_folder_dialog(self) -> None:
        path = file_dialogs.open_folder_name(self, tr("Open data set folder"))
        if path:
            self.load(path)

    def open_file_dialog(self) -> None:
        path = file_dialogs.open_file_name(self, tr("Open data set file"),
                                           tr(DATA_FILE_FILTER))
        if path:
            self.load(path)

    def load(self, path: str, options=None) -> None:
        """Read ``path`` in the background (a load under way is cancelled)."""
        self._stop_worker()
        options = self.options() if options is None else options
        token = self.tracker.start(path, options)
        self._set_error("")
        self._show_loading(True)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat(tr("reading…"))
        worker = DataSetLoader(token, str(path), options)
        worker.progress.connect(self._on_progress)
        worker.loaded.connect(self._on_loaded)
        worker.failed.connect(self._on_failed)
        self._worker = worker
        start_worker(worker, "dataset-loader")

    @property
    def loading(self) -> bool:
        return self.tracker.loading is not None

    def cancel(self) -> None:
        """Stop the load under way; the current data set stays."""
        if self.tracker.loading is None:
            return
        self.tracker.cancel()
        self._stop_worker()
        self._show_loading(False)
        self.message.emit(tr("Loading the data set was cancelled; the current one stays."))
        self.load_failed.emit("")

    def shutdown(self) -> None:
        """The window closes: ask the loader to stop (the shell waits for the thread)."""
        self.tracker.cancel()
        if self._worker is not None:
            self._worker.request_stop()
            self._worker = None

    def _stop_worker(self) -> None:
        if self._worker is not None:
            worker, self._worker = self._worker, None
            stop_worker(worker, 2.0)  # it stops between two files

    def _show_loading(self, loading: bool) -> None:
        for w in (self.progress_bar, self.cancel_button):
            w.setVisible(loading)
        for w in (self.folder_button, self.file_button, self.embedded_button):
            w.setEnabled(not loading)

    def _set_error(self, text: str) -> None:
        self._error = text
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    # ------------------------------------------------------------------ results
    def _on_progress(self, token: int, fraction: float, text: str) -> None:
        if self.tracker.current(token):
            self.progress_bar.setValue(int(fraction * 1000))
            self.progress_bar.setFormat(text)

    def _on_loaded(self, token: int, dataset) -> None:
        if self.tracker.finish(token) is None:
            return
        self._worker = None
        self._show_loading(False)
        self.dataset_loaded.emit(dataset)

    def _on_failed(self, token: int, message: str) -> None:
        if self.tracker.finish(token) is None:
            return
        self._worker = None
        self._show_loading(False)
        text = tr("Could not open the data set: {error}; the current one stays.").format(
            error=message.rstrip("."))
        self._set_error(text)
        self.message.emit(text)
        self.load_failed.emit(text)

    @property
    def error(self) -> str:
        return self._error
