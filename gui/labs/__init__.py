"""The labs the main window lists, in order, and how to build one.

A lab lives in its own package under ``gui/labs/<key>/``. The shell imports it only when
the learner first opens it, so start-up pays only for the first lab; a lab that fails
to import or to build shows the reason in place (see ``gui.app``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from engine.i18n import tr, tr_noop

__all__ = ["LabInfo", "LABS", "lab_by_key", "load_lab_class"]


@dataclass(frozen=True)
class LabInfo:
    """One entry of the lab list.

    Attributes
    ----------
    key : str
        Short name used on the command line (``screenshot --lab KEY``), in settings and
        as the PNG file name.
    title : str
        Shown in the lab list (English msgid: show it as ``tr(info.title)``).
    module : str
        Dotted module path of the lab.
    class_name : str
        The QWidget subclass in ``module``.
    blurb : str
        One line: what the lab teaches (the list's tooltip; English msgid as ``title``).
    """

    key: str
    title: str
    module: str
    class_name: str
    blurb: str


LABS: list[LabInfo] = [
    LabInfo("convolution", tr_noop("Convolution"), "gui.labs.convolution.lab", "ConvolutionLab",
            tr_noop("Slide a kernel over an image one window at a time: padding, stride and the "
                    "output-size formula.")),
    LabInfo("gallery", tr_noop("Kernel gallery"), "gui.labs.gallery.lab", "GalleryLab",
            tr_noop("Classic kernels (edges, blur, sharpen) on a real photograph, then "
                    "activation and pooling.")),
    LabInfo("pooling", tr_noop("Pooling"), "gui.labs.pooling.lab", "PoolingLab",
            tr_noop("Max and average pooling, the argmax map and how the gradient is routed "
                    "back.")),
    LabInfo("backprop", tr_noop("Backprop"), "gui.labs.backprop.lab", "BackpropLab",
            tr_noop("The convolution backward pass: delta maps, the 180-degree kernel, dW and "
                    "db, checked numerically.")),
    LabInfo("fitting", tr_noop("Kernel fitting"), "gui.labs.fitting.lab", "FittingLab",
            tr_noop("Learn a 3x3 kernel by gradient descent until it reproduces a known "
                    "filter.")),
    LabInfo("training", tr_noop("Training"), "gui.labs.training.lab", "TrainingLab",
            tr_noop("Train a small CNN live on handwritten digits: curves, kernels, feature "
                    "maps, deltas.")),
    LabInfo("network", tr_noop("Network"), "gui.labs.network.lab", "NetworkLab",
            tr_noop("Open up your own network, trained or still training: every layer's "
                    "maps, any neuron's computation, receptive fields, the deltas.")),
]


def lab_by_key(key: str) -> LabInfo:
    """The lab whose key or title (English or translated) matches ``key`` (case-insensitive).

    Raises
    ------
    KeyError
        Naming the valid keys.
    """
    wanted = key.strip().lower()
    for info in LABS:
        if wanted in (info.key, info.title.lower(), tr(info.title).lower()):
            return info
    valid = ", ".join(info.key for info in LABS)
    raise KeyError(tr("there is no lab called {name!r}; the labs are: {valid}").format(
        name=key, valid=valid))


def load_lab_class(info: LabInfo) -> type:
    """Import the lab's module and return its class.

    Any error while importing propagates, so the shell can show it in place.
    """
    module = importlib.import_module(info.module)
    return getattr(module, info.class_name)
