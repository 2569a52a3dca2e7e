"""The Backprop lab's "Channels and filters" view: the backward pass with C input channels
and F filters, map by map.

Left block: each filter's padded delta pad(δ_m) on top; below, one row per input
channel k: filter m's term pad(δ_m) ∗ rot180(W_m,k) for every m, then their sum dx_k.
Right block: the inputs x_k on top; below, one row per filter m: dW[m, k] = x_k ∗ δ_m
for every k, and db[m] = Σ δ_m. The animation (``compute.channel_frames``) fills the
maps in the order the course adds them; the formula line writes the current cell with
its numbers (click any cell to choose it). Maps too small for their numbers are heat
maps: hover a cell for its number, click it for its formula.

Everything shown comes from a ``compute.ChannelsBackward``; this widget only lays out
and draws.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from engine.i18n import tr
from gui.labs._base import numbers_label, operator_label
from gui.labs.backprop.compute import ChannelsBackward, Frame, channel_frames
from gui.labs.backprop.settings import CHANNELS_MAX, FILTERS_MAX
from gui.widgets.anim_controls import AnimControls
from gui.widgets.colormaps import symmetric_levels
from gui.widgets.matrix_view import MatrixView

__all__ = ["ChannelsView", "ACTIVE_STYLE", "heat_view", "active_title"]

ACTIVE_STYLE = "color:#0b6e2e; font-weight:bold"  # the titles of the maps the frame is about


def heat_view(on_click) -> MatrixView:
    """A diverging MatrixView whose cells tell their value on hover and call ``on_click``."""
    view = MatrixView("", "diverging")
    view.enable_value_tips()
    view.cell_clicked.connect(on_click)
    view.title_label.setWordWrap(True)
    return view


def active_title(text: str, on: bool) -> str:
    return f"<span style='{ACTIVE_STYLE}'>{text}</span>" if on else text


class ChannelsView(QWidget):
    """Terms, sums, dW and db for every channel and filter (module docstring).

    Attributes
    ----------
    frames : list of compute.Frame
        The animation's frames; ``controls`` (AnimControls) steps through them.
    cell : (i, j)
        The dx cell whose formula is written (0-based); ``tap`` (u, v) the weight's.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.cb: ChannelsBackward | None = None
        self.frames: list[Frame] = []
        self.cell = (0, 0)
        self.tap = (0, 0)
        self._levels: dict[str, tuple[float, float]] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        self.sentence = QLabel()
        self.sentence.setWordWrap(True)
        self.sentence.setTextFormat(Qt.TextFormat.RichText)
        self.sentence.setStyleSheet("font-size: 14px;")
        lay.addWidget(self.sentence)

        blocks = QHBoxLayout()
        left, right = QGridLayout(), QGridLayout()
        for grid in (left, right):
            grid.setHorizontalSpacing(2)
            grid.setVerticalSpacing(4)
        # left: pad(δ_m) on row 0; row k+1: term[m, k] at column 2m, "+" / "=" between, dx_k
        self.padded_views = [heat_view(lambda *_: None) for _ in range(FILTERS_MAX)]
        self.term_views = [[heat_view(lambda r, c, m=m, k=k: self._on_term(m, k, r, c))
                            for k in range(CHANNELS_MAX)] for m in range(FILTERS_MAX)]
        self.dx_views = [heat_view(lambda r, c, k=k: self._on_dx(k, r, c))
                         for k in range(CHANNELS_MAX)]
        self.plus_labels = [[operator_label("+") for _ in range(FILTERS_MAX - 1)]
                            for _ in range(CHANNELS_MAX)]
        self.equals_labels = [operator_label("=") for _ in range(CHANNELS_MAX)]
        for m in range(FILTERS_MAX):
            left.addWidget(self.padded_views[m], 0, 2 * m)
        for k in range(CHANNELS_MAX):
            for m in range(FILTERS_MAX):
                left.addWidget(self.term_views[m][k], k + 1, 2 * m)
                if m < FILTERS_MAX - 1:
                    left.addWidget(self.plus_labels[k][m], k + 1, 2 * m + 1)
            left.addWidget(self.equals_labels[k], k + 1, 2 * FILTERS_MAX - 1)
            left.addWidget(self.dx_views[k], k + 1, 2 * FILTERS_MAX)
        # right: x_k on row 0; row m+1: dW[m, k] at column k, db[m] last
        self.x_views = [heat_view(lambda *_: None) for _ in range(CHANNELS_MAX)]
        self.dw_views = [[heat_view(lambda r, c, m=m, k=k: self._on_dw(m, k, r, c))
                          for k in range(CHANNELS_MAX)] for m in range(FILTERS_MAX)]
        self.db_views = [heat_view(lambda *_, m=m: self._on_db(m)) for m in range(FILTERS_MAX)]
        for k in range(CHANNELS_MAX):
            right.addWidget(self.x_views[k], 0, k)
        for m in range(FILTERS_MAX):
            for k in range(CHANNELS_MAX):
                right.addWidget(self.dw_views[m][k], m + 1, k)
            right.addWidget(self.db_views[m], m + 1, CHANNELS_MAX)
        self._left, self._right = left, right
        blocks.addLayout(left, 3)
        blocks.addSpacing(12)
        blocks.addLayout(right, 2)
        lay.addLayout(blocks, 1)

        self.formula = numbers_label()
        lay.addWidget(self.formula)
        self.controls = AnimControls(speed=1)
        self.controls.step_changed.connect(self.show_frame)
        lay.addWidget(self.controls)
        self.retranslate()

    def retranslate(self) -> None:
        self.controls.retranslate()
        if self.cb is not None:
            self.show_frame(self.controls.step)
        else:
            self.sentence.setText("")
            self.formula.setText(tr("No backward pass: the geometry is impossible."))

    # ------------------------------------------------------------ the data
    def set_backward(self, cb: ChannelsBackward | None) -> None:
        """Show ``cb`` (None: an impossible geometry); stays at the same frame if it can."""
        self.cb = cb
        if cb is None:
            self.frames = []
            self.controls.set_count(0)
            for view in self._all_views():
                view.setVisible(False)
            self.retranslate()
            return
        g = cb.geometry
        self.cell = (min(self.cell[0], g.H - 1), min(self.cell[1], g.W - 1))
        self.tap = (min(self.tap[0], g.KH - 1), min(self.tap[1], g.KW - 1))
        self.frames = channel_frames(g.C, g.F)
        lv = self._levels
        lv["delta"] = symmetric_levels(cb.padded_delta)
        lv["term"] = symmetric_levels(cb.terms)
        lv["dx"] = symmetric_levels(cb.dx)
        lv["x"] = symmetric_levels(cb.x)
        lv["dw"] = symmetric_levels(cb.dw)
        lv["db"] = symmetric_levels(cb.db)
        self._show_used(g.C, g.F)
        mask = np.ones(cb.padded_delta.shape[1:], dtype=bool)
        dh, dw = cb.trace.dilated_delta.shape[2:]
        dil = np.ones((dh, dw), dtype=bool)
        dil[::g.SH, ::g.SW] = False
        mask[g.KH - 1:g.KH - 1 + dh, g.KW - 1:g.KW - 1 + dw] = dil
        for m in range(g.F):
            self.padded_views[m].set_matrix(cb.padded_delta[m], levels=lv["delta"],
                                            padding_mask=mask)
        for k in range(g.C):
            self.x_views[k].set_matrix(cb.x[k], levels=lv["x"])
        step = min(self.controls.step, len(self.frames) - 1)
        self.controls.set_count(len(self.frames), step=step)
        self.show_frame(self.controls.step)

    def _all_views(self) -> list[MatrixView]:
        views = self.padded_views + self.dx_views + self.x_views + self.db_views
        for row in self.term_views + self.dw_views:
            views += row
        return views

    def _show_used(self, C: int, F: int) -> None:
        """Only the first C channels and F filters are shown; the columns share the room."""
        for m in range(FILTERS_MAX):
            self.padded_views[m].set_used(m < F)
            self.db_views[m].set_used(m < F)
            for k in range(CHANNELS_MAX):
                self.term_views[m][k].set_used(m < F and k < C)
                self.dw_views[m][k].set_used(m < F and k < C)
        for k in range(CHANNELS_MAX):
            self.dx_views[k].set_used(k < C)
            self.x_views[k].set_used(k < C)
            self.equals_labels[k].setVisible(k < C)
            for m in range(FILTERS_MAX - 1):
                self.plus_labels[k][m].setVisible(k < C and m < F - 1)
        for col in range(2 * FILTERS_MAX + 1):
            used = col < 2 * F - 1 and col % 2 == 0 or col == 2 * FILTERS_MAX
            self._left.setColumnStretch(col, 1 if used else 0)
        for col in range(CHANNELS_MAX + 1):
            self._right.setColumnStretch(col, 1 if col < C or col == CHANNELS_MAX else 0)

    # -------------------------------------------------------------- frames
    def show_frame(self, index: int) -> None:
        """Draw frame ``index``: the maps built so far, the active ones titled in green,
        the current cell outlined, its formula written."""
        if self.cb is None or not self.frames:
            return
        cb, g, lv = self.cb, self.cb.geometry, self._levels
        frame = self.frames[index]
        terms, dw, db = cb.frame_maps(frame)
        dx = cb.dx_done(frame)
        for view in self._all_views():
            view.clear_window()
        i, j = self.cell
        u, v = self.tap
        for m in range(g.F):
            on = frame.kind == "term" and frame.m == m
            self.padded_views[m].set_title(active_title(tr("pad(δ{m})").format(m=m + 1), on))
            self.db_views[m].set_matrix(db[m].reshape(1, 1), levels=lv["db"])
            self.db_views[m].set_title(active_title(tr("db{m}").format(m=m + 1),
                                               frame.kind == "db" and frame.m == m))
            for k in range(g.C):
                self.term_views[m][k].set_matrix(terms[m, k], levels=lv["term"])
                self.term_views[m][k].set_title(active_title(
                    tr("filter {m} → channel {k}").format(m=m + 1, k=k + 1),
                    frame.kind == "term" and (frame.m, frame.k) == (m, k)))
                self.dw_views[m][k].set_matrix(dw[m, k], levels=lv["dw"])
                self.dw_views[m][k].set_title(active_title(
                    tr("dW[{m},{k}]").format(m=m + 1, k=k + 1),
                    frame.kind == "dw" and (frame.m, frame.k) == (m, k)))
        for k in range(g.C):
            self.dx_views[k].set_matrix(dx[k], levels=lv["dx"])
            self.dx_views[k].set_title(active_title(tr("dx{k}").format(k=k + 1),
                                               frame.kind == "sum" and frame.k == k))
            self.x_views[k].set_title(active_title(tr("x{k}").format(k=k + 1),
                                              frame.kind == "dw" and frame.k == k))
        self.formula.setText(self._formula(frame))
        self.sentence.setText(self._sentence(frame))
        if frame.kind == "term":
            self.padded_views[frame.m].set_window(i + g.PH, j + g.PW, g.KH, g.KW)
            self.term_views[frame.m][frame.k].set_window(i, j, 1, 1)
        elif frame.kind == "sum":
            for m in range(g.F):
                self.term_views[m][frame.k].set_window(i, j, 1, 1)
            self.dx_views[frame.k].set_window(i, j, 1, 1)
        elif frame.kind == "dw":
            self.dw_views[frame.m][frame.k].set_window(u, v, 1, 1)
            height, width = (g.HO - 1) * g.SH + 1, (g.WO - 1) * g.SW + 1
            self.x_views[frame.k].set_window(u - g.PH, v - g.PW, height, width)
        elif frame.kind == "db":
            self.db_views[frame.m].set_window(0, 0, 1, 1)

    def _formula(self, frame: Frame) -> str:
        cb = self.cb
        if frame.kind == "term":
            return cb.term_text(frame.m, frame.k, *self.cell)
        if frame.kind == "sum":
            return cb.sum_text(frame.k, *self.cell)
        if frame.kind == "dw":
            return cb.dw_text(frame.m, frame.k, *self.tap)
        return cb.db_text(frame.m)

    def _sentence(self, frame: Frame) -> str:
        if frame.kind == "term":
            return tr("<b>Filter {m}'s term of channel {k}:</b> the padded δ{m} slid under "
                      "W{m},{k} rotated 180° (the full convolution). Every filter used this "
                      "input channel, so each sends back its own part.").format(
                m=frame.m + 1, k=frame.k + 1)
        if frame.kind == "sum":
            return tr("<b>dx{k} = Σ over the filters</b> of their terms: the input fed every "
                      "filter, so its gradient adds what each filter sends back.").format(
                k=frame.k + 1)
        if frame.kind == "dw":
            return tr("<b>dW[{m},{k}] = x{k} ∗ δ{m}:</b> the input channel {k} correlated with "
                      "filter {m}'s δ (no rotation); one kernel slice per (filter, channel) "
                      "pair.").format(m=frame.m + 1, k=frame.k + 1)
        return tr("<b>db{m} = Σ δ{m}:</b> filter {m}'s one bias was added to each of its "
                  "output cells.").format(m=frame.m + 1)

    # --------------------------------------------------------- interaction
    def _jump(self, frame: Frame) -> None:
        self.controls.pause()
        index = self.frames.index(frame)
        if index == self.controls.step:
            self.show_frame(index)
        else:
            self.controls.set_step(index)

    def _on_term(self, m: int, k: int, r: int, c: int) -> None:
        if self.cb is not None and m < self.cb.geometry.F and k < self.cb.geometry.C:
            self.cell = (r, c)
            self._jump(Frame("term", k, m))

    def _on_dx(self, k: int, r: int, c: int) -> None:
        if self.cb is not None and k < self.cb.geometry.C:
            self.cell = (r, c)
            self._jump(Frame("sum", k))

    def _on_dw(self, m: int, k: int, u: int, v: int) -> None:
        if self.cb is not None and m < self.cb.geometry.F and k < self.cb.geometry.C:
            self.tap = (u, v)
            self._jump(Frame("dw", k, m))

    def _on_db(self, m: int) -> None:
        if self.cb is not None and m < self.cb.geometry.F:
            self._jump(Frame("db", -1, m))

    def shown(self) -> dict[str, np.ndarray]:
        """What the maps show now (tests): terms (F, C, H, W), dx (C, H, W), dw, db."""
        g = self.cb.geometry
        return {
            "terms": np.array([[self.term_views[m][k].values for k in range(g.C)]
                               for m in range(g.F)]),
            "dx": np.array([self.dx_views[k].values for k in range(g.C)]),
            "dw": np.array([[self.dw_views[m][k].values for k in range(g.C)]
                            for m in range(g.F)]),
            "db": np.array([self.db_views[m].values[0, 0] for m in range(g.F)]),
        }
