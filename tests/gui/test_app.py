"""The main window: lab list and switching, hooks, menus, settings, warm-up worker."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from PyQt6.QtCore import QSettings, Qt, pyqtSignal
from PyQt6.QtGui import QAction, QImage
from PyQt6.QtWidgets import QApplication, QLabel, QWidget

import gui.app as app_module
from gui.app import WINDOW_TITLE, LabLoadError, MainWindow, app_version
from gui.labs import LABS, lab_by_key
from gui.workers.warmup import WarmupRunner

WAIT_MS = 60_000


def test_window_opens_with_every_lab_listed_in_order(make_window):
    window = make_window()
    assert window.windowTitle() == WINDOW_TITLE
    keys = [window.lab_list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(window.lab_list.count())]
    assert keys == ["convolution", "gallery", "pooling", "backprop", "fitting", "training",
                    "network"]
    assert [info.key for info in LABS] == keys
    assert window.current_key() == "convolution"  # nothing remembered yet: the first lab


def test_every_lab_is_reachable_from_the_list(qtbot, make_window):
    window = make_window(initial_lab="training")
    for row, info in enumerate(LABS):
        with qtbot.waitSignal(window.lab_changed, timeout=WAIT_MS) as changed:
            rect = window.lab_list.visualItemRect(window.lab_list.item(row))
            qtbot.mouseClick(window.lab_list.viewport(), Qt.MouseButton.LeftButton,
                             pos=rect.center())
            if info.key == "training":  # already current: clicking changes nothing
                window.lab_changed.emit("training")
        assert changed.args == [info.key]
        assert window.current_key() == info.key
        lab = window.lab_widget(info.key)
        assert lab is not None and window.stack.currentWidget() is lab
        # every lab exists: none may fall back to the in-place error
        assert not isinstance(lab, LabLoadError), lab.message_label.text()


def test_lab_shortcuts_switch_labs(qtbot, make_window):
    window = make_window(initial_lab="pooling")
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    # a lab not built yet is shown at the next turn of the event loop (MainWindow.open_lab)
    qtbot.waitUntil(lambda: window.current_key() == "gallery")
    qtbot.keyClick(window, Qt.Key.Key_PageDown, Qt.KeyboardModifier.ControlModifier)
    assert window.current_key() == "pooling"
    qtbot.keyClick(window, Qt.Key.Key_PageUp, Qt.KeyboardModifier.ControlModifier)
    assert window.current_key() == "gallery"


def test_a_lab_asked_for_is_shown_a_few_turns_later(qtbot, make_window):
    # its import, construction and first paint are separate stalls of the GUI thread
    window = make_window(initial_lab="pooling")
    window.open_lab("fitting")
    assert window.current_key() == "pooling"  # not yet ...
    assert window.lab_list.currentRow() == [info.key for info in LABS].index("fitting")
    with qtbot.waitSignal(window.lab_changed, timeout=WAIT_MS) as changed:
        pass
    fitting = window.lab_widget("fitting")
    assert changed.args == ["fitting"] and window.stack.currentWidget() is fitting
    # another lab asked for before the first was shown: only the last one is shown
    window.open_lab("backprop")
    window.show_lab("pooling")
    qtbot.wait(100)
    assert window.current_key() == "pooling"
    window.open_lab("gallery")
    window.open_lab("convolution")
    qtbot.waitUntil(lambda: window.current_key() == "convolution", timeout=WAIT_MS)
    qtbot.wait(100)
    assert window.current_key() == "convolution"


@pytest.mark.parametrize("key", ["fitting", "training", "backprop", "convolution", "gallery",
                                 "pooling"])
def test_a_big_lab_is_constructed_and_painted_in_parts_a_turn_each(qtbot, make_window, key):
    # each part of its construction and of its first paint is a stall of its own
    window = make_window(initial_lab="pooling" if key != "pooling" else "gallery")
    window.open_lab(key)
    qtbot.waitUntil(lambda: key in window._building, timeout=WAIT_MS)
    lab = window._building[key]
    assert window.lab_widget(key) is None and not lab.constructed  # not whole yet
    hidden_when_shown = []
    window.lab_changed.connect(lambda _key: hidden_when_shown.extend(
        w for w, _policy in lab._unrevealed))
    with qtbot.waitSignal(window.lab_changed, timeout=WAIT_MS):
        pass
    assert window.lab_widget(key) is lab and lab.constructed
    assert hidden_when_shown  # painted first without these ...
    qtbot.waitUntil(lambda: all(w.isVisible() for w in hidden_when_shown), timeout=WAIT_MS)
    assert window._revealing is None  # ... then with them, one turn after another
    assert not isinstance(lab, LabLoadError)


def test_a_lab_half_constructed_is_finished_at_once_when_wanted_now(qtbot, make_window):
    window = make_window(initial_lab="pooling")
    window.open_lab("fitting")
    qtbot.waitUntil(lambda: "fitting" in window._building, timeout=WAIT_MS)
    lab = window.show_lab("fitting")  # a session or another lab's hand-off wants it now
    assert window.current_key() == "fitting" and lab.constructed and not window._building
    assert lab.image_panel.isVisible() and lab.fitter is not None or lab.info_label.text()
    assert lab._unrevealed == []


def test_a_language_switch_while_a_lab_is_half_constructed_reaches_it(qtbot, make_window):
    window = make_window(initial_lab="pooling")
    window.open_lab("training")
    qtbot.waitUntil(lambda: "training" in window._building, timeout=WAIT_MS)
    window.set_language("zh_CN")  # the lab is not registered yet: its last step sets the texts
    with qtbot.waitSignal(window.lab_changed, timeout=WAIT_MS):
        pass
    lab = window.current_lab()
    assert lab.tabs.tabText(0) == "曲线" and lab.controls.start_button.text() == "开始"


def test_a_lab_whose_construction_fails_half_way_says_so_in_place(qtbot, make_window,
                                                                  monkeypatch):
    from gui.labs.fitting.lab import FittingLab

    def broken(self):
        raise RuntimeError("no panels today")

    monkeypatch.setattr(FittingLab, "_add_image_panels", broken)
    window = make_window(initial_lab="pooling")
    with qtbot.waitSignal(window.lab_changed, timeout=WAIT_MS):
        window.open_lab("fitting")
    lab = window.current_lab()
    assert isinstance(lab, LabLoadError) and "no panels today" in lab.message_label.text()
    assert "no panels today" in window.statusBar().currentMessage()
    window.show_lab("pooling")  # the window goes on
    assert window.current_key() == "pooling"


def test_the_labs_not_opened_yet_are_prepared_in_idle_moments(qtbot, make_window, monkeypatch):
    import gui.labs.training.lab as training

    monkeypatch.setattr(training, "_reader", None)
    started = []
    monkeypatch.setattr(training, "prefetch", lambda: started.append(True))
    window = make_window(initial_lab="pooling", prepare_labs=True)
    qtbot.waitUntil(lambda: not window._prepare_timer.isActive(), timeout=WAIT_MS)
    assert started == [True]  # the Training lab's digits were asked for, once
    assert all(info.module in sys.modules for info in LABS)
    assert [key for key in (info.key for info in LABS) if window.lab_widget(key)] == ["pooling"]
    assert window._lab_menu_actions["training"].shortcut().toString() == "Ctrl+6"
    assert window.open_action.shortcut().toString() == "Ctrl+O"
    assert window.export_action.shortcut().toString() == "Ctrl+E"
    assert window.quit_action.shortcut().toString() == "Ctrl+Q"
    assert window.about_action.shortcut().toString() == "F1"


def test_geometry_and_last_lab_are_remembered(qtbot, settings):
    first = MainWindow(settings=settings)
    qtbot.addWidget(first)
    first.show()
    first.resize(700, 500)  # within the offscreen screen (800x600)
    first.show_lab("fitting")
    saved_size = (first.width(), first.height())  # no smaller than the labs' minimum
    first.close()
    assert settings.value("labs/last") == "fitting"

    second = MainWindow(settings=settings)
    qtbot.addWidget(second)
    try:
        assert second.current_key() == "fitting"
        # the offscreen screen is only 800 pixels square and the window's minimum may be
        # larger (at most MINIMUM_SIZE): compare what the screen can hold, to the pixel
        # the platform keeps for its frame
        screen = second.screen().geometry()
        assert abs(second.height() - min(saved_size[1], screen.height())) <= 2
        assert abs(second.width() - min(saved_size[0], screen.width())) <= 2
    finally:
        second.shutdown()


def test_unknown_remembered_lab_falls_back_to_the_first(make_window, settings):
    settings.setValue("labs/last", "no-such-lab")
    assert make_window().current_key() == LABS[0].key


def test_default_settings_never_touch_the_users_file(qtbot, isolated_qsettings):
    window = MainWindow()  # the default QSettings, redirected by the conftest fixture
    qtbot.addWidget(window)
    window.show_lab("gallery")
    window.close()
    stored = QSettings(app_module.ORGANIZATION, app_module.APPLICATION)
    assert stored.value("labs/last") == "gallery"
    assert str(isolated_qsettings) in stored.fileName()


class FakeLab(QWidget):
    """A lab using every optional hook of the contract, counting the calls."""

    status_message = pyqtSignal(str)
    instances: list[FakeLab] = []

    def __init__(self):
        super().__init__()
        self.calls: list[str] = []
        self.opened: list[str] = []
        self.action = QAction("Fake lab action", self)
        self.inner = QLabel("inner part", self)
        FakeLab.instances.append(self)

    def activated(self):
        self.calls.append("activated")

    def deactivated(self):
        self.calls.append("deactivated")

    def shutdown(self):
        self.calls.append("shutdown")

    def menu_actions(self):
        return [self.action]

    def export_widget(self):
        return self.inner

    def open_image(self, path):
        self.opened.append(path)


@pytest.fixture
def fake_pooling_lab(monkeypatch):
    """Make the Pooling entry load FakeLab."""
    real = app_module.load_lab_class
    FakeLab.instances.clear()
    monkeypatch.setattr(app_module, "load_lab_class",
                        lambda info: FakeLab if info.key == "pooling" else real(info))
    return FakeLab


def test_lab_hooks_status_and_menu_actions(qtbot, make_window, fake_pooling_lab):
    window = make_window(initial_lab="pooling")
    lab = fake_pooling_lab.instances[0]
    assert lab.calls == ["activated"]
    assert lab.action in window.file_menu.actions()
    assert lab.action.isEnabled()

    lab.status_message.emit("hello from the lab")
    assert window.statusBar().currentMessage() == "hello from the lab"

    window.show_lab("fitting")
    assert lab.calls == ["activated", "deactivated"]
    assert not lab.action.isEnabled()
    window.show_lab("pooling")
    assert lab.action.isEnabled()
    window.close()
    assert lab.calls[-1] == "shutdown"


def test_open_image_goes_to_the_current_lab_or_explains(make_window, fake_pooling_lab,
                                                        tmp_path):
    window = make_window(initial_lab="pooling")
    assert window.open_image_file(tmp_path / "x.png")
    assert fake_pooling_lab.instances[0].opened == [str(tmp_path / "x.png")]
    window.show_lab("fitting")
    if not hasattr(window.current_lab(), "open_image"):
        assert not window.open_image_file(tmp_path / "x.png")
        assert "does not use photographs" in window.statusBar().currentMessage()


def test_open_image_reaches_the_gallery(qtbot, make_window, tmp_path):
    window = make_window(initial_lab="gallery")
    path = tmp_path / "tiny.png"
    pixels = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (20, 1))  # (20, 25) ramp
    assert QImage(pixels.data, 25, 20, 25, QImage.Format.Format_Grayscale8).save(str(path))
    assert window.open_image_file(path)
    lab = window.current_lab()
    qtbot.waitUntil(lambda: lab.current_result() is not None
                    and lab.current_result().request.grey.shape == (20, 25), timeout=WAIT_MS)
    np.testing.assert_allclose(lab.working_image(), pixels / 255.0, atol=1e-6)


def test_export_png_grabs_the_labs_export_widget(make_window, fake_pooling_lab, tmp_path):
    window = make_window(initial_lab="pooling")
    saved = window.export_png(tmp_path / "lab")  # the .png suffix is added
    assert saved == tmp_path / "lab.png"
    image = QImage(str(saved))
    inner = fake_pooling_lab.instances[0].inner
    assert (image.width(), image.height()) == (inner.width(), inner.height())
    assert "Saved" in window.statusBar().currentMessage()


def test_export_png_reports_an_unwritable_folder(make_window, tmp_path):
    window = make_window(initial_lab="fitting")
    assert window.export_png(tmp_path / "missing-folder" / "x.png") is None
    assert "Could not write" in window.statusBar().currentMessage()


def test_a_lab_that_fails_to_load_shows_why(make_window, monkeypatch):
    def broken(info):
        raise RuntimeError("boom in the lab")

    monkeypatch.setattr(app_module, "load_lab_class", broken)
    window = make_window(initial_lab="backprop")
    lab = window.current_lab()
    assert isinstance(lab, LabLoadError)
    assert "boom in the lab" in lab.message_label.text()
    assert "boom in the lab" in window.statusBar().currentMessage()


def test_about_shows_the_version_every_key_and_the_data_provenance(qtbot, make_window):
    window = make_window(initial_lab="convolution")
    window.show_lab("training")
    dialog = window.show_about()
    assert dialog.isVisible()
    text = dialog.browser.toPlainText()
    assert "provenance" in text.lower()
    assert "MNIST" in text
    for photo in ("camera", "astronaut", "chelsea", "coffee", "coins"):
        assert photo in text
    assert f"Version {app_version()}" in text and app_version() != "?"
    # every shortcut of every menu action, the Training lab's File actions included,
    # collected from the actions themselves
    keys = [a.shortcut().toString() for a in window.findChildren(QAction)
            if not a.shortcut().isEmpty()]
    assert {"Ctrl+S", "Ctrl+L", "Ctrl+O", "Ctrl+E", "Ctrl+Q", "F1", "Ctrl+1", "Ctrl+6"} <= \
        set(keys)
    for key in keys:
        assert key in text, key
    assert "Space" in text  # the Convolution lab's animation keys
    # nothing meant for developers: no source paths or Python calls
    for developer in ("engine/", "assets/", ".py", "np.load", "README"):
        assert developer not in text
    dialog.close()


def test_a_status_message_does_not_outlive_its_lab(make_window):
    window = make_window(initial_lab="pooling")
    window.current_lab().status_message.emit("about the pooling lab")
    assert window.statusBar().currentMessage() == "about the pooling lab"
    window.show_lab("fitting")
    assert window.statusBar().currentMessage() == ""


def test_lab_by_key_accepts_titles_and_explains_mistakes():
    assert lab_by_key("Kernel gallery").key == "gallery"
    assert lab_by_key(" TRAINING ").key == "training"
    with pytest.raises(KeyError, match="convolution, gallery"):
        lab_by_key("nope")


# ------------------------------------------------------------------------ warm-up
def test_warmup_shows_progress_and_the_window_answers_meanwhile(qtbot, make_window):
    release = threading.Event()
    reported = threading.Event()

    def slow_warmup(progress):
        progress(1, 3, "convolution forward")
        reported.set()
        assert release.wait(WAIT_MS / 1000)  # "compiling" until the test lets go
        progress(2, 3, "pooling")
        progress(3, 3, "dense layer")

    window = make_window(warmup=slow_warmup, initial_lab="fitting")
    runner = window.warmup_runner
    assert runner.running
    qtbot.waitUntil(lambda: window.warmup_bar.value() == 1, timeout=WAIT_MS)
    assert window.warmup_bar.isVisible()
    assert "convolution forward" in window.warmup_label.text()
    # the worker is blocked, yet the GUI thread still switches labs
    window.show_lab("pooling")
    assert window.current_key() == "pooling" and runner.running
    with qtbot.waitSignal(runner.finished, timeout=WAIT_MS):
        release.set()
    assert not window.warmup_bar.isVisible()
    assert "ready" in window.statusBar().currentMessage()


def test_warmup_failure_becomes_a_status_message(qtbot, make_window):
    def failing(progress):
        raise RuntimeError("no compiler")

    window = make_window(warmup=failing)
    with qtbot.waitSignal(window.warmup_runner.failed, timeout=WAIT_MS):
        pass
    assert not window.warmup_bar.isVisible()
    assert "no compiler" in window.statusBar().currentMessage()


def test_the_engine_warmup_runs_in_the_worker(qtbot):
    runner = WarmupRunner()
    assert runner.available
    steps, failures = [], []
    runner.progress.connect(lambda done, total, name: steps.append((done, total, name)))
    runner.failed.connect(failures.append)
    try:
        assert runner.start()
        qtbot.waitUntil(lambda: not runner.running, timeout=300_000)
    finally:
        runner.stop()
    assert failures == []
    assert steps and steps[-1][0] == steps[-1][1]
    # kernels loaded from the cache count one by one; compiled in child processes, the
    # bar counts per mille of the compile time: either way it only moves forward
    done = [s[0] for s in steps]
    assert done == sorted(done) and done[0] >= 1 and len(set(s[1] for s in steps)) == 1


def test_the_propagate_size_hints_warning_is_silenced_and_others_pass(capfd):
    from PyQt6.QtCore import QtMsgType

    from gui import app as shell

    shell.install_qt_message_filter()
    shell.install_qt_message_filter()  # idempotent
    seen = []
    previous, shell._previous_handler = shell._previous_handler, \
        lambda mode, context, message: seen.append(message)
    try:
        shell._qt_message_handler(QtMsgType.QtWarningMsg, None,
                                  "This plugin does not support propagateSizeHints()")
        shell._qt_message_handler(QtMsgType.QtWarningMsg, None, "something else")
    finally:
        shell._previous_handler = previous
    assert seen == ["something else"]


def test_screenshot_sizes_parse_and_refuse_with_a_sentence():
    from gui.app import parse_size

    assert parse_size("1280x720") == (1280, 720)
    assert parse_size(" 1024 × 640 ") == (1024, 640)
    for bad in ("1280", "wide", "0x0", "100000x10"):
        with pytest.raises(ValueError, match="--size"):
            parse_size(bad)


def test_every_text_can_be_set_again(make_window):
    """retranslate() on the window reaches every built lab and leaves them working."""
    window = make_window(initial_lab="convolution")
    for info in LABS:
        window.show_lab(info.key)
    before = window.lab_list.item(0).text()
    window.retranslate()
    assert window.lab_list.item(0).text() == before
    for info in LABS:
        lab = window.lab_widget(info.key)
        assert not isinstance(lab, LabLoadError)
        if info.key != "training":  # the Training lab's texts are its own engineer's
            assert callable(getattr(lab, "retranslate", None)), info.key
    assert "could not" not in window.statusBar().currentMessage()


@pytest.mark.parametrize("size", [(1024, 640), (1280, 720)])
def test_every_lab_fits_a_small_window_without_cut_controls(qtbot, make_window, size):
    from gui.app import MINIMUM_SIZE
    from gui.widgets.matrix_view import number_font_px

    window = make_window(initial_lab="convolution")
    for info in LABS:
        window.show_lab(info.key)
    hint = window.minimumSizeHint()
    assert hint.width() <= MINIMUM_SIZE[0] and hint.height() <= MINIMUM_SIZE[1], hint
    window.resize(*size)
    for info in LABS:
        lab = window.show_lab(info.key)
        QApplication.processEvents()
        scroll = getattr(lab, "settings_scroll", None) or getattr(lab, "controls_scroll", None)
        column = scroll.widget()
        assert not scroll.horizontalScrollBar().isVisible(), info.key
        assert column.width() >= column.minimumSizeHint().width(), info.key  # nothing cut
    training_fits(window.show_lab("training"))
    lab = window.show_lab("convolution")
    QApplication.processEvents()
    products = lab.strip.products[0]
    rows, cols = products.values.shape
    cell_w = products.graphics.viewport().width() / cols
    cell_h = products.graphics.viewport().height() / rows
    assert number_font_px("-1", cell_w, cell_h) is not None  # the products keep their numbers


def training_fits(lab) -> None:
    """The Training lab's tabs all in sight on the tab bar, and the confusion matrix's
    cells and every misclassified tile inside their views."""
    from PyQt6.QtCore import QRectF
    from PyQt6.QtGui import QPolygonF

    QApplication.processEvents()
    bar = lab.tabs.tabBar()
    for k in range(lab.tabs.count()):
        if lab.tabs.isTabVisible(k):
            assert bar.rect().contains(bar.tabRect(k)), (k, bar.tabRect(k), bar.rect())
    lab.tabs.setCurrentIndex(2)  # Validation
    lab.confusion.set_confusion(np.diag(np.arange(1, 11)))
    lab.misclassified.set_digits(np.zeros((40, 1, 28, 28), np.float32), np.zeros(40, int),
                                 np.ones(40, int), np.arange(40), 40)
    for _ in range(3):
        QApplication.processEvents()

    def inside(view, box, rect) -> bool:
        shown = view.mapFromScene(box.mapViewToScene(QPolygonF(rect))).boundingRect()
        return view.viewport().rect().adjusted(-1, -1, 1, 1).contains(shown)

    K = lab.confusion.classes
    assert inside(lab.confusion, lab.confusion.plot.vb, QRectF(0, 0, K, K))
    mis = lab.misclassified
    assert inside(mis, mis.view, mis.item.boundingRect())
    for tab, views in ((2, (lab.confusion, mis)),
                       (0, (lab.curves, lab.kernels_view, lab.grad_view)),
                       (1, (lab.probe_view, lab.probe_probs))):
        lab.tabs.setCurrentIndex(tab)
        for _ in range(3):
            QApplication.processEvents()
        for view in views:  # no title or legend makes a view's items wider than it
            width = view.centralWidget.geometry().width()
            assert width <= view.width() + 1, (type(view).__name__, width, view.size())
    lab.tabs.setCurrentIndex(0)


def test_training_behind_another_lab_shows_in_the_status_bar_and_pauses_in_one_click(
        training_window, qtbot):
    from gui.labs.training.session import State

    window, lab = training_window
    assert not window.background.isVisible()  # the lab itself is shown
    window.show_lab("pooling")
    qtbot.waitUntil(window.background.isVisible, timeout=WAIT_MS)
    assert window.background.text_shown().startswith("Training: epoch")
    assert "Pause" in window.background.text()
    qtbot.mouseClick(window.background, Qt.MouseButton.LeftButton)
    assert lab.state is State.PAUSED
    qtbot.waitUntil(lambda: not window.background.isVisible(), timeout=WAIT_MS)
    assert window.current_key() == "pooling"  # pausing does not switch labs
