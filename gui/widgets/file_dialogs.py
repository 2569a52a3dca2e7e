"""Open and Save dialogs that start in the folder the learner used last.

Every file dialog of the app (File > Open image, File > Export PNG, the labs' own
Open and Save buttons, the Training lab's model, spec and data set files, sessions,
animations, exports) goes through :func:`open_file_name`, :func:`open_folder_name` or
:func:`save_file_name`, so they all start in one folder: the
last one a file was opened from or saved to, remembered in QSettings under
``files/last_dir`` (the home folder the first time). The main window chooses the
QSettings with :func:`use_settings` (tests pass a temporary one).
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QFileDialog, QWidget

__all__ = ["use_settings", "last_folder", "remember_folder", "open_file_name",
           "open_folder_name", "save_file_name", "LAST_DIR_KEY"]

LAST_DIR_KEY = "files/last_dir"

_settings: QSettings | None = None


def use_settings(settings: QSettings | None) -> None:
    """Remember the folder in ``settings`` (None: the application's default QSettings)."""
    global _settings
    _settings = settings


def _store() -> QSettings:
    return _settings if _settings is not None else QSettings()


def last_folder() -> Path:
    """The folder the last dialog ended in, if it still exists; else the home folder."""
    folder = Path(str(_store().value(LAST_DIR_KEY, "") or Path.home()))
    return folder if folder.is_dir() else Path.home()


def remember_folder(path) -> None:
    """Make the folder of ``path`` (a file) the start of the next dialog."""
    store = _store()
    store.setValue(LAST_DIR_KEY, str(Path(path).resolve().parent))
    store.sync()


def open_file_name(parent: QWidget | None, title: str, file_filter: str) -> str | None:
    """Ask for an existing file, starting in :func:`last_folder`; None when cancelled."""
    path, _ = QFileDialog.getOpenFileName(parent, title, str(last_folder()), file_filter)
    if not path:
        return None
    remember_folder(path)
    return path


def open_folder_name(parent: QWidget | None, title: str) -> str | None:
    """Ask for an existing folder, starting in :func:`last_folder`; None when cancelled.
    The next dialog starts in the folder that holds it (where its siblings are)."""
    path = QFileDialog.getExistingDirectory(parent, title, str(last_folder()))
    if not path:
        return None
    remember_folder(path)
    return path


def save_file_name(parent: QWidget | None, title: str, suggested_name: str,
                   file_filter: str) -> str | None:
    """Ask where to save, offering ``suggested_name`` in :func:`last_folder`; None when
    cancelled."""
    start = last_folder() / suggested_name
    path, _ = QFileDialog.getSaveFileName(parent, title, str(start), file_filter)
    if not path:
        return None
    remember_folder(path)
    return path
