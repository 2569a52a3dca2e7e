"""One neuron's computation with the real numbers, forward and backward.

For one image and one neuron of a :class:`engine.network.Network` (a cell of a layer's
output), :func:`explain` writes out how its value was computed from the layer's
input: for a conv cell the window of every input channel, the filter's kernels, the
per-channel partial sums, the bias and the total; for a pooling cell its window and
the maximum it chose (or the mean); for batch norm its statistics; for a dense unit
every input times its weight. :func:`explain_delta` writes out where its error
``delta = dL/d(output)`` came from: the cells of the next layer that read it, each
with its own delta and the local derivative (the weight, the pooling routing, the
activation's slope), which add up to it.

Everything is computed again here in float64 from the engine's own activations (the
forward pass of ``Network.forward_pure``); the engine's value is kept next to it
(``value``), so a test (and a learner) can see that the two agree. Evaluation mode:
batch norm uses its running statistics, as the app's inspection does.

Arrays are per sample (no N axis): the input image (C, H, W), ``activations[k]`` and
``deltas[k]`` the output of layer k and its delta, (C, H, W) or (D,).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Neuron", "Cell", "ConvCell", "PoolCell", "BatchNormCell", "ActivationCell",
           "FlattenCell", "DenseCell", "InputCell", "DeltaTerm", "DeltaCell", "explain",
           "explain_delta", "layer_input", "conv_window", "POINTWISE"]

#: layer types that map one cell to the same cell (the "then" chain after a neuron)
POINTWISE = ("relu", "sigmoid", "tanh", "batchnorm")


@dataclass(frozen=True)
class Neuron:
    """A cell of a layer's output: ``layer`` -1 is the input image; ``index`` is
    (c, i, j) for maps and (d,) for vectors."""

    layer: int
    index: tuple

    def __post_init__(self):
        object.__setattr__(self, "index", tuple(int(v) for v in self.index))


@dataclass(frozen=True)
class Cell:
    """What every explanation has.

    layer, name, type : the layer (-1, "input", "input" for the image)
    index : the cell
    value : the engine's output at the cell
    after : ((name, type, value), ...) the pointwise layers that follow at the same
        cell (batch norm, the activation), in order
    """

    layer: int
    name: str
    type: str
    index: tuple
    value: float
    after: tuple = field(default=(), kw_only=True)


@dataclass(frozen=True)
class ConvCell(Cell):
    """``value = sum_c sum(window[c] * kernel[c]) + bias``.

    window : (C, KH, KW) of the zero-padded input; padding : (KH, KW) bool, True
    where the window lies on the padding; top, left : the window's corner on the
    unpadded input (negative on the padding); kernel : (C, KH, KW) the filter's
    kernels; channel_sums : (C,); bias; total : the sum, recomputed (float64)."""

    window: np.ndarray = field(repr=False, kw_only=True)
    padding: np.ndarray = field(repr=False, kw_only=True)
    top: int = field(kw_only=True)
    left: int = field(kw_only=True)
    kernel: np.ndarray = field(repr=False, kw_only=True)
    channel_sums: np.ndarray = field(repr=False, kw_only=True)
    bias: float = field(kw_only=True)
    total: float = field(kw_only=True)

    @property
    def products(self) -> np.ndarray:
        """(C, KH, KW) window * kernel."""
        return self.window * self.kernel


@dataclass(frozen=True)
class PoolCell(Cell):
    """window : (KH, KW) of channel c; top, left : its corner; argmax : (row, col)
    in the window of the maximum taken (the first in row-major order), None for
    average pooling; total : the maximum or the mean, recomputed."""

    window: np.ndarray = field(repr=False, kw_only=True)
    top: int = field(kw_only=True)
    left: int = field(kw_only=True)
    argmax: tuple | None = field(kw_only=True)
    total: float = field(kw_only=True)


@dataclass(frozen=True)
class BatchNormCell(Cell):
    """``x_hat = (x - mean) / sqrt(var + eps)``, ``total = gamma * x_hat + beta``
    (the running statistics: evaluation mode)."""

    x: float = field(kw_only=True)
    mean: float = field(kw_only=True)
    var: float = field(kw_only=True)
    eps: float = field(kw_only=True)
    gamma: float = field(kw_only=True)
    beta: float = field(kw_only=True)
    x_hat: float = field(kw_only=True)
    total: float = field(kw_only=True)


@dataclass(frozen=True)
class ActivationCell(Cell):
    """``total = f(x)`` for relu, sigmoid or tanh."""

    x: float = field(kw_only=True)
    total: float = field(kw_only=True)


@dataclass(frozen=True)
class FlattenCell(Cell):
    """The unit ``index[0]`` is the cell ``source`` (c, i, j) of the map stack."""

    source: tuple = field(kw_only=True)


@dataclass(frozen=True)
class DenseCell(Cell):
    """``value = sum_d inputs[d] * weights[d] + bias``.

    inputs, weights, contributions : (D,); order : (D,) indices by decreasing
    |contribution|; total : recomputed; probability : softmax of the logits at
    this unit when the layer is the network's output, else None; source_shape :
    the shape the inputs were flattened from ((D,) when they were not)."""

    inputs: np.ndarray = field(repr=False, kw_only=True)
    weights: np.ndarray = field(repr=False, kw_only=True)
    bias: float = field(kw_only=True)
    total: float = field(kw_only=True)
    probability: float | None = field(kw_only=True)
    source_shape: tuple = field(kw_only=True)

    @property
    def contributions(self) -> np.ndarray:
        return self.inputs * self.weights

    @property
    def order(self) -> np.ndarray:
        return np.argsort(-np.abs(self.contributions), kind="stable")

    def source_of(self, d: int) -> tuple:
        """Input unit ``d`` as (c, i, j) of the maps it was flattened from, or (d,)."""
        return tuple(int(v) for v in np.unravel_index(int(d), self.source_shape))


@dataclass(frozen=True)
class InputCell(Cell):
    """A pixel of the input image."""


@dataclass(frozen=True)
class DeltaTerm:
    """One path the error takes back: ``product = delta * factor``.

    layer, index : the cell of the next layer that reads the neuron
    delta : that cell's delta
    factor : d(that cell) / d(the neuron): a weight, 1 for the maximum of a pooling
        window, 1/(KH*KW) for average pooling, the activation's slope, gamma/sd
    what : "weight", "max", "mean", "slope", "scale" or "copy"
    weight : index of the weight (f, c, u, v) for conv, (d, k) for dense, else None
    """

    layer: int
    index: tuple
    delta: float
    factor: float
    what: str
    weight: tuple | None = None

    @property
    def product(self) -> float:
        return self.delta * self.factor


@dataclass(frozen=True)
class DeltaCell:
    """Where a neuron's delta came from.

    delta : the engine's delta at the neuron
    terms : every term with a non-zero factor, by decreasing |product|
    total : the sum of the terms' products (float64), which is the delta
    from_loss : True at the network's output, where ``delta = p - y`` (softmax
        cross-entropy): then probability, target (1 for the label, else 0)
    reads : how many cells of the next layer read the neuron (terms include the
        ones whose factor is zero only for max pooling: a window whose maximum is
        elsewhere passes nothing back)
    """

    layer: int
    name: str
    index: tuple
    delta: float
    terms: tuple = ()
    total: float = 0.0
    from_loss: bool = False
    probability: float | None = None
    target: float | None = None
    next_name: str = ""
    next_type: str = ""
    reads: int = 0


# -------------------------------------------------------------------- helpers

def layer_input(x: np.ndarray, activations: list, layer: int) -> np.ndarray:
    """The input of layer ``layer``: the image for layer 0, else the previous output."""
    return np.asarray(x if layer == 0 else activations[layer - 1])


def _check(network, activations, neuron: Neuron) -> tuple:
    n = len(network.layers)
    if not -1 <= neuron.layer < n:
        raise IndexError(f"layer {neuron.layer} is not in a network of {n} layers")
    shape = (tuple(network.input_shape) if neuron.layer == -1
             else tuple(np.shape(activations[neuron.layer])))
    if len(neuron.index) != len(shape) or any(
            not 0 <= v < s for v, s in zip(neuron.index, shape, strict=True)):
        raise IndexError(f"{neuron.index} is not a cell of an output of shape {shape}")
    return shape


def _after(network, activations, neuron: Neuron) -> tuple:
    """The pointwise layers right after the neuron's, with their value at its cell."""
    chain = []
    for k in range(neuron.layer + 1, len(network.layers)):
        layer = network.layers[k]
        if layer.type not in POINTWISE:
            break
        chain.append((layer.name, layer.type, float(activations[k][neuron.index])))
    return tuple(chain)


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


# -------------------------------------------------------------------- forward

def explain(network, x, activations, neuron: Neuron, probabilities=None) -> Cell:
    """The computation of ``neuron`` for the image ``x`` (C, H, W).

    Parameters
    ----------
    network : engine.network.Network
    x : (C, H, W) the input image
    activations : list of per-sample layer outputs (``forward_pure``'s, without N)
    neuron : Neuron
    probabilities : (K,) softmax of the logits, for the output layer's units

    Raises
    ------
    IndexError
        If the neuron is not in the network.
    """
    _check(network, activations, neuron)
    after = _after(network, activations, neuron)
    if neuron.layer == -1:
        return InputCell(-1, "input", "input", neuron.index, float(np.asarray(x)[neuron.index]),
                         after=())
    layer = network.layers[neuron.layer]
    inp = _f64(layer_input(x, activations, neuron.layer))
    value = float(activations[neuron.layer][neuron.index])
    head = (neuron.layer, layer.name, layer.type, neuron.index, value)
    maker = _EXPLAINERS.get(layer.type, _explain_activation)
    return maker(layer, inp, head, after, neuron, network, probabilities)


def conv_window(x, kernel, stride, padding, i: int, j: int):
    """The window output cell (i, j) of a convolution reads, zero padding included.

    Parameters
    ----------
    x : (C, H, W) the layer's input; kernel, stride, padding : (h, w) pairs

    Returns
    -------
    window : (C, KH, KW) float64; padding_mask : (KH, KW) bool, True on the padding;
    top, left : the window's corner on the unpadded input (negative on the padding)
    """
    x = _f64(x)
    (KH, KW), (SH, SW), (PH, PW) = kernel, stride, padding
    C, H, W = x.shape
    top, left = i * SH - PH, j * SW - PW
    window = np.zeros((C, KH, KW))
    mask = np.ones((KH, KW), dtype=bool)
    r0, r1 = max(top, 0), min(top + KH, H)
    c0, c1 = max(left, 0), min(left + KW, W)
    window[:, r0 - top:r1 - top, c0 - left:c1 - left] = x[:, r0:r1, c0:c1]
    mask[r0 - top:r1 - top, c0 - left:c1 - left] = False
    return window, mask, top, left


def _explain_conv(layer, inp, head, after, neuron, network, probabilities) -> ConvCell:
    f, i, j = neuron.index
    window, padding, top, left = conv_window(inp, layer.kernel, layer.stride,
                                             layer.padding, i, j)
    kernel = _f64(layer.params["w"][f])  # (C, KH, KW)
    sums = (window * kernel).sum(axis=(1, 2))  # (C,)
    bias = float(layer.params["b"][f])
    return ConvCell(*head, after=after, window=window, padding=padding, top=top, left=left,
                    kernel=kernel, channel_sums=sums, bias=bias,
                    total=float(sums.sum() + bias))


def _explain_pool(layer, inp, head, after, neuron, network, probabilities) -> PoolCell:
    c, i, j = neuron.index
    (KH, KW), (SH, SW) = layer.size, layer.stride
    top, left = i * SH, j * SW
    window = inp[c, top:top + KH, left:left + KW].copy()
    if layer.type == "maxpool":
        r, q = np.unravel_index(int(np.argmax(window)), window.shape)  # first maximum
        argmax, total = (int(r), int(q)), float(window[r, q])
    else:
        argmax, total = None, float(window.mean())
    return PoolCell(*head, after=after, window=window, top=top, left=left, argmax=argmax,
                    total=total)


def _explain_batchnorm(layer, inp, head, after, neuron, network, probabilities):
    c = neuron.index[0]
    x = float(inp[neuron.index])
    mean = float(layer.buffers["running_mean"][c])
    var = float(layer.buffers["running_var"][c])
    gamma, beta = float(layer.params["gamma"][c]), float(layer.params["beta"][c])
    x_hat = (x - mean) / np.sqrt(var + layer.eps)
    return BatchNormCell(*head, after=after, x=x, mean=mean, var=var, eps=float(layer.eps),
                         gamma=gamma, beta=beta, x_hat=float(x_hat),
                         total=float(gamma * x_hat + beta))


def _activate(kind: str, x: np.ndarray) -> np.ndarray:
    if kind == "relu":
        return np.maximum(x, 0.0)
    if kind == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if kind == "tanh":
        return np.tanh(x)
    raise ValueError(f"no pointwise function for a {kind} layer")


def _explain_activation(layer, inp, head, after, neuron, network, probabilities):
    x = float(inp[neuron.index])
    return ActivationCell(*head, after=after, x=x,
                          total=float(_activate(layer.type, np.float64(x))))


def _explain_flatten(layer, inp, head, after, neuron, network, probabilities) -> FlattenCell:
    source = tuple(int(v) for v in np.unravel_index(neuron.index[0], inp.shape))
    return FlattenCell(*head, after=after, source=source)


def _explain_dense(layer, inp, head, after, neuron, network, probabilities) -> DenseCell:
    k = neuron.index[0]
    weights = _f64(layer.params["w"][:, k])  # (D,)
    bias = float(layer.params["b"][k])
    last = neuron.layer == len(network.layers) - 1
    probability = (float(probabilities[k]) if last and probabilities is not None else None)
    before = neuron.layer - 1
    source_shape = tuple(inp.shape)
    if before >= 0 and network.layers[before].type == "flatten":
        source_shape = tuple(network.summary()[before - 1].output_shape) if before > 0 \
            else tuple(network.input_shape)
    return DenseCell(*head, after=after, inputs=inp.copy(), weights=weights, bias=bias,
                     total=float(inp @ weights + bias), probability=probability,
                     source_shape=source_shape)


_EXPLAINERS = {"conv": _explain_conv, "maxpool": _explain_pool, "avgpool": _explain_pool,
               "batchnorm": _explain_batchnorm, "flatten": _explain_flatten,
               "dense": _explain_dense}


# -------------------------------------------------------------------- backward

def explain_delta(network, x, activations, deltas, neuron: Neuron, probabilities=None,
                  label: int | None = None, input_delta=None) -> DeltaCell:
    """Where the delta of ``neuron`` came from (the cells of the next layer that read it).

    Parameters
    ----------
    network, x, activations, neuron : as for :func:`explain`
    deltas : list of per-sample deltas, ``deltas[k] = dL/d activations[k]``
        (``backward_pure``'s, without N)
    probabilities, label : the softmax output (K,) and the class the loss is
        computed against (for the output layer's ``p - y``)
    input_delta : (C, H, W) dL/d image (``backward_pure``'s dx), for an input pixel

    Raises
    ------
    IndexError
        If the neuron is not in the network.
    """
    _check(network, activations, neuron)
    n = len(network.layers)
    k = neuron.layer
    name = "input" if k == -1 else network.layers[k].name
    if k == n - 1:  # the logits: softmax cross-entropy gives p - y
        d = float(deltas[k][neuron.index])
        p = None if probabilities is None else float(probabilities[neuron.index[0]])
        y = None if label is None else float(neuron.index[0] == label)
        return DeltaCell(k, name, neuron.index, d, (), d, True, p, y)
    nxt = network.layers[k + 1]
    inp = _f64(activations[k] if k >= 0 else x)  # what the next layer reads
    out_delta = _f64(deltas[k + 1])
    terms, reads = _DELTA_TERMS.get(nxt.type, _terms_pointwise)(
        nxt, k + 1, inp, out_delta, _f64(activations[k + 1]), neuron.index)
    terms = tuple(sorted(terms, key=lambda t: -abs(t.product)))
    total = float(sum(t.product for t in terms))
    own = deltas[k] if k >= 0 else input_delta
    delta = float(own[neuron.index]) if own is not None else float("nan")
    return DeltaCell(k, name, neuron.index, delta, terms, total, False,
                     next_name=nxt.name, next_type=nxt.type, reads=reads)


def _axis_reads(a: int, k: int, s: int, p: int, out: int) -> list[tuple[int, int]]:
    """(output index, offset in its window) for every window that covers input index a."""
    pairs = []
    for o in range(max(0, (a + p - k + 1 + s - 1) // s), min(out - 1, (a + p) // s) + 1):
        u = a + p - o * s
        if 0 <= u < k:
            pairs.append((o, u))
    return pairs


def _terms_conv(layer, index_layer, inp, out_delta, out, index):
    c, i, j = index
    (KH, KW), (SH, SW), (PH, PW) = layer.kernel, layer.stride, layer.padding
    F, HO, WO = out_delta.shape
    w = layer.params["w"]
    rows, cols = _axis_reads(i, KH, SH, PH, HO), _axis_reads(j, KW, SW, PW, WO)
    terms = [DeltaTerm(index_layer, (f, p, q), float(out_delta[f, p, q]),
                       float(w[f, c, u, v]), "weight", (f, c, u, v))
             for f in range(F) for p, u in rows for q, v in cols]
    return [t for t in terms if t.factor != 0.0], len(terms)


def _terms_pool(layer, index_layer, inp, out_delta, out, index):
    c, i, j = index
    (KH, KW), (SH, SW) = layer.size, layer.stride
    _, HO, WO = out_delta.shape
    rows, cols = _axis_reads(i, KH, SH, 0, HO), _axis_reads(j, KW, SW, 0, WO)
    terms = []
    for p, u in rows:
        for q, v in cols:
            if layer.type == "avgpool":
                terms.append(DeltaTerm(index_layer, (c, p, q), float(out_delta[c, p, q]),
                                       1.0 / (KH * KW), "mean"))
                continue
            window = inp[c, p * SH:p * SH + KH, q * SW:q * SW + KW]
            if np.unravel_index(int(np.argmax(window)), window.shape) == (u, v):
                terms.append(DeltaTerm(index_layer, (c, p, q), float(out_delta[c, p, q]),
                                       1.0, "max"))
    return terms, len(rows) * len(cols)


def _terms_pointwise(layer, index_layer, inp, out_delta, out, index):
    x, y = float(inp[index]), float(out[index])
    if layer.type == "relu":
        factor = 1.0 if x > 0 else 0.0
    elif layer.type == "sigmoid":
        factor = y * (1.0 - y)
    elif layer.type == "tanh":
        factor = 1.0 - y * y
    else:
        raise ValueError(f"no local derivative for a {layer.type} layer")
    term = DeltaTerm(index_layer, index, float(out_delta[index]), factor, "slope")
    return ([term] if factor != 0.0 else []), 1


def _terms_batchnorm(layer, index_layer, inp, out_delta, out, index):
    c = index[0]
    scale = float(layer.params["gamma"][c]) / float(
        np.sqrt(float(layer.buffers["running_var"][c]) + layer.eps))
    term = DeltaTerm(index_layer, index, float(out_delta[index]), scale, "scale")
    return ([term] if scale != 0.0 else []), 1


def _terms_flatten(layer, index_layer, inp, out_delta, out, index):
    d = int(np.ravel_multi_index(index, inp.shape))
    return [DeltaTerm(index_layer, (d,), float(out_delta[d]), 1.0, "copy")], 1


def _terms_dense(layer, index_layer, inp, out_delta, out, index):
    d = index[0]
    w = layer.params["w"]
    terms = [DeltaTerm(index_layer, (k,), float(out_delta[k]), float(w[d, k]), "weight",
                       (d, k)) for k in range(out_delta.shape[0])]
    return [t for t in terms if t.factor != 0.0], len(terms)


_DELTA_TERMS = {"conv": _terms_conv, "maxpool": _terms_pool, "avgpool": _terms_pool,
                "batchnorm": _terms_batchnorm, "flatten": _terms_flatten,
                "dense": _terms_dense}
