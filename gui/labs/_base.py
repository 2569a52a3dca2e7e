"""What the labs share: the lab frame, the settings columns, the small text helpers.

The stepping labs (Convolution, Pooling, Backprop, Kernel fitting) are each a settings
column on the left (scrolling when the window is narrow) and a main area on the right,
split by a QSplitter; a formula/status line at the top of the main area; and, in place
of the animation, a red sentence when the geometry is impossible. ``SettingsLab`` builds
that frame and wires the hooks the labs have in common; the labs build their own main
areas and keep their own logic.

``LabSettings`` is the settings column itself: the ``message(str)`` signal, the
``with self._quiet():`` block that keeps the settings' own widget changes from
re-emitting (an exception inside it cannot leave the column deaf), the embedded MNIST
digits loaded on first use, and the in-place notes for refused values.
``SteppingSettings`` adds ``changed()``. The settings own numbers only; they never
compute a convolution or a pooling.

The small text helpers (``format_number``, ``is_integral``) write the numbers of the
step equations the same way in every lab.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.i18n import tr, tr_noop
from engine.symbolic import format_number  # noqa: F401 (the labs import it from here)
from gui.widgets.form_rows import ERROR_STYLE, int_spin, pair_row, show_refusals_in_place
from gui.widgets.number_grid import NumberGrid
from gui.workers.threads import Worker, start_worker
from gui.workers.warmup import when_kernels_ready

__all__ = ["SettingsLab", "LabSettings", "WidgetSession", "SteppingSettings", "digit_name",
           "ERROR_STYLE", "format_number", "is_integral", "formula_label", "numbers_label",
           "formula_lines", "problem_label",
           "strip_or_problem", "operator_label", "hline", "NOT_READY_TEXT", "geometry_rows",
           "title_kernel_items", "SOURCES_DIFFER_STYLE", "LazyTabs", "OnTab",
           "embedded_digits", "prefetch_digits", "BackgroundRead", "StagedConstruction",
           "staged_construction"]

#: The line that says where a lab's result differs from a course source, and why.
SOURCES_DIFFER_STYLE = "color: #7a4b00; font-size: 13px;"
#: Shown in place of what a lab computes with the engine's kernels while they compile.
NOT_READY_TEXT = tr_noop("Waiting for the fast kernels (being prepared; only on the first "
                         "start)…")


def is_integral(*arrays) -> bool:
    """True when every value of every array is a whole number (the equations drop decimals)."""
    return all(np.all(np.asarray(a) == np.round(a)) for a in arrays)


def formula_lines(formulas: list[str], problem: str | None,
                  reword: tuple[str, str] | None = None) -> list[str]:
    """The output-size formulas as lines of rich text, an impossible axis in red.

    ``engine.output_size_formula`` ends a formula in ": reason" when the axis does not
    work; that line is marked ✗. ``problem`` (why the geometry is impossible) gets its own
    red line when no formula already says it. ``reword``: (old, new) words for the reason
    (the formula speaks of a "kernel"; the Pooling lab says "pooling window").
    """
    lines = []
    for text in formulas:
        head, sep, reason = text.partition(": ")
        if sep:
            if reword:
                reason = reason.replace(*reword)
            lines.append(f"<span style='{ERROR_STYLE}'>✗ {head}: {reason}</span>")
        else:
            lines.append(text)
    if problem is not None and all(": " not in t for t in formulas):
        lines.append(f"<span style='{ERROR_STYLE}'>✗ {problem}</span>")
    return lines


def formula_label(style: str | None = "font-size: 15px;") -> QLabel:
    """The rich-text line at the top of a lab: the output-size formula with its numbers."""
    label = QLabel("")
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setWordWrap(True)
    if style:
        label.setStyleSheet(style)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def numbers_label(font_px: int = 14) -> QLabel:
    """A wrapping, selectable line of plain text on a light ground: an equation written with
    the current numbers (learners copy it into their notes)."""
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet(f"font-size: {font_px}px; padding: 2px 4px; background: #f4f4ee;")
    return label


def problem_label() -> QLabel:
    """The large red sentence shown in place of the animation for an impossible geometry."""
    label = QLabel("")
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setStyleSheet("font-size: 17px; " + ERROR_STYLE)
    return label


def operator_label(text: str, style: str = "font-size: 20px;") -> QLabel:
    """A large centred sign between the matrices of an equation: ⊙, =, →."""
    label = QLabel(text)
    label.setStyleSheet(style)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label


def hline() -> QFrame:
    """A sunken horizontal rule between the parts of a main area."""
    line = QFrame()
    line.setFrameShape(QFrame.Shape.HLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line


def strip_or_problem(strip: QWidget, problem: QLabel) -> QStackedWidget:
    """A stack showing the step strip (page 0) or, for an impossible geometry, the problem."""
    stack = QStackedWidget()
    stack.addWidget(strip)
    stack.addWidget(problem)
    stack.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
    return stack


class BackgroundRead(Worker):
    """``read()`` (a file: the embedded digits) in a registered thread, for a lab opened
    later; :meth:`result` hands over what it read, or raises what it raised.

    Unzipping and converting the embedded digits on the GUI thread were 35-75 ms of a
    lab's first opening or first edit (2 cores); the shell starts these reads in an idle
    moment before (the lab modules' ``prefetch``: gui.app.MainWindow._prepare_labs)."""

    def __init__(self, read: Callable[[], object]):
        super().__init__()
        self._read = read
        self._done = threading.Event()
        self.value = None
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self._read()
        except Exception as err:  # noqa: BLE001 - raised again on the GUI thread by result()
            self._error = err
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def result(self):
        """What ``read()`` returned, waiting for the rest of the read (a file, never a
        compilation); raises what it raised."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self.value


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    from engine.data import load_embedded_mnist

    images, labels = load_embedded_mnist()
    for array in (images, labels):  # one copy for every lab: nobody may change it
        array.flags.writeable = False
    return images, labels


_digits: tuple[np.ndarray, np.ndarray] | None = None
_digits_reader: BackgroundRead | None = None


def prefetch_digits() -> None:
    """Start reading the embedded digits in the background (the shell calls the lab
    modules' ``prefetch`` in an idle moment: gui.app.MainWindow._prepare_labs)."""
    global _digits_reader
    if _digits is None and _digits_reader is None:
        _digits_reader = BackgroundRead(_read_digits)
        start_worker(_digits_reader, "embedded digits for the labs")


def embedded_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,) int64), read-only, read once per process
    (waiting for the rest of a read ``prefetch_digits`` started: a file, never a
    compilation). Raises what the read raised (ValueError, OSError)."""
    global _digits, _digits_reader
    if _digits is None:
        reader, _digits_reader = _digits_reader, None
        _digits = reader.result() if reader is not None else _read_digits()
    return _digits


_staged = False  # labs constructed now leave their later steps (staged_construction)


@contextmanager
def staged_construction() -> Iterator[None]:
    """Labs constructed inside this block run only the first step of their construction
    (``StagedConstruction``); ``gui.app.MainWindow.open_lab`` runs the others, one per
    turn of the event loop. GUI thread only."""
    global _staged
    before, _staged = _staged, True
    try:
        yield
    finally:
        _staged = before


class StagedConstruction:
    """A lab whose construction is a generator of steps, each a short stall of the GUI
    thread.

    Opening a big lab for the first time (its widgets made, its texts set, its first
    run prepared: 50-100 ms for the Kernel fitting and Training labs on a fast core,
    twice that while the first start compiles on the other one) was the longest stall
    of the event loop. The lab's ``__init__`` hands ``_construct`` a generator that
    yields between parts. Constructed normally, every step runs at once and the lab
    is complete when ``__init__`` returns (tests, screenshots, a lab another lab asks
    for). Inside ``staged_construction()`` only the first step runs: the window runs
    the rest (``construction_step``) in later turns, before it shows the lab, and
    registers the lab when it is complete.
    """

    _rest: Iterator[None] | None = None
    _unrevealed: list[tuple[QWidget, QSizePolicy]] | None = None  # staged: shown later

    def _construct(self, steps: Iterator[None]) -> None:
        global _staged
        if not _staged:
            for _ in steps:
                pass
            return
        self._unrevealed = []
        _staged = False  # a lab made inside a step is made whole
        try:
            next(steps, None)
        finally:
            _staged = True
        self._rest = steps

    @property
    def constructed(self) -> bool:
        """Whether every step of the construction has run."""
        return self._rest is None

    def construction_step(self) -> bool:
        """Run the next step of the construction; returns whether it is complete."""
        if self._rest is not None and next(self._rest, StopIteration) is StopIteration:
            self._rest = None
        return self._rest is None

    def finish_construction(self) -> None:
        """Run every step left."""
        while not self.construction_step():
            pass

    def _reveal_later(self, *widgets: QWidget) -> None:
        """In a staged construction: keep ``widgets`` hidden (their room kept in the
        layout) when the lab is first shown; ``reveal_step`` shows them one by one. A
        lab's first paint (each widget's first rendering: its style, its glyphs, its
        plots' pictures) was one stall as long as its construction; painted in parts,
        it is several short ones. Constructed normally, nothing is hidden."""
        if self._unrevealed is None:
            return
        for widget in widgets:
            policy = widget.sizePolicy()
            kept = QSizePolicy(policy)
            kept.setRetainSizeWhenHidden(True)
            widget.setSizePolicy(kept)
            widget.hide()
            self._unrevealed.append((widget, policy))

    def reveal_step(self) -> bool:
        """Show the next widget ``_reveal_later`` hid; returns whether all are shown."""
        if self._unrevealed:
            widget, policy = self._unrevealed.pop(0)
            widget.show()
            widget.setSizePolicy(policy)
        return not self._unrevealed

    def reveal_all(self) -> None:
        """Show every widget ``_reveal_later`` hid."""
        while not self.reveal_step():
            pass


class LazyTabs:
    """Pages of a QTabWidget built when first shown or asked for, not with the lab.

    A lab's first opening is a stall of the GUI thread as long as its construction and
    first paint: the pages out of sight (every channel and filter of the Backprop lab,
    the Training lab's maps, validation, drawing and batch-norm tabs) are most of it.
    Each such page is an empty placeholder until :meth:`view` builds its view (when the
    tab is made current, before it is painted, or when code asks for the view);
    ``built(index, view)`` then gives the new view what the lab shows now (its texts, its
    data), so a late view looks as if it had been there all along.

    The lab's own ``currentChanged`` slots run after the page was built (this object
    connects first: make it before them).
    """

    def __init__(self, tabs: QTabWidget, built: Callable[[int, QWidget], None]):
        self.tabs = tabs
        self._built = built
        self._factories: dict[int, Callable[[], QWidget]] = {}
        self._views: dict[int, QWidget] = {}  # tab index -> the built view
        tabs.currentChanged.connect(self._shown)

    def add(self, factory: Callable[[], QWidget], title: str = "") -> int:
        """A tab whose view ``factory()`` makes on first use; returns its index."""
        page = QWidget()
        QVBoxLayout(page).setContentsMargins(0, 0, 0, 0)
        index = self.tabs.addTab(page, title)
        self._factories[index] = factory
        return index

    def view(self, index: int) -> QWidget:
        """Tab ``index``'s view, built (and given the lab's current state) if need be."""
        view = self._views.get(index)
        if view is None:
            view = self._factories[index]()
            self._views[index] = view
            self.tabs.widget(index).layout().addWidget(view)
            self._built(index, view)
            # shown now (not at the layout's next turn: the tab is painted with it), and
            # after it got its content: a view that fits itself when shown sees it all
            view.show()
        return view

    def is_built(self, index: int) -> bool:
        """Whether tab ``index`` has its view (a tab not made lazily always has)."""
        return index not in self._factories or index in self._views

    def views(self) -> list[QWidget]:
        """The views built so far."""
        return list(self._views.values())

    def _shown(self, index: int) -> None:
        if index in self._factories:
            self.view(index)


class OnTab:
    """An attribute of a lab made by a lazily built tab's factory (``lab.lazy_tabs``):
    reading it before the tab was built builds the tab. The factory sets it as a plain
    attribute, which hides this descriptor from then on."""

    def __init__(self, index: int):
        self.index = index

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, lab, owner=None):
        if lab is None:
            return self
        lab.lazy_tabs.view(self.index)
        try:
            return lab.__dict__[self.name]
        except KeyError:
            raise AttributeError(f"tab {self.index} did not make {self.name}") from None


class SettingsLab(StagedConstruction, QWidget):
    """A lab made of a settings column (left) and a main area (right).

    Subclasses set ``self.settings`` (a ``LabSettings``) and build ``self.main_area``,
    then call ``_lay_out()``; the stepping labs also call ``_connect_animation()`` once
    ``self.controls`` (an AnimControls) exists.

    The shell's hooks (docs/ARCHITECTURE.md, "GUI contracts"): ``activated()`` takes the
    keyboard focus, ``deactivated()`` and ``shutdown()`` pause (nothing runs on another
    thread), ``export_widget()`` is the main area, ``retranslate()`` sets the texts again
    (subclasses extend it). ``pause()`` pauses the animation controls; a lab with its own
    player overrides it. ``open_image`` is not defined here: the shell offers File > Open
    image only to the labs that define it (they may use ``_open_photo``).

    Signals
    -------
    status_message(str)
        A sentence for the main window's status bar.
    """

    status_message = pyqtSignal(str)

    def _lay_out(self, settings_width: int | None = None) -> None:
        """Put ``self.settings`` (scrolling) left of ``self.main_area`` in a splitter.

        ``settings_width``: the room the settings column asks for; by default its size hint.
        """
        scroll = QScrollArea()
        scroll.setWidget(self.settings)
        scroll.setWidgetResizable(True)
        # the column never scrolls sideways: its rows wrap or elide; a narrow window
        # scrolls it vertically instead of forcing the whole main window wider
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        if settings_width is None:
            settings_width = self.settings.sizeHint().width()
        bar = scroll.verticalScrollBar().sizeHint().width()
        # never narrower than the column's own minimum: no control is ever cut
        scroll.setMinimumWidth(self.settings.minimumSizeHint().width() + bar + 4)
        scroll.setMaximumWidth(settings_width + bar + 8)
        self.settings_scroll = scroll

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(self.main_area)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([settings_width + bar + 8, 1000])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # a click anywhere arms the keys
        self.settings.message.connect(self.status_message)

    def _connect_animation(self, show_step) -> None:
        """Keys and the step slider drive ``show_step(k)``; a settings change rebuilds.
        The lab gets File > Export animation (GIF)… (``gui.widgets.gif_export``)."""
        self.controls.install_shortcuts(self)
        self.controls.step_changed.connect(show_step)
        self.settings.changed.connect(self.rebuild)
        self._export_animation_action = QAction(self)
        self._export_animation_action.setShortcut(QKeySequence("Ctrl+G"))
        self._export_animation_action.triggered.connect(self.export_animation_dialog)
        self._retranslate_export_action()

    def _retranslate_export_action(self) -> None:
        from gui.widgets.gif_export import EXPORT_ACTION_TEXT

        action = getattr(self, "_export_animation_action", None)
        if action is not None:
            action.setText(tr(EXPORT_ACTION_TEXT))
            action.setStatusTip(tr("Save the animation with the current settings as a GIF"))

    def menu_actions(self) -> list[QAction]:
        action = getattr(self, "_export_animation_action", None)
        return [action] if action is not None else []

    # ------------------------------------------------------------- sessions
    def session_state(self) -> tuple[dict, dict]:
        """(part, arrays) for a session file: every input of the settings column and of
        the main area (``gui.widgets.session_values``: typed numbers included) and the
        animation's step; no arrays."""
        from gui.widgets.session_values import widget_values

        part = {"settings": widget_values(self.settings),
                "main": widget_values(self.main_area)}
        controls = getattr(self, "controls", None)
        if controls is not None:
            part["step"] = controls.step
        return part, {}

    def restore_session(self, part: dict, arrays: dict, weights: bool = True) -> int:
        """Put back what :meth:`session_state` gave (the lab redraws through its own
        signals); returns how many values could not be put back (``weights``: for the
        labs that keep trained weights; none here)."""
        from gui.widgets.session_values import restore_widget_values

        skipped = restore_widget_values(self.settings, part.get("settings", []))
        skipped += restore_widget_values(self.main_area, part.get("main", []))
        controls = getattr(self, "controls", None)
        step = part.get("step")
        if controls is not None and isinstance(step, int) and not isinstance(step, bool):
            controls.set_step(step)
        return skipped

    def export_animation_dialog(self) -> None:
        from gui.widgets.gif_export import export_animation_dialog

        export_animation_dialog(self)

    def export_animation(self, path, first: int | None = None, last: int | None = None,
                         speed: int | None = None, show_progress: bool = True):
        """Export steps ``first``..``last`` (from 1; None: all) at ``speed`` steps per
        second (None: the controls') to the GIF ``path``; returns the running export
        (its ``done(sentence)`` says how it ended), or None when refused (said)."""
        from gui.widgets.gif_export import AnimationChoice, start_export

        choice = AnimationChoice(first, last, self.controls.speed if speed is None else speed)
        return start_export(self, choice, path, show_progress)

    def _kernels_ready(self, fill_in) -> bool:
        """True when the engine's kernels may be called on the GUI thread now; otherwise
        ``fill_in()`` runs once they are ready (the caller shows ``NOT_READY_TEXT``)."""
        return when_kernels_ready(self, fill_in)

    # ------------------------------------------------------------- shell hooks
    def pause(self) -> None:
        self.controls.pause()

    def activated(self) -> None:
        self.setFocus()

    def deactivated(self) -> None:
        self.pause()

    def shutdown(self) -> None:
        self.pause()
        export = getattr(self, "_animation_export", None)
        if export is not None:
            export.cancel()  # a GIF being drawn stops; its encoder's thread ends

    def export_widget(self) -> QWidget:
        return self.main_area

    def retranslate(self) -> None:
        """Set every text again in the current language (the settings column's and the
        animation controls' too)."""
        self.settings.retranslate()
        controls = getattr(self, "controls", None)
        if controls is not None:
            controls.retranslate()
        self._retranslate_export_action()

    def _open_photo(self, path: str, done: str) -> None:
        """Give the photo at ``path`` to the settings; a bad file is reported, not raised.

        A large file is read in the background: ``done`` is said once it is in."""
        try:
            self.settings.add_photo(path, lambda: self.status_message.emit(done))
        except ValueError as err:
            self.status_message.emit(str(err))


def geometry_rows(form, texts, kernel: tuple[int, int], stride: tuple[int, int]):
    """The "Kernel", "Stride" and "Padding (h × w)" rows of a convolution's settings.

    ``kernel`` and ``stride`` are (largest, start) values; padding starts at 1 (its
    maximum follows the kernel: at most K − 1). Returns the six spin boxes
    (kh, kw, sh, sw, ph, pw), their tooltips and padding's range reason recorded in
    ``texts`` (a ``gui.widgets.texts.Texts``).
    """
    t = texts
    spins = (int_spin(1, kernel[0], kernel[1]), int_spin(1, kernel[0], kernel[1]),
             int_spin(1, stride[0], stride[1]), int_spin(1, stride[0], stride[1]),
             int_spin(0, 2, 1), int_spin(0, 2, 1))
    tips = (tr_noop("Kernel height KH"), tr_noop("Kernel width KW"),
            tr_noop("Vertical stride SH: rows the window jumps"),
            tr_noop("Horizontal stride SW: columns the window jumps"),
            tr_noop("Zero rows added above and below (at most KH - 1)"),
            tr_noop("Zero columns added left and right (at most KW - 1)"))
    for spin, tip in zip(spins, tips, strict=True):
        t(spin.setToolTip, tip)
    for spin in spins[4:]:
        t(spin.set_range_reason, tr_noop("padding is at most the kernel size − 1: more would "
                                         "only add windows that see nothing but zeros"))
    for label, (a, b) in ((tr_noop("Kernel (h × w)"), spins[0:2]),
                          (tr_noop("Stride (h × w)"), spins[2:4]),
                          (tr_noop("Padding (h × w)"), spins[4:6])):
        form.addRow(t.label(label), pair_row(a, b))
    return spins


def title_kernel_items(combo) -> None:
    """Set the texts and tooltips of a combo box's gallery kernels in the current language
    (an item whose data is an ``engine.gallery.KERNELS`` name; other items are left)."""
    from engine.gallery import NAMES, kernel_description, kernel_name

    for index in range(combo.count()):
        name = combo.itemData(index)
        if name in NAMES:
            combo.setItemText(index, kernel_name(name))
            combo.setItemData(index, kernel_description(name) or None,
                              Qt.ItemDataRole.ToolTipRole)


def digit_name(label: int) -> str:
    """"a 3", "an 8": the digit a sample shows, for a sentence (a catalog may drop the
    article)."""
    return (tr("an {label}") if label == 8 else tr("a {label}")).format(label=label)


class WidgetSession:
    """``session_state`` / ``restore_session`` for a lab whose inputs are all it keeps
    (the Kernel gallery): every input under the lab, typed numbers
    included (``gui.widgets.session_values``)."""

    def session_state(self) -> tuple[dict, dict]:
        from gui.widgets.session_values import widget_values

        return {"inputs": widget_values(self)}, {}

    def restore_session(self, part: dict, arrays: dict, weights: bool = True) -> int:
        from gui.widgets.session_values import restore_widget_values

        return restore_widget_values(self, part.get("inputs", []))


class LabSettings(QWidget):
    """A settings column: groups stacked top to bottom.

    Subclasses build their widgets, call ``_stack(...)``, and give every text in
    ``retranslate()`` (called at the end of their ``__init__``).

    Signals
    -------
    message(str)
        A sentence for the status bar (a refused value, a missing file).
    """

    message = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._digits: np.ndarray | None = None  # (N, 28, 28) uint8, loaded on first use
        self._digit_labels: np.ndarray | None = None  # (N,) int
        self._quiet_depth = 0  # > 0 inside ``with self._quiet():``

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Inside this block the settings change their own widgets: no signal goes out.

        Nested blocks are fine; the column hears again when the outermost one ends,
        whatever happens inside it (an exception included).
        """
        self._quiet_depth += 1
        try:
            yield
        finally:
            self._quiet_depth -= 1

    @property
    def quiet(self) -> bool:
        """True inside a ``_quiet()`` block."""
        return self._quiet_depth > 0

    def _stack(self, *parts: QWidget | QLayout) -> QVBoxLayout:
        """Lay ``parts`` (group boxes, button rows) out top to bottom, room left at the end;
        typed values the spin boxes refuse are explained in place from now on."""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for part in parts:
            if isinstance(part, QLayout):
                layout.addLayout(part)
            else:
                layout.addWidget(part)
        layout.addStretch(1)
        show_refusals_in_place(self, self.message.emit)
        return layout

    def _number_grid(self, on_edited) -> NumberGrid:
        """A NumberGrid whose edits call ``on_edited()`` and whose refusals go to ``message``."""
        grid = NumberGrid()
        grid.values_edited.connect(on_edited)
        grid.rejected.connect(self.message)
        return grid

    def retranslate(self) -> None:
        """Set every text again (subclasses extend it)."""
        self._show_digit_label()

    def _load_digits(self) -> bool:
        """Load the embedded digits once; False (and a message) when they cannot be read.

        Needs ``self.digit_spin``; fits its maximum to the digits. When the column has a
        ``digit_label`` it names the chosen digit there.
        """
        if self._digits is None:
            try:
                self._digits, self._digit_labels = embedded_digits()
            except (ImportError, ValueError, OSError) as err:
                self.message.emit(tr("The MNIST digits could not be loaded: {error}").format(
                    error=err))
                return False
            with self._quiet():
                self.digit_spin.setMaximum(len(self._digits) - 1)
        self._show_digit_label()
        return True

    def _show_digit_label(self) -> None:
        digit_label = getattr(self, "digit_label", None)
        if digit_label is not None and self._digit_labels is not None:
            label = int(self._digit_labels[self.digit_spin.value()])
            digit_label.setText(tr("this digit is {digit}").format(digit=digit_name(label)))


class SteppingSettings(LabSettings):
    """The settings of a stepping lab (Convolution, Pooling, Backprop).

    Signals
    -------
    changed()
        Some number changed; the lab asks for the new arrays and rebuilds its trace.
    message(str)
        See ``LabSettings``.
    """

    changed = pyqtSignal()

    def _emit_changed(self, *_):
        if not self.quiet:
            self.changed.emit()

    def _store_edit(self, store: np.ndarray, table: NumberGrid) -> None:
        """A grid was edited: write its (rows, cols) values into the top-left corner of
        ``store`` (a 2-D array or view, larger than any grid shown) and say so."""
        values = table.values()
        store[:values.shape[0], :values.shape[1]] = values
        self._emit_changed()
