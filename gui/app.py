"""The application shell: main window, lab switching, menus, settings, screenshots.

The window lists the labs on the left (``gui.labs.LABS``) and shows the current one
in the middle. A lab is imported and built the first time it is opened; a lab whose
module does not exist yet shows a one-line placeholder. The shell calls the optional
lab hooks of the GUI contract (docs/ARCHITECTURE.md): ``activated``, ``deactivated``,
``shutdown``, ``menu_actions``, ``prepare_screenshot``, ``export_widget``,
``open_image`` and connects each lab's ``status_message`` signal to the status bar.

At start-up :class:`gui.workers.warmup.WarmupRunner` compiles (or loads from Numba's
cache) every engine kernel in a background thread, with a progress bar in the status
bar, so the window answers clicks from the start.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QByteArray, QSettings, Qt, pyqtSignal
from PyQt6.QtGui import QAction, QActionGroup, QColor, QKeySequence
from PyQt6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from gui.labs import LABS, LabInfo, lab_by_key, lab_is_available, load_lab_class
from gui.labs.placeholder import PlaceholderLab
from gui.widgets.images import IMAGE_FILE_FILTER
from gui.workers.warmup import WarmupRunner, default_warmup

__all__ = [
    "ORGANIZATION",
    "APPLICATION",
    "WINDOW_TITLE",
    "DEFAULT_SIZE",
    "MainWindow",
    "AboutDialog",
    "about_markdown",
    "run_app",
    "render_screenshots",
]

ORGANIZATION = "CNN Explorer"
APPLICATION = "CNN Explorer"
WINDOW_TITLE = "CNN Explorer"
DEFAULT_SIZE = (1400, 900)
STATUS_TIMEOUT_MS = 10_000

_ROOT = Path(__file__).resolve().parents[1]
_ASSETS_README = _ROOT / "assets" / "README.md"

# Used when assets/README.md is missing (e.g. a trimmed installation).
_FALLBACK_PROVENANCE = """\
- **Handwritten digits**: 9,000 digits from the MNIST database (Y. LeCun, C. Cortes,
  C. J. C. Burges), distributed under CC BY-SA 3.0.
- **Photographs**: sample images from the scikit-image data folder (CC0 or public domain,
  e.g. the astronaut photo by NASA).

(The full provenance is in `assets/README.md`, which was not found in this installation.)
"""


def about_markdown(readme: Path | None = None) -> str:
    """The Help > About text: what the app is, the shortcuts, the data provenance."""
    readme = _ASSETS_README if readme is None else Path(readme)
    try:
        provenance = readme.read_text(encoding="utf-8").strip()
        # the README's own top heading would compete with ours: demote every heading
        provenance = "\n".join("#" + line if line.startswith("#") else line
                               for line in provenance.splitlines())
        if not provenance.startswith("#"):
            provenance = "## Data provenance\n\n" + provenance
    except OSError:
        provenance = "## Data provenance\n\n" + _FALLBACK_PROVENANCE
    return (
        "# CNN Explorer\n\n"
        "Learn how convolutional neural networks work by watching them: a kernel "
        "sliding over an image, pooling, the backward pass as delta maps, and a small "
        "CNN training live on real handwritten digits.\n\n"
        "## Keyboard\n\n"
        "- Ctrl+1 ... Ctrl+6: go to a lab; Ctrl+PgDown / Ctrl+PgUp: next / previous lab\n"
        "- Ctrl+O: open an image; Ctrl+E: export the current lab as PNG; Ctrl+Q: quit\n"
        "- F1: this window\n\n"
        f"{provenance}\n"
    )


class AboutDialog(QDialog):
    """Help > About: non-modal, so it never blocks the labs (or a test)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"About {WINDOW_TITLE}")
        self.resize(640, 560)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setMarkdown(about_markdown())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)


class MainWindow(QMainWindow):
    """Lab list on the left, the current lab in the middle, status bar and menus.

    Parameters
    ----------
    settings : QSettings, optional
        Where geometry and the last lab are remembered; defaults to the user's
        settings for (ORGANIZATION, APPLICATION). Tests pass a temporary one.
    warmup : bool or callable
        True runs ``engine.warmup`` in the background at start-up; a callable
        ``fn(progress)`` runs that instead; False runs nothing.
    initial_lab : str, optional
        Key of the lab to open first; defaults to the last one used.
    remember : bool
        Save geometry and the last lab when the window closes.
    """

    lab_changed = pyqtSignal(str)

    def __init__(self, settings: QSettings | None = None, warmup: bool | Callable = False,
                 initial_lab: str | None = None, remember: bool = True):
        super().__init__()
        self.setWindowTitle(WINDOW_TITLE)
        self._settings = settings if settings is not None else QSettings(ORGANIZATION,
                                                                        APPLICATION)
        self._remember = remember
        self._labs: dict[str, QWidget] = {}
        self._lab_actions: dict[str, list[QAction]] = {}
        self._current_key: str | None = None
        self._about: AboutDialog | None = None
        self._closed = False

        self._build_central()
        self._build_status_bar()
        self._build_menus()
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

    # ------------------------------------------------------------------ layout
    def _build_central(self) -> None:
        self.lab_list = QListWidget()
        self.lab_list.setMinimumWidth(170)
        self.lab_list.setMaximumWidth(230)
        self.lab_list.setStyleSheet("QListWidget { font-size: 11pt; } "
                                    "QListWidget::item { padding: 6px 4px; }")
        for number, info in enumerate(LABS, start=1):
            item = QListWidgetItem(f"{number}  {info.title}")
            item.setData(Qt.ItemDataRole.UserRole, info.key)
            if lab_is_available(info):
                item.setToolTip(f"{info.blurb} (Ctrl+{number})")
            else:
                item.setForeground(QColor("#888888"))
                item.setToolTip(f"Not built yet. {info.blurb}")
            self.lab_list.addItem(item)
        self.lab_list.currentRowChanged.connect(self._on_row_changed)

        self.stack = QStackedWidget()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.lab_list)
        splitter.addWidget(self.stack)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setCollapsible(1, False)
        splitter.setSizes([190, DEFAULT_SIZE[0] - 190])
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

    def _build_menus(self) -> None:
        menu = self.menuBar()
        self.file_menu = menu.addMenu("&File")
        self.open_action = self._action("&Open image…", "Ctrl+O",
                                        self.open_image_dialog,
                                        "Open a PNG, JPEG or BMP file in the current lab")
        self.export_action = self._action("&Export current lab as PNG…", "Ctrl+E",
                                          self.export_dialog,
                                          "Save a picture of the current lab")
        self.quit_action = self._action("&Quit", "Ctrl+Q", self.close)
        self.file_menu.addAction(self.open_action)
        self.file_menu.addAction(self.export_action)
        self._lab_actions_separator = self.file_menu.addSeparator()
        self._quit_separator = self.file_menu.addSeparator()
        self.file_menu.addAction(self.quit_action)

        self.labs_menu = menu.addMenu("&Labs")
        self._lab_group = QActionGroup(self)
        self._lab_menu_actions: dict[str, QAction] = {}
        for number, info in enumerate(LABS, start=1):
            action = self._action(info.title, f"Ctrl+{number}",
                                  lambda _=False, key=info.key: self.show_lab(key), info.blurb)
            action.setCheckable(True)
            self._lab_group.addAction(action)
            self.labs_menu.addAction(action)
            self._lab_menu_actions[info.key] = action
        self.labs_menu.addSeparator()
        self.labs_menu.addAction(self._action("Next lab", "Ctrl+PgDown",
                                              lambda: self._step_lab(+1)))
        self.labs_menu.addAction(self._action("Previous lab", "Ctrl+PgUp",
                                              lambda: self._step_lab(-1)))

        help_menu = menu.addMenu("&Help")
        self.about_action = self._action("&About CNN Explorer",
                                         "F1", self.show_about,
                                         "What this is, shortcuts, data sources")
        help_menu.addAction(self.about_action)

    def _action(self, text: str, shortcut, slot, tip: str = "") -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even while the menu bar is hidden
        if tip:
            action.setStatusTip(tip)
        return action

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
        if info.key == self._current_key:
            return self._labs[info.key]
        previous = self.current_lab()
        if previous is not None:
            self._call_hook(previous, "deactivated")
            self._set_actions_enabled(self._current_key, False)
        lab = self._labs.get(info.key) or self._build_lab(info)
        self._current_key = info.key
        self.stack.setCurrentWidget(lab)
        row = next(i for i, entry in enumerate(LABS) if entry.key == info.key)
        self.lab_list.blockSignals(True)
        self.lab_list.setCurrentRow(row)
        self.lab_list.blockSignals(False)
        self._lab_menu_actions[info.key].setChecked(True)
        self._set_actions_enabled(info.key, True)
        self._call_hook(lab, "activated")
        self.lab_changed.emit(info.key)
        return lab

    def _build_lab(self, info: LabInfo) -> QWidget:
        try:
            cls = load_lab_class(info)
            lab = PlaceholderLab(info) if cls is None else cls()
        except Exception as err:  # noqa: BLE001 - a broken lab must not take the app down
            traceback.print_exc()
            lab = PlaceholderLab(info, reason=f"This lab could not be loaded: {err}")
            self.show_message(f"The {info.title} lab could not be loaded: {err}")
        signal = getattr(lab, "status_message", None)
        if signal is not None:
            signal.connect(self.show_message)
        self._add_lab_actions(info.key, lab)
        self._labs[info.key] = lab
        self.stack.addWidget(lab)
        return lab

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
            self.show_message(f"{name} failed in this lab: {err}")
            return None

    def _on_row_changed(self, row: int) -> None:
        if 0 <= row < len(LABS):
            self.show_lab(LABS[row].key)

    def _step_lab(self, delta: int) -> None:
        keys = [info.key for info in LABS]
        index = keys.index(self._current_key) if self._current_key in keys else 0
        self.show_lab(keys[(index + delta) % len(keys)])

    # ------------------------------------------------------------ file actions
    def show_message(self, text: str, timeout_ms: int = STATUS_TIMEOUT_MS) -> None:
        """Put a message in the status bar."""
        self.statusBar().showMessage(text, timeout_ms)

    def open_image_dialog(self) -> None:
        start = str(self._settings.value("files/last_dir", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Open image", start, IMAGE_FILE_FILTER)
        if path:
            self._settings.setValue("files/last_dir", str(Path(path).parent))
            self.open_image_file(path)

    def open_image_file(self, path) -> bool:
        """Hand ``path`` to the current lab if it shows images; returns whether it did."""
        lab = self.current_lab()
        opener = getattr(lab, "open_image", None)
        if not callable(opener):
            title = lab_by_key(self._current_key).title
            users = [info.title for info in LABS
                     if callable(getattr(self._labs.get(info.key), "open_image", None))]
            hint = f" Try {' or '.join(users)}." if users else \
                " Try the Kernel gallery."
            self.show_message(f"The {title} lab does not use photographs.{hint}")
            return False
        try:
            opener(str(path))
        except Exception as err:  # noqa: BLE001 - the lab should report; be safe anyway
            traceback.print_exc()
            self.show_message(f"Could not open {Path(path).name}: {err}")
            return False
        return True

    def export_dialog(self) -> None:
        start_dir = Path(str(self._settings.value("files/export_dir", str(Path.home()))))
        suggested = start_dir / f"cnn-explorer-{self._current_key}.png"
        path, _ = QFileDialog.getSaveFileName(self, "Export current lab as PNG",
                                              str(suggested), "PNG image (*.png)")
        if path:
            self._settings.setValue("files/export_dir", str(Path(path).parent))
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
            self.show_message(f"Saved {path}")
            return path
        self.show_message(f"Could not write {path} (is the folder writable?)")
        return None

    def show_about(self) -> AboutDialog:
        if self._about is None:
            self._about = AboutDialog(self)
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
        self.warmup_label.setText("Preparing the fast kernels…")
        self.warmup_bar.setRange(0, 0)  # busy indicator until the first report
        self.warmup_label.show()
        self.warmup_bar.show()
        return runner

    def _on_warmup_progress(self, done: int, total: int, name: str) -> None:
        self.warmup_bar.setRange(0, max(total, 1))
        self.warmup_bar.setValue(done)
        self.warmup_bar.setFormat(f"{done}/{total}")
        self.warmup_label.setText(f"Preparing the fast kernels (slow only on the first run): "
                                  f"{name}")

    def _on_warmup_finished(self, seconds: float) -> None:
        self.warmup_label.hide()
        self.warmup_bar.hide()
        self.show_message(f"Fast kernels ready ({seconds:.1f} s).", 4000)

    def _on_warmup_failed(self, message: str) -> None:
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

    def shutdown(self) -> None:
        """Stop every lab's threads and the warm-up; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._remember:
            self.save_settings()
        for lab in self._labs.values():
            self._call_hook(lab, "shutdown")
        if self.warmup_runner is not None:
            self.warmup_runner.stop()
        if self._about is not None:
            self._about.close()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
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
            window.show_message(f"Something went wrong: {exc} (details printed in the terminal)")
    sys.excepthook = hook


def _application(argv: list[str]) -> QApplication:
    QApplication.setOrganizationName(ORGANIZATION)
    QApplication.setApplicationName(APPLICATION)
    app = QApplication.instance()
    return app if app is not None else QApplication(argv)


def run_app(argv: list[str] | None = None) -> int:
    """Open the main window and run the event loop; returns the exit code.

    ``argv`` is passed to QApplication (program name first); by default sys.argv[:1].
    """
    app = _application(list(sys.argv[:1] if argv is None else argv))
    window_ref: list = []
    _install_excepthook(window_ref)
    window = MainWindow(warmup=True)
    window_ref.append(window)
    window.show()
    code = app.exec()
    window.shutdown()
    return code


def render_screenshots(out_dir, lab: str | None = None,
                       size: tuple[int, int] = DEFAULT_SIZE) -> list[Path]:
    """Render every lab (or one) offscreen with its default content to ``out_dir/<key>.png``.

    Parameters
    ----------
    out_dir : str or Path
        Created if needed.
    lab : str, optional
        A lab key or title (case-insensitive); all labs when None.
    size : (width, height)
        Window size in pixels.

    Returns
    -------
    paths : list of Path, in lab order

    Raises
    ------
    ValueError
        If ``lab`` names no lab (the message lists the valid names).
    """
    try:
        infos = [lab_by_key(lab)] if lab else list(LABS)
    except KeyError as err:
        raise ValueError(err.args[0]) from None
    if QApplication.instance() is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # headless: never needs a display
    app = _application([sys.argv[0] if sys.argv else "cnn-explorer"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    warmup = default_warmup()
    if warmup is not None:
        try:
            warmup()  # compile/load the kernels first, so no lab shows a first-call time
        except Exception as err:  # noqa: BLE001 - the labs report their own errors
            print(f"warning: preparing the fast kernels failed: {err}", file=sys.stderr)
    paths: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        # a throw-away settings file: screenshots neither read nor change the user's
        settings = QSettings(str(Path(tmp) / "screenshot.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, warmup=False, initial_lab=infos[0].key,
                            remember=False)
        window.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        window.resize(*size)
        window.show()
        try:
            for info in infos:
                widget = window.show_lab(info.key)
                window._call_hook(widget, "prepare_screenshot")
                window.statusBar().clearMessage()
                for _ in range(3):  # layouts settle over a few passes
                    app.processEvents()
                path = out / f"{info.key}.png"
                if not window.grab().save(str(path), "PNG"):
                    raise OSError(f"could not write {path}")
                paths.append(path)
        finally:
            window.close()
            window.shutdown()
            window.deleteLater()
            app.processEvents()
    return paths
