"""File > Save session… / Open session…: the whole window in one file, and the last one.

:class:`SessionKeeper` belongs to the main window. Saving asks every built lab for
``session_state()`` -> (part, arrays) (``gui.labs._base``; a lab not opened yet keeps
the part a session gave it), and the Training lab for its trained weights, which are
copied between two training steps (``session_weights``), then writes one file through
``engine.sessions`` (a zip of JSON and npz arrays, no pickle). Opening reads and checks
the whole file first (``engine.sessions.load_session``): a damaged file is one
sentence in the status bar and nothing changes. Then the session's current lab is
shown and every built lab gets its part (``restore_session(part, arrays)``); a lab
not built yet gets it when it is first opened.

When the window closes (hidden already), the session is also written to
``last.cnnsession`` beside the settings file, with the weights if the training worker
hands them over within ``LAST_WEIGHTS_WAIT_S`` (it does between two steps). On the
next start the settings of that session come back (not the weights); File > Reopen
last session with its weights brings them too.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from PyQt6.QtCore import QEventLoop, QObject, QSettings, QTimer, pyqtSignal

from engine.i18n import tr, tr_noop
from engine.sessions import SESSION_SUFFIX, SessionFileError, load_session, save_session
from gui.labs import LABS, lab_by_key
from gui.widgets import file_dialogs

__all__ = ["SessionKeeper", "last_session_path", "SESSION_FILTER"]

SESSION_FILTER = tr_noop("CNN Explorer session (*.cnnsession)")
LAST_SESSION = "last" + SESSION_SUFFIX
#: at close, how long the last session waits for the trained weights (the window is
#: hidden by then; a training step that takes longer leaves the weights out)
LAST_WEIGHTS_WAIT_S = 1.0


def last_session_path(settings: QSettings) -> Path:
    """Where the last session is kept: beside the settings file."""
    return Path(settings.fileName()).resolve().parent / LAST_SESSION


class SessionKeeper(QObject):
    """Saves and opens sessions for a MainWindow (``window``: lab_widget, show_lab,
    current_key, show_message).

    Signals
    -------
    saved(path) : a session file was written (after the weights arrived)
    restored(path) : a session was put back
    """

    saved = pyqtSignal(str)
    restored = pyqtSignal(str)

    def __init__(self, window, settings: QSettings):
        super().__init__(window)
        self.window = window
        self.settings = settings
        self._pending: dict[str, tuple[dict, dict, bool]] = {}  # labs not built yet

    # ------------------------------------------------------------------ saving
    def collect(self) -> tuple[dict, dict]:
        """(document, arrays) of the window now, without the trained weights."""
        labs, arrays = {}, {}
        for info in LABS:
            lab = self.window.lab_widget(info.key)
            if lab is None or not callable(getattr(lab, "session_state", None)):
                if info.key in self._pending:  # a session's part, not used yet: kept
                    part, part_arrays, _weights = self._pending[info.key]
                    labs[info.key] = part
                    arrays.update({f"{info.key}/{k}": v for k, v in part_arrays.items()})
                continue
            part, part_arrays = lab.session_state()
            part = dict(part, arrays=[f"{info.key}/{k}" for k in part_arrays])
            labs[info.key] = part
            arrays.update({f"{info.key}/{k}": v for k, v in part_arrays.items()})
        return {"current_lab": self.window.current_key(), "labs": labs}, arrays

    def save(self, path, quiet: bool = False) -> bool:
        """Write the session to ``path``; the Training lab's weights are waited for (they
        arrive between two steps), then the file is written and ``saved`` emitted.
        False when it was refused at once (said in the status bar unless ``quiet``)."""
        doc, arrays = self.collect()
        training = self.window.lab_widget("training")
        asker = getattr(training, "session_weights", None)

        def write(weights: dict) -> bool:
            part = doc["labs"].get("training")
            if part is not None and weights:
                part["arrays"] = part.get("arrays", []) + [f"training/{k}" for k in weights]
                arrays.update({f"training/{k}": v for k, v in weights.items()})
            try:
                out = save_session(path, doc, arrays)
            except SessionFileError as err:
                if not quiet:
                    self.window.show_message(tr("Could not save the session: {error}").format(
                        error=err))
                return False
            if not quiet:
                self.window.show_message(tr("Session saved to {path}").format(path=out))
            self.saved.emit(str(out))
            return True

        if callable(asker) and asker(write):
            return True
        return write({})

    def save_last(self, wait_s: float = LAST_WEIGHTS_WAIT_S) -> None:
        """At close (the window is hidden already): the last session, with the weights
        if they arrive within ``wait_s`` (a worker answers between two steps)."""
        doc, arrays = self.collect()
        training = self.window.lab_widget("training")
        weights: dict = {}
        asker = getattr(training, "session_weights", None)
        if callable(asker):
            loop = QEventLoop()

            def arrived(copy: dict) -> None:
                weights.update(copy)
                loop.quit()

            if asker(arrived) and not weights:
                QTimer.singleShot(int(wait_s * 1000), loop.quit)
                loop.exec()
        if weights and "training" in doc["labs"]:
            doc["labs"]["training"]["arrays"] += [f"training/{k}" for k in weights]
            arrays.update({f"training/{k}": v for k, v in weights.items()})
        try:
            save_session(last_session_path(self.settings), doc, arrays)
        except SessionFileError:
            traceback.print_exc()  # a last session that cannot be kept must not stop quitting

    # ------------------------------------------------------------------ opening
    def open(self, path, weights: bool = True, quiet_missing: bool = False,
             last: bool = False) -> bool:
        """Read ``path`` whole; a damaged file is one sentence and changes nothing.
        Then every lab's part is put back (``weights``: the trained weights too).
        ``quiet_missing``: no file, no message; ``last``: it is the last session (at
        start: its settings only, said so)."""
        if quiet_missing and not Path(path).is_file():
            return False
        try:
            doc, arrays = load_session(path)
        except SessionFileError as err:
            self.window.show_message(tr("Could not open the session: {error}").format(
                error=err))
            return False
        current = doc.get("current_lab")
        try:
            current = lab_by_key(current).key if current else None
        except KeyError:
            current = None
        self._pending = {}
        skipped = 0
        for key, part in doc["labs"].items():
            try:
                lab_by_key(key)
            except KeyError:
                continue  # a lab this version does not have
            prefix = f"{key}/"
            part_arrays = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            lab = self.window.lab_widget(key)
            if lab is None and key != current:
                self._pending[key] = (part, part_arrays, weights)
                continue
            if lab is None:
                lab = self.window.show_lab(key)
            skipped += self._restore(lab, part, part_arrays, weights)
        if current:
            self.window.show_lab(current)
        note = tr(" ({n} settings did not fit and were left as they were)").format(
            n=skipped) if skipped else ""
        if last and not weights:
            text = tr("The last session's settings are back (File > Reopen last session "
                      "with its weights brings its trained network too).")
        else:
            text = tr("Session opened from {path}").format(path=path)
        self.window.show_message(text + note)
        self.restored.emit(str(path))
        return True

    def lab_built(self, key: str, lab) -> None:
        """A lab was just built: give it the session's part it has been waiting for."""
        pending = self._pending.pop(key, None)
        if pending is not None:
            self._restore(lab, *pending)

    def _restore(self, lab, part: dict, arrays: dict, weights: bool) -> int:
        restore = getattr(lab, "restore_session", None)
        if not callable(restore):
            return 0
        try:
            return int(restore(part, arrays, weights=weights) or 0)
        except Exception as err:  # noqa: BLE001 - one lab's part must not stop the others
            traceback.print_exc()
            self.window.show_message(tr("A lab could not take its part of the session: "
                                        "{error}").format(error=err))
            return 1

    # ------------------------------------------------------------------ dialogs
    def save_dialog(self) -> None:
        path = file_dialogs.save_file_name(self.window, tr("Save session"),
                                           "cnn-explorer" + SESSION_SUFFIX, tr(SESSION_FILTER))
        if path:
            self.save(path)

    def open_dialog(self) -> None:
        path = file_dialogs.open_file_name(self.window, tr("Open session"), tr(SESSION_FILTER))
        if path:
            self.open(path)

    def reopen_last(self) -> None:
        path = last_session_path(self.settings)
        if not path.is_file():
            self.window.show_message(tr("There is no last session yet (it is kept when the "
                                        "window closes)."))
            return
        self.open(path, weights=True)
