"""engine.i18n: language selection, and catalogs that match the sources."""

from __future__ import annotations

import gettext
import io
import re
import string
from collections import Counter

import pytest

from engine import catalogs, i18n

babel = pytest.importorskip("babel")  # a test dependency: the catalog tools


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    i18n.set_language("en")


@pytest.mark.parametrize("code, expected", [
    ("zh_CN", "zh_CN"), ("zh", "zh_CN"), ("zh_CN.UTF-8", "zh_CN"), ("zh-Hans", "zh_CN"),
    ("en_US.UTF-8", "en"), ("de_DE", "en"), ("", "en"), (None, "en"), ("C", "en"),
])
def test_language_codes_are_normalised(code, expected):
    assert i18n.normalise_language(code) == expected


def test_system_language_follows_the_environment(monkeypatch):
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert i18n.system_language() == "zh_CN"
    monkeypatch.setenv("LC_ALL", "en_GB.UTF-8")  # LC_ALL wins over LANG
    assert i18n.system_language() == "en"
    monkeypatch.setenv("LANGUAGE", "zh_CN:en")  # LANGUAGE wins over both
    assert i18n.system_language() == "zh_CN"


def _shipped(lang: str) -> dict:
    path = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / f"{i18n.DOMAIN}.mo"
    with open(path, "rb") as f:
        return dict(gettext.GNUTranslations(f)._catalog)


def _compiled_from_po(lang: str) -> dict:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    path = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    with open(path, "rb") as f:
        catalog = read_po(f, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return dict(gettext.GNUTranslations(buffer)._catalog), catalog


def _po_ids(catalog) -> set:
    return {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalog if m.id}


@pytest.mark.parametrize("lang", [lang for lang in i18n.LANGUAGES if lang != "en"])
def test_catalogs_are_up_to_date_with_the_sources(lang):
    """Every text the code passes to tr() is in the catalog, nothing else is, and the
    shipped .mo is the compiled .po (else: run `python -m engine.catalogs`)."""
    compiled, catalog = _compiled_from_po(lang)
    extracted = set(catalogs.extract_messages())
    in_po = _po_ids(catalog)
    missing, stale = sorted(map(str, extracted - in_po)), sorted(map(str, in_po - extracted))
    assert not missing, f"not in the {lang} catalog (run python -m engine.catalogs): {missing[:10]}"
    assert not stale, f"no longer in the sources (run python -m engine.catalogs): {stale[:10]}"
    assert _shipped(lang) == compiled, "the .mo is older than the .po: python -m engine.catalogs"


def test_switching_language_changes_what_tr_returns(tmp_path, monkeypatch):
    """With a catalog holding one translation, tr() follows set_language at once."""
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    catalog = Catalog(locale="zh_CN")
    catalog.add("stride", "步长")
    catalog.add(("{n} filter", "{n} filters"), ("{n} 个过滤器",))
    folder = tmp_path / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with open(folder / f"{i18n.DOMAIN}.mo", "wb") as f:
        write_mo(f, catalog)
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    assert i18n.tr("stride") == "stride"
    assert i18n.set_language("zh_CN.UTF-8") == "zh_CN" and i18n.language() == "zh_CN"
    assert i18n.tr("stride") == "步长"
    assert i18n.tr("padding") == "padding"  # untranslated: the English text
    assert i18n.tr_n("{n} filter", "{n} filters", 3) == "{n} 个过滤器"
    i18n.set_language("en")
    assert i18n.tr("stride") == "stride" and i18n.language() == "en"
    assert i18n.tr_n("{n} filter", "{n} filters", 1) == "{n} filter"
    assert i18n.tr_n("{n} filter", "{n} filters", 2) == "{n} filters"
    assert i18n.tr_noop("stride") == "stride"


def _catalog(lang: str):
    from babel.messages.pofile import read_po

    path = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    with open(path, "rb") as f:
        return [m for m in read_po(f, locale=lang) if m.id]


def _forms(message) -> tuple[list[str], list[str]]:
    """(the msgid's forms, the translation's forms) of a catalog entry."""
    ids = [message.id] if isinstance(message.id, str) else list(message.id)
    strings = [message.string] if isinstance(message.string, str) else list(message.string)
    return ids, strings


_PERCENT = re.compile(r"%(?:\([^)]*\))?[sdrif%]")
_TAG = re.compile(r"</?[a-z]+[^>]*>")


def _fields(text: str) -> Counter:
    """The format fields of a text ({n}, {seconds:.1f}, {name!r}, %s, %(value)r) and its
    rich-text tags, counted."""
    fields = Counter(_PERCENT.findall(text)) + Counter(_TAG.findall(text))
    for _literal, name, spec, conversion in string.Formatter().parse(text):
        if name is not None:
            fields[f"{{{name}!{conversion}:{spec}}}"] += 1
    return fields


@pytest.mark.parametrize("lang", [lang for lang in i18n.LANGUAGES if lang != "en"])
def test_every_text_has_a_translation(lang):
    empty = [ids[0] for ids, strings in map(_forms, _catalog(lang))
             if not strings or not all(s.strip() for s in strings)]
    assert not empty, f"{len(empty)} texts have no {lang} translation, e.g. {empty[:5]}"


@pytest.mark.parametrize("lang", [lang for lang in i18n.LANGUAGES if lang != "en"])
def test_every_translation_has_exactly_the_placeholders_of_its_text(lang):
    """The same {names} (with their format and conversion), %-fields and tags: a dropped
    or misspelt placeholder would raise KeyError, or lose a number, at run time."""
    wrong = []
    for message in _catalog(lang):
        ids, strings = _forms(message)
        for text in strings:
            if not text:
                continue
            try:
                if _fields(text) != _fields(ids[-1]) and _fields(text) != _fields(ids[0]):
                    wrong.append((ids[0], text))
            except ValueError as err:  # an unbalanced brace
                wrong.append((ids[0], f"{text} ({err})"))
    assert not wrong, "\n".join(f"{a!r} -> {b!r}" for a, b in wrong[:10])


def test_the_checker_of_placeholders_sees_a_dropped_one():
    assert _fields("{n} of {count:,} in {seconds:.1f} s") == _fields(
        "{seconds:.1f} 秒 {count:,} 中 {n}")
    assert _fields("{n} epochs") != _fields("轮")
    assert _fields("{name!r}") != _fields("{name}")
    assert _fields("<b>dx:</b> %s") != _fields("dx: %s")
