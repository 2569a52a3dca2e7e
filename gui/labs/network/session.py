"""The Network lab's decisions, without Qt.

:class:`NetworkSession` decides what the Network lab shows and what it recomputes: the
model it looks into (the Training lab's, through a :class:`ModelSource`), the image
(:class:`InputSource`: a validation or training image, a misclassified one, a drawing),
the selected neuron, forward or backward picture, the colour scale, the page of
channels, and when to fetch new weights and run the image through them again.

Refresh: while the Training lab trains (in the background: it keeps training while
this lab is shown), the session fetches a copy of the weights at most every
``refresh_interval`` seconds, one request at a time, and only while the lab is shown;
each copy is run through the network in the lab's background worker
(:class:`Compute`), and the next copy is asked for only after the last result was
drawn (:class:`gui.labs.training.session.FrameThrottle`, the same flow control the
Training lab's frames use, with an injectable clock). A request the Training lab never
answers (its worker was let go) is forgotten after ``WEIGHTS_TIMEOUT`` seconds.
Without training nothing is fetched until something changes (the lab is shown again,
training pauses, the network is replaced).

The widget (:class:`gui.labs.network.lab.NetworkLab`) is the session's :class:`View`:
it lays out and draws. Tested headless (tests/gui/labs/network/test_session.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Protocol

import numpy as np

from engine.i18n import tr, tr_n, tr_noop
from engine.network import describe_spec
from engine.neuron import POINTWISE, Neuron
from gui.labs.network.compute import (
    Inspection,
    InspectRequest,
    Misclassified,
    MisclassifiedRequest,
)
from gui.labs.training.session import FrameThrottle
from gui.labs.training.sharing import SharedModel, SharedWeights

__all__ = ["Mode", "Scale", "Display", "InputChoice", "InputSource", "Pager", "View",
           "ModelSource", "Compute", "NetworkSession", "REFRESH_INTERVAL", "WEIGHTS_TIMEOUT",
           "NO_MODEL", "SOURCES", "column_infos", "class_label"]

#: seconds between two weight copies while training runs: 2.5 refreshes a second
REFRESH_INTERVAL = 0.4
#: seconds after which an unanswered weight request is forgotten (and asked again)
WEIGHTS_TIMEOUT = 3.0
NO_MODEL = tr_noop("There is no network to look into yet. Build one and train it in the "
                   "Training lab (it goes on training while you look at it here), or load "
                   "a trained model file.")
Clock = Callable[[], float]


class Mode(Enum):
    FORWARD = "forward"    # every layer's output
    BACKWARD = "backward"  # every layer's delta dL/d(output)


class Scale(Enum):
    """Which values one colour scale spans."""

    MAP = "map"        # each map its own
    LAYER = "layer"    # all maps of a layer
    GLOBAL = "global"  # every layer


@dataclass(frozen=True)
class Display:
    mode: Mode = Mode.FORWARD
    scale: Scale = Scale.LAYER
    page: int = 0


#: (key, msgid) of the image sources, in the order the picker lists them
SOURCES = (("validation", tr_noop("Validation set")), ("training", tr_noop("Training set")),
           ("misclassified", tr_noop("Misclassified")),
           ("drawing", tr_noop("Your drawing")))


@dataclass(frozen=True)
class InputChoice:
    """The image the lab shows: image (C, H, W) float32 in [0, 1]; label None for a
    drawing; index into its set (or into the misclassified list), count: how many
    there are; dataset_index: its place in the set itself."""

    source: str
    image: np.ndarray = field(repr=False)
    label: int | None
    index: int = 0
    count: int = 1
    dataset_index: int | None = None


class InputSource:
    """Images of the model's own data: (train_x, train_y, val_x, val_y), any number of
    channels, plus the learner's drawing when the network takes 28x28 grey digits."""

    def __init__(self, data, input_shape):
        self.data = tuple(data)
        self.input_shape = tuple(input_shape)

    @property
    def can_draw(self) -> bool:
        return self.input_shape == (1, 28, 28)

    def _split(self, source: str):
        return (self.data[2], self.data[3]) if source != "training" else \
            (self.data[0], self.data[1])

    def count(self, source: str) -> int:
        return int(len(self._split(source)[1]))

    def pick(self, source: str, index: int) -> InputChoice:
        """Image ``index`` (clamped) of the validation or training set."""
        images, labels = self._split(source)
        n = len(labels)
        index = int(np.clip(index, 0, max(n - 1, 0)))
        return InputChoice(source, np.asarray(images[index], dtype=np.float32),
                           int(labels[index]), index, n, index)

    def misclassified(self, wrong: Misclassified, k: int) -> InputChoice:
        n = len(wrong.indices)
        k = int(k) % n
        choice = self.pick("validation", int(wrong.indices[k]))
        return replace(choice, source="misclassified", index=k, count=n)

    def drawing(self, image) -> InputChoice:
        return InputChoice("drawing", np.asarray(image, dtype=np.float32).reshape(
            self.input_shape), None, 0, 1, None)


class Pager:
    """Pages of channels: ``page`` of ``pages`` (``per_page`` channels each)."""

    def __init__(self):
        self.page, self.pages, self.per_page = 0, 1, 1
        self.wanted: int | None = None  # a session's page, until the layout has it

    def set_pages(self, pages: int, per_page: int) -> bool:
        """The layout's paging; returns whether the page had to move."""
        self.pages, self.per_page = max(1, int(pages)), max(1, int(per_page))
        page = self.page
        if self.wanted is not None and self.wanted < self.pages:
            page, self.wanted = self.wanted, None
        return self.go(page)

    def go(self, page: int) -> bool:
        page = min(max(0, int(page)), self.pages - 1)
        moved, self.page = page != self.page, page
        return moved

    def show_channel(self, c: int) -> bool:
        return self.go(int(c) // self.per_page)


class View(Protocol):
    """What the session asks the Network lab's widget to do."""

    def show_no_model(self, text: str) -> None:
        """Nothing to look into: the sentence saying how to get a network."""

    def show_model(self, model: SharedModel, columns: list) -> None:
        """New columns for ``model`` (``columns``: :func:`column_infos`), nothing drawn."""

    def show_input(self, choice: InputChoice, source: InputSource) -> None:
        """The picker and the caption of the chosen image."""

    def show_inspection(self, inspection: Inspection, display: Display) -> None:
        """Draw the maps (or deltas), the probabilities, the selected neuron."""

    def show_page(self, display: Display) -> None:
        """Lay the columns out for ``display.page`` (and draw the last inspection)."""

    def show_info(self, text: str) -> None:
        """The line about the network and how far it is trained."""

    def show_status(self, text: str) -> None:
        """A sentence for the window's status bar."""


class ModelSource(Protocol):
    """The Training lab as this lab sees it."""

    def shared_model(self) -> SharedModel | None: ...
    def request_weights(self, request_id: int) -> bool: ...


class Compute(Protocol):
    """The background worker: answers ``on_inspection`` / ``on_misclassified``."""

    def submit(self, request) -> None: ...


def class_label(k, names, short: int | None = None) -> str:
    """Class ``k`` as the lab writes it: "cat (3)" when the data set names it (``names``),
    else "3"; ``short``: the name cut to that many characters (the probability column)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        return str(k)
    k = int(k)
    if not (0 <= k < len(names)) or str(names[k]) == str(k):
        return str(k)
    name = str(names[k])
    if short is not None and len(name) > short:
        name = name[:short - 1] + "…"
    return f"{name} ({k})"


def column_infos(model: SharedModel) -> list[tuple]:
    """(layer, name, type, shape, params) for the input and every layer."""
    summary = describe_spec(model.spec, model.input_shape)
    return [(-1, "input", "input", tuple(model.input_shape), 0)] + [
        (i.index, i.name, i.type, tuple(i.output_shape), i.param_count) for i in summary]


class NetworkSession:
    """The Network lab's state and bookkeeping (no Qt).

    Parameters
    ----------
    view : View
    compute : Compute
    clock : seconds (tests pass a fake one)
    refresh_interval : seconds between two weight copies while training runs

    Attributes
    ----------
    model, weights, inspection, choice, selection, display, running, visible,
    misclassified, refreshes (inspections drawn)
    """

    def __init__(self, view: View, compute: Compute, clock: Clock = time.monotonic,
                 refresh_interval: float = REFRESH_INTERVAL):
        self.view = view
        self.compute = compute
        self._clock = clock
        self.throttle = FrameThrottle(refresh_interval, clock)
        self.source: ModelSource | None = None
        self.model: SharedModel | None = None
        self.columns: list[tuple] = []
        self.inputs: InputSource | None = None
        self.weights: SharedWeights | None = None
        self.inspection: Inspection | None = None
        self.choice: InputChoice | None = None
        self.selection: Neuron | None = None
        self.misclassified: Misclassified | None = None
        self.pager = Pager()
        self.mode, self.scale = Mode.FORWARD, Scale.LAYER
        self.running = False
        self.visible = False
        self.refreshes = 0
        self._ids = 0
        self._asked: tuple[int, float] | None = None  # (request id, clock) of the weights
        self._computing: int | None = None  # the request in the worker
        self._again = False                 # something changed while it computed
        self._finding: int | None = None    # the misclassified request in the worker
        self._wanted_misclassified = 0      # which one to show when it arrives
        self._misclassified_later: int | None = None  # asked for before the weights came
        self._sent_neuron: Neuron | None = None  # the neuron of the request in the worker

    # ------------------------------------------------------------------ state
    @property
    def display(self) -> Display:
        return Display(self.mode, self.scale, self.pager.page)

    @property
    def busy(self) -> bool:
        """Weights asked for or an image in the worker."""
        return self._asked is not None or self._computing is not None

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    # ------------------------------------------------------------------ the model
    def attach(self, source: ModelSource | None) -> None:
        """Look into ``source``'s network (None: there is none)."""
        self.source = source
        self.model_changed()

    def model_changed(self) -> None:
        """The Training lab replaced its network (or has none any more)."""
        model = self.source.shared_model() if self.source is not None else None
        if model is None:
            self._forget_model()
            self.view.show_no_model(tr(NO_MODEL))
            return
        if self.model is not None and model.generation == self.model.generation:
            return
        self._forget_model()
        self.model = model
        self.columns = column_infos(model)
        self.inputs = InputSource(model.data, model.input_shape)
        self.view.show_model(model, self.columns)
        self._choose(self._keep_choice())
        self.throttle.request()
        self._show_info()
        self.tick()

    def _forget_model(self) -> None:
        self.model = self.weights = self.inspection = self.misclassified = None
        self.columns = []
        self.selection = None
        self.pager.page = 0
        self._asked = None
        self._computing = self._finding = None
        self._misclassified_later = None
        self._again = False
        self.throttle.consumed()

    def _keep_choice(self) -> InputChoice:
        """The same image in the new network's data when it still exists there."""
        old = self.choice
        if old is not None and old.source in ("validation", "training"):
            return self.inputs.pick(old.source, old.index)
        if old is not None and old.source == "drawing" and self.inputs.can_draw:
            return self.inputs.drawing(old.image)
        return self.inputs.pick("validation", 0)

    def training_state(self, running: bool) -> None:
        """Training started or stopped (a stop brings the final weights once)."""
        running = bool(running)
        if running != self.running:
            self.running = running
            self.throttle.request()
            self._show_info()
            self.tick()

    # ------------------------------------------------------------------ lab hooks
    def activated(self) -> None:
        self.visible = True
        self.throttle.request()
        if self.model is None and self.source is not None:
            self.model_changed()
        self.tick()

    def deactivated(self) -> None:
        self.visible = False

    def tick(self) -> None:
        """Called a few times a second while the lab is shown: fetch weights if due."""
        if self._asked is not None and self._clock() - self._asked[1] > WEIGHTS_TIMEOUT:
            self._asked = None  # never answered (its worker was let go): ask again
            self.throttle.consumed()
            self.throttle.request()
        if (not self.visible or self.model is None or self.source is None or self.busy
                or not self.throttle.ready(self.running)):
            return
        request_id = self._next_id()
        self._asked = (request_id, self._clock())
        self.throttle.sent()
        if not self.source.request_weights(request_id):  # no network any more
            self._asked = None
            self.throttle.consumed()

    def on_weights(self, weights: SharedWeights) -> None:
        """The Training lab's answer to a weight request."""
        if (self._asked is None or weights.request_id != self._asked[0]
                or self.model is None or weights.generation != self.model.generation):
            return
        self._asked = None
        same = self.weights is not None and self.weights.iteration == weights.iteration
        self.weights = weights
        later, self._misclassified_later = self._misclassified_later, None
        if later is not None:
            self.show_misclassified(later)
        if same and self.inspection is not None and not self._again:
            self.throttle.consumed()  # nothing new: no need to run the image again
            self._show_info()
            return
        self._submit()

    # ------------------------------------------------------------------ computing
    def _request(self) -> InspectRequest | None:
        if self.model is None or self.weights is None or self.choice is None:
            return None
        m, w = self.model, self.weights
        return InspectRequest(self._next_id(), m.generation, m.spec, m.input_shape,
                              w.iteration, w.state, image=self.choice.image,
                              label=self.choice.label, neuron=self.selection)

    def _submit(self) -> None:
        """Run the image (through the current weights) in the worker, or, while it
        computes, as soon as it is done."""
        if self._computing is not None:
            self._again = True
            return
        request = self._request()
        if request is None:
            return
        self._again = False
        self._computing = request.request_id
        self._sent_neuron = request.neuron
        self.compute.submit(request)

    def make_request(self) -> InspectRequest | None:
        """The request for what the lab shows now (for a synchronous screenshot)."""
        return self._request()

    def on_inspection(self, inspection: Inspection) -> None:
        if inspection.request_id != self._computing:
            return  # from before the model was replaced
        self._computing = None
        if self.model is not None and inspection.generation == self.model.generation:
            self.inspection = inspection
            if inspection.neuron is None and self.selection is not None \
                    and self._sent_neuron == self.selection:
                self.selection = None  # no such neuron (any more); not one chosen since
            if self.visible:
                self.view.show_inspection(inspection, self.display)
                self.refreshes += 1
            self._show_info()
        self.throttle.consumed()
        if self._again:
            self._submit()

    def on_failed(self, message: str) -> None:
        """The worker could not run a request (reported once, in words)."""
        self._computing = self._finding = None
        self._again = False
        self.throttle.consumed()
        self.view.show_status(tr("The network could not be run on this image: {error}")
                              .format(error=message))

    def refresh_now(self) -> None:
        """Forget what is in flight and fetch the weights now (a screenshot, whose
        requests are answered in this thread)."""
        self._asked = None
        self._computing = None
        self._again = False
        self.throttle.consumed()
        self.throttle.request()
        self.tick()

    # ------------------------------------------------------------------ the image
    def _choose(self, choice: InputChoice) -> None:
        self.choice = choice
        self.view.show_input(choice, self.inputs)
        self._submit()

    def pick(self, source: str, index: int = 0) -> None:
        """Image ``index`` of the validation or training set, or the ``index``-th
        misclassified one."""
        if self.inputs is None:
            return
        if source == "misclassified":
            self.show_misclassified(index)
        elif source in ("validation", "training"):
            self._choose(self.inputs.pick(source, index))

    def random_image(self, rng: np.random.Generator | None = None) -> None:
        if self.inputs is None or self.choice is None:
            return
        rng = np.random.default_rng() if rng is None else rng
        source = self.choice.source if self.choice.source in ("validation", "training") \
            else "validation"
        self.pick(source, int(rng.integers(self.inputs.count(source))))

    def set_drawing(self, image) -> None:
        """The learner's drawing (1, 28, 28); a blank one goes back to the validation set."""
        if self.inputs is None:
            return
        if not self.inputs.can_draw:
            self.view.show_status(tr("This network takes {shape} images: drawing works "
                                     "for 28×28 grey digits only.").format(
                shape="×".join(map(str, self.inputs.input_shape))))
            return
        if image is None or not np.any(image):
            self.pick("validation", 0)
            return
        self._choose(self.inputs.drawing(image))

    def show_misclassified(self, k: int = 0) -> None:
        """The ``k``-th validation image the network gets wrong (found in the worker
        with the current weights, once per weight copy)."""
        if self.inputs is None or self.model is None:
            return
        wrong = self.misclassified
        if wrong is not None and self.weights is not None and \
                wrong.iteration == self.weights.iteration:
            if len(wrong.indices) == 0:
                self.view.show_status(tr("The network gets every validation image right."))
                return
            self._choose(self.inputs.misclassified(wrong, k))
            return
        if self.weights is None:
            self._misclassified_later = k  # (a session's choice, before the weights)
            return
        if self._finding is not None:
            return
        m, w = self.model, self.weights
        request = MisclassifiedRequest(self._next_id(), m.generation, m.spec, m.input_shape,
                                       w.iteration, w.state, images=self.inputs.data[2],
                                       labels=self.inputs.data[3])
        self._finding = request.request_id
        self._wanted_misclassified = k
        self.view.show_status(tr("Looking for the validation images the network gets "
                                 "wrong…"))
        self.compute.submit(request)

    def on_misclassified(self, result: Misclassified) -> None:
        if result.request_id != self._finding:
            return
        self._finding = None
        if self.model is None or result.generation != self.model.generation:
            return
        self.misclassified = result
        n = len(result.indices)
        self.view.show_status(tr_n("The network gets {n} validation image wrong.",
                                   "The network gets {n} validation images wrong.", n)
                              .format(n=n))
        if n:
            self._choose(self.inputs.misclassified(result, self._wanted_misclassified))

    # ------------------------------------------------------------------ the neuron
    def select(self, neuron: Neuron | None) -> None:
        """Open ``neuron``'s computation (None closes it)."""
        self.selection = neuron
        if neuron is not None and len(neuron.index) == 3 \
                and self.pager.show_channel(neuron.index[0]):
            self.view.show_page(self.display)
        self._submit()

    def conv_neuron(self) -> Neuron | None:
        """The conv cell the selection shows (itself, or the conv right before the
        pointwise layers it is in), for "Step through in the Convolution lab"."""
        n = self.selection
        if n is None or n.layer < 0 or self.model is None:
            return None
        spec = self.model.spec
        k = n.layer
        while k >= 0 and spec[k]["type"] in POINTWISE:
            k -= 1
        if k >= 0 and spec[k]["type"] == "conv":
            return Neuron(k, n.index)
        return None

    # ------------------------------------------------------------------ display
    def set_mode(self, mode: Mode) -> None:
        self.mode = Mode(mode)
        self._redraw()

    def set_scale(self, scale: Scale) -> None:
        self.scale = Scale(scale)
        self._redraw()

    def set_pages(self, pages: int, per_page: int) -> None:
        """The view's layout has ``pages`` pages of ``per_page`` channels."""
        if self.pager.set_pages(pages, per_page):
            self.view.show_page(self.display)

    def go_to_page(self, page: int) -> None:
        self.pager.wanted = None
        if self.pager.go(page):
            self.view.show_page(self.display)

    def restore_page(self, page: int) -> None:
        """A session's page: shown now if the layout has it, else once it has."""
        self.go_to_page(page)
        if self.pager.page != int(page):
            self.pager.wanted = max(0, int(page))

    def _redraw(self) -> None:
        if self.inspection is not None and self.visible:
            self.view.show_inspection(self.inspection, self.display)

    # ------------------------------------------------------------------ texts
    def refresh_texts(self) -> None:
        """Write the session's texts again (the language changed)."""
        if self.model is None:
            self.view.show_no_model(tr(NO_MODEL))
        else:
            self._show_info()
            if self.choice is not None:
                self.view.show_input(self.choice, self.inputs)

    def _show_info(self) -> None:
        m = self.model
        if m is None:
            return
        params = sum(c[4] for c in self.columns)
        layers = len(self.columns) - 1
        head = tr_n("{n} layer, {params} parameters", "{n} layers, {params} parameters",
                    layers).format(n=layers, params=f"{params:,}")
        w = self.weights
        if w is None:
            state = tr("fetching the weights…")
        elif self.running:
            state = tr("training in the background: iteration {it}, refreshed {rate} times "
                       "a second").format(it=f"{w.iteration:,}",
                                          rate=f"{1 / self.throttle.interval:.1f}")
        elif w.iteration == 0 and m.loaded_from is None:
            state = tr("untrained (random weights): train it in the Training lab to see "
                       "what it learns")
        elif m.loaded_from is not None:
            state = tr("loaded from {path}, trained {it} more steps here").format(
                path=m.loaded_from, it=f"{w.iteration:,}")
        else:
            state = tr("trained for {it} steps (paused)").format(it=f"{w.iteration:,}")
        self.view.show_info(f"{head} · {state}")
