"""Translations: every text a learner reads goes through :func:`tr` (gettext).

The source texts are English; catalogs live in ``engine/locale/<lang>/LC_MESSAGES/``
(``cnn_explorer.po``, compiled to ``cnn_explorer.mo``). The engine is Qt-free, so its
own sentences (GeometryError, NetworkSpecError, ModelFileError, ...) are translated
here as well, in the language current when they are raised; the GUI and the command
line share the same catalogs.

Use::

    from engine.i18n import tr, tr_n, tr_noop

    tr("a {k}x{k} kernel does not fit a {h}x{w} input").format(k=5, h=3, w=3)
    tr_n("{n} filter", "{n} filters", n).format(n=n)
    TITLE = tr_noop("Convolution")   # marked for the catalog; shown as tr(TITLE)

The function is called ``tr`` (not gettext's usual ``_``) because ``_`` is this
code base's throw-away name (``path, _ = dialog(...)``), which would shadow it.
Placeholders are named (``{k}``), so a translation may reorder them.

:func:`set_language` switches at run time; texts already shown keep their language
until they are produced again (the GUI re-translates its widgets on a switch).
"""

from __future__ import annotations

import gettext
import locale
import os
from pathlib import Path

__all__ = ["tr", "tr_n", "tr_noop", "set_language", "language", "system_language",
           "LANGUAGES", "LOCALE_DIR", "DOMAIN"]

DOMAIN = "cnn_explorer"
LOCALE_DIR = Path(__file__).resolve().with_name("locale")
#: code -> the language's own name (what the Language menu lists)
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def normalise_language(code: str | None) -> str:
    """``zh``, ``zh_CN.UTF-8``, ``zh-Hans`` -> ``zh_CN``; anything else -> ``en``."""
    text = (code or "").strip().replace("-", "_").lower()
    return "zh_CN" if text.startswith("zh") else "en"


def set_language(code: str | None) -> str:
    """Use ``code`` ("en" or "zh_CN"; variants are normalised) from now on; returns it."""
    global _translation, _language
    lang = normalise_language(code)
    if lang == "en":
        _translation = gettext.NullTranslations()
    else:
        _translation = gettext.translation(DOMAIN, LOCALE_DIR, [lang], fallback=True)
    _language = lang
    return lang


def language() -> str:
    """The current language code."""
    return _language


def system_language() -> str:
    """The language of the system locale (LANGUAGE, LC_ALL, LC_MESSAGES, LANG), normalised."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            return normalise_language(value.split(":")[0])
    try:
        code = locale.getlocale()[0]
    except ValueError:
        code = None
    return normalise_language(code)


def tr(message: str) -> str:
    """``message`` in the current language."""
    return _translation.gettext(message)


def tr_n(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n``, in the current language."""
    return _translation.ngettext(singular, plural, n)


def tr_noop(message: str) -> str:
    """Marks ``message`` for the catalog without translating it (module constants that
    are shown later as ``tr(constant)``)."""
    return message
