"""The app in a real X11 window on a virtual screen (Xvfb), driven with xdotool as a
learner would: open every lab, step an animation, train, save and load a model, quit.

Offscreen rendering hides what only a real window meets: Qt's X11 plugin and the system
libraries it needs (README.md's package list, checked by gui/system_check.py), keyboard
focus, file dialogs, quitting while threads run. The app appends every status-bar message
and lab switch to the file named by CNN_EXPLORER_STATUS_LOG; the test waits on those lines.

Skipped only where Xvfb or xdotool is missing (README's test command installs both).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gui.labs import LABS

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 240  # a first start compiles the kernels in the background (about a minute)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("Xvfb")
                       or not shutil.which("xdotool"),
                       reason="needs Xvfb and xdotool (apt-get install xvfb xdotool)"),
]


@pytest.fixture
def display():
    """A private virtual screen; Xvfb picks a free display number (-displayfd)."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x720x24",
         "-nolisten", "tcp"], pass_fds=(write_end,),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    number = b""
    while not number.endswith(b"\n"):  # Xvfb writes the number once it accepts clients
        chunk = os.read(read_end, 16)
        if not chunk:
            break
        number += chunk
    os.close(read_end)
    assert number.strip(), "Xvfb did not start"
    yield f":{number.decode().strip()}"
    server.terminate()
    server.wait(10)


class App:
    """``python main.py`` on ``display`` with a throw-away home, and xdotool at hand."""

    def __init__(self, display: str, home: Path):
        self.display = display
        self.log = home / "status.log"
        self.env = {key: value for key, value in os.environ.items()
                    if key not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
        self.env.update(DISPLAY=display, HOME=str(home), XDG_CONFIG_HOME=str(home / "config"),
                        LANG="C.UTF-8", LANGUAGE="en", CNN_EXPLORER_STATUS_LOG=str(self.log))
        self.env.pop("LC_ALL", None)
        self.process = subprocess.Popen([sys.executable, str(ROOT / "main.py")], cwd=ROOT,
                                        env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.seen = 0  # log lines already matched

    def xdotool(self, *args: str) -> str:
        done = subprocess.run(["xdotool", *args], env=self.env, capture_output=True,
                              text=True, timeout=WAIT_S)
        return done.stdout.strip()

    def window(self, title: str) -> str:
        """The id of the visible window called ``title``, waiting until it appears."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            found = self.xdotool("search", "--onlyvisible", "--name", title)
            if found:
                return found.splitlines()[0]
            time.sleep(0.2)
        raise AssertionError(f"no window called {title!r}; {self.output()}")

    def focus_and_key(self, window: str, *keys: str) -> None:
        self.xdotool("windowfocus", "--sync", window)
        for key in keys:
            self.xdotool("key", "--clearmodifiers", key)

    def type_text(self, window: str, text: str) -> None:
        self.xdotool("windowfocus", "--sync", window)
        self.xdotool("type", "--delay", "5", text)

    def wait_log(self, start: str) -> str:
        """The first new log line that starts with ``start``."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            lines = self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() \
                else []
            for k in range(self.seen, len(lines)):
                if lines[k].startswith(start):
                    self.seen = k + 1
                    return lines[k]
            time.sleep(0.1)
        raise AssertionError(f"the app never said {start!r}; {self.output()}")

    def answer_dialog(self, title: str, text: str) -> None:
        """Type ``text`` into the file dialog called ``title`` (its name field) and accept."""
        dialog = self.window(title)
        self.xdotool("key", "--clearmodifiers", "ctrl+a")
        self.type_text(dialog, text)
        self.focus_and_key(dialog, "Return")

    def quit(self, main: str) -> None:
        """Ctrl+Q; the app must end cleanly: exit code 0, no traceback, no destroyed thread."""
        self.focus_and_key(main, "ctrl+q")
        _, stderr = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, stderr
        assert "Traceback" not in stderr and "QThread: Destroyed" not in stderr, stderr

    def kill(self) -> None:
        """End the app if a failed test left it running."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()

    def output(self) -> str:
        log = self.log.read_text(encoding="utf-8") if self.log.exists() else ""
        return f"status log:\n{log}"


def test_a_learner_session_in_a_real_window(display, tmp_path):
    app = App(display, tmp_path)
    try:
        main = app.window("CNN Explorer")
        app.wait_log(f"lab: {LABS[0].key}")
        app.focus_and_key(main, "Right", "Right", "Left", "space", "space")  # step, play, pause
        for number, info in enumerate(LABS[1:], start=2):  # the first one is open
            app.focus_and_key(main, f"ctrl+{number}")
            app.wait_log(f"lab: {info.key}")
            if info.key == "pooling":
                app.focus_and_key(main, "End", "Home", "Right")  # the pooling animation
        training = next(n for n, info in enumerate(LABS, start=1) if info.key == "training")
        if LABS[-1].key != "training":
            app.focus_and_key(main, f"ctrl+{training}")
            app.wait_log("lab: training")
        app.focus_and_key(main, "ctrl+Return")  # Start
        app.wait_log("Training…")
        app.wait_log("Epoch 1: validation accuracy")
        app.focus_and_key(main, "ctrl+Return")  # Pause

        model = tmp_path / "my model.npz"
        app.focus_and_key(main, "ctrl+s")
        dialog = app.window("Save trained model")
        app.xdotool("key", "--clearmodifiers", "ctrl+a")
        app.type_text(dialog, str(model))
        app.focus_and_key(dialog, "Return")
        assert app.wait_log("Model saved to") == f"Model saved to {model}"
        assert model.stat().st_size > 0

        app.focus_and_key(main, "ctrl+l")
        dialog = app.window("Load trained model")
        app.xdotool("key", "--clearmodifiers", "ctrl+a")
        app.type_text(dialog, str(model))
        app.focus_and_key(dialog, "Return")
        app.wait_log(f"Model loaded from {model}")

        app.focus_and_key(main, "ctrl+Return")  # Resume the loaded model, then quit at once
        app.quit(main)
    finally:
        app.kill()


def _switch_language(app: App, main: str, code: str, home: Path) -> None:
    """View > Language / 语言 > English or 简体中文 with the keyboard (Alt+V opens View, L the
    Language menu with its first entry, English, current), until the settings say ``code``:
    a busy machine may still be opening a menu when the next key arrives, so a try that
    did not take is closed (Escape) and made again."""
    for _attempt in range(5):
        app.focus_and_key(main, "alt+v")
        for key in ("l", *(["Down"] if code == "zh_CN" else []), "Return"):
            time.sleep(0.4)
            app.xdotool("key", key)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if _remembered_language(app, home) == code:
                return
            time.sleep(0.2)
        app.xdotool("key", "Escape", "Escape")
    raise AssertionError(f"the language never became {code}; {app.output()}")


def _remembered_language(app: App, home: Path) -> str | None:
    for path in (home / "config").rglob("*.conf"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("language="):
                return line.partition("=")[2]
    return None


def test_switching_language_from_the_menu_while_labs_work(display, tmp_path):
    """The language switches from the menu while a Convolution animation plays and while
    the Training lab trains; both go on, the choice is remembered."""
    app = App(display, tmp_path)
    try:
        main = app.window("CNN Explorer")
        app.wait_log(f"lab: {LABS[0].key}")
        app.focus_and_key(main, "Right", "Right", "space")  # the animation plays
        _switch_language(app, main, "zh_CN", tmp_path)
        training = next(n for n, info in enumerate(LABS, start=1) if info.key == "training")
        app.focus_and_key(main, f"ctrl+{training}")
        app.wait_log("lab: training")
        app.focus_and_key(main, "ctrl+Return")  # Start
        app.wait_log("训练中…")
        _switch_language(app, main, "en", tmp_path)  # while it trains
        app.wait_log("Epoch ")  # the run went on, now in English
        app.quit(main)
    finally:
        app.kill()


def test_data_sets_animations_and_sessions_in_a_real_window(display, tmp_path):
    """Export a GIF from the Convolution lab, open a CIFAR-10 folder in the Training lab,
    save the session and open it again, quit; the next start brings the settings back."""
    from engine.gif import read_gif_frames
    from tests.datafiles import write_cifar_folder

    cifar = tmp_path / "data" / "cifar-10-batches-py"
    write_cifar_folder(cifar, per_batch=20)
    app = App(display, tmp_path)
    try:
        main = app.window("CNN Explorer")
        app.wait_log(f"lab: {LABS[0].key}")
        convolution = next(n for n, i in enumerate(LABS, start=1) if i.key == "convolution")
        app.focus_and_key(main, f"ctrl+{convolution}")
        app.focus_and_key(main, "ctrl+g")
        dialog = app.window("Export animation")
        app.focus_and_key(dialog, "Return")  # all steps, the lab's speed
        gif = tmp_path / "conv.gif"
        app.answer_dialog("Save the animation as a GIF", str(gif))
        line = app.wait_log("Saved the animation")
        frames, _durations, _size = read_gif_frames(gif)
        assert f"({frames} frames)" in line and frames > 1

        training = next(n for n, i in enumerate(LABS, start=1) if i.key == "training")
        app.focus_and_key(main, f"ctrl+{training}")
        app.wait_log("lab: training")
        app.focus_and_key(main, "ctrl+d")
        app.answer_dialog("Open data set folder", str(cifar))
        assert "3×32×32" in app.wait_log("Opened cifar-10-batches-py")

        session = tmp_path / "my session.cnnsession"
        app.focus_and_key(main, "ctrl+shift+s")
        app.answer_dialog("Save session", str(session))
        app.wait_log("Session saved to")
        assert session.stat().st_size > 0
        app.focus_and_key(main, "ctrl+shift+o")
        app.answer_dialog("Open session", str(session))
        app.wait_log("Session opened from")
        app.wait_log("Opened cifar-10-batches-py")  # the session's data set, read again
        app.quit(main)
        assert (tmp_path / "config").rglob("last.cnnsession")
    finally:
        app.kill()
    again = App(display, tmp_path)
    try:
        main = again.window("CNN Explorer")
        again.wait_log("The last session's settings are back")
        again.wait_log("Opened cifar-10-batches-py")
        again.quit(main)
    finally:
        again.kill()
