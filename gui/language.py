"""The interface language: which one, switching it while the app runs, Qt's texts, fonts.

The language is chosen once at start-up (:func:`choose_language`: ``--lang`` if given,
else the one remembered in QSettings ``ui/language``, else the system locale's) and
can be switched at any time from View > Language / 语言 (``MainWindow.set_language``):
:func:`apply_language` switches the app's catalog (``engine.i18n``), Qt's own texts
(file dialogs, standard buttons, key names: the ``qtbase_<lang>.qm`` that ships with
PyQt6, installed with a QTranslator) and the font; the window then sets every text
again. Nothing is rebuilt, so no lab loses its state.

Fonts: Chinese needs a CJK font. Linux (fontconfig), macOS and Windows fall back to one
for the characters the interface font lacks; in Chinese the application font also
names the Simplified Chinese families first found (:data:`CJK_FAMILIES`), so the glyphs
are the mainland forms, not the Japanese ones a fallback may pick. Where the system has
no CJK font at all, :func:`font_notice_due` says so, once per settings file.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QCoreApplication, QEvent, QLibraryInfo, QSettings, QTranslator
from PyQt6.QtGui import QFont, QFontDatabase, QFontInfo
from PyQt6.QtWidgets import QApplication

from engine import i18n
from engine.i18n import tr_noop

__all__ = [
    "SETTINGS_KEY",
    "FONT_NOTICE_KEY",
    "CJK_FAMILIES",
    "FONT_NOTICE",
    "choose_language",
    "remember_language",
    "apply_language",
    "qt_translations_dir",
    "cjk_families",
    "has_cjk_font",
    "font_notice_due",
    "font_notice_text",
]

SETTINGS_KEY = "ui/language"
FONT_NOTICE_KEY = "ui/cjk_font_notice_shown"
#: Simplified Chinese families, most wanted first (Linux, Windows, macOS, older Linux).
CJK_FAMILIES = ("Noto Sans CJK SC", "Source Han Sans SC", "Source Han Sans CN",
                "Microsoft YaHei", "Microsoft YaHei UI", "PingFang SC", "Hiragino Sans GB",
                "Heiti SC", "Noto Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
                "SimHei", "SimSun", "Droid Sans Fallback")
#: The notice when no font can show Chinese. Its English text is always shown too: the
#: Chinese one would be boxes on exactly the systems that need the notice.
FONT_NOTICE = tr_noop(
    "No font for Chinese characters was found, so the Chinese interface shows boxes "
    "instead of text. Install one and restart the app:\n"
    "Debian/Ubuntu: sudo apt-get install fonts-noto-cjk\n"
    "Fedora: sudo dnf install google-noto-sans-cjk-fonts\n"
    "Arch: sudo pacman -S noto-fonts-cjk\n"
    "macOS and Windows include one (PingFang SC, Microsoft YaHei).")

_translators: list[QTranslator] = []  # installed now (kept alive: Qt does not own them)
_base_font: QFont | None = None  # the application font before any CJK family was added


def choose_language(settings: QSettings | None = None, override: str | None = None) -> str:
    """The language to start in: ``override`` (``--lang``), else the remembered one,
    else the system locale's (``engine.i18n.system_language``). Always a key of
    ``engine.i18n.LANGUAGES``."""
    if override:
        return i18n.normalise_language(override)
    remembered = settings.value(SETTINGS_KEY) if settings is not None else None
    if isinstance(remembered, str) and remembered:
        return i18n.normalise_language(remembered)
    return i18n.system_language()


def remember_language(settings: QSettings, code: str) -> None:
    settings.setValue(SETTINGS_KEY, code)
    settings.sync()


def qt_translations_dir() -> Path:
    """Where Qt's own catalogs are (inside the PyQt6 wheel: ``Qt6/translations``)."""
    return Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath))


def _install_qt_translations(code: str) -> bool:
    """Qt's own texts in ``code``: replaces the translators installed before. True when
    ``qtbase_<code>.qm`` was found (English needs none)."""
    app = QCoreApplication.instance()
    while _translators:
        translator = _translators.pop()
        if app is not None:
            QCoreApplication.removeTranslator(translator)
    if code == "en" or app is None:
        return code == "en"
    translator = QTranslator()
    if not translator.load(f"qtbase_{code}", str(qt_translations_dir())):
        return False
    QCoreApplication.installTranslator(translator)
    _translators.append(translator)
    return True


def cjk_families() -> list[str]:
    """The installed font families that can write Simplified Chinese."""
    return QFontDatabase.families(QFontDatabase.WritingSystem.SimplifiedChinese)


def has_cjk_font() -> bool:
    return bool(cjk_families())


def _apply_font(code: str) -> None:
    """In Chinese the application font lists a Simplified Chinese family after its own
    (Latin letters and digits keep their look); in English it is the original font."""
    global _base_font
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return
    if _base_font is None:
        _base_font = QFont(app.font())
    font = QFont(_base_font)
    if code == "zh_CN":
        installed = set(cjk_families())
        wanted = [family for family in CJK_FAMILIES if family in installed]
        if wanted:
            # the family the interface font really is ("Sans Serif" is an alias that,
            # listed with a CJK family, resolves to the CJK font: its wide digits and dots
            # would change every layout), then the Chinese one for what it lacks
            font.setFamilies([QFontInfo(_base_font).family(), wanted[0]])
    app.setFont(font)


def apply_language(code: str | None) -> str:
    """Use ``code`` from now on: the app's texts, Qt's own texts and the font. Returns the
    normalised code. Widgets already built keep their texts until they are set again
    (``MainWindow.set_language`` does that)."""
    code = i18n.set_language(code)
    _install_qt_translations(code)
    _apply_font(code)
    # Qt's own widgets (standard buttons) retranslate on LanguageChange, which installing
    # a translator only posts: deliver it now, before the window sets its own texts
    if QCoreApplication.instance() is not None:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LanguageChange.value)
    return code


def font_notice_due(settings: QSettings, code: str, font_present: bool | None = None) -> bool:
    """True once: the language needs a CJK font, none is installed, and the notice was not
    shown before (then it is marked as shown in ``settings``)."""
    if code != "zh_CN":
        return False
    if font_present is None:
        font_present = has_cjk_font()
    if font_present or settings.value(FONT_NOTICE_KEY, False, type=bool):
        return False
    settings.setValue(FONT_NOTICE_KEY, True)
    settings.sync()
    return True


def font_notice_text() -> str:
    """The notice in English and, in another language, in that one too."""
    from engine.i18n import tr

    translated = tr(FONT_NOTICE)
    return FONT_NOTICE if translated == FONT_NOTICE else f"{FONT_NOTICE}\n\n{translated}"
