"""The settings column of the Kernel fitting lab: the image, the target kernel and the
learning settings.

``FitSettings`` owns the choices and says ``problem_changed()`` when the problem itself
changes (image, target kernel, initial kernel: the run must start again) and
``lr_changed(float)`` when only the learning rate moves (the run can go on with the
new step size). ``image()`` and ``target_kernel()`` return the arrays. Files that
cannot be read are reported through ``message(str)``, never raised.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QVBoxLayout,
    QWidget,
)

from gui.labs._settings_base import LabSettings, digit_article
from gui.widgets.form_rows import int_spin, keyed_combo, pair_row

__all__ = ["FitSettings", "IMAGE_SIDE", "PHOTO_SIDE", "SPEEDS", "DEFAULT_LR", "DEFAULT_TARGET"]

IMAGE_SIDE = 64  # photo crops are 64x64: one step takes well under a millisecond
PHOTO_SIDE = 128  # photos are shrunk to this longer side before cropping
SPEEDS = (20, 100, 400)  # steps per second offered
DEFAULT_LR = 0.3
DEFAULT_TARGET = "horizontal edge"
TYPED = "(typed)"
SOURCES = (("photo", "Photo crop"), ("digit", "MNIST digit"))




class FitSettings(LabSettings):
    """Image, target kernel and learning settings of the Kernel fitting lab.

    Signals
    -------
    problem_changed()
        The image, the target kernel, the initial kernel or the seed changed.
    lr_changed(float)
        Only the learning rate changed.
    message(str)
        A sentence for the status bar.
    """

    problem_changed = pyqtSignal()
    lr_changed = pyqtSignal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        import engine

        self._kernels = {name: np.array(k, dtype=np.float64) for name, k in engine.KERNELS.items()}
        self._photos: dict[str, np.ndarray] = {}
        self._stack(self._build_image_group(), self._build_target_group(),
                    self._build_learning_group())
        self._show_page()
        self._on_gallery()

    # ------------------------------------------------------------ building
    def _build_image_group(self) -> QGroupBox:
        box = QGroupBox("Image")
        form = QFormLayout(box)
        self.source_box = keyed_combo(SOURCES)
        form.addRow("Source", self.source_box)
        self.photo_box = QComboBox()
        from gui.widgets.images import asset_images

        for name, path in asset_images().items():
            self.photo_box.addItem(name, str(path))
        self.photo_box.setCurrentIndex(max(self.photo_box.findText("camera"), 0))
        self.top_spin = int_spin(0, PHOTO_SIDE - IMAGE_SIDE, 16, "Top row of the 64×64 crop")
        self.left_spin = int_spin(0, PHOTO_SIDE - IMAGE_SIDE, 32, "Left column of the 64×64 crop")
        self.photo_rows = [("Photo", self.photo_box),
                           ("Crop top, left", pair_row(self.top_spin, self.left_spin, ","))]
        self.digit_spin = int_spin(0, 8999, 0, "Which of the embedded MNIST digits (28×28)")
        self.digit_rows = [("Digit #", self.digit_spin)]
        self._form = form
        for label, w in self.photo_rows + self.digit_rows:
            form.addRow(label, w)
        self.source_box.currentIndexChanged.connect(self._on_source)
        for w in (self.photo_box,):
            w.currentIndexChanged.connect(self._emit_problem)
        for s in (self.top_spin, self.left_spin, self.digit_spin):
            s.valueChanged.connect(self._emit_problem)
        return box

    def _build_target_group(self) -> QGroupBox:
        box = QGroupBox("Target kernel")
        lay = QVBoxLayout(box)
        self.gallery_box = QComboBox()
        for name in self._kernels:
            self.gallery_box.addItem(name)
        self.gallery_box.addItem(TYPED)
        self.gallery_box.setCurrentText(DEFAULT_TARGET)
        self.gallery_box.setToolTip("The kernel gradient descent should find: a named kernel "
                                    "from the gallery, or type your own below")
        lay.addWidget(self.gallery_box)
        self.target_table = self._number_grid("Type any kernel values", self._on_target_edited)
        lay.addWidget(self.target_table, 0, Qt.AlignmentFlag.AlignLeft)
        self.gallery_box.currentIndexChanged.connect(self._on_gallery)
        return box

    def _build_learning_group(self) -> QGroupBox:
        box = QGroupBox("Gradient descent")
        form = QFormLayout(box)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(3)
        self.lr_spin.setRange(0.001, 10.0)
        self.lr_spin.setSingleStep(0.05)
        self.lr_spin.setValue(DEFAULT_LR)
        self.lr_spin.setKeyboardTracking(False)
        self.lr_spin.setToolTip("Learning rate: kernel -= lr · gradient. Too small is slow, "
                                "too large overshoots and the loss explodes (try 1.0)")
        self.init_box = QComboBox()
        self.init_box.addItem("zeros", "zeros")
        self.init_box.addItem("random", "random")
        self.init_box.setToolTip("The learned kernel starts at zero or at random numbers")
        self.seed_spin = int_spin(0, 9999, 0, "Seed of the random initial kernel")
        self.speed_box = QComboBox()
        for s in SPEEDS:
            self.speed_box.addItem(f"{s} steps/s", s)
        self.speed_box.setCurrentIndex(1)
        form.addRow("Learning rate", self.lr_spin)
        form.addRow("Start from", self.init_box)
        form.addRow("Seed", self.seed_spin)
        form.addRow("Speed", self.speed_box)
        self.lr_spin.valueChanged.connect(self._on_lr)
        self.init_box.currentIndexChanged.connect(self._on_init)
        self.seed_spin.valueChanged.connect(self._emit_problem)
        self._on_init()
        return box

    # ------------------------------------------------------------- reading
    @property
    def lr(self) -> float:
        return float(self.lr_spin.value())

    @property
    def init(self) -> str:
        return self.init_box.currentData()

    @property
    def seed(self) -> int:
        return self.seed_spin.value()

    @property
    def steps_per_second(self) -> int:
        return int(self.speed_box.currentData())

    def target_kernel(self) -> np.ndarray:
        """The target kernel (3, 3) float64, a copy."""
        return self.target_table.values()

    def target_name(self) -> str:
        return self.gallery_box.currentText()

    def image(self) -> tuple[np.ndarray, str]:
        """(image (H, W) float64 in [0, 1], one line naming it).

        Falls back to a digit (or, without digits, a synthetic pattern) when a photo
        cannot be read; the reason goes to ``message``.
        """
        if self.source_box.currentData() == "photo":
            crop = self._photo_crop()
            if crop is not None:
                return crop, (f"{self.photo_box.currentText()} photo, 64×64 crop at "
                              f"({self.top_spin.value()}, {self.left_spin.value()})")
        if self._load_digits():
            index = self.digit_spin.value()
            label = int(self._digit_labels[index])
            return self._digits[index].astype(np.float64) / 255.0, \
                f"MNIST digit #{index} ({digit_article(label)} {label})"
        yy, xx = np.mgrid[0:IMAGE_SIDE, 0:IMAGE_SIDE]  # (64, 64) a last resort: soft stripes
        return 0.5 + 0.5 * np.sin(xx / 5.0) * np.cos(yy / 7.0), "a synthetic pattern"

    def _photo_crop(self) -> np.ndarray | None:
        path = self.photo_box.currentData()
        if path is None:
            self.message.emit("No sample photographs were found in assets/images")
            return None
        if path not in self._photos:
            from gui.widgets.images import downscale, load_image, to_grey

            try:
                self._photos[path] = downscale(to_grey(load_image(path)), PHOTO_SIDE)[0]
            except ValueError as err:
                self.message.emit(str(err))
                return None
        photo = self._photos[path]
        h, w = photo.shape
        side = min(IMAGE_SIDE, h, w)
        top = min(self.top_spin.value(), h - side)
        left = min(self.left_spin.value(), w - side)
        return np.array(photo[top:top + side, left:left + side], dtype=np.float64)

    def add_photo(self, path) -> None:
        """Load a photo file, add it to the photo list and fit on a crop of it now.

        Raises
        ------
        ValueError
            (an ImageFileError) if the file is missing or not an image; nothing changes.
        """
        from pathlib import Path

        from gui.widgets.images import downscale, load_image, to_grey

        key = str(path)
        photo = downscale(to_grey(load_image(key)), PHOTO_SIDE)[0]  # raises before any change
        self._photos[key] = photo
        self._quiet += 1
        index = self.photo_box.findData(key)
        if index < 0:
            self.photo_box.addItem(Path(key).name, key)
            index = self.photo_box.count() - 1
        self.photo_box.setCurrentIndex(index)
        self.source_box.setCurrentIndex([k for k, _ in SOURCES].index("photo"))
        self._quiet -= 1
        self._show_page()
        self.problem_changed.emit()

    # ------------------------------------------------------------ reacting
    def _emit_problem(self, *_):
        if self._quiet == 0:
            self.problem_changed.emit()

    def _show_page(self):
        photo = self.source_box.currentData() == "photo"
        for rows, visible in ((self.photo_rows, photo), (self.digit_rows, not photo)):
            for _, w in rows:
                self._form.setRowVisible(w, visible)

    def _on_source(self, *_):
        self._show_page()
        self._emit_problem()

    def _on_gallery(self, *_):
        name = self.gallery_box.currentText()
        if name in self._kernels:
            self.target_table.set_values(self._kernels[name])
            self._emit_problem()

    def _on_target_edited(self):
        self._quiet += 1
        self.gallery_box.setCurrentText(TYPED)  # the grid no longer shows a named kernel
        self._quiet -= 1
        self._emit_problem()

    def _on_init(self, *_):
        self.seed_spin.setEnabled(self.init == "random")
        self._emit_problem()

    def _on_lr(self, value: float):
        if self._quiet == 0:
            self.lr_changed.emit(float(value))

    # ------------------------------------------------------------ scripted
    def apply(self, **values) -> None:
        """Set several settings at once, then emit ``problem_changed`` once.

        Keys: source ("photo" | "digit"), photo (a name), top, left, digit, target (a
        gallery name or a (3, 3) array), lr, init ("zeros" | "random"), seed,
        speed (steps per second).
        """
        self._quiet += 1
        try:
            if "source" in values:
                self.source_box.setCurrentIndex([k for k, _ in SOURCES].index(values["source"]))
            if "photo" in values:
                self.photo_box.setCurrentText(values["photo"])
            for key, spin in (("top", self.top_spin), ("left", self.left_spin),
                              ("digit", self.digit_spin), ("seed", self.seed_spin)):
                if key in values:
                    spin.setValue(int(values[key]))
            if "target" in values:
                target = values["target"]
                if isinstance(target, str):
                    self.gallery_box.setCurrentText(target)
                    self.target_table.set_values(self._kernels[target])
                else:
                    self.gallery_box.setCurrentText(TYPED)
                    self.target_table.set_values(np.asarray(target, dtype=np.float64))
            if "lr" in values:
                self.lr_spin.setValue(float(values["lr"]))
            if "init" in values:
                self.init_box.setCurrentIndex(0 if values["init"] == "zeros" else 1)
            if "speed" in values:
                self.speed_box.setCurrentIndex(SPEEDS.index(values["speed"]))
        finally:
            self._quiet -= 1
        self._show_page()
        self.seed_spin.setEnabled(self.init == "random")
        self.problem_changed.emit()

    def reset_defaults(self) -> None:
        """The teaching default: the camera photo crop, horizontal edge, lr 0.3, zeros."""
        values = {"source": "photo", "top": 16, "left": 32, "digit": 0,
                  "target": DEFAULT_TARGET, "lr": DEFAULT_LR, "init": "zeros", "seed": 0,
                  "speed": SPEEDS[1]}
        if self.photo_box.findText("camera") >= 0:
            values["photo"] = "camera"
        self.apply(**values)
