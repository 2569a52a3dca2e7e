"""Kernel fitting lab: learn a 3x3 kernel by gradient descent until it reproduces a filter.

The target output is the image convolved with a known kernel (the horizontal edge by
default). A learned kernel starts at zero (or random) and every step of
``engine.fitting.KernelFitter`` moves it against the gradient of the mean squared
error between its output and the target. The learner watches the learned kernel's
numbers approach the target's, the difference image fade, and the loss fall by
orders of magnitude on a log scale; a learning rate that is too large makes the loss
explode, which the lab says in words before it stops.

Responsiveness: one step on a 64x64 image takes a fraction of a millisecond (measured
well under the ~5 ms budget), so the steps run on the GUI thread from a QTimer that
fires 20 times a second and runs a small batch per tick, then redraws once. Every
view and the loss curve are built once and updated in place. Those steps call the
engine's Numba kernels: on the very first start, while they are being compiled in the
background, the lab says so in place and builds its run when they are ready, so the
GUI thread never waits for a compilation.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from engine.fitting import CONVERGED_LOSS, STALL_GAIN, STALL_STEPS, KernelFitter
from engine.i18n import tr
from gui.labs._base import ERROR_STYLE, NOT_READY_TEXT, SettingsLab, numbers_label
from gui.labs._base import prefetch_digits as prefetch  # noqa: F401 (gui.app._prepare_labs)
from gui.labs.fitting.explain import comparison_html, gradient_text
from gui.labs.fitting.settings import FitSettings
from gui.widgets.colormaps import symmetric_levels
from gui.widgets.image_panel import ImagePanel
from gui.widgets.matrix_view import MatrixView

__all__ = ["FittingLab", "TICK_MS", "MAX_STEPS", "CONVERGED_LOSS", "SCREENSHOT_STEPS"]

TICK_MS = 50  # 20 redraws a second
MAX_STEPS = 20_000  # a run stops here (the curve would only flatten further)
SCREENSHOT_STEPS = 40
PADDING = 0  # valid convolution: zero padding would add strong fake edges at the border
_OK_STYLE = "color: #1b5e20;"


class FittingLab(SettingsLab):
    """The Kernel fitting lab (see the module docstring).

    ``status_message(str)`` comes from ``SettingsLab``.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.fitter: KernelFitter | None = None
        self.problem: str | None = None
        self.image_description = ""
        self._target_levels = (-1.0, 1.0)
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._construct(self._construction())

    def _construction(self):
        """The steps of the construction (gui.labs._base.StagedConstruction)."""
        self.settings = FitSettings()
        self.main_area = self._build_main_area()
        self._lay_out()
        self._install_shortcuts()
        yield
        self._add_image_panels()
        # painted a part a turn, after the settings column (StagedConstruction)
        self._reveal_later(self._top_widget, self._explain_box, self.image_panel,
                           self.target_panel, self.output_panel, self.difference_panel)
        yield
        self.settings.problem_changed.connect(self.rebuild)
        self.settings.lr_changed.connect(self._on_lr)
        self.retranslate()  # sets the texts and builds the first run

    def retranslate(self) -> None:
        super().retranslate()
        self.play_button.setText(tr("Pause") if self.is_playing else tr("Play"))
        self.play_button.setToolTip(tr("Run gradient descent (Space)"))
        self.step_button.setText(tr("Step"))
        self.step_button.setToolTip(tr("One gradient-descent step (Right)"))
        self.reset_button.setText(tr("Reset"))
        self.reset_button.setToolTip(tr("Back to the initial kernel (Home)"))
        self.target_kernel_view.setToolTip(tr("The kernel that made the target output"))
        self.learned_kernel_view.setToolTip(tr("The kernel gradient descent has found so far"))
        self.gradient_view.setToolTip(tr("The gradient of the loss for each weight at this "
                                         "step: the next step moves the kernel against it; "
                                         "click a weight for its numbers"))
        self.comparison_label.setText(comparison_html())
        self.loss_title.setText(tr("loss (mean squared error), log scale"))
        self.loss_plot.setLabel("bottom", tr("step"))
        for shortcut, what in zip(self._shortcuts, (tr("run / pause gradient descent"),
                                                    tr("one gradient-descent step"),
                                                    tr("back to the initial kernel")),
                                  strict=True):
            shortcut.setWhatsThis(what)
        self.image_panel.set_title(tr("image"))
        self.target_panel.set_title(tr("target = image * target kernel"))
        self.output_panel.set_title(tr("output = image * learned kernel"))
        self.difference_panel.set_title(tr("difference = output − target"))
        if self.image_description:  # the sentence naming the image, in the new language
            self.image_description = self.settings.image()[1]
        if self.fitter is None and self.problem is None:
            self.rebuild()
        else:
            self._prepare_views()
            self.redraw()

    # ------------------------------------------------------------- building
    def _build_main_area(self) -> QWidget:
        area = QWidget()
        lay = QVBoxLayout(area)
        lay.setContentsMargins(6, 6, 6, 6)

        bar = QHBoxLayout()
        icon = self.style().standardIcon
        sp = QStyle.StandardPixmap
        self._play_icon, self._pause_icon = icon(sp.SP_MediaPlay), icon(sp.SP_MediaPause)
        self.play_button = QPushButton(self._play_icon, "")
        self.step_button = QPushButton(icon(sp.SP_MediaSeekForward), "")
        self.reset_button = QPushButton(icon(sp.SP_MediaSkipBackward), "")
        for b in (self.play_button, self.step_button, self.reset_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space must reach the shortcut
            bar.addWidget(b)
        self.play_button.clicked.connect(self.toggle)
        self.step_button.clicked.connect(self.step_once)
        self.reset_button.clicked.connect(self.reset)
        self.info_label = QLabel("")
        self.info_label.setTextFormat(Qt.TextFormat.RichText)
        self.info_label.setWordWrap(True)
        self.info_label.setStyleSheet("font-size: 15px; padding-left: 8px;")
        bar.addWidget(self.info_label, 1)
        lay.addLayout(bar)

        top_widget = QWidget()
        top_widget.setMinimumHeight(220)  # kernels with readable numbers, a useful curve
        top = QHBoxLayout(top_widget)
        top.setContentsMargins(0, 0, 0, 0)
        self.target_kernel_view = MatrixView("")
        self.learned_kernel_view = MatrixView("")
        self.gradient_view = MatrixView("")  # ∂loss/∂w = x ∗ (z − y) at this step
        self.gradient_view.enable_value_tips()
        self.gradient_view.cell_clicked.connect(self._on_gradient_clicked)
        self._gradient_cell = (1, 1)
        top.addWidget(self.target_kernel_view, 2)
        top.addWidget(self.learned_kernel_view, 2)
        top.addWidget(self.gradient_view, 2)
        self.loss_plot = pg.PlotWidget(background="w", enableMenu=False)
        self.loss_plot.setLogMode(x=False, y=True)
        self.loss_plot.showGrid(x=True, y=True, alpha=0.25)
        self.loss_plot.setMouseEnabled(x=False, y=False)
        self.loss_plot.getAxis("left").setStyle(maxTickLevel=1)  # decades and a few between
        self.loss_plot.setMenuEnabled(False)
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen((40, 90, 170), width=2))
        # the title in a label that wraps: a plot title would be cut in a narrow window
        self.loss_title = QLabel()
        self.loss_title.setWordWrap(True)
        self.loss_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.loss_title.setStyleSheet("font-size: 11pt; color: #222;")
        plot_column = QVBoxLayout()
        plot_column.setSpacing(2)
        plot_column.addWidget(self.loss_title)
        plot_column.addWidget(self.loss_plot, 1)
        top.addLayout(plot_column, 5)
        lay.addWidget(top_widget, 1)
        self._top_widget = top_widget

        # the gradient with this step's numbers, and the course's line vs image table
        explain_box = QWidget()
        explain = QHBoxLayout(explain_box)
        explain.setContentsMargins(0, 0, 0, 0)
        self.gradient_label = numbers_label()
        self.comparison_label = QLabel("")
        self.comparison_label.setTextFormat(Qt.TextFormat.RichText)
        self.comparison_label.setStyleSheet("font-size: 12px;")
        # the table's cells wrap: a narrow window gets a taller table, never a wider lab
        self.comparison_label.setWordWrap(True)
        # in a scroll area: on a short screen (1280x720) the table scrolls instead of
        # claiming more height than the lab has, which laid it over the loss plot
        table = QScrollArea()
        table.setWidget(self.comparison_label)
        table.setWidgetResizable(True)
        table.setFrameShape(QFrame.Shape.NoFrame)
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        table.setMinimumWidth(260)
        explain.addWidget(self.gradient_label, 1)
        explain.addWidget(table, 1)
        lay.addWidget(explain_box)
        self._explain_box = explain_box
        self._images = QHBoxLayout()
        lay.addLayout(self._images, 1)
        return area

    def _add_image_panels(self) -> None:
        images = self._images
        self.image_panel = ImagePanel()
        # target and output share one colour scale (given in the caption), so equal values
        # look equal; only the difference, whose scale is the news, has a colour bar
        self.target_panel = ImagePanel()
        self.output_panel = ImagePanel()
        self.difference_panel = ImagePanel(colorbar=True)
        for panel in (self.image_panel, self.target_panel, self.output_panel,
                      self.difference_panel):
            images.addWidget(panel, 1)

    def _install_shortcuts(self) -> None:
        keys = {Qt.Key.Key_Space: self.toggle, Qt.Key.Key_Right: self.step_once,
                Qt.Key.Key_Home: self.reset}
        self._shortcuts = []
        for key, slot in keys.items():
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)
            self._shortcuts.append(sc)

    # ------------------------------------------------------------- the model
    @property
    def is_playing(self) -> bool:
        return self._timer.isActive()

    def rebuild(self) -> None:
        """A new run from the settings (image, target, init); stops playing.

        While the kernels are still being compiled (first start), the run waits: the lab
        says so and builds it when they are ready."""
        self.pause()
        image, self.image_description = self.settings.image()
        if not self._kernels_ready(self.rebuild):
            self.fitter = None
            self.problem = None
            self._prepare_views()
            self.info_label.setText(tr(NOT_READY_TEXT))
            return
        try:
            self.fitter = KernelFitter(image, self.settings.target_kernel(), lr=self.settings.lr,
                                       seed=self.settings.seed, init=self.settings.init,
                                       padding=PADDING)
            self.problem = None
        except ValueError as err:  # a GeometryError is a ValueError too
            self.fitter = None
            self.problem = str(err)
            self.status_message.emit(tr("Cannot fit this kernel: {error}").format(error=err))
        self._prepare_views()
        self.redraw()

    def _prepare_views(self) -> None:
        enabled = self.fitter is not None
        for b in (self.play_button, self.step_button, self.reset_button):
            b.setEnabled(enabled)
        if not enabled:
            return
        target_kernel = self.fitter.target_kernel
        self.target_kernel_view.set_matrix(target_kernel, levels=self._kernel_levels())
        self.target_kernel_view.set_title(tr("target kernel: {name}").format(
            name=self.settings.target_name()))
        self.image_panel.set_image(self.fitter.image, "greys", (0.0, 1.0))
        self._target_levels = symmetric_levels(self.fitter.target)
        self.target_panel.set_image(self.fitter.target, "diverging", self._target_levels)
        h, w = self.fitter.image.shape
        ho, wo = self.fitter.target.shape
        self.image_panel.set_caption(f"{self.image_description}")
        m = self._target_levels[1]
        self.target_panel.set_caption(tr("{h}×{w} (no padding); blue −{m:.2g} … red +{m:.2g}, "
                                         "as the output").format(h=ho, w=wo, m=m))

    def _kernel_levels(self) -> tuple[float, float]:
        """Both kernels share the target's colour scale, so equal numbers look equal."""
        return symmetric_levels(self.fitter.target_kernel)

    # ------------------------------------------------------------- running
    def play(self) -> None:
        if self.fitter is None or self.is_playing or self.fitter.status == "diverged":
            return
        self._timer.start()
        self.play_button.setIcon(self._pause_icon)
        self.play_button.setText(tr("Pause"))

    def pause(self) -> None:
        if not self.is_playing:
            return
        self._timer.stop()
        self.play_button.setIcon(self._play_icon)
        self.play_button.setText(tr("Play"))

    def toggle(self) -> None:
        self.pause() if self.is_playing else self.play()

    def step_once(self) -> None:
        """One gradient-descent step, paused."""
        self.pause()
        self.run_steps(1)

    def reset(self) -> None:
        """Back to the initial kernel, paused."""
        self.pause()
        if self.fitter is not None:
            self.fitter.reset()
        self.redraw()

    def run_steps(self, n: int) -> None:
        """Run ``n`` steps now (fewer if the run stops), then redraw once."""
        if self.fitter is None:
            return
        for _ in range(int(n)):
            if not self._may_continue():
                break
            self.fitter.step()
        self.redraw()
        if not self._may_continue():
            self.pause()
            self._report_stop()

    def _tick(self) -> None:
        batch = max(1, round(self.settings.steps_per_second * TICK_MS / 1000))
        self.run_steps(batch)

    def _may_continue(self) -> bool:
        f = self.fitter
        return f.iteration < MAX_STEPS and f.stop_reason() is None

    def _report_stop(self) -> None:
        f = self.fitter
        if f.status == "diverged":
            self.status_message.emit(self._divergence_text())
        elif f.stop_reason() == "stalled":
            self.status_message.emit(self._stall_text())
        elif f.iteration >= MAX_STEPS:
            self.status_message.emit(tr("Stopped after {n} steps; press Reset to start "
                                        "again.").format(n=MAX_STEPS))
        else:
            self.status_message.emit(tr("Converged after {n} steps: the learned kernel "
                                        "reproduces the target.").format(n=f.iteration))

    def _stall_text(self) -> str:
        return tr("Stopped by itself after {n} steps: no progress (the loss fell by less than "
                  "{gain:g} of itself in the last {window} steps). A kernel of this size cannot "
                  "match the target more closely at this learning rate.").format(
            n=self.fitter.iteration, gain=STALL_GAIN, window=STALL_STEPS)

    def _divergence_text(self) -> str:
        f = self.fitter
        grown = (tr("from {start:.3g} to {end:.3g} ").format(start=f.history[0],
                                                             end=f.history[-1])
                 if f.history else "")
        return tr("The loss exploded {grown}in {n} steps: a learning rate of {lr:g} is too "
                  "large, so every step overshoots the minimum and lands further away. Lower "
                  "the learning rate (halve it, say): the run then starts again.").format(
            grown=grown, n=len(f.history), lr=f.lr)

    def _on_lr(self, value: float) -> None:
        if self.fitter is None:
            return
        if self.fitter.status == "diverged":
            self.fitter.lr = value
            self.fitter.reset()  # a diverged run cannot recover; start again with the new rate
            self.redraw()
            self.status_message.emit(tr("Learning rate {lr:g}: the run starts again").format(
                lr=value))
            return
        self.fitter.lr = value
        self.redraw()

    # ------------------------------------------------------------- drawing
    def redraw(self) -> None:
        """Push the fitter's state into the views (no widget is created)."""
        f = self.fitter
        if f is None:
            self.info_label.setText(f"<span style='{ERROR_STYLE}'>{self.problem}</span>"
                                    if self.problem else tr(NOT_READY_TEXT))
            return
        kernel = f.kernel
        self.learned_kernel_view.set_matrix(kernel, levels=self._kernel_levels())
        self._show_gradient()
        self.learned_kernel_view.set_title(tr("learned kernel after {n} steps").format(
            n=f.iteration))
        output = f.output
        difference = output - f.target
        # the output on the target's scale: matching colours mean matching values
        self.output_panel.set_image(output, "diverging", self._target_levels)
        self.difference_panel.set_image(difference, "diverging", symmetric_levels(difference))
        worst = float(np.abs(difference).max())
        self.difference_panel.set_caption(tr("largest |difference| {worst:.2g} (the colour bar "
                                             "shrinks as the fit improves)").format(worst=worst))
        self.output_panel.set_caption(tr("kernel error max |learned − target| = {e:.2g}").format(
            e=float(np.abs(kernel - f.target_kernel).max())))
        history = np.asarray(f.history)
        positive = history > 0  # log scale: a loss of exactly 0 cannot be drawn
        steps = np.arange(history.size)
        self.loss_curve.setData(steps[positive], history[positive])
        self.info_label.setText(self._info_text())

    def _info_text(self) -> str:
        f = self.fitter
        if f.status == "diverged":
            return f"<span style='{ERROR_STYLE}'>✗ {self._divergence_text()}</span>"
        loss = f.loss()
        text = tr("step <b>{n}</b> · loss <b>{loss:.3g}</b> · learning rate {lr:g}").format(
            n=f.iteration, loss=loss, lr=f.lr)
        if f.history:
            factor = f.history[0] / loss if loss > 0 else math.inf
            if factor >= 10:
                text += tr(" · the loss fell {by}").format(by=_orders(factor))
        reason = f.stop_reason()
        if reason == "converged":
            text += f"<br><span style='{_OK_STYLE}'>" + tr(
                "✓ converged: the learned kernel matches the target; training stopped by "
                "itself") + "</span>"
        elif reason == "stalled":
            text += f"<br><span style='{_OK_STYLE}'>" + tr(
                "■ stopped by itself: no more progress") + "</span>"
        return text

    def shown_gradient(self) -> np.ndarray:
        """The gradient the view shows now, (KH, KW) (its cells times the unit in its title)."""
        return self.gradient_view.values * self._gradient_unit

    def _show_gradient(self) -> None:
        """∂loss/∂w at the current kernel (the engine's, what the next step uses), and one
        weight's gradient written out with this step's numbers."""
        f = self.fitter
        grad = f.gradient()
        self._gradient_unit = 1.0
        # a small gradient would read 0.00 in every cell: show it in units of a power of 10
        largest = float(np.abs(grad).max())
        unit = 10.0 ** math.floor(math.log10(largest)) if 0 < largest < 0.1 else 1.0
        self._gradient_unit = unit
        self.gradient_view.set_matrix(grad / unit, levels=symmetric_levels(grad / unit))
        title = tr("∂loss/∂w = x ∗ (z − y) · 2/N")
        if unit != 1.0:
            title += "<br>" + tr("(in units of {unit:g})").format(unit=unit)
        self.gradient_view.set_title(title)
        u, v = (min(self._gradient_cell[0], grad.shape[0] - 1),
                min(self._gradient_cell[1], grad.shape[1] - 1))
        self.gradient_view.set_window(u, v, 1, 1)
        self.gradient_label.setText(
            tr("z = x ∗ w is the output, y the target, N = {n} output cells; the next step is "
               "w ← w − {lr:g} · ∂loss/∂w.").format(n=f.target.size, lr=f.lr) + "\n" +
            gradient_text(f.image, f.kernel, f.target, u, v, float(grad[u, v])))

    def _on_gradient_clicked(self, u: int, v: int) -> None:
        self._gradient_cell = (u, v)
        if self.fitter is not None:
            self._show_gradient()

    # --------------------------------------------------------- shell hooks
    def open_image(self, path: str) -> None:
        """File > Open image: fit on a crop of the photo at ``path``; a bad file is reported."""
        self._open_photo(path, tr("Fitting on a crop of {path}").format(path=path))

    def prepare_screenshot(self) -> None:
        """The teaching default after a few dozen steps: the kernel is half learned."""
        self.pause()
        self.settings.reset_defaults()
        self.run_steps(SCREENSHOT_STEPS)


def _orders(factor: float) -> str:
    """'by 3 orders of magnitude' / 'by a factor of 40'."""
    if not math.isfinite(factor):
        return tr("to zero")
    orders = int(math.floor(math.log10(factor)))
    if orders >= 2:
        return tr("by {n} orders of magnitude").format(n=orders)
    return tr("by a factor of {factor:.0f}").format(factor=factor)
