"""Small form pieces the lab settings columns share: spin boxes that wait for the whole
typed number and explain a refused one, an "h × w" row that puts two of them side by
side, a combo box of (key, text) pairs, a row of buttons, the typed-numbers page (size,
grid, buttons) and the in-place notes that say why a typed value was not taken."""

from __future__ import annotations

import math

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QValidator
from PyQt6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.i18n import tr, tr_noop
from gui.widgets.number_grid import NumberGrid

__all__ = ["int_spin", "double_spin", "RangeSpinBox", "RangeDoubleSpinBox", "pair_row",
           "keyed_combo", "set_keyed_texts", "button_row", "push_button", "TypedGridPage",
           "note_label", "show_refusals_in_place", "show_refusal_in_place",
           "ERROR_STYLE"]

ERROR_STYLE = "color: #b00020;"


def _typed_number(spin, text: str) -> float | None:
    """The number in a spin box's text (prefix, suffix, spaces, ',' and '−' allowed)."""
    text = text.strip()
    for affix in (spin.prefix(), spin.suffix()):
        if affix:
            text = text.replace(affix.strip(), "")
    text = text.strip().replace("−", "-").replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _validate(spin, base, text: str, pos: int):
    """Let an out-of-range number be typed to the end (Qt refuses its keystrokes), so
    that editing can finish and :func:`_fixup` can say why it is not taken."""
    state, text, pos = base.validate(spin, text, pos)
    if state == QValidator.State.Invalid and _typed_number(spin, text) is not None:
        state = QValidator.State.Intermediate
    return state, text, pos


def _fixup(spin, base, text: str):
    """Editing finished with a number Qt will not take: explain it through ``refused``
    (the spin box goes back to its value)."""
    value = _typed_number(spin, text)
    if value is not None and not spin.minimum() <= value <= spin.maximum():
        shown = f"{value:g}"
        if value < spin.minimum():
            sentence = tr("{value} is below the smallest value allowed here, {limit}")
            limit = spin.textFromValue(spin.minimum())
        else:
            sentence = tr("{value} is above the largest value allowed here, {limit}")
            limit = spin.textFromValue(spin.maximum())
        sentence = sentence.format(value=shown, limit=limit)
        reason = spin.range_reason()
        if reason:
            sentence += tr(" ({reason})").format(reason=reason)
        subject = spin.subject()
        prefix = f"{subject}: " if subject else ""
        spin.refused.emit(prefix + sentence + tr("; it stays {kept}.").format(
            kept=spin.textFromValue(spin.value())))
    return base.fixup(spin, text)


class _Explained:
    """What the two spin boxes share: a subject and a reason for their range."""

    _subject = ""
    _reason = ""

    def set_subject(self, subject: str) -> None:
        """What the value is, for the refusal sentence ("Kernel height KH")."""
        self._subject = subject

    def subject(self) -> str:
        return self._subject or self.toolTip().split(":")[0].split(".")[0]

    def set_range_reason(self, reason: str) -> None:
        """Why the range is what it is ("more would add windows of zeros only")."""
        self._reason = reason

    def range_reason(self) -> str:
        return self._reason


class RangeSpinBox(_Explained, QSpinBox):
    """A QSpinBox that says why a typed value outside its range is not taken.

    Signals
    -------
    refused(str)
        A sentence: the typed value, the limit it breaks, the value kept.
    """

    refused = pyqtSignal(str)

    def validate(self, text, pos):
        return _validate(self, QSpinBox, text, pos)

    def fixup(self, text):
        return _fixup(self, QSpinBox, text)


class RangeDoubleSpinBox(_Explained, QDoubleSpinBox):
    """A QDoubleSpinBox that says why a typed value outside its range is not taken
    (``refused(str)``, as :class:`RangeSpinBox`)."""

    refused = pyqtSignal(str)

    def validate(self, text, pos):
        return _validate(self, QDoubleSpinBox, text, pos)

    def fixup(self, text):
        return _fixup(self, QDoubleSpinBox, text)


def int_spin(lo: int, hi: int, value: int, tip: str = "") -> RangeSpinBox:
    """A spin box on [lo, hi] starting at ``value``, with a tooltip (already translated)."""
    s = RangeSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setToolTip(tip)
    s.setKeyboardTracking(False)  # typing "12" must not pass through "1"
    return s


def double_spin(lo: float, hi: float, value: float, decimals: int, step: float,
                tip: str = "") -> RangeDoubleSpinBox:
    """A decimal spin box on [lo, hi], updated when the typed number is complete."""
    s = RangeDoubleSpinBox()
    s.setDecimals(decimals)
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setValue(value)
    s.setToolTip(tip)
    s.setKeyboardTracking(False)
    return s


def show_refusals_in_place(root: QWidget, also=None) -> None:
    """Show every refusal of the range spin boxes below ``root`` in place.

    The sentence appears in a red note right under the row holding the spin box (and
    the settings column scrolls to it), and goes away when that spin box takes a
    value. ``also(sentence)`` is called too (e.g. the status bar signal).
    """
    for spin in root.findChildren((RangeSpinBox, RangeDoubleSpinBox)):
        show_refusal_in_place(spin, root, also)


def show_refusal_in_place(spin, root: QWidget, also=None) -> None:
    """:func:`show_refusals_in_place` for one spin box below ``root`` (one made later,
    e.g. in a table row)."""
    note = _row_note(spin, root)
    spin.refused.connect(lambda text, note=note, spin=spin: _show_note(note, spin, text))
    spin.valueChanged.connect(lambda _v, note=note, spin=spin: _clear_note(note, spin))
    if also is not None:
        spin.refused.connect(also)


def _row_note(spin: QWidget, root: QWidget) -> QLabel:
    """The note under the layout row that holds ``spin`` (one per row, made once)."""
    field = spin
    found = None
    while field is not root and field.parentWidget() is not None:
        found = _find_in_layout(field.parentWidget().layout(), field)
        if found is not None:
            break
        field = field.parentWidget()
    owner = field.parentWidget() or root
    name = f"refusal_note_{id(field)}"
    note = owner.findChild(QLabel, name)
    if note is not None:
        return note
    note = QLabel(owner)
    note.setObjectName(name)
    note.setProperty("refusal_note", True)
    note.setWordWrap(True)
    note.setStyleSheet(ERROR_STYLE)
    note.hide()
    if found is None:
        owner.layout().addWidget(note)
    else:
        layout, index = found
        if isinstance(layout, QFormLayout):
            layout.insertRow(index + 1, note)
        else:
            layout.insertWidget(index + 1, note)
    return note


def _find_in_layout(layout, widget: QWidget):
    """(layout, row) of the row of a vertical ``layout`` holding ``widget`` (directly or in
    a nested layout), or None (not there, or ``layout`` is a horizontal row itself)."""
    if layout is None or not (isinstance(layout, QFormLayout) or
                              layout.direction() in (QBoxLayout.Direction.TopToBottom,
                                                     QBoxLayout.Direction.BottomToTop)):
        return None
    for i in range(layout.count()):
        item = layout.itemAt(i)
        if item.widget() is widget or _contains(item.layout(), widget):
            row = layout.getItemPosition(i)[0] if isinstance(layout, QFormLayout) else i
            return layout, row
    return None


def _contains(layout, widget: QWidget) -> bool:
    if layout is None:
        return False
    return any(layout.itemAt(i).widget() is widget or _contains(layout.itemAt(i).layout(), widget)
               for i in range(layout.count()))


def _show_note(note: QLabel, spin: QWidget, text: str) -> None:
    note.setText(text)
    note.setProperty("spin", id(spin))
    note.show()
    scroll = note.parentWidget()
    while scroll is not None and not isinstance(scroll, QScrollArea):
        scroll = scroll.parentWidget()
    if scroll is not None:  # once laid out, bring the note into view
        QTimer.singleShot(0, lambda: scroll.ensureWidgetVisible(note))


def _clear_note(note: QLabel, spin: QWidget) -> None:
    if note.property("spin") == id(spin):
        note.hide()


def pair_row(a: QWidget, b: QWidget, sep: str = "×") -> QWidget:
    """``a sep b`` on one line, left-aligned, no margins (e.g. the rows × cols of a grid)."""
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(a)
    lay.addWidget(QLabel(sep))
    lay.addWidget(b)
    lay.addStretch(1)
    return w


def keyed_combo(items, tip: str = "") -> QComboBox:
    """A QComboBox of ``(key, text)`` pairs: shows ``tr(text)``, ``currentData()`` gives the
    key. ``text`` is an English msgid (marked with tr_noop); see :func:`set_keyed_texts`."""
    box = QComboBox()
    for key, text in items:
        box.addItem(tr(text), key)
    if tip:
        box.setToolTip(tip)
    return box


def set_keyed_texts(box: QComboBox, items) -> None:
    """Translate the texts of a :func:`keyed_combo` again (same keys, same order)."""
    for index, (_key, text) in enumerate(items):
        box.setItemText(index, tr(text))


def button_row(*buttons: QWidget) -> QHBoxLayout:
    """The buttons side by side."""
    row = QHBoxLayout()
    for b in buttons:
        row.addWidget(b)
    return row


def push_button(text: str = "", tip: str = "") -> QPushButton:
    """A QPushButton with a tooltip."""
    b = QPushButton(text)
    if tip:
        b.setToolTip(tip)
    return b


_RANDOM_TIP = tr_noop("Fill with random whole numbers")


class TypedGridPage(QWidget):
    """The "type your own numbers" page: a Size rows × cols row, the grid, and the
    "Random 0-9" and "Default pattern" buttons. The settings column that owns it keeps
    the numbers and connects the signals; ``size_row`` takes extra widgets (a channel box).

    ``random_tip`` is an English msgid (tr_noop), translated in :meth:`retranslate`.
    """

    def __init__(self, lo: int, hi: int, side: int, random_tip: str = _RANDOM_TIP,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._random_tip = random_tip
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.rows_spin = int_spin(lo, hi, side)
        self.cols_spin = int_spin(lo, hi, side)
        self.size_label = QLabel()
        self.size_row = QHBoxLayout()
        self.size_row.addWidget(self.size_label)
        self.size_row.addWidget(pair_row(self.rows_spin, self.cols_spin))
        lay.addLayout(self.size_row)
        self.grid_table = NumberGrid()
        lay.addWidget(self.grid_table, 0, Qt.AlignmentFlag.AlignLeft)
        self.random_button = QPushButton()
        self.reset_button = QPushButton()
        lay.addLayout(button_row(self.random_button, self.reset_button))
        self.retranslate()

    def retranslate(self) -> None:
        self.rows_spin.setToolTip(tr("Rows of the typed grid"))
        self.cols_spin.setToolTip(tr("Columns of the typed grid"))
        for spin in (self.rows_spin, self.cols_spin):
            spin.set_range_reason(tr("every number must stay readable"))
        self.size_label.setText(tr("Size"))
        self.grid_table.setToolTip(tr("Type a number in any cell"))
        self.random_button.setText(tr("Random 0-9"))
        self.random_button.setToolTip(tr(self._random_tip))
        self.reset_button.setText(tr("Default pattern"))


def note_label(text: str = "") -> QLabel:
    """A grey, word-wrapped explanation under a control."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: #555;")
    return label
