"""The network's probability for each class, as bars."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from engine.i18n import tr
from gui.labs.training.views._common import BACKGROUND, FitsTitles, FollowsClasses, short_name

__all__ = ["ProbabilityView"]


class ProbabilityView(FitsTitles, FollowsClasses, pg.PlotWidget):
    """The network's probability for each class, the predicted bar highlighted.

    The number of bars follows the probabilities given (:meth:`set_classes`); with
    nothing to show (:meth:`blank`; PlotWidget already has a ``clear``) the bars are
    empty and the title says why."""

    def __init__(self, classes: int = 10, parent=None):
        super().__init__(parent, background=BACKGROUND, enableMenu=False)
        self.plot_item = self.getPlotItem()
        self.plot_item.setYRange(0, 1, padding=0)
        self.plot_item.setMouseEnabled(False, False)
        self.plot_item.setMenuEnabled(False)
        self.plot_item.hideButtons()
        self.bars = pg.BarGraphItem(x=np.arange(1), height=np.zeros(1), width=0.7,
                                    brush=(146, 197, 222))
        self.plot_item.addItem(self.bars)
        self._shown: np.ndarray | None = None  # the heights drawn
        self._title = ""  # the title shown
        self._reading: tuple | None = None  # (best, probability, label) or None: nothing shown
        self._empty_hint = ""  # msgid of the title while nothing is shown
        self.set_classes(classes)
        self.retranslate()

    _BEST = pg.mkBrush((178, 24, 43))
    _OTHER = pg.mkBrush((146, 197, 222))
    # a thousandth of the axis is under a pixel on any screen: smaller changes are not
    # redrawn (a trained network's probe probabilities barely move from frame to frame,
    # and rebuilding and painting the bars cost ~0.4 ms of every frame)
    VISIBLE_CHANGE = 1e-3

    def retranslate(self) -> None:
        """Set the title in the current language."""
        if self._reading is None:
            title = tr("Prediction") + (f": {tr(self._empty_hint)}" if self._empty_hint else "")
        else:
            best, p, label = self._reading
            title = tr("Prediction: {best} ({p})").format(best=self.name(best), p=f"{p:.0%}")
            if label is not None:
                title += tr(", true {label}").format(label=self.name(label))
        if title != self._title:  # the title's rich-text layout only when it reads differently
            self._title = title
            self.plot_item.setTitle(title)
            self.fit_titles()

    def _titles(self):
        return [(self.plot_item.titleLabel, self.plot_item)]

    SMALL_TITLE_BELOW = 320  # px: a narrower view writes its title smaller (fewer lines)

    def _fit_titles(self) -> None:
        label = self.plot_item.titleLabel
        small = self.width() < self.SMALL_TITLE_BELOW
        if small != ("size" in label.opts):
            if small:
                label.opts["size"] = "8pt"
            else:
                label.opts.pop("size")
            label.setText(label.text)
        super()._fit_titles()

    def _show_classes(self, classes: int) -> None:
        """``classes`` bars from now on, empty."""
        self.plot_item.setXRange(-0.6, classes - 0.4, padding=0)
        step = 1 if classes <= 10 else 2  # past 10 classes every other tick, never crowded
        self.plot_item.getAxis("bottom").setTicks([[(k, short_name(self.name(k), 4))
                                                    for k in range(0, classes, step)]])
        self.bars.setOpts(x=np.arange(classes), height=np.zeros(classes), brushes=None,
                          brush=self._OTHER)
        self._shown = None

    def blank(self, hint: str = "") -> None:
        """Empty bars; the title reads "Prediction" and ``hint`` (a msgid), if any."""
        self.bars.setOpts(height=np.zeros(self._classes), brushes=None, brush=self._OTHER)
        self._shown = None
        self._reading, self._empty_hint = None, hint
        self.retranslate()

    def set_probabilities(self, probabilities: np.ndarray, label: int | None = None) -> None:
        """probabilities : (K,); the bars follow K."""
        p = np.asarray(probabilities, dtype=np.float64)
        self.set_classes(p.shape[0])
        best = int(np.argmax(p))
        shown = self._shown
        if (shown is None or shown.shape != p.shape or best != int(np.argmax(shown))
                or np.max(np.abs(p - shown)) >= self.VISIBLE_CHANGE):
            brushes = [self._BEST if k == best else self._OTHER for k in range(p.shape[0])]
            self.bars.setOpts(height=p, brushes=brushes)
            self._shown = p
        self._reading = (best, float(p[best]), label)
        self.retranslate()
