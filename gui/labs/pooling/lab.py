"""Pooling lab: max and average pooling one window at a time, then the delta routed back.

Left, the settings (max or average, window and stride, the input, the delta). Right,
the output-size formula with the current numbers and a Forward/Backward switch.

Forward plays ``engine.max_pool2d_forward_trace`` / ``avg_pool2d_forward_trace``: the
window outlined on the input, its maximum marked (gold), the pooled output filling in
and, for max pooling, the argmax map (the flat index ``row·W + col`` of every winner).
Backward plays ``engine.max_pool2d_backward_trace`` / ``avg_pool2d_backward_trace``:
each delta value goes to the cell that won its window (max) or is shared evenly by
the window's cells (average), and dx fills in; with overlapping windows (stride
smaller than the window) a cell can receive several deltas, which add up. The last
step of each animation is exactly what ``engine.max_pool2d_forward`` /
``max_pool2d_backward`` (and the average versions) compute.

Every view is built once; a step only pushes new numbers into existing items. An
impossible geometry is explained in words in place of the animation, never raised.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QBrush, QColor, QPen
from PyQt6.QtWidgets import (
    QButtonGroup,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

import engine
from engine import GeometryError, output_size_formula
from engine.i18n import tr, tr_n, tr_noop
from gui.labs._base import (
    SOURCES_DIFFER_STYLE,
    SettingsLab,
    format_number,
    formula_label,
    formula_lines,
    is_integral,
    problem_label,
)
from gui.labs._base import prefetch_digits as prefetch  # noqa: F401 (gui.app._prepare_labs)
from gui.labs.pooling.settings import PoolSettings, PoolSetup
from gui.widgets.anim_controls import AnimControls
from gui.widgets.colormaps import symmetric_levels
from gui.widgets.matrix_view import MatrixView

__all__ = ["PoolingLab", "DEFAULT_STEP", "MAX_COLOR"]

DEFAULT_STEP = 4  # the screenshot's step: mid-animation, the output half full
MAX_COLOR = QColor(255, 176, 0)  # the chosen maximum / the cell a delta is routed to
_NOTE_STYLE = "color: #555;"
_TOGGLE_STYLE = ("QPushButton { padding: 4px 10px; }"
                 "QPushButton:checked { background: #2f6fb0; color: white;"
                 " border: 1px solid #1d4f82; border-radius: 3px; }")
_STRIP_VIEW_WIDTH = 260  # the window / side matrix: a few cells, no need for more room
#: Where this lab's result differs from a course source (CURRICULUM.md, "Where the
#: sources disagree"): how, and why.
TIES_NOTE = tr_noop(
    "Sources differ: with tied maxima, CS231n's (window == max) · dout gives every tied cell "
    "the whole delta, so the total grows; here only the first maximum in reading order gets "
    "it, as in PyTorch, and the total stays the same.")


class _Marker:
    """A gold outline around one cell of a MatrixView (the maximum, a delta's target).

    Added to the view's ViewBox from outside, so the shared MatrixView stays untouched.
    """

    def __init__(self, view: MatrixView):
        self.item = QGraphicsRectItem()
        pen = QPen(MAX_COLOR, 4)
        pen.setCosmetic(True)  # 4 pixels at any zoom
        pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
        self.item.setPen(pen)
        self.item.setBrush(QBrush(QColor(255, 176, 0, 70)))
        self.item.setZValue(3)  # above the numbers and the green window
        self.item.setVisible(False)
        view.graphics.view_box.addItem(self.item)

    def show(self, row: int, col: int) -> None:
        self.item.setRect(QRectF(float(col), float(row), 1.0, 1.0))
        self.item.setVisible(True)

    def hide(self) -> None:
        self.item.setVisible(False)

    def cell(self) -> tuple[int, int] | None:
        """(row, col) of the marked cell, or None when hidden."""
        if not self.item.isVisible():
            return None
        r = self.item.rect()
        return int(round(r.top())), int(round(r.left()))


def _equation_label() -> QLabel:
    label = QLabel("")
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setWordWrap(True)
    label.setStyleSheet("font-size: 15px; padding: 4px;")
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    return label


def _equation_strip(page: QVBoxLayout, title: str) -> tuple[MatrixView, QLabel]:
    """The bottom of a page: a small matrix (the window, the side array) and its equation."""
    strip = QHBoxLayout()
    view = MatrixView(title)
    view.setMaximumWidth(_STRIP_VIEW_WIDTH)
    strip.addWidget(view, 1)
    equation = _equation_label()
    strip.addWidget(equation, 3)
    page.addLayout(strip, 2)
    return view, equation


class PoolingLab(SettingsLab):
    """The Pooling lab (see the module docstring).

    ``status_message(str)`` comes from ``SettingsLab``.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setup: PoolSetup | None = None
        self.forward_trace = None  # engine PoolForwardTrace, None if the geometry is invalid
        self.backward_trace = None  # engine PoolBackwardTrace
        self.dout: np.ndarray | None = None  # (1, 1, HO, WO)
        self.problem: str | None = None
        self._levels: dict[str, tuple[float, float]] = {}
        self._integers = True
        self._shown_kind: str | None = None  # the input kind the speed was chosen for

        self._construct(self._construction())

    def _construction(self):
        """The steps of the construction (gui.labs._base.StagedConstruction)."""
        self.settings = PoolSettings()
        yield
        self.main_area = self._build_main_area()
        self._lay_out()
        self._connect_animation(self.show_step)
        self._reveal_later(self.main_area)  # painted a turn after the settings column
        yield
        self.rebuild(step=DEFAULT_STEP)
        self.retranslate()

    def retranslate(self) -> None:
        super().retranslate()
        self.forward_button.setText(tr("Forward: pool"))
        self.backward_button.setText(tr("Backward: route the delta"))
        self.forward_button.setToolTip(tr("Slide the window and keep its maximum (or mean)"))
        self.backward_button.setToolTip(tr("Send each delta back to the input cells it came "
                                           "from"))
        self.argmax_view.setToolTip(tr("Where each maximum was: the flat index row·W + col of "
                                       "the winning input cell (what max_pool2d_forward "
                                       "returns)"))
        self.output_view.setToolTip(tr("Click a cell to jump to the step that writes it"))
        self.delta_view.setToolTip(tr("Click a cell to jump to the step that routes it"))
        self.window_view.set_title(tr("window"))
        self.rebuild()

    # ------------------------------------------------------------- building
    def _build_main_area(self) -> QWidget:
        area = QWidget()
        lay = QVBoxLayout(area)
        lay.setContentsMargins(6, 6, 6, 6)

        head = QHBoxLayout()
        self.formula_label = formula_label()
        head.addWidget(self.formula_label, 1)
        self.forward_button = QPushButton()
        self.backward_button = QPushButton()
        self.direction_group = QButtonGroup(self)
        for b in (self.forward_button, self.backward_button):
            b.setCheckable(True)
            b.setStyleSheet(_TOGGLE_STYLE)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space belongs to play/pause
            self.direction_group.addButton(b)
            head.addWidget(b, 0, Qt.AlignmentFlag.AlignTop)
        self.forward_button.setChecked(True)
        self.direction_group.buttonClicked.connect(self._on_direction)
        lay.addLayout(head)

        self.pages = QStackedWidget()
        self.forward_page = self._build_forward_page()
        self.backward_page = self._build_backward_page()
        self.problem_label = problem_label()
        for page in (self.forward_page, self.backward_page, self.problem_label):
            self.pages.addWidget(page)
        lay.addWidget(self.pages, 1)

        self.controls = AnimControls(speed=2)
        lay.addWidget(self.controls)
        return area

    def _build_forward_page(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.forward_input_view = MatrixView()
        self.output_view = MatrixView()
        self.argmax_view = MatrixView("", "greys")
        self.output_view.cell_clicked.connect(self._on_output_clicked)
        self.argmax_view.cell_clicked.connect(self._on_output_clicked)
        top.addWidget(self.forward_input_view, 5)
        top.addWidget(self.output_view, 4)
        top.addWidget(self.argmax_view, 4)
        lay.addLayout(top, 3)
        self.window_view, self.forward_equation = _equation_strip(lay, "")
        self.forward_input_marker = _Marker(self.forward_input_view)
        self.window_marker = _Marker(self.window_view)
        return page

    def _build_backward_page(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.backward_input_view = MatrixView()
        self.delta_view = MatrixView()
        self.dx_view = MatrixView()
        self.delta_view.cell_clicked.connect(self._on_output_clicked)
        top.addWidget(self.backward_input_view, 1)
        top.addWidget(self.delta_view, 1)
        top.addWidget(self.dx_view, 1)
        lay.addLayout(top, 3)
        self.side_view, self.backward_equation = _equation_strip(lay, "")
        self.backward_input_marker = _Marker(self.backward_input_view)
        self.dx_marker = _Marker(self.dx_view)
        return page

    # ------------------------------------------------------------- the model
    @property
    def direction(self) -> str:
        """"forward" or "backward"."""
        return "backward" if self.backward_button.isChecked() else "forward"

    def set_direction(self, direction: str) -> None:
        """Show the forward pass or the backward routing (the step is kept)."""
        (self.backward_button if direction == "backward" else self.forward_button).setChecked(True)
        self._on_direction()

    def _on_direction(self, *_):
        if self.forward_trace is None:
            return
        self.pages.setCurrentWidget(self.backward_page if self.direction == "backward"
                                    else self.forward_page)
        self.show_step(self.controls.step)

    def rebuild(self, step: int | None = None) -> None:
        """Read the settings, make new traces and redraw; keeps the step unless given."""
        keep = self.controls.step if step is None else step
        setup = self.settings.setup()
        self.setup = setup
        H, W = setup.x.shape[2:]
        (KH, KW), (SH, SW) = setup.size, setup.stride
        formulas = [output_size_formula(H, KH, SH, 0, "H"), output_size_formula(W, KW, SW, 0, "W")]
        try:
            builder = (engine.max_pool2d_forward_trace if setup.mode == "max"
                       else engine.avg_pool2d_forward_trace)
            self.forward_trace = builder(setup.x, setup.size, setup.stride)
            g = self.forward_trace.geometry
            self.dout = self.settings.delta(g.HO, g.WO)[None, None]  # (1, 1, HO, WO)
            if setup.mode == "max":
                self.backward_trace = engine.max_pool2d_backward_trace(
                    self.dout, setup.x, setup.size, setup.stride)
            else:
                self.backward_trace = engine.avg_pool2d_backward_trace(
                    self.dout, setup.x.shape, setup.size, setup.stride)
            self.problem = None
        except GeometryError as err:
            self.forward_trace = self.backward_trace = self.dout = None
            self.problem = str(err)
            self.settings.delta(0, 0)
        self._show_formulas(formulas, setup)
        if self.forward_trace is None:
            self.controls.set_count(0)
            self.pages.setCurrentWidget(self.problem_label)
            self.problem_label.setText(tr(
                "No animation: {problem}.<br>Make the window smaller or the input larger.")
                .format(problem=self.problem))
            self.status_message.emit(tr("Impossible geometry: {problem}").format(
                problem=self.problem))
            return
        self._prepare_views(setup)
        if setup.kind != self._shown_kind:
            # a few typed windows are followed at 2 per second; a 28x28 picture has
            # hundreds, so it starts faster (the speed box still overrides)
            self._shown_kind = setup.kind
            self.controls.set_speed(2 if setup.kind == "typed" else 15)
        self.pages.setCurrentWidget(self.backward_page if self.direction == "backward"
                                    else self.forward_page)
        n = len(self.forward_trace)
        self.controls.set_count(n, step=min(max(keep, 0), n - 1))

    def _show_formulas(self, formulas: list[str], setup: PoolSetup) -> None:
        # the formula's reasons speak of a kernel: here it is the pooling window
        lines = formula_lines(formulas, self.problem, reword=(tr("kernel"), tr("pooling window")))
        (KH, KW), (SH, SW) = setup.size, setup.stride
        kind = (tr("max pooling, {kh}×{kw} window, stride {sh}×{sw}") if setup.mode == "max"
                else tr("average pooling, {kh}×{kw} window, stride {sh}×{sw}"))
        what = f"{setup.description} · " + kind.format(kh=KH, kw=KW, sh=SH, sw=SW)
        notes = []
        if SH < KH or SW < KW:
            notes.append(tr("windows overlap"))
        unreached = self._unreached_cells(setup) if self.problem is None else 0
        if unreached:
            notes.append(tr_n("{n} input cell is in no window (gradient 0)",
                              "{n} input cells are in no window (gradient 0)",
                              unreached).format(n=unreached))
        if notes:
            what += " · " + " · ".join(notes)
        text = "<br>".join(lines) + f"<br><span style='{_NOTE_STYLE} font-size:13px'>{what}</span>"
        if setup.mode == "max":
            text += f"<br><span style='{SOURCES_DIFFER_STYLE}'>{tr(TIES_NOTE)}</span>"
        self.formula_label.setText(text)

    @staticmethod
    def _unreached_cells(setup: PoolSetup) -> int:
        """How many input cells no window covers (stride larger than the window, or a
        remainder at the bottom/right)."""
        H, W = setup.x.shape[2:]
        (KH, KW), (SH, SW) = setup.size, setup.stride
        rows = np.zeros(H, dtype=bool)
        cols = np.zeros(W, dtype=bool)
        for i in range(engine.output_size(H, KH, SH)):
            rows[i * SH:i * SH + KH] = True
        for j in range(engine.output_size(W, KW, SW)):
            cols[j * SW:j * SW + KW] = True
        return H * W - int(rows.sum()) * int(cols.sum())

    def _prepare_views(self, setup: PoolSetup) -> None:
        """Per-setup parts: colours, titles, which views are visible."""
        g = self.forward_trace.geometry
        x = setup.x[0, 0]
        picture = setup.kind in ("digit", "feature")
        cmap = "greys" if picture else "diverging"
        self._levels["x"] = (0.0, max(float(x.max()), 1e-12)) if picture else symmetric_levels(x)
        dx_final = self.backward_trace.result()
        self._levels["delta"] = symmetric_levels(np.concatenate([self.dout.ravel(),
                                                                 dx_final.ravel()]))
        # light greys whatever the index: the numbers matter, not the colour
        self._levels["argmax"] = (-3.0 * g.H * g.W, float(g.H * g.W - 1))
        self._integers = is_integral(x)
        self._delta_integers = is_integral(self.dout, dx_final)
        for view in (self.forward_input_view, self.backward_input_view, self.output_view,
                     self.window_view):
            view.set_cmap(cmap)
        for view in (self.forward_input_view, self.backward_input_view):
            view.set_matrix(x, levels=self._levels["x"])
            view.set_title(tr("input x ({h}×{w})").format(h=g.H, w=g.W))
        is_max = setup.mode == "max"
        self.argmax_view.setVisible(is_max)
        self.output_view.set_title(tr("pooled output y ({h}×{w})").format(h=g.HO, w=g.WO))
        self.argmax_view.set_title(tr("argmax map ({h}×{w}): row·{width} + col").format(
            h=g.HO, w=g.WO, width=g.W))
        self.delta_view.set_matrix(self.dout[0, 0], levels=self._levels["delta"])
        self.delta_view.set_title(tr("delta = dout ({h}×{w})").format(h=g.HO, w=g.WO))
        self.dx_view.set_title(tr("dx ({h}×{w}), filling in").format(h=g.H, w=g.W))
        if is_max:
            self.side_view.set_cmap("greys")
            self.side_view.set_title(tr("argmax map: where each delta goes"))
        else:
            self.side_view.set_cmap("diverging")
            self.side_view.set_title(tr("each cell's share: δ / {n}").format(n=g.KH * g.KW))
        for marker in (self.forward_input_marker, self.window_marker,
                       self.backward_input_marker, self.dx_marker):
            marker.hide()

    # -------------------------------------------------------------- a step
    def show_step(self, k: int) -> None:
        """Draw step ``k`` of the forward pass or of the backward routing."""
        if self.forward_trace is None:
            return
        if self.direction == "backward":
            self._show_backward_step(k)
        else:
            self._show_forward_step(k)

    def _animate_ms(self) -> int:
        if self.controls.is_playing and self.controls.interval_ms >= 100:
            return min(250, int(self.controls.interval_ms * 0.6))
        return 0

    def _argmax_so_far(self, k: int) -> np.ndarray:
        """The argmax map (HO, WO) as float, NaN where no window has been pooled yet."""
        amap = self.forward_trace.argmax_map[0, 0].astype(np.float64)
        amap.reshape(-1)[k + 1:] = np.nan
        return amap

    def _show_forward_step(self, k: int) -> None:
        s = self.forward_trace[k]
        g = self.forward_trace.geometry
        self.forward_input_view.set_window(s.row, s.col, g.KH, g.KW, animate_ms=self._animate_ms())
        self.output_view.set_matrix(self.forward_trace.replay(k)[0, 0], levels=self._levels["x"])
        self.output_view.set_window(s.i, s.j, 1, 1)
        self.window_view.set_matrix(s.window, levels=self._levels["x"])
        if self.setup.mode == "max":
            self.forward_input_marker.show(s.argmax_row, s.argmax_col)
            self.window_marker.show(s.argmax_row - s.row, s.argmax_col - s.col)
            self.argmax_view.set_matrix(self._argmax_so_far(k), levels=self._levels["argmax"])
            self.argmax_view.set_window(s.i, s.j, 1, 1)
        else:
            self.forward_input_marker.hide()
            self.window_marker.hide()
        self.window_view.set_title(tr("window at row {row}, column {col}").format(row=s.row,
                                                                                 col=s.col))
        self.forward_equation.setText(self._forward_text(s, g))

    def _forward_text(self, s, g) -> str:
        ints = self._integers
        where = f"y[{s.i}, {s.j}]"
        if self.setup.mode == "max":
            ties = int(np.count_nonzero(s.window == s.value))
            value = format_number(s.value, ints).strip('()')
            text = tr("{where} = max(window) = <b>{value}</b>, found at input row {row}, "
                      "column {col} (gold)<br>argmax map: {row}·{width} + {col} = "
                      "<b>{index}</b>").format(where=where, value=value, row=s.argmax_row,
                                               col=s.argmax_col, width=g.W,
                                               index=s.argmax_row * g.W + s.argmax_col)
            if ties > 1:
                text += f"<br><span style='{_NOTE_STYLE}'>" + tr(
                    "{n} cells share the maximum: the first in row-major order wins (as in "
                    "PyTorch), so only it gets the gradient later.").format(n=ties) + "</span>"
            return text
        n = g.KH * g.KW
        total = float(s.window.sum())
        if n <= 16:
            terms = " + ".join(format_number(float(v), ints) for v in s.window.ravel())
            sum_text = f"({terms}) / {n} = {format_number(total, ints)} / {n}"
        else:
            sum_text = f"sum(window) / {n} = {format_number(total, ints)} / {n}"
        mean = format_number(s.value, False).strip('()')
        return f"{where} = mean(window) = {sum_text} = <b>{mean}</b>"

    def _show_backward_step(self, k: int) -> None:
        s = self.backward_trace[k]
        g = self.backward_trace.geometry
        dx = self.backward_trace.replay(k)[0, 0]  # (H, W), zeros where nothing arrived yet
        before = self.backward_trace.replay(k - 1)[0, 0] if k > 0 else np.zeros_like(dx)
        animate = self._animate_ms()
        self.backward_input_view.set_window(s.row, s.col, g.KH, g.KW, animate_ms=animate)
        self.delta_view.set_window(s.i, s.j, 1, 1)
        self.dx_view.set_matrix(dx, levels=self._levels["delta"])
        self.dx_view.set_window(s.row, s.col, g.KH, g.KW, animate_ms=animate)
        if self.setup.mode == "max":
            self.backward_input_marker.show(s.target_row, s.target_col)
            self.dx_marker.show(s.target_row, s.target_col)
            self.side_view.set_matrix(self.forward_trace.argmax_map[0, 0].astype(np.float64),
                                      levels=self._levels["argmax"])
            self.side_view.set_window(s.i, s.j, 1, 1)
        else:
            self.backward_input_marker.hide()
            self.dx_marker.hide()
            self.side_view.set_matrix(np.full((g.KH, g.KW), s.share),
                                      levels=self._levels["delta"])
            self.side_view.clear_window()
        self.backward_equation.setText(self._backward_text(s, g, before, dx))

    def _backward_text(self, s, g, before: np.ndarray, after: np.ndarray) -> str:
        ints = self._delta_integers
        delta = format_number(s.delta, ints)
        if self.setup.mode == "max":
            r, c = s.target_row, s.target_col
            text = tr("δ[{i}, {j}] = <b>{delta}</b> goes to the cell that won its window in the "
                      "forward pass, input row {row}, column {col} (gold):<br>dx[{row}, {col}] = "
                      "{before} + {signed} = <b>{after}</b>. The other cells of the window get "
                      "0: they did not change the output.").format(
                i=s.i, j=s.j, delta=delta.strip('()'), row=r, col=c, signed=delta,
                before=format_number(float(before[r, c]), ints),
                after=format_number(float(after[r, c]), ints).strip('()'))
            if before[r, c] != 0:
                text += f"<br><span style='{_NOTE_STYLE}'>" + tr(
                    "This cell already got a delta from an overlapping window: the deltas add "
                    "up.") + "</span>"
            return text
        n = g.KH * g.KW
        share = format_number(s.share, False).strip('()')
        text = tr("δ[{i}, {j}] = <b>{delta}</b> is shared evenly: each of the {n} cells of the "
                  "window gets {signed} / {n} = <b>{share}</b>, because each counted 1/{n} in "
                  "the mean.").format(i=s.i, j=s.j, delta=delta.strip('()'), n=n, signed=delta,
                                      share=share)
        window_before = before[s.row:s.row + g.KH, s.col:s.col + g.KW]
        if np.any(window_before != 0):
            text += f"<br><span style='{_NOTE_STYLE}'>" + tr(
                "Some of these cells already hold shares from an overlapping window: the "
                "shares add up.") + "</span>"
        return text

    # ---------------------------------------------------------- interaction
    def _on_output_clicked(self, i: int, j: int):
        if self.forward_trace is None:
            return
        self.controls.pause()
        self.controls.set_step(self.forward_trace.step_index(0, 0, i, j))

    # --------------------------------------------------------- shell hooks
    def prepare_screenshot(self) -> None:
        """The teaching default (max, 2×2, stride 2 on the 6×6 grid), a few steps in."""
        self.controls.pause()
        self.set_direction("forward")
        self.settings.reset_defaults()
        self.controls.set_step(DEFAULT_STEP)
