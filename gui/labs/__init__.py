"""The labs the main window lists, in order, and how to build one.

A lab lives in its own module under ``gui/labs/<key>/``. The shell imports it only when
the learner first opens it, so a lab that is not written yet (or fails to import)
costs nothing at start-up and shows a one-line placeholder instead.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

__all__ = ["LabInfo", "LABS", "lab_by_key", "lab_is_available", "load_lab_class"]


@dataclass(frozen=True)
class LabInfo:
    """One entry of the lab list.

    Attributes
    ----------
    key : str
        Short name used on the command line (``screenshot --lab KEY``), in settings and
        as the PNG file name.
    title : str
        Shown in the lab list.
    module : str
        Dotted module path of the lab.
    class_name : str
        The QWidget subclass in ``module``.
    blurb : str
        One line: what the lab teaches (the list's tooltip and the placeholder text).
    """

    key: str
    title: str
    module: str
    class_name: str
    blurb: str


LABS: list[LabInfo] = [
    LabInfo("convolution", "Convolution", "gui.labs.convolution.lab", "ConvolutionLab",
            "Slide a kernel over an image one window at a time: padding, stride and the "
            "output-size formula."),
    LabInfo("gallery", "Kernel gallery", "gui.labs.gallery.lab", "GalleryLab",
            "Classic kernels (edges, blur, sharpen) on a real photograph, then activation "
            "and pooling."),
    LabInfo("pooling", "Pooling", "gui.labs.pooling.lab", "PoolingLab",
            "Max and average pooling, the argmax map and how the gradient is routed back."),
    LabInfo("backprop", "Backprop", "gui.labs.backprop.lab", "BackpropLab",
            "The convolution backward pass: delta maps, the 180-degree kernel, dW and db, "
            "checked numerically."),
    LabInfo("fitting", "Kernel fitting", "gui.labs.fitting.lab", "FittingLab",
            "Learn a 3x3 kernel by gradient descent until it reproduces a known filter."),
    LabInfo("training", "Training", "gui.labs.training.lab", "TrainingLab",
            "Train a small CNN live on handwritten digits: curves, kernels, feature maps, "
            "deltas."),
]


def lab_by_key(key: str) -> LabInfo:
    """The lab whose key or title matches ``key`` (case-insensitive).

    Raises
    ------
    KeyError
        Naming the valid keys.
    """
    wanted = key.strip().lower()
    for info in LABS:
        if wanted in (info.key, info.title.lower()):
            return info
    valid = ", ".join(info.key for info in LABS)
    raise KeyError(f"there is no lab called {key!r}; the labs are: {valid}")


def lab_is_available(info: LabInfo) -> bool:
    """Whether the lab's module exists (without importing it)."""
    try:
        return importlib.util.find_spec(info.module) is not None
    except (ImportError, ValueError):
        return False


def load_lab_class(info: LabInfo):
    """Import the lab's module and return its class, or None if the module does not exist.

    Any other error while importing (a bug in the lab) propagates, so the shell can
    report it instead of silently showing a placeholder.
    """
    try:
        module = importlib.import_module(info.module)
    except ModuleNotFoundError as err:
        if err.name == info.module:
            return None
        raise
    return getattr(module, info.class_name, None)
