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

import datetime
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


# ------------------------------------------------------------------ building the catalogs
#: what the catalogs are extracted from, relative to the repository
SOURCES = ("main.py", "engine", "gui")
KEYWORDS = {"tr": None, "tr_n": (1, 2), "tr_noop": None}
_EPOCH = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


def extract_messages(root: Path | None = None) -> dict[str | tuple[str, str], list[str]]:
    """Every message the sources pass to tr / tr_n / tr_noop: msgid (or (singular,
    plural)) -> the files it occurs in. Needs Babel (a development dependency)."""
    from babel.messages.extract import extract_from_file

    root = LOCALE_DIR.parents[1] if root is None else Path(root)
    files = []
    for source in SOURCES:
        path = root / source
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    found: dict = {}
    for path in files:
        for _lineno, message, _comments, _context in extract_from_file(
                "python", path, keywords=KEYWORDS):
            key = message if isinstance(message, str) else tuple(message)
            if not key:
                continue
            where = found.setdefault(key, [])
            rel = path.relative_to(root).as_posix()
            if rel not in where:
                where.append(rel)
    return found


def rebuild_catalogs(root: Path | None = None) -> list[Path]:
    """Extract the messages, update every language's .po (new messages empty, vanished
    ones dropped, translations kept) and compile it to .mo. Returns the files written.

    The one command: ``python -m engine.i18n``; then translate the empty entries of
    ``engine/locale/zh_CN/LC_MESSAGES/cnn_explorer.po`` and run it again.
    """
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po, write_po

    # fixed header dates: rebuilding without a change rewrites the files byte for byte
    template = Catalog(project="CNN Explorer", charset="utf-8", creation_date=_EPOCH,
                       revision_date=_EPOCH)
    for key, files in extract_messages(root).items():
        template.add(key, locations=[(f, None) for f in files])
    written = []
    pot = LOCALE_DIR / f"{DOMAIN}.pot"
    pot.parent.mkdir(parents=True, exist_ok=True)
    with open(pot, "wb") as f:
        write_po(f, template, width=100, include_lineno=False, sort_output=True)
    written.append(pot)
    for lang in LANGUAGES:
        if lang == "en":
            continue  # the source language
        folder = LOCALE_DIR / lang / "LC_MESSAGES"
        folder.mkdir(parents=True, exist_ok=True)
        po_path, mo_path = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
        if po_path.exists():
            with open(po_path, "rb") as f:
                catalog = read_po(f, locale=lang)
        else:
            catalog = Catalog(locale=lang, project="CNN Explorer", charset="utf-8",
                              creation_date=_EPOCH, revision_date=_EPOCH)
        # no fuzzy guesses: a changed English text must be translated again on purpose
        catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
        catalog.obsolete.clear()
        with open(po_path, "wb") as f:
            write_po(f, catalog, width=100, include_lineno=False, sort_output=True)
        with open(po_path, "rb") as f:  # the .mo is compiled from the file as written
            catalog = read_po(f, locale=lang)
        with open(mo_path, "wb") as f:
            write_mo(f, catalog)
        written += [po_path, mo_path]
    return written


if __name__ == "__main__":
    for path in rebuild_catalogs():
        print(path)
