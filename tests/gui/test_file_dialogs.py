"""gui/widgets/file_dialogs.py: every dialog starts in the folder used last."""

from __future__ import annotations

from pathlib import Path

from gui.widgets import file_dialogs


def fake_dialogs(monkeypatch, answers: list[str]) -> list[str]:
    """Replace both QFileDialog calls; returns the start paths they were given."""
    starts: list[str] = []

    def dialog(parent, title, start, file_filter):
        starts.append(start)
        return answers.pop(0), ""

    monkeypatch.setattr(file_dialogs.QFileDialog, "getOpenFileName", dialog)
    monkeypatch.setattr(file_dialogs.QFileDialog, "getSaveFileName", dialog)
    return starts


def test_open_save_and_export_start_where_the_last_one_ended(monkeypatch, settings, tmp_path):
    file_dialogs.use_settings(settings)
    photos, exports = tmp_path / "photos", tmp_path / "exports"
    photos.mkdir()
    exports.mkdir()
    starts = fake_dialogs(monkeypatch, [str(photos / "cat.png"), str(exports / "lab.png"),
                                        "", str(photos / "dog.png")])
    assert file_dialogs.open_file_name(None, "Open image", "Images (*.png)") == \
        str(photos / "cat.png")
    assert file_dialogs.save_file_name(None, "Export", "lab.png", "PNG (*.png)") == \
        str(exports / "lab.png")
    assert file_dialogs.open_file_name(None, "Open", "*") is None  # cancelled: no change
    file_dialogs.open_file_name(None, "Open", "*")
    assert Path(starts[0]) == Path.home()  # nothing remembered yet
    assert Path(starts[1]) == photos / "lab.png"  # the save offers its name in that folder
    assert Path(starts[2]) == exports and Path(starts[3]) == exports
    assert settings.value(file_dialogs.LAST_DIR_KEY) == str(photos)
    file_dialogs.use_settings(None)


def test_a_folder_that_has_gone_falls_back_to_home(settings, tmp_path):
    file_dialogs.use_settings(settings)
    settings.setValue(file_dialogs.LAST_DIR_KEY, str(tmp_path / "deleted"))
    assert file_dialogs.last_folder() == Path.home()
    file_dialogs.use_settings(None)


def test_the_main_window_and_the_gallery_share_the_folder(qtbot, monkeypatch, settings,
                                                          tmp_path):
    from gui.app import MainWindow

    window = MainWindow(settings=settings, initial_lab="gallery")
    qtbot.addWidget(window)
    starts = fake_dialogs(monkeypatch, [str(tmp_path / "shot.png"), ""])
    window.export_dialog()
    window.current_lab().open_image_dialog()
    assert Path(starts[0]) == Path.home() / "cnn-explorer-gallery.png"
    assert Path(starts[1]) == tmp_path
    window.shutdown()
