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


@pytest.fixture
def make_window(qtbot, settings):
    """``make_window(**kwargs)``: a shown MainWindow on this test's settings; shut down (its
    threads waited for) and the language put back to English after the test."""
    from gui.app import MainWindow
    from gui.language import apply_language

    windows = []

    def make(**kwargs):
        kwargs.setdefault("settings", settings)
        window = MainWindow(**kwargs)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.shutdown()
    apply_language("en")


@pytest.fixture
def training_window(make_window, qtbot):
    """A main window on the Training lab, training a tiny network (one 2-filter block, 50
    epochs of 16 digits a batch) that has made its first step: (window, lab)."""
    from engine.training_loop import TrainingConfig
    from gui.labs.training.blocks import ConvBlock, Head

    window = make_window(initial_lab="training")
    lab = window.current_lab()
    lab.builder.set_blocks([ConvBlock(filters=2, kernel=3, padding=1)], Head())
    lab.session.set_spec(lab.builder.spec())
    lab.set_config(TrainingConfig(epochs=50, batch_size=16, augment=False))
    lab.reset()
    lab.start()
    qtbot.waitUntil(lambda: lab.trainer.iteration > 0, timeout=60_000)
    return window, lab


@pytest.fixture
def make_lab(qtbot):
    """``make_lab(LabClass, size=(1400, 900), **kwargs)``: a lab the size of the main
    window's lab area, closed by qtbot after the test."""

    def make(cls, size=(1400, 900), **kwargs):
        widget = cls(**kwargs)
        qtbot.addWidget(widget)
        widget.resize(*size)
        return widget

    return make


@pytest.fixture
def focus(qtbot):
    """``focus(widget)``: show the widget and wait until it has the keyboard focus, so
    that key clicks reach its shortcuts."""

    def give(widget):
        widget.show()
        qtbot.waitExposed(widget)
        widget.activateWindow()
        widget.setFocus()
        qtbot.waitUntil(widget.hasFocus)

    return give


@pytest.fixture(scope="session")
def warm_mnist():
    """(train_x, train_y, val_x, val_y) of the embedded MNIST split, with every kernel
    compiled first (a cold cache compiles here, not inside a worker under a test's
    timeout). Loaded once per session; the training tests slice small sets from it."""
    from engine.data import mnist_split
    from engine.warmup import warmup

    warmup()
    return mnist_split()
