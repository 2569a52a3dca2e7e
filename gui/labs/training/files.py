"""Saving and loading in the Training lab: the trained model (.npz, the same
file as ``main.py train`` writes) and the network spec (JSON).

A mixin for :class:`gui.labs.training.lab.TrainingLab`; it relies on the lab's
``trainer``, ``builder``, ``controls``, ``status_message``, ``model_saved`` and
its worker helpers. While a worker exists it owns the weights, so saving is a
command the worker carries out between two steps.
"""

from __future__ import annotations

import json
from pathlib import Path

from PyQt6.QtWidgets import QFileDialog

__all__ = ["ModelFilesMixin", "INPUT_SHAPE"]

INPUT_SHAPE = (1, 28, 28)


class ModelFilesMixin:
    """File > Save/Load trained model and network spec."""

    def save_model(self, path: str) -> None:
        """Save the trained model (.npz, the CLI's format); ``model_saved`` reports it."""
        if self.trainer is None:
            self.status_message.emit("There is no network to save: the spec is invalid.")
            return
        w = self._ensure_worker()
        w.save_model(str(path))  # the worker owns the weights: it saves between two steps

    def load_model(self, path: str) -> bool:
        """Load a .npz model; training can continue from it (Resume)."""
        from engine.network import ModelFileError, Network
        from engine.training import Trainer

        try:
            network = Network.load(path)
        except (ModelFileError, OSError, ValueError) as err:
            self.status_message.emit(f"Could not load the model: {err}")
            return False
        if tuple(network.input_shape) != INPUT_SHAPE or network.num_classes != 10:
            self.status_message.emit(
                f"Could not load the model: it takes inputs of shape {network.input_shape} "
                f"with {network.num_classes} classes, not 28x28 digits with 10 classes")
            return False
        self._stop_worker()
        self._show_spec_in_builder(network.spec)
        s = self.controls.settings()
        self._install_trainer(Trainer(network, *self._data, optimizer=s.optimizer, lr=s.lr,
                                      batch_size=s.batch_size, seed=s.seed, augment=s.augment))
        self._loaded_model = True
        self._set_state("paused")
        self._ensure_worker()  # evaluates the loaded network for the curves and confusion
        self.status_message.emit(f"Model loaded from {path}; Resume trains it further.")
        return True

    def _show_spec_in_builder(self, spec) -> None:
        self.builder.blockSignals(True)
        try:
            self.builder.set_spec(spec)
        except (ValueError, KeyError) as err:
            self.status_message.emit(f"The builder cannot show this network ({err}).")
        finally:
            self.builder.blockSignals(False)

    def save_spec(self, path: str) -> None:
        spec = self.trainer.network.spec if self.trainer is not None else self.builder.spec()
        try:
            Path(path).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
        except OSError as err:
            self.status_message.emit(f"Could not save the network spec: {err}")
            return
        self.status_message.emit(f"Network spec saved to {path}")

    def load_spec(self, path: str) -> bool:
        try:
            spec = json.loads(Path(path).read_text(encoding="utf-8"))
            if not isinstance(spec, list) or not all(isinstance(s, dict) for s in spec):
                raise ValueError("the file must hold a list of layers, e.g. "
                                 '[{"type": "conv", "filters": 8, "kernel": 3}, ...]')
            self.builder.set_spec(spec)
        except (OSError, ValueError, KeyError, TypeError) as err:
            self.status_message.emit(f"Could not load the network spec: {err}")
            return False
        self._rebuild()
        self.status_message.emit(f"Network spec loaded from {path}")
        return True

    def _save_model_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save trained model", "model.npz",
                                              "Model (*.npz)")
        if path:
            self.save_model(path)

    def _load_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load trained model", "", "Model (*.npz)")
        if path:
            self.load_model(path)

    def _save_spec_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save network spec", "network.json",
                                              "JSON (*.json)")
        if path:
            self.save_spec(path)

    def _load_spec_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load network spec", "", "JSON (*.json)")
        if path:
            self.load_spec(path)
