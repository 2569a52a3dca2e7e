"""The Backprop lab's "Influence" view: the course's intuitive derivation of dx and dW,
and the two ways of building dx.

Top: the inputs x_k and the kernels W[m, k]; click an input cell or a weight. Middle,
for every filter m: its δ_m and the factor each output cell used with the chosen
input cell (the weight) or the chosen weight (the input value), empty where it was not
used. The formula writes the gradient as the sum of those δ times those factors and
shows it equal to the rotated-kernel convolution's result. Bottom: dx built by the
*gather* replay (one input cell at a time: the full convolution with the rotated
kernel) or the *scatter* replay (one output cell at a time: add w·δ into its input
window, CS231n's naive loop); both end at the same dx.

Everything shown comes from a ``compute.ChannelsBackward``; this widget only lays out
and draws.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from engine.i18n import tr, tr_noop
from engine.symbolic import format_number, result_number
from gui.labs._base import numbers_label
from gui.labs.backprop.channels import active_title, heat_view
from gui.labs.backprop.compute import ChannelsBackward, replay_frames
from gui.labs.backprop.settings import CHANNELS_MAX, FILTERS_MAX
from gui.widgets.anim_controls import AnimControls
from gui.widgets.colormaps import symmetric_levels
from gui.widgets.texts import Texts

__all__ = ["InfluenceView", "MODES"]

MODES = (("gather", tr_noop("Gather: full convolution with the rotated kernel")),
         ("scatter", tr_noop("Scatter: every output cell adds w·δ into its input window "
                             "(CS231n's loop)")))


class InfluenceView(QWidget):
    """Which outputs an input cell or a weight influenced, and the two replays of dx.

    Attributes
    ----------
    chosen : ("input", k, r, c) or ("weight", m, k, u, v)
        What the influence maps and the formula are about (0-based).
    mode : str
        "gather" or "scatter": the replay ``controls`` steps through.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.cb: ChannelsBackward | None = None
        self.chosen: tuple = ("input", 0, 1, 1)
        self.mode = "gather"
        self._levels: dict[str, tuple[float, float]] = {}
        t = self.texts = Texts()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        self.sentence = QLabel()
        self.sentence.setWordWrap(True)
        self.sentence.setStyleSheet("font-size: 14px;")
        t(self.sentence.setText, tr_noop(
            "Click an input cell or a weight: the outputs it influenced in the forward pass "
            "light up with the factor it was multiplied by there; its gradient is the sum of "
            "those outputs' δ times those factors."))
        lay.addWidget(self.sentence)

        top = QGridLayout()
        top.setHorizontalSpacing(4)
        self.x_views = [heat_view(lambda r, c, k=k: self.choose(("input", k, r, c)))
                        for k in range(CHANNELS_MAX)]
        self.w_views = [[heat_view(lambda u, v, m=m, k=k: self.choose(("weight", m, k, u, v)))
                         for k in range(CHANNELS_MAX)] for m in range(FILTERS_MAX)]
        for k in range(CHANNELS_MAX):
            top.addWidget(self.x_views[k], 0, k, FILTERS_MAX, 1)
        for m in range(FILTERS_MAX):
            for k in range(CHANNELS_MAX):
                top.addWidget(self.w_views[m][k], m, CHANNELS_MAX + k)
        lay.addLayout(top, 3)

        middle = QHBoxLayout()
        self.delta_views = [heat_view(lambda *_: None) for _ in range(FILTERS_MAX)]
        self.factor_views = [heat_view(lambda *_: None) for _ in range(FILTERS_MAX)]
        for m in range(FILTERS_MAX):
            middle.addWidget(self.delta_views[m], 1)
            middle.addWidget(self.factor_views[m], 1)
            middle.addSpacing(8)
        lay.addLayout(middle, 2)

        self.formula = numbers_label()
        lay.addWidget(self.formula)

        modes = QVBoxLayout()  # one under the other: the long labels never widen the lab
        modes.setSpacing(0)
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[str, QRadioButton] = {}
        for key, text in MODES:
            button = QRadioButton()
            t(button.setText, text)
            button.toggled.connect(lambda on, k=key: on and self.set_mode(k))
            self.mode_group.addButton(button)
            self.mode_buttons[key] = button
            modes.addWidget(button)
        self.mode_buttons["gather"].setChecked(True)
        lay.addLayout(modes)
        replay = QHBoxLayout()
        self.replay_views = [heat_view(lambda *_: None) for _ in range(CHANNELS_MAX)]
        for view in self.replay_views:
            replay.addWidget(view, 1)
        lay.addLayout(replay, 2)
        self.replay_label = QLabel()
        self.replay_label.setWordWrap(True)
        lay.addWidget(self.replay_label)
        self.controls = AnimControls(speed=4)
        self.controls.step_changed.connect(self.show_replay)
        lay.addWidget(self.controls)
        self.retranslate()

    def retranslate(self) -> None:
        self.texts.apply()
        self.controls.retranslate()
        if self.cb is not None:
            self._show_choice()
            self.show_replay(self.controls.step)
        else:
            self.formula.setText(tr("No backward pass: the geometry is impossible."))

    # ------------------------------------------------------------- the data
    def set_backward(self, cb: ChannelsBackward | None) -> None:
        """Show ``cb`` (None: an impossible geometry); the choice is kept when it still
        exists."""
        self.cb = cb
        for view in self._all_views():
            view.setVisible(cb is not None)
        if cb is None:
            self.controls.set_count(0)
            self.retranslate()
            return
        g = cb.geometry
        if not self._exists(self.chosen):
            self.chosen = ("input", 0, min(g.H - 1, 1), min(g.W - 1, 1))
        lv = self._levels
        lv["x"], lv["w"], lv["delta"] = (symmetric_levels(cb.x), symmetric_levels(cb.w),
                                         symmetric_levels(cb.delta))
        lv["dx"] = symmetric_levels(cb.dx)
        for k in range(CHANNELS_MAX):
            self.x_views[k].set_used(k < g.C)
            self.replay_views[k].set_used(k < g.C)
            for m in range(FILTERS_MAX):
                self.w_views[m][k].set_used(k < g.C and m < g.F)
        for m in range(FILTERS_MAX):
            self.delta_views[m].set_used(m < g.F)
            self.factor_views[m].set_used(m < g.F)
        for k in range(g.C):
            self.x_views[k].set_title(tr("x{k}").format(k=k + 1))
            self.x_views[k].set_matrix(cb.x[k], levels=lv["x"])
            for m in range(g.F):
                self.w_views[m][k].set_title(tr("W[{m},{k}]").format(m=m + 1, k=k + 1))
                self.w_views[m][k].set_matrix(cb.w[m, k], levels=lv["w"])
        for m in range(g.F):
            self.delta_views[m].set_matrix(cb.delta[m], levels=lv["delta"])
        self._show_choice()
        self._reset_replay()

    def _all_views(self):
        views = self.x_views + self.delta_views + self.factor_views + self.replay_views
        for row in self.w_views:
            views += row
        return views

    def _exists(self, chosen: tuple) -> bool:
        g = self.cb.geometry
        if chosen[0] == "input":
            _, k, r, c = chosen
            return k < g.C and r < g.H and c < g.W
        _, m, k, u, v = chosen
        return m < g.F and k < g.C and u < g.KH and v < g.KW

    # ------------------------------------------------------------ influence
    def choose(self, chosen: tuple) -> None:
        """Show the influence of ``("input", k, r, c)`` or ``("weight", m, k, u, v)``."""
        if self.cb is None or not self._exists(chosen):
            return
        self.chosen = chosen
        self._show_choice()

    def influence_maps(self) -> np.ndarray:
        """(F, HO, WO): the factor each output cell used with the chosen input cell (its
        weight) or weight (its input value); NaN where it was not used."""
        cb = self.cb
        maps = np.full(cb.delta.shape, np.nan)
        for link in self.links():
            maps[link.m, link.i, link.j] = link.factor
        return maps

    def links(self):
        cb = self.cb
        if self.chosen[0] == "input":
            return cb.input_links(*self.chosen[1:])
        return cb.weight_links(*self.chosen[1:])

    def _show_choice(self) -> None:
        cb, g = self.cb, self.cb.geometry
        maps = self.influence_maps()
        for view in self.x_views + [v for row in self.w_views for v in row]:
            view.clear_window()
        if self.chosen[0] == "input":
            _, k, r, c = self.chosen
            self.x_views[k].set_window(r, c, 1, 1)
            self.formula.setText(cb.input_influence_text(k, r, c))
            what = tr("weight used")
        else:
            _, m, k, u, v = self.chosen
            self.w_views[m][k].set_window(u, v, 1, 1)
            self.formula.setText(cb.weight_influence_text(m, k, u, v))
            what = tr("input used")
        for m in range(g.F):
            used = bool(np.isfinite(maps[m]).any())
            self.delta_views[m].set_title(active_title(tr("δ{m}").format(m=m + 1), used))
            self.factor_views[m].set_title(active_title(
                tr("filter {m}: {what}").format(m=m + 1, what=what), used))
            self.factor_views[m].set_matrix(maps[m], levels=self._levels[
                "w" if self.chosen[0] == "input" else "x"])

    # -------------------------------------------------------------- replays
    def set_mode(self, mode: str) -> None:
        """Replay dx by "gather" or "scatter" (from its first step)."""
        self.mode = mode
        if self.mode_buttons[mode].isChecked() is False:
            self.mode_buttons[mode].setChecked(True)
        if self.cb is not None:
            self._reset_replay()

    def _reset_replay(self) -> None:
        g = self.cb.geometry
        count = replay_frames(self.mode, g.C, g.H, g.W, g.F, g.HO, g.WO)
        self.controls.set_count(count, step=0)
        self.show_replay(0)

    def replayed(self, step: int) -> np.ndarray:
        """(C, H, W): dx after ``step`` steps of the current mode's replay."""
        if self.mode == "gather":
            return self.cb.gather_after(step)
        return self.cb.scatter_after(step)

    def show_replay(self, step: int) -> None:
        if self.cb is None:
            return
        cb, g = self.cb, self.cb.geometry
        dx = self.replayed(step)
        for k in range(g.C):
            self.replay_views[k].clear_window()
            self.replay_views[k].set_matrix(dx[k], levels=self._levels["dx"])
        for view in self.delta_views:
            view.clear_window()
        if self.mode == "gather":
            k, r, c = cb.gather_cell(step)
            self.replay_views[k].set_window(r, c, 1, 1)
            for k2 in range(g.C):
                self.replay_views[k2].set_title(active_title(tr("dx{k} (gather)").format(k=k2 + 1),
                                                        k2 == k))
            self.replay_label.setText(tr(
                "Gather step {n} of {total}: dx{k}[{r},{c}] = Σ over the filters of the "
                "window of pad(δ) ⊙ rot180 W = {value}").format(
                n=step + 1, total=g.C * g.H * g.W, k=k + 1, r=r + 1, c=c + 1,
                value=result_number(cb.dx[k, r, c], cb.integers)))
        else:
            m, i, j = cb.scatter_cell(step)
            row, col = cb.scatter_window(step)
            for k in range(g.C):
                self.replay_views[k].set_window(row - g.PH, col - g.PW, g.KH, g.KW)
                self.replay_views[k].set_title(tr("dx{k} (scatter)").format(k=k + 1))
            self.delta_views[m].set_window(i, j, 1, 1)
            self.replay_label.setText(tr(
                "Scatter step {n} of {total}: output cell δ{m}[{i},{j}] = {delta} adds "
                "W{m}·{delta} into its input window (every channel)").format(
                n=step + 1, total=g.F * g.HO * g.WO, m=m + 1, i=i + 1, j=j + 1,
                delta=format_number(cb.delta[m, i, j], cb.integers)))
