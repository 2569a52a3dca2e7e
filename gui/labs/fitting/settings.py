"""The settings column of the Kernel fitting lab: the image, the target kernel and the
learning settings.

``FitSettings`` owns the choices and says ``problem_changed()`` when the problem itself
changes (image, target kernel, initial kernel: the run must start again) and
``lr_changed(float)`` when only the learning rate moves (the run can go on with the
new step size). ``image()`` and ``target_kernel()`` return the arrays. Files that
cannot be read are reported through ``message(str)``, never raised.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from engine.i18n import tr, tr_noop
from gui.labs._base import LabSettings, digit_name, title_kernel_items
from gui.widgets import images as photos
from gui.widgets.form_rows import double_spin, int_spin, pair_row
from gui.widgets.images import ImageLoader, ScaledImage, to_grey
from gui.widgets.texts import Texts

__all__ = ["FitSettings", "IMAGE_SIDE", "PHOTO_SIDE", "SPEEDS", "DEFAULT_LR", "DEFAULT_TARGET"]

IMAGE_SIDE = 64  # photo crops are 64x64: one step takes well under a millisecond
PHOTO_SIDE = 128  # photos are shrunk to this longer side before cropping
SPEEDS = (20, 100, 400)  # steps per second offered
DEFAULT_LR = 0.3
DEFAULT_TARGET = "horizontal edge"
TYPED = "(typed)"  # the target list's entry for a typed kernel (data; shown as tr(TYPED_TEXT))
TYPED_TEXT = tr_noop("(typed)")
SOURCES = (("photo", tr_noop("Photo crop")), ("digit", tr_noop("MNIST digit")))
INITS = (("zeros", tr_noop("zeros")), ("random", tr_noop("random")))




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
        self._loader = ImageLoader(self)
        self._loader.loaded.connect(self._on_photo_loaded)
        self._loader.failed.connect(lambda _path, text: self.message.emit(text))
        self._after_load: Callable[[], None] | None = None
        self.texts = Texts()
        self._stack(self._build_image_group(), self._build_target_group(),
                    self._build_learning_group())
        self._show_page()
        self._on_gallery()
        self.retranslate()

    def retranslate(self) -> None:
        self.texts.apply()
        photos.title_photo_items(self.photo_box)
        super().retranslate()

    # ------------------------------------------------------------ building
    def _build_image_group(self) -> QGroupBox:
        t = self.texts
        box = t.group(tr_noop("Image"))
        form = QFormLayout(box)
        self.source_box = t.combo(SOURCES)
        form.addRow(t.label(tr_noop("Source")), self.source_box)
        self.photo_box = QComboBox()
        photos.add_photo_items(self.photo_box)
        self.photo_box.setCurrentIndex(max(photos.find_photo(self.photo_box, "camera"), 0))
        self.top_spin = int_spin(0, PHOTO_SIDE - IMAGE_SIDE, 16)
        self.left_spin = int_spin(0, PHOTO_SIDE - IMAGE_SIDE, 32)
        t(self.top_spin.setToolTip, tr_noop("Top row of the 64×64 crop"))
        t(self.left_spin.setToolTip, tr_noop("Left column of the 64×64 crop"))
        for spin in (self.top_spin, self.left_spin):
            t(spin.set_range_reason, tr_noop("the crop stays inside the photo"))
        self.photo_note = QLabel("")  # "Reading big.png …" while a large file loads
        self.photo_note.setWordWrap(True)
        self.photo_rows = [(t.label(tr_noop("Photo")), self.photo_box),
                           (t.label(tr_noop("Crop top, left")),
                            pair_row(self.top_spin, self.left_spin, ","))]
        self.digit_spin = int_spin(0, 8999, 0)
        t(self.digit_spin.setToolTip, tr_noop("Which of the embedded MNIST digits (28×28)"))
        self.digit_rows = [(t.label(tr_noop("Digit #")), self.digit_spin)]
        self._form = form
        for label, w in self.photo_rows + self.digit_rows:
            form.addRow(label, w)
        form.addRow(self.photo_note)
        form.setRowVisible(self.photo_note, False)
        self.source_box.currentIndexChanged.connect(self._on_source)
        for w in (self.photo_box,):
            w.currentIndexChanged.connect(self._emit_problem)
        for s in (self.top_spin, self.left_spin, self.digit_spin):
            s.valueChanged.connect(self._emit_problem)
        return box

    def _build_target_group(self) -> QGroupBox:
        t = self.texts
        box = QGroupBox()
        t(box.setTitle, tr_noop("Target kernel"))
        lay = QVBoxLayout(box)
        self.gallery_box = QComboBox()
        for name in self._kernels:
            self.gallery_box.addItem(name, name)
        self.gallery_box.addItem(tr(TYPED_TEXT), TYPED)
        t.call(self._title_targets)
        self.gallery_box.setCurrentIndex(self.gallery_box.findData(DEFAULT_TARGET))
        t(self.gallery_box.setToolTip, tr_noop("The kernel gradient descent should find: a "
                                               "named kernel from the gallery, or type your "
                                               "own below"))
        lay.addWidget(self.gallery_box)
        self.target_table = self._number_grid(self._on_target_edited)
        t(self.target_table.setToolTip, tr_noop("Type any kernel values"))
        lay.addWidget(self.target_table, 0, Qt.AlignmentFlag.AlignLeft)
        self.gallery_box.currentIndexChanged.connect(self._on_gallery)
        return box

    def _build_learning_group(self) -> QGroupBox:
        t = self.texts
        box = QGroupBox()
        t(box.setTitle, tr_noop("Gradient descent"))
        form = QFormLayout(box)
        self.lr_spin = double_spin(0.001, 10.0, DEFAULT_LR, 3, 0.05)
        t(self.lr_spin.setToolTip, tr_noop(
            "Learning rate: kernel -= lr · gradient. Too small is slow, too large overshoots "
            "and the loss explodes (try 1.0)"))
        self.init_box = t.combo(INITS, tr_noop("The learned kernel starts at zero or at random "
                                               "numbers"))
        self.seed_spin = int_spin(0, 9999, 0)
        t(self.seed_spin.setToolTip, tr_noop("Seed of the random initial kernel"))
        self.speed_box = QComboBox()
        for s in SPEEDS:
            self.speed_box.addItem("", s)
        t.call(lambda: [self.speed_box.setItemText(i, tr("{n} steps/s").format(n=s))
                        for i, s in enumerate(SPEEDS)])
        self.speed_box.setCurrentIndex(1)
        form.addRow(t.label(tr_noop("Learning rate")), self.lr_spin)
        form.addRow(t.label(tr_noop("Start from")), self.init_box)
        form.addRow(t.label(tr_noop("Seed")), self.seed_spin)
        form.addRow(t.label(tr_noop("Speed")), self.speed_box)
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
        """The target's gallery name, or the translated "(typed)"."""
        return self.gallery_box.currentText()

    def image(self) -> tuple[np.ndarray, str]:
        """(image (H, W) float64 in [0, 1], one line naming it).

        Falls back to a digit (or, without digits, a synthetic pattern) when a photo
        cannot be read; the reason goes to ``message``.
        """
        if self.source_box.currentData() == "photo":
            crop = self._photo_crop()
            if crop is not None:
                h, w = crop.shape
                return crop, tr("{photo} photo, {w}×{h} crop at ({top}, {left})").format(
                    photo=self.photo_box.currentText(), w=w, h=h, top=self.top_spin.value(),
                    left=self.left_spin.value())
        if self._load_digits():
            index = self.digit_spin.value()
            label = int(self._digit_labels[index])
            return self._digits[index].astype(np.float64) / 255.0, \
                tr("MNIST digit #{index} ({digit})").format(index=index,
                                                           digit=digit_name(label))
        yy, xx = np.mgrid[0:IMAGE_SIDE, 0:IMAGE_SIDE]  # (64, 64) a last resort: soft stripes
        return 0.5 + 0.5 * np.sin(xx / 5.0) * np.cos(yy / 7.0), tr("a synthetic pattern")

    def _photo_crop(self) -> np.ndarray | None:
        path = self.photo_box.currentData()
        if path is None:
            self.message.emit(tr("No sample photographs were found"))
            return None
        if path not in self._photos:
            from gui.widgets.images import load_scaled

            try:
                self._photos[path] = to_grey(load_scaled(path, PHOTO_SIDE).image)
            except ValueError as err:
                self.message.emit(str(err))
                return None
        photo = self._photos[path]
        h, w = photo.shape
        side = min(IMAGE_SIDE, h, w)
        top = min(self.top_spin.value(), h - side)
        left = min(self.left_spin.value(), w - side)
        return np.array(photo[top:top + side, left:left + side], dtype=np.float64)

    def add_photo(self, path, done: Callable[[], None] | None = None) -> None:
        """Load a photo file, add it to the photo list and fit on a crop of it (``done()``
        then). A large file is read in a worker thread; the column says so meanwhile.

        Raises
        ------
        ValueError
            (an ImageFileError) if the file is missing; nothing changes.
        """
        self._after_load = done
        if not self._loader.load(str(path), PHOTO_SIDE):
            self.photo_note.setText(tr("Reading {name}…").format(name=Path(path).name))
            self._form.setRowVisible(self.photo_note, True)

    def _on_photo_loaded(self, photo: ScaledImage) -> None:
        self._form.setRowVisible(self.photo_note, False)
        key = photo.path
        self._photos[key] = to_grey(photo.image)
        with self._quiet():
            index = self.photo_box.findData(key)
            if index < 0:
                self.photo_box.addItem(Path(key).name, key)
                index = self.photo_box.count() - 1
            self.photo_box.setCurrentIndex(index)
            self.source_box.setCurrentIndex([k for k, _ in SOURCES].index("photo"))
        self._show_page()
        self.problem_changed.emit()
        done, self._after_load = self._after_load, None
        if done is not None:
            done()

    # ------------------------------------------------------------ reacting
    def _emit_problem(self, *_):
        if not self.quiet:
            self.problem_changed.emit()

    def _show_page(self):
        photo = self.source_box.currentData() == "photo"
        for rows, visible in ((self.photo_rows, photo), (self.digit_rows, not photo)):
            for _, w in rows:
                self._form.setRowVisible(w, visible)

    def _title_targets(self) -> None:
        """The gallery kernels' names (and "(typed)") in the current language."""
        title_kernel_items(self.gallery_box)
        self.gallery_box.setItemText(self.gallery_box.findData(TYPED), tr(TYPED_TEXT))

    def _on_source(self, *_):
        self._show_page()
        self._emit_problem()

    def _on_gallery(self, *_):
        name = self.gallery_box.currentData()
        if name in self._kernels:
            self.target_table.set_values(self._kernels[name])
            self._emit_problem()

    def _on_target_edited(self):
        with self._quiet():  # the grid no longer shows a named kernel
            self.gallery_box.setCurrentIndex(self.gallery_box.findData(TYPED))
        self._emit_problem()

    def _on_init(self, *_):
        self.seed_spin.setEnabled(self.init == "random")
        self._emit_problem()

    def _on_lr(self, value: float):
        if not self.quiet:
            self.lr_changed.emit(float(value))

    # ------------------------------------------------------------ scripted
    def apply(self, **values) -> None:
        """Set several settings at once, then emit ``problem_changed`` once.

        Keys: source ("photo" | "digit"), photo (a name), top, left, digit, target (a
        gallery name or a (3, 3) array), lr, init ("zeros" | "random"), seed,
        speed (steps per second).
        """
        with self._quiet():
            if "source" in values:
                self.source_box.setCurrentIndex([k for k, _ in SOURCES].index(values["source"]))
            if "photo" in values:
                self.photo_box.setCurrentIndex(photos.find_photo(self.photo_box, values["photo"]))
            for key, spin in (("top", self.top_spin), ("left", self.left_spin),
                              ("digit", self.digit_spin), ("seed", self.seed_spin)):
                if key in values:
                    spin.setValue(int(values[key]))
            if "target" in values:
                target = values["target"]
                if isinstance(target, str):
                    self.gallery_box.setCurrentIndex(self.gallery_box.findData(target))
                    self.target_table.set_values(self._kernels[target])
                else:
                    self.gallery_box.setCurrentIndex(self.gallery_box.findData(TYPED))
                    self.target_table.set_values(np.asarray(target, dtype=np.float64))
            if "lr" in values:
                self.lr_spin.setValue(float(values["lr"]))
            if "init" in values:
                self.init_box.setCurrentIndex(0 if values["init"] == "zeros" else 1)
            if "speed" in values:
                self.speed_box.setCurrentIndex(SPEEDS.index(values["speed"]))
        self._show_page()
        self.seed_spin.setEnabled(self.init == "random")
        self.problem_changed.emit()

    def reset_defaults(self) -> None:
        """The teaching default: the camera photo crop, horizontal edge, lr 0.3, zeros."""
        values = {"source": "photo", "top": 16, "left": 32, "digit": 0,
                  "target": DEFAULT_TARGET, "lr": DEFAULT_LR, "init": "zeros", "seed": 0,
                  "speed": SPEEDS[1]}
        if photos.find_photo(self.photo_box, "camera") >= 0:
            values["photo"] = "camera"
        self.apply(**values)
