"""Kernel gallery lab: classic 3x3 kernels on a real photograph.

Four panels show the path of one image through a CNN stage: the original, the
convolution result (signed, so blue < 0 < red with white at zero), the result after
an activation (ReLU, sigmoid or tanh) and after pooling (max or average). The learner
picks one of the nine named kernels or types their own values, may normalise the
kernel, and toggles between cross-correlation (what CNN layers compute) and true
convolution (the kernel rotated by 180 degrees first).

Responsiveness: every change builds a :class:`GalleryRequest` (copies of the inputs,
see gui/labs/gallery/compute.py) that a worker thread (gui.workers.threads) computes
with the engine; while one request runs, only the newest waiting one is kept (latest
request wins), so typing never queues up stale work and the GUI thread only draws
finished results. Photos of any size open (a large file is read in a worker thread);
photos larger than ``MAX_SIDE`` are shrunk by block averaging first, and the lab
says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PyQt6.QtCore import Qt, pyqtSignal, pyqtSlot
from PyQt6.QtGui import QFont, QFontDatabase, QKeySequence
from PyQt6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine import gallery as kernel_gallery
from engine.i18n import tr, tr_noop
from gui.labs._base import NOT_READY_TEXT, StagedConstruction, WidgetSession
from gui.labs.gallery.compute import (
    DISPLAY_PERCENTILE,
    GalleryRequest,
    GalleryResult,
    compute_gallery,
    format_value,
    matrix_text,
    parse_value,
)
from gui.widgets import file_dialogs
from gui.widgets.form_rows import int_spin, note_label, show_refusals_in_place
from gui.widgets.image_panel import ImagePanel
from gui.widgets.images import (
    IMAGE_FILE_FILTER,
    ImageFileError,
    ImageLoader,
    ScaledImage,
    asset_images,
    load_scaled,
    photo_title,
    title_photo_items,
)
from gui.widgets.texts import Texts
from gui.workers.threads import Worker, start_worker
from gui.workers.warmup import when_kernels_ready

__all__ = [
    "GalleryLab",
    "GalleryRequest",
    "GalleryResult",
    "compute_gallery",
    "parse_value",
    "format_value",
    "MAX_SIDE",
]

CONTROLS_WIDTH = 330
#: Longest side of the working copy of a photo: larger photos are block-averaged down.
MAX_SIDE = 800
DEFAULT_PHOTO = "camera"
DEFAULT_KERNEL = "Sobel-X"
ACTIVATION_LABELS = {"ReLU": tr_noop("ReLU: max(0, x)"),
                     "sigmoid": tr_noop("sigmoid: 1 / (1 + e^−x)"),
                     "tanh": tr_noop("tanh"), "none": tr_noop("none (identity)")}
PADDINGS = (("valid", tr_noop("valid (none): output shrinks by 2")),
            ("same", tr_noop("same (zeros): output keeps its size")))
POOLS = (("max", tr_noop("max pooling")), ("avg", tr_noop("average pooling")))

EXPLAIN_CORRELATION = tr_noop(
    "Cross-correlation slides the kernel as it is (what CNN layers compute); true convolution "
    "rotates it by 180° first, which changes only asymmetric kernels such as Sobel or emboss.")


class GalleryWorker(Worker):
    """A service worker: runs :func:`compute_gallery` for each request; never touches widgets."""

    done = pyqtSignal(object)        # GalleryResult
    failed = pyqtSignal(int, str)    # serial, message

    @pyqtSlot(object)
    def compute(self, request: GalleryRequest) -> None:
        if self.stop_requested:
            return
        try:
            self.done.emit(compute_gallery(request))
        except Exception as err:  # noqa: BLE001 - shown in the lab instead of a crash
            self.failed.emit(request.serial, str(err))


def _combo() -> QComboBox:
    """A combo box that does not widen the control column to its longest item."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(8)
    return combo


def _fill_combo(combo: QComboBox, items) -> None:
    """(key, msgid) items: added once, their texts set again by the lab's retranslate()."""
    if combo.count() == 0:
        for key, text in items:
            combo.addItem(tr(text), key)
    else:
        for index, (_key, text) in enumerate(items):
            combo.setItemText(index, tr(text))


# ------------------------------------------------------------------------------ the lab
class GalleryLab(StagedConstruction, WidgetSession, QWidget):
    """The Kernel gallery lab (see the module docstring).

    Signals
    -------
    status_message(str)
        For the main window's status bar.
    result_shown(int)
        After a result has been drawn into the panels (its request serial).
    """

    status_message = pyqtSignal(str)
    result_shown = pyqtSignal(int)
    _compute_requested = pyqtSignal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._kernels = {name: np.asarray(k, dtype=np.float32)
                         for name, k in kernel_gallery.KERNELS.items()}
        self._photos = asset_images()
        self._serial = 0
        self._shown_serial = -1
        self._busy = False
        self._pending: GalleryRequest | None = None
        self._thread = None  # the worker's QThread, started on the first request
        self._worker: GalleryWorker | None = None
        self._loader = ImageLoader(self)
        self._loader.loaded.connect(self._on_photo_loaded)
        self._loader.failed.connect(self._on_photo_failed)
        self._loading_key = ""                    # photo_combo data of the file being read
        self._image: np.ndarray | None = None     # working copy, (H, W) or (H, W, 3)
        self._grey: np.ndarray | None = None      # (H, W) float32
        self._photo_note = ""
        self._photo_key = ""                      # photo_combo data of the photo shown
        self._kernel = np.zeros((3, 3), dtype=np.float32)
        self._kernel_ok = True
        self._kernel_name: str | None = None      # the named kernel shown, None: the learner's
        self._last_result: GalleryResult | None = None
        self._stopped = False
        self._waiting_for_kernels = False
        self._photo_name = ""
        self._scaled: ScaledImage | None = None
        self._info: tuple = ("", {})              # the info line: msgid and values

        self.texts = Texts()
        self._construct(self._construction())

    def _construction(self):
        """The steps of the construction (gui.labs._base.StagedConstruction)."""
        self._build_ui()
        yield
        self.original_panel = ImagePanel()
        self.conv_panel = ImagePanel(colorbar=True)
        yield
        self._build_panels()
        self._reveal_later(self.panels_widget)  # painted a turn after the settings
        yield
        first = DEFAULT_PHOTO if DEFAULT_PHOTO in self._photos else next(iter(self._photos), None)
        if first is not None:
            self._show_photo(load_scaled(self._photos[first], MAX_SIDE), name=first)
            self.photo_combo.setCurrentIndex(self.photo_combo.findData(first))
            self._photo_key = first
        self.select_kernel(DEFAULT_KERNEL if DEFAULT_KERNEL in self._kernels
                           else next(iter(self._kernels)))
        show_refusals_in_place(self.controls, self.status_message.emit)
        self.retranslate()

    def retranslate(self) -> None:
        """Set every text again in the current language."""
        self.texts.apply()
        title_photo_items(self.photo_combo)
        self._show_kernel_name()
        self._show_photo_texts()
        self._on_kernel_settings_changed(recompute=False)
        self._show_info()
        if self._last_result is not None:
            self.show_result(self._last_result)

    @property
    def loading(self) -> bool:
        """True while a large photo file is being read in the background."""
        return self._loader.busy

    # ---------------------------------------------------------------------- UI
    def _build_ui(self) -> None:
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        controls = self.controls = QWidget()
        column = QVBoxLayout(controls)
        column.setContentsMargins(4, 4, 4, 4)
        column.addWidget(self._build_photo_box())
        column.addWidget(self._build_kernel_grid(mono))
        column.addWidget(self._build_editor(mono))
        column.addWidget(self._build_stage_box())
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        controls.setMaximumWidth(CONTROLS_WIDTH)
        bar = scroll.verticalScrollBar().sizeHint().width()
        scroll.setFixedWidth(CONTROLS_WIDTH + bar + 4)  # room for the vertical scroll bar
        self.controls_scroll = scroll
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(scroll)

    def _build_panels(self) -> None:
        """The image panels (the first two made already) and the lines under them."""
        self.activation_panel = ImagePanel(colorbar=True)
        self.pool_panel = ImagePanel(colorbar=True)
        grid = QGridLayout()
        grid.setSpacing(6)
        for i, panel in enumerate((self.original_panel, self.conv_panel,
                                   self.activation_panel, self.pool_panel)):
            grid.addWidget(panel, i // 2, i % 2)
        self.info_label = QLabel("")
        self.info_label.setWordWrap(True)
        self.info_label.setStyleSheet("color: #333;")
        self.notice_label = QLabel("")  # the downscaling notice, shown only when it applies
        self.notice_label.setWordWrap(True)
        self.notice_label.setStyleSheet("color: #8a5a00; font-weight: bold;")
        self.notice_label.hide()
        right = QVBoxLayout()
        right.addWidget(self.notice_label)
        right.addLayout(grid, stretch=1)
        right.addWidget(self.info_label)
        self.panels_widget = QWidget()
        self.panels_widget.setLayout(right)
        self.layout().addWidget(self.panels_widget, stretch=1)

    def _build_photo_box(self) -> QGroupBox:
        t = self.texts
        box = QGroupBox()
        t(box.setTitle, tr_noop("Photograph"))
        column = QVBoxLayout(box)
        row = QHBoxLayout()
        self.photo_combo = _combo()
        for name in self._photos:
            self.photo_combo.addItem(photo_title(name), name)
        t(self.photo_combo.setToolTip, tr_noop("Sample photographs (provenance under Help > "
                                               "About)"))
        self.photo_combo.activated.connect(self._on_photo_chosen)
        open_button = QPushButton()
        t(open_button.setText, tr_noop("Open image…"))
        t(open_button.setToolTip, tr_noop("Use your own PNG, JPEG or BMP file (Ctrl+O)"))
        open_button.clicked.connect(self.open_image_dialog)
        row.addWidget(self.photo_combo, stretch=1)
        row.addWidget(open_button)
        column.addLayout(row)
        self.loading_label = note_label()  # "Reading big.png (8000×8000)…"
        self.loading_label.hide()
        column.addWidget(self.loading_label)
        return box

    def _build_kernel_grid(self, mono: QFont) -> QGroupBox:
        """The course's nine kernels (Alt+1 … Alt+9), then the older textbook ones."""
        box = QGroupBox()
        self.texts(box.setTitle, tr_noop("The course's nine kernels (click one)"))
        grid = QGridLayout(box)
        grid.setSpacing(4)
        self.kernel_group = QButtonGroup(self)
        self.kernel_group.setExclusive(True)
        self.kernel_buttons: dict[str, QToolButton] = {}
        button_font = QFont(mono)
        button_font.setPointSizeF(8.0)
        course = kernel_gallery.COURSE_KERNELS
        extra_label = note_label()
        self.texts(extra_label.setText, tr_noop("Other textbook kernels:"))
        for i, (name, k) in enumerate(self._kernels.items()):
            button = QToolButton()
            button.setCheckable(True)
            button.setFont(button_font)
            button.setMinimumWidth(60)
            keys = QKeySequence(f"Alt+{i + 1}") if name in course else None  # hidden labs
            self.texts.call(lambda b=button, n=name, m=k, s=keys:  # ignore it
                            self._title_kernel_button(b, n, m, s))
            button.setMinimumHeight(56)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            button.setStyleSheet(
                "QToolButton { padding: 3px; border: 1px solid #bbb; border-radius: 4px;"
                " background: #fafafa; }"
                "QToolButton:checked { background: #d7e8fa; border: 2px solid #2a7ab8; }")
            button.clicked.connect(lambda _=False, n=name: self.select_kernel(n))
            self.kernel_group.addButton(button)
            self.kernel_buttons[name] = button
            # the course's nine in three rows; the older kernels under a line of their own
            rows = -(-len(course) // 3)
            if i == len(course):
                grid.addWidget(extra_label, rows, 0, 1, 3)
            k = i if i < len(course) else i - len(course)
            grid.addWidget(button, k // 3 + (0 if i < len(course) else rows + 1), k % 3)
        return box

    def _title_kernel_button(self, button: QToolButton, name: str, kernel: np.ndarray,
                             shortcut: QKeySequence | None) -> None:
        button.setText(f"{kernel_gallery.kernel_name(name)}\n{matrix_text(kernel, width=4)}")
        if shortcut is not None:
            button.setShortcut(shortcut)  # after setText, which resets it to the mnemonic
        description = kernel_gallery.kernel_description(name) or kernel_gallery.kernel_name(name)
        keys = shortcut.toString(QKeySequence.SequenceFormat.NativeText) if shortcut else ""
        button.setToolTip(tr("{description} ({keys})").format(description=description,
                                                               keys=keys) if keys
                          else description)

    def _build_editor(self, mono: QFont) -> QGroupBox:
        t = self.texts
        box = QGroupBox()
        t(box.setTitle, tr_noop("Kernel values"))
        layout = QVBoxLayout(box)
        layout.addWidget(note_label(), 0)
        t(layout.itemAt(0).widget().setText, tr_noop("Type to edit: numbers or fractions "
                                                     "like 1/9."))
        cells = QGridLayout()
        cells.setSpacing(3)
        self.cell_edits: list[list[QLineEdit]] = []
        for r in range(3):
            row = []
            for c in range(3):
                edit = QLineEdit()
                edit.setFont(mono)
                edit.setAlignment(Qt.AlignmentFlag.AlignCenter)
                edit.setMaximumWidth(80)
                t(edit.setToolTip, tr_noop("Row {row}, column {col}"), row=r + 1, col=c + 1)
                edit.textEdited.connect(self._on_cell_edited)
                cells.addWidget(edit, r, c)
                row.append(edit)
            self.cell_edits.append(row)
        layout.addLayout(cells)
        self.kernel_name_label = QLabel("")
        self.kernel_name_label.setWordWrap(True)
        layout.addWidget(self.kernel_name_label)
        self.kernel_error_label = QLabel("")
        self.kernel_error_label.setWordWrap(True)
        self.kernel_error_label.setStyleSheet("color: #b00020;")
        self.kernel_error_label.hide()
        layout.addWidget(self.kernel_error_label)

        self.normalise_check = QCheckBox()
        self.normalise_check.toggled.connect(self._on_kernel_settings_changed)
        layout.addWidget(self.normalise_check)
        self.normalise_label = note_label()
        self.normalise_label.hide()
        layout.addWidget(self.normalise_label)

        self.correlation_radio = QRadioButton()
        self.convolution_radio = QRadioButton()
        t(self.correlation_radio.setText, tr_noop("Cross-correlation (what CNNs compute)"))
        t(self.convolution_radio.setText, tr_noop("True convolution (kernel rotated 180°)"))
        self.correlation_radio.setChecked(True)
        self.correlation_radio.toggled.connect(self._on_kernel_settings_changed)
        layout.addWidget(self.correlation_radio)
        layout.addWidget(self.convolution_radio)
        explain = note_label()
        t(explain.setText, EXPLAIN_CORRELATION)
        layout.addWidget(explain)
        self.applied_label = QLabel("")
        self.applied_label.setFont(mono)
        layout.addWidget(self.applied_label)
        return box

    def _build_stage_box(self) -> QGroupBox:
        t = self.texts
        box = QGroupBox()
        t(box.setTitle, tr_noop("Padding, activation and pooling"))
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.padding_combo = _combo()
        t.call(lambda: _fill_combo(self.padding_combo, PADDINGS))
        t(self.padding_combo.setToolTip, tr_noop(
            "Zero padding keeps the size but makes the border look like a dark frame, which "
            "edge kernels respond to."))
        self.padding_combo.currentIndexChanged.connect(self.request_update)
        form.addRow(t.label(tr_noop("Padding")), self.padding_combo)
        self.activation_combo = _combo()
        activations = [(name, ACTIVATION_LABELS[name]) for name in ACTIVATION_LABELS
                       if name in kernel_gallery.ACTIVATIONS]
        t.call(lambda: _fill_combo(self.activation_combo, activations))
        self.activation_combo.currentIndexChanged.connect(self.request_update)
        form.addRow(t.label(tr_noop("Activation")), self.activation_combo)
        self.pool_combo = _combo()
        t.call(lambda: _fill_combo(self.pool_combo, POOLS))
        self.pool_combo.currentIndexChanged.connect(self.request_update)
        form.addRow(t.label(tr_noop("Pooling")), self.pool_combo)
        self.pool_size_spin = int_spin(1, 32, 2)
        self.pool_stride_spin = int_spin(1, 32, 2)
        t(self.pool_size_spin.setToolTip, tr_noop("Pooling window size"))
        t(self.pool_stride_spin.setToolTip, tr_noop("Pooling stride"))
        self.pool_size_spin.valueChanged.connect(self.request_update)
        self.pool_stride_spin.valueChanged.connect(self.request_update)
        form.addRow(t.label(tr_noop("Window size")), self.pool_size_spin)
        form.addRow(t.label(tr_noop("Stride")), self.pool_stride_spin)
        return box

    # ------------------------------------------------------------------ photos
    def open_image_dialog(self) -> None:
        path = file_dialogs.open_file_name(self, tr("Open image"), tr(IMAGE_FILE_FILTER))
        if path:
            self.open_image(path)

    def open_image(self, path) -> bool:
        """Use an image file (File > Open image). A bad file leaves the lab unchanged.

        Returns False for a file that cannot be read; True when the photo is shown or,
        for a large file, being read in the background (the lab says so meanwhile).
        """
        path = Path(path)
        key = f"file:{path}"
        try:
            self._start_loading(path, key)
        except ImageFileError as err:
            self.status_message.emit(tr("Could not open the image: {error}").format(error=err))
            return False
        return self._photo_key == key or self.loading

    def _start_loading(self, path: Path, key: str) -> None:
        self._loading_key = key
        if not self._loader.load(path, MAX_SIDE):
            self.loading_label.setText(tr("Reading {name}…").format(name=path.name))
            self.loading_label.show()

    def _on_photo_loaded(self, photo: ScaledImage) -> None:
        self.loading_label.hide()
        key = self._loading_key
        path = Path(photo.path)
        self._show_photo(photo, name=key if not key.startswith("file:") else path.name)
        index = self.photo_combo.findData(key)
        if index < 0:
            self.photo_combo.addItem(path.name, key)
            index = self.photo_combo.count() - 1
        self.photo_combo.setCurrentIndex(index)
        self._photo_key = key
        if key.startswith("file:"):
            self.status_message.emit(tr("Opened {name}").format(name=path.name))
        self.request_update()

    def _on_photo_failed(self, _path: str, message: str) -> None:
        self.loading_label.hide()
        self.status_message.emit(tr("Could not open the image: {error}").format(error=message))
        # e.g. the file was deleted since it was opened: show the photo shown before
        self.photo_combo.setCurrentIndex(self.photo_combo.findData(self._photo_key))

    def _on_photo_chosen(self, index: int) -> None:
        key = self.photo_combo.itemData(index)
        path = Path(key[5:]) if key.startswith("file:") else self._photos[key]
        try:
            self._start_loading(path, key)
        except ImageFileError as err:  # e.g. the file was deleted since it was opened
            self._on_photo_failed(str(path), str(err))

    def _show_photo(self, photo: ScaledImage, name: str) -> None:
        small = photo.image
        self._scaled, self._photo_name = photo, name
        self._image = small
        self._grey = kernel_gallery.to_grey(small)
        mode = "rgb" if small.ndim == 3 else "greys"
        self.original_panel.set_image(small, mode=mode, levels=(0.0, 1.0))
        self._show_photo_texts()

    def _show_photo_texts(self) -> None:
        photo = self._scaled
        if photo is None:
            return
        small = photo.image
        if photo.factor > 1:
            sh, sw = small.shape[:2]
            self._photo_note = tr(
                "This photo is {w}×{h} pixels: the lab works on a {sw}×{sh} copy (each "
                "{f}×{f} block averaged) so that it can update while you type.").format(
                w=photo.width, h=photo.height, sw=sw, sh=sh, f=photo.factor)
            self.notice_label.setText(self._photo_note)
            self.notice_label.show()
        else:
            self._photo_note = ""
            self.notice_label.hide()
        colour = small.ndim == 3
        title = (tr("Original: {name} (convolved in greyscale)") if colour
                 else tr("Original: {name}"))
        self.original_panel.set_title(title.format(name=photo_title(self._photo_name)))
        caption = (tr("{w}×{h} pixels, colour, values 0 (black) to 1 (white)") if colour
                   else tr("{w}×{h} pixels, grey, values 0 (black) to 1 (white)"))
        self.original_panel.set_caption(caption.format(w=small.shape[1], h=small.shape[0]))

    # ----------------------------------------------------------------- kernels
    def select_kernel(self, name: str) -> None:
        """Load a named kernel into the editor and update."""
        kernel = self._kernels[name]
        for r in range(3):
            for c in range(3):
                self.cell_edits[r][c].setText(format_value(kernel[r, c]))
        self.kernel_buttons[name].setChecked(True)
        self._kernel_name = name
        self._show_kernel_name()
        self._on_cell_edited()

    def _show_kernel_name(self) -> None:
        name = self._kernel_name
        if name is None:
            self.kernel_name_label.setText("<b>" + tr("Your own kernel") + "</b>")
            return
        description = kernel_gallery.kernel_description(name)
        self.kernel_name_label.setText(
            f"<b>{kernel_gallery.kernel_name(name)}</b>"
            + (tr(": {description}").format(description=description) if description else ""))

    def kernel_as_typed(self) -> np.ndarray:
        """The editor's values, float32 (3, 3); raises ValueError naming the bad cell."""
        values = np.zeros((3, 3), dtype=np.float32)
        for r in range(3):
            for c in range(3):
                try:
                    values[r, c] = parse_value(self.cell_edits[r][c].text())
                except ValueError as err:
                    raise ValueError(tr("row {row}, column {col} {reason}").format(
                        row=r + 1, col=c + 1, reason=err)) from None
        return values

    def _on_cell_edited(self, _text: str = "") -> None:
        bad = []
        for r in range(3):
            for c in range(3):
                try:
                    parse_value(self.cell_edits[r][c].text())
                    ok = True
                except ValueError:
                    ok = False
                self.cell_edits[r][c].setStyleSheet(
                    "" if ok else "QLineEdit { background: #ffe0e0; border: 1px solid #b00020; }")
                if not ok:
                    bad.append((r, c))
        if bad:
            try:
                self.kernel_as_typed()
            except ValueError as err:
                self.kernel_error_label.setText(tr("Not used yet: {reason}.").format(
                    reason=err))
            self.kernel_error_label.show()
            self._kernel_ok = False
            return
        self.kernel_error_label.hide()
        self._kernel_ok = True
        typed = self.kernel_as_typed()
        # a kernel that no longer matches the checked button is the learner's own
        checked = self.kernel_group.checkedButton()
        for name, button in self.kernel_buttons.items():
            if button is checked and not np.allclose(self._kernels[name], typed, atol=1e-6):
                self.kernel_group.setExclusive(False)
                button.setChecked(False)
                self.kernel_group.setExclusive(True)
                self._kernel_name = None
                self._show_kernel_name()
        self._on_kernel_settings_changed()

    def _on_kernel_settings_changed(self, *_args, recompute: bool = True) -> None:
        if not self._kernel_ok:
            return
        typed = self.kernel_as_typed()
        total = float(typed.sum())
        self.normalise_check.setText(tr("Normalise: divide by the sum ({total})").format(
            total=format_value(total)))
        if self.normalise_check.isChecked():
            self._kernel = np.asarray(kernel_gallery.normalise_kernel(typed), dtype=np.float32)
            self.normalise_label.setText(self._normalise_note(typed))
            self.normalise_label.show()
        else:
            self._kernel = typed
            self.normalise_label.hide()
        if recompute:
            self.request_update()

    @staticmethod
    def _normalise_note(typed: np.ndarray) -> str:
        """What normalisation did to this kernel, in words (mirrors engine.gallery)."""
        total, absolute = float(typed.sum()), float(np.abs(typed).sum())
        if absolute == 0:
            return tr("All values are 0: nothing to normalise.")
        if abs(total) <= 1e-9 * absolute:
            return tr("The values sum to 0 (an edge detector), so each is divided by the sum "
                      "of their sizes, {absolute}, instead.").format(
                absolute=format_value(absolute))
        return tr("Each value is divided by the sum, {total}, so a flat region keeps its "
                  "brightness.").format(total=format_value(total))

    # ------------------------------------------------------------- computation
    def make_request(self) -> GalleryRequest | None:
        """A request for the current settings (copies), or None without a photo/kernel."""
        if self._grey is None or not self._kernel_ok:
            return None
        self._serial += 1
        return GalleryRequest(
            serial=self._serial,
            grey=self._grey.copy(),
            kernel=self._kernel.copy(),
            mode="convolution" if self.convolution_radio.isChecked() else "cross-correlation",
            padding=self.padding_combo.currentData(),
            activation=self.activation_combo.currentData(),
            pool=self.pool_combo.currentData(),
            pool_size=self.pool_size_spin.value(),
            pool_stride=self.pool_stride_spin.value(),
        )

    def request_update(self, *_args) -> None:
        """Compute the panels for the current settings in the worker thread.

        While a computation runs, only the newest request waits (latest request wins).
        """
        if self._stopped:  # after shutdown() no thread may start again
            return
        if self._waiting_for_kernels:
            return
        if not when_kernels_ready(self, self._on_kernels_ready):
            # first start: the kernels compile in the warm-up; a first request here would
            # compile them again in this process, twice as slowly for everyone
            self._waiting_for_kernels = True
            self._set_info(NOT_READY_TEXT)
            return
        request = self.make_request()
        if request is None:
            return
        if self._busy:
            self._pending = request
            return
        self._send(request)

    def _on_kernels_ready(self) -> None:
        self._waiting_for_kernels = False
        self.request_update()

    def _send(self, request: GalleryRequest) -> None:
        if self._stopped:
            return
        self._ensure_worker()
        self._busy = True
        if self._last_result is None:  # the very first run may wait for Numba to compile
            self._set_info(tr_noop("Computing the first result (on the very first start the "
                                   "fast kernels are being prepared; this takes a few "
                                   "seconds)…"))
        self._compute_requested.emit(request)

    def _ensure_worker(self) -> None:
        if self._worker is not None:
            return
        self._worker = GalleryWorker()
        self._compute_requested.connect(self._worker.compute)
        self._worker.done.connect(self._on_result)
        self._worker.failed.connect(self._on_failed)
        self._thread = start_worker(self._worker, "gallery-worker", service=True)

    def _on_result(self, result: GalleryResult) -> None:
        self._busy = False
        if self._pending is not None:  # newer settings arrived meanwhile: compute them next
            request, self._pending = self._pending, None
            self._send(request)
        if result.serial > self._shown_serial:
            self.show_result(result)

    def _on_failed(self, serial: int, message: str) -> None:
        self._busy = False
        if self._pending is not None:
            request, self._pending = self._pending, None
            self._send(request)
        self._set_info(tr_noop("Could not compute the result: {error}"), error=message)
        self.status_message.emit(tr("Kernel gallery: {text}").format(text=self.info_label.text()))

    def _set_info(self, msgid: str, **values) -> None:
        self._info = (msgid, values)
        self._show_info()

    def _show_info(self) -> None:
        msgid, values = self._info
        self.info_label.setText(tr(msgid).format(**values) if msgid else "")

    def update_now(self) -> GalleryResult | None:
        """Compute and draw on the calling (GUI) thread; used for screenshots."""
        request = self.make_request()
        if request is None:
            return None
        result = compute_gallery(request)
        self.show_result(result)
        return result

    # ---------------------------------------------------------------- drawing
    def show_result(self, result: GalleryResult) -> None:
        """Draw a finished result into the panels (GUI thread)."""
        self._shown_serial = result.serial
        self._last_result = result
        ho, wo = result.conv.shape
        h, w = result.request.grey.shape
        kh, kw = result.applied_kernel.shape
        request = result.request
        scale = result.conv_scale
        self.conv_panel.set_image(result.conv, mode="diverging", levels=(-scale, scale))
        self.conv_panel.set_title(tr("Convolution result (convolution): blue < 0 < red")
                                  if request.flip else
                                  tr("Convolution result (cross-correlation): blue < 0 < red"))
        lo, hi = float(result.conv.min()), float(result.conv.max())
        caption = (tr("{w}×{h} → {wo}×{ho} ({kw}×{kh} kernel, stride 1, zero padding 1).")
                   if request.padding == "same" else
                   tr("{w}×{h} → {wo}×{ho} ({kw}×{kh} kernel, stride 1, no padding)."))
        self.conv_panel.set_caption(
            caption.format(w=w, h=h, wo=wo, ho=ho, kw=kw, kh=kh) +
            tr(" Values {lo:.3g} to {hi:.3g}; colours saturate beyond ±{scale:.3g} ({share:g}% "
               "of pixels are inside).").format(lo=lo, hi=hi, scale=scale,
                                                share=DISPLAY_PERCENTILE))

        activation = request.activation
        mode, levels = self._activation_colours(activation, scale)
        self.activation_panel.set_image(result.activated, mode=mode, levels=levels)
        self.activation_panel.set_title(tr("After activation: {name}").format(
            name=tr(ACTIVATION_LABELS[activation])))
        self.activation_panel.set_caption(self._activation_caption(activation))

        size, stride = request.pool_size, request.pool_stride
        title = (tr("After max pooling ({size}×{size}, stride {stride})") if request.pool == "max"
                 else tr("After average pooling ({size}×{size}, stride {stride})"))
        self.pool_panel.set_title(title.format(size=size, stride=stride))
        if result.pooled is None:
            self.pool_panel.clear()
            self.pool_panel.set_caption(tr("Pooling impossible: {reason}").format(
                reason=result.pool_error))
        else:
            self.pool_panel.set_image(result.pooled, mode=mode, levels=levels)
            ph, pw = result.pooled.shape
            self.pool_panel.set_caption(tr(
                "{wo}×{ho} → {pw}×{ph}: floor(({wo} − {size}) / {stride}) + 1 = {pw} columns; "
                "same colours as the activation panel").format(wo=wo, ho=ho, pw=pw, ph=ph,
                                                                size=size, stride=stride))

        self.applied_label.setText(
            tr("Kernel applied (rotated 180°):") + "\n" + matrix_text(result.applied_kernel)
            if request.flip else "")
        self._set_info(tr_noop("Computed in {ms:.1f} ms by the engine (engine.conv2d_forward, "
                               "engine.{pool}_pool2d_forward)."),
                       ms=result.seconds * 1000, pool="max" if request.pool == "max" else "avg")
        self.result_shown.emit(result.serial)

    @staticmethod
    def _activation_colours(activation: str, conv_scale: float):
        """Colour mode and levels of the activation and pooling panels."""
        if activation == "tanh":
            return "diverging", (-1.0, 1.0)
        if activation == "sigmoid":
            return "greys", (0.0, 1.0)
        if activation == "none":
            return "diverging", (-conv_scale, conv_scale)
        return "greys", (0.0, conv_scale)  # ReLU: the positive half of the conv scale

    @staticmethod
    def _activation_caption(activation: str) -> str:
        if activation == "ReLU":
            return tr("Negative values become 0 (black); positive ones pass unchanged.")
        if activation == "sigmoid":
            return tr("Squashed into (0, 1); a result of 0 becomes 0.5 (mid grey).")
        if activation == "tanh":
            return tr("Squashed into (−1, 1), sign kept: blue < 0 < red.")
        return tr("No activation: the convolution result unchanged.")

    # ------------------------------------------------------------ shell hooks
    def current_result(self) -> GalleryResult | None:
        """The result now on screen."""
        return self._last_result

    def working_image(self) -> np.ndarray | None:
        """The (possibly downscaled) grey image the kernel is applied to, (H, W)."""
        return self._grey

    def prepare_screenshot(self) -> None:
        self.update_now()

    def export_widget(self) -> QWidget:
        return self.panels_widget

    def shutdown(self) -> None:
        """Ask the worker to stop (the shell waits for every thread); computes no more."""
        self._stopped = True
        if self._worker is not None:
            self._worker.request_stop()
            self._thread.quit()
        self._loader.stop()
        self._thread = None
        self._worker = None
        self._busy = False
        self._pending = None
