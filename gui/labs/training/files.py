"""Saving and loading in the Training lab: the trained model (.npz, the same
file as ``main.py train`` writes) and the network spec (JSON).

A mixin for :class:`gui.labs.training.lab.TrainingLab`; it relies on the lab's
``session`` and ``status_message``. The session decides (the model is replaced only
when the new one is built; while a worker exists it owns the weights, so saving is a
command the worker carries out between two steps); this module reads and writes
the spec files and shows the dialogs.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from engine.i18n import tr
from gui.widgets import file_dialogs

__all__ = ["ModelFilesMixin", "read_spec_file", "MAX_SPEC_BYTES"]

#: A spec of the largest network the lab shows is about 10 KB of JSON.
MAX_SPEC_BYTES = 1_000_000


def read_spec_file(path) -> list:
    """The parsed JSON of a spec file; ValueError (a sentence) for anything else.

    Only regular files are read (a FIFO would hang, /dev/zero never ends), and at
    most :data:`MAX_SPEC_BYTES` of them.
    """
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(tr("{path} is not a regular file").format(path=path))
        if info.st_size > MAX_SPEC_BYTES:
            raise ValueError(tr("the file has {n:,} bytes; a network spec has at most {limit:,}")
                             .format(n=info.st_size, limit=MAX_SPEC_BYTES))
        with open(path, "rb") as f:
            text = f.read(MAX_SPEC_BYTES + 1).decode("utf-8")
        return json.loads(text)
    except UnicodeDecodeError:
        raise ValueError(tr("the file is not UTF-8 text")) from None
    except json.JSONDecodeError as err:
        raise ValueError(tr("the file is not valid JSON ({error})").format(error=err)) from None
    except RecursionError:
        raise ValueError(tr("the file nests its layers too deeply")) from None
    except OSError as err:
        raise ValueError(str(err)) from None


class ModelFilesMixin:
    """File > Save/Load trained model and network spec."""

    def save_model(self, path: str) -> None:
        """Save the trained model (.npz, the CLI's format); ``model_saved`` reports it."""
        self.session.save_model(str(path))

    def load_model(self, path: str) -> bool:
        """Load a .npz model; training can continue from it (Resume). Nothing changes
        when it cannot be loaded or built."""
        return self.session.load_model(str(path))

    def save_spec(self, path: str) -> None:
        spec = self.session.current_spec()
        try:
            Path(path).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
        except OSError as err:
            self.status_message.emit(tr("Could not save the network spec: {error}")
                                     .format(error=err))
            return
        self.status_message.emit(tr("Network spec saved to {path}").format(path=path))

    def load_spec(self, path: str) -> bool:
        """Load a JSON spec; the current network (trained or not) stays unless the new
        one can be shown and built."""
        try:
            spec = read_spec_file(path)
        except ValueError as err:
            self.status_message.emit(tr("Could not load the network spec: {error}")
                                     .format(error=err))
            return False
        if not self.session.load_spec(spec):
            return False
        self.status_message.emit(tr("Network spec loaded from {path}").format(path=path))
        return True

    def _save_model_dialog(self) -> None:
        path = file_dialogs.save_file_name(self, tr("Save trained model"), "model.npz",
                                           tr("Model (*.npz)"))
        if path:
            self.save_model(path)

    def _load_model_dialog(self) -> None:
        path = file_dialogs.open_file_name(self, tr("Load trained model"), tr("Model (*.npz)"))
        if path:
            self.load_model(path)

    def _save_spec_dialog(self) -> None:
        path = file_dialogs.save_file_name(self, tr("Save network spec"), "network.json",
                                           tr("JSON (*.json)"))
        if path:
            self.save_spec(path)

    def _load_spec_dialog(self) -> None:
        path = file_dialogs.open_file_name(self, tr("Load network spec"), tr("JSON (*.json)"))
        if path:
            self.load_spec(path)
