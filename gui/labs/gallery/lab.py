"""Kernel gallery lab: classic 3x3 kernels on a real photograph.

Four panels show the path of one image through a CNN stage: the original, the
convolution result (signed, so blue < 0 < red with white at zero), the result after
an activation (ReLU, sigmoid or tanh) and after pooling (max or average). The learner
picks one of the nine named kernels or types their own values, may normalise the
kernel, and toggles between cross-correlation (what CNN layers compute) and true
convolution (the kernel rotated by 180 degrees first).

Responsiveness: every change builds a :class:`GalleryRequest` (copies of the inputs)
that a worker thread computes with the engine; while one request runs, only the
newest waiting one is kept (latest request wins), so typing never queues up stale
work and the GUI thread only draws finished results. Photos larger than
``MAX_SIDE`` are shrunk by block averaging first, and the lab says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QObject, Qt, QThread, pyqtSignal, pyqtSlot
from PyQt6.QtGui import QFont, QFontDatabase, QKeySequence
from PyQt6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
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
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

import engine
from engine import gallery as kernel_gallery
from gui.widgets.form_rows import note_label
from gui.widgets.image_panel import ImagePanel
from gui.widgets.images import (
    IMAGE_FILE_FILTER,
    ImageFileError,
    asset_images,
    downscale,
    load_image,
)

__all__ = [
    "GalleryLab",
    "GalleryRequest",
    "GalleryResult",
    "compute_gallery",
    "parse_value",
    "format_value",
    "MAX_SIDE",
]

CONTROLS_WIDTH = 350
#: The signed panels' colour scale covers this share of the pixels (the rest saturate).
DISPLAY_PERCENTILE = 99.5
#: Longest side of the working copy of a photo: larger photos are block-averaged down.
MAX_SIDE = 800
DEFAULT_PHOTO = "camera"
DEFAULT_KERNEL = "Sobel-X"
ACTIVATION_LABELS = {"ReLU": "ReLU: max(0, x)", "sigmoid": "sigmoid: 1 / (1 + e^−x)",
                     "tanh": "tanh", "none": "none (identity)"}

EXPLAIN_CORRELATION = (
    "Cross-correlation slides the kernel as it is (what CNN layers compute); true convolution "
    "rotates it by 180° first, which changes only asymmetric kernels such as Sobel or emboss.")


# --------------------------------------------------------------------- the computation
@dataclass(frozen=True)
class GalleryRequest:
    """Everything one update needs, as private copies (safe to hand to another thread).

    Attributes
    ----------
    serial : int
        Increases with every request; results of older requests are dropped.
    grey : ndarray, float32, shape (H, W)
        The working copy of the photo in [0, 1].
    kernel : ndarray, float32, shape (KH, KW)
        The kernel as the learner sees it (after normalisation, before any flip).
    mode : {"cross-correlation", "convolution"}
        "convolution" applies the kernel rotated by 180 degrees.
    padding : {"same", "valid"}
    activation : one of ``engine.gallery.ACTIVATIONS`` ("ReLU", "sigmoid", "tanh", "none")
    pool : {"max", "avg"}
    pool_size, pool_stride : int
    """

    serial: int
    grey: np.ndarray
    kernel: np.ndarray
    mode: str
    padding: str
    activation: str
    pool: str
    pool_size: int
    pool_stride: int

    @property
    def flip(self) -> bool:
        return self.mode == "convolution"


@dataclass(frozen=True)
class GalleryResult:
    """The three computed panels of one request.

    Attributes
    ----------
    request : GalleryRequest
        The settings this result was computed for.
    applied_kernel : ndarray, shape (KH, KW)
        The kernel actually slid over the image (rot180_kernel for true convolution).
    conv : ndarray, float32, shape (HO, WO)
    activated : ndarray, float32, shape (HO, WO)
    pooled : ndarray, float32, shape (PH, PW), or None if the window does not fit
    pool_error : str
        Why ``pooled`` is None, in words ("" otherwise).
    conv_scale : float
        The colour scale of the signed panels: the 99.5th percentile of |conv|, so a
        few extreme pixels do not wash every edge out to white (they saturate instead).
    seconds : float
        Compute time of this request.
    """

    request: GalleryRequest
    applied_kernel: np.ndarray
    conv: np.ndarray
    activated: np.ndarray
    pooled: np.ndarray | None
    pool_error: str
    conv_scale: float
    seconds: float

    @property
    def serial(self) -> int:
        return self.request.serial


def compute_gallery(request: GalleryRequest) -> GalleryResult:
    """Convolve, activate and pool one photo with the engine. No Qt; any thread.

    ``engine.gallery.apply_kernel`` runs engine.conv2d_forward with one input channel
    and one filter; ``engine.gallery.pool_image`` runs engine.max_pool2d_forward or
    engine.avg_pool2d_forward.
    """
    start = time.perf_counter()
    kernel = np.asarray(request.kernel, dtype=np.float32)
    # true convolution = cross-correlation with the kernel rotated by 180 degrees
    applied_kernel = kernel[::-1, ::-1].copy() if request.flip else kernel
    conv = kernel_gallery.apply_kernel(request.grey, kernel, mode=request.mode,
                                       padding=request.padding)
    activated = kernel_gallery.activate(conv, request.activation)
    pooled, pool_error = None, ""
    try:
        pooled = kernel_gallery.pool_image(activated, request.pool, request.pool_size,
                                           request.pool_stride)
    except engine.GeometryError as err:
        pool_error = str(err)
    return GalleryResult(request, applied_kernel, conv, activated, pooled, pool_error,
                         display_scale(conv), time.perf_counter() - start)


def display_scale(a: np.ndarray, percentile: float = DISPLAY_PERCENTILE) -> float:
    """Half-width of a colour scale centred on 0 that covers ``percentile`` % of |a|.

    Falls back to max |a| (and to 1 for an all-zero map) so the scale is never empty.
    """
    magnitude = np.abs(a[np.isfinite(a)])
    if magnitude.size == 0:
        return 1.0
    scale = float(np.percentile(magnitude, percentile))
    if scale <= 0:
        scale = float(magnitude.max())
    return scale if scale > 0 else 1.0


class GalleryWorker(QObject):
    """Runs :func:`compute_gallery` in the lab's worker thread; never touches widgets."""

    done = pyqtSignal(object)        # GalleryResult
    failed = pyqtSignal(int, str)    # serial, message

    @pyqtSlot(object)
    def compute(self, request: GalleryRequest) -> None:
        try:
            self.done.emit(compute_gallery(request))
        except Exception as err:  # noqa: BLE001 - shown in the lab instead of a crash
            self.failed.emit(request.serial, str(err))


# ------------------------------------------------------------------ kernel values as text
def parse_value(text: str) -> float:
    """A kernel entry typed by the learner: a number or a fraction such as ``1/9``.

    Raises
    ------
    ValueError
        With a short reason.
    """
    text = text.strip().replace("−", "-").replace(",", ".")
    if not text:
        raise ValueError("is empty")
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            value = float(num) / float(den)
        else:
            value = float(text)
    except ZeroDivisionError:
        raise ValueError(f"'{text}' divides by zero") from None
    except ValueError:
        raise ValueError(f"'{text}' is not a number") from None
    if not np.isfinite(value):
        raise ValueError(f"'{text}' is not a finite number")
    return value


def format_value(value: float) -> str:
    """Short text for a kernel entry: ``-1``, ``1/9``, ``0.25`` ..."""
    value = float(value)
    if abs(value - round(value)) < 1e-6:
        return str(int(round(value)))
    frac = Fraction(value).limit_denominator(64)
    if abs(float(frac) - value) < 1e-6 and abs(frac.numerator) < 100:
        return f"{frac.numerator}/{frac.denominator}"
    return f"{value:.3g}"


def kernel_title(name: str) -> str:
    """Display name of a gallery key: ``vertical edge`` -> ``Vertical edge``."""
    return name[:1].upper() + name[1:]


def matrix_text(kernel: np.ndarray, width: int = 5) -> str:
    """A kernel as aligned rows of text (for buttons and labels in a monospace font)."""
    return "\n".join("".join(format_value(v).rjust(width) for v in row) for row in kernel)


def _combo() -> QComboBox:
    """A combo box that does not widen the control column to its longest item."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(8)
    return combo


# ------------------------------------------------------------------------------ the lab
class GalleryLab(QWidget):
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
        self._descriptions = dict(getattr(kernel_gallery, "DESCRIPTIONS", {}))
        self._photos = asset_images()
        self._serial = 0
        self._shown_serial = -1
        self._busy = False
        self._pending: GalleryRequest | None = None
        self._thread: QThread | None = None
        self._worker: GalleryWorker | None = None
        self._image: np.ndarray | None = None     # working copy, (H, W) or (H, W, 3)
        self._grey: np.ndarray | None = None      # (H, W) float32
        self._photo_note = ""
        self._photo_key = ""                      # photo_combo data of the photo shown
        self._kernel = np.zeros((3, 3), dtype=np.float32)
        self._kernel_ok = True
        self._last_result: GalleryResult | None = None
        self._stopped = False

        self._build_ui()
        first = DEFAULT_PHOTO if DEFAULT_PHOTO in self._photos else next(iter(self._photos), None)
        if first is not None:
            self._load_photo(self._photos[first], name=first)
            self.photo_combo.setCurrentIndex(self.photo_combo.findData(first))
            self._photo_key = first
        self.select_kernel(DEFAULT_KERNEL if DEFAULT_KERNEL in self._kernels
                           else next(iter(self._kernels)))

    # ---------------------------------------------------------------------- UI
    def _build_ui(self) -> None:
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        controls = QWidget()
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
        scroll.setFixedWidth(CONTROLS_WIDTH + 18)  # room for the vertical scroll bar

        self.original_panel = ImagePanel("Original")
        self.conv_panel = ImagePanel("Convolution result", colorbar=True)
        self.activation_panel = ImagePanel("After activation", colorbar=True)
        self.pool_panel = ImagePanel("After pooling", colorbar=True)
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

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(scroll)
        layout.addWidget(self.panels_widget, stretch=1)

    def _build_photo_box(self) -> QGroupBox:
        box = QGroupBox("Photograph")
        row = QHBoxLayout(box)
        self.photo_combo = _combo()
        for name in self._photos:
            self.photo_combo.addItem(name.capitalize(), name)
        self.photo_combo.setToolTip("Sample photographs (provenance under Help > About)")
        self.photo_combo.activated.connect(self._on_photo_chosen)
        open_button = QPushButton("Open image…")
        open_button.setToolTip("Use your own PNG, JPEG or BMP file (Ctrl+O)")
        open_button.clicked.connect(self.open_image_dialog)
        row.addWidget(self.photo_combo, stretch=1)
        row.addWidget(open_button)
        return box

    def _build_kernel_grid(self, mono: QFont) -> QGroupBox:
        box = QGroupBox("Named kernels (click one)")
        grid = QGridLayout(box)
        grid.setSpacing(4)
        self.kernel_group = QButtonGroup(self)
        self.kernel_group.setExclusive(True)
        self.kernel_buttons: dict[str, QToolButton] = {}
        button_font = QFont(mono)
        button_font.setPointSizeF(8.0)
        for i, (name, k) in enumerate(self._kernels.items()):
            button = QToolButton()
            button.setCheckable(True)
            button.setFont(button_font)
            button.setText(f"{kernel_title(name)}\n{matrix_text(k, width=4)}")
            button.setMinimumWidth(60)
            button.setShortcut(QKeySequence(f"Alt+{i + 1}"))  # hidden labs ignore it
            button.setToolTip(f"{self._descriptions.get(name, kernel_title(name))} "
                              f"(Alt+{i + 1})")
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            button.setStyleSheet(
                "QToolButton { padding: 3px; border: 1px solid #bbb; border-radius: 4px;"
                " background: #fafafa; }"
                "QToolButton:checked { background: #d7e8fa; border: 2px solid #2a7ab8; }")
            button.clicked.connect(lambda _=False, n=name: self.select_kernel(n))
            self.kernel_group.addButton(button)
            self.kernel_buttons[name] = button
            grid.addWidget(button, i // 3, i % 3)
        return box

    def _build_editor(self, mono: QFont) -> QGroupBox:
        box = QGroupBox("Kernel values (type to edit: numbers or fractions like 1/9)")
        layout = QVBoxLayout(box)
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
                edit.setToolTip(f"Row {r + 1}, column {c + 1}")
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

        self.normalise_check = QCheckBox("Normalise: divide by the sum")
        self.normalise_check.toggled.connect(self._on_kernel_settings_changed)
        layout.addWidget(self.normalise_check)
        self.normalise_label = note_label()
        self.normalise_label.hide()
        layout.addWidget(self.normalise_label)

        self.correlation_radio = QRadioButton("Cross-correlation (what CNNs compute)")
        self.convolution_radio = QRadioButton("True convolution (kernel rotated 180°)")
        self.correlation_radio.setChecked(True)
        self.correlation_radio.toggled.connect(self._on_kernel_settings_changed)
        layout.addWidget(self.correlation_radio)
        layout.addWidget(self.convolution_radio)
        explain = note_label(EXPLAIN_CORRELATION)
        layout.addWidget(explain)
        self.applied_label = QLabel("")
        self.applied_label.setFont(mono)
        layout.addWidget(self.applied_label)
        return box

    def _build_stage_box(self) -> QGroupBox:
        box = QGroupBox("Padding, activation and pooling")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.padding_combo = _combo()
        self.padding_combo.addItem("valid (none): output shrinks by 2", "valid")
        self.padding_combo.addItem("same (zeros): output keeps its size", "same")
        self.padding_combo.setToolTip(
            "Zero padding keeps the size but makes the border look like a dark frame, "
            "which edge kernels respond to.")
        self.padding_combo.currentIndexChanged.connect(self.request_update)
        form.addRow("Padding", self.padding_combo)
        self.activation_combo = _combo()
        for name in ("ReLU", "sigmoid", "tanh", "none"):
            if name in kernel_gallery.ACTIVATIONS:
                self.activation_combo.addItem(ACTIVATION_LABELS.get(name, name), name)
        self.activation_combo.currentIndexChanged.connect(self.request_update)
        form.addRow("Activation", self.activation_combo)
        self.pool_combo = _combo()
        self.pool_combo.addItem("max pooling", "max")
        self.pool_combo.addItem("average pooling", "avg")
        self.pool_combo.currentIndexChanged.connect(self.request_update)
        form.addRow("Pooling", self.pool_combo)
        self.pool_size_spin = QSpinBox()
        self.pool_size_spin.setRange(1, 32)
        self.pool_size_spin.setValue(2)
        self.pool_size_spin.valueChanged.connect(self.request_update)
        form.addRow("Window size", self.pool_size_spin)
        self.pool_stride_spin = QSpinBox()
        self.pool_stride_spin.setRange(1, 32)
        self.pool_stride_spin.setValue(2)
        self.pool_stride_spin.valueChanged.connect(self.request_update)
        form.addRow("Stride", self.pool_stride_spin)
        return box

    # ------------------------------------------------------------------ photos
    def open_image_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", str(Path.home()),
                                              IMAGE_FILE_FILTER)
        if path:
            self.open_image(path)

    def open_image(self, path) -> bool:
        """Use an image file (File > Open image). A bad file leaves the lab unchanged."""
        path = Path(path)
        try:
            self._load_photo(path, name=path.name)
        except ImageFileError as err:
            self.status_message.emit(f"Could not open the image: {err}")
            return False
        key = f"file:{path}"
        index = self.photo_combo.findData(key)
        if index < 0:
            self.photo_combo.addItem(path.name, key)
            index = self.photo_combo.count() - 1
        self.photo_combo.setCurrentIndex(index)
        self._photo_key = key
        self.status_message.emit(f"Opened {path.name}")
        self.request_update()
        return True

    def _on_photo_chosen(self, index: int) -> None:
        key = self.photo_combo.itemData(index)
        path = Path(key[5:]) if key.startswith("file:") else self._photos[key]
        try:
            self._load_photo(path, name=path.name if key.startswith("file:") else key)
        except ImageFileError as err:  # e.g. the file was deleted since it was opened
            self.status_message.emit(f"Could not open the image: {err}")
            self.photo_combo.setCurrentIndex(self.photo_combo.findData(self._photo_key))
            return
        self._photo_key = key
        self.request_update()

    def _load_photo(self, path: Path, name: str) -> None:
        image = load_image(path)  # raises ImageFileError with a sentence
        h, w = image.shape[:2]
        small, factor = downscale(image, MAX_SIDE)
        self._image = small
        self._grey = kernel_gallery.to_grey(small)
        kind = "colour" if image.ndim == 3 else "grey"
        if factor > 1:
            sh, sw = small.shape[:2]
            self._photo_note = (
                f"This photo is {w}×{h} pixels: the lab works on a {sw}×{sh} copy (each "
                f"{factor}×{factor} block averaged) so that it can update while you type.")
            self.notice_label.setText(self._photo_note)
            self.notice_label.show()
        else:
            self._photo_note = ""
            self.notice_label.hide()
        mode = "rgb" if small.ndim == 3 else "greys"
        self.original_panel.set_image(small, mode=mode, levels=(0.0, 1.0))
        conv_note = " (convolved in greyscale)" if kind == "colour" else ""
        self.original_panel.set_title(f"Original: {name}{conv_note}")
        self.original_panel.set_caption(
            f"{small.shape[1]}×{small.shape[0]} pixels, {kind}, values 0 (black) to 1 (white)")

    # ----------------------------------------------------------------- kernels
    def select_kernel(self, name: str) -> None:
        """Load a named kernel into the editor and update."""
        kernel = self._kernels[name]
        for r in range(3):
            for c in range(3):
                self.cell_edits[r][c].setText(format_value(kernel[r, c]))
        self.kernel_buttons[name].setChecked(True)
        description = self._descriptions.get(name, "")
        self.kernel_name_label.setText(
            f"<b>{kernel_title(name)}</b>" + (f": {description}" if description else ""))
        self._on_cell_edited()

    def kernel_as_typed(self) -> np.ndarray:
        """The editor's values, float32 (3, 3); raises ValueError naming the bad cell."""
        values = np.zeros((3, 3), dtype=np.float32)
        for r in range(3):
            for c in range(3):
                try:
                    values[r, c] = parse_value(self.cell_edits[r][c].text())
                except ValueError as err:
                    raise ValueError(f"row {r + 1}, column {c + 1} {err}") from None
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
                self.kernel_error_label.setText(f"Not used yet: {err}.")
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
                self.kernel_name_label.setText("<b>Your own kernel</b>")
        self._on_kernel_settings_changed()

    def _on_kernel_settings_changed(self, *_args) -> None:
        if not self._kernel_ok:
            return
        typed = self.kernel_as_typed()
        total = float(typed.sum())
        self.normalise_check.setText(f"Normalise: divide by the sum ({format_value(total)})")
        if self.normalise_check.isChecked():
            self._kernel = np.asarray(kernel_gallery.normalise_kernel(typed), dtype=np.float32)
            self.normalise_label.setText(self._normalise_note(typed))
            self.normalise_label.show()
        else:
            self._kernel = typed
            self.normalise_label.hide()
        self.request_update()

    @staticmethod
    def _normalise_note(typed: np.ndarray) -> str:
        """What normalisation did to this kernel, in words (mirrors engine.gallery)."""
        total, absolute = float(typed.sum()), float(np.abs(typed).sum())
        if absolute == 0:
            return "All values are 0: nothing to normalise."
        if abs(total) <= 1e-9 * absolute:
            return (f"The values sum to 0 (an edge detector), so each is divided by the "
                    f"sum of their sizes, {format_value(absolute)}, instead.")
        return (f"Each value is divided by the sum, {format_value(total)}, so a flat region "
                "keeps its brightness.")

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
        request = self.make_request()
        if request is None:
            return
        if self._busy:
            self._pending = request
            return
        self._send(request)

    def _send(self, request: GalleryRequest) -> None:
        if self._stopped:
            return
        self._ensure_worker()
        self._busy = True
        if self._last_result is None:  # the very first run may wait for Numba to compile
            self.info_label.setText("Computing the first result (on the very first start the "
                                    "fast kernels are being prepared; this takes a few seconds)…")
        self._compute_requested.emit(request)

    def _ensure_worker(self) -> None:
        if self._thread is not None:
            return
        self._thread = QThread()
        self._thread.setObjectName("gallery-worker")
        self._worker = GalleryWorker()
        self._worker.moveToThread(self._thread)
        self._compute_requested.connect(self._worker.compute)
        self._worker.done.connect(self._on_result)
        self._worker.failed.connect(self._on_failed)
        self._thread.start()

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
        text = f"Could not compute the result: {message}"
        self.info_label.setText(text)
        self.status_message.emit(f"Kernel gallery: {text}")

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
        h, w = self._grey.shape
        kh, kw = result.applied_kernel.shape
        request = result.request
        what = "convolution" if request.flip else "cross-correlation"
        scale = result.conv_scale
        self.conv_panel.set_image(result.conv, mode="diverging", levels=(-scale, scale))
        self.conv_panel.set_title(f"Convolution result ({what}): blue < 0 < red")
        lo, hi = float(result.conv.min()), float(result.conv.max())
        pad = "zero padding 1" if request.padding == "same" else "no padding"
        self.conv_panel.set_caption(
            f"{w}×{h} → {wo}×{ho} ({kw}×{kh} kernel, stride 1, {pad}). Values {lo:.3g} to "
            f"{hi:.3g}; colours saturate beyond ±{scale:.3g} ({DISPLAY_PERCENTILE:g}% of pixels "
            "are inside).")

        activation = request.activation
        mode, levels = self._activation_colours(activation, scale)
        self.activation_panel.set_image(result.activated, mode=mode, levels=levels)
        self.activation_panel.set_title(f"After activation: {ACTIVATION_LABELS[activation]}")
        self.activation_panel.set_caption(self._activation_caption(activation))

        pool, size, stride = request.pool, request.pool_size, request.pool_stride
        word = "max" if pool == "max" else "average"
        self.pool_panel.set_title(f"After {word} pooling ({size}×{size}, stride {stride})")
        if result.pooled is None:
            self.pool_panel.clear()
            self.pool_panel.set_caption(f"Pooling impossible: {result.pool_error}")
        else:
            self.pool_panel.set_image(result.pooled, mode=mode, levels=levels)
            ph, pw = result.pooled.shape
            self.pool_panel.set_caption(
                f"{wo}×{ho} → {pw}×{ph}: floor(({wo} − {size}) / {stride}) + 1 = {pw} columns; "
                "same colours as the activation panel")

        self.applied_label.setText(
            "Kernel applied (rotated 180°):\n" + matrix_text(result.applied_kernel)
            if request.flip else "")
        self.info_label.setText(
            f"Computed in {result.seconds * 1000:.1f} ms by the engine "
            f"(engine.conv2d_forward, engine.{'max' if pool == 'max' else 'avg'}_pool2d_forward).")
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
            return "Negative values become 0 (black); positive ones pass unchanged."
        if activation == "sigmoid":
            return "Squashed into (0, 1); a result of 0 becomes 0.5 (mid grey)."
        if activation == "tanh":
            return "Squashed into (−1, 1), sign kept: blue < 0 < red."
        return "No activation: the convolution result unchanged."

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
        """Stop the worker thread; returns when it has ended. The lab computes no more."""
        self._stopped = True
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
            self._thread = None
            self._worker = None
        self._busy = False
        self._pending = None
