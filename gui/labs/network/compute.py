"""The Network lab's computation, without Qt: one image through the learner's network.

:class:`Inspector` keeps a copy of the network (rebuilt only when the Training lab's
network is replaced), puts the shared weights into it and runs one image forward and
backward (``Network.forward_pure`` / ``backward_pure``: nothing of the copy changes but
its weights), then explains the selected neuron (``engine.neuron``) and its receptive
field (``engine.receptive_field``). It runs in the lab's background worker
(gui/labs/network/worker.py), or inline for a screenshot; what it returns holds only
copies, so it may cross threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.losses import softmax, softmax_cross_entropy
from engine.neuron import Cell, DeltaCell, Neuron, explain, explain_delta
from engine.receptive_field import FieldGrowth, Region, receptive_field, receptive_field_growth

__all__ = ["InspectRequest", "Inspection", "MisclassifiedRequest", "Misclassified",
           "Inspector"]


@dataclass(frozen=True)
class _Request:
    """request_id : answered in the result; generation, spec, input_shape : the network
    (a new generation rebuilds the copy); iteration, state : the weights
    (``Network.get_state()`` copies)."""

    request_id: int
    generation: int
    spec: list = field(repr=False)
    input_shape: tuple
    iteration: int
    state: dict = field(repr=False)


@dataclass(frozen=True)
class InspectRequest(_Request):
    """One image through one state of the network.

    image : (C, H, W) float32; label : its true class, None for a drawing (the
    deltas are then computed for the predicted class); neuron : the selected
    neuron, or None
    """

    image: np.ndarray = field(repr=False, kw_only=True)
    label: int | None = field(kw_only=True)
    neuron: Neuron | None = field(kw_only=True)


@dataclass(frozen=True)
class Inspection:
    """What one image does in the network, all arrays per sample (no N) and copies.

    activations, deltas : one array per layer, (C, H, W) or (D,); deltas[k] =
        dL/d activations[k] for the cross-entropy against ``target``
    input_delta : (C, H, W) dL/d image
    probabilities : (K,); predicted : its argmax; target : the label, else predicted
    loss : the cross-entropy against ``target``
    cell, delta_cell : the selected neuron's computation and where its delta came
        from (None without a selection); receptive_field : its field, one Region per
        layer from the input; growth : one unit's field size on the input per layer
    state : the weights it was computed with (the request's copies, shared)
    """

    request_id: int
    generation: int
    iteration: int
    image: np.ndarray = field(repr=False)
    label: int | None
    target: int
    predicted: int
    loss: float
    probabilities: np.ndarray = field(repr=False)
    activations: tuple = field(repr=False)
    deltas: tuple = field(repr=False)
    input_delta: np.ndarray = field(repr=False)
    neuron: Neuron | None = None
    cell: Cell | None = None
    delta_cell: DeltaCell | None = None
    receptive_field: tuple[Region, ...] | None = None
    growth: tuple[FieldGrowth, ...] = ()
    state: dict = field(default=None, repr=False)  # the weights it was computed with

    def values(self, layer: int, backward: bool = False) -> np.ndarray:
        """The output of ``layer`` (-1: the image), or its delta."""
        if layer == -1:
            return self.input_delta if backward else self.image
        return (self.deltas if backward else self.activations)[layer]


@dataclass(frozen=True)
class MisclassifiedRequest(_Request):
    """Which images of a set the network gets wrong: images (N, C, H, W), labels (N,)."""

    images: np.ndarray = field(repr=False, kw_only=True)
    labels: np.ndarray = field(repr=False, kw_only=True)


@dataclass(frozen=True)
class Misclassified:
    """indices : (m,) of the wrong images; predicted : (m,) what the network said."""

    request_id: int
    generation: int
    iteration: int
    indices: np.ndarray
    predicted: np.ndarray


class Inspector:
    """Runs requests on its own copy of the network (one thread at a time)."""

    def __init__(self):
        self._network = None
        self._generation: int | None = None
        self._iteration: int | None = None

    def network(self, request):
        """The copy for the request's generation, holding the request's weights."""
        from engine.network import Network

        if self._network is None or self._generation != request.generation:
            self._network = Network(request.spec, input_shape=request.input_shape)
            self._generation, self._iteration = request.generation, None
        if self._iteration != request.iteration:  # same generation and step: same weights
            self._network.set_state(request.state)
            self._iteration = request.iteration
        return self._network

    def run(self, request):
        if isinstance(request, MisclassifiedRequest):
            return self.misclassified(request)
        return self.inspect(request)

    def inspect(self, request: InspectRequest) -> Inspection:
        net = self.network(request)
        image = np.ascontiguousarray(request.image, dtype=np.float32)
        logits, caches, acts = net.forward_pure(image[None], training=False)
        probabilities = softmax(logits)[0]
        predicted = int(np.argmax(probabilities))
        target = predicted if request.label is None else int(request.label)
        loss, dlogits = softmax_cross_entropy(logits, np.array([target]))
        dx, _, deltas = net.backward_pure(dlogits, caches)
        activations = tuple(np.array(a[0]) for a in acts)
        deltas = tuple(np.array(d[0]) for d in deltas)
        input_delta = np.array(dx[0])
        cell = delta_cell = regions = None
        neuron = request.neuron
        if neuron is not None:
            try:
                cell = explain(net, image, activations, neuron, probabilities)
            except IndexError:
                neuron = None  # not a neuron of this network (it was replaced)
        if neuron is not None:
            delta_cell = explain_delta(net, image, activations, deltas, neuron,
                                       probabilities, target, input_delta)
            regions = tuple(receptive_field(net, neuron.layer, neuron.index))
        return Inspection(request.request_id, request.generation, request.iteration, image,
                          request.label, target, predicted, float(loss),
                          np.array(probabilities), activations, deltas, input_delta, neuron,
                          cell, delta_cell, regions, tuple(receptive_field_growth(net)),
                          request.state)

    def misclassified(self, request: MisclassifiedRequest) -> Misclassified:
        net = self.network(request)
        predicted = net.predict(np.asarray(request.images, dtype=np.float32), batch_size=64)
        wrong = np.flatnonzero(predicted != np.asarray(request.labels))
        return Misclassified(request.request_id, request.generation, request.iteration, wrong,
                             predicted[wrong])
