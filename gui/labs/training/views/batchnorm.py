"""The Training lab's "Batch norm" tab: spatial batch normalization made visible.

For the chosen channel of a fixed convolution over batches of digits (see
:mod:`gui.labs.training.batchnorm`): the batch mean and variance over N·H·W, the
first sample's map before and after normalisation, γ and β (set by hand), the output
γ·x_hat + β; the running mean and variance with the momentum update written out and
drawn step by step against the batch means; train mode and eval mode on the same
input side by side. The widget only lays out and draws; ``BatchNormDemo`` computes.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QSignalBlocker
from PyQt6.QtWidgets import (
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.gallery import kernel_name
from engine.i18n import tr, tr_noop
from gui.labs._base import numbers_label
from gui.labs.training.batchnorm import DEMO_KERNELS, BatchNormDemo
from gui.widgets.colormaps import symmetric_levels
from gui.widgets.matrix_view import MatrixView
from gui.widgets.texts import Texts

__all__ = ["BatchNormView"]


class BatchNormView(QWidget):
    """Batch statistics, normalised maps, γ/β, running statistics, train vs eval.

    Parameters
    ----------
    images : (M, 28, 28) digits the batches come from (or None: filled in by
        ``set_images`` later).
    """

    def __init__(self, images: np.ndarray | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.demo: BatchNormDemo | None = None
        t = self.texts = Texts()
        lay = QVBoxLayout(self)
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        t(self.intro.setText, tr_noop(
            "Spatial batch normalization, per channel over the batch's N·H·W values: "
            "x_hat = (x − μ) / √(σ² + eps), y = γ·x_hat + β. Training uses the batch's μ and σ²; "
            "evaluation the running mean and variance, which follow each batch with the "
            "momentum. The maps: a fixed convolution (blur, vertical edge, horizontal edge) "
            "of 8 digits."))
        lay.addWidget(self.intro)

        bar = QHBoxLayout()
        self.channel_spin = QSpinBox(minimum=1, maximum=len(DEMO_KERNELS), value=1)
        self.step_button = QPushButton()
        self.reset_button = QPushButton()
        self.gamma_spin = QDoubleSpinBox(minimum=-5.0, maximum=5.0, value=1.0, singleStep=0.1)
        self.beta_spin = QDoubleSpinBox(minimum=-5.0, maximum=5.0, value=0.0, singleStep=0.1)
        t(self.step_button.setText, tr_noop("Next batch (one training step)"))
        t(self.reset_button.setText, tr_noop("Reset the layer"))
        for label, widget in ((tr_noop("Channel"), self.channel_spin),
                              (tr_noop("γ"), self.gamma_spin), (tr_noop("β"), self.beta_spin)):
            bar.addWidget(t.label(label))
            bar.addWidget(widget)
        bar.addStretch(1)
        lay.addLayout(bar)
        buttons = QHBoxLayout()  # a second row: the tab stays as narrow as the others
        buttons.addWidget(self.step_button)
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)
        lay.addLayout(buttons)

        maps = QGridLayout()
        self.input_view, self.hat_view, self.train_view, self.eval_view = (
            MatrixView("", "diverging") for _ in range(4))
        for col, view in enumerate((self.input_view, self.hat_view, self.train_view,
                                    self.eval_view)):
            view.enable_value_tips()
            maps.addWidget(view, 0, col)
        lay.addLayout(maps, 3)

        self.numbers = numbers_label()
        lay.addWidget(self.numbers)
        self.plot = pg.PlotWidget(background="w", enableMenu=False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.batch_curve = self.plot.plot([], [], pen=None, symbol="o", symbolSize=6,
                                          symbolBrush=(200, 80, 40))
        self.running_curve = self.plot.plot([], [], pen=pg.mkPen((40, 90, 170), width=2))
        lay.addWidget(self.plot, 2)

        self.step_button.clicked.connect(self.step)
        self.reset_button.clicked.connect(self.reset)
        self.channel_spin.valueChanged.connect(lambda _v: self._on_channel())
        self.gamma_spin.valueChanged.connect(lambda _v: self._on_gamma_beta())
        self.beta_spin.valueChanged.connect(lambda _v: self._on_gamma_beta())
        if images is not None:
            self.set_images(images)
        self.retranslate()

    # ------------------------------------------------------------ the data
    @property
    def channel(self) -> int:
        return self.channel_spin.value() - 1

    def set_images(self, images: np.ndarray) -> None:
        """The digits the batches come from; the layer starts afresh with one step taken."""
        self.demo = BatchNormDemo(images)
        self.reset()

    def reset(self) -> None:
        if self.demo is None:
            return
        self.demo.reset()
        self._on_gamma_beta(redraw=False)
        self.step()

    def step(self) -> None:
        if self.demo is None:
            return
        self.demo.step()
        self.redraw()

    def _on_channel(self) -> None:
        if self.demo is not None:
            gamma, beta = self.demo.gamma_beta(self.channel)
            with QSignalBlocker(self.gamma_spin), QSignalBlocker(self.beta_spin):
                self.gamma_spin.setValue(gamma)
                self.beta_spin.setValue(beta)
            self.redraw()

    def _on_gamma_beta(self, redraw: bool = True) -> None:
        if self.demo is None:
            return
        self.demo.set_gamma_beta(self.channel, self.gamma_spin.value(), self.beta_spin.value())
        if redraw and self.demo.stats is not None:
            # γ and β change the output, not the statistics: the same batch, again
            self.demo.history.pop()
            self.demo.layer.buffers["running_mean"][...] = self.demo.stats.running_mean_before
            self.demo.layer.buffers["running_var"][...] = self.demo.stats.running_var_before
            self.step()

    def retranslate(self) -> None:
        self.texts.apply()
        self.plot.setLabel("bottom", tr("training step"))
        self.redraw()

    # ------------------------------------------------------------- drawing
    def redraw(self) -> None:
        demo = self.demo
        if demo is None or demo.stats is None:
            self.numbers.setText(tr("The digits could not be loaded."))
            return
        s, c = demo.stats, self.channel
        eval_out = demo.eval_output()
        name = DEMO_KERNELS[c]
        levels_in = symmetric_levels(s.x[0, c])
        out_levels = symmetric_levels(np.concatenate([s.y_train[0, c].ravel(),
                                                      eval_out[0, c].ravel(),
                                                      s.x_hat[0, c].ravel()]))
        self.input_view.set_matrix(s.x[0, c], levels=levels_in)
        self.hat_view.set_matrix(s.x_hat[0, c], levels=out_levels)
        self.train_view.set_matrix(s.y_train[0, c], levels=out_levels)
        self.eval_view.set_matrix(eval_out[0, c], levels=out_levels)
        self.input_view.set_title(tr("x: digit 1 of the batch, channel {c} ({kernel})").format(
            c=c + 1, kernel=kernel_name(name)))
        self.hat_view.set_title(tr("x_hat = (x − μ) / √(σ² + eps)"))
        self.train_view.set_title(tr("train mode: γ·x_hat + β (batch μ, σ²)"))
        self.eval_view.set_title(tr("eval mode: the running mean and variance"))
        gamma, beta = demo.gamma_beta(c)
        m = demo.momentum
        n = s.x.shape[0] * s.x.shape[2] * s.x.shape[3]  # N·H·W values per channel
        self.numbers.setText(tr(
            "step {step}, channel {c}: batch μ = {mean:.4g}, σ² = {var:.4g} (over N·H·W = {n} "
            "values); γ = {gamma:g}, β = {beta:g}\n"
            "running mean ← {m:g}·{rm0:.4g} + {m1:g}·{mean:.4g} = {rm:.4g}; running variance ← "
            "{m:g}·{rv0:.4g} + {m1:g}·{uvar:.4g} = {rv:.4g} (the batch variance made unbiased, "
            "×n/(n−1))").format(
            step=s.step, c=c + 1, mean=float(s.mean[c]), var=float(s.var[c]),
            n=n, gamma=gamma, beta=beta, m=m,
            m1=1 - m, rm0=float(s.running_mean_before[c]), rm=float(s.running_mean[c]),
            rv0=float(s.running_var_before[c]), rv=float(s.running_var[c]),
            uvar=float(s.var[c]) * n / (n - 1)))
        steps = np.arange(1, len(demo.history) + 1)
        self.batch_curve.setData(steps, [h[0][c] for h in demo.history])
        self.running_curve.setData(steps, [h[1][c] for h in demo.history])
        self.plot.setTitle(tr("channel {c}: batch mean μ (dots) and running mean (line)").format(
            c=c + 1))
