"""Fixtures for the GUI tests: every test gets its own, empty QSettings.

``QSettings.setPath`` redirects the user and system settings files into the test's
temporary folder, so no test reads or overwrites the settings of the person running
the suite (the main window stores its geometry and last lab there).
"""

from __future__ import annotations

import pytest
from PyQt6.QtCore import QSettings


@pytest.fixture(autouse=True)
def isolated_qsettings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qsettings")
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(folder))
    return folder


@pytest.fixture
def settings(tmp_path):
    """A settings file of this test only (what the main window remembers)."""
    return QSettings(str(tmp_path / "cnn-explorer.ini"), QSettings.Format.IniFormat)
