"""Handing a conv neuron to the Convolution lab to step through (no Qt).

"Step through in the Convolution lab" loads exactly that layer's input maps and that
filter into the Convolution lab and jumps to the step that computes the cell. The
Convolution lab shows at most :data:`MAX_CHANNELS` input channels (one row of window,
kernel and products per channel); a layer that reads more gets the channels with the
largest contributions to the cell, and the sentence :attr:`ConvExample.note` says what
the other channels add, so the learner can still add up the network's value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.geometry import as_pair
from engine.i18n import tr, tr_n
from engine.neuron import Neuron, conv_window

__all__ = ["ConvExample", "conv_example", "MAX_CHANNELS"]

MAX_CHANNELS = 3  # the Convolution lab's rows: R, G, B


@dataclass(frozen=True)
class ConvExample:
    """What the Convolution lab is given.

    x : (C', H, W) float64, the layer's input maps it shows; w : (1, C', KH, KW) the
    filter's kernels on those channels; b : (1,); stride, padding : (h, w);
    filter_index : 0 (the one filter); cell : (i, j) the output cell to jump to;
    channels : which of the layer's input channels x holds; total_channels : C;
    rest : what the other channels' partial sums add; lab_value : the value the
    Convolution lab computes at the cell; value : the network's (lab_value + rest);
    description : one line naming it; note : why channels are missing ("" if none)
    """

    x: np.ndarray = field(repr=False)
    w: np.ndarray = field(repr=False)
    b: np.ndarray = field(repr=False)
    stride: tuple
    padding: tuple
    filter_index: int
    cell: tuple
    channels: tuple
    total_channels: int
    rest: float
    lab_value: float
    value: float
    description: str
    note: str


def conv_example(inspection, state: dict, spec: list, name: str, neuron: Neuron,
                 max_channels: int = MAX_CHANNELS) -> ConvExample:
    """The Convolution lab's example for the conv cell ``neuron`` (f, i, j).

    Parameters
    ----------
    inspection : Inspection of the image (its activations give the layer's input)
    state : the weights (``Network.get_state()``: "<name>.w" (F, C, KH, KW), "<name>.b")
    spec : the network's spec (the layer's kernel, stride and padding)
    name : the conv layer's name, e.g. "conv2"
    """
    k = neuron.layer
    layer = spec[k]
    f, i, j = neuron.index
    kernel, stride = as_pair(layer["kernel"], "kernel"), as_pair(layer.get("stride", 1), "stride")
    padding = as_pair(layer.get("padding", 0), "padding")
    x = np.asarray(inspection.values(k - 1), dtype=np.float64)  # (C, H, W)
    w = np.asarray(state[f"{name}.w"], dtype=np.float64)[f]    # (C, KH, KW)
    b = float(state[f"{name}.b"][f])
    window, _, _, _ = conv_window(x, kernel, stride, padding, i, j)
    sums = (window * w).sum(axis=(1, 2))  # (C,) the partial sums
    C = x.shape[0]
    if C <= max_channels:
        shown = tuple(range(C))
    else:  # the largest contributions, in channel order
        shown = tuple(sorted(int(c) for c in np.argsort(-np.abs(sums), kind="stable")
                             [:max_channels]))
    rest = float(sums.sum() - sums[list(shown)].sum())
    lab_value = float(sums[list(shown)].sum() + b)
    description = tr("{layer} of your network, filter {f}, cell ({i}, {j})").format(
        layer=name, f=f + 1, i=i, j=j)
    if len(shown) > 1:  # the lab names its channels R, G, B
        description += " · " + tr("its input maps {maps} as {names}").format(
            maps=", ".join(str(c + 1) for c in shown), names=", ".join("RGB"[:len(shown)]))
    note = ""
    if len(shown) < C:
        note = tr_n(
            "The Convolution lab shows at most {max} input channels: these are channels "
            "{shown} of {C}, the largest contributions to this cell. The other {n} channel "
            "adds {rest}, so the network's value is {value}.",
            "The Convolution lab shows at most {max} input channels: these are channels "
            "{shown} of {C}, the largest contributions to this cell. The other {n} channels "
            "add {rest}, so the network's value is {value}.", C - len(shown)).format(
            max=max_channels, shown=", ".join(str(c + 1) for c in shown), C=C,
            n=C - len(shown), rest=f"{rest:+.4g}", value=f"{lab_value + rest:.4g}")
    return ConvExample(x[list(shown)], w[None, list(shown)], np.array([b]), stride, padding,
                       0, (i, j), shown, C, rest, lab_value, lab_value + rest, description,
                       note)
