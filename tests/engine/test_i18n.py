"""engine.i18n: language selection, and catalogs that match the sources."""

from __future__ import annotations

import gettext
import io

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
