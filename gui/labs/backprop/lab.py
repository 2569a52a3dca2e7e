"""Backprop lab: the backward pass of a convolution, stage by stage and step by step.

Left, one small example (input x, kernel w, stride, padding and the delta
``dout`` arriving from the next layer). Right, the stages of
``engine.conv2d_backward_trace``: delta, delta dilated by the stride, padded by
K-1, the kernel rotated 180 degrees; then the full convolution that builds dx one
input cell at a time, the steps of dW (input taps times delta) and db (the sum of
delta). Each stage is explained in one sentence. The last frame of each stage shows
exactly ``engine.conv2d_backward``'s dx, dW and db, and a numerical gradient check
(``engine.numerical_gradient`` / ``engine.relative_error`` in float64) confirms them.

The animation's frames are four preparation frames (one per stage array) followed
by the trace's steps. Every view is built once; a frame only pushes new numbers into
existing items. An impossible geometry is shown in words, never raised.
"""

from __future__ import annotations

import html

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

import engine
from engine import GeometryError, output_size_formula
from engine.i18n import tr, tr_n, tr_noop
from gui.labs._base import (
    NOT_READY_TEXT,
    SOURCES_DIFFER_STYLE,
    LazyTabs,
    SettingsLab,
    format_number,
    formula_label,
    formula_lines,
    hline,
    is_integral,
    operator_label,
    problem_label,
    strip_or_problem,
)
from gui.labs.backprop.channels import ChannelsView
from gui.labs.backprop.compute import ChannelsBackward, Frame
from gui.labs.backprop.influence import InfluenceView
from gui.labs.backprop.settings import GRID_WIDTH_MAX, BackpropSettings, BackpropSetup
from gui.labs.backprop.views import GradCheckPanel, StepStrip
from gui.widgets.anim_controls import AnimControls
from gui.widgets.colormaps import symmetric_levels
from gui.widgets.matrix_view import MatrixView

__all__ = ["BackpropLab", "STAGES", "PREP_FRAMES", "gradient_check"]

# (key, button text); the first four are one frame each, the last three the trace's steps
STAGES = (("delta", tr_noop("① δ")), ("dilate", tr_noop("② dilate")), ("pad", tr_noop("③ pad")),
          ("rotate", tr_noop("④ rotate 180°")), ("dx", tr_noop("⑤ dx")), ("dw", tr_noop("⑥ dW")),
          ("db", tr_noop("⑦ db")))
PREP_FRAMES = 4
#: Where this lab's result differs from a course source (CURRICULUM.md, "Where the
#: sources disagree"): one line under the stage's sentence, how and why.
DILATION_NOTE = tr_noop(
    "Sources differ: the slides' zero matrix is (M·S)×(N·S) = {ms}×{ns}; the exact size is "
    "(M−1)·S + 1 = {dh}×{dw}, plus the rows and columns the stride left unread (added with "
    "the padding): the slides' extra trailing zeros would meet no input.")
WEIGHT_GRADIENT_NOTE = tr_noop(
    "Sources differ: one source rotates by 180° here too; the weight gradient needs no "
    "rotation: dW = x ∗ δ, the input correlated with δ as it is (only dx uses rot180 w).")
BIAS_GRADIENT_NOTE = tr_noop(
    "Sources differ: one slide writes δ_b = δ_in; the bias gradient is the sum of δ_in over "
    "the whole map, because the one bias was added to every output cell.")
_ACTIVE = "color:#0b6e2e; font-weight:bold"  # the titles of the views the stage is about
# a style sheet drops the style's 80-pixel minimum button width: 7 stages fit a narrow window
_STAGE_STYLE = ("QPushButton { padding: 3px 7px; }"
                "QPushButton:checked { background: #2f6fb0; color: white;"
                " border: 1px solid #1d4f82; border-radius: 3px; }")


def gradient_check(setup: BackpropSetup) -> dict[str, float]:
    """Relative error of ``engine.conv2d_backward`` against finite differences, in float64.

    The loss is ``L = Σ(y ⊙ dout)`` with ``y = conv2d_forward(x, w, b)``, so
    ``∂L/∂y = dout`` and the analytic gradients are those of the backward pass. The
    bias (absent from the example) is 0: its value does not change any gradient.

    Each error is relative to the largest gradient of the whole layer (the ``floor``
    of ``engine.relative_error``), not only to its own tensor: when δ sums to 0, db
    is exactly 0 and its finite difference is pure rounding noise (~1e-10 here);
    divided by itself that noise would read as an error of 1, a false alarm.

    Parameters
    ----------
    setup : BackpropSetup
        With a valid geometry (``setup.dout`` not None).

    Returns
    -------
    dict
        ``{"dx": error, "dw": error, "db": error}``, each an ``engine.relative_error``.
    """
    x = np.array(setup.x, dtype=np.float64)  # (1, 1, H, W); perturbed in place
    w = np.array(setup.w, dtype=np.float64)  # (1, 1, KH, KW)
    b = np.zeros(w.shape[0])  # (F,)
    dout = np.asarray(setup.dout, dtype=np.float64)  # (1, 1, HO, WO)
    s, p = setup.stride, setup.padding
    dx, dw, db = engine.conv2d_backward(dout, x, w, s, p)

    def forward(x_, w_, b_):
        return engine.conv2d_forward(x_, w_, b_, s, p)

    num_dx = engine.numerical_gradient(lambda v: forward(v, w, b), x, dout)
    num_dw = engine.numerical_gradient(lambda v: forward(x, v, b), w, dout)
    num_db = engine.numerical_gradient(lambda v: forward(x, w, v), b, dout)
    pairs = {"dx": (dx, num_dx), "dw": (dw, num_dw), "db": (db, num_db)}
    layer_scale = max(float(np.max(np.abs(a) + np.abs(n))) for a, n in pairs.values())
    floor = max(layer_scale, 1e-10)
    return {key: engine.relative_error(a, n, floor=floor) for key, (a, n) in pairs.items()}


def _terms(a: np.ndarray, b: np.ndarray, integers: bool, limit: int = 9) -> str:
    """``a1·b1 + a2·b2 + …`` over the pairs whose product is not zero (the rest add 0)."""
    pairs = [(x, y) for x, y in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True)
             if x * y != 0]
    if not pairs:
        return tr("0 (every product is 0)")
    shown = [f"{format_number(x, integers)}·{format_number(y, integers)}" for x, y in pairs[:limit]]
    more = tr(" + … ({n} more)").format(n=len(pairs) - limit) if len(pairs) > limit else ""
    return " + ".join(shown) + more


def _title(text: str, active: bool) -> str:
    return f"<span style='{_ACTIVE}'>{text}</span>" if active else text


#: the views of tabs 1 and 2, built on first use (_base.LazyTabs)
_LAZY_VIEWS = (ChannelsView, InfluenceView)


class BackpropLab(SettingsLab):
    """The Backprop lab (see the module docstring).

    ``status_message(str)`` comes from ``SettingsLab``.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.trace = None  # engine ConvBackwardTrace of the current setup, None if invalid
        self.setup: BackpropSetup | None = None
        self.problem: str | None = None
        self.gradcheck_errors: dict[str, float] | None = None
        self._levels: dict[str, tuple[float, float]] = {}
        self._integers = True

        self._construct(self._construction())

    def _construction(self):
        """The steps of the construction (gui.labs._base.StagedConstruction)."""
        self.settings = BackpropSettings()
        yield
        self.stage_area = self._build_main_area()
        # the channels and influence views (every channel and filter at once) are built
        # when first shown or asked for: their 50 matrix views were most of the lab's
        # construction, a stall of the GUI thread when the lab is first opened
        self.channels_backward: ChannelsBackward | None = None
        self.tabs = QTabWidget()
        self.tabs.addTab(self.stage_area, "")
        self.lazy_tabs = LazyTabs(self.tabs, self._view_built)
        for view_class in _LAZY_VIEWS:
            self.lazy_tabs.add(view_class)
        self.tabs.currentChanged.connect(self._tab_shown)
        self.main_area = self.tabs
        self._lay_out(max(self.settings.sizeHint().width(), GRID_WIDTH_MAX + 40))
        self._connect_animation(self.show_frame)
        self._reveal_later(self.tabs)  # painted a turn after the settings column
        yield
        self.retranslate()  # sets the texts and builds the first trace

    @property
    def channels_view(self) -> ChannelsView:
        return self.lazy_tabs.view(1)

    @property
    def influence_view(self) -> InfluenceView:
        return self.lazy_tabs.view(2)

    def _view_built(self, _index: int, view) -> None:
        """A lazily built view gets the current texts and backward pass."""
        view.retranslate()
        view.set_backward(self.channels_backward)

    def _tab_shown(self, _index: int) -> None:
        self.pause()  # (the page shown was built first: LazyTabs)

    def pause(self) -> None:
        for view in (self, *self.lazy_tabs.views()):
            view.controls.pause()

    def retranslate(self) -> None:
        super().retranslate()
        for index, text in enumerate((tr("Stages (channel k, filter m)"),
                                      tr("Channels and filters"), tr("Influence"))):
            self.tabs.setTabText(index, text)
        self.tabs.setTabToolTip(0, tr("The backward pass of the pair the grids edit, stage by "
                                      "stage: filter m's term of channel k's dx"))
        for view in self.lazy_tabs.views():
            view.retranslate()
        for key, text in STAGES:
            button = self.stage_buttons[key]
            button.setText(tr(text))
            button.setToolTip(tr("Jump to the start of the {stage} stage").format(
                stage=tr(text)[2:]))
        for view, tip in ((self.dx_view, tr("Click a cell to jump to the step that computes "
                                            "it")),
                          (self.dw_view, tr("Click a weight to jump to the step that computes "
                                            "its gradient")),
                          (self.db_view, tr("Click to jump to the db step"))):
            view.setToolTip(tip)
        self.gradcheck.retranslate()
        self.rebuild()

    # ------------------------------------------------------------- building
    def _build_main_area(self) -> QWidget:
        area = QWidget()
        lay = QVBoxLayout(area)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(4)

        self.formula_label = formula_label(None)
        lay.addWidget(self.formula_label)

        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        self.stage_group = QButtonGroup(self)
        self.stage_group.setExclusive(True)
        self.stage_buttons: dict[str, QPushButton] = {}
        for key, _text in STAGES:
            b = QPushButton()
            b.setCheckable(True)
            b.setStyleSheet(_STAGE_STYLE)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space and arrows stay with the animation
            b.clicked.connect(lambda _checked, k=key: self.go_to_stage(k))
            self.stage_group.addButton(b)
            self.stage_buttons[key] = b
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay.addLayout(buttons)

        self.sentence_label = QLabel("")
        self.sentence_label.setWordWrap(True)
        self.sentence_label.setTextFormat(Qt.TextFormat.RichText)
        self.sentence_label.setStyleSheet("font-size: 15px; padding: 2px 0px;")
        lay.addWidget(self.sentence_label)

        # the stage arrays: delta -> dilated -> padded, and the kernel -> rotated
        pipeline = QHBoxLayout()
        self.delta_view = MatrixView("", "diverging")
        self.dilated_view = MatrixView("", "diverging")
        self.padded_delta_view = MatrixView("", "diverging")
        self.kernel_view = MatrixView("", "diverging")
        self.rot_view = MatrixView("", "diverging")
        self._pipeline = [(self.delta_view, 3), ("→", 0), (self.dilated_view, 4), ("→", 0),
                          (self.padded_delta_view, 6), (None, 0), (self.kernel_view, 3),
                          ("→", 0), (self.rot_view, 3)]
        self._pipeline_layout = pipeline
        for item, stretch in self._pipeline:
            if isinstance(item, MatrixView):
                pipeline.addWidget(item, stretch)
            elif item is None:
                pipeline.addSpacing(18)
            else:
                pipeline.addWidget(operator_label(item, "font-size: 20px; color: #555;"))
        lay.addLayout(pipeline, 6)

        lay.addWidget(hline())
        # the step strip, or, for an impossible geometry, the reason in its place
        self.strip = StepStrip()
        self.problem_label = problem_label()
        self.problem_label.setTextFormat(Qt.TextFormat.RichText)
        self.strip_stack = strip_or_problem(self.strip, self.problem_label)
        lay.addWidget(self.strip_stack, 4)
        lay.addWidget(hline())

        # what the backward pass produces, next to the input it differentiates
        results = QHBoxLayout()
        self.input_view = MatrixView("", "diverging")
        self.dx_view = MatrixView("", "diverging")
        self.dw_view = MatrixView("", "diverging")
        self.db_view = MatrixView("", "diverging")
        self.dx_view.cell_clicked.connect(self._on_dx_clicked)
        self.dw_view.cell_clicked.connect(self._on_dw_clicked)
        self.db_view.cell_clicked.connect(lambda *_: self._jump(self._trace_frame(
            self.trace.db_step_index(0))) if self.trace is not None else None)
        for view in (self.input_view, self.dx_view, self.dw_view, self.db_view):
            view.title_label.setWordWrap(True)  # a narrow window wraps, never overlaps
        self.gradcheck = GradCheckPanel()
        # in a short window the panel scrolls instead of cutting its explanation
        gradcheck_scroll = QScrollArea()
        gradcheck_scroll.setWidget(self.gradcheck)
        gradcheck_scroll.setWidgetResizable(True)
        gradcheck_scroll.setFrameShape(QFrame.Shape.NoFrame)
        gradcheck_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        bar = gradcheck_scroll.verticalScrollBar().sizeHint().width()
        gradcheck_scroll.setMinimumWidth(self.gradcheck.minimumSizeHint().width() + bar)
        gradcheck_scroll.setMaximumWidth(300 + bar)
        results.addWidget(self.input_view, 5)
        results.addWidget(self.dx_view, 5)
        results.addWidget(self.dw_view, 3)
        results.addWidget(self.db_view, 1)
        results.addWidget(gradcheck_scroll, 4)
        lay.addLayout(results, 5)

        self.controls = AnimControls(speed=4)
        lay.addWidget(self.controls)
        return area

    # ------------------------------------------------------------- the model
    def rebuild(self) -> None:
        """Read the settings, make a new trace and redraw; stays in the same stage."""
        keep_stage, keep_offset = self.stage_position(self.controls.step) \
            if self.trace is not None else ("delta", 0)
        setup = self.settings.setup()
        self.setup = setup
        self.stage_setup = setup.pair()  # the stage view follows the edited pair
        self.problem = setup.problem
        self.trace = None
        self.channels_backward = None
        if self.problem is None:
            try:
                self.trace = engine.conv2d_backward_trace(
                    self.stage_setup.dout, self.stage_setup.x, self.stage_setup.w,
                    setup.stride, setup.padding)
                self.channels_backward = ChannelsBackward(setup.dout, setup.x, setup.w,
                                                          setup.stride, setup.padding)
            except GeometryError as err:  # the settings checked already; belt and braces
                self.problem = str(err)
        for view in self.lazy_tabs.views():
            view.set_backward(self.channels_backward)
        self._show_formulas(setup)
        if self.trace is None:
            self._show_problem()
            return
        self._prepare_views()
        self._update_gradcheck()
        self.strip_stack.setCurrentWidget(self.strip)
        self.controls.set_count(self.frame_count(),
                                step=self.stage_frame(keep_stage, keep_offset))

    def _update_gradcheck(self) -> None:
        """The numerical check calls the engine's kernels: while they are still being
        compiled (first start) it says so and fills in when they are ready."""
        self.gradcheck_errors = None
        if self.trace is None:
            return
        if not self._kernels_ready(self._update_gradcheck):
            self.gradcheck.set_errors(None, tr(NOT_READY_TEXT))
            return
        self.gradcheck_errors = gradient_check(self.setup)
        self.gradcheck.set_errors(self.gradcheck_errors)

    def _show_problem(self) -> None:
        self.gradcheck_errors = None
        self.controls.set_count(0)
        for view in (self.delta_view, self.dilated_view, self.padded_delta_view, self.dx_view,
                     self.dw_view, self.db_view):
            view.set_matrix(np.full((1, 1), np.nan))
            view.clear_window()
        H, W = self.stage_setup.x.shape[2:]
        PH, PW = self.stage_setup.padding
        self.kernel_view.set_matrix(self.stage_setup.w[0, 0])
        self.rot_view.set_matrix(self.stage_setup.w[0, 0, ::-1, ::-1])
        self.input_view.set_matrix(np.pad(self.stage_setup.x[0, 0], ((PH, PH), (PW, PW))))
        self.input_view.clear_window()
        self.stage_group.setExclusive(False)  # an exclusive group cannot have none checked
        for key, _ in STAGES:
            self.stage_buttons[key].setChecked(False)
            self.stage_buttons[key].setEnabled(False)
        self.stage_group.setExclusive(True)
        for view, text in ((self.delta_view, tr("δ (no output)")),
                           (self.dilated_view, tr("dilated δ")),
                           (self.padded_delta_view, tr("padded δ")),
                           (self.kernel_view, tr("w {kh}×{kw}").format(
                               kh=self.stage_setup.w.shape[2], kw=self.stage_setup.w.shape[3])),
                           (self.rot_view, tr("rot180 w")),
                           (self.input_view, tr("padded input x {h}×{w}").format(
                               h=H + 2 * PH, w=W + 2 * PW)),
                           (self.dx_view, "dx"), (self.dw_view, "dW"), (self.db_view, "db")):
            view.set_title(text)
        self.strip_stack.setCurrentWidget(self.problem_label)
        self.problem_label.setText(tr(
            "No backward pass: {problem}.<br>There is no output, so there is no delta to send "
            "back.<br>Make the kernel smaller, add padding or use a larger input.").format(
            problem=self.problem))
        self.sentence_label.setText("")
        self.gradcheck.set_errors(None, tr("No gradient to check: the geometry is impossible."))
        self.status_message.emit(tr("Impossible geometry: {problem}").format(problem=self.problem))

    def _show_formulas(self, setup: BackpropSetup) -> None:
        H, W = setup.x.shape[2:]
        KH, KW = setup.w.shape[2:]
        (SH, SW), (PH, PW) = setup.stride, setup.padding
        lines = formula_lines([output_size_formula(H, KH, SH, PH, "H"),
                               output_size_formula(W, KW, SW, PW, "W")], self.problem)
        stride = f"{SH}" if SH == SW else f"{SH}×{SW}"
        pad = f"{PH}" if PH == PW else f"{PH}×{PW}"
        what = tr("backward pass of y = x ∗ w: x {h}×{w}, w {kh}×{kw}, stride {stride}, "
                  "padding {pad}; δ = ∂L/∂y comes from the next layer").format(
            h=H, w=W, kh=KH, kw=KW, stride=stride, pad=pad)
        C, F = setup.x.shape[1], setup.w.shape[0]
        if C > 1 or F > 1:
            what += "<br>" + tr("{channels}, {filters}: these stages are channel {k} and "
                                "filter {m} (filter {m}'s term of dx{k}); the Channels and "
                                "filters tab shows every pair and the sums").format(
                channels=tr_n("{n} input channel", "{n} input channels", C).format(n=C),
                filters=tr_n("{n} filter", "{n} filters", F).format(n=F),
                k=setup.channel + 1, m=setup.filter + 1)
        self.formula_label.setText(" &nbsp;·&nbsp; ".join(lines) +
                                   f"<br><span style='color:#555'>{what}</span>")

    def _prepare_views(self) -> None:
        """Per-example parts: the stage arrays, the padded input, the colour levels."""
        t, g = self.trace, self.trace.geometry
        delta = t.delta[0, 0]  # (HO, WO)
        x, w = self.stage_setup.x[0, 0], self.stage_setup.w[0, 0]  # (H, W), (KH, KW)
        dx_full, dw_full, db_full = t.padded_dx()[0, 0], t.dw()[0, 0], t.db()
        self._integers = is_integral(x, w, delta)
        lv = self._levels
        b = np.zeros(1)  # (F,): the bias does not change any gradient
        # the forward output through the numpy trace (exactly conv2d_forward's numbers): an
        # edit never waits on the GUI thread for a Numba kernel to be compiled
        self._forward_output = engine.conv2d_forward_trace(
            self.stage_setup.x, self.stage_setup.w, b, (g.SH, g.SW), (g.PH, g.PW)).result()[0, 0]
        lv["y"] = symmetric_levels(self._forward_output)
        lv["delta"], lv["kernel"], lv["input"] = (symmetric_levels(delta),
                                                  symmetric_levels(w), symmetric_levels(x))
        lv["dx_products"] = symmetric_levels(np.array([np.abs(delta).max() * np.abs(w).max()]))
        lv["dw_products"] = symmetric_levels(np.array([np.abs(delta).max() * np.abs(x).max()]))
        lv["dx"], lv["dw"], lv["db"] = (symmetric_levels(dx_full), symmetric_levels(dw_full),
                                        symmetric_levels(db_full))
        for key, _ in STAGES:
            self.stage_buttons[key].setEnabled(True)

        # masks: the zeros each stage inserts are hatched so they never look like data
        dilated = t.dilated_delta[0, 0]
        self._dilation_mask = np.ones(dilated.shape, dtype=bool)
        self._dilation_mask[::g.SH, ::g.SW] = False
        padded = t.padded_delta[0, 0]
        self._pad_delta_mask = np.ones(padded.shape, dtype=bool)
        self._pad_delta_mask[g.KH - 1:g.KH - 1 + dilated.shape[0],
                             g.KW - 1:g.KW - 1 + dilated.shape[1]] = self._dilation_mask
        self._pad_delta_inner = (g.KH - 1, g.KW - 1, g.KH - 1 + dilated.shape[0],
                                 g.KW - 1 + dilated.shape[1])
        hp, wp = g.padded_shape
        self._input_mask = np.ones((hp, wp), dtype=bool)
        self._input_mask[g.PH:g.PH + g.H, g.PW:g.PW + g.W] = False
        self._input_inner = (g.PH, g.PW, g.PH + g.H, g.PW + g.W) if (g.PH or g.PW) else None

        self.delta_view.set_matrix(delta, levels=lv["delta"])
        self.dilated_view.set_matrix(dilated, levels=lv["delta"], padding_mask=self._dilation_mask)
        self.padded_delta_view.set_matrix(padded, levels=lv["delta"],
                                          padding_mask=self._pad_delta_mask,
                                          inner=self._pad_delta_inner)
        self.kernel_view.set_matrix(w, levels=lv["kernel"])
        self.rot_view.set_matrix(t.rot180_kernel[0, 0], levels=lv["kernel"])
        self.input_view.set_matrix(t.padded_input[0, 0], levels=lv["input"],
                                   padding_mask=self._input_mask, inner=self._input_inner)
        # the padded delta is the widest view: give each view room in proportion to its columns
        # (small matrices get 2 columns extra: their numbers must stay readable)
        stretches = {self.delta_view: g.WO + 2, self.dilated_view: dilated.shape[1],
                     self.padded_delta_view: padded.shape[1], self.kernel_view: g.KW + 2,
                     self.rot_view: g.KW + 2}
        for view, stretch in stretches.items():
            self._pipeline_layout.setStretchFactor(view, max(2, stretch))

    # -------------------------------------------------------------- frames
    def frame_count(self) -> int:
        """The four preparation frames plus one frame per trace step (0 if invalid)."""
        return 0 if self.trace is None else PREP_FRAMES + len(self.trace)

    def _trace_frame(self, step: int) -> int:
        return PREP_FRAMES + step

    def stage_range(self, stage: str) -> range:
        """The frames of ``stage`` (one of the keys of STAGES)."""
        keys = [k for k, _ in STAGES]
        if keys.index(stage) < PREP_FRAMES:
            k = keys.index(stage)
            return range(k, k + 1)
        starts = self.trace.stage_start
        end = {"dx": starts["dw"], "dw": starts["db"], "db": len(self.trace)}[stage]
        return range(self._trace_frame(starts[stage]), self._trace_frame(end))

    def stage_of(self, frame: int) -> str:
        if frame < PREP_FRAMES:
            return STAGES[frame][0]
        return self.trace[frame - PREP_FRAMES].stage

    def stage_position(self, frame: int) -> tuple[str, int]:
        stage = self.stage_of(frame)
        return stage, frame - self.stage_range(stage).start

    def stage_frame(self, stage: str, offset: int = 0) -> int:
        """The frame ``offset`` into ``stage`` (clamped to the stage)."""
        frames = self.stage_range(stage)
        return frames[min(max(offset, 0), len(frames) - 1)]

    def go_to_stage(self, stage: str, end: bool = False) -> None:
        """Jump to the first (or, with ``end``, the last) frame of ``stage``."""
        if self.trace is None:
            return
        self._jump(self.stage_range(stage)[-1 if end else 0])

    def _jump(self, frame: int) -> None:
        self.controls.pause()
        self.controls.set_step(frame)

    def show_frame(self, k: int) -> None:
        """Draw frame ``k``: the stage highlighted, its windows, the gradients so far, the strip."""
        if self.trace is None:
            return
        stage = self.stage_of(k)
        self.stage_buttons[stage].setChecked(True)
        self._show_titles(stage)
        for view in (self.delta_view, self.padded_delta_view, self.input_view, self.dx_view,
                     self.dw_view, self.db_view):
            view.clear_window()
        self._show_gradients(stage, k)
        step = self.trace[k - PREP_FRAMES] if k >= PREP_FRAMES else None
        getattr(self, f"_show_{stage}")(step)

    def _show_titles(self, stage: str) -> None:
        g = self.trace.geometry
        dh, dw = self.trace.dilated_delta.shape[2:]
        ph, pw = self.trace.padded_delta.shape[2:]
        hp, wp = g.padded_shape
        active = {
            "delta": {"delta"}, "dilate": {"dilated"}, "pad": {"padded"}, "rotate": {"rot"},
            "dx": {"padded", "rot", "dx"}, "dw": {"input", "delta", "dw"},
            "db": {"delta", "db"},
        }[stage]
        padded = bool(g.PH or g.PW)
        titles = {
            self.delta_view: ("delta", tr("δ = dout {h}×{w}").format(h=g.HO, w=g.WO)),
            self.dilated_view: ("dilated", tr("dilated δ {h}×{w}").format(h=dh, w=dw)),
            self.padded_delta_view: ("padded", tr("padded δ {h}×{w}").format(h=ph, w=pw)),
            self.kernel_view: ("w", tr("w {kh}×{kw}").format(kh=g.KH, kw=g.KW)),
            self.rot_view: ("rot", tr("rot180 w")),
            self.input_view: ("input", (tr("padded input x {h}×{w}") if padded
                                        else tr("input x {h}×{w}")).format(h=hp, w=wp)),
            self.dx_view: ("dx", (tr("dx {h}×{w} (border cropped)") if padded
                                  else tr("dx {h}×{w}")).format(h=g.H, w=g.W)),
            self.dw_view: ("dw", tr("dW {kh}×{kw}").format(kh=g.KH, kw=g.KW)),
            self.db_view: ("db", "db"),
        }
        for view, (key, text) in titles.items():
            view.set_title(_title(text, key in active))

    def _show_gradients(self, stage: str, k: int) -> None:
        """dx, dW and db as far as frame ``k`` has built them (NaN = not yet)."""
        t = self.trace
        order = [key for key, _ in STAGES]
        done = {s: order.index(stage) > order.index(s) for s in ("dx", "dw", "db")}
        step = k - PREP_FRAMES
        if stage == "dx":
            dx = t.dx_after(step, padded=True)[0, 0]
        else:
            dx = t.padded_dx()[0, 0] if done["dx"] else np.full(t.padded_input.shape[2:], np.nan)
        dw = t.dw_after(step)[0, 0] if stage == "dw" else \
            (t.dw()[0, 0] if done["dw"] else np.full(t.w.shape[2:], np.nan))
        db = t.db_after(step) if stage == "db" else np.full(1, np.nan)
        self.dx_view.set_matrix(dx, levels=self._levels["dx"], padding_mask=self._input_mask,
                                inner=self._input_inner)
        self.dw_view.set_matrix(dw, levels=self._levels["dw"])
        self.db_view.set_matrix(db.reshape(1, 1), levels=self._levels["db"])

    def shown_gradients(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What the result views show now: dx (H, W) cropped, dW (KH, KW), db (1,); NaN = empty."""
        g = self.trace.geometry
        dx = self.dx_view.values[g.PH:g.PH + g.H, g.PW:g.PW + g.W]
        return dx.copy(), self.dw_view.values.copy(), self.db_view.values.reshape(1).copy()

    # --------------------------------------------------------- stage frames
    def _say(self, text: str, sources_differ: str = "") -> None:
        """The stage's sentence; ``sources_differ``: how a course source differs, and why."""
        if sources_differ:
            text += f"<br><span style='{SOURCES_DIFFER_STYLE}'>{sources_differ}</span>"
        self.sentence_label.setText(text)

    def _show_delta(self, _step) -> None:
        g = self.trace.geometry
        self._say(tr("<b>δ = ∂L/∂y</b> is the error arriving from the next layer: how much the "
                     "loss changes when each output cell changes; the backward pass sends it "
                     "on to x, w and b."))
        self.strip.show_arrow(self._forward_output,
                              tr("forward output y {h}×{w}").format(h=g.HO, w=g.WO),
                              self.trace.delta[0, 0], tr("δ: one value per cell of y"),
                              self._levels["y"], op="↔", b_levels=self._levels["delta"])
        self.strip.equation.setText(tr("nudging y[i, j] by a small ε changes the loss by about "
                                       "δ[i, j]·ε"))

    def _show_dilate(self, _step) -> None:
        g, t = self.trace.geometry, self.trace
        if g.SH == 1 and g.SW == 1:
            self._say(tr("<b>Dilate:</b> with stride 1 the window moved one cell at a time, so "
                         "there is nothing to dilate: δ stays as it is."))
        else:
            dh, dw = t.dilated_delta.shape[2:]
            self._say(tr("<b>Dilate:</b> the window jumped {sh} rows and {sw} columns, so "
                         "{zr} zero row(s) and {zc} zero column(s) go between neighbouring δ "
                         "values (hatched): each δ lines up with the inputs it came from.")
                      .format(sh=g.SH, sw=g.SW, zr=g.SH - 1, zc=g.SW - 1),
                      tr(DILATION_NOTE).format(ms=g.HO * g.SH, ns=g.WO * g.SW, dh=dh, dw=dw))
        self.strip.show_arrow(t.delta[0, 0], "δ", t.dilated_delta[0, 0], tr("dilated δ"),
                              self._levels["delta"], b_mask=self._dilation_mask)
        self.strip.equation.setText(tr("stride {sh}×{sw}: {ho}×{wo} → {dh}×{dw}").format(
            sh=g.SH, sw=g.SW, ho=g.HO, wo=g.WO, dh=t.dilated_delta.shape[2],
            dw=t.dilated_delta.shape[3]))

    def _show_pad(self, _step) -> None:
        g, t = self.trace.geometry, self.trace
        self._say(tr("<b>Pad:</b> K−1 = {ph}×{pw} zeros around δ let the kernel hang over the "
                     "edges, so border inputs also collect from every output they fed: a "
                     "<i>full</i> convolution.").format(ph=g.KH - 1, pw=g.KW - 1))
        self.strip.show_arrow(t.dilated_delta[0, 0], tr("dilated δ"), t.padded_delta[0, 0],
                              tr("padded δ"), self._levels["delta"], a_mask=self._dilation_mask,
                              b_mask=self._pad_delta_mask, b_inner=self._pad_delta_inner)
        dh, dw = t.dilated_delta.shape[2:]
        ph, pw = t.padded_delta.shape[2:]
        extra = ph - (dh + 2 * (g.KH - 1)), pw - (dw + 2 * (g.KW - 1))
        note = ""
        if any(extra):
            note = tr("; the stride does not tile the input, so {rows} extra row(s) and {cols} "
                      "extra column(s) of zeros at the bottom/right cover the cells no window "
                      "reached (their gradient is 0)").format(rows=extra[0], cols=extra[1])
        self.strip.equation.setText(f"{dh}×{dw} → {ph}×{pw}{note}")

    def _show_rotate(self, _step) -> None:
        t = self.trace
        self._say(tr("<b>Rotate:</b> turning w by 180° (upside down, then left–right) makes the "
                     "forward pass's sliding product a true convolution that carries δ back to "
                     "the inputs."))
        self.strip.show_arrow(self.stage_setup.w[0, 0], "w", t.rot180_kernel[0, 0], tr("rot180 w"),
                              self._levels["kernel"])
        self.strip.equation.setText("rot180 w [u, v] = w [KH−1−u, KW−1−v]")

    def _show_dx(self, s) -> None:
        g, lv = self.trace.geometry, self._levels
        self._say(tr("<b>dx:</b> slide the rotated kernel over padded δ; the sum of each "
                     "window's products is the gradient of one input cell (cells in the hatched "
                     "padding are computed too, then cropped away)."))
        self.padded_delta_view.set_window(s.row, s.col, g.KH, g.KW, animate_ms=self._animate())
        self.dx_view.set_window(s.row, s.col, 1, 1)
        mask = self._pad_delta_mask[s.row:s.row + g.KH, s.col:s.col + g.KW]
        value = format_number(s.value, self._integers).strip("()")
        self.strip.show_product(s.window[0], tr("window of padded δ"), lv["delta"], s.kernel[0],
                                tr("rot180 w"), lv["kernel"], lv["dx_products"],
                                f"<span style='font-size:16px'>→ Σ = <b>{value}</b></span>",
                                a_mask=mask)
        r, c = s.row - g.PH, s.col - g.PW
        where = (tr("padded cell ({row}, {col})").format(row=s.row, col=s.col) if s.cropped
                 else f"dx[{r}, {c}]")
        note = (" &nbsp; <span style='color:#555'>" + tr(
            "(a padding cell: x has no cell there, so this value is cropped away)") + "</span>"
            if s.cropped else "")
        self.strip.equation.setText(
            f"{where} = {_terms(s.window[0], s.kernel[0], self._integers)} = <b>{value}</b>"
            + note)

    def _show_dw(self, s) -> None:
        g, lv = self.trace.geometry, self._levels
        self._say(tr("<b>dW:</b> in the forward pass w[u, v] multiplied the inputs x[u + "
                     "{sh}·i, v + {sw}·j], one per output cell; its gradient is the sum of "
                     "those inputs times δ.").format(sh=g.SH, sw=g.SW), tr(WEIGHT_GRADIENT_NOTE))
        height, width = (g.HO - 1) * g.SH + 1, (g.WO - 1) * g.SW + 1
        self.input_view.set_window(s.u, s.v, height, width)
        self.delta_view.set_window(0, 0, g.HO, g.WO)
        self.dw_view.set_window(s.u, s.v, 1, 1)
        value = format_number(s.value, self._integers).strip("()")
        every = "" if g.SH == g.SW == 1 else tr(" (stride {sh}×{sw})").format(sh=g.SH, sw=g.SW)
        self.strip.show_product(s.window[0],
                                tr("x taps for w[{u}, {v}]").format(u=s.u, v=s.v) + every,
                                lv["input"], s.delta[0], "δ", lv["delta"], lv["dw_products"],
                                f"<span style='font-size:16px'>→ Σ = <b>{value}</b></span>")
        # and the course's way: ∂J/∂F in symbols, then the numbers (the same weight)
        symbolic = self.channels_backward.dw_text(self.setup.filter, self.setup.channel,
                                                  s.u, s.v)
        self.strip.equation.setText(
            f"dW[{s.u}, {s.v}] = {_terms(s.window[0], s.delta[0], self._integers)} = "
            f"<b>{value}</b><br><span style='color:#333'>{html.escape(symbolic)}</span>")

    def _show_db(self, s) -> None:
        g = self.trace.geometry
        self._say(tr("<b>db:</b> the bias was added to every output cell, so its gradient is "
                     "simply the sum of all δ."), tr(BIAS_GRADIENT_NOTE))
        self.delta_view.set_window(0, 0, g.HO, g.WO)
        self.db_view.set_window(0, 0, 1, 1)
        value = format_number(s.value, self._integers).strip("()")
        self.strip.show_single(s.delta[0], "δ", self._levels["delta"],
                               f"<span style='font-size:16px'>→ Σ = <b>{value}</b></span>")
        values = s.delta[0].ravel().tolist()
        terms = " + ".join(format_number(v, self._integers) for v in values[:12])
        if len(values) > 12:
            terms += tr(" + … ({n} more)").format(n=len(values) - 12)
        self.strip.equation.setText(f"db = {terms} = <b>{value}</b>")

    def _animate(self) -> int:
        if self.controls.is_playing and self.controls.interval_ms >= 100:
            return min(250, int(self.controls.interval_ms * 0.6))
        return 0

    # ---------------------------------------------------------- interaction
    def _on_dx_clicked(self, row: int, col: int) -> None:
        if self.trace is not None:
            self._jump(self._trace_frame(self.trace.dx_step_index(0, 0, row, col)))

    def _on_dw_clicked(self, u: int, v: int) -> None:
        if self.trace is not None:
            self._jump(self._trace_frame(self.trace.dw_step_index(0, 0, u, v)))

    # --------------------------------------------------------- shell hooks
    def extra_screenshots(self):
        """The other two views for ``main.py screenshot``: (name, prepare) pairs."""
        return [("channels", self._screenshot_channels), ("influence", self._screenshot_influence)]

    def _screenshot_channels(self) -> None:
        """The small example (2 channels, 2 filters), channel 1's sum just built."""
        self.pause()
        self.settings.small_example()
        self.tabs.setCurrentIndex(1)  # (builds the view: see _base.LazyTabs)
        view = self.channels_view
        view.cell = (1, 2)
        view.controls.set_step(view.frames.index(Frame("sum", 0)))

    def _screenshot_influence(self) -> None:
        """The small example, an inner input cell chosen, the scatter replay halfway."""
        self.pause()
        self.settings.small_example()
        self.tabs.setCurrentIndex(2)
        view = self.influence_view
        view.choose(("input", 0, 1, 2))
        view.set_mode("scatter")
        view.controls.set_step(view.controls.count // 2)

    def prepare_screenshot(self) -> None:
        """The default example in the middle of the dx stage, paused."""
        self.controls.pause()
        self.tabs.setCurrentWidget(self.stage_area)
        self.settings.reset_defaults()
        # the heart of the stage: the first input cell whose window gathers the most
        # non-zero products (a few dozen tiny steps, computed once)
        steps = range(self.trace.stage_start["dx"], self.trace.stage_start["dw"])
        best = max(steps, key=lambda k: (not self.trace[k].cropped,
                                         int(np.count_nonzero(self.trace[k].products)), -k))
        self._jump(self._trace_frame(best))
