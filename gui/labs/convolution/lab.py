"""Convolution lab: the kernel slides over the (padded) input one window at a time.

Left, the settings (input, filters, kernel, stride, padding). Right, the output-size
formula with the current numbers, the padded input with the current window
outlined, the output maps filling in (one per filter), and for the current step:
window, kernel and their element-wise products per channel, the per-channel sums
and the total written into its output cell. The animation plays a
``engine.conv2d_forward_trace``; its last step is exactly ``engine.conv2d_forward``.

Every view is built once; a step only pushes new numbers into existing items.
An impossible geometry is shown in words in place of the animation, never raised.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from PyQt6.QtCore import QSignalBlocker, Qt
from PyQt6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

import engine
from engine import GeometryError, output_size_formula
from engine.i18n import tr, tr_n, tr_noop
from engine.symbolic import conv_cell_text
from gui.labs._base import (
    SettingsLab,
    format_number,
    formula_label,
    formula_lines,
    hline,
    is_integral,
    numbers_label,
    operator_label,
    problem_label,
    strip_or_problem,
)
from gui.labs._base import prefetch_digits as prefetch  # noqa: F401 (gui.app._prepare_labs)
from gui.labs.convolution.presets import preset
from gui.labs.convolution.settings import CHANNEL_NAMES, ConvSettings, ConvSetup
from gui.widgets.anim_controls import AnimControls
from gui.widgets.colormaps import symmetric_levels
from gui.widgets.matrix_view import MatrixView

__all__ = ["ConvolutionLab"]

DEFAULT_STEP = 10  # a few steps in: the window has left the corner, the output is filling


class _StepStrip(QWidget):
    """Window ⊙ kernel = products → sum, one row per input channel, plus the total."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._grid = grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(2)
        self._heads = []
        for col, text in ((1, tr_noop("window")), (3, tr_noop("kernel")),
                          (5, tr_noop("products"))):
            head = QLabel()
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(head, 0, col)
            self._heads.append((head, text))
        self.channel_labels, self.windows, self.kernels, self.products, self.sums = \
            [], [], [], [], []
        self._rows = []
        for c in range(3):
            name = QLabel("")
            name.setAlignment(Qt.AlignmentFlag.AlignCenter)
            name.setMinimumWidth(16)
            window, kernel, products = (MatrixView("", "diverging") for _ in range(3))
            total = QLabel("")
            total.setMinimumWidth(60)
            total.setTextFormat(Qt.TextFormat.RichText)
            ops = [operator_label(t) for t in ("⊙", "=", "→")]
            row_widgets = [name, window, ops[0], kernel, ops[1], products, ops[2], total]
            for col, w in enumerate(row_widgets):
                grid.addWidget(w, c + 1, col)
            grid.setRowStretch(c + 1, 1)
            self.channel_labels.append(name)
            self.windows.append(window)
            self.kernels.append(kernel)
            self.products.append(products)
            self.sums.append(total)
            self._rows.append(row_widgets)
        for col in (1, 3, 5, 7):
            grid.setColumnStretch(col, 1)
        self.equation = QLabel("")
        self.equation.setTextFormat(Qt.TextFormat.RichText)
        self.equation.setWordWrap(True)
        self.equation.setStyleSheet("font-size: 15px; padding: 4px;")
        grid.addWidget(self.equation, 4, 0, 1, 8)
        # the course's way of writing the cell: z11 = X11·F11 + … = numbers = value
        self.symbolic = numbers_label()
        grid.addWidget(self.symbolic, 5, 0, 1, 8)
        self.retranslate()

    def retranslate(self) -> None:
        for head, text in self._heads:
            head.setText(tr(text))

    def set_channels(self, C: int):
        for c, widgets in enumerate(self._rows):
            for w in widgets:
                w.setVisible(c < C)
            self._grid.setRowStretch(c + 1, 1 if c < C else 0)  # hidden rows take no room
            self.channel_labels[c].setText("" if C == 1 else f"<b>{CHANNEL_NAMES[c]}</b>")


class ConvolutionLab(SettingsLab):
    """The Convolution lab (see the module docstring).

    ``status_message(str)`` comes from ``SettingsLab``.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.trace = None  # engine ConvForwardTrace of the current setup, None if invalid
        self.setup: ConvSetup | None = None
        self.problem: str | None = None  # why the geometry is impossible, or None
        self._shown_step: int | None = None
        self._levels = {}

        self._example: ConvSetup | None = None  # numbers another lab handed over
        self._construct(self._construction())

    def _construction(self):
        """The steps of the construction (gui.labs._base.StagedConstruction)."""
        self.settings = ConvSettings()
        yield
        self.main_area = self._build_main_area()
        self._lay_out()
        self._reveal_later(self.main_area)  # painted a turn after the settings column
        # (connected before the rebuild: a change of the settings goes back to them)
        self.settings.changed.connect(self._leave_example)
        self._connect_animation(self.show_step)
        self.settings.preset_button.clicked.connect(
            lambda: self.load_preset(self.settings.preset_box.currentData()))
        yield
        self.rebuild(step=DEFAULT_STEP)
        self.retranslate()

    def retranslate(self) -> None:
        super().retranslate()
        self.strip.retranslate()
        self.input_channel_box.setItemText(0, tr("show RGB"))
        for c, name in enumerate(CHANNEL_NAMES):
            self.input_channel_box.setItemText(c + 1, tr("show {channel}").format(channel=name))
        self.input_channel_box.setToolTip(tr("The padded input in colour or one channel with "
                                             "its numbers"))
        for view in self.output_views:
            view.setToolTip(tr("Click a cell to jump to the step that writes it"))
        self.rebuild()

    # ------------------------------------------------------------- building
    def _build_main_area(self) -> QWidget:
        area = QWidget()
        self._main_layout = lay = QVBoxLayout(area)
        lay.setContentsMargins(6, 6, 6, 6)

        self.formula_label = formula_label()
        lay.addWidget(self.formula_label)

        top = QHBoxLayout()
        input_box = QVBoxLayout()
        self.input_view = MatrixView("", "greys")
        self.input_channel_box = QComboBox()
        self.input_channel_box.addItem("", -1)
        for c, _name in enumerate(CHANNEL_NAMES):
            self.input_channel_box.addItem("", c)
        self.input_channel_box.currentIndexChanged.connect(self._show_input)
        input_box.addWidget(self.input_view, 1)
        input_box.addWidget(self.input_channel_box, 0, Qt.AlignmentFlag.AlignHCenter)
        top.addLayout(input_box, 5)

        outputs = QWidget()
        self.output_grid = QGridLayout(outputs)
        self.output_grid.setContentsMargins(0, 0, 0, 0)
        self.output_views = []
        for f in range(4):
            view = MatrixView("", "diverging")
            view.cell_clicked.connect(partial(self._on_output_clicked, f))
            self.output_views.append(view)
        top.addWidget(outputs, 6)
        lay.addLayout(top, 5)

        lay.addWidget(hline())

        # the step strip, or, for an impossible geometry, the reason in its place
        self.strip = _StepStrip()
        self.problem_label = problem_label()
        self.strip_stack = strip_or_problem(self.strip, self.problem_label)
        lay.addWidget(self.strip_stack, 4)

        self.controls = AnimControls(speed=4)
        lay.addWidget(self.controls)
        return area

    def _arrange_outputs(self, F: int):
        for view in self.output_views:
            self.output_grid.removeWidget(view)
            view.setVisible(False)
        cols = F if F <= 2 else 2  # 3-4 maps as a 2x2 block keeps each map readable
        for f in range(F):
            self.output_grid.addWidget(self.output_views[f], f // cols, f % cols)
            self.output_views[f].setVisible(True)

    # ------------------------------------------------------------- the model
    def rebuild(self, step: int | None = None) -> None:
        """Read the settings, make a new trace and redraw; keeps the step unless given."""
        keep = self.controls.step if step is None else step
        setup = self._example if self._example is not None else self.settings.setup()
        self.setup = setup
        x = setup.x
        C, H, W = x.shape[1:]
        F, _, KH, KW = setup.w.shape
        (SH, SW), (PH, PW) = setup.stride, setup.padding
        formulas = [output_size_formula(H, KH, SH, PH, "H"),
                    output_size_formula(W, KW, SW, PW, "W")]
        try:
            self.trace = engine.conv2d_forward_trace(x, setup.w, setup.b, setup.stride,
                                                     setup.padding)
            self.problem = None
        except GeometryError as err:
            self.trace = None
            self.problem = str(err)
        self._show_formulas(formulas, setup)
        self._prepare_views(setup)
        self._shown_step = None
        if self.trace is None:
            self.controls.set_count(0)
            self.strip_stack.setCurrentWidget(self.problem_label)
            self.problem_label.setText(tr(
                "No animation: {problem}.<br>Make the kernel smaller, add padding or use a "
                "larger input.").format(problem=self.problem))
            self.status_message.emit(tr("Impossible geometry: {problem}").format(
                problem=self.problem))
            return
        self.strip_stack.setCurrentWidget(self.strip)
        self.controls.set_count(len(self.trace), step=min(keep, len(self.trace) - 1))

    def _show_formulas(self, formulas: list[str], setup: ConvSetup):
        lines = formula_lines(formulas, self.problem)
        F, C = setup.w.shape[:2]
        what = " · ".join((
            setup.description, tr_n("{n} channel", "{n} channels", C).format(n=C),
            tr_n("{n} filter of {c}×{kh}×{kw}", "{n} filters of {c}×{kh}×{kw}", F).format(
                n=F, c=C, kh=setup.w.shape[2], kw=setup.w.shape[3])))
        self.formula_label.setText("<br>".join(lines) + f"<br><span style='color:#555;"
                                   f"font-size:13px'>{what}</span>")

    def _prepare_views(self, setup: ConvSetup):
        """Per-setup parts: padded input, colour levels, which views are visible."""
        x, w = setup.x, setup.w
        F, C, KH, KW = w.shape
        PH, PW = setup.padding
        image_like = setup.kind in ("digit", "photo")
        self._levels["input"] = (0.0, 1.0) if image_like else symmetric_levels(x)
        self._levels["kernel"] = symmetric_levels(w)
        bound = float(np.abs(x).max() * np.abs(w).max())
        self._levels["products"] = symmetric_levels(np.array([bound]))
        # the input and its windows: greys for pictures, signed colours for typed numbers
        for view in (self.input_view, *self.strip.windows):
            view.set_cmap("greys" if image_like else "diverging")
        padded = np.pad(x[0], ((0, 0), (PH, PH), (PW, PW)))  # (C, H+2PH, W+2PW)
        self._padded = padded
        mask = np.ones(padded.shape[1:], dtype=bool)
        mask[PH:PH + x.shape[2], PW:PW + x.shape[3]] = False
        self._pad_mask = mask
        self._inner = (PH, PW, PH + x.shape[2], PW + x.shape[3]) if (PH or PW) else None
        self.input_channel_box.setVisible(C == 3)
        self._show_input()
        self.strip.set_channels(C)
        # one channel row needs less room than three: give it to the input and outputs
        self._main_layout.setStretch(1, 6 if C == 1 else 5)
        self._main_layout.setStretch(3, 3 if C == 1 else 5)
        self._arrange_outputs(F if self.trace is not None else 0)
        if self.trace is not None:
            result = self.trace.result()[0]  # (F, HO, WO)
            self._out_levels = [symmetric_levels(result[f]) for f in range(F)]
            self._integers = is_integral(x, w, setup.b)
            g = self.trace.geometry
            for f in range(F):
                self.output_views[f].set_title(tr("output of filter {n} ({h}×{w})").format(
                    n=f + 1, h=g.HO, w=g.WO))
        else:
            self.input_view.clear_window()

    def _show_input(self, *_):
        if self.setup is None:
            return
        padded = self._padded
        C = padded.shape[0]
        channel = self.input_channel_box.currentData() if C == 3 else 0
        lo, hi = self._levels["input"]
        if channel == -1:
            # an RGB picture: typed numbers are scaled to 0..1 for display only
            rgb = np.moveaxis(padded, 0, -1)  # (C, H, W) -> (H, W, C)
            levels = (0.0, 1.0) if lo == 0.0 and hi == 1.0 else (float(rgb.min()), float(rgb.max()))
            self.input_view.set_matrix(rgb, levels=levels, padding_mask=self._pad_mask,
                                       inner=self._inner)
        else:
            self.input_view.set_matrix(padded[channel], levels=(lo, hi),
                                       padding_mask=self._pad_mask, inner=self._inner)
        H, W = padded.shape[1:]
        PH, PW = self.setup.padding
        pad = f"{PH}" if PH == PW else f"{PH}×{PW}"
        if C == 1:
            title = tr("padded input {h}×{w} (padding {pad}, hatched)")
        elif channel == -1:
            title = tr("padded input RGB {h}×{w} (padding {pad}, hatched)")
        else:
            title = tr("padded input channel {channel} {h}×{w} (padding {pad}, hatched)")
        self.input_view.set_title(title.format(h=H, w=W, pad=pad,
                                               channel=CHANNEL_NAMES[max(channel, 0)]))

    # -------------------------------------------------------------- a step
    def show_step(self, k: int) -> None:
        """Draw step ``k``: window outline, output so far, the products and the sums."""
        if self.trace is None:
            return
        s = self.trace[k]
        g = self.trace.geometry
        previous, self._shown_step = self._shown_step, k
        animate = 0
        if self.controls.is_playing and self.controls.interval_ms >= 100:
            animate = min(250, int(self.controls.interval_ms * 0.6))
        self.input_view.set_window(s.row, s.col, g.KH, g.KW, animate_ms=animate)

        out = self.trace.replay(k)[0]  # (F, HO, WO), NaN where not written yet
        if previous is None or abs(previous - k) != 1:
            changed = range(g.F)  # a jump: every map may differ
        else:
            changed = {s.f, self.trace[previous].f}
        for f in changed:
            self.output_views[f].set_matrix(out[f], levels=self._out_levels[f])
        for f in range(g.F):
            if f == s.f:
                self.output_views[f].set_window(s.i, s.j, 1, 1)
            else:
                self.output_views[f].clear_window()
        self._show_strip(s)

    def _show_strip(self, s):
        strip, lv = self.strip, self._levels
        KH, KW = s.kernel.shape[1:]
        window_mask = self._pad_mask[s.row:s.row + KH, s.col:s.col + KW]
        integers = self._integers
        C = s.window.shape[0]
        for c in range(C):
            strip.windows[c].set_matrix(s.window[c], levels=lv["input"], padding_mask=window_mask)
            strip.kernels[c].set_matrix(s.kernel[c], levels=lv["kernel"])
            strip.products[c].set_matrix(s.products[c], levels=lv["products"])
            label = "Σ" if C == 1 else f"Σ<sub>{CHANNEL_NAMES[c]}</sub>"
            total = format_number(float(s.channel_sums[c]), integers)
            strip.sums[c].setText(f"<span style='font-size:16px'>{label} = "
                                  f"<b>{total}</b></span>")
        where = f"y[{s.i}, {s.j}]"
        if self.trace.geometry.F > 1:
            where = tr("filter {n}: {where}").format(n=s.f + 1, where=where)
        if C == 1:
            terms = tr("Σ(window ⊙ kernel) + b = {sum}").format(
                sum=format_number(float(s.channel_sums[0]), integers))
        else:
            names = " + ".join(f"Σ<sub>{CHANNEL_NAMES[c]}</sub>" for c in range(C))
            nums = " + ".join(format_number(float(v), integers) for v in s.channel_sums)
            terms = f"{names} + b = {nums}"
        value = format_number(s.value, integers).strip("()")
        strip.symbolic.setText(self.symbolic_text(s))
        strip.equation.setText(
            f"{where} = {terms} + {format_number(s.bias, integers)} = <b>{value}</b>"
            " &nbsp; <span style='color:#555'>" +
            tr("window at row {row}, column {col} of the padded input").format(row=s.row,
                                                                            col=s.col) +
            "</span>")

    def symbolic_text(self, s) -> str:
        """Step ``s``'s output cell in the course's symbols, then its numbers."""
        g = self.trace.geometry
        text, padding_taps, zeros = conv_cell_text(
            self.setup.x[0], self.setup.w[s.f], float(s.bias), s.i, s.j, (g.SH, g.SW),
            (g.PH, g.PW), s.value, self._integers, s.f if g.F > 1 else None)
        if padding_taps:
            text += " " + tr("({n} taps on the zero padding add 0)").format(n=padding_taps)
        if zeros:
            text += " " + tr_n("({n} product that is 0 left out)",
                               "({n} products that are 0 left out)", zeros).format(n=zeros)
        return text

    def load_preset(self, key: str) -> None:
        """Load the course's worked example ``key`` (gui/labs/convolution/presets.py) into
        the settings and go to its first output cell."""
        p = preset(key)
        self.controls.pause()
        with QSignalBlocker(self.settings.preset_box):
            self.settings.preset_box.setCurrentIndex(self.settings.preset_box.findData(key))
        self.settings.apply(source="typed", grid=p.x, w=p.w, b=p.b, stride=p.stride,
                            padding=p.padding)
        if self.trace is not None:
            self.controls.set_step(self.trace.step_index(0, *p.cell))
        self.status_message.emit(tr(p.note))

    # ---------------------------------------------------------- interaction
    def _on_output_clicked(self, f: int, i: int, j: int):
        if self.trace is None or f >= self.trace.geometry.F:
            return
        self.controls.pause()
        self.controls.set_step(self.trace.step_index(0, f, i, j))

    # --------------------------------------------------------- shell hooks
    def open_image(self, path: str) -> None:
        """File > Open image: crop the photo at ``path``; a bad file is reported, not raised."""
        self._open_photo(path, tr("Convolving a crop of {path}").format(path=path))

    def show_example(self, x, w, b, stride=1, padding=0, filter_index: int = 0,
                     cell=(0, 0), description: str = "", note: str = "") -> None:
        """Convolve exactly these numbers (another lab's layer, e.g. the Network lab's)
        and go to the step that writes output cell ``cell`` of filter ``filter_index``;
        changing any setting goes back to the settings' own input.

        Parameters
        ----------
        x : (C, H, W) with C <= 3; w : (F, C, KH, KW) with F <= 4; b : (F,)
        stride, padding : int or (h, w)
        description : the line naming the input; note : a sentence for the status bar

        Raises
        ------
        ValueError
            With more channels or filters than the lab shows (nothing changes).
        """
        from engine.geometry import as_pair
        from gui.labs.convolution.inputs import MAX_CHANNELS, MAX_FILTERS

        x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64).reshape(-1)
        if (x.ndim != 3 or w.ndim != 4 or not 1 <= x.shape[0] <= MAX_CHANNELS
                or not 1 <= w.shape[0] <= MAX_FILTERS or w.shape[1] != x.shape[0]
                or b.shape != (w.shape[0],)):
            raise ValueError(tr("The Convolution lab shows 1 to {c} channels and 1 to {f} "
                                "filters, not an input {x} with filters {w}").format(
                c=MAX_CHANNELS, f=MAX_FILTERS, x=x.shape, w=w.shape))
        self._example = ConvSetup(x[None], w, b, as_pair(stride, "stride"),
                                  as_pair(padding, "padding"), "example",
                                  description or tr("numbers from another lab"))
        self.controls.pause()
        if x.shape[0] == 3:  # feature maps, not the colours of a photo: one at a time
            self.input_channel_box.setCurrentIndex(1)
        self.rebuild(step=0)
        if self.trace is not None:
            self.controls.set_step(self.trace.step_index(0, int(filter_index), int(cell[0]),
                                                         int(cell[1])))
        if note:
            self.status_message.emit(note)

    def _leave_example(self) -> None:
        self._example = None

    def extra_screenshots(self):
        """The course's 3x3 / 2x2 worked example for ``main.py screenshot``."""
        return [("worked-example", lambda: self.load_preset("course-3x3-2x2"))]

    def prepare_screenshot(self) -> None:
        """The teaching default, a few steps in, paused."""
        self.controls.pause()
        self.settings.reset_defaults()
        self.controls.set_step(DEFAULT_STEP)
