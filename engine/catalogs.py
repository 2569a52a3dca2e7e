"""Building the translation catalogs: ``python -m engine.catalogs`` (the one command).

Extracts every text the sources pass to ``tr`` / ``tr_n`` / ``tr_noop``
(engine/i18n.py), updates ``engine/locale/<lang>/LC_MESSAGES/cnn_explorer.po`` (new
texts empty, vanished ones dropped, translations kept) and compiles it to ``.mo``.
Then translate the empty entries of the ``.po`` and run it again. Needs Babel (the
test and dev extras); the app itself reads the ``.mo`` with the standard library.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from .i18n import DOMAIN, LANGUAGES, LOCALE_DIR

__all__ = ["extract_messages", "rebuild_catalogs", "SOURCES", "KEYWORDS"]

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

    The one command: ``python -m engine.catalogs``; then translate the empty entries of
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
