"""File > Export animation…: a stepping lab's animation as a GIF.

The Convolution, Pooling and Backprop labs get the action from
``gui.labs._base.SettingsLab`` (their ``_connect_animation`` makes it); nothing here
knows a lab's content. An export uses the lab's current settings:

- :class:`AnimationExportDialog` asks which steps (all, or a range counted from 1 as
  the controls show them) and how fast (steps per second, the controls' speeds);
- :class:`AnimationExport` draws the steps one by one on the GUI thread, one per turn
  of the event loop (the window stays live and a progress dialog can cancel), grabs
  the lab's main area and sends a copy of each picture to
- :class:`GifEncoder`, a service worker (``gui.workers.threads``) that reduces each frame
  to 256 colours as it comes and writes the file with ``engine.gif.GifWriter``.

:func:`render_animation` is ``main.py animation``: the lab's default content rendered
offscreen (like ``main.py screenshot``), every step, written without a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal, pyqtSlot
from PyQt6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressDialog,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.gif import GifWriter, check_gif_path, frame_duration_ms, plan_steps
from engine.i18n import tr, tr_noop
from gui.widgets import file_dialogs
from gui.widgets.anim_controls import SPEEDS
from gui.widgets.images import qimage_pixels
from gui.workers.threads import Worker, start_worker, stop_worker

__all__ = ["AnimationChoice", "AnimationExportDialog", "AnimationExport", "GifEncoder",
           "grab_rgb", "export_animation_dialog", "render_animation", "ANIMATION_LABS",
           "EXPORT_ACTION_TEXT"]

#: the labs ``main.py animation --lab`` renders
ANIMATION_LABS = ("convolution", "pooling", "backprop")
EXPORT_ACTION_TEXT = tr_noop("Export animation (GIF)…")
GIF_FILTER = tr_noop("GIF animation (*.gif)")


@dataclass(frozen=True)
class AnimationChoice:
    """What the dialog asked for: steps first..last (from 1; None = all), a speed."""

    first: int | None
    last: int | None
    speed: int


def grab_rgb(widget: QWidget):
    """The widget as drawn now: uint8 (H, W, 3)."""
    return qimage_pixels(widget.grab().toImage())


class AnimationExportDialog(QDialog):
    """All steps or a range, and a speed; ``choice()`` once accepted."""

    def __init__(self, count: int, step: int, speed: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.count = max(1, int(count))
        self.all_radio, self.range_radio = QRadioButton(), QRadioButton()
        group = QButtonGroup(self)
        for b in (self.all_radio, self.range_radio):
            group.addButton(b)
        self.all_radio.setChecked(True)
        self.first_spin = QSpinBox(minimum=1, maximum=self.count, value=min(step + 1,
                                                                           self.count))
        self.last_spin = QSpinBox(minimum=1, maximum=self.count, value=self.count)
        self.to_label = QLabel()
        for spin in (self.first_spin, self.last_spin):
            spin.valueChanged.connect(lambda _v: self.range_radio.setChecked(True))
        self.speed_combo = QComboBox()
        for s in SPEEDS:
            self.speed_combo.addItem("", s)
        self.speed_combo.setCurrentIndex(min(range(len(SPEEDS)),
                                             key=lambda i: abs(SPEEDS[i] - speed)))
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #555;")
        steps = QHBoxLayout()
        steps.addWidget(self.range_radio)
        steps.addWidget(self.first_spin)
        steps.addWidget(self.to_label)
        steps.addWidget(self.last_spin)
        steps.addStretch(1)
        form = QFormLayout()
        self.speed_label = QLabel()
        form.addRow(self.speed_label, self.speed_combo)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.all_radio)
        layout.addLayout(steps)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)
        self.retranslate()

    def retranslate(self) -> None:
        self.setWindowTitle(tr("Export animation"))
        self.all_radio.setText(tr("All {count} steps").format(count=self.count))
        self.range_radio.setText(tr("Steps"))
        self.to_label.setText(tr("to"))
        self.speed_label.setText(tr("Speed:"))
        for k, s in enumerate(SPEEDS):
            self.speed_combo.setItemText(k, tr("{n} steps/s").format(n=s))
        self.note.setText(tr("The animation is drawn with the lab's current settings, one "
                             "frame per step, and saved as a looping GIF."))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(tr("Export…"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(tr("Cancel"))

    def choice(self) -> AnimationChoice:
        speed = int(self.speed_combo.currentData())
        if self.all_radio.isChecked():
            return AnimationChoice(None, None, speed)
        return AnimationChoice(self.first_spin.value(), self.last_spin.value(), speed)


class GifEncoder(Worker):
    """A service worker: ``add_frame`` keeps one frame (256 colours), ``finish`` writes
    the GIF. Emits ``written(path, frames)`` or ``failed(sentence)``; never a widget."""

    written = pyqtSignal(str, int)
    failed = pyqtSignal(str)

    def __init__(self):
        super().__init__()
        self._writer = GifWriter()
        self._error = ""

    @pyqtSlot(object)
    def add_frame(self, rgb) -> None:
        if self._error or self.stop_requested:
            return
        try:
            self._writer.add(rgb)
        except (ValueError, MemoryError) as err:
            self._error = str(err)

    @pyqtSlot(str, int)
    def finish(self, path: str, duration_ms: int) -> None:
        if self.stop_requested:
            return
        if self._error:
            self.failed.emit(self._error)
            return
        try:
            out = self._writer.save(path, duration_ms)
        except (ValueError, MemoryError) as err:
            self.failed.emit(str(err))
            return
        self.written.emit(str(out), len(self._writer))


class AnimationExport(QObject):
    """Draws ``steps`` of a lab through its AnimControls and feeds a GifEncoder.

    Signals: ``frame_ready(ndarray)`` and ``finish_requested(path, ms)`` go to the
    encoder (queued: it lives in its thread); ``done(sentence)`` says how it ended.
    The lab's step is put back afterwards.
    """

    frame_ready = pyqtSignal(object)
    finish_requested = pyqtSignal(str, int)
    done = pyqtSignal(str)

    def __init__(self, controls, widget: QWidget, steps: range, duration_ms: int,
                 path: Path, parent: QWidget | None = None, show_progress: bool = True):
        super().__init__(parent)
        self.controls, self.widget = controls, widget
        self.steps, self.duration_ms, self.path = steps, int(duration_ms), Path(path)
        self._k = 0
        self._restore = controls.step
        self._cancelled = False
        self.finished = False
        self.encoder = GifEncoder()
        self.frame_ready.connect(self.encoder.add_frame)
        self.finish_requested.connect(self.encoder.finish)
        self.encoder.written.connect(self._written)
        self.encoder.failed.connect(self._failed)
        self.progress = None
        if show_progress:
            self.progress = QProgressDialog(parent)
            self.progress.setWindowModality(Qt.WindowModality.WindowModal)
            self.progress.setRange(0, len(steps))
            self.progress.setMinimumDuration(300)  # a short export shows no dialog
            self.progress.canceled.connect(self.cancel)
            self.progress.setWindowTitle(tr("Export animation"))
            self.progress.setLabelText(tr("Drawing the steps of the animation…"))
            self.progress.setCancelButtonText(tr("Cancel"))

    def start(self) -> None:
        self.controls.pause()
        start_worker(self.encoder, "gif-encoder", service=True)
        QTimer.singleShot(0, self._draw)

    def cancel(self) -> None:
        if self.finished:
            return
        self._cancelled = True
        self._end(tr("The animation export was cancelled; nothing was written."))

    def _draw(self) -> None:
        """Show the next step; it is grabbed on the next turn, once the layouts settled."""
        if self._cancelled or self.finished:
            return
        self.controls.set_step(self.steps[self._k])
        QTimer.singleShot(0, self._grab)

    def _grab(self) -> None:
        if self._cancelled or self.finished:
            return
        self.frame_ready.emit(grab_rgb(self.widget))  # a copy: it crosses to the encoder
        self._k += 1
        if self.progress is not None:
            self.progress.setValue(self._k)
        if self._k < len(self.steps):
            QTimer.singleShot(0, self._draw)
            return
        if self.progress is not None:
            self.progress.setLabelText(tr("Writing {path}…").format(path=self.path.name))
            self.progress.setCancelButton(None)  # the write itself cannot be stopped
            self.progress.setRange(0, 0)  # busy: the encoder writes
        self.controls.set_step(self._restore)
        self.finish_requested.emit(str(self.path), self.duration_ms)

    def _written(self, path: str, frames: int) -> None:
        self._end(tr("Saved the animation {path} ({frames} frames).").format(path=path,
                                                                            frames=frames))

    def _failed(self, sentence: str) -> None:
        self._end(tr("Could not export the animation: {error}").format(error=sentence))

    def _end(self, sentence: str) -> None:
        if self.finished:
            return
        self.finished = True
        self.controls.set_step(self._restore)
        if self.progress is not None:
            self.progress.canceled.disconnect(self.cancel)
            self.progress.close()
        self.encoder.request_stop()
        stop_worker(self.encoder, 2.0)
        self.done.emit(sentence)


def export_animation_dialog(lab) -> AnimationExport | None:
    """File > Export animation… for a stepping lab (``lab.controls``, ``export_widget()``,
    ``status_message``): the dialog, the file name, then the export (returned)."""
    controls = lab.controls
    if controls.count <= 0:
        lab.status_message.emit(tr("Could not export the animation: {error}").format(
            error=tr("there is no animation to export: the settings give no steps")))
        return None
    dialog = AnimationExportDialog(controls.count, controls.step, controls.speed, lab)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    path = file_dialogs.save_file_name(lab, tr("Save the animation as a GIF"),
                                       f"cnn-explorer-{type(lab).__name__.lower()}.gif",
                                       tr(GIF_FILTER))
    if not path:
        return None
    return start_export(lab, dialog.choice(), path)


def start_export(lab, choice: AnimationChoice, path, show_progress: bool = True
                 ) -> AnimationExport | None:
    """Export ``lab``'s animation as ``choice`` says to ``path``; a refused range or path
    is one sentence in the status bar and nothing starts."""
    try:
        steps = plan_steps(lab.controls.count, choice.first, choice.last)
        out = check_gif_path(path)
        duration = frame_duration_ms(choice.speed)
    except ValueError as err:
        lab.status_message.emit(tr("Could not export the animation: {error}").format(
            error=err))
        return None
    export = AnimationExport(lab.controls, lab.export_widget(), steps, duration, out, lab,
                             show_progress)
    export.done.connect(lab.status_message)
    lab._animation_export = export  # kept alive until it ends
    export.start()
    return export


def render_animation(lab_key: str, out, language: str | None = None,
                     size: tuple[int, int] = (1400, 900), speed: int | None = None
                     ) -> tuple[Path, int]:
    """``main.py animation``: lab ``lab_key``'s default content, every step, as a GIF.

    Returns (path written, frames). Raises ValueError with a sentence for an unknown
    lab or a path that cannot be written (checked before anything is drawn).
    """
    from gui.app import offscreen_window, show_for_rendering

    if lab_key not in ANIMATION_LABS:
        raise ValueError(tr("the lab must be one of {names}, not {lab!r}").format(
            names=", ".join(ANIMATION_LABS), lab=lab_key))
    out = check_gif_path(out)
    with offscreen_window(lab_key, size, language) as (app, window):
        lab = show_for_rendering(app, window, lab_key)
        controls, widget = lab.controls, lab.export_widget()
        writer = GifWriter()
        for k in plan_steps(controls.count):
            controls.set_step(k)
            app.processEvents()
            writer.add(grab_rgb(widget))
        rate = speed if speed is not None else controls.speed
        return writer.save(out, frame_duration_ms(rate)), len(writer)
