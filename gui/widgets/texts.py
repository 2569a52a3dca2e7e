"""The translatable texts of a widget, set once and set again by ``retranslate()``.

A widget whose texts are fixed at construction records each one here as it builds
itself::

    t = self.texts = Texts()
    t(box.setTitle, tr_noop("Input"))
    form.addRow(t.label(tr_noop("Source")), self.source_box)
    t(self.source_box.setToolTip, tr_noop("What the kernel slides over"))
    t.call(lambda: set_keyed_texts(self.source_box, SOURCES))

and its ``retranslate()`` calls ``self.texts.apply()`` (then redraws its changing
texts). Every msgid is marked with ``tr_noop`` where it is written, so the catalog
tools find it; :class:`Texts` translates it with ``tr`` each time it is applied.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtWidgets import QComboBox, QGroupBox, QLabel

from engine.i18n import tr
from gui.widgets.form_rows import keyed_combo, set_keyed_texts

__all__ = ["Texts"]


class Texts:
    """(setter, msgid, placeholders) entries applied in the current language."""

    def __init__(self):
        self._entries: list[tuple[Callable, str | None, dict]] = []

    def __call__(self, setter: Callable[[str], object], msgid: str, **values) -> None:
        """Set ``setter(tr(msgid).format(**values))`` now and on every :meth:`apply`."""
        self._entries.append((setter, msgid, values))
        setter(self._text(msgid, values))

    def label(self, msgid: str, **values) -> QLabel:
        """A QLabel whose text is ``msgid`` (e.g. a form row's label)."""
        label = QLabel()
        self(label.setText, msgid, **values)
        return label

    def group(self, title: str) -> QGroupBox:
        """A QGroupBox titled ``title``."""
        box = QGroupBox()
        self(box.setTitle, title)
        return box

    def combo(self, items, tip: str = "") -> QComboBox:
        """A keyed combo box of ``(key, msgid)`` items (``currentData()`` is the key) with an
        optional tooltip msgid; its texts are set again on every :meth:`apply`."""
        box = keyed_combo(items)
        self.call(lambda: set_keyed_texts(box, items))
        if tip:
            self(box.setToolTip, tip)
        return box

    def call(self, fn: Callable[[], object]) -> None:
        """Run ``fn()`` now and on every :meth:`apply` (texts that are not one setter)."""
        self._entries.append((fn, None, {}))
        fn()

    def apply(self) -> None:
        """Set every recorded text again, in the current language."""
        for setter, msgid, values in self._entries:
            if msgid is None:
                setter()
            else:
                setter(self._text(msgid, values))

    @staticmethod
    def _text(msgid: str, values: dict) -> str:
        text = tr(msgid)
        return text.format(**values) if values else text
